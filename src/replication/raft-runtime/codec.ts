import { parseJson } from '../../util/json-parse.js';
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
 * A peer frame carrying one Raft message. An append with entries goes binary (above); the rest
 * as {"kind":"raft","m":{…}}.
 */
export function encodeRaftFrame(m: Message): Uint8Array {
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

/** The body of a binary Raft frame, for raftMessageFromWire; throws saying what is wrong. */
export function decodeBinaryRaftFrame(frame: Uint8Array): { kind: 'raft'; m: Record<string, unknown> } {
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
  if (!fieldsValid(m)) return null;
  if (binaryBodies.has(body)) return m as unknown as Message;
  try {
    if (m.type === 'MsgApp') return { ...(m as unknown as Message), entries: entriesFromWire(m.entries) } as Message;
  } catch {
    return null;
  }
  return m as unknown as Message;
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
