import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Ready } from '../../../src/replication/raft/ready.js';
import type { Entry, HardState } from '../../../src/replication/raft/types.js';
import { DurableRaftStorage, markLogLoss, type OpenReport } from '../../../src/replication/raft-runtime/durable-storage.js';
import { SharedRaftLog } from '../../../src/replication/raft-runtime/shared-log.js';
import { encodeEntries } from '../../../src/replication/raft-runtime/codec.js';
import { filesUnder } from '../../../src/storage/quarantine.js';
import { SimEnv } from '../../storage/sim-env.js';

// One Raft log per node shared by its groups: each group gets back exactly what it persisted,
// one fsync covers many groups' Readys, a group's truncation and compaction touch no other group,
// old segments go (rewriting a group that pins them), a torn tail is cut and corruption is named.

const enc = (s: string) => new TextEncoder().encode(s);
const DIR = 'raftlog';

function ready(entries: Entry[], hardState: HardState | null): Ready {
  return { softState: null, hardState, snapshot: null, entries, mustSync: true, earlyMessages: [], messages: [], committedEntries: [], readStates: [] };
}

const entry = (g: number, index: number, term: number, bytes = 0): Entry => ({ index, term, type: 'normal', data: enc(`g${g}-cmd${index}`.padEnd(bytes, '.')) });

interface Node {
  env: SimEnv;
  log: SharedRaftLog;
  groups: Map<number, DurableRaftStorage>;
}

function openLog(env: SimEnv, segmentBytesMax = 64 * 1024, gcSegments?: number): SharedRaftLog {
  const [err, log] = env.call<[Error | null, SharedRaftLog?]>((cb) => SharedRaftLog.open(env.deps, { dir: DIR, skipFsync: false, wal: { segmentBytesMax, blockBytes: 1024 }, ...(gcSegments !== undefined ? { gcSegments } : {}) }, cb));
  assert.is(err, null);
  return log as SharedRaftLog;
}

function openGroup(n: Node, g: number, bootstrap: boolean): DurableRaftStorage {
  const [err, s] = n.env.call<[Error | null, DurableRaftStorage?]>((cb) =>
    DurableRaftStorage.openShared(n.env.deps, { dir: `g${g}/raft`, skipFsync: false }, bootstrap ? makeMembership(['n1', 'n2', 'n3']) : null, n.log.openGroup(g), cb),
  );
  assert.is(err, null);
  n.groups.set(g, s as DurableRaftStorage);
  return s as DurableRaftStorage;
}

function node(seed: string, groups: number[], opts: { segmentBytesMax?: number; gcSegments?: number; crash?: 'lose' | 'torn' } = {}): Node {
  const env = new SimEnv(seed, { crash: opts.crash ?? 'lose' });
  const n: Node = { env, log: openLog(env, opts.segmentBytesMax, opts.gcSegments), groups: new Map() };
  for (const g of groups) openGroup(n, g, true);
  return n;
}

/** Crash and reopen: the shared log, then each of `groups` (never bootstrapping again). */
function restart(n: Node, groups: number[], opts: { segmentBytesMax?: number; gcSegments?: number } = {}): void {
  n.env.crash();
  n.log = openLog(n.env, opts.segmentBytesMax, opts.gcSegments);
  n.groups.clear();
  for (const g of groups) openGroup(n, g, false);
}

function persist(n: Node, g: number, entries: Entry[], hard: HardState | null): () => boolean {
  let done = false;
  (n.groups.get(g) as DurableRaftStorage).persist(ready(entries, hard), (err) => {
    assert.is(err, null);
    done = true;
  });
  return () => done;
}

