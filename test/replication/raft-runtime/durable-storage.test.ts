import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../../src/env/rng.js';
import { silentLogger } from '../../../src/env/log.js';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Ready } from '../../../src/replication/raft/ready.js';
import type { Entry, HardState, SnapshotMeta } from '../../../src/replication/raft/types.js';
import { DurableRaftStorage } from '../../../src/replication/raft-runtime/durable-storage.js';
import { decodeSnapshotRef, SnapshotFileReader, SnapshotFileWriter, type SnapshotRef } from '../../../src/replication/raft-runtime/snapshot-file.js';
import { SimMachineClock } from '../../../sim/clock.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../../sim/disk.js';
import { Owner, Scheduler } from '../../../sim/scheduler.js';

// The Raft log on a simulated disk: what a Ready persisted is there after a crash, compaction
// keeps what it must, and recovery never needs a file a checkpoint removed.

const enc = (s: string) => new TextEncoder().encode(s);

function world(seed = 'ds', crashMode: 'lose' | 'torn' = 'lose') {
  const sched = new Scheduler();
  const disk = new SimDisk(sched, new SeededRng(seed), 'n1', { ...DEFAULT_DISK_OPTIONS, crash: crashMode });
  const clock = new SimMachineClock(sched, 'n1', 0);
  let owner = new Owner('n1#1');
  const deps = () => ({ disk: disk.view(owner), clock: clock.view(owner), log: silentLogger });
  const settle = () => sched.runUntil(sched.nowNs + 5e9);
  /** Writes a snapshot file holding `text` as its one block, as the runtime would; its reference. */
  const saveState = (meta: SnapshotMeta, text: string): SnapshotRef => {
    const w = SnapshotFileWriter.create(disk.view(owner), 'raft/snap', meta.index, meta.term);
    w.addBlock(enc(text));
    let ref: SnapshotRef | undefined;
    w.finish(meta, (err, r) => {
      assert.is(err, null);
      ref = r;
    });
    settle();
    return ref as SnapshotRef;
  };
  /** The state a storage's snapshot names, read back from its file. */
  const stateOf = (s: DurableRaftStorage): string => {
    const ref = decodeSnapshotRef(s.snapshot().data) as SnapshotRef;
    const reader = SnapshotFileReader.open(disk.view(owner), 'raft/snap', ref.file);
    const block = reader.nextBlock();
    reader.close();
    return new TextDecoder().decode(block ?? new Uint8Array(0));
  };
  const open = (bootstrap = true, segmentBytesMax?: number): DurableRaftStorage => {
    let out: DurableRaftStorage | undefined;
    let error: Error | null = null;
    DurableRaftStorage.open(deps(), { dir: 'raft', skipFsync: false, ...(segmentBytesMax !== undefined ? { wal: { segmentBytesMax, blockBytes: 1024 } } : {}) }, bootstrap ? makeMembership(['n1', 'n2', 'n3']) : null, (err, s) => {
      error = err;
      out = s;
    });
    settle();
    assert.is(error, null);
    return out as DurableRaftStorage;
  };
  const crash = () => {
    owner.alive = false;
    disk.crash();
    owner = new Owner('n1#2');
  };
  return { open, crash, settle, saveState, stateOf, disk: () => disk.view(owner) };
}

function ready(entries: Entry[], hardState: HardState | null): Ready {
  return { softState: null, hardState, snapshot: null, entries, mustSync: true, earlyMessages: [], messages: [], committedEntries: [], readStates: [] };
}

const entry = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: enc(`cmd${index}`) });

const S = suite('durable raft storage');

S('a new original member starts from the bootstrap entry, durably', () => {
  const w = world();
  const s = w.open();
  assert.is(s.lastIndex(), 1);
  assert.equal(s.hardState(), { term: 1, vote: null, commit: 1 });
  w.crash();
  const again = w.open();
  assert.is(again.lastIndex(), 1);
  assert.is(again.term(1), 1);
});

