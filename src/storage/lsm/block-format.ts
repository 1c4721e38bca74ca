import { assert } from '../../util/assert.js';
import { ByteWriter, readU32, readVarint, varintEnd } from '../util/bytes.js';

/**
 * A table block (LevelDB's table/block_builder.cc layout): sorted entries with their keys
 * prefix-compressed against the previous key, and every `restartInterval` entries a restart point
 * that stores its key whole, so a reader can binary-search the restart points and then scan.
 *
 *   entry:   varint shared | varint unshared | u8 kind | varint valueLength | key[shared..] | value
 *   trailer: u32 restart offset, ... | u32 restart count
 *
 * kind is 1 for a value, 0 for a tombstone (whose value is empty). On disk every block is followed
 * by a u8 block type and a CRC-32C of the contents and that type (table-format.ts).
 */

export const KIND_DELETE = 0;
export const KIND_PUT = 1;

export class BlockBuilder {
  private readonly out = new ByteWriter(8192);
  private readonly restarts: number[] = [0];
  private counter = 0;
  private lastKey = new Uint8Array(64);
  private lastKeyLength = 0;
  entries = 0;

  constructor(private readonly restartInterval: number) {
    assert(restartInterval >= 1, 'BlockBuilder: restart interval must be at least 1');
  }

  empty(): boolean {
    return this.entries === 0;
  }

  /** Bytes the block will take once finished (without the on-disk trailer). */
  sizeEstimate(): number {
    return this.out.length + 4 * this.restarts.length + 4;
  }

  /** REQUIRES: key sorts after the previous key added. */
  add(key: Uint8Array, kind: number, value: Uint8Array, valueStart = 0, valueEnd = value.length): void {
    let shared = 0;
    if (this.counter < this.restartInterval) {
      const n = Math.min(this.lastKeyLength, key.length);
      while (shared < n && this.lastKey[shared] === key[shared]) shared++;
    } else {
      this.restarts.push(this.out.length);
      this.counter = 0;
    }
    const out = this.out;
    out.varint(shared);
    out.varint(key.length - shared);
    out.u8(kind);
    out.varint(valueEnd - valueStart);
    out.bytes(key, shared, key.length);
    out.bytes(value, valueStart, valueEnd);
    if (this.lastKey.length < key.length) this.lastKey = new Uint8Array(key.length * 2);
    this.lastKey.set(key);
    this.lastKeyLength = key.length;
    this.counter++;
    this.entries++;
  }

  /** The finished block contents: a view valid until reset(). */
  finish(): Uint8Array {
    for (const r of this.restarts) this.out.u32(r);
    this.out.u32(this.restarts.length);
    return this.out.written();
  }

  reset(): void {
    this.out.reset();
    this.restarts.length = 1;
    this.restarts[0] = 0;
    this.counter = 0;
    this.lastKeyLength = 0;
    this.entries = 0;
  }
}

/** Where a block's restart array starts, or -1 if the trailer is impossible. */
export function restartArrayOffset(block: Uint8Array): number {
  if (block.length < 4) return -1;
  const count = readU32(block, block.length - 4);
  const at = block.length - 4 - 4 * count;
  return count >= 1 && at >= 0 ? at : -1;
}

/** The result of blockGet, in module variables so that point reads allocate nothing. */
export let foundKind = 0;
export let foundValueStart = 0;
export let foundValueEnd = 0;

/** compare(key, b[bStart, bEnd)) in memcmp order, with the key given as a[0, aLen). */
function compareTo(a: Uint8Array, aLen: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[bStart + i] as number);
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/** A varint at p that fits one byte (the common case), or the general decoder. Sets varintEnd. */
function varintAt(block: Uint8Array, p: number, limit: number): number {
  const b = block[p] as number;
  if (b < 0x80 && p < limit) {
    fastEnd = p + 1;
    return b;
  }
  const v = readVarint(block, p, limit);
  fastEnd = varintEnd;
  return v;
}

let fastEnd = 0;