/** `rounds` Readys of five 300-byte entries of group g after `index`, each compacted once durable; returns the last index. */
function writeAndCompact(n: Node, g: number, index: number, rounds: number): number {
  const s = n.groups.get(g) as DurableRaftStorage;
  const membership = makeMembership(['n1', 'n2', 'n3']);
  for (let round = 0; round < rounds; round++) {
    const es: Entry[] = [];
    for (let k = 0; k < 5; k++) es.push(entry(g, ++index, 1, 300));
    n.env.until(persist(n, g, es, { term: 1, vote: null, commit: index }));
    if (!s.compacting) s.compactApplied({ index, term: 1, membership }, { entries: 2, bytes: 1 << 20 }, (err) => assert.is(err, null));
    n.env.run(5);
  }
  return index;
}

/**
 * Groups 1 and 2, group 2 written once; then a crash and a restart in which the log is told which
 * recovered groups will open (`expect`) and only group 1 opens.
 */
function restartedWithGroup2Idle(seed: string, opts: { segmentBytesMax: number; gcSegments: number }, expect: number[]): Node {
  const n = node(seed, [1, 2], opts);
  n.env.until(persist(n, 2, [entry(2, 2, 1, 200)], { term: 1, vote: null, commit: 2 }));
  n.env.crash();
  n.log = openLog(n.env, opts.segmentBytesMax, opts.gcSegments);
  n.groups.clear();
  n.log.expect(expect);
  openGroup(n, 1, false);
  return n;
}

function terms(s: DurableRaftStorage): string {
  const out: string[] = [];
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push(`${i}:${s.term(i)}`);
  return out.join(' ');
}

/**
 * A markLoss for SharedRaftLog.open, as the sharded node's: marks each of `groups` (markLogLoss in
 * g<i>/raft) one after the other, noting them in `marked`; `check` looks at the call first.
 */
function markEveryGroup(n: Node, groups: number[], marked: string[], check: (at: string, reason: string) => void) {
  return (at: string, reason: string, done: (err: Error | null) => void): void => {
    check(at, reason);
    let i = 0;
    const next = (): void => {
      const g = groups[i++];
      if (g === undefined) return done(null);
      marked.push(`g${g}`);
      markLogLoss(n.env.deps, `g${g}/raft`, at, reason, (e) => (e !== null ? done(e) : next()));
    };
    next();
  };
}

const S = suite('shared raft log');

S('several groups persist through one log and each gets back exactly its own log after a crash', () => {
  const n = node('a', [1, 2, 3]);
  const fsyncsBefore = n.log.stats().fsyncs;
  // Three groups' Readys in the same turn: the group commit covers them with one fsync.
  const dones = [1, 2, 3].map((g) => persist(n, g, [entry(g, 2, 2), entry(g, 3, 2)], { term: 2, vote: `n${g}`, commit: 2 }));
  n.env.until(() => dones.every((d) => d()));
  const fsyncs = n.log.stats().fsyncs - fsyncsBefore;
  assert.ok(fsyncs < 3, `three groups' Readys took ${fsyncs} fsyncs, not one round`);
  persist(n, 2, [entry(2, 4, 2)], null);
  n.env.run(100);
  restart(n, [1, 2, 3]);
  for (const g of [1, 2, 3]) {
    const s = n.groups.get(g) as DurableRaftStorage;
    assert.equal(s.hardState(), { term: 2, vote: `n${g}`, commit: 2 });
    assert.is(terms(s), g === 2 ? '1:1 2:2 3:2 4:2' : '1:1 2:2 3:2');
    assert.equal(new TextDecoder().decode(s.entries(3, 4, Infinity)[0]?.data), `g${g}-cmd3`);
  }
});

