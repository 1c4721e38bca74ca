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
  isBinaryRaftFrame,
  RAFT_BINARY_FRAME,
  RAFT_COMPACT_FRAME,
  raftMessageFromWire,
} from '../../../src/replication/raft-runtime/codec.js';
import { DurableRaftStorage } from '../../../src/replication/raft-runtime/durable-storage.js';
import { FSYNC_ALWAYS } from '../../../src/storage/fsync-policy.js';
import { Wal, WAL_DEFAULTS } from '../../../src/storage/wal/wal.js';
import { SimMachineClock } from '../../../sim/clock.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../../sim/disk.js';
import { Owner, Scheduler } from '../../../sim/scheduler.js';

// Raft messages and log records on the wire and on disk: every message but a snapshot travels in
// a compact binary frame; frames of the earlier forms (a binary append with a JSON header, JSON)
// still decode; all decode to the message that was sent, and bad bytes are refused.

/** What a node does with a peer frame (node.ts): binary by its first byte, JSON otherwise. */
function decodeFrame(frame: Uint8Array): Message | null {
  const body = isBinaryRaftFrame(frame[0]) ? decodeBinaryRaftFrame(frame) : (JSON.parse(new TextDecoder().decode(frame)) as { m?: unknown });
  return raftMessageFromWire(body);
}

/** An append as the previous version sent it: RAFT_BINARY_FRAME, u32 length, a JSON header, the entries. */
function legacyAppendFrame(m: Message & { type: 'MsgApp' }): Uint8Array {
  const { entries, ...rest } = m;
  const header = new TextEncoder().encode(JSON.stringify({ kind: 'raft', m: rest }));
  const body = encodeEntries(entries);
  const out = new Uint8Array(5 + header.length + body.length);
  out[0] = RAFT_BINARY_FRAME;
  new DataView(out.buffer).setUint32(1, header.length);
  out.set(header, 5);
  out.set(body, 5 + header.length);
  return out;
}

const entryArb = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: 2 ** 40 }),
  type: fc.constantFrom('normal' as const, 'config' as const),
  data: fc.uint8Array({ maxLength: 300 }),
});

const pos = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const id = fc.oneof(fc.constantFrom('n1', 'n2', 'node-a.example:7000'), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 10 }));
const ctx = fc.oneof(fc.constant(null), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));

/** Every message type but MsgSnap, with any field values the core may send. */
const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc
    .record({ from: id, to: id, prevIndex: fc.integer({ min: 0, max: 2 ** 50 }), prevTerm: fc.integer({ min: 0, max: 2 ** 40 }), rises: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 5 }), extra: fc.integer({ min: 0, max: 9 }), entries: fc.array(entryArb, { maxLength: 5 }), commit: pos })
    .map(({ from, to, prevIndex, prevTerm, rises, extra, entries, commit }) => {
      // A leader's append: entries one after another from prevIndex, terms never falling nor passing its own.
      let term = prevTerm;
      const placed = entries.map((e, i) => ({ ...e, index: prevIndex + 1 + i, term: (term += rises[i] ?? 0) }));
      return { type: 'MsgApp' as const, from, to, term: term + extra, prevIndex, prevTerm, entries: placed, commit };
    }),
  fc.record({ type: fc.constant('MsgAppResp' as const), from: id, to: id, term: pos, index: pos, reject: fc.boolean(), hintIndex: pos, hintTerm: pos }),
  fc.record({ type: fc.constantFrom('MsgVote' as const, 'MsgPreVote' as const), from: id, to: id, term: pos, lastIndex: pos, lastTerm: pos, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom('MsgVoteResp' as const, 'MsgPreVoteResp' as const), from: id, to: id, term: pos, reject: fc.boolean() }),
  fc.record({ type: fc.constant('MsgHeartbeat' as const), from: id, to: id, term: pos, commit: pos, readCtx: ctx, tick: pos }),
  fc.record({ type: fc.constant('MsgHeartbeatResp' as const), from: id, to: id, term: pos, readCtx: ctx, tick: pos }),
  fc.record({ type: fc.constant('MsgTimeoutNow' as const), from: id, to: id, term: pos }),
).map((m) => ({ ...m }) as Message); // plain objects, as decoding makes

const C = suite('raft codec');

C('every message but a snapshot comes back as sent, through a compact frame (fast-check)', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const frame = encodeRaftFrame(m);
      assert.is(frame[0], RAFT_COMPACT_FRAME);
      assert.equal(decodeFrame(frame), m);
    }),
  );
});

