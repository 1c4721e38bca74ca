/**
 * The claims of the Raft paper (Ongaro and Ousterhout, "In Search of an Understandable Consensus
 * Algorithm", 2014), one test each, named after the claim and its section, in the manner of
 * etcd's raft_paper_test.go. Position 1 of every log is the bootstrap config entry, so the
 * paper's position p is our p + 1 where the figures are reproduced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../../src/env/rng.js';
import { MemoryRaftStorage } from '../../../src/replication/raft/memory-storage.js';
import type { Message } from '../../../src/replication/raft/messages.js';
import { RaftNode } from '../../../src/replication/raft/node.js';
import { raftOptions } from '../../../src/replication/raft/options.js';
import { Cluster, bytes } from './harness.js';
import { Lone, appMsg, appResp, ent, plainOptions, storageWithTerms, voteMsg, voteResp } from './fixtures.js';

const abc = ['a', 'b', 'c'];

// ---------------------------------------------------------------- §5.1 terms

test('§5.1 a server that sees a larger term adopts it, and a candidate or leader reverts to follower', () => {
  const follower = Lone.of('a', abc);
  const candidate = Lone.of('a', abc);
  candidate.node.campaign();
  candidate.run();
  const leader = Lone.of('a', abc).becomeLeaderWith(['b']);
  assert.is(candidate.role, 'candidate');
  assert.is(leader.role, 'leader');
  for (const n of [follower, candidate, leader]) {
    n.step(appMsg('c', 'a', 9, 1, 1, [], 1));
    assert.is(n.term, 9);
    assert.is(n.role, 'follower');
    assert.is(n.node.softState().leader, 'c');
  }
});

test('§5.1 a server ignores a request with a stale term', () => {
  const n = new Lone('a', storageWithTerms(abc, [], 5));
  n.take();
  n.step(appMsg('b', 'a', 3, 1, 1, [ent(3, 2)], 2));
  assert.equal(n.take(), []);
  assert.is(n.term, 5);
  assert.is(n.node.debugState().entries.length, 1);
});

test('§5.1 with check quorum, a stale leader is answered with the newer term so it steps down', () => {
  const n = new Lone('a', storageWithTerms(abc, [], 5), plainOptions({ checkQuorum: true }));
  n.step(appMsg('b', 'a', 3, 1, 1, [], 1));
  const [resp] = n.take();
  assert.is(resp?.type, 'MsgAppResp');
  assert.is(resp?.term, 5);
  const stale = Lone.of('b', abc).becomeLeaderWith(['c']);
  stale.step({ ...(resp as Message), from: 'a', to: 'b' } as Message);
  assert.is(stale.role, 'follower');
  assert.is(stale.term, 5);
});

// ---------------------------------------------------------------- §5.2 leader election

test('§5.2 a follower that hears nothing for an election timeout becomes candidate, votes for itself and asks every other server', () => {
  const n = Lone.of('a', abc, plainOptions({ electionTicks: 10 }));
  let ticks = 0;
  while (n.role === 'follower') {
    n.tick();
    ticks += 1;
    assert.ok(ticks < 20, 'no election within 2 * electionTicks');
  }
  assert.ok(ticks >= 10, `campaigned after ${ticks} ticks, before the election timeout`);
  assert.is(n.role, 'candidate');
  assert.is(n.term, 2);
  assert.is(n.node.hardState().vote, 'a');
  const votes = n.takeOfType('MsgVote');
  assert.equal(votes.map((m) => [m.to, m.term, m.lastIndex, m.lastTerm]), [['b', 2, 1, 1], ['c', 2, 1, 1]]);
});

test('§5.2 election timeouts are randomised over [electionTicks, 2 * electionTicks)', () => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 60; seed++) {
    const n = new Lone('a', MemoryRaftStorage.bootstrap(abc), plainOptions({ electionTicks: 10 }), `seed${seed}`);
    let ticks = 0;
    while (n.role === 'follower') {
      n.tick();
      ticks += 1;
    }
    assert.ok(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
    seen.add(ticks);
  }
  assert.ok(seen.size >= 7, `only ${seen.size} distinct timeouts over 60 seeds`);
});

test('§5.2 a candidate wins with votes from a majority, loses once a majority refuses, else waits', () => {
  const cases: { voters: string[]; grants: string[]; rejects: string[]; role: string }[] = [
    { voters: ['a'], grants: [], rejects: [], role: 'leader' },
    { voters: abc, grants: ['b'], rejects: [], role: 'leader' },
    { voters: abc, grants: [], rejects: ['b'], role: 'candidate' },
    { voters: abc, grants: [], rejects: ['b', 'c'], role: 'follower' },
    { voters: ['a', 'b', 'c', 'd', 'e'], grants: ['b'], rejects: [], role: 'candidate' },
    { voters: ['a', 'b', 'c', 'd', 'e'], grants: ['b', 'e'], rejects: ['c'], role: 'leader' },
    { voters: ['a', 'b', 'c', 'd', 'e'], grants: ['b'], rejects: ['c', 'd', 'e'], role: 'follower' },
  ];
  for (const c of cases) {
    const n = Lone.of('a', c.voters);
    n.node.campaign();
    n.run();
    for (const v of c.grants) n.step(voteResp(v, 'a', 2, false));
    for (const v of c.rejects) n.step(voteResp(v, 'a', 2, true));
    assert.is(n.role, c.role, JSON.stringify(c));
  }
});

test('§5.2 a server votes for at most one candidate in a term, first come first served', () => {
  const n = Lone.of('a', abc);
  n.step(voteMsg('b', 'a', 2, 1, 1));
  n.step(voteMsg('c', 'a', 2, 1, 1));
  n.step(voteMsg('b', 'a', 2, 1, 1));
  const answers = n.takeOfType('MsgVoteResp').map((m) => `${m.to}:${m.reject ? 'no' : 'yes'}`);
  assert.equal(answers, ['b:yes', 'c:no', 'b:yes']);
  assert.is(n.node.hardState().vote, 'b');
});

test('§5.2 a candidate that hears from a leader of its term becomes its follower', () => {
  const n = Lone.of('a', abc);
  n.node.campaign();
  n.run();
  n.step(appMsg('b', 'a', 2, 1, 1, [], 1));
  assert.is(n.role, 'follower');
  assert.is(n.node.softState().leader, 'b');
  assert.is(n.term, 2);
});

test('§5.2 a candidate whose election times out (split vote) starts another in a higher term', () => {
  const n = Lone.of('a', abc, plainOptions({ electionTicks: 5 }));
  n.node.campaign();
  n.run();
  assert.is(n.term, 2);
  n.tick(10);
  assert.is(n.role, 'candidate');
  assert.ok(n.term >= 3);
});

test('§5.2 a leader sends heartbeats to every follower every heartbeatTicks', () => {
  const n = Lone.of('a', abc, plainOptions({ heartbeatTicks: 3, electionTicks: 10 })).becomeLeaderWith(['b']);
  n.take();
  n.tick(2);
  assert.equal(n.takeOfType('MsgHeartbeat'), []);
  n.tick();
  assert.equal(n.takeOfType('MsgHeartbeat').map((m) => m.to), ['b', 'c']);
});

// ---------------------------------------------------------------- §5.3 log replication

test('§5.3 a new leader appends an empty entry of its term and sends it to every follower', () => {
  const n = Lone.of('a', abc).becomeLeaderWith(['b']);
  const apps = n.takeOfType('MsgApp');
  assert.equal(apps.map((m) => [m.to, m.prevIndex, m.prevTerm, m.entries.map((e) => `${e.term}/${e.index}/${e.data.length}`)]), [
    ['b', 1, 1, ['2/2/0']],
    ['c', 1, 1, ['2/2/0']],
  ]);
});

test('§5.3 the leader appends a proposal to its log and sends it to every follower', () => {
  const n = Lone.of('a', abc).becomeLeaderWith(['b']);
  n.step(appResp('b', 'a', 2, 2)).step(appResp('c', 'a', 2, 2));
  n.take();
  const r = n.node.propose(bytes('x'));
  assert.equal(r, { ok: true, index: 3, term: 2 });
  n.run();
  const apps = n.takeOfType('MsgApp');
  assert.equal(apps.map((m) => [m.to, m.prevIndex, m.entries.map((e) => e.index)]), [['b', 2, [3]], ['c', 2, [3]]]);
});

test('§5.3 an entry is committed, and applied, once the leader has it stored on a majority', () => {
  const n = Lone.of('a', ['a', 'b', 'c', 'd', 'e']).becomeLeaderWith(['b', 'c']);
  n.node.propose(bytes('x'));
  n.run();
  n.step(appResp('b', 'a', 2, 3));
  assert.is(n.node.commitIndex(), 1, 'two of five');
  n.step(appResp('c', 'a', 2, 3));
  assert.is(n.node.commitIndex(), 3, 'three of five');
  assert.equal(n.applied.map((e) => e.index), [1, 2, 3]);
});

test('§5.3 committing an entry commits every entry before it', () => {
  const n = Lone.of('a', abc).becomeLeaderWith(['b']);
  for (const v of ['x', 'y', 'z']) n.node.propose(bytes(v));
  n.run();
  n.step(appResp('b', 'a', 2, 5));
  assert.is(n.node.commitIndex(), 5);
  assert.equal(n.applied.map((e) => e.index), [1, 2, 3, 4, 5]);
});

test('§5.3 a follower applies entries only once it learns they are committed', () => {
  const n = Lone.of('a', abc);
  n.step(appMsg('b', 'a', 2, 1, 1, [ent(2, 2), ent(2, 3, bytes('x'))], 1));
  assert.equal(n.applied.map((e) => e.index), [1]);
  n.step(appMsg('b', 'a', 2, 3, 2, [], 3));
  assert.equal(n.applied.map((e) => e.index), [1, 2, 3]);
});

test('§5.3 a follower rejects an append whose previous entry does not match, hinting where to go back to', () => {
  const n = new Lone('a', storageWithTerms(abc, [2, 2]));
  n.take();
  n.step(appMsg('b', 'a', 3, 3, 3, [ent(3, 4)], 1));
  const [resp] = n.takeOfType('MsgAppResp');
  assert.equal([resp?.reject, resp?.index, resp?.hintIndex, resp?.hintTerm], [true, 3, 3, 2]);
  assert.is(n.node.debugState().entries.length, 3, 'nothing appended');
});

test('§5.3 a follower deletes conflicting entries and all that follow, and takes the leader\'s', () => {
  const n = new Lone('a', storageWithTerms(abc, [2, 2, 2, 2]));
  n.step(appMsg('b', 'a', 3, 2, 2, [ent(3, 3)], 1));
  assert.equal(n.node.debugState().entries.map((e) => `${e.term}/${e.index}`), ['1/1', '2/2', '3/3']);
  assert.is(n.storage.lastIndex(), 3, 'the stable log was truncated too');
});

test('§5.3 a follower acknowledges what the append matched, not a stale tail of an older term behind it', () => {
  // Entries 3-5 of term 2 are a deposed leader's; the new leader (term 3) holds only 3 of them and
  // sends that one alone (its messages are size-limited). Acknowledging the whole log would count
  // the stale 4 and 5 as the leader's (RavenDB-13612; issue 17's "acknowledges its whole log").
  const n = new Lone('a', storageWithTerms(abc, [2, 2, 2, 2]));
  n.take();
  n.step(appMsg('b', 'a', 3, 2, 2, [ent(2, 3)], 1));
  const [resp] = n.takeOfType('MsgAppResp');
  assert.equal([resp?.reject, resp?.index], [false, 3]);
  assert.is(n.node.debugState().entries.length, 5, 'nothing conflicted, so nothing was truncated');
});

/** Figure 7: the leader's log, and six followers' logs that differ from it in every way. */
const FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIG7_FOLLOWERS: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

