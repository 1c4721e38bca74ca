import { parseJson } from '../../util/json-parse.js';
import { assert } from '../../util/assert.js';
import type { Message } from '../raft/messages.js';
import type { Entry, Snapshot } from '../raft/types.js';

/**
 * Raft messages and log records as JSON, with the byte fields (entry data, snapshot data) as
 * base64 strings, converted field by field. A generic JSON replacer/reviver did the same for any
 * Uint8Array but cost a function call per value, which made message coding the simulator's
 * hottest path; Raft's few byte fields are known, so they are converted directly.
 */

type WireEntry = [index: number, term: number, type: 'normal' | 'config', data: string];

/**
 * Bytes that do not decode as what they claim to be (a frame from a peer, a log record read
 * back): every decoder here throws this and nothing else, saying what is wrong.
 */
export class RaftCodecError extends Error {
  override name = 'RaftCodecError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function b64(data: Uint8Array): string {
  return data.length === 0 ? '' : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

function bytes(text: string): Uint8Array {
  return text === '' ? new Uint8Array(0) : new Uint8Array(Buffer.from(text, 'base64'));
}

export function entriesToWire(entries: readonly Entry[]): WireEntry[] {
  return entries.map((e) => [e.index, e.term, e.type, b64(e.data)]);
}

export function entriesFromWire(wire: unknown): Entry[] {
  if (!Array.isArray(wire)) throw new RaftCodecError('entries must be a list');
  return wire.map((w: unknown) => {
    if (!Array.isArray(w) || w.length !== 4 || !Number.isSafeInteger(w[0]) || w[0] < 1 || !Number.isSafeInteger(w[1]) || w[1] < 0 || (w[2] !== 'normal' && w[2] !== 'config') || typeof w[3] !== 'string') {
      throw new RaftCodecError('malformed entry');
    }
    return { index: w[0] as number, term: w[1] as number, type: w[2], data: bytes(w[3]) };
  });
}

function snapshotToWire(s: Snapshot): { meta: Snapshot['meta']; data: string } {
  return { meta: s.meta, data: b64(s.data) };
}


/**
 * Entries in binary: u32 count, then per entry f64 index, f64 term, u8 type (0 normal, 1 config),
 * u32 data length and the data. Entry data is already bytes (a request's JSON): as base64 inside
 * JSON it grew by a third and cost an encode and a decode at every hop (leader → message →
 * follower → its log record), on the busiest path of a replicated write.
 */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  const out = new Uint8Array(encodedBytes(entries));
  writeEntries(out, 0, entries);
  return out;
}

/**
 * encodeEntries into a buffer the next call reuses, for a caller that copies the bytes at once (a
 * log record: Wal.append copies its data). A Ready's entries record was allocated for one copy.
 */
export function encodeEntriesTransient(entries: readonly Entry[]): Uint8Array {
  const size = encodedBytes(entries);
  if (size > ENTRIES_SCRATCH_BYTES) return encodeEntries(entries);
  const out = entriesScratch.subarray(0, size);
  writeEntries(out, 0, entries);
  return out;
}
const ENTRIES_SCRATCH_BYTES = 64 * 1024;
const entriesScratch = new Uint8Array(ENTRIES_SCRATCH_BYTES);

const ENTRY_HEAD = 8 + 8 + 1 + 4;

function encodedBytes(entries: readonly Entry[]): number {
  let size = 4;
  for (const e of entries) size += ENTRY_HEAD + e.data.length;
  return size;
}

function writeEntries(out: Uint8Array, at: number, entries: readonly Entry[]): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, entries.length);
  at += 4;
  for (const e of entries) {
    view.setFloat64(at, e.index);
    view.setFloat64(at + 8, e.term);
    view.setUint8(at + 16, e.type === 'config' ? 1 : 0);
    view.setUint32(at + 17, e.data.length);
    out.set(e.data, at + ENTRY_HEAD);
    at += ENTRY_HEAD + e.data.length;
  }
}