/**
 * Looks target up in a block whose restart array starts at restartsAt. Returns true and sets
 * foundKind/foundValueStart/foundValueEnd when an entry has exactly that key. Throws Error on a
 * malformed entry (the caller verified the checksum, so that means a bug or a checksum collision).
 *
 * The scan after the restart point never rebuilds a key: it keeps `matched`, how many leading bytes
 * the previous key (which sorts before target) shares with target. An entry sharing more than that
 * with the previous key has the previous key's byte where the previous key fell below target, so
 * it sorts below target too and is skipped unread; otherwise its stored bytes are compared with
 * target from where its shared prefix ends (which target also has, since shared <= matched).
 */
export function blockGet(block: Uint8Array, restartsAt: number, target: Uint8Array): boolean {
  const count = (block.length - 4 - restartsAt) / 4;
  const targetLength = target.length;
  // The last restart point whose key is < target (or the first).
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    const off = readU32(block, restartsAt + 4 * mid);
    varintAt(block, off, restartsAt); // shared: 0 at a restart point
    const unshared = varintAt(block, fastEnd, restartsAt);
    varintAt(block, fastEnd + 1, restartsAt);
    const p = fastEnd;
    if (unshared < 0 || p + unshared > restartsAt) throw new Error(`malformed restart entry at ${off}`);
    if (compareTo(target, targetLength, block, p, p + unshared) > 0) lo = mid;
    else hi = mid - 1;
  }
  let p = readU32(block, restartsAt + 4 * lo);
  let keyLength = 0;
  let matched = 0;
  while (p < restartsAt) {
    const shared = varintAt(block, p, restartsAt);
    const unshared = varintAt(block, fastEnd, restartsAt);
    const kind = block[fastEnd] as number;
    const valueLength = varintAt(block, fastEnd + 1, restartsAt);
    const keyAt = fastEnd;
    if (shared < 0 || unshared < 0 || valueLength < 0 || shared > keyLength || keyAt + unshared + valueLength > restartsAt) {
      throw new Error(`malformed block entry at ${p}`);
    }
    keyLength = shared + unshared;
    const valueAt = keyAt + unshared;
    if (shared <= matched) {
      // key[0, shared) equals target's; compare the rest.
      let j = shared;
      while (j < keyLength && j < targetLength && block[keyAt + j - shared] === target[j]) j++;
      if (j === keyLength && j === targetLength) {
        foundKind = kind;
        foundValueStart = valueAt;
        foundValueEnd = valueAt + valueLength;
        return true;
      }
      // Past target: the key ran on (target is its prefix) or has the larger byte.
      if (j === targetLength || (j < keyLength && (block[keyAt + j - shared] as number) > (target[j] as number))) return false;
      matched = j;
    }
    p = valueAt + valueLength;
  }
  return false;
}

/**
 * All entries of a block, decoded for iteration in both directions (scans and compaction, which
 * visit every entry anyway). Keys are copies; values are ranges of the block.
 */
export class DecodedBlock {
  readonly keys: Uint8Array[] = [];
  readonly kinds: number[] = [];
  readonly valueStarts: number[] = [];
  readonly valueEnds: number[] = [];

  constructor(readonly block: Uint8Array) {
    const restartsAt = restartArrayOffset(block);
    if (restartsAt < 0) throw new Error('malformed block trailer');
    let p = 0;
    let prev: Uint8Array = new Uint8Array(0);
    while (p < restartsAt) {
      const shared = readVarint(block, p, restartsAt);
      const unshared = readVarint(block, varintEnd, restartsAt);
      const kind = block[varintEnd] as number;
      const valueLength = readVarint(block, varintEnd + 1, restartsAt);
      const keyAt = varintEnd;
      if (shared < 0 || unshared < 0 || valueLength < 0 || shared > prev.length || keyAt + unshared + valueLength > restartsAt) {
        throw new Error(`malformed block entry at ${p}`);
      }
      const key = new Uint8Array(shared + unshared);
      key.set(prev.subarray(0, shared));
      key.set(block.subarray(keyAt, keyAt + unshared), shared);
      this.keys.push(key);
      this.kinds.push(kind);
      this.valueStarts.push(keyAt + unshared);
      this.valueEnds.push(keyAt + unshared + valueLength);
      prev = key;
      p = keyAt + unshared + valueLength;
    }
  }

  get length(): number {
    return this.keys.length;
  }
}

/**
 * A cursor over one block that decodes entries as it goes (LevelDB's Block::Iter): a seek binary-
 * searches the restart points and scans from one; moving back re-scans from the restart point
 * before the current entry. Nothing is allocated per entry: the key is rebuilt in a buffer, which
 * key() returns a view of, valid until the cursor moves.
 */