test('§5.3 Figure 7: the leader brings every kind of diverged follower log to match its own', () => {
  for (const [name, terms] of Object.entries(FIG7_FOLLOWERS)) {
    const voters = ['lead', name, 'x'];
    const c = new Cluster({
      voters,
      seed: `fig7-${name}`,
      options: plainOptions(),
      storages: {
        lead: storageWithTerms(voters, FIG7_LEADER, 7),
        [name]: storageWithTerms(voters, terms, Math.max(...terms)),
      },
    });
    c.campaign('lead');
    c.stabilize();
    assert.is(c.leader(), 'lead', `${name}: the leader wins with x's vote`);
    c.propose('lead', 'after');
    c.stabilize();
    c.tickAll();
    c.stabilize();
    const want = c.node('lead').debugState().entries.map((e) => `${e.term}/${e.index}/${e.digest}`);
    const got = c.node(name).debugState().entries.map((e) => `${e.term}/${e.index}/${e.digest}`);
    assert.equal(got, want, `follower ${name}`);
    assert.is(c.node(name).commitIndex(), want.length);
  }
});

test('§5.3 fast back-off: each rejection skips a whole term of conflicting entries', () => {
  const voters = ['lead', 'f', 'x'];
  const c = new Cluster({
    voters,
    seed: 'backoff',
    options: plainOptions(),
    storages: { lead: storageWithTerms(voters, FIG7_LEADER, 7), f: storageWithTerms(voters, FIG7_FOLLOWERS.f as number[], 3) },
  });
  c.campaign('lead');
  c.stabilize();
  const rejections = c.trace.filter((l) => l.includes('f->lead MsgAppResp') && l.includes('reject')).length;
  // f's log past the common prefix holds terms 2 and 3: one rejection per term, at most.
  assert.ok(rejections >= 1 && rejections <= 2, `${rejections} rejections`);
  assert.equal(c.node('f').debugState().entries.map((e) => e.term), c.node('lead').debugState().entries.map((e) => e.term));
});

