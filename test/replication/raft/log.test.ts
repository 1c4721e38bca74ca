import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftLog } from '../../../src/replication/raft/log.js';
import { MemoryRaftStorage } from '../../../src/replication/raft/memory-storage.js';
import { encodeMembership, makeMembership } from '../../../src/replication/raft/membership.js';
import type { Entry } from '../../../src/replication/raft/types.js';

const none = new Uint8Array(0);
const ent = (term: number, index: number): Entry => ({ term, index, type: 'normal', data: none });
/** Entries 1..n with the given terms. */
const ents = (...terms: number[]): Entry[] => terms.map((t, i) => ent(t, i + 1));

function logWith(stable: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryRaftStorage();
  s.append(stable);
  const log = new RaftLog(s);
  log.append(unstable);
  return log;
}

test('term is known from the compaction boundary to the last entry, across stable and unstable', () => {
  const log = logWith(ents(1, 1, 2), [ent(3, 4), ent(3, 5)]);
  assert.equal([0, 1, 2, 3, 4, 5].map((i) => log.term(i)), [0, 1, 1, 2, 3, 3]);
  assert.is(log.term(6), undefined);
  assert.is(log.lastIndex(), 5);
  assert.is(log.lastStableIndex(), 3);
});

test('findConflict returns the first new or mismatching position, or 0', () => {
  const log = logWith(ents(1, 2, 3));
  assert.is(log.findConflict([ent(1, 1), ent(2, 2)]), 0);
  assert.is(log.findConflict([ent(2, 2), ent(3, 3), ent(4, 4)]), 4);
  assert.is(log.findConflict([ent(1, 1), ent(4, 2)]), 2);
});

test('findConflictByTerm finds the last position at or before index whose term is at most term', () => {
  // positions:      1  2  3  4  5  6
  const log = logWith(ents(1, 1, 2, 2, 4, 4));
  assert.equal(log.findConflictByTerm(6, 3), { index: 4, term: 2 });
  assert.equal(log.findConflictByTerm(6, 4), { index: 6, term: 4 });
  assert.equal(log.findConflictByTerm(4, 1), { index: 2, term: 1 });
  assert.equal(log.findConflictByTerm(6, 0), { index: 0, term: 0 });
});

test('findConflictByTerm answers "maybe" (term 0) at a compacted position', () => {
  const s = new MemoryRaftStorage();
  s.append(ents(1, 1, 2, 3, 3));
  s.createSnapshot({ index: 3, term: 2, membership: makeMembership(['a']) }, none);
  s.compact(3);
  const log = new RaftLog(s);
  assert.equal(log.findConflictByTerm(5, 2), { index: 3, term: 2 }, 'the boundary term is known');
  assert.equal(log.findConflictByTerm(5, 1), { index: 2, term: 0 }, 'below the boundary nothing is known');
});

test('maybeAppend refuses when the previous entry does not match (Figure 2, receiver step 2)', () => {
  const log = logWith(ents(1, 1, 2));
  assert.is(log.maybeAppend(3, 1, 0, [ent(3, 4)]), null);
  assert.is(log.maybeAppend(4, 2, 0, []), null);
  assert.is(log.lastIndex(), 3);
});

test('maybeAppend drops a conflicting tail and appends (receiver steps 3-4), committing up to the new entries', () => {
  const log = logWith(ents(1, 1, 2, 2));
  const last = log.maybeAppend(2, 1, 10, [ent(3, 3), ent(3, 4), ent(3, 5)]);
  assert.is(last, 5);
  assert.equal([3, 4, 5].map((i) => log.term(i)), [3, 3, 3]);
  assert.is(log.committed, 5, 'commit is min(leader commit, last new entry)');
});

test('maybeAppend of entries already held changes nothing, even if the log is longer', () => {
  const log = logWith(ents(1, 1, 2, 2));
  assert.is(log.maybeAppend(1, 1, 0, [ent(1, 2)]), 2);
  assert.is(log.lastIndex(), 4, 'an old, shorter append does not truncate');
});

