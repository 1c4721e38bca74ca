import { assert } from '../../util/assert.js';

/**
 * A Bloom filter per table (Bloom 1970), answering "is this key possibly in the table?" so that a
 * read skips tables that cannot hold its key without touching their blocks.
 *
 * k probe positions come from one 32-bit hash by double hashing, g_i = h1 + i * h2 (Kirsch and
 * Mitzenmacher, "Less hashing, same performance", 2006), as LevelDB's filter does; h2 is a second
 * mix of h1 rather than LevelDB's rotation, which keeps the probes closer to independent. With
 * bitsPerKey = m/n the false-positive rate is about (1 - e^(-k n / m))^k, lowest at k = ln 2 m/n:
 * about 0.8% at 10 bits per key (test/storage/lsm/bloom.test.ts measures it).
 *
 * Encoding: the bit array (bit i of the filter is byte i >> 3, bit i & 7), then one byte holding k.
 *
 * Tables of format 2 carry the blocked filter below instead (BlockedBloomBuilder); this one is
 * read in tables of format 1.
 */

export const BLOOM_K_MAX = 30;

/** Probes per key for a number of bits per key: ln 2 * bitsPerKey, in [1, 30]. */
export function bloomProbes(bitsPerKey: number): number {
  return Math.max(1, Math.min(BLOOM_K_MAX, Math.round(bitsPerKey * Math.LN2)));
}

/** The false-positive rate theory predicts for n keys in m bits with k probes. */
export function bloomTheoreticalFpRate(bits: number, keys: number, k: number): number {
  return Math.pow(1 - Math.exp((-k * keys) / bits), k);
}

/** The seed of the filter's hash: part of the table format (FORMAT.md). */
export const BLOOM_SEED = 0x9747b28c;

