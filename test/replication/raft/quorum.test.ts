import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { committedIndex, majority } from '../../../src/replication/raft/quorum.js';

// The commit rule's arithmetic (quorum.ts): the highest position a majority of voters holds.

test('committedIndex is the majority-th highest match, for any voters and positions (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 1000 }), { maxLength: 15 }), (matches) => {
      const voters = matches.map((_, i) => `n${i}`);
      const of = (id: string) => matches[Number(id.slice(1))] as number;
      const expected = matches.length === 0 ? 0 : ([...matches].sort((a, b) => b - a)[majority(matches.length) - 1] as number);
      assert.is(committedIndex(voters, of), expected);
      // Called again with other voters: nothing of the last call's scratch leaks into this one.
      assert.is(committedIndex(voters.slice(0, 1), of), matches.length === 0 ? 0 : (matches[0] as number));
    }),
  );
  assert.is(committedIndex(['a', 'b', 'c'], (id) => ({ a: 9, b: 4, c: 7 })[id] as number), 7);
  assert.is(committedIndex(['a', 'b', 'c', 'd'], (id) => ({ a: 9, b: 4, c: 7, d: 1 })[id] as number), 4);
});

test.run();