S('persisted entries and hard state survive a crash; a conflicting tail is replaced', () => {
  const w = world();
  const s = w.open();
  let done = 0;
  s.persist(ready([entry(2, 2), entry(3, 2), entry(4, 2)], { term: 2, vote: 'n1', commit: 3 }), () => done++);
  w.settle();
  s.persist(ready([entry(3, 3)], { term: 3, vote: 'n2', commit: 3 }), () => done++);
  w.settle();
  assert.is(done, 2);
  w.crash();
  const r = w.open();
  assert.is(r.lastIndex(), 3);
  assert.is(r.term(3), 3);
  assert.equal(r.hardState(), { term: 3, vote: 'n2', commit: 3 });
});

S('a Ready that only moves the commit index skips the fsync: a crash may lose that commit, never an entry', () => {
  const w = world();
  const s = w.open();
  let done = 0;
  s.persist(ready([entry(2, 2), entry(3, 2)], { term: 2, vote: 'n1', commit: 1 }), () => done++);
  assert.is(done, 0, 'entries wait for their fsync');
  w.settle();
  assert.is(done, 1);
  s.persist({ ...ready([], { term: 2, vote: 'n1', commit: 3 }), mustSync: false }, () => done++);
  assert.is(done, 2, 'a commit-only Ready is done at once, with no fsync to wait for');
  assert.equal(s.hardState(), { term: 2, vote: 'n1', commit: 3 });
  w.settle();
  w.crash();
  const r = w.open();
  assert.is(r.lastIndex(), 3, 'the entries were fsynced');
  assert.equal(r.hardState(), { term: 2, vote: 'n1', commit: 1 }, 'the unsynced commit is gone; the leader teaches it again');
  // A later Ready that must sync carries an earlier unsynced commit along with it.
  r.persist({ ...ready([], { term: 2, vote: 'n1', commit: 2 }), mustSync: false }, () => done++);
  r.persist(ready([entry(4, 2)], { term: 2, vote: 'n1', commit: 2 }), () => done++);
  w.settle();
  assert.is(done, 4);
  w.crash();
  const again = w.open();
  assert.is(again.lastIndex(), 4);
  assert.equal(again.hardState(), { term: 2, vote: 'n1', commit: 2 });
});

S('compaction keeps a tail, and repeated compactions recover without the files they removed', () => {
  const w = world();
  const s = w.open();
  const ents = Array.from({ length: 60 }, (_, i) => entry(i + 2, 2));
  s.persist(ready(ents, { term: 2, vote: 'n1', commit: 61 }), () => {});
  w.settle();
  const membership = makeMembership(['n1', 'n2', 'n3']);
  for (const at of [20, 40, 55]) {
    let err: Error | null | undefined;
    const meta = { index: at, term: 2, membership };
    s.compact(meta, w.saveState(meta, `state@${at}`), { entries: 5, bytes: Infinity }, (e) => (err = e));
    w.settle();
    assert.is(err, null);
  }
  assert.equal(w.disk().list('raft/snap'), ['snap-0000000000000055-2.snap'], 'the older snapshot files are gone');
  s.persist(ready([entry(62, 2)], { term: 2, vote: 'n1', commit: 62 }), () => {});
  w.settle();
  w.crash();
  const r = w.open();
  assert.is(r.snapshot().meta.index, 55);
  assert.equal(w.stateOf(r), 'state@55');
  assert.is(r.firstIndex(), 51, 'five entries kept below the snapshot');
  assert.is(r.lastIndex(), 62);
  assert.is(r.hardState().commit, 62);
});

