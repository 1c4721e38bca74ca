import type { Entry } from './types.js';

const cache = new WeakMap<Uint8Array, string>();

/**
 * A short fingerprint of an entry's data for observers and traces: FNV-1a (32 bits) and the
 * length, in hex. Not cryptographic: it tells apart the different commands of one run, which is
 * what the safety observers compare. Cached per data array, since entries are immutable.
 */
export function dataDigest(data: Uint8Array): string {
  const hit = cache.get(data);
  if (hit !== undefined) return hit;
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i] as number;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const digest = `${h.toString(16).padStart(8, '0')}:${data.length}`;
  cache.set(data, digest);
  return digest;
}

/** The digest of an entry's content: its type and data (position and term are compared apart). */
export function entryDigest(e: Entry): string {
  return e.type === 'config' ? `c${dataDigest(e.data)}` : dataDigest(e.data);
}