/** Decodes encodeEntries' bytes (from `at` to the end); throws saying what is wrong. Data is copied. */
export function decodeEntries(bytes: Uint8Array, at = 0): Entry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length - at < 4) throw new RaftCodecError('entries: no count');
  const count = view.getUint32(at);
  at += 4;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    if (bytes.length - at < ENTRY_HEAD) throw new RaftCodecError(`entries: entry ${i} of ${count} is cut short`);
    const index = view.getFloat64(at);
    const term = view.getFloat64(at + 8);
    const type = view.getUint8(at + 16);
    const length = view.getUint32(at + 17);
    if (!Number.isSafeInteger(index) || index < 1 || !Number.isSafeInteger(term) || term < 0) throw new RaftCodecError(`entries: entry ${i} has index ${index}, term ${term}`);
    if (type > 1) throw new RaftCodecError(`entries: entry ${i} has unknown type ${type}`);
    if (bytes.length - at - ENTRY_HEAD < length) throw new RaftCodecError(`entries: entry ${i} claims ${length} bytes, ${bytes.length - at - ENTRY_HEAD} remain`);
    at += ENTRY_HEAD;
    entries.push({ index, term, type: type === 1 ? 'config' : 'normal', data: bytes.slice(at, at + length) });
    at += length;
  }
  if (at !== bytes.length) throw new RaftCodecError(`entries: ${bytes.length - at} bytes after the last entry`);
  return entries;
}

/**
 * First byte of a binary Raft frame. Every other peer frame is JSON, which starts with '{'. A
 * binary frame: this byte, u32 length of a JSON header ({"kind":"raft","m":{…}} without the
 * entries), the header, then the entries (encodeEntries).
 */
export const RAFT_BINARY_FRAME = 0x00;

/** Bodies decodeBinaryRaftFrame built: their entries are decoded already (JSON cannot make one). */
const binaryBodies = new WeakSet<object>();

/**
 * First byte of a compact Raft frame, the one every message but MsgSnap travels in: fixed binary
 * fields instead of JSON. On a sharded node a write takes about five peer frames where one group
 * takes 0.4 (issue 20), and encoding and parsing their JSON (JSON.stringify, the UTF-8 codec, the
 * bounded parse, the field checks) cost about 35 µs of a simulated write's 300 (3 LSM nodes of 16
 * shards, 50 line clients writing, seed 1, profiled with `node --cpu-prof`). Layout, big-endian:
 *
 *   u8 0x04, u8 type (MESSAGE_TYPES' index), u8 length + UTF-8 `from`, u8 length + UTF-8 `to`,
 *   f64 term, then the type's FIELDS in order: 'n' f64, 'b' u8 0|1, 's?' u16 length (0xffff for
 *   null) + UTF-8; a MsgApp then its entries as encodeEntries writes them.
 *
 * Decoding checks each field as raftMessageFromWire checks JSON's, and the frame's exact length.
 * Frames of the earlier forms (RAFT_BINARY_FRAME, JSON) are still read.
 */
export const RAFT_COMPACT_FRAME = 0x04;

/** Whether a peer frame's first byte marks a binary Raft frame (decodeBinaryRaftFrame reads it). */
export function isBinaryRaftFrame(first: number | undefined): boolean {
  return first === RAFT_COMPACT_FRAME || first === RAFT_BINARY_FRAME;
}

const MESSAGE_TYPES = ['MsgApp', 'MsgAppResp', 'MsgVote', 'MsgPreVote', 'MsgVoteResp', 'MsgPreVoteResp', 'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgTimeoutNow'] as const;
const MESSAGE_CODES = new Map<string, number>(MESSAGE_TYPES.map((t, i) => [t, i]));
/** A string field holds at most this many UTF-16 units (readCtx: fieldsValid's bound). */
const COMPACT_STRING_MAX = 256;
const NULL_STRING = 0xffff;

/** Node ids, encoded once each (a node talks to a handful); bounded, so odd ids cannot grow it. */
const idBytes = new Map<string, Uint8Array>();
const ID_CACHE_MAX = 4096;
function encodedId(id: string): Uint8Array {
  let b = idBytes.get(id);
  if (b === undefined) {
    b = encoder.encode(id);
    if (idBytes.size < ID_CACHE_MAX) {
      idBytes.set(id, b);
      idsByHash.set(bytesHash(b, 0, b.length), id);
    }
  }
  return b;
}

