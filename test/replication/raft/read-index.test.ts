/**
 * Linearizable reads (Raft thesis §6.4): ReadIndex, and leases (§6.4.1) with their clock risk.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftInvariantViolation } from '../../../src/replication/raft/observers.js';
import { raftOptions } from '../../../src/replication/raft/options.js';
import { Cluster } from './harness.js';
import { Lone, appResp, heartbeatResp, plainOptions, voteMsg } from './fixtures.js';

const abc = ['a', 'b', 'c'];

/** A leader of term 2 whose empty entry (position 2) is committed. */
function settledLeader(options = plainOptions()): Lone {
  const n = Lone.of('a', abc, options).becomeLeaderWith(['b']);
  n.step(appResp('b', 'a', 2, 2));
  n.take();
  return n;
}

test('§6.4 a leader answers a read only after a majority acknowledged a heartbeat sent after it', () => {
  const n = settledLeader();
  assert.ok(n.node.readIndex('r1').ok);
  n.run();
  const beats = n.takeOfType('MsgHeartbeat');
  assert.equal(beats.map((m) => [m.to, m.readCtx]), [['b', 'r1'], ['c', 'r1']]);
  assert.equal(n.reads, [], 'no answer before the round');
  n.step(heartbeatResp('b', 'a', 2, 'r1'));
  assert.equal(n.reads, [{ index: 2, requestCtx: 'r1' }]);
});

test('§6.4 one acknowledgement confirms every read that arrived before its heartbeat, in order', () => {
  const n = settledLeader();
  n.node.readIndex('r1');
  n.run();
  n.node.readIndex('r2');
  n.run();
  n.step(heartbeatResp('c', 'a', 2, 'r2'));
  assert.equal(n.reads.map((r) => r.requestCtx), ['r1', 'r2']);
  n.step(heartbeatResp('b', 'a', 2, 'r1'));
  assert.is(n.reads.length, 2, 'a late acknowledgement answers nothing twice');
});

test('§6.4 a new leader holds reads until it has committed an entry of its own term', () => {
  const n = Lone.of('a', abc).becomeLeaderWith(['b']);
  n.take();
  assert.ok(n.node.readIndex('r1').ok);
  n.run();
  assert.equal(n.takeOfType('MsgHeartbeat'), [], 'no read round yet');
  n.step(appResp('b', 'a', 2, 2)); // the empty entry of term 2 commits
  assert.equal(n.takeOfType('MsgHeartbeat').map((m) => m.readCtx), ['r1', 'r1']);
  n.step(heartbeatResp('c', 'a', 2, 'r1'));
  assert.equal(n.reads, [{ index: 2, requestCtx: 'r1' }]);
});

test('§6.4 a follower refuses a read and names the leader; a one-voter cluster answers at once', () => {
  const f = Lone.of('b', abc);
  f.step({ type: 'MsgHeartbeat', from: 'a', to: 'b', term: 2, commit: 1, readCtx: null, tick: 0 });
  assert.equal(f.node.readIndex('r1'), { ok: false, reason: 'notLeader', leader: 'a' });
  const solo = Lone.of('a', ['a']);
  solo.node.campaign();
  solo.run();
  assert.ok(solo.node.readIndex('r1').ok);
  solo.run();
  assert.equal(solo.reads, [{ index: 2, requestCtx: 'r1' }]);
});

test('reads waiting at a leader are bounded, and a context cannot be pending twice', () => {
  const n = settledLeader(plainOptions({ maxPendingReads: 2 }));
  assert.ok(n.node.readIndex('r1').ok);
  assert.is((n.node.readIndex('r1') as { reason: string }).reason, 'duplicateRequest');
  assert.ok(n.node.readIndex('r2').ok);
  assert.is((n.node.readIndex('r3') as { reason: string }).reason, 'tooManyReads');
});

