import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SeededRng } from '../../../src/env/rng.js';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Message } from '../../../src/replication/raft/messages.js';
import { decodeBinaryRaftFrame, decodeEntries, decodeJson, encodeEntries, encodeRaftFrame, RAFT_BINARY_FRAME, RAFT_COMPACT_FRAME, RaftCodecError, raftMessageFromWire } from '../../../src/replication/raft-runtime/codec.js';
import { BLOCK_BYTES_MAX, decodeSnapshotRef, SnapshotFileReader, SnapshotFileWriter, SnapshotStreamCheck } from '../../../src/replication/raft-runtime/snapshot-file.js';
import { ackOf, decodeChunkFrame, encodeChunkFrame, SNAPSHOT_CHUNK_FRAME, TransferCodecError } from '../../../src/replication/raft-runtime/snapshot-transfer.js';
import { StorageCorruptionError } from '../../../src/storage/errors.js';
import { JsonParseError } from '../../../src/util/json-parse.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../../sim/disk.js';
import { Owner, Scheduler } from '../../../sim/scheduler.js';

// Every codec of the Raft runtime over arbitrary bytes (issue 16, fuzzing): peer frames, log
// records, snapshot chunks and answers, snapshot references and snapshot files. Each throws only
// its typed error, and builds nothing larger than the bytes it was given.

/** Runs fn; an exception must be one of the allowed types. */
function only(allowed: (new (...a: never[]) => Error)[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    assert.ok(allowed.some((t) => err instanceof t), `threw ${String(err)}`);
  }
}

/** Bytes that are often close to valid: a valid encoding with bits flipped, cut or extended. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([v, flips, cut, tail]) => {
    const out = Uint8Array.from(v);
    for (const [at, b] of flips) if (out.length > 0) out[at % out.length] = b;
    return Uint8Array.of(...out.subarray(0, out.length - (cut % 3 === 0 ? cut % (out.length + 1) : 0)), ...(cut % 5 === 0 ? tail : []));
  });
}

const entries = fc.array(fc.record({ index: fc.integer({ min: 1, max: 1e6 }), term: fc.integer({ min: 0, max: 1e6 }), type: fc.constantFrom('normal' as const, 'config' as const), data: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 5 });

test('entries: arbitrary and mutated bytes give RaftCodecError or no more entries or data than there were bytes (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated(entries.map((e) => encodeEntries(e)))), (bytes) => {
      only([RaftCodecError], () => {
        const got = decodeEntries(bytes);
        const data = got.reduce((n, e) => n + e.data.length, 0);
        assert.ok(got.length * 21 + data + 4 <= bytes.length, 'bounded by the input');
      });
    }),
  );
});

test('binary Raft frames (compact and the earlier append) and JSON peer frames: a typed error or null, never a crash (fast-check)', () => {
  const appendFrame = entries.map((e) => {
    const header = new TextEncoder().encode(JSON.stringify({ kind: 'raft', m: { type: 'MsgApp', from: 'n1', to: 'n2', term: 2, prevIndex: 1, prevTerm: 1, commit: 1 } }));
    const body = encodeEntries(e);
    const out = new Uint8Array(5 + header.length + body.length);
    out[0] = RAFT_BINARY_FRAME;
    new DataView(out.buffer).setUint32(1, header.length);
    out.set(header, 5);
    out.set(body, 5 + header.length);
    return out;
  });
  fc.assert(
    fc.property(fc.oneof(mutated(appendFrame), fc.uint8Array({ maxLength: 100 }).map((b) => Uint8Array.of(RAFT_BINARY_FRAME, ...b))), (frame) => {
      only([RaftCodecError], () => {
        const body = decodeBinaryRaftFrame(frame);
        raftMessageFromWire(body);
      });
    }),
  );
  // Compact frames (every message but a snapshot): mutated ones decode to a message whose every
  // field the JSON path's checks accept too (a decoded compact body skips those checks), or fail.
  const n = fc.integer({ min: 0, max: 1e9 });
  const compact = fc
    .oneof(
      fc.record({ type: fc.constant('MsgApp' as const), from: fc.string({ maxLength: 4 }), to: fc.constant('n2'), term: n, prevIndex: n, prevTerm: n, entries, commit: n }),
      fc.record({ type: fc.constant('MsgAppResp' as const), from: fc.constant('n1'), to: fc.constant('n2'), term: n, index: n, reject: fc.boolean(), hintIndex: n, hintTerm: n }),
      fc.record({ type: fc.constant('MsgHeartbeat' as const), from: fc.constant('n1'), to: fc.constant('n2'), term: n, commit: n, readCtx: fc.option(fc.string({ maxLength: 8 })), tick: n }),
      fc.record({ type: fc.constant('MsgPreVote' as const), from: fc.constant('n1'), to: fc.constant('n2'), term: n, lastIndex: n, lastTerm: n, transfer: fc.boolean() }),
    )
    .map((m) => encodeRaftFrame(m as Message));
  fc.assert(
    fc.property(fc.oneof(mutated(compact), fc.uint8Array({ maxLength: 100 }).map((b) => Uint8Array.of(RAFT_COMPACT_FRAME, ...b))), (frame) => {
      only([RaftCodecError], () => {
        const body = decodeBinaryRaftFrame(frame);
        const m = raftMessageFromWire(body);
        // (An append whose entries do not follow prevIndex in order is refused.)
        assert.ok(m !== null || body.m.type === 'MsgApp', 'a decoded compact frame is a message');
        if (m !== null && m.type !== 'MsgApp') assert.ok(raftMessageFromWire(JSON.parse(JSON.stringify({ m }))) !== null, `${JSON.stringify(m)} passes the JSON checks too`);
      });
    }),
  );
  const message = fc.record({ type: fc.constantFrom('MsgApp', 'MsgAppResp', 'MsgVote', 'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgSnap', 'MsgTimeoutNow', 'constructor', '__proto__'), from: fc.string(), to: fc.string(), term: fc.anything() }, { requiredKeys: [] });
  fc.assert(
    fc.property(fc.oneof(fc.anything(), fc.record({ m: fc.oneof(message, fc.anything()) })), (body) => {
      const m = raftMessageFromWire(body as { m?: unknown });
      if (m !== null) assert.ok(Number.isSafeInteger(m.term) && m.type !== 'MsgSnap', 'a message the core can take');
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => only([RaftCodecError], () => void decodeJson(bytes))),
  );
});

test('snapshot chunk frames and answers: TransferCodecError or a chunk within its file (fast-check)', () => {
  const chunk = fc.tuple(fc.nat(100), fc.nat(1000), fc.uint8Array({ maxLength: 50 })).map(([index, offset, data]) => encodeChunkFrame({ kind: 'snapchunk', term: 3, index, snapTerm: 2, total: offset + data.length, offset }, data));
  fc.assert(
    fc.property(fc.oneof(mutated(chunk), fc.uint8Array({ maxLength: 80 }).map((b) => Uint8Array.of(SNAPSHOT_CHUNK_FRAME, ...b))), (frame) => {
      only([TransferCodecError], () => {
        const { header, data } = decodeChunkFrame(frame);
        assert.ok(header.offset + data.length <= header.total && data.length < frame.length);
      });
    }),
  );
  fc.assert(fc.property(fc.dictionary(fc.constantFrom('kind', 'term', 'index', 'snapTerm', 'have', 'done'), fc.oneof(fc.constant('snapack'), fc.integer(), fc.boolean(), fc.anything())), (body) => void ackOf(body)));
});

test('snapshot references: JsonParseError or a reference to a snapshot file by name, never a path (fast-check)', () => {
  const near = fc.record({ file: fc.oneof(fc.constant('snap-0000000000000007-2.snap'), fc.constant('../../etc/passwd'), fc.constant('snap-0000000000000007-2.snap.part'), fc.string()), bytes: fc.oneof(fc.nat(), fc.anything()) }).map((r) => new TextEncoder().encode(JSON.stringify(r)));
  fc.assert(
    fc.property(fc.oneof(near, fc.uint8Array({ maxLength: 60 })), (bytes) => {
      only([JsonParseError], () => {
        const ref = decodeSnapshotRef(bytes);
        if (ref !== null) assert.match(ref.file, /^snap-\d{16}-\d+(-r)?\.snap$/);
      });
    }),
  );
});

/** A valid snapshot file of the given blocks, as bytes. */
function snapshotFile(blocks: Uint8Array[]): Uint8Array {
  const sched = new Scheduler();
  const disk = new SimDisk(sched, new SeededRng('fuzz'), 'n1', DEFAULT_DISK_OPTIONS).view(new Owner('n1#1'));
  disk.mkdir('s');
  const w = SnapshotFileWriter.create(disk, 's', 9, 2);
  for (const b of blocks) w.addBlock(b);
  w.finish({ index: 9, term: 2, membership: makeMembership(['n1', 'n2']) }, () => {});
  sched.runUntil(1e10);
  return disk.readFile('s/snap-0000000000000009-2.snap');
}

