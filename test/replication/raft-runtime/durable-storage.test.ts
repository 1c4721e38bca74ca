import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../../src/env/rng.js';
import { silentLogger } from '../../../src/env/log.js';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Ready } from '../../../src/replication/raft/ready.js';
import type { Entry, HardState } from '../../../src/replication/raft/types.js';
import { DurableRaftStorage } from '../../../src/replication/raft-runtime/durable-storage.js';
import { SimMachineClock } from '../../../sim/clock.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../../sim/disk.js';
import { Owner, Scheduler } from '../../../sim/scheduler.js';

// The Raft log on a simulated disk: what a Ready persisted is there after a crash, compaction
// keeps what it must, and recovery never needs a file a checkpoint removed.

const enc = (s: string) => new TextEncoder().encode(s);

function world(seed = 'ds') {
  const sched = new Scheduler();
  const disk = new SimDisk(sched, new SeededRng(seed), 'n1', { ...DEFAULT_DISK_OPTIONS, crash: 'lose' });
  const clock = new SimMachineClock(sched, 'n1', 0);
  let owner = new Owner('n1#1');
  const deps = () => ({ disk: disk.view(owner), clock: clock.view(owner), log: silentLogger });
  const settle = () => sched.runUntil(sched.nowNs + 5e9);
  const open = (bootstrap = true): DurableRaftStorage => {
    let out: DurableRaftStorage | undefined;
    let error: Error | null = null;
    DurableRaftStorage.open(deps(), { dir: 'raft', skipFsync: false }, bootstrap ? makeMembership(['n1', 'n2', 'n3']) : null, (err, s) => {
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
  return { open, crash, settle };
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
    s.compact({ index: at, term: 2, membership }, enc(`state@${at}`), { entries: 5, bytes: Infinity }, (e) => (err = e));
    w.settle();
    assert.is(err, null);
  }
  s.persist(ready([entry(62, 2)], { term: 2, vote: 'n1', commit: 62 }), () => {});
  w.settle();
  w.crash();
  const r = w.open();
  assert.is(r.snapshot().meta.index, 55);
  assert.equal(new TextDecoder().decode(r.snapshot().data), 'state@55');
  assert.is(r.firstIndex(), 51, 'five entries kept below the snapshot');
  assert.is(r.lastIndex(), 62);
  assert.is(r.hardState().commit, 62);
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
  s.compact({ index: 40, term: 2, membership: makeMembership(['n1', 'n2', 'n3']) }, enc('state@40'), { entries: 20, bytes: 350 }, (e) => (err = e));
  w.settle();
  assert.is(err, null);
  assert.is(s.firstIndex(), 38, 'entries 38..40 kept: a fourth would pass 350 bytes');
  w.crash();
  const r = w.open();
  assert.is(r.firstIndex(), 38, 'the checkpoint holds the same three');
  assert.equal(Array.from(r.entries(38, 39, Infinity)[0]?.data ?? []).slice(0, 2), [38, 38]);
  assert.is(r.lastIndex(), 61);
});

S('a node that joins later starts empty', () => {
  const w = world();
  const s = w.open(false);
  assert.is(s.lastIndex(), 0);
  assert.is(s.hardState().term, 0);
});

S.run();