// ---------------------------------------------------------------- §5.4 safety

test('§5.4.1 a voter denies its vote to a candidate whose log is less up to date than its own', () => {
  // The voter's log ends with term 2 at position 3.
  const cases: [number, number, boolean][] = [
    [1, 10, false], // older last term, however long
    [2, 2, false], // same last term, shorter
    [2, 3, true], // same last term, as long
    [2, 4, true],
    [3, 2, true], // newer last term, however short
  ];
  for (const [lastTerm, lastIndex, granted] of cases) {
    const n = new Lone('a', storageWithTerms(abc, [2, 2]));
    n.take();
    n.step(voteMsg('b', 'a', 5, lastIndex, lastTerm));
    const [resp] = n.takeOfType('MsgVoteResp');
    assert.is(resp?.reject, !granted, `candidate last=${lastTerm}/${lastIndex}`);
  }
});

test('§5.4.2 Figure 8: a leader does not commit an entry of an earlier term by counting replicas', () => {
  // s1 leads term 4; its log holds (paper's position 2, ours 3) a term-2 entry and its own empty
  // term-4 entry after it. s2 and s3 acknowledge only the term-2 entry: replicated on a majority,
  // yet not committed, since s5 (term-3 entry at that position) can still be elected.
  const voters = ['s1', 's2', 's3', 's4', 's5'];
  const n = new Lone('s1', storageWithTerms(voters, [1, 2], 3), plainOptions());
  n.becomeLeaderWith(['s2', 's3']);
  assert.is(n.term, 4);
  n.step(appResp('s2', 's1', 4, 3)).step(appResp('s3', 's1', 4, 3));
  assert.is(n.node.commitIndex(), 1, 'the term-2 entry is not committed by count');
  n.step(appResp('s2', 's1', 4, 4)).step(appResp('s3', 's1', 4, 4));
  assert.is(n.node.commitIndex(), 4, 'committing the term-4 entry commits the term-2 one with it');
});

