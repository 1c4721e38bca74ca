import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyConfChange } from '../../../src/replication/raft/confchange.js';
import { MemoryRaftStorage } from '../../../src/replication/raft/memory-storage.js';
import { decodeMembership, encodeMembership, makeMembership } from '../../../src/replication/raft/membership.js';
import type { Entry } from '../../../src/replication/raft/types.js';

const none = new Uint8Array(0);
const ent = (term: number, index: number, size = 0): Entry => ({ term, index, type: 'normal', data: new Uint8Array(size) });

test('a new storage is empty at index 0, term 0', () => {
  const s = new MemoryRaftStorage();
  assert.is(s.firstIndex(), 1);
  assert.is(s.lastIndex(), 0);
  assert.is(s.term(0), 0);
  assert.equal(s.hardState(), { term: 0, vote: null, commit: 0 });
});

test('bootstrap writes one committed config entry with the voters', () => {
  const s = MemoryRaftStorage.bootstrap(['c', 'a', 'b']);
  const [e] = s.entries(1, 2, Infinity);
  assert.is(e?.type, 'config');
  assert.equal(decodeMembership((e as Entry).data).voters, ['a', 'b', 'c']);
  assert.equal(s.hardState(), { term: 1, vote: null, commit: 1 });
});

test('append replaces the tail from the first new position', () => {
  const s = new MemoryRaftStorage();
  s.append([ent(1, 1), ent(1, 2), ent(1, 3)]);
  s.append([ent(2, 2)]);
  assert.is(s.lastIndex(), 2);
  assert.is(s.term(2), 2);
  assert.throws(() => s.append([ent(2, 5)]), /gap/);
});

test('entries respects the byte limit but returns at least one', () => {
  const s = new MemoryRaftStorage();
  s.append([ent(1, 1, 100), ent(1, 2, 100), ent(1, 3, 100)]);
  assert.is(s.entries(1, 4, 1).length, 1);
  assert.is(s.entries(1, 4, 250).length, 2);
  assert.throws(() => s.entries(0, 2, 10), /outside/);
});

test('snapshot then compact: the boundary keeps its term; no compaction past the snapshot', () => {
  const s = new MemoryRaftStorage();
  s.append([ent(1, 1), ent(2, 2), ent(2, 3), ent(3, 4)]);
  const m = makeMembership(['a']);
  s.createSnapshot({ index: 3, term: 2, membership: m }, new Uint8Array([7]));
  assert.throws(() => s.compact(4), /past the snapshot/);
  s.compact(2);
  assert.is(s.firstIndex(), 3);
  assert.is(s.term(2), 2);
  assert.throws(() => s.term(1), /outside/);
  s.append([ent(1, 1), ent(2, 2), ent(2, 3), ent(4, 4)]);
  assert.is(s.term(4), 4, 'compacted positions in an append are skipped');
  assert.throws(() => s.createSnapshot({ index: 4, term: 3, membership: m }, none), /term/);
});

test('applySnapshot replaces the whole log', () => {
  const s = new MemoryRaftStorage();
  s.append([ent(1, 1), ent(1, 2)]);
  s.applySnapshot({ meta: { index: 9, term: 4, membership: makeMembership(['a']) }, data: none });
  assert.is(s.firstIndex(), 10);
  assert.is(s.lastIndex(), 9);
  assert.is(s.term(9), 4);
  assert.throws(() => s.applySnapshot({ meta: { index: 9, term: 4, membership: makeMembership(['a']) }, data: none }), /not newer/);
});

test('memberships are sorted, validated, and survive encoding', () => {
  const m = makeMembership(['b', 'a'], ['c']);
  assert.equal(m, { voters: ['a', 'b'], learners: ['c'] });
  assert.equal(decodeMembership(encodeMembership(m)), m);
  assert.throws(() => makeMembership(['a', 'a']), /sorted and unique/);
  assert.throws(() => makeMembership(['a'], ['a']), /both voter and learner/);
  assert.throws(() => decodeMembership(new Uint8Array([0xff])), /not UTF-8 JSON/);
  assert.throws(() => decodeMembership(new TextEncoder().encode('{"voters":1}')), /voters/);
});

test('config changes are single steps: add a learner, promote it, remove a node', () => {
  let m = makeMembership(['a', 'b', 'c']);
  const add = applyConfChange(m, { type: 'addLearner', node: 'd' });
  assert.ok(add.ok);
  if (add.ok) m = add.membership;
  assert.equal(m.learners, ['d']);
  const promote = applyConfChange(m, { type: 'promoteLearner', node: 'd' });
  assert.ok(promote.ok && promote.membership.voters.includes('d') && promote.membership.learners.length === 0);
  assert.not.ok(applyConfChange(m, { type: 'promoteLearner', node: 'a' }).ok, 'only learners are promoted');
  assert.not.ok(applyConfChange(m, { type: 'addLearner', node: 'a' }).ok, 'members are not added twice');
  assert.not.ok(applyConfChange(m, { type: 'removeNode', node: 'z' }).ok);
  assert.not.ok(applyConfChange(makeMembership(['a']), { type: 'removeNode', node: 'a' }).ok, 'the last voter stays');
});

test.run();