C('appends with any entries come back as sent; the entries alone too', () => {
  fc.assert(
    fc.property(fc.array(entryArb, { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), (generated: Entry[], prevIndex, commit) => {
      assert.equal(decodeEntries(encodeEntries(generated)), generated.map((e) => ({ ...e })), 'any entries, alone');
      // In a message, as a leader sends them: one after another from prevIndex, terms never falling.
      const entries = generated.map((e, i) => ({ ...e, index: prevIndex + 1 + i, term: i * 2 < generated.length ? 6 : 7 }));
      const m: Message = { type: 'MsgApp', from: 'n1', to: 'n2', term: 7, prevIndex, prevTerm: 6, entries, commit };
      assert.equal(decodeFrame(encodeRaftFrame(m)), m);
      assert.equal(decodeFrame(legacyAppendFrame(m)), m, 'the earlier binary append');
    }),
  );
});

C('an append whose entries do not follow prevIndex one by one, or whose terms fall or pass the sender\'s, is refused', () => {
  const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array([1]) });
  const app = (entries: Entry[], term = 5): Message => ({ type: 'MsgApp', from: 'n1', to: 'n2', term, prevIndex: 10, prevTerm: 3, entries, commit: 10 });
  assert.ok(decodeFrame(encodeRaftFrame(app([e(11, 3), e(12, 4), e(13, 5)]))) !== null, 'a leader\'s append');
  for (const [bad, why] of [
    [app([e(12, 3)]), 'a gap after prevIndex'],
    [app([e(11, 3), e(11, 3)]), 'an index repeated'],
    [app([e(11, 3), e(13, 3)]), 'a gap between entries'],
    [app([e(11, 2)]), 'a term below prevTerm'],
    [app([e(11, 4), e(12, 3)]), 'a term falling'],
    [app([e(11, 6)]), 'a term past the sender\'s'],
  ] as const) {
    assert.is(decodeFrame(encodeRaftFrame(bad)), null, `compact: ${why}`);
    assert.is(decodeFrame(legacyAppendFrame(bad as Message & { type: 'MsgApp' })), null, `earlier binary: ${why}`);
  }
});

C('frames of the earlier forms still decode: JSON messages, and what a compact frame cannot hold goes JSON', () => {
  const resp: Message = { type: 'MsgAppResp', from: 'n2', to: 'n1', term: 3, index: 9, reject: false, hintIndex: 0, hintTerm: 0 };
  assert.equal(decodeFrame(encodeJson({ kind: 'raft', m: resp })), resp);
  const longId: Message = { type: 'MsgVoteResp', from: 'x'.repeat(300), to: 'n1', term: 3, reject: true };
  const longCtx: Message = { type: 'MsgHeartbeatResp', from: 'n2', to: 'n1', term: 3, readCtx: 'r'.repeat(257), tick: 4 };
  for (const m of [longId, longCtx]) {
    const frame = encodeRaftFrame(m);
    assert.is(frame[0], '{'.charCodeAt(0));
    assert.is(decodeFrame(frame)?.type, m.type === 'MsgHeartbeatResp' ? undefined : m.type, 'a readCtx past 256 is refused as before');
  }
});

C('a heartbeat answer is a few dozen bytes, a third of its JSON; an append smaller than base64 in JSON', () => {
  const hb: Message = { type: 'MsgHeartbeatResp', from: 'n2', to: 'n1', term: 12, readCtx: null, tick: 40123 };
  const compact = encodeRaftFrame(hb);
  const json = encodeJson({ kind: 'raft', m: hb });
  assert.ok(compact.length * 2.5 < json.length, `${compact.length} bytes vs ${json.length}`);
  const data = new TextEncoder().encode(JSON.stringify({ kind: 'req', client: 'n1.gw.x', seq: 1, ackSeq: 1, db: '', op: { f: 'write', key: 'k', value: 'v'.repeat(100) } }));
  const entries: Entry[] = Array.from({ length: 20 }, (_, i) => ({ index: i + 1, term: 1, type: 'normal', data }));
  const m: Message = { type: 'MsgApp', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, entries, commit: 0 };
  const binary = encodeRaftFrame(m);
  assert.ok(binary.length < encodeJson({ kind: 'raft', m: { ...m, entries: entriesToWire(entries) } }).length * 0.8);
});

C('bad compact frames are refused with what is wrong, whatever the cut or the corruption', () => {
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
  const vote = encodeRaftFrame({ type: 'MsgVoteResp', from: 'n1', to: 'n2', term: 2, reject: false });
  assert.throws(() => decodeBinaryRaftFrame(Uint8Array.of(...vote, 0)), /1 bytes after the MsgVoteResp/);
  const badCode = vote.slice();
  badCode[1] = 200;
  assert.throws(() => decodeBinaryRaftFrame(badCode), /unknown message type 200/);
  const badBool = vote.slice();
  badBool[vote.length - 1] = 2;
  assert.throws(() => decodeBinaryRaftFrame(badBool), /reject 2, not 0 or 1/);
  for (const bad of [-1, 0.5, NaN, 2 ** 60]) {
    const f = vote.slice();
    new DataView(f.buffer).setFloat64(vote.length - 9, bad);
    assert.throws(() => decodeBinaryRaftFrame(f), /has term/, `term ${bad}`);
  }
  const badUtf8 = vote.slice();
  badUtf8[3] = 0xff; // the sender's first byte
  assert.throws(() => decodeBinaryRaftFrame(badUtf8), /sender is not UTF-8/);
  // Random bytes after either tag: an error, never a crash or a message.
  fc.assert(
    fc.property(fc.constantFrom(RAFT_COMPACT_FRAME, RAFT_BINARY_FRAME), fc.uint8Array({ maxLength: 200 }), (tag, junk) => {
      try {
        decodeBinaryRaftFrame(Uint8Array.of(tag, ...junk));
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