// ---------------------------------------------------------------- §5.5 and the Ready contract

test('§5.5 a node restarted from its storage keeps its term, vote and log', () => {
  const c = new Cluster({ voters: abc, seed: 'restart' });
  const l = c.electLeader();
  c.propose(l, 'x');
  c.stabilize();
  const before = c.node('b').debugState();
  c.crash('b');
  c.restart('b');
  const after = c.node('b').debugState();
  assert.equal([after.term, after.vote, after.entries], [before.term, before.vote, before.entries]);
  assert.ok(after.commitIndex <= before.commitIndex);
});

test('the leader counts its own entry towards commit only once the Ready holding it was persisted', () => {
  const storage = MemoryRaftStorage.bootstrap(['a']);
  const node = new RaftNode({ id: 'a', storage, rng: new SeededRng('1'), options: raftOptions() });
  node.campaign();
  let rd = node.ready();
  assert.is(rd.softState?.role, 'leader');
  assert.equal(rd.entries.map((e) => e.index), [2], 'the empty entry of term 2');
  assert.equal(rd.committedEntries.map((e) => e.index), [1], 'the bootstrap entry only: 2 is not durable yet');
  assert.is(rd.hardState?.commit, 1);
  storage.append(rd.entries);
  node.advance(rd);
  rd = node.ready();
  assert.equal(rd.committedEntries.map((e) => e.index), [2]);
  assert.is(rd.hardState?.commit, 2);
  node.advance(rd);
  assert.not.ok(node.hasReady());
});