S("a group's conflicting suffix is replaced and its prefix compacted without touching another group", () => {
  const n = node('b', [1, 2]);
  for (const g of [1, 2]) persist(n, g, [entry(g, 2, 2), entry(g, 3, 2), entry(g, 4, 2)], { term: 2, vote: null, commit: 4 });
  n.env.run(100);
  // Group 1 learns a new leader's log: its suffix from 3 on is truncated and replaced.
  persist(n, 1, [entry(1, 3, 3)], { term: 3, vote: 'n2', commit: 2 });
  n.env.run(100);
  // Group 2 compacts its prefix against its state machine's durable applied index.
  const s2 = n.groups.get(2) as DurableRaftStorage;
  const [err] = n.env.call<[Error | null]>((cb) => s2.compactApplied({ index: 3, term: 2, membership: makeMembership(['n1', 'n2', 'n3']) }, { entries: 0, bytes: 0 }, cb));
  assert.is(err, null);
  restart(n, [1, 2]);
  assert.is(terms(n.groups.get(1) as DurableRaftStorage), '1:1 2:2 3:3');
  const r2 = n.groups.get(2) as DurableRaftStorage;
  assert.is(r2.snapshot().meta.index, 3);
  assert.is(r2.firstIndex(), 4);
  assert.is(terms(r2), '4:2');
});

S('segments no group needs are deleted; a group that pins old segments is rewritten at the head', () => {
  const opts = { segmentBytesMax: 8 * 1024, gcSegments: 4 };
  const n = node('c', [1, 2], opts);
  // Group 2 writes once and then stays idle: its records would pin every segment after them.
  persist(n, 2, [entry(2, 2, 1, 200)], { term: 1, vote: null, commit: 2 });
  n.env.run(10);
  const s1 = n.groups.get(1) as DurableRaftStorage;
  const membership = makeMembership(['n1', 'n2', 'n3']);
  let index = 1;
  let maxSegments = 0;
  for (let round = 0; round < 60; round++) {
    const es: Entry[] = [];
    for (let k = 0; k < 5; k++) es.push(entry(1, ++index, 1, 300));
    const d = persist(n, 1, es, { term: 1, vote: null, commit: index });
    n.env.until(d);
    if (!s1.compacting) s1.compactApplied({ index, term: 1, membership }, { entries: 2, bytes: 1 << 20 }, (err) => assert.is(err, null));
    n.env.run(5);
    maxSegments = Math.max(maxSegments, n.log.stats().segments);
  }
  n.env.run(100);
  const st = n.log.stats();
  assert.ok(st.rewrites > 0, 'the idle group was asked to rewrite');
  assert.ok(maxSegments <= opts.gcSegments + 3, `the log grew to ${maxSegments} segments`);
  assert.ok(st.segments <= opts.gcSegments + 1, `${st.segments} segments left`);
  restart(n, [1, 2], opts);
  assert.is(terms(n.groups.get(2) as DurableRaftStorage), '1:1 2:1');
  assert.equal(n.groups.get(2)?.hardState(), { term: 1, vote: null, commit: 2 });
  const r1 = n.groups.get(1) as DurableRaftStorage;
  assert.is(r1.lastIndex(), index);
  assert.is(r1.snapshot().meta.index, index);
});

S('a group that has not opened yet keeps its records while the others write and collect (shards/rot seed 83)', () => {
  // After a restart the groups open one by one (one may first quarantine a rotten engine); the
  // groups already open wrote and compacted, and a collection dropped the segments holding the
  // slow group's whole log base: it could not replay ("append at 526 leaves a gap after 0").
  const opts = { segmentBytesMax: 8 * 1024, gcSegments: 4 };
  const n = restartedWithGroup2Idle('h', opts, [1, 2]);
  let index = writeAndCompact(n, 1, 1, 60);
  n.env.run(100);
  assert.ok(n.log.stats().segments > opts.gcSegments, `${n.log.stats().segments} segments: the unopened group pins the oldest`);
  const s2 = openGroup(n, 2, false);
  assert.is(terms(s2), '1:1 2:1');
  assert.equal(s2.hardState(), { term: 1, vote: null, commit: 2 });
  // Once it is open it is asked to rewrite like any group, and the old segments go.
  index = writeAndCompact(n, 1, index, 20);
  n.env.run(200);
  assert.ok(n.log.stats().rewrites > 0, 'the group that opened late was asked to rewrite');
  assert.ok(n.log.stats().segments <= opts.gcSegments + 1, `${n.log.stats().segments} segments left`);
  restart(n, [1, 2], opts);
  assert.is(terms(n.groups.get(2) as DurableRaftStorage), '1:1 2:1');
});

