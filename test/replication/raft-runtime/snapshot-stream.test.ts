import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KvNode, type RaftTuning } from '../../../src/node/node.js';
import type { KvOp, Result } from '../../../src/node/protocol.js';
import type { RaftReplica } from '../../../src/node/raft-replica.js';
import { DEFAULT_DISK_OPTIONS } from '../../../sim/disk.js';
import { NS_PER_MS } from '../../../sim/scheduler.js';
import { Trace } from '../../../sim/trace.js';
import { World } from '../../../sim/world.js';

// Snapshots streamed in chunks, on the simulator (issue 16, item 4): with chunks of 128 bytes a
// snapshot takes dozens of them, so a cut connection, a crash while the file arrives and a crash
// while it is installed all land in the middle of one, deterministically.

const TINY: Partial<RaftTuning> = {
  snapshotEntries: 10,
  keepEntries: 2,
  snapshotBlockBytes: 300,
  snapshotChunkBytes: 128,
  snapshotWindowChunks: 2,
  snapshotTimeoutMs: 200,
  // Building and installing take virtual time, so that they can be interrupted.
  snapshotYieldMs: 2,
  // Files are fsynced every 1 KiB while written and received, as every 8 MiB for real.
  snapshotSyncBytes: 1024,
};

function cluster(seed: string, tuning: Partial<RaftTuning> = TINY, engine: 'lsm' | 'memory' = 'lsm') {
  const ids = ['n1', 'n2', 'n3'];
  const world = new World({
    seed,
    nodeIds: ids,
    net: { latency: { minMs: 0.1, meanMs: 0.3, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ids, replication: 'raft', engine, bugs: new Set(), raft: tuning }),
  });
  world.start();
  world.sched.runUntil(world.nowNs + 2000 * NS_PER_MS);
  const node = (id: string) => world.machine(id).node as KvNode;
  const replica = (id: string) => node(id).replicaForInspection as RaftReplica;
  const leader = () => ids.find((id) => world.machine(id).state === 'up' && node(id).status().role === 'leader') as string;
  let seq = 0;
  const write = (key: string, value: string): string => {
    let out: Result | undefined;
    const op: KvOp = { f: 'write', key, value };
    node(leader()).submit({ kind: 'req', client: 'c', seq: ++seq, ackSeq: seq, db: '', op }, (r) => (out = r));
    world.sched.runUntil(world.nowNs + 50 * NS_PER_MS);
    return out === undefined ? 'no answer' : out.ok ? 'ok' : out.code;
  };
  const isolate = (id: string) => {
    for (const other of ids) if (other !== id) (world.net.block(id, other), world.net.block(other, id));
  };
  const run = (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS);
  /** Runs in steps of 1 ms until cond holds (at most limitMs). */
  const runUntil = (cond: () => boolean, limitMs = 20_000): void => {
    for (let i = 0; i < limitMs && !cond(); i++) run(1);
    assert.ok(cond(), 'the awaited moment came');
  };
  const digests = () => ids.map((id) => node(id).stateDigest());
  return { world, ids, node, replica, leader, write, isolate, run, runUntil, digests };
}

/** A cluster whose follower `lagging` has fallen behind the leader's compacted log. */
function behind(seed: string) {
  const t = cluster(seed);
  const lead = t.leader();
  const lagging = t.ids.find((id) => id !== lead) as string;
  for (let i = 0; i < 10; i++) assert.is(t.write(`early${i}`, 'e'.repeat(40)), 'ok');
  t.isolate(lagging);
  for (let i = 0; i < 60; i++) assert.is(t.write(`k${String(i).padStart(3, '0')}`, 'v'.repeat(60 + i)), 'ok');
  t.run(500);
  return { ...t, lead, lagging, before: t.node(lagging).stateDigest() };
}

const S = suite('streamed snapshots');

S('a follower behind the compacted log gets the snapshot in many chunks, across a cut connection, and converges', () => {
  const t = behind('stream-cut');
  t.world.net.heal();
  const rx = () => t.replica(t.lagging).snapshotTransfers().receiving;
  t.runUntil(() => (rx()?.have ?? 0) > 0 && (rx()?.have ?? 0) < (rx()?.total ?? 0) / 2);
  const { total } = rx() as { total: number };
  assert.ok(total / 128 >= 20, `a snapshot of ${total} bytes takes at least 20 chunks of 128`);
  // Cut the connection mid-transfer, for longer than the leader keeps trying (10 timeouts of
  // 200 ms): the next transfer, a new one, must find and resume the partial file.
  t.isolate(t.lagging);
  t.run(50); // what was in flight lands
  const haveAtCut = (rx() as { have: number }).have;
  t.run(3000);
  assert.equal(t.replica(t.lead).snapshotTransfers().sending, [], 'the leader gave that transfer up');
  assert.is(rx()?.have, haveAtCut, 'nothing arrives while cut; the partial file is kept');
  assert.ok(haveAtCut < total, 'cut in the middle');
  t.world.net.heal();
  let least = Infinity;
  t.runUntil(() => {
    const r = rx();
    if (r !== null) least = Math.min(least, r.have);
    return t.node(t.lagging).status().appliedIndex >= t.node(t.lead).status().appliedIndex - 1 && t.replica(t.lagging).restoring === null;
  });
  assert.ok(least >= haveAtCut, `the transfer resumed where it was cut (${haveAtCut}), not from ${least}`);
  t.run(500);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1, 'every replica holds the same state at the same position');
  assert.equal(t.world.panics, []);
});

