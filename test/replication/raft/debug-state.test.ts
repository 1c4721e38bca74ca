/**
 * RaftNode.debugState() reuses the last picture's entries where the log still holds the same
 * entry objects (the lab's observer pictures every log every few hundred events). A picture must
 * still show exactly the log of the moment: entries overwritten by a new leader or appended are
 * pictured afresh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { entryDigest } from '../../../src/replication/raft/digest.js';
import type { Entry } from '../../../src/replication/raft/types.js';
import { appMsg, ent, Lone, storageWithTerms } from './fixtures.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function picture(l: Lone): string[] {
  return l.node.debugState().entries.map((e) => `${e.term}/${e.index}/${e.type}/${e.digest}`);
}

function expected(l: Lone): string[] {
  const log = l.storage.entries(l.storage.firstIndex(), l.storage.lastIndex() + 1, Infinity) as readonly Entry[];
  return log.map((e) => `${e.term}/${e.index}/${e.type}/${entryDigest(e)}`);
}

test('a tail overwritten by a newer leader is pictured with the new entries, the prefix kept', () => {
  // A follower holding positions 2..4 of term 2, never committed.
  const f = new Lone('f', storageWithTerms(['lead', 'f', 'x'], [2, 2, 2], 2));
  const before = picture(f);
  assert.equal(before, expected(f));
  const firstBefore = f.node.debugState().entries[0];
  // The leader of term 3 holds the same entry at 2, and its own at 3 and 4.
  const prev = f.storage.entries(2, 3, Infinity)[0] as Entry;
  f.step(appMsg('lead', 'f', 3, 2, prev.term, [ent(3, 3, bytes('new-3')), ent(3, 4, bytes('new-4'))], 1));
  const after = picture(f);
  assert.equal(after, expected(f));
  assert.is(after.length, before.length);
  assert.equal(after.slice(0, 2), before.slice(0, 2), 'the shared prefix is unchanged');
  assert.not.equal(after.slice(2), before.slice(2), 'the overwritten tail is new');
  assert.is(f.node.debugState().entries[0], firstBefore, 'an entry still held is reused, not pictured again');
  // Appended past the end, then a second picture of the same log: the same picture.
  f.step(appMsg('lead', 'f', 3, 4, 3, [ent(3, 5, bytes('new-5'))], 5));
  assert.equal(picture(f), expected(f));
  assert.equal(picture(f), expected(f));
});

test.run();