S('recovered groups that will not open (replicas removed) pin nothing', () => {
  const opts = { segmentBytesMax: 8 * 1024, gcSegments: 4 };
  const n = restartedWithGroup2Idle('i', opts, [1]);
  writeAndCompact(n, 1, 1, 60);
  n.env.run(100);
  assert.ok(n.log.stats().segments <= opts.gcSegments + 1, `${n.log.stats().segments} segments left`);
});

S('a compaction may start while a rewrite is under way (shards/tiny-lsm: "one compaction at a time")', () => {
  const n = node('g', [1]);
  const s = n.groups.get(1) as DurableRaftStorage;
  n.env.until(persist(n, 1, [entry(1, 2, 1), entry(1, 3, 1), entry(1, 4, 1)], { term: 1, vote: null, commit: 4 }));
  const errs: (Error | null)[] = [];
  s.rewrite((err) => errs.push(err));
  s.compactApplied({ index: 3, term: 1, membership: makeMembership(['n1', 'n2', 'n3']) }, { entries: 0, bytes: 0 }, (err) => errs.push(err));
  n.env.run(100);
  assert.equal(errs, [null, null]);
  restart(n, [1]);
  const r = n.groups.get(1) as DurableRaftStorage;
  assert.is(r.snapshot().meta.index, 3);
  assert.is(terms(r), '4:1');
});

S('groups whose logs are all live are not rewritten, however many segments they fill', () => {
  // Rewriting a group whose records are all still needed frees nothing and pushes the log past the
  // threshold again: with live logs larger than the threshold the groups would rewrite forever.
  const opts = { segmentBytesMax: 4096, gcSegments: 2 };
  const n = node('f', [1, 2, 3], opts);
  const next = new Map([[1, 1], [2, 1], [3, 1]]);
  for (let i = 0; i < 90; i++) {
    const g = 1 + (i % 3);
    const index = (next.get(g) as number) + 1;
    next.set(g, index);
    n.env.until(persist(n, g, [entry(g, index, 1, 600)], null));
  }
  n.env.run(100);
  assert.ok(n.log.stats().segments > 10, `${n.log.stats().segments} segments`);
  assert.is(n.log.stats().rewrites, 0);
});

S('a torn tail is cut: every group keeps each entry it was told is durable, and only its own entries', () => {
  for (let seed = 0; seed < 12; seed++) {
    const n = node(`ack${seed}`, [1, 2], { crash: 'torn', segmentBytesMax: 4096 });
    const acked = new Map<number, number>([[1, 1], [2, 1]]);
    const next = new Map<number, number>([[1, 1], [2, 1]]);
    for (let i = 0; i < 40; i++) {
      const g = 1 + (i % 2);
      const index = (next.get(g) as number) + 1;
      next.set(g, index);
      (n.groups.get(g) as DurableRaftStorage).persist(ready([entry(g, index, 1, 150)], null), (err) => {
        assert.is(err, null);
        acked.set(g, Math.max(acked.get(g) as number, index));
      });
      if (i % 7 === 0) n.env.run(1);
    }
    restart(n, [1, 2], { segmentBytesMax: 4096 });
    for (const g of [1, 2]) {
      const s = n.groups.get(g) as DurableRaftStorage;
      assert.ok(s.lastIndex() >= (acked.get(g) as number), `group ${g} lost an acknowledged entry`);
      for (let i = 2; i <= s.lastIndex(); i++) assert.is(new TextDecoder().decode(s.entries(i, i + 1, Infinity)[0]?.data).slice(0, 3), `g${g}-`);
    }
  }
});