test('a leader sends its appends before persisting them, yet needs a durable majority to commit', () => {
  const leader = Lone.of('a', abc).becomeLeaderWith(['b']);
  const term = leader.term;
  leader.take();
  leader.node.step(appResp('b', 'a', term, 2)); // b holds the leader's empty entry
  leader.node.step(appResp('c', 'a', term, 2));
  leader.run();
  const index = leader.storage.lastIndex() + 1;
  leader.node.propose(bytes('x'));
  const rd = leader.node.ready();
  assert.equal(rd.entries.map((e) => e.index), [index]);
  assert.equal(rd.earlyMessages.filter((m) => m.type === 'MsgApp').map((m) => m.to).sort(), ['b', 'c'], 'the appends leave with the Ready, not after its fsync');
  assert.equal(rd.messages.filter((m) => m.type === 'MsgApp'), []);
  // b acknowledges before the leader has persisted: b alone is not a majority, and the leader's
  // own copy does not count until advance().
  leader.node.step(appResp('b', 'a', term, index));
  assert.ok(leader.node.commitIndex() < index, 'one durable copy is not a commit');
  leader.storage.append(rd.entries);
  leader.node.advance(rd);
  assert.is(leader.node.commitIndex(), index, 'the leader\'s durable copy and b\'s make a majority');
});

test('a leader counts only the entries its persisted Readys held, not those proposed since', () => {
  // Proposals that reach the core while a Ready is being persisted sit in its unstable log when
  // that Ready is advanced: counting them as the leader's own copy would commit y on one disk
  // (b's) in three. (The runtime gathers proposals outside the core meanwhile, so only this test
  // reaches the case; issue 17's mutation raft-self-match-before-durable.)
  const leader = Lone.of('a', abc).becomeLeaderWith(['b']);
  const term = leader.term;
  leader.take();
  leader.node.step(appResp('b', 'a', term, 2));
  leader.node.step(appResp('c', 'a', term, 2));
  leader.run();
  const x = leader.storage.lastIndex() + 1;
  leader.node.propose(bytes('x'));
  const rdX = leader.node.ready();
  leader.node.propose(bytes('y')); // y: in the core's log, not in rdX
  leader.storage.append(rdX.entries);
  leader.node.advance(rdX);
  const rdY = leader.node.ready();
  assert.equal(rdY.entries.map((e) => e.index), [x + 1]);
  leader.node.step(appResp('b', 'a', term, x + 1)); // b holds y before the leader does
  assert.is(leader.node.commitIndex(), x, 'x: b and the leader hold it; y: only b does');
  leader.storage.append(rdY.entries);
  leader.node.advance(rdY);
  assert.is(leader.node.commitIndex(), x + 1);
});

