import { assert } from '../../util/assert.js';
import { compareBytes, compareBytesTo } from '../util/bytes.js';

/**
 * A sorted array of keys searched by binary search (a table's index keys; a level's tables by
 * largest key), laid out for the search: the keys back to back in one buffer (key i at
 * [starts[i], starts[i + 1])), the bytes all of them begin with, and per key the next 4 bytes as a
 * big-endian number, zero-padded. The search compares numbers and reads a key only on a tie.
 *
 * Why: keys close together in sort order share long prefixes (at 1M keys of 16 digits, a table's
 * keys share the first 10 or so), which a byte-by-byte comparison walks through at every step of
 * the search. Measured on random reads at 1M keys: the table index search with plain comparisons
 * took 8% of a read.
 */
export class SortedKeys {
  private readonly bytes: Uint8Array;
  private readonly starts: Int32Array;
  private readonly prefix: Uint8Array;
  private readonly words: Uint32Array;

  /** REQUIRES: keys strictly increasing (checked). */
  constructor(keys: readonly Uint8Array[]) {
    const n = keys.length;
    this.starts = new Int32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (i > 0) assert(compareBytes(keys[i - 1] as Uint8Array, keys[i] as Uint8Array) < 0, 'SortedKeys: keys must be strictly increasing');
      this.starts[i] = total;
      total += (keys[i] as Uint8Array).length;
    }
    this.starts[n] = total;
    this.bytes = new Uint8Array(total);
    for (let i = 0; i < n; i++) this.bytes.set(keys[i] as Uint8Array, this.starts[i] as number);
    // Sorted keys share what the first and the last share.
    let prefix = 0;
    if (n > 0) {
      const first = keys[0] as Uint8Array;
      const last = keys[n - 1] as Uint8Array;
      while (prefix < first.length && prefix < last.length && first[prefix] === last[prefix]) prefix++;
      this.prefix = first.slice(0, prefix);
    } else this.prefix = new Uint8Array(0);
    this.words = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.words[i] = wordAt(keys[i] as Uint8Array, prefix);
  }

  get length(): number {
    return this.words.length;
  }

  /** Key i (a view). */
  key(i: number): Uint8Array {
    return this.bytes.subarray(this.starts[i] as number, this.starts[i + 1] as number);
  }

  /** The index of the first key >= key, or length if none. */
  lowerBound(key: Uint8Array): number {
    const prefix = this.prefix;
    const n = this.words.length;
    for (let j = 0; j < prefix.length; j++) {
      // A key that ends inside the prefix, or sorts below it, is <= every key here.
      if (j >= key.length || (key[j] as number) < (prefix[j] as number)) return 0;
      if ((key[j] as number) > (prefix[j] as number)) return n;
    }
    const w = wordAt(key, prefix.length);
    const words = this.words;
    const starts = this.starts;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const iw = words[mid] as number;
      // Distinct words order their keys (all share the prefix); equal words need the keys.
      if (iw < w || (iw === w && compareBytesTo(key, this.bytes, starts[mid] as number, starts[mid + 1] as number) > 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The 4 bytes of key from offset at on, as a big-endian number, zero past the end. For two keys
 * sharing their first `at` bytes, a smaller number means a smaller key; equal numbers decide
 * nothing (a key and the same key with a zero byte appended give the same number).
 */
function wordAt(key: Uint8Array, at: number): number {
  let w = 0;
  for (let j = at; j < at + 4; j++) w = w * 256 + (j < key.length ? (key[j] as number) : 0);
  return w;
}