const blocks = fc.array(fc.uint8Array({ minLength: 1, maxLength: 30 }), { maxLength: 4 });

test('a snapshot file received in any pieces: StorageCorruptionError, or exactly the blocks that were written (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(blocks.map(snapshotFile), mutated(blocks.map(snapshotFile)), fc.uint8Array({ maxLength: 120 })), fc.array(fc.nat(), { maxLength: 6 }), (file, cuts) => {
      only([StorageCorruptionError], () => {
        const check = new SnapshotStreamCheck('fuzz', file.length);
        const points = [...new Set(cuts.map((c) => c % (file.length + 1)))].sort((a, b) => a - b);
        let at = 0;
        for (const p of [...points, file.length]) {
          check.update(file.subarray(at, p));
          at = p;
        }
        const meta = check.finish();
        assert.is(meta.index, 9, 'only a whole, verified file gets this far');
      });
    }),
  );
});

test('a snapshot file read from disk: StorageCorruptionError, or blocks that verify and fit the file (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(mutated(blocks.map(snapshotFile)), fc.uint8Array({ maxLength: 120 })), (file) => {
      const sched = new Scheduler();
      const disk = new SimDisk(sched, new SeededRng('fuzz'), 'n1', DEFAULT_DISK_OPTIONS).view(new Owner('n1#1'));
      disk.mkdir('s');
      disk.open('s/snap-0000000000000009-2.snap', 'truncate').append(file);
      only([StorageCorruptionError], () => {
        const r = SnapshotFileReader.open(disk, 's', 'snap-0000000000000009-2.snap');
        let total = 0;
        for (let b = r.nextBlock(); b !== null; b = r.nextBlock()) {
          assert.ok(b.length <= BLOCK_BYTES_MAX);
          total += b.length;
        }
        r.close();
        assert.ok(total <= file.length);
      });
    }),
  );
});

test.run();