test('replacing a committed entry is a loud error', () => {
  const log = logWith(ents(1, 1, 2));
  log.commitTo(3);
  assert.throws(() => log.maybeAppend(1, 1, 3, [ent(5, 2)]), /conflicts with a committed entry/);
});

test('committing past the last entry is a loud error', () => {
  const log = logWith(ents(1));
  assert.throws(() => log.commitTo(2), /past the last index/);
});

test('a truncation while a write is in flight keeps the replacement unstable', () => {
  const log = logWith(ents(1), [ent(1, 2), ent(1, 3), ent(1, 4)]);
  // The runtime is persisting 2..4 when a new leader replaces 3..
  log.append([ent(2, 3)]);
  log.stableTo(4, 1);
  assert.is(log.unstable.offset, 2, 'the in-flight write of 4 no longer means anything');
  assert.equal(log.unstable.entries.map((e) => `${e.term}/${e.index}`), ['1/2', '2/3']);
  log.stableTo(3, 2);
  assert.is(log.unstable.entries.length, 0);
});

test('slice reads across stable and unstable, limited by bytes but at least one entry', () => {
  const log = logWith(ents(1, 1), [ent(2, 3), ent(2, 4)]);
  assert.equal(log.slice(1, 5, Infinity)?.map((e) => e.index), [1, 2, 3, 4]);
  assert.equal(log.slice(2, 5, 1)?.map((e) => e.index), [2]);
  assert.equal(log.slice(2, 5, 24 * 2)?.map((e) => e.index), [2, 3]);
  assert.equal(log.slice(3, 3, 1), []);
});

test('slice of a compacted position is undefined (the leader sends a snapshot instead)', () => {
  const s = new MemoryRaftStorage();
  s.append(ents(1, 1, 1));
  s.createSnapshot({ index: 2, term: 1, membership: makeMembership(['a']) }, none);
  s.compact(2);
  const log = new RaftLog(s);
  assert.is(log.slice(2, 4, Infinity), undefined);
  assert.equal(log.slice(3, 4, Infinity)?.map((e) => e.index), [3]);
});

test('isUpToDate compares last terms first, then lengths (§5.4.1)', () => {
  const log = logWith(ents(1, 2, 2));
  assert.ok(log.isUpToDate(1, 3));
  assert.ok(log.isUpToDate(3, 2));
  assert.ok(log.isUpToDate(4, 2));
  assert.not.ok(log.isUpToDate(2, 2));
  assert.not.ok(log.isUpToDate(10, 1));
});

test('the membership follows config entries as they are appended and truncated', () => {
  const log = logWith(ents(1));
  const ab = makeMembership(['a', 'b']);
  const abc = makeMembership(['a', 'b', 'c']);
  log.append([{ term: 1, index: 2, type: 'config', data: encodeMembership(ab) }]);
  assert.equal(log.memberships.latest(), ab);
  log.append([{ term: 1, index: 3, type: 'config', data: encodeMembership(abc) }]);
  assert.equal(log.memberships.latest(), abc);
  assert.equal(log.memberships.at(2), ab);
  log.append([ent(2, 3)]);
  assert.equal(log.memberships.latest(), ab, 'truncating the config entry reverts the membership');
});

test('restoring a snapshot replaces the log and commits up to it', () => {
  const log = logWith(ents(1, 1));
  const m = makeMembership(['a', 'b']);
  log.restore({ meta: { index: 10, term: 3, membership: m }, data: none });
  assert.is(log.firstIndex(), 11);
  assert.is(log.lastIndex(), 10);
  assert.is(log.term(10), 3);
  assert.is(log.term(2), undefined);
  assert.is(log.committed, 10);
  assert.equal(log.nextCommittedEntries(Infinity), [], 'the snapshot is applied before any entry');
  assert.equal(log.memberships.latest(), m);
  log.stableSnapTo(10);
  assert.is(log.applied, 10);
});

test('the log scans the stable config entries on start', () => {
  const s = new MemoryRaftStorage();
  const m = makeMembership(['x', 'y']);
  s.append([ent(1, 1), { term: 1, index: 2, type: 'config', data: encodeMembership(m) }, ent(1, 3)]);
  assert.equal(new RaftLog(s).memberships.latest(), m);
});

test.run();