S('compaction against the state machine: no state written, no entry rewritten; older segments and snapshot files go; recovery keeps the tail', () => {
  const w = world('ds-applied');
  const s = w.open(true, 2048);
  const membership = makeMembership(['n1', 'n2', 'n3']);
  // Entries in many small Readys, a conflicting tail among them, and a snapshot-file compaction first.
  const big = (index: number, term: number): Entry => ({ ...entry(index, term), data: enc(`cmd${index}`.padEnd(200, '.')) });
  const upTo = (from: number, to: number) => {
    for (let i = from; i <= to; i += 2) s.persist(ready([big(i, 2), big(i + 1, 2)], { term: 2, vote: 'n1', commit: i }), () => {});
    w.settle();
  };
  upTo(2, 11);
  const meta10 = { index: 10, term: 2, membership };
  s.compact(meta10, w.saveState(meta10, 'state@10'), { entries: 2, bytes: Infinity }, () => {});
  w.settle();
  upTo(12, 80);
  s.persist(ready([entry(75, 3), entry(76, 3)], { term: 3, vote: 'n2', commit: 70 }), () => {});
  w.settle();
  const segmentsBefore = s.walStats().segments;
  let err: Error | null | undefined;
  s.compactApplied({ index: 60, term: 2, membership }, { entries: 5, bytes: Infinity }, (e) => (err = e));
  w.settle();
  assert.is(err, null);
  assert.ok(s.walStats().segments < segmentsBefore, `older segments dropped (${segmentsBefore} -> ${s.walStats().segments})`);
  assert.equal(w.disk().list('raft/snap'), [], 'no snapshot file: the state machine holds the state');
  s.persist(ready([entry(77, 3)], { term: 3, vote: 'n2', commit: 76 }), () => {});
  w.settle();
  for (const r of [s, (w.crash(), w.open(true, 2048))]) {
    assert.is(r.snapshot().meta.index, 60);
    assert.is(r.snapshot().data.length, 0);
    assert.is(r.firstIndex(), 56, 'five entries kept below the compaction');
    assert.is(r.lastIndex(), 77, 'the conflicting tail was replaced');
    assert.equal([r.term(56), r.term(74), r.term(75), r.term(77)], [2, 2, 3, 3]);
    assert.equal(new TextDecoder().decode((r.entries(57, 58, Infinity)[0] as Entry).data), 'cmd57'.padEnd(200, '.'));
    assert.equal(r.hardState(), { term: 3, vote: 'n2', commit: 76 });
  }
  // Compacted again after the restart, against entries recovered from before the first compaction.
  const r = w.open(true, 2048);
  r.compactApplied({ index: 70, term: 2, membership }, { entries: 0, bytes: Infinity }, (e) => (err = e));
  w.settle();
  assert.is(err, null);
  w.crash();
  const again = w.open(true, 2048);
  assert.equal([again.snapshot().meta.index, again.firstIndex(), again.lastIndex(), again.term(75)], [70, 71, 77, 3]);
});

S('compaction keeps at most keepBytes of entries below the snapshot, however many keepEntries allows', () => {
  const w = world();
  const s = w.open();
  // Entries of 100 bytes each: 350 bytes of room keeps three of them.
  const big = (index: number): Entry => ({ index, term: 2, type: 'normal', data: new Uint8Array(100).fill(index) });
  const ents = Array.from({ length: 60 }, (_, i) => big(i + 2));
  s.persist(ready(ents, { term: 2, vote: 'n1', commit: 61 }), () => {});
  w.settle();
  let err: Error | null | undefined;
  const meta = { index: 40, term: 2, membership: makeMembership(['n1', 'n2', 'n3']) };
  s.compact(meta, w.saveState(meta, 'state@40'), { entries: 20, bytes: 350 }, (e) => (err = e));
  w.settle();
  assert.is(err, null);
  assert.is(s.firstIndex(), 38, 'entries 38..40 kept: a fourth would pass 350 bytes');
  w.crash();
  const r = w.open();
  assert.is(r.firstIndex(), 38, 'the checkpoint holds the same three');
  assert.equal(Array.from(r.entries(38, 39, Infinity)[0]?.data ?? []).slice(0, 2), [38, 38]);
  assert.is(r.lastIndex(), 61);
});