S('a corrupt record fails recovery with an error naming the segment file and the offset', () => {
  const n = node('d', [1, 2], { segmentBytesMax: 4096 });
  for (let i = 2; i < 80; i++) {
    persist(n, 1 + (i % 2), [entry(1 + (i % 2), Math.floor(i / 2) + 1, 1, 200)], null);
    n.env.run(1); // a segment rotates only once the one before has sealed
  }
  n.env.run(100);
  n.env.crash();
  const segments = n.env.disk.view(n.env.owner).list(DIR).sort();
  assert.ok(segments.length >= 3, `${segments.length} segments: ${segments.join(' ')}; ${JSON.stringify(n.log.stats())}`);
  const path = `${DIR}/${segments[0]}`;
  const f = n.env.deps.disk.open(path, 'write');
  const b = f.read(300, 1);
  f.writeAt(300, new Uint8Array([(b[0] as number) ^ 0xff]));
  f.close();
  const [err] = n.env.call<[Error | null, SharedRaftLog?]>((cb) => SharedRaftLog.open(n.env.deps, { dir: DIR, skipFsync: false, wal: { segmentBytesMax: 4096, blockBytes: 1024 } }, cb));
  assert.ok(err !== null, 'recovery refused the corrupt log');
  assert.match((err as Error).message, path);
  assert.match((err as Error).message, /offset \d+/);
});

S('a dropped group starts empty; records of groups never opened pin no segment', () => {
  const n = node('e', [1, 2]);
  persist(n, 2, [entry(2, 2, 1), entry(2, 3, 1)], { term: 1, vote: null, commit: 3 });
  n.env.run(100);
  // Group 2's replica is removed (its view closes), then created again by a move: it starts empty.
  const [closeErr] = n.env.call<[Error | null]>((cb) => n.groups.get(2)?.close(cb));
  assert.is(closeErr, null);
  const [dropErr] = n.env.call<[Error | null]>((cb) => n.log.dropGroup(2, cb));
  assert.is(dropErr, null);
  // The node then wipes the replica's directory (shard-disk.ts, markJoined): its copies of the hard state go too.
  for (const f of filesUnder(n.env.deps.disk, 'g2')) {
    n.env.deps.disk.remove(f);
    n.env.call<[Error | null]>((cb) => n.env.deps.disk.syncDir(f.slice(0, f.lastIndexOf('/')), cb));
  }
  restart(n, [1]);
  assert.equal(n.log.unopenedGroups(), []);
  const again = openGroup(n, 2, false);
  assert.is(again.lastIndex(), 0);
  assert.is(again.hardState().term, 0);
  // A group found in the log but not started (a removed replica whose drop a crash lost) pins nothing.
  persist(n, 1, [entry(1, 2, 1)], null);
  n.env.run(100);
  restart(n, []);
  assert.equal(n.log.unopenedGroups(), [1]);
});


