import type { Message } from '../raft/messages.js';
import type { Entry, Snapshot } from '../raft/types.js';

/**
 * Raft messages and log records as JSON, with the byte fields (entry data, snapshot data) as
 * base64 strings, converted field by field. A generic JSON replacer/reviver did the same for any
 * Uint8Array but cost a function call per value, which made message coding the simulator's
 * hottest path; Raft's few byte fields are known, so they are converted directly.
 */

type WireEntry = [index: number, term: number, type: 'normal' | 'config', data: string];

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
  if (!Array.isArray(wire)) throw new Error('entries must be a list');
  return wire.map((w: unknown) => {
    if (!Array.isArray(w) || w.length !== 4 || typeof w[0] !== 'number' || typeof w[1] !== 'number' || (w[2] !== 'normal' && w[2] !== 'config') || typeof w[3] !== 'string') {
      throw new Error('malformed entry');
    }
    return { index: w[0], term: w[1], type: w[2], data: bytes(w[3]) };
  });
}

function snapshotToWire(s: Snapshot): { meta: Snapshot['meta']; data: string } {
  return { meta: s.meta, data: b64(s.data) };
}

function snapshotFromWire(w: { meta: Snapshot['meta']; data: string }): Snapshot {
  return { meta: w.meta, data: bytes(w.data) };
}

/** A peer frame carrying one Raft message: {"kind":"raft","m":{…}}. */
export function encodeRaftFrame(m: Message): Uint8Array {
  let wire: unknown = m;
  if (m.type === 'MsgApp') wire = { ...m, entries: entriesToWire(m.entries) };
  else if (m.type === 'MsgSnap') wire = { ...m, snapshot: snapshotToWire(m.snapshot) };
  return encoder.encode(JSON.stringify({ kind: 'raft', m: wire }));
}

/** The Raft message of a decoded peer frame, its byte fields restored; null if it is malformed. */
export function raftMessageFromWire(body: { m?: unknown }): Message | null {
  const m = body.m as Record<string, unknown> | undefined;
  if (typeof m !== 'object' || m === null || typeof m.type !== 'string' || typeof m.from !== 'string' || typeof m.to !== 'string' || typeof m.term !== 'number') return null;
  try {
    if (m.type === 'MsgApp') return { ...(m as unknown as Message), entries: entriesFromWire(m.entries) } as Message;
    if (m.type === 'MsgSnap') return { ...(m as unknown as Message), snapshot: snapshotFromWire(m.snapshot as { meta: Snapshot['meta']; data: string }) } as Message;
  } catch {
    return null;
  }
  return m as unknown as Message;
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(data: Uint8Array): unknown {
  return JSON.parse(decoder.decode(data));
}