/**
 * A peer frame carrying one Raft message: compact (above), or JSON for a MsgSnap and for what a
 * compact frame cannot hold (a node id past 255 bytes, a readCtx past 256 units).
 */
export function encodeRaftFrame(m: Message): Uint8Array {
  if (m.type !== 'MsgSnap') {
    const compact = encodeCompact(m);
    if (compact !== null) return compact;
  }
  if (m.type === 'MsgApp' && m.entries.length > 0) {
    const { entries, ...rest } = m;
    const header = encoder.encode(JSON.stringify({ kind: 'raft', m: rest }));
    const out = new Uint8Array(1 + 4 + header.length + encodedBytes(entries));
    out[0] = RAFT_BINARY_FRAME;
    new DataView(out.buffer).setUint32(1, header.length);
    out.set(header, 5);
    writeEntries(out, 5 + header.length, entries);
    return out;
  }
  let wire: unknown = m;
  if (m.type === 'MsgSnap') wire = { ...m, snapshot: snapshotToWire(m.snapshot) };
  return encoder.encode(JSON.stringify({ kind: 'raft', m: wire }));
}

/** Each type's fields as [name, kind] pairs in FIELDS order (built at first use: FIELDS comes later in this file). */
let fieldLists: Map<string, readonly (readonly [string, 'n' | 'b' | 's?'])[]> | null = null;
function fieldList(type: string): readonly (readonly [string, 'n' | 'b' | 's?'])[] {
  fieldLists ??= new Map(Object.entries(FIELDS).map(([t, spec]) => [t, Object.entries(spec)]));
  return fieldLists.get(type) as readonly (readonly [string, 'n' | 'b' | 's?'])[];
}

function encodeCompact(m: Exclude<Message, { type: 'MsgSnap' }>): Uint8Array | null {
  const from = encodedId(m.from);
  const to = encodedId(m.to);
  if (from.length > 255 || to.length > 255) return null;
  const list = fieldList(m.type);
  const fields = m as unknown as Record<string, unknown>;
  let size = 1 + 1 + 1 + from.length + 1 + to.length + 8;
  // Every type has at most one string field (readCtx).
  let text: Uint8Array | null = null;
  for (const [name, kind] of list) {
    if (kind === 'n') size += 8;
    else if (kind === 'b') size += 1;
    else {
      const v = fields[name] as string | null;
      if (v !== null) {
        if (v.length > COMPACT_STRING_MAX) return null;
        text = encoder.encode(v);
      }
      size += 2 + (text?.length ?? 0);
    }
  }
  if (m.type === 'MsgApp') size += encodedBytes(m.entries);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = RAFT_COMPACT_FRAME;
  out[1] = MESSAGE_CODES.get(m.type) as number;
  let at = 2;
  out[at++] = from.length;
  out.set(from, at);
  at += from.length;
  out[at++] = to.length;
  out.set(to, at);
  at += to.length;
  view.setFloat64(at, m.term);
  at += 8;
  for (const [name, kind] of list) {
    if (kind === 'n') {
      view.setFloat64(at, fields[name] as number);
      at += 8;
    } else if (kind === 'b') {
      out[at++] = fields[name] === true ? 1 : 0;
    } else if (text === null) {
      view.setUint16(at, NULL_STRING);
      at += 2;
    } else {
      view.setUint16(at, text.length);
      out.set(text, at + 2);
      at += 2 + text.length;
    }
  }
  if (m.type === 'MsgApp') writeEntries(out, at, m.entries);
  else assert(at === size, () => `compact raft frame: wrote ${at} of ${size} bytes`);
  return out;
}

/**
 * The node ids this process encoded (encodedId), found again by their bytes: a frame's sender and
 * receiver are nearly always among them, and matching the bytes in place allocates nothing.
 */
function knownId(frame: Uint8Array, at: number, n: number): string | null {
  const id = idsByHash.get(bytesHash(frame, at, n));
  if (id === undefined) return null;
  const b = idBytes.get(id) as Uint8Array;
  if (b.length !== n) return null;
  for (let i = 0; i < n; i++) if (b[i] !== frame[at + i]) return null;
  return id;
}

/** encodedId's ids by bytesHash of their bytes (a collision just misses: the bytes are compared). */
const idsByHash = new Map<number, string>();

