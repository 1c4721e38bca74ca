import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../../src/env/rng.js';
import { silentLogger } from '../../../src/env/log.js';
import type { Message } from '../../../src/replication/raft/messages.js';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { Entry } from '../../../src/replication/raft/types.js';
import {
  decodeBinaryRaftFrame,
  decodeEntries,
  encodeEntries,
  encodeJson,
  encodeRaftFrame,
  entriesToWire,
  RAFT_BINARY_FRAME,
  raftMessageFromWire,
} from '../../../src/replication/raft-runtime/codec.js';
import { DurableRaftStorage } from '../../../src/replication/raft-runtime/durable-storage.js';
import { FSYNC_ALWAYS } from '../../../src/storage/fsync-policy.js';
import { Wal, WAL_DEFAULTS } from '../../../src/storage/wal/wal.js';
import { SimMachineClock } from '../../../sim/clock.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../../sim/disk.js';
import { Owner, Scheduler } from '../../../sim/scheduler.js';

// Raft messages and log records on the wire and on disk: appends with entries travel binary,
// everything else as JSON; both decode to the message that was sent, and bad bytes are refused.

/** What a node does with a peer frame (node.ts): binary by its first byte, JSON otherwise. */
function decodeFrame(frame: Uint8Array): Message | null {
  const body = frame[0] === RAFT_BINARY_FRAME ? decodeBinaryRaftFrame(frame) : (JSON.parse(new TextDecoder().decode(frame)) as { m?: unknown });
  return raftMessageFromWire(body);
}

const entryArb = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: 2 ** 40 }),
  type: fc.constantFrom('normal' as const, 'config' as const),
  data: fc.uint8Array({ maxLength: 300 }),
});

const C = suite('raft codec');

C('appends with any entries come back as sent, through the binary frame', () => {
  fc.assert(
    fc.property(fc.array(entryArb, { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), (generated: Entry[], prevIndex, commit) => {
      const entries = generated.map((e) => ({ ...e })); // plain objects, as decoding makes
      const m: Message = { type: 'MsgApp', from: 'n1', to: 'n2', term: 7, prevIndex, prevTerm: 6, entries, commit };
      const frame = encodeRaftFrame(m);
      assert.is(frame[0], RAFT_BINARY_FRAME);
      assert.equal(decodeFrame(frame), m);
      assert.equal(decodeEntries(encodeEntries(entries)), entries);
    }),
  );
});

C('messages without entries stay JSON, and an empty append too', () => {
  const empty: Message = { type: 'MsgApp', from: 'n1', to: 'n2', term: 3, prevIndex: 9, prevTerm: 3, entries: [], commit: 9 };
  const resp: Message = { type: 'MsgAppResp', from: 'n2', to: 'n1', term: 3, index: 9, reject: false, hintIndex: 0, hintTerm: 0 };
  for (const m of [empty, resp]) {
    const frame = encodeRaftFrame(m);
    assert.is(frame[0], '{'.charCodeAt(0));
    assert.equal(decodeFrame(frame), m);
  }
});

C('the binary frame is smaller than base64 in JSON for the same entries', () => {
  const data = new TextEncoder().encode(JSON.stringify({ kind: 'req', client: 'n1.gw.x', seq: 1, ackSeq: 1, db: '', op: { f: 'write', key: 'k', value: 'v'.repeat(100) } }));
  const entries: Entry[] = Array.from({ length: 20 }, (_, i) => ({ index: i + 1, term: 1, type: 'normal', data }));
  const m: Message = { type: 'MsgApp', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, entries, commit: 0 };
  const json = encodeJson({ kind: 'raft', m: { ...m, entries: entriesToWire(entries) } });
  const binary = encodeRaftFrame(m);
  assert.ok(binary.length < json.length * 0.8, `${binary.length} bytes vs ${json.length}`);
});

C('bad binary frames are refused with what is wrong, whatever the cut or the corruption', () => {
  const m: Message = { type: 'MsgApp', from: 'n1', to: 'n2', term: 2, prevIndex: 1, prevTerm: 1, entries: [{ index: 2, term: 2, type: 'normal', data: new Uint8Array([1, 2, 3]) }], commit: 1 };
  const frame = encodeRaftFrame(m);
  for (let cut = 0; cut < frame.length; cut++) {
    assert.throws(() => decodeBinaryRaftFrame(frame.subarray(0, cut)), /./, `cut at ${cut}`);
  }
  assert.throws(() => decodeBinaryRaftFrame(Uint8Array.of(...frame, 0)), /bytes after the last entry/);
  const badType = frame.slice();
  badType[frame.length - 3 - 4 - 1] = 9; // the entry's type byte
  assert.throws(() => decodeBinaryRaftFrame(badType), /unknown type 9/);
  const hugeLength = frame.slice();
  new DataView(hugeLength.buffer).setUint32(frame.length - 3 - 4, 1e9);
  assert.throws(() => decodeBinaryRaftFrame(hugeLength), /claims 1000000000 bytes/);
  const notAppend = encodeRaftFrame(m);
  notAppend.set(new TextEncoder().encode('"MsgVot"'), notAppend.indexOf('"'.charCodeAt(0), 20)); // garble the header
  assert.throws(() => decodeBinaryRaftFrame(notAppend));
  // Random bytes after the tag: an error, never a crash or a message.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      try {
        decodeBinaryRaftFrame(Uint8Array.of(RAFT_BINARY_FRAME, ...junk));
        return false;
      } catch (err) {
        return err instanceof Error;
      }
    }),
  );
});

C('a JSON frame cannot pass off entries as already decoded', () => {
  const forged = { kind: 'raft', m: { type: 'MsgApp', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 'normal', data: 'not bytes' }] } };
  assert.is(raftMessageFromWire(JSON.parse(JSON.stringify(forged)) as { m?: unknown }), null);
});

C('a log written with JSON entry records (before the binary ones) still opens', () => {
  const sched = new Scheduler();
  const disk = new SimDisk(sched, new SeededRng('codec'), 'n1', DEFAULT_DISK_OPTIONS);
  const clock = new SimMachineClock(sched, 'n1', 0);
  const owner = new Owner('n1#1');
  const deps = { disk: disk.view(owner), clock: clock.view(owner), log: silentLogger };
  const settle = () => sched.runUntil(sched.nowNs + 5e9);
  const data = new TextEncoder().encode('cmd');
  disk.view(owner).mkdir('raft');
  let wal: Wal | undefined;
  Wal.open(deps, { dir: 'raft/wal', fsync: FSYNC_ALWAYS, fromLsn: null, ...WAL_DEFAULTS }, () => {}, (err, w) => {
    assert.is(err, null);
    wal = w;
  });
  settle();
  const old = wal as Wal;
  old.append(2, encodeJson({ entries: entriesToWire([{ index: 1, term: 1, type: 'normal', data }, { index: 2, term: 1, type: 'normal', data }]) }));
  old.append(1, encodeJson({ term: 1, vote: null, commit: 2 }));
  old.close(() => {});
  settle();
  let storage: DurableRaftStorage | undefined;
  DurableRaftStorage.open(deps, { dir: 'raft', skipFsync: false }, makeMembership(['n1']), (err, s) => {
    assert.is(err, null);
    storage = s;
  });
  settle();
  const s = storage as DurableRaftStorage;
  assert.is(s.lastIndex(), 2);
  assert.equal(s.entries(1, 3, Infinity).map((e) => new TextDecoder().decode(e.data)), ['cmd', 'cmd']);
  assert.is(s.hardState().commit, 2);
});

C.run();
