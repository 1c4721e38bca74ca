/**
 * JSON with bytes: how peer messages (Raft entries and snapshots carry binary data) travel in a
 * frame. A Uint8Array becomes {"$b": "<base64>"}; nothing else in our messages has a "$b" key.
 * JSON keeps frames readable in traces; bytes are the only thing it cannot carry as is.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeWithBytes(value: unknown): Uint8Array {
  return encoder.encode(
    JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } : v)),
  );
}

export function decodeWithBytes(frame: Uint8Array): unknown {
  return JSON.parse(decoder.decode(frame), (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const b = (v as { $b?: unknown }).$b;
      if (typeof b === 'string' && Object.keys(v).length === 1) return new Uint8Array(Buffer.from(b, 'base64'));
    }
    return v;
  });
}
