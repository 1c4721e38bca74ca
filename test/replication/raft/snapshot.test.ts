/**
 * Snapshots and log compaction (paper §7): the application hands in a snapshot, the log shrinks,
 * and a follower too far behind receives the snapshot instead of entries.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Snapshot } from '../../../src/replication/raft/types.js';
import { Cluster } from './harness.js';
import { Lone, appMsg, appResp, ent, plainOptions } from './fixtures.js';

const abc = ['a', 'b', 'c'];

function snapshotAt(index: number, term: number, voters = abc): Snapshot {
  return { meta: { index, term, membership: makeMembership(voters) }, data: new TextEncoder().encode('["s"]') };
}

test('§7 the log kept in memory is bounded by compaction', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'compact' });
  const leader = c.electLeader();
  for (let i = 0; i < 50; i++) c.propose(leader, `v${i}`);
  c.stabilize();
  for (const id of c.ids) assert.ok(c.compact(id, 5));
  for (const id of c.ids) {
    const s = c.peer(id).storage;
    assert.is(s.lastIndex() - s.firstIndex() + 1, 5, `${id} keeps the 5 entries asked for`);
    assert.is(c.node(id).debugState().entries.length, 5);
  }
  c.propose(leader, 'after');
  c.stabilize();
  for (const id of c.ids) assert.is(c.commands(id).length, 51);
});

test('§7 a follower too far behind receives the leader\'s snapshot, installs it and catches up', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'install' });
  const leader = c.electLeader();
  const late = c.ids.find((id) => id !== leader) as string;
  c.crash(late);
  for (let i = 0; i < 20; i++) c.propose(leader, `v${i}`);
  c.stabilize();
  for (const id of c.ids) c.compact(id);
  c.restart(late);
  c.tickAll();
  c.stabilize();
  assert.ok((c.delivered.get('MsgSnap') ?? 0) >= 1, 'no snapshot was sent');
  assert.equal(c.commands(late), c.commands(leader));
  c.propose(leader, 'after');
  c.stabilize();
  assert.equal(c.commands(late), c.commands(leader));
  assert.is(c.peer(late).storage.snapshot().meta.index, c.peer(leader).storage.snapshot().meta.index);
});

test('§7 a node that joins after compaction gets a snapshot from before it was added, then its own config entry', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], joiners: ['n4'], seed: 'join-late' });
  const leader = c.electLeader();
  for (let i = 0; i < 10; i++) c.propose(leader, `v${i}`);
  c.stabilize();
  for (const id of ['n1', 'n2', 'n3']) c.compact(id);
  c.proposeConfChange(leader, { type: 'addLearner', node: 'n4' });
  c.stabilize();
  c.tickAll();
  c.stabilize();
  assert.equal(c.commands('n4'), c.commands(leader));
  assert.equal(c.node('n4').membership().learners, ['n4']);
});

test('§7 a follower ignores a snapshot its log already covers, and only commits when it holds the snapshot\'s last entry', () => {
  const n = Lone.of('b', abc);
  n.step(appMsg('a', 'b', 2, 1, 1, [ent(2, 2), ent(2, 3), ent(2, 4)], 2));
  n.take();
  n.step({ type: 'MsgSnap', from: 'a', to: 'b', term: 2, snapshot: snapshotAt(2, 2) });
  assert.equal(n.takeOfType('MsgAppResp').map((m) => m.index), [2], 'already committed: answer the commit index');
  n.step({ type: 'MsgSnap', from: 'a', to: 'b', term: 2, snapshot: snapshotAt(3, 2) });
  assert.is(n.node.commitIndex(), 3, 'fast-forward: the log holds 2/3');
  assert.is(n.storage.snapshot().meta.index, 0, 'nothing was installed');
  assert.is(n.node.debugState().entries.length, 4);
});

test('§7 a follower whose log conflicts with the snapshot replaces its log by it', () => {
  const n = Lone.of('b', abc);
  n.step(appMsg('a', 'b', 2, 1, 1, [ent(2, 2), ent(2, 3)], 1));
  n.step({ type: 'MsgSnap', from: 'c', to: 'b', term: 3, snapshot: snapshotAt(5, 3) });
  const d = n.node.debugState();
  assert.equal([d.logStart, d.entries.length, d.commitIndex, d.lastApplied], [{ index: 5, term: 3 }, 0, 5, 5]);
  assert.is(n.storage.snapshot().meta.index, 5);
  assert.equal(n.takeOfType('MsgAppResp').map((m) => m.index).slice(-1), [5]);
});

test('a leader waits for the snapshot, and probes again after a reported failure', () => {
  const n = Lone.of('a', abc, plainOptions()).becomeLeaderWith(['b']);
  n.step(appResp('b', 'a', 2, 2));
  n.storage.createSnapshot(n.node.snapshotMetaAt(2), new Uint8Array([1]));
  n.storage.compact(2);
  n.take();
  n.step({ type: 'MsgHeartbeatResp', from: 'c', to: 'a', term: 2, readCtx: null, tick: 0 });
  const snaps = n.takeOfType('MsgSnap');
  assert.equal(snaps.map((m) => [m.to, m.snapshot.meta.index]), [['c', 2]], 'c matched nothing: it needs the snapshot');
  n.node.propose(new Uint8Array([3]));
  n.run();
  assert.not.ok(n.take().some((m) => m.to === 'c'), 'nothing more while the snapshot is on its way');
  n.node.reportSnapshot('c', false);
  n.step({ type: 'MsgHeartbeatResp', from: 'c', to: 'a', term: 2, readCtx: null, tick: 0 });
  assert.equal(n.takeOfType('MsgSnap').map((m) => m.to), ['c'], 'sent again');
});

test('snapshotMetaAt gives the term and the membership in force at an applied position', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], joiners: ['n4'], seed: 'meta' });
  const leader = c.electLeader();
  c.propose(leader, 'x');
  c.proposeConfChange(leader, { type: 'addLearner', node: 'n4' });
  c.stabilize();
  const node = c.node(leader);
  const applied = node.appliedIndex();
  const meta = node.snapshotMetaAt(applied);
  assert.equal(meta.membership, { voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
  assert.equal(node.snapshotMetaAt(2).membership, { voters: ['n1', 'n2', 'n3'], learners: [] });
  assert.throws(() => node.snapshotMetaAt(applied + 1), /past the applied index/);
});

test.run();
