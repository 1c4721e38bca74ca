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
function receiver(onSyncDir: () => void) {
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
  const disk: Disk = Object.assign(Object.create(base) as Disk, {
    syncDir: (dir: string, done: (err: Error | null) => void) => {
      base.syncDir(dir, done);
      onSyncDir();
    },
  });
  const logged: string[] = [];
  const received: Snapshot[] = [];
  const env = { id: 'n2', clock: new SimMachineClock(sched, 'n2', 0).view(owner), disk, log: { log: (_level: string, event: string, f?: unknown) => logged.push(event + (event.endsWith('failed') ? JSON.stringify(f) : '')) } } as unknown as Env;
  const r = new SnapshotReceiver(
    { env, snapDir: 'snap', send: () => {}, pin: () => {}, unpin: () => {} },
    { term: () => 3, commitIndex: () => 0, hasRoomFor: () => true, received: (_from, _term, s) => received.push(s), failed: (e) => assert.unreachable(e.message) },
    DEFAULT_TRANSFER_OPTIONS,
  );
  const header: ChunkHeader = { kind: 'snapchunk', term: 3, index: 9, snapTerm: 2, total: file.length, offset: 0 };
  return { sched, r, file, header, logged, received, disk: base };
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
  assert.is(t.received.length, 1, `handed over once: ${t.logged.join(', ')}`);
  assert.is(t.logged.filter((e) => e === 'raft.snapshot_receiving').length, 1, 'one transfer');
  assert.equal(t.disk.list('snap'), ['snap-0000000000000009-2-r.snap'], 'the file, and no partial copy beside it');
  // Once handed over, the same snapshot may be sent again (the core did not take it): a new copy.
  t.r.onChunk('n1', t.header, t.file);
  t.sched.runUntil(2e12);
  assert.is(t.received.length, 2);
});

test.run();
