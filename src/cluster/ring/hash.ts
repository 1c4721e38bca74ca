import { assert } from '../../util/assert.js';

/**
 * MurmurHash3, x86 32-bit variant (Austin Appleby, public domain; SMHasher's reference).
 *
 * Why this hash: a ring's token positions and every key's position must be the same in every
 * process, on every platform and every Node version, forever, or two members would route the same
 * key to different owners. MurmurHash3_x86_32 is defined on bytes with 32-bit integer arithmetic
 * only (Math.imul, shifts), which JavaScript performs exactly everywhere; it has published test
 * vectors and SMHasher's verification value (test/cluster/ring/hash.test.ts checks both), it mixes
 * well (it passes SMHasher's avalanche and distribution tests) and needs no dependency. A
 * cryptographic hash (md5, sha) would be slower and buys nothing here: the ring needs spread, not
 * resistance to an adversary choosing keys (bounded loads, bounded.ts, covers hot spots).
 *
 * The encoding of text is UTF-8. Changing this function, its seeds or the token names
 * (ring.ts) moves almost every key in every cluster: treat them as a wire format.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3_x86_32 of `bytes` with `seed`, as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  assert(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, () => `murmur3: seed must be a uint32, got ${seed}`);
  assert(length >= 0 && length <= bytes.length, () => `murmur3: length ${length} of ${bytes.length} bytes`);
  const n = length;
  const whole = n & ~3;
  let h = seed | 0;
  let i = 0;
  for (; i < whole; i += 4) {
    const k = (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24);
    h ^= mixK(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = n & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= (bytes[i + 2] as number) << 16;
    if (rest >= 2) k ^= (bytes[i + 1] as number) << 8;
    k ^= bytes[i] as number;
    h ^= mixK(k);
  }
  const out = fmix(h ^ n);
  assert(out >= 0 && out <= 0xffffffff, 'murmur3 produced a non-uint32');
  return out;
}

const utf8 = new TextEncoder();
/** Reused for short texts (keys, token names): hashing a million keys allocates nothing. */
const scratch = new Uint8Array(1024);

/** murmur3 of the UTF-8 bytes of `text`. */
export function hashText(text: string, seed = 0): number {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes, so a text this short always fits.
  if (text.length * 3 <= scratch.length) {
    const { written } = utf8.encodeInto(text, scratch);
    return murmur3(scratch, seed, written);
  }
  return murmur3(utf8.encode(text), seed);
}