/** MurmurHash3's x86_32 (Austin Appleby, public domain) over data[start, end). */
export function bloomHash(data: Uint8Array, start = 0, end = data.length, seed = BLOOM_SEED): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed;
  let i = start;
  const end4 = end - ((end - start) & 3);
  for (; i < end4; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = end - i;
  if (tail > 0) {
    let k = data[i] as number;
    if (tail > 1) k ^= (data[i + 1] as number) << 8;
    if (tail > 2) k ^= (data[i + 2] as number) << 16;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= end - start;
  return fmix(h);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function secondHash(h1: number): number {
  // Odd, so that the k probes of a key never collapse onto one position.
  return (fmix((h1 ^ 0x5bd1e995) >>> 0) | 1) >>> 0;
}

/** Builds one table's filter from the hashes of its keys. */
export class BloomBuilder {
  private hashes: number[] = [];
  private readonly k: number;

  constructor(private readonly bitsPerKey: number) {
    assert(bitsPerKey > 0 && bitsPerKey <= 64, () => `bloom: bits per key must be in (0, 64], got ${bitsPerKey}`);
    this.k = bloomProbes(bitsPerKey);
  }

  add(hash: number): void {
    this.hashes.push(hash);
  }

  get keys(): number {
    return this.hashes.length;
  }

  finish(): Uint8Array {
    // At least 64 bits: tiny filters would have a very high false-positive rate.
    const bits = Math.max(64, Math.ceil(this.hashes.length * this.bitsPerKey));
    const bytes = Math.ceil(bits / 8);
    const filter = new Uint8Array(bytes + 1);
    const m = bytes * 8;
    for (const h1 of this.hashes) {
      const h2 = secondHash(h1);
      let g = h1;
      for (let i = 0; i < this.k; i++) {
        const bit = g % m;
        filter[bit >>> 3] = (filter[bit >>> 3] as number) | (1 << (bit & 7));
        g = (g + h2) >>> 0;
      }
    }
    filter[bytes] = this.k;
    this.hashes = [];
    return filter;
  }
}

/** False: the key is certainly absent. True: it may be present. A malformed filter says true. */
export function bloomMayContain(filter: Uint8Array, hash: number): boolean {
  const bytes = filter.length - 1;
  if (bytes < 1) return true;
  const k = filter[bytes] as number;
  if (k < 1 || k > BLOOM_K_MAX) return true;
  const m = bytes * 8;
  const h2 = secondHash(hash);
  let g = hash;
  for (let i = 0; i < k; i++) {
    const bit = g % m;
    if (((filter[bit >>> 3] as number) & (1 << (bit & 7))) === 0) return false;
    g = (g + h2) >>> 0;
  }
  return true;
}

/** Bytes of one block of a blocked filter: a cache line. */
export const BLOOM_BLOCK_BYTES = 64;
const BLOCK_BITS = BLOOM_BLOCK_BYTES * 8;

/**
 * Probes per key of a blocked filter: fewer than a standard filter's ln 2 * bitsPerKey, because
 * the keys' uneven spread over the blocks makes extra probes cost more than they filter (the
 * choice RocksDB's cache-local filter makes: 6 at 10 bits per key).
 */
export function blockedBloomProbes(bitsPerKey: number): number {
  return Math.max(1, Math.min(BLOOM_K_MAX, Math.round(bitsPerKey * Math.LN2 * 0.87)));
}

/**
 * The false-positive rate theory predicts for a blocked filter (Putze, Sanders and Singler, "Cache-,
 * Hash- and Space-Efficient Bloom Filters", 2007): a block's key count is about Poisson with mean
 * BLOCK_BITS / bitsPerKey, and within a block it is a standard filter of BLOCK_BITS bits.
 */
export function blockedBloomTheoreticalFpRate(bitsPerKey: number, k: number): number {
  const mean = BLOCK_BITS / bitsPerKey;
  let p = Math.exp(-mean);
  let rate = 0;
  for (let j = 0; j < mean * 4 + 50; j++) {
    rate += p * Math.pow(1 - Math.exp((-k * j) / BLOCK_BITS), k);
    p *= mean / (j + 1);
  }
  return rate;
}

/** The first byte of key's block in a filter of blocks 64-byte blocks: the hash's high bits pick it. */
function blockStart(hash: number, blocks: number): number {
  return Math.floor((hash * blocks) / 4294967296) * BLOOM_BLOCK_BYTES;
}

/**
 * A cache-local ("blocked") Bloom filter, the filter of tables of format 2 (Putze et al. 2007;
 * RocksDB's format_version 5 filter): a key's k probes all fall in one 64-byte block, chosen by the
 * key's hash, so a check touches one cache line instead of k scattered ones. The positions in the
 * block come from a second hash multiplied by the golden ratio once per probe, its top 9 bits being
 * the bit. At 10 bits per key (k = 6) about 0.98% of absent keys pass, against 0.8% for a standard
 * filter of the same size (bloom.test.ts measures both): the filter is sized for 1%.
 *
 * Encoding: blocks * 64 bytes of bits (bit b of a block is byte b >> 3, bit b & 7), then one byte k.
 */
export class BlockedBloomBuilder {
  private hashes: number[] = [];
  private readonly k: number;

  constructor(private readonly bitsPerKey: number) {
    assert(bitsPerKey > 0 && bitsPerKey <= 64, () => `bloom: bits per key must be in (0, 64], got ${bitsPerKey}`);
    this.k = blockedBloomProbes(bitsPerKey);
  }

  add(hash: number): void {
    this.hashes.push(hash);
  }

  get keys(): number {
    return this.hashes.length;
  }

  finish(): Uint8Array {
    const blocks = Math.max(1, Math.ceil((this.hashes.length * this.bitsPerKey) / BLOCK_BITS));
    const filter = new Uint8Array(blocks * BLOOM_BLOCK_BYTES + 1);
    for (const h of this.hashes) {
      const base = blockStart(h, blocks);
      let g = secondHash(h);
      for (let i = 0; i < this.k; i++) {
        g = Math.imul(g, 0x9e3779b9);
        const bit = g >>> 23;
        filter[base + (bit >>> 3)] = (filter[base + (bit >>> 3)] as number) | (1 << (bit & 7));
      }
    }
    filter[blocks * BLOOM_BLOCK_BYTES] = this.k;
    this.hashes = [];
    assert(filter.length % BLOOM_BLOCK_BYTES === 1, 'BlockedBloomBuilder: whole blocks and one byte');
    return filter;
  }
}

/** A blocked filter's answer: false means certainly absent. A malformed filter says true. */
export function blockedBloomMayContain(filter: Uint8Array, hash: number): boolean {
  const bytes = filter.length - 1;
  const k = filter[bytes] as number;
  if (bytes < BLOOM_BLOCK_BYTES || bytes % BLOOM_BLOCK_BYTES !== 0 || k < 1 || k > BLOOM_K_MAX) return true;
  const base = blockStart(hash, bytes / BLOOM_BLOCK_BYTES);
  let g = secondHash(hash);
  for (let i = 0; i < k; i++) {
    g = Math.imul(g, 0x9e3779b9);
    const bit = g >>> 23;
    if (((filter[base + (bit >>> 3)] as number) & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}