S('a corrupt record with markLoss: every group is marked first, the log is cut there, and each group recovers its intact prefix holding its votes', () => {
  const n = node('cut', [1, 2], { segmentBytesMax: 4096 });
  // Term 3, a vote for n2: in the shared log and in each group's copies beside its directory.
  for (const g of [1, 2]) persist(n, g, [], { term: 3, vote: 'n2', commit: 1 });
  n.env.run(10);
  const last = new Map<number, number>([[1, 1], [2, 1]]);
  for (let i = 0; i < 80; i++) {
    const g = 1 + (i % 2);
    const index = (last.get(g) as number) + 1;
    last.set(g, index);
    persist(n, g, [entry(g, index, 3, 200)], null);
    n.env.run(1); // a segment rotates only once the one before has sealed
  }
  n.env.run(100);
  n.env.crash();
  const segments = n.env.disk.view(n.env.owner).list(DIR).sort();
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  const bad = `${DIR}/${segments[1]}`;
  const f = n.env.deps.disk.open(bad, 'write');
  const b = f.read(300, 1);
  f.writeAt(300, new Uint8Array([(b[0] as number) ^ 0xff]));
  f.close();
  const marked: string[] = [];
  const markLoss = markEveryGroup(n, [1, 2], marked, (at) => {
    // Marked before anything moves: every segment is still in place.
    assert.equal(n.env.deps.disk.list(DIR).sort(), segments);
    assert.match(at, bad);
  });
  const [err, log] = n.env.call<[Error | null, SharedRaftLog?]>((cb) => SharedRaftLog.open(n.env.deps, { dir: DIR, skipFsync: false, wal: { segmentBytesMax: 4096, blockBytes: 1024 }, markLoss }, cb));
  assert.is(err, null);
  assert.equal(marked, ['g1', 'g2']);
  n.log = log as SharedRaftLog;
  // The bad segment and every later one are in quarantine; the bad one's intact bytes are back.
  const quarantined = filesUnder(n.env.deps.disk, 'quarantine');
  for (const s of segments.slice(1)) assert.ok(quarantined.some((q) => q.endsWith(`${DIR}/${s}`)), `${s} quarantined: ${quarantined.join(' ')}`);
  assert.equal(n.env.deps.disk.list(DIR).sort().slice(0, 2), segments.slice(0, 2));
  for (const g of [1, 2]) {
    const [e, s, report] = n.env.call<[Error | null, DurableRaftStorage?, { logLoss: { votesThroughTerm: number } | null }?]>((cb) =>
      DurableRaftStorage.openShared(n.env.deps, { dir: `g${g}/raft`, skipFsync: false }, null, n.log.openGroup(g), cb),
    );
    assert.is(e, null);
    const st = s as DurableRaftStorage;
    assert.is(report?.logLoss?.votesThroughTerm, 3, `group ${g} holds its votes through term 3`);
    assert.is(st.hardState().term, 3);
    assert.is(st.hardState().vote, 'n2');
    assert.ok(st.lastIndex() < (last.get(g) as number), `group ${g} lost the records after the cut (${st.lastIndex()} of ${last.get(g)})`);
    assert.ok(st.lastIndex() >= 2, `group ${g} kept its intact prefix (${st.lastIndex()})`);
    for (let i = 2; i <= st.lastIndex(); i++) assert.is(new TextDecoder().decode(st.entries(i, i + 1, Infinity)[0]?.data).slice(0, 3), `g${g}-`);
  }
});

S('a replica that never had a term (a move just made it) is held, not muted, by a cut of the shared log', () => {
  // Its copies were written only once it had a term: absent, they read as lost at a cut, and the
  // replica went mute for good although it had promised nothing (found in review).
  const n = node('fresh', [1], { segmentBytesMax: 4096 });
  openGroup(n, 3, false);
  assert.ok(n.env.deps.disk.exists('g3/raft/hardstate-a') && n.env.deps.disk.exists('g3/raft/hardstate-b'), 'its copies hold its first state');
  persist(n, 1, [], { term: 3, vote: 'n2', commit: 1 });
  for (let i = 2; i < 60; i++) {
    persist(n, 1, [entry(1, i, 3, 200)], null);
    n.env.run(1);
  }
  n.env.run(100);
  n.env.crash();
  const segments = n.env.deps.disk.list(DIR).sort();
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  const f = n.env.deps.disk.open(`${DIR}/${segments[1]}`, 'write');
  f.writeAt(300, new Uint8Array([(f.read(300, 1)[0] as number) ^ 0xff]));
  f.close();
  const marked: string[] = [];
  const [err, log] = n.env.call<[Error | null, SharedRaftLog?]>((cb) => SharedRaftLog.open(n.env.deps, { dir: DIR, skipFsync: false, wal: { segmentBytesMax: 4096, blockBytes: 1024 }, markLoss: markEveryGroup(n, [1, 3], marked, () => {}) }, cb));
  assert.is(err, null);
  assert.equal(marked, ['g1', 'g3']);
  n.log = log as SharedRaftLog;
  const [e, s, report] = n.env.call<[Error | null, DurableRaftStorage?, OpenReport?]>((cb) => DurableRaftStorage.openShared(n.env.deps, { dir: 'g3/raft', skipFsync: false }, null, n.log.openGroup(3), cb));
  assert.is(e, null);
  assert.is(report?.hardStateLost ?? null, null, 'not muted');
  assert.is(report?.logLoss?.votesThroughTerm, 0, 'votes held through term 0: none to hold');
  assert.is((s as DurableRaftStorage).hardState().term, 0);
});