S('a pinned snapshot file (being sent to a follower) survives a compaction; it goes at the next one once unpinned', () => {
  const w = world();
  const s = w.open();
  s.persist(ready(Array.from({ length: 30 }, (_, i) => entry(i + 2, 2)), { term: 2, vote: 'n1', commit: 31 }), () => {});
  w.settle();
  const membership = makeMembership(['n1', 'n2', 'n3']);
  const compact = (at: number) => {
    const meta = { index: at, term: 2, membership };
    s.compact(meta, w.saveState(meta, `state@${at}`), { entries: 1, bytes: Infinity }, () => {});
    w.settle();
  };
  compact(10);
  s.pinSnapshot('snap-0000000000000010-2.snap');
  compact(20);
  assert.equal(w.disk().list('raft/snap'), ['snap-0000000000000010-2.snap', 'snap-0000000000000020-2.snap']);
  s.unpinSnapshot('snap-0000000000000010-2.snap');
  compact(30);
  assert.equal(w.disk().list('raft/snap'), ['snap-0000000000000030-2.snap']);
});

S('a snapshot record whose file holds another position is not trusted: the file is reported lost, its position kept', () => {
  const w = world();
  const s = w.open();
  s.persist(ready(Array.from({ length: 10 }, (_, i) => entry(i + 2, 2)), { term: 2, vote: 'n1', commit: 11 }), () => {});
  w.settle();
  const meta = { index: 8, term: 2, membership: makeMembership(['n1', 'n2', 'n3']) };
  s.compact(meta, w.saveState(meta, 'state@8'), { entries: 1, bytes: Infinity }, () => {});
  w.settle();
  // Another snapshot's bytes under the name the checkpoint record gives.
  const other = w.saveState({ ...meta, index: 9 }, 'state@9');
  w.disk().rename(`raft/snap/${other.file}`, 'raft/snap/snap-0000000000000008-2.snap');
  let syncErr: unknown;
  w.disk().syncDir('raft/snap', (e) => (syncErr = e));
  w.settle();
  assert.is(syncErr, null);
  w.crash();
  let error: Error | null = null;
  let opened: DurableRaftStorage | undefined;
  let lost: string[] = [];
  DurableRaftStorage.open({ disk: w.disk(), clock: { monotonicNs: () => 0, monotonicMs: () => 0, wallMs: () => 0, timer: () => ({ cancel() {} }), defer: (fn) => fn() }, log: silentLogger }, { dir: 'raft', skipFsync: false }, null, (err, st, report) => {
    error = err;
    opened = st;
    lost = report?.lostSnapshots ?? [];
  });
  w.settle();
  assert.is(error, null);
  // The runtime quarantines the file and repairs the state machine from the group if it needs it.
  assert.equal(lost, ['snap-0000000000000008-2.snap']);
  assert.is(opened?.snapshot().meta.index, 8);
  assert.is(opened?.snapshot().data.length, 0, 'the log no longer names the file');
});

S('a checkpoint whose entry records a crash cut short is ignored: the log before it is still whole', () => {
  // The checkpoint's entries follow it in records of their own; a crash may keep the checkpoint
  // and lose some of them. Whatever a torn crash keeps, recovery gives back every durable entry.
  let cut = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const w = world(`torn-${seed}`, 'torn');
    const s = w.open();
    const big = (index: number): Entry => ({ index, term: 2, type: 'normal', data: new Uint8Array(3000).fill(index & 0xff) });
    s.persist(ready(Array.from({ length: 40 }, (_, i) => big(i + 2)), { term: 2, vote: 'n1', commit: 41 }), () => {});
    w.settle();
    const meta = { index: 20, term: 2, membership: makeMembership(['n1', 'n2', 'n3']) };
    const ref = w.saveState(meta, 'state@20');
    s.compact(meta, ref, { entries: 10, bytes: Infinity }, () => {});
    w.crash(); // before the checkpoint's fsync: a torn prefix of its records may survive
    const r = w.open();
    assert.is(r.lastIndex(), 41, `seed ${seed}: every entry is still there`);
    assert.equal(Array.from(r.entries(41, 42, Infinity)[0]?.data.subarray(0, 2) ?? []), [41, 41]);
    if (r.snapshot().meta.index === 0) cut++;
  }
  assert.ok(cut > 0, 'some crashes cut the checkpoint');
});

S('a node that joins later starts empty', () => {
  const w = world();
  const s = w.open(false);
  assert.is(s.lastIndex(), 0);
  assert.is(s.hardState().term, 0);
});

S.run();