S('a crash while the file arrives leaves the follower as it was; it receives the snapshot again', () => {
  const t = behind('stream-crash-receive');
  t.world.net.heal();
  const rx = () => t.replica(t.lagging).snapshotTransfers().receiving;
  t.runUntil(() => (rx()?.have ?? 0) > (rx()?.total ?? 0) / 3);
  t.world.crash(t.lagging);
  t.isolate(t.lagging);
  t.world.restart(t.lagging);
  t.run(500);
  // The old state (a crash may take back what the engine had not made durable; the log replays
  // it once the leader is heard again), none of the snapshot's.
  const after = t.node(t.lagging).stateDigest();
  assert.ok(after.applied <= t.before.applied && after.applied > 0, `position ${after.applied}, was ${t.before.applied}`);
  assert.equal([...t.node(t.lagging).stateEntries()].filter(([k]) => k.includes('k0')), [], 'no key of the snapshot');
  assert.equal(t.world.machine(t.lagging).disk.view(t.world.machine(t.lagging).owner).list('raft/snap').filter((n) => n.endsWith('.part')), [], 'the partial file is gone');
  t.world.net.heal();
  t.runUntil(() => t.node(t.lagging).status().appliedIndex >= t.node(t.lead).status().appliedIndex - 1 && t.replica(t.lagging).restoring === null);
  t.run(500);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1);
  assert.equal(t.world.panics, []);
});

S('a crash while the snapshot is installed: the position never shows a half state, and the next start installs it again', () => {
  const t = behind('stream-crash-install');
  t.world.net.heal();
  t.runUntil(() => t.replica(t.lagging).restoring !== null);
  const installing = t.replica(t.lagging).restoring as number;
  // Half-installed: the state machine still says the old position, so nothing serves from it as new.
  assert.is(t.node(t.lagging).status().appliedIndex, t.before.applied);
  t.run(20);
  assert.ok(t.replica(t.lagging).restoring !== null, 'still installing: the crash lands in the middle');
  // The process dies (kill -9) and the machine stays up: every write it made is still in the
  // page cache, the half-installed state included.
  t.world.processExit(t.lagging, 'killed mid-install');
  t.isolate(t.lagging);
  t.world.restart(t.lagging);
  // Isolated, it cannot hear from the leader: what it holds it installs from its own disk.
  t.runUntil(() => t.world.machine(t.lagging).state === 'up' && t.replica(t.lagging) !== null && t.replica(t.lagging).restoring === null && t.node(t.lagging).status().appliedIndex >= installing, 5000);
  assert.is(t.node(t.lagging).status().appliedIndex, installing, 'the snapshot is installed again at the start, from its durable file');
  t.world.net.heal();
  t.runUntil(() => t.node(t.lagging).status().appliedIndex >= t.node(t.lead).status().appliedIndex - 1);
  t.run(500);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1);
  assert.equal(t.world.panics, []);
});

S('writes go on while a snapshot is built a block at a time; the snapshot is of the position it started at', () => {
  const t = cluster('stream-build');
  for (let i = 0; i < 40; i++) assert.is(t.write(`k${i}`, 'x'.repeat(100)), 'ok', 'every write is answered while snapshots are built');
  t.run(500);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1);
  // A node restarted from its snapshot and log holds the same state.
  const id = t.ids.find((x) => x !== t.leader()) as string;
  t.world.crash(id);
  t.world.restart(id);
  t.run(1500);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1);
  assert.equal(t.world.panics, []);
});

S('a follower without room for the snapshot takes none of it, and does not die; with room again it does', () => {
  const t = behind('stream-no-room');
  // Its own options, and a disk with less room than the snapshot (the World shares one options object).
  const disk = t.world.machine(t.lagging).disk as unknown as { options: { capacityBytes: number | null }; usedBytes: number };
  disk.options = { ...disk.options, capacityBytes: disk.usedBytes + 2000 };
  t.world.net.heal();
  t.run(1500);
  assert.is(t.replica(t.lagging).snapshotTransfers().receiving, null, 'no transfer begun');
  assert.is(t.world.machine(t.lagging).state, 'up');
  disk.options.capacityBytes = null;
  t.runUntil(() => t.node(t.lagging).status().appliedIndex >= t.node(t.lead).status().appliedIndex - 1 && t.replica(t.lagging).restoring === null);
  t.run(500);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1);
  assert.equal(t.world.panics, []);
});

S('while a slow snapshot is built, the log it waits for is bounded: writes are refused, then taken again', () => {
  // Blocks of 100 bytes, 50 ms apart: a build of a few KB takes seconds of virtual time. The
  // memory engine: only a state machine with no durable state of its own compacts its log through
  // snapshot files (a durable engine's log is compacted against its flushes).
  const t = cluster('stream-backlog', { ...TINY, snapshotEntries: 1_000_000, snapshotBytes: 2000, snapshotBlockBytes: 100, snapshotYieldMs: 50 }, 'memory');
  const answers: string[] = [];
  for (let i = 0; i < 150; i++) answers.push(t.write(`k${i}`, 'x'.repeat(100)));
  assert.ok(answers.includes('unavailable'), 'some writes were refused while the log waited');
  const firstRefused = answers.indexOf('unavailable');
  assert.ok(answers.slice(firstRefused).includes('ok'), 'and writes were taken again once the snapshot was written');
  assert.ok(answers.every((a) => a === 'ok' || a === 'unavailable'), answers.join(','));
  t.run(3000);
  assert.is(new Set(t.digests().map((d) => `${d.applied}/${d.digest}`)).size, 1);
  assert.equal(t.world.panics, []);
});

S.run();