S('a group whose records do not replay after the cut drops them and starts empty, its votes held', () => {
  const n = node('drop', [1]);
  persist(n, 1, [entry(1, 2, 2), entry(1, 3, 2)], { term: 2, vote: 'n1', commit: 3 });
  n.env.run(100);
  n.env.crash();
  n.log = openLog(n.env);
  // A record that verifies but does not replay: entries (record type 5) leaving a gap after the group's log.
  const gl = n.log.openGroup(1);
  gl.append(5, encodeEntries([entry(1, 10, 2)]), () => {}, { sync: true });
  n.env.run(100);
  gl.close(() => {});
  n.env.crash();
  n.log = openLog(n.env);
  const [e, s, report] = n.env.call<[Error | null, DurableRaftStorage?, { logLoss: { votesThroughTerm: number } | null }?]>((cb) =>
    DurableRaftStorage.openShared(n.env.deps, { dir: 'g1/raft', skipFsync: false }, null, n.log.openGroup(1), cb),
  );
  assert.is(e, null);
  assert.is((s as DurableRaftStorage).lastIndex(), 0);
  assert.is((s as DurableRaftStorage).hardState().term, 2, 'the term comes from the copies');
  assert.is(report?.logLoss?.votesThroughTerm, 2);
  // The drop is durable: a crash now finds the group empty, still marked.
  n.env.crash();
  n.log = openLog(n.env);
  assert.equal(n.log.unopenedGroups(), []);
});

S('a rotten last record, written whole, marks every group before it is dropped; a torn one does not', () => {
  for (const damage of ['rot', 'torn'] as const) {
    const n = node(`tail-${damage}`, [1, 2]);
    for (const g of [1, 2]) persist(n, g, [], { term: 4, vote: 'n1', commit: 1 });
    n.env.run(10);
    for (let i = 2; i < 10; i++) persist(n, 1 + (i % 2), [entry(1 + (i % 2), Math.floor(i / 2) + 1, 4, 200)], null);
    n.env.run(100);
    n.env.crash();
    const segments = n.env.deps.disk.list(DIR).sort();
    const path = `${DIR}/${segments[segments.length - 1]}`;
    const f = n.env.deps.disk.open(path, 'write');
    const size = f.size();
    if (damage === 'rot') {
      const b = f.read(size - 20, 1);
      f.writeAt(size - 20, new Uint8Array([(b[0] as number) ^ 0xff]));
    } else f.truncate(size - 20);
    f.close();
    n.env.call<[Error | null]>((cb) => n.env.deps.disk.syncDir(DIR, cb));
    const marked: string[] = [];
    const markLoss = markEveryGroup(n, [1, 2], marked, (_at, reason) => assert.match(reason, /rot, not a torn write/));
    const [err, log] = n.env.call<[Error | null, SharedRaftLog?]>((cb) => SharedRaftLog.open(n.env.deps, { dir: DIR, skipFsync: false, wal: { segmentBytesMax: 64 * 1024, blockBytes: 1024 }, markLoss }, cb));
    assert.is(err, null);
    assert.ok((log as SharedRaftLog).report.droppedTail !== null, `${damage}: a tail was dropped`);
    assert.equal(marked, damage === 'rot' ? ['g1', 'g2'] : [], damage);
  }
});

S.run();
