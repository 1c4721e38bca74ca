import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Disk } from '../../../src/env/disk.js';
import type { Env } from '../../../src/env/env.js';
import { SeededRng } from '../../../src/env/rng.js';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Snapshot } from '../../../src/replication/raft/types.js';
import { SnapshotFileWriter } from '../../../src/replication/raft-runtime/snapshot-file.js';
import { DEFAULT_TRANSFER_OPTIONS, SnapshotReceiver, type ChunkHeader } from '../../../src/replication/raft-runtime/snapshot-transfer.js';
import { SimMachineClock } from '../../../sim/clock.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../../sim/disk.js';
import { Owner, Scheduler } from '../../../sim/scheduler.js';

// A follower's side of a streamed snapshot (snapshot-transfer.ts), alone on a simulated disk.

/** A receiver on n2's disk; `onSyncDir` runs when the receiver asks for a directory fsync. */
function receiver(onSyncDir: () => void, options: Partial<typeof DEFAULT_TRANSFER_OPTIONS> = {}) {
  const sched = new Scheduler();
  const sim = new SimDisk(sched, new SeededRng('recv'), 'n2', DEFAULT_DISK_OPTIONS);
  const owner = new Owner('n2#1');
  const base = sim.view(owner);
  base.mkdir('snap');
  // A snapshot file as the leader holds it: written on a disk of its own, its bytes streamed.
  const leader = new SimDisk(sched, new SeededRng('lead'), 'n1', DEFAULT_DISK_OPTIONS).view(new Owner('n1#1'));
  leader.mkdir('s');
  const w = SnapshotFileWriter.create(leader, 's', 9, 2);
  w.addBlock(new TextEncoder().encode('the state at index 9'));
  w.finish({ index: 9, term: 2, membership: makeMembership(['n1', 'n2']) }, () => {});
  sched.runUntil(1e10);
  const file = leader.readFile('s/snap-0000000000000009-2.snap');
  // File fsyncs wait in `syncs` while `holdSyncs` is set, for a test to end them in an order.
  const syncs: (() => void)[] = [];
  let holdSyncs = false;
  const disk: Disk = Object.assign(Object.create(base) as Disk, {
    syncDir: (dir: string, done: (err: Error | null) => void) => {
      base.syncDir(dir, done);
      onSyncDir();
    },
    open: (path: string, mode: Parameters<Disk['open']>[1]) => {
      const f = base.open(path, mode);
      return Object.assign(Object.create(f) as typeof f, {
        sync: (done: (err: Error | null) => void) => (holdSyncs ? syncs.push(() => f.sync(done)) : f.sync(done)),
      });
    },
  });
  const logged: string[] = [];
  const received: Snapshot[] = [];
  const failures: string[] = [];
  const env = { id: 'n2', clock: new SimMachineClock(sched, 'n2', 0).view(owner), disk, log: { log: (_level: string, event: string, f?: unknown) => logged.push(event + (event.endsWith('failed') ? JSON.stringify(f) : '')) } } as unknown as Env;
  const r = new SnapshotReceiver(
    { env, snapDir: 'snap', send: () => {}, pin: () => {}, unpin: () => {} },
    { term: () => 3, commitIndex: () => 0, hasRoomFor: () => true, received: (_from, _term, s) => received.push(s), failed: (e) => failures.push(e.message) },
    { ...DEFAULT_TRANSFER_OPTIONS, ...options },
  );
  const header: ChunkHeader = { kind: 'snapchunk', term: 3, index: 9, snapTerm: 2, total: file.length, offset: 0 };
  return { sched, r, file, header, logged, received, failures, disk: base, syncs, hold: (on: boolean) => (holdSyncs = on) };
}

test('chunks of a snapshot that is being handed over do not start a second copy under the same name', () => {
  let again: (() => void) | null = null;
  const t = receiver(() => again?.());
  // The leader resends the whole file while the first copy's directory fsync is under way (its
  // sender timed out meanwhile): before, a second transfer began, was renamed to the same name,
  // and whichever copy the runtime was done with first was removed under the other (shards/rot
  // seed 32: the core was handed a snapshot whose file was gone).
  again = () => {
    again = null;
    t.r.onChunk('n1', t.header, t.file);
  };
  t.r.onChunk('n1', t.header, t.file);
  t.sched.runUntil(1e12);
  assert.equal(t.failures, []);
  assert.is(t.received.length, 1, `handed over once: ${t.logged.join(', ')}`);
  assert.is(t.logged.filter((e) => e === 'raft.snapshot_receiving').length, 1, 'one transfer');
  assert.equal(t.disk.list('snap'), ['snap-0000000000000009-2-r.snap'], 'the file, and no partial copy beside it');
  // Once handed over, the same snapshot may be sent again (the core did not take it): a new copy.
  t.r.onChunk('n1', t.header, t.file);
  t.sched.runUntil(2e12);
  assert.is(t.received.length, 2);
});

test('while a copy is handed over, the same snapshot from another leader does not start a second one', () => {
  let again: (() => void) | null = null;
  const t = receiver(() => again?.());
  again = () => {
    again = null;
    t.r.onChunk('n3', t.header, t.file);
  };
  t.r.onChunk('n1', t.header, t.file);
  t.sched.runUntil(1e12);
  assert.equal(t.failures, []);
  assert.is(t.received.length, 1);
  assert.is(t.logged.filter((e) => e === 'raft.snapshot_receiving').length, 1);
});

test('a transfer abandoned during an fsync has its partial file removed later without touching the next transfer of that snapshot', () => {
  // Every 16 bytes an fsync starts: the first chunk leaves one running when the other leader's
  // copy arrives, so the first transfer's file goes only once that fsync ends. Both used to
  // write the same partial file, which the late removal took from under the second: its rename
  // failed and the node stopped.
  const t = receiver(() => {}, { syncBytes: 16 });
  t.hold(true);
  t.r.onChunk('n1', t.header, t.file.subarray(0, 40));
  t.r.onChunk('n3', t.header, t.file);
  assert.is(t.syncs.length, 2, 'the first transfer\'s fsync and the second\'s final one');
  t.hold(false);
  // The first transfer's fsync ends first, and its file is removed; then the second's.
  for (const end of t.syncs.splice(0)) {
    end();
    t.sched.runUntil(t.sched.nowNs + 1e9);
  }
  t.sched.runUntil(1e12);
  assert.equal(t.failures, []);
  assert.is(t.received.length, 1, 'the second copy is handed over');
  assert.ok(t.logged.includes('raft.snapshot_abandoned'), t.logged.join(', '));
  assert.equal(t.disk.list('snap'), ['snap-0000000000000009-2-r.snap'], 'no partial file is left');
});

test.run();