/** FNV-1a over bytes [at, at + n). */
function bytesHash(bytes: Uint8Array, at: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = at; i < at + n; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

/** Bodies decodeCompact built: every field is checked already. */
const checkedBodies = new WeakSet<object>();

/** Reads a compact frame's fields in order, throwing RaftCodecError where the bytes fall short or are bad. */
class CompactReader {
  private readonly view: DataView;
  at = 1;
  constructor(
    private readonly frame: Uint8Array,
    private readonly type: string,
  ) {
    this.view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  }

  need(n: number, what: string): void {
    if (this.frame.length - this.at < n) throw new RaftCodecError(`compact raft frame: ${what} is cut short (a frame of ${this.frame.length} bytes)`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.frame[this.at++] as number;
  }

  text(n: number, what: string): string {
    this.need(n, what);
    const start = this.at;
    this.at += n;
    const known = knownId(this.frame, start, n);
    if (known !== null) return known;
    // Node ids and read contexts are ASCII in practice: built from the bytes without the decoder.
    let ascii = n <= 64;
    for (let i = start; ascii && i < start + n; i++) ascii = (this.frame[i] as number) < 0x80;
    if (ascii) return String.fromCharCode.apply(null, this.frame.subarray(start, start + n) as unknown as number[]);
    try {
      return decoder.decode(this.frame.subarray(start, start + n));
    } catch {
      throw new RaftCodecError(`compact raft frame: ${what} is not UTF-8`);
    }
  }

  number(name: string): number {
    this.need(8, name);
    const v = this.view.getFloat64(this.at);
    this.at += 8;
    if (!Number.isSafeInteger(v) || v < 0) throw new RaftCodecError(`compact raft frame: ${this.type} has ${name} ${v}`);
    return v;
  }

  boolean(name: string): boolean {
    const b = this.byte(name);
    if (b !== 0 && b !== 1) throw new RaftCodecError(`compact raft frame: ${this.type} has ${name} ${b}, not 0 or 1`);
    return b === 1;
  }

  string(name: string): string | null {
    this.need(2, name);
    const n = this.view.getUint16(this.at);
    this.at += 2;
    if (n === NULL_STRING) return null;
    const v = this.text(n, name);
    if (v.length > COMPACT_STRING_MAX) throw new RaftCodecError(`compact raft frame: ${this.type} has a ${name} longer than ${COMPACT_STRING_MAX}`);
    return v;
  }
}

function decodeCompact(frame: Uint8Array): { kind: 'raft'; m: Record<string, unknown> } {
  if (frame.length < 2) throw new RaftCodecError(`compact raft frame: the type is cut short (a frame of ${frame.length} bytes)`);
  const code = frame[1] as number;
  const type = MESSAGE_TYPES[code];
  if (type === undefined) throw new RaftCodecError(`compact raft frame: unknown message type ${code}`);
  const r = new CompactReader(frame, type);
  r.at = 2;
  const from = r.text(r.byte('the sender'), 'the sender');
  const to = r.text(r.byte('the receiver'), 'the receiver');
  const m: Record<string, unknown> = { type, from, to, term: r.number('term') };
  for (const [name, kind] of fieldList(type)) m[name] = kind === 'n' ? r.number(name) : kind === 'b' ? r.boolean(name) : r.string(name);
  if (type === 'MsgApp') m.entries = decodeEntries(frame, r.at);
  else if (r.at !== frame.length) throw new RaftCodecError(`compact raft frame: ${frame.length - r.at} bytes after the ${type}`);
  const body = { kind: 'raft' as const, m };
  checkedBodies.add(body);
  return body;
}

/** The body of a binary Raft frame, for raftMessageFromWire; throws saying what is wrong. */
export function decodeBinaryRaftFrame(frame: Uint8Array): { kind: 'raft'; m: Record<string, unknown> } {
  if (frame[0] === RAFT_COMPACT_FRAME) return decodeCompact(frame);
  if (frame.length < 5 || frame[0] !== RAFT_BINARY_FRAME) throw new RaftCodecError('not a binary raft frame');
  const headerBytes = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  if (frame.length - 5 < headerBytes) throw new RaftCodecError(`header of ${headerBytes} bytes in a frame of ${frame.length}`);
  const body = decodeJson(frame.subarray(5, 5 + headerBytes)) as { kind?: unknown; m?: unknown } | null;
  if (typeof body !== 'object' || body === null || body.kind !== 'raft' || typeof body.m !== 'object' || body.m === null || (body.m as { type?: unknown }).type !== 'MsgApp') throw new RaftCodecError('binary frame without a Raft append');
  const m = body.m as Record<string, unknown>;
  m.entries = decodeEntries(frame, 5 + headerBytes);
  binaryBodies.add(body);
  return body as { kind: 'raft'; m: Record<string, unknown> };
}

/**
 * The fields each message type carries besides type, from, to and term: 'n' a non-negative safe
 * integer, 'b' a boolean, 's?' a string or null. A message from the wire is checked against it
 * before the core sees it: a peer that sent a string where a log position belongs (a bug, a
 * different version) must not trip the core's assertions.
 */
const FIELDS: Record<string, Record<string, 'n' | 'b' | 's?'>> = {
  MsgApp: { prevIndex: 'n', prevTerm: 'n', commit: 'n' },
  MsgAppResp: { index: 'n', reject: 'b', hintIndex: 'n', hintTerm: 'n' },
  MsgVote: { lastIndex: 'n', lastTerm: 'n', transfer: 'b' },
  MsgPreVote: { lastIndex: 'n', lastTerm: 'n', transfer: 'b' },
  MsgVoteResp: { reject: 'b' },
  MsgPreVoteResp: { reject: 'b' },
  MsgHeartbeat: { commit: 'n', readCtx: 's?', tick: 'n' },
  MsgHeartbeatResp: { readCtx: 's?', tick: 'n' },
  MsgTimeoutNow: {},
};

function fieldsValid(m: Record<string, unknown>): boolean {
  const spec = Object.hasOwn(FIELDS, m.type as string) ? FIELDS[m.type as string] : undefined;
  if (spec === undefined) return false;
  for (const [name, kind] of Object.entries(spec)) {
    const v = m[name];
    if (kind === 'n' ? !Number.isSafeInteger(v) || (v as number) < 0 : kind === 'b' ? typeof v !== 'boolean' : v !== null && (typeof v !== 'string' || v.length > 256)) return false;
  }
  return true;
}

/**
 * The Raft message of a decoded peer frame, its byte fields restored; null if it is malformed.
 * A MsgSnap is never taken from the wire: snapshots travel as streamed files
 * (snapshot-transfer.ts), and one in a message would name a file on the sender's disk.
 */
export function raftMessageFromWire(body: { m?: unknown }): Message | null {
  if (typeof body !== 'object' || body === null) return null;
  const m = body.m as Record<string, unknown> | undefined;
  if (typeof m !== 'object' || m === null || typeof m.type !== 'string' || typeof m.from !== 'string' || typeof m.to !== 'string' || !Number.isSafeInteger(m.term) || (m.term as number) < 0) return null;
  if (checkedBodies.has(body)) return appendInOrder(m as unknown as Message);
  if (!fieldsValid(m)) return null;
  if (binaryBodies.has(body)) return appendInOrder(m as unknown as Message);
  try {
    if (m.type === 'MsgApp') return appendInOrder({ ...(m as unknown as Message), entries: entriesFromWire(m.entries) } as Message);
  } catch {
    return null;
  }
  return m as unknown as Message;
}

/**
 * The message, unless it is an append whose entries do not follow prevIndex one by one, with terms
 * that never fall and never pass the sender's: what any leader sends. The core asserts that its
 * log stays contiguous, so a peer's malformed append must stop here, not there.
 */
function appendInOrder(m: Message): Message | null {
  if (m.type !== 'MsgApp') return m;
  let term = m.prevTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i] as Entry;
    if (e.index !== m.prevIndex + 1 + i || e.term < term || e.term > m.term) return null;
    term = e.term;
  }
  return m;
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** JSON from a peer or a log record, bounded in depth (util/json-parse.ts). Throws RaftCodecError. */
export function decodeJson(data: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    throw new RaftCodecError('not UTF-8');
  }
  try {
    return parseJson(text, 'raft message');
  } catch (err) {
    throw new RaftCodecError((err as Error).message);
  }
}