test('entries committed while a Ready is outstanding are applied at once if durable here, and not handed out again', () => {
  const leader = Lone.of('a', abc).becomeLeaderWith(['b']);
  const term = leader.term;
  leader.take();
  leader.node.step(appResp('b', 'a', term, 2));
  leader.node.step(appResp('c', 'a', term, 2));
  leader.run();
  const x = leader.storage.lastIndex() + 1;
  leader.node.propose(bytes('x'));
  const rdX = leader.node.ready();
  leader.storage.append(rdX.entries);
  leader.node.advance(rdX);
  leader.node.propose(bytes('y'));
  const rdY = leader.node.ready(); // y is being persisted...
  assert.equal(rdY.entries.map((e) => e.index), [x + 1]);
  assert.equal(leader.node.takeDurableCommitted(), [], 'x is durable here but not committed yet');
  leader.node.step(appResp('b', 'a', term, x + 1)); // ...when b acknowledges x and y
  assert.equal(leader.node.takeDurableCommitted().map((e) => e.index), [x], 'x: committed and in the stable log; y is not stable here yet');
  assert.equal(leader.node.takeDurableCommitted(), [], 'handed out once');
  leader.storage.append(rdY.entries);
  leader.node.advance(rdY);
  assert.is(leader.node.appliedIndex(), x);
  const next = leader.node.ready();
  assert.equal(next.committedEntries.map((e) => e.index), [x + 1], 'x is not handed out again');
  leader.node.advance(next);
  assert.is(leader.node.appliedIndex(), x + 1);
});

test('a follower commits no further than the last entry the append matched, never into a stale tail past it', () => {
  // §5.3: commitIndex = min(leaderCommit, index of last new entry). b holds 2..4 from a leader of
  // term 2; the leader of term 3 holds 2 and 3 of them but its own entry at 4. Its append of 3
  // alone (a size-limited message) matches, leaves b's stale 4 in place, and carries commit 4:
  // b may commit 3, not its own 4 (atomix/copycat#265; issue 17's raft-commit-past-last-new).
  const storage = MemoryRaftStorage.bootstrap(abc);
  const node = new RaftNode({ id: 'b', storage, rng: new SeededRng('1'), options: plainOptions() });
  node.advance(node.ready());
  node.step(appMsg('a', 'b', 2, 1, 1, [ent(2, 2), ent(2, 3), ent(2, 4)], 1));
  const rd = node.ready();
  storage.append(rd.entries);
  node.advance(rd);
  assert.is(node.lastIndex(), 4);
  node.step(appMsg('c', 'b', 3, 2, 2, [ent(2, 3)], 4));
  const answer = node.ready().messages.find((m) => m.type === 'MsgAppResp');
  assert.ok(answer !== undefined && answer.type === 'MsgAppResp' && !answer.reject, 'the append matched');
  assert.is(node.commitIndex(), 3);
});

test('a follower does not apply early the committed entries that arrived in its outstanding Ready', () => {
  const node = new RaftNode({ id: 'b', storage: MemoryRaftStorage.bootstrap(abc), rng: new SeededRng('1'), options: plainOptions() });
  node.advance(node.ready());
  node.step(appMsg('a', 'b', 2, 1, 1, [ent(2, 2), ent(2, 3)], 3));
  const rd = node.ready();
  assert.equal(rd.committedEntries.map((e) => e.index), [2, 3], 'committed, but only in this Ready\'s entries');
  assert.equal(node.takeDurableCommitted(), [], 'not in the stable log yet: they wait for the fsync');
});

test('the Ready contract: a granted vote leaves in messages, with the vote in the hard state to persist first', () => {
  const node = new RaftNode({ id: 'a', storage: MemoryRaftStorage.bootstrap(abc), rng: new SeededRng('1'), options: plainOptions() });
  node.advance(node.ready());
  node.step(voteMsg('b', 'a', 2, 1, 1));
  const rd = node.ready();
  assert.equal(rd.hardState, { term: 2, vote: 'b', commit: 1 });
  assert.ok(rd.mustSync);
  assert.equal(rd.earlyMessages, []);
  assert.equal(rd.messages.map((m) => m.type), ['MsgVoteResp']);
});

test('the Ready contract: steps between ready() and advance() land in the next Ready', () => {
  const node = new RaftNode({ id: 'a', storage: MemoryRaftStorage.bootstrap(abc), rng: new SeededRng('1'), options: plainOptions() });
  const first = node.ready();
  node.step(appMsg('b', 'a', 2, 1, 1, [ent(2, 2)], 1));
  assert.not.ok(node.hasReady(), 'nothing new is handed out while a Ready is outstanding');
  assert.throws(() => node.ready(), /advance/);
  node.advance(first);
  const second = node.ready();
  assert.equal(second.entries.map((e) => e.index), [2]);
  assert.equal(second.messages.map((m) => m.type), ['MsgAppResp']);
});

test.run();
