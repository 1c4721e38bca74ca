/**
 * Leadership beyond the paper (Raft thesis): transfer (§3.10), check quorum (§6.2), the
 * disruptive-server rule (§4.2.3) and pre-vote (§9.6).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { raftOptions } from '../../../src/replication/raft/options.js';
import { Cluster } from './harness.js';
import { Lone, appMsg, appResp, plainOptions, voteMsg } from './fixtures.js';

const abc = ['a', 'b', 'c'];

test('§3.10 a leadership transfer to an up-to-date voter: TimeoutNow, an immediate campaign, a new leader', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'transfer' });
  const old = c.electLeader();
  const target = c.ids.find((id) => id !== old) as string;
  const term = c.node(old).hardState().term;
  assert.ok(c.transfer(old, target).ok);
  assert.ok(c.inflight.some((m) => m.type === 'MsgTimeoutNow' && m.to === target));
  c.stabilize();
  assert.is(c.leader(), target);
  assert.is(c.node(target).hardState().term, term + 1, 'no pre-vote round for a transfer');
});

test('§3.10 a lagging target is first brought up to date, then told to campaign', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'transfer-lag' });
  const old = c.electLeader();
  const [target, other] = c.ids.filter((id) => id !== old) as [string, string];
  c.partition([[old, other], [target]]);
  c.propose(old, 'x');
  c.stabilize();
  c.heal();
  c.transfer(old, target);
  assert.ok(c.inflight.some((m) => m.type === 'MsgApp' && m.to === target), 'entries first');
  assert.not.ok(c.inflight.some((m) => m.type === 'MsgTimeoutNow'), 'not yet');
  c.stabilize();
  assert.is(c.leader(), target);
  assert.ok(c.commands(target).includes('x'));
});

test('§3.10 proposals are refused during a transfer, which is abandoned after an election timeout', () => {
  const n = Lone.of('a', abc, plainOptions({ electionTicks: 5 })).becomeLeaderWith(['b']);
  assert.ok(n.node.transferLeadership('b').ok);
  assert.is((n.node.propose(new Uint8Array([1])) as { reason: string }).reason, 'transferring');
  n.tick(5);
  assert.ok(n.node.propose(new Uint8Array([1])).ok, 'the transfer timed out');
  assert.is((n.node.transferLeadership('z') as { reason: string }).reason, 'notVoter');
});

test('§3.10 voters ignore their lease for a transfer campaign (check quorum on)', () => {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'transfer-cq', options: raftOptions({ checkQuorum: true }) });
  const old = c.electLeader();
  const target = c.ids.find((id) => id !== old) as string;
  c.tickAll();
  c.stabilize();
  c.transfer(old, target);
  c.stabilize();
  assert.is(c.leader(), target);
});

test('§6.2 check quorum: a leader that hears from no majority for an election timeout steps down', () => {
  const n = Lone.of('a', abc, plainOptions({ checkQuorum: true, electionTicks: 5 })).becomeLeaderWith(['b']);
  n.tick(5);
  assert.is(n.role, 'leader', 'b answered in the first round (the vote counts as contact)');
  n.tick(5);
  assert.is(n.role, 'follower', 'silence from b and c for a whole round');
});

test('§6.2 check quorum: a leader that keeps hearing from a majority stays', () => {
  const n = Lone.of('a', abc, plainOptions({ checkQuorum: true, electionTicks: 5 })).becomeLeaderWith(['b']);
  for (let i = 0; i < 20; i++) {
    n.tick();
    n.step(appResp('b', 'a', 2, 2));
  }
  assert.is(n.role, 'leader');
});

test('§4.2.3 with check quorum, a follower that heard from its leader recently ignores vote requests', () => {
  const n = Lone.of('a', abc, plainOptions({ checkQuorum: true, electionTicks: 5 }));
  n.step(appMsg('b', 'a', 2, 1, 1, [], 1));
  n.take();
  n.step(voteMsg('c', 'a', 3, 1, 1));
  assert.equal(n.take(), [], 'ignored, not even rejected');
  assert.is(n.term, 2, 'the term did not move');
  n.tick(5);
  n.take();
  n.step(voteMsg('c', 'a', 10, 1, 1));
  assert.equal(n.takeOfType('MsgVoteResp').map((m) => m.reject), [false], 'after an election timeout it votes');
});

/**
 * A node cut off for a long time, while the others kept committing, comes back: does it depose
 * the working leader?
 */
function rejoin(preVote: boolean): { c: Cluster; before: number; after: number; leader: string } {
  const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'rejoin', options: raftOptions({ preVote, checkQuorum: false }) });
  const leader = c.electLeader();
  const loner = c.ids.find((id) => id !== leader) as string;
  const before = c.node(leader).hardState().term;
  c.partition([c.ids.filter((id) => id !== loner), [loner]]);
  c.propose(leader, 'x');
  c.stabilize();
  for (let i = 0; i < 60; i++) c.tick(loner);
  c.dropWhere(() => true);
  c.heal();
  for (let i = 0; i < 30; i++) {
    c.tickAll();
    c.stabilize();
  }
  return { c, before, after: c.node(leader).hardState().term, leader };
}

test('§9.6 pre-vote: a node partitioned away does not raise its term, and rejoining does not disrupt the leader', () => {
  const { c, before, after, leader } = rejoin(true);
  assert.is(after, before);
  assert.is(c.leader(), leader);
});

test('§9.6 without pre-vote, the rejoining node\'s inflated term deposes a working leader', () => {
  const { before, after } = rejoin(false);
  assert.ok(after > before + 1, `term went from ${before} to ${after}`);
});

test('§9.6 a pre-vote is granted without anyone changing term or vote', () => {
  const n = Lone.of('a', abc, plainOptions({ preVote: true }));
  n.step(voteMsg('b', 'a', 2, 1, 1, 'MsgPreVote'));
  const [resp] = n.take();
  assert.equal([resp?.type, resp?.term], ['MsgPreVoteResp', 2]);
  assert.equal(n.node.hardState(), { term: 1, vote: null, commit: 1 });
});

test.run();