export class BlockIterator {
  private readonly restartsAt: number;
  private readonly restarts: number;
  /** Offset of the current entry, or -1 when not positioned. */
  private cur = -1;
  private next_ = 0;
  private keyBuf = new Uint8Array(64);
  private keyLen = 0;
  /**
   * A view of the current key, made by key() at most once per entry (it is called often per
   * entry), and only for entries someone asks about: a seek parses many entries it only compares
   * (profiled seekrandom at 1M keys: a view per parsed entry was most of parseAt's allocations).
   */
  private keyView: Uint8Array | null = null;
  kind = 0;
  valueStart = 0;
  valueEnd = 0;

  constructor(readonly block: Uint8Array) {
    this.restartsAt = restartArrayOffset(block);
    if (this.restartsAt < 0) throw new Error('malformed block trailer');
    this.restarts = (block.length - 4 - this.restartsAt) / 4;
  }

  valid(): boolean {
    return this.cur >= 0;
  }

  key(): Uint8Array {
    if (this.keyView === null) this.keyView = this.keyBuf.subarray(0, this.keyLen);
    return this.keyView;
  }

  private restartOffset(i: number): number {
    return readU32(this.block, this.restartsAt + 4 * i);
  }

  /** Decodes the entry at p (the key is rebuilt on the previous one); false past the end. */
  private parseAt(p: number): boolean {
    const b = this.block;
    const end = this.restartsAt;
    if (p >= end) {
      this.cur = -1;
      return false;
    }
    const shared = readVarint(b, p, end);
    const unshared = readVarint(b, varintEnd, end);
    const kind = b[varintEnd] as number;
    const valueLength = readVarint(b, varintEnd + 1, end);
    const keyAt = varintEnd;
    if (shared < 0 || unshared < 0 || valueLength < 0 || shared > this.keyLen || keyAt + unshared + valueLength > end) {
      throw new Error(`malformed block entry at ${p}`);
    }
    const len = shared + unshared;
    if (this.keyBuf.length < len) {
      const bigger = new Uint8Array(len * 2);
      bigger.set(this.keyBuf.subarray(0, shared));
      this.keyBuf = bigger;
    }
    const k = this.keyBuf;
    for (let j = 0; j < unshared; j++) k[shared + j] = b[keyAt + j] as number;
    this.keyLen = len;
    this.keyView = null;
    this.kind = kind;
    this.valueStart = keyAt + unshared;
    this.valueEnd = this.valueStart + valueLength;
    this.cur = p;
    this.next_ = this.valueEnd;
    return true;
  }

  private seekRestart(i: number): boolean {
    this.keyLen = 0;
    return this.parseAt(this.restartOffset(i));
  }

  seekFirst(): void {
    this.seekRestart(0);
  }

  seekLast(): void {
    this.seekRestart(this.restarts - 1);
    while (this.next_ < this.restartsAt) this.parseAt(this.next_);
  }

  next(): void {
    this.parseAt(this.next_);
  }

  prev(): void {
    const target = this.cur;
    let r = this.restarts - 1;
    while (r >= 0 && this.restartOffset(r) >= target) r--;
    if (r < 0) {
      this.cur = -1;
      return;
    }
    this.seekRestart(r);
    while (this.next_ < target) this.parseAt(this.next_);
  }

  /** To the first entry with key >= target (invalid if none). */
  seekGE(target: Uint8Array): void {
    let lo = 0;
    let hi = this.restarts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      this.seekRestart(mid);
      if (compareTo(this.keyBuf, this.keyLen, target, 0, target.length) < 0) lo = mid;
      else hi = mid - 1;
    }
    this.seekRestart(lo);
    while (this.cur >= 0 && compareTo(this.keyBuf, this.keyLen, target, 0, target.length) < 0) this.parseAt(this.next_);
  }

  /** To the last entry with key < target (invalid if none). */
  seekLT(target: Uint8Array): void {
    this.seekGE(target);
    if (this.cur >= 0) this.prev();
    else this.seekLast();
    if (this.cur >= 0 && compareTo(this.keyBuf, this.keyLen, target, 0, target.length) >= 0) this.cur = -1;
  }
}
