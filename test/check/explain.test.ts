/**
 * The explanation's claims, checked against the brute force: the set it names is not linearizable
 * with every other operation weakened to info; without any one of its operations it is; and the
 * history is linearizable up to the failing line and not after it.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHistory, historyFromEvents } from '../../src/check/index.js';
import { randomHistory } from './arbitraries.js';
import { bruteForceLinearizable, weakenedHistory } from './brute-force.js';

test('the explanation of a violation is a minimal non-linearizable set, and its prefix is the shortest', () => {
  let explained = 0;
  fc.assert(
    fc.property(randomHistory({ opsMax: 8, processes: 4, keys: ['x', 'y'] }), (events) => {
      const history = historyFromEvents(events);
      const result = checkHistory(history, { model: 'kv' });
      for (const key of result.keys) {
        const e = key.explanation;
        assert.ok(e !== undefined, 'every failing key of a small history is explained');
        assert.ok(e.minimal, 'a small history is explained within budget');
        explained++;
        const keyHistory = { ...history, ops: history.ops.filter((op) => op.key === key.key) };
        const all = new Set(keyHistory.ops.map((op) => op.id));
        const kept = new Set(e.ops.map((op) => op.id));
        assert.not.ok(bruteForceLinearizable(weakenedHistory(keyHistory, kept, e.failingEvent + 1)));
        for (const op of e.ops) {
          const without = new Set([...kept].filter((id) => id !== op.id));
          assert.ok(bruteForceLinearizable(weakenedHistory(keyHistory, without, e.failingEvent + 1)), `op ${op.id} is needed`);
        }
        assert.ok(bruteForceLinearizable(weakenedHistory(keyHistory, all, e.failingEvent)), 'linearizable before the failing event');
        assert.not.ok(bruteForceLinearizable(weakenedHistory(keyHistory, all, e.failingEvent + 1)));
      }
    }),
    { numRuns: 1500 },
  );
  assert.ok(explained > 300, `only ${explained} violations were explained`);
});

test.run();