test('§6.4 a leader cut off from the majority never answers a read, while the others move on', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'deposed', options: raftOptions({ checkQuorum: false }) });
  c.campaign('n1');
  c.stabilize();
  c.partition([['n1'], ['n2', 'n3']]);
  c.campaign('n2');
  c.stabilize();
  c.propose('n2', 'x');
  c.stabilize();
  assert.equal(c.leaders().sort(), ['n1', 'n2'], 'n1 still believes it leads term 2');
  const { result } = c.read('n1');
  assert.ok(result.ok);
  c.tickAll(30);
  c.stabilize();
  assert.equal(c.peer('n1').reads, [], 'the deposed leader answered a read');
});

// ---------------------------------------------------------------- leases

/** A lease-read cluster with a settled leader (returned), all clocks in step so far. */
function leaseCluster(seed: string, readOnly: 'leaseBased' | 'safe' = 'leaseBased'): { c: Cluster; leader: string; others: string[] } {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed, options: raftOptions({ readOnly, electionTicks: 10, leaseMarginTicks: 2 }) });
  const leader = c.electLeader();
  c.tickAll();
  c.stabilize();
  return { c, leader, others: c.ids.filter((id) => id !== leader) };
}

test('§6.4.1 with lease reads, a leader answers at once while a majority acknowledged a recent heartbeat', () => {
  const { c, leader } = leaseCluster('lease');
  const before = c.inflight.length;
  c.read(leader);
  assert.is(c.peer(leader).reads.length, 1, 'answered without a round');
  assert.is(c.inflight.length, before, 'no heartbeat was needed');
});

test('§6.4.1 once the lease runs out, a lease-read leader falls back to a heartbeat round', () => {
  const { c, leader, others } = leaseCluster('lease-expiry');
  c.partition([[leader], others]);
  for (let i = 0; i < 8; i++) c.tick(leader); // no acknowledgements for 8 ticks: past 10 - 2
  c.read(leader);
  assert.equal(c.peer(leader).reads, []);
  assert.ok(c.inflight.some((m) => m.type === 'MsgHeartbeat' && m.readCtx !== null));
});

test('§6.4.1 CLOCK-SKEW RISK: a lease leader whose clock runs slow serves a stale read (safe ReadIndex does not)', () => {
  for (const readOnly of ['leaseBased', 'safe'] as const) {
    const { c, leader, others } = leaseCluster('skew', readOnly);
    c.partition([[leader], others]);
    // The others count 30 ticks while the leader, paused or slow, counts none: a new leader.
    for (let i = 0; i < 30 && c.leaders().length < 2; i++) {
      for (const id of others) c.tick(id);
      c.stabilize();
    }
    const fresh = c.leaders().find((id) => id !== leader);
    assert.ok(fresh !== undefined, 'no new leader');
    c.propose(fresh, 'x');
    c.stabilize();
    let violation: unknown = null;
    try {
      c.read(leader);
    } catch (e) {
      violation = e;
    }
    if (readOnly === 'leaseBased') {
      assert.instance(violation, RaftInvariantViolation);
      assert.is((violation as RaftInvariantViolation).invariant, 'readLinearizability');
    } else {
      assert.is(violation, null);
      assert.equal(c.peer(leader).reads, []);
    }
  }
});

test('§6.4.1 with lease reads, a restarted voter refuses votes for one election timeout', () => {
  const n = Lone.of('a', abc, raftOptions({ readOnly: 'leaseBased', electionTicks: 5, preVote: false }));
  n.step(voteMsg('b', 'a', 2, 1, 1));
  assert.equal(n.take(), [], 'ignored: it may have acknowledged a lease just before restarting');
  n.tick(5);
  n.step(voteMsg('b', 'a', 3, 1, 1));
  assert.equal(n.takeOfType('MsgVoteResp').map((m) => m.reject), [false]);
});

test('§6.4.1 a leader that started a leadership transfer no longer trusts its lease', () => {
  const { c, leader, others } = leaseCluster('lease-transfer');
  c.transfer(leader, others[0] as string);
  c.dropWhere((m) => m.type === 'MsgTimeoutNow');
  c.read(leader);
  assert.equal(c.peer(leader).reads, [], 'answered from a lease while a new leader may be elected');
});

test.run();
