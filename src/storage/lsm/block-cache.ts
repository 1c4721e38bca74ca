import { assert } from '../../util/assert.js';

/** A table as the cache sees it: per data block, its cache slot + 1, or 0 when not cached. */
export interface CachedBlocks {
  readonly cacheSlots: Int32Array;
}

/** Most evicted buffers kept for reuse (about 1.1 MB of 4.25 KiB buffers). */
const SPARE_BUFFERS_MAX = 256;

/**
 * Buffers are handed out in multiples of this, so that an evicted block's buffer fits the next:
 * blocks are cut once they reach blockBytes, so most are a little over it (4101 to 4352 bytes with
 * their trailer at the defaults, one class). The cache charges a block its length, as LevelDB's
 * does; the rounding wastes at most this much per block on top (6% at 4 KiB blocks).
 */
export const BUFFER_GRAIN_BYTES = 256;

/**
 * A cache of verified table blocks with a byte budget (LevelDB's block cache), evicting by the
 * CLOCK algorithm (Corbató 1968; the approximation of LRU that operating systems use for pages): a
 * hit only sets the entry's reference bit, and the hand, sweeping the entries in a ring, clears set
 * bits and evicts the first entry whose bit is clear. A block enters with its bit clear, so a block
 * read once and never again (a scan's) goes before one that was hit.
 *
 * Why not an LRU list: the previous cache kept recency in a Map's insertion order, moving the entry
 * on every hit (a delete and a set) and evicting from the front. V8's ordered hash table leaves a
 * hole per delete until it rehashes, and iteration from the front steps over every hole, so each
 * eviction cost grew with the deletes before it: profiled at 1M keys (readrandom, 73% misses), the
 * cache's put took 12% of the time, about 2.7 µs per miss. Here a hit is a Map lookup and a store.
 *
 * Buffers: an evicted block whose buffer came from takeBuffer() gives its buffer back, so a miss
 * reads into a reused buffer instead of allocating one (an allocation of 4 KiB off the V8 heap,
 * and the collections it triggers, cost about 1 µs): at once if no reader outside the cache holds
 * it, else when the last iterator holding it lets go (see `reusable` and `holders`).
 *
 * Lookups need no hashing: each open table owns an array with a cell per data block holding the
 * block's cache slot (+1; 0 = not cached), so a lookup is two array reads. (Before, a Map keyed
 * by fileNumber * 2^24 + index, a double V8 hashes as a heap number: 4% of a random read's time.)
 * A table that closes drops its blocks (forget()): a reopened table, or an obsolete one, would
 * never look them up again.
 */
export class BlockCache {
  private entries_ = 0;
  /** Per slot: the table whose block it holds, and the block's index in it. */
  private readonly owners: (CachedBlocks | null)[] = [];
  private blockIndexes = new Int32Array(64);
  private readonly blocks: (Uint8Array | null)[] = [];
  /** Per slot: 1 = referenced since the hand last passed. */
  private refs = new Uint8Array(64);
  /**
   * Per slot: 1 = the block's buffer came from takeBuffer() and no reader that keeps blocks
   * without saying when it lets go (compaction's peek) has seen it, so it can be reused once
   * evicted and no iterator holds it. A point read uses a block only until it returns.
   */
  private reusable = new Uint8Array(64);
  /**
   * Iterators holding each reusable buffer (hold()/release()). A buffer evicted while held goes
   * to evictedHeld and is reused when the last holder lets go. Weak, so that an iterator that is
   * never closed only keeps its buffer from reuse (as every iterator's did before), and retains
   * nothing. Why: seekrandom at 1M keys spent 14.5% of its time allocating block buffers, because
   * every block an iterator had seen was never reused.
   */
  private readonly holders = new WeakMap<ArrayBuffer, number>();
  private readonly evictedHeld = new WeakSet<ArrayBuffer>();
  private readonly freeSlots: number[] = [];
  private hand = 0;
  private bytes_ = 0;
  private readonly spare = new Map<number, ArrayBuffer[]>();
  private spareCount = 0;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(readonly capacityBytes: number) {
    assert(capacityBytes >= 0, 'BlockCache: capacity must be non-negative');
  }

  get bytes(): number {
    return this.bytes_;
  }

  get entries(): number {
    return this.entries_;
  }

  /**
   * Block i of owner, or undefined. forIterator: the caller keeps it past its next call, and
   * calls release(block) once it lets go of it.
   */
  get(owner: CachedBlocks, i: number, forIterator = false): Uint8Array | undefined {
    const slot = (owner.cacheSlots[i] as number) - 1;
    if (slot < 0) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.refs[slot] = 1;
    const block = this.blocks[slot] as Uint8Array;
    if (forIterator && this.reusable[slot] === 1) this.hold(block.buffer as ArrayBuffer);
    return block;
  }

  /** Marks a reusable buffer as held by one more iterator (which will release() it). */
  private hold(buffer: ArrayBuffer): void {
    this.holders.set(buffer, (this.holders.get(buffer) ?? 0) + 1);
  }

  /**
   * An iterator lets go of a block it had from get(…, true) or put(…, held = true); its buffer is
   * reused if the block was evicted meanwhile and no other iterator holds it. No effect on blocks
   * that were never held.
   */
  release(block: Uint8Array): void {
    const buffer = block.buffer as ArrayBuffer;
    const n = this.holders.get(buffer);
    if (n === undefined) return;
    assert(n >= 1, 'BlockCache.release: hold count below one');
    if (n > 1) {
      this.holders.set(buffer, n - 1);
      return;
    }
    this.holders.delete(buffer);
    if (this.evictedHeld.delete(buffer)) this.giveBack(buffer);
  }

  /**
   * Block i of owner, or undefined, for a reader that does not fill the cache (compaction): it
   * neither counts as a hit or miss nor marks the block as used, so a compaction passing over the
   * whole tree leaves the cache's contents and figures to the reads. The caller may keep the block.
   */
  peek(owner: CachedBlocks, i: number): Uint8Array | undefined {
    const slot = (owner.cacheSlots[i] as number) - 1;
    if (slot < 0) return undefined;
    this.reusable[slot] = 0;
    return this.blocks[slot] as Uint8Array;
  }

  /**
   * Caches a verified block as block i of owner (replacing any). reusable: its buffer came from
   * takeBuffer() and nothing else holds it. held: the caller is an iterator that keeps the block
   * and will release() it (only with reusable). A block larger than the whole budget is not cached
   * (a held one is then released by the caller to no effect, and left to the collector).
   */
  put(owner: CachedBlocks, i: number, block: Uint8Array, reusable: boolean, held = false): void {
    assert(i >= 0 && i < owner.cacheSlots.length, () => `BlockCache.put: block ${i} of ${owner.cacheSlots.length}`);
    assert(!held || reusable, 'BlockCache.put: only a reusable block is held');
    if (block.length > this.capacityBytes) return;
    if (held) this.hold(block.buffer as ArrayBuffer);
    const old = (owner.cacheSlots[i] as number) - 1;
    if (old >= 0) this.evict(old);
    while (this.bytes_ + block.length > this.capacityBytes) this.evictOne();
    const slot = this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.newSlot();
    owner.cacheSlots[i] = slot + 1;
    this.owners[slot] = owner;
    this.blockIndexes[slot] = i;
    this.blocks[slot] = block;
    this.entries_++;
    this.refs[slot] = 0;
    this.reusable[slot] = reusable ? 1 : 0;
    this.bytes_ += block.length;
    assert(this.bytes_ <= this.capacityBytes, 'BlockCache.put: over budget after eviction');
  }

  /**
   * A buffer of at least bytes (a multiple of BUFFER_GRAIN_BYTES), reused from an evicted block
   * when one of that size is spare. Give it back with giveBack() if it is not put in the cache.
   */
  takeBuffer(bytes: number): Uint8Array {
    const size = Math.ceil(bytes / BUFFER_GRAIN_BYTES) * BUFFER_GRAIN_BYTES;
    const list = this.spare.get(size);
    if (list !== undefined && list.length > 0) {
      this.spareCount--;
      return new Uint8Array(list.pop() as ArrayBuffer);
    }
    return new Uint8Array(size);
  }

  /** Returns a buffer from takeBuffer() that no one holds any more. */
  giveBack(buffer: ArrayBuffer): void {
    const size = buffer.byteLength;
    if (this.spareCount >= SPARE_BUFFERS_MAX || size % BUFFER_GRAIN_BYTES !== 0) return;
    let list = this.spare.get(size);
    if (list === undefined) this.spare.set(size, (list = []));
    list.push(buffer);
    this.spareCount++;
  }

  /** Drops every cached block of owner (a table that closes). */
  forget(owner: CachedBlocks): void {
    const slots = owner.cacheSlots;
    for (let i = 0; i < slots.length; i++) if ((slots[i] as number) > 0) this.evict((slots[i] as number) - 1);
  }

  private newSlot(): number {
    const slot = this.blocks.length;
    this.owners.push(null);
    this.blocks.push(null);
    if (slot >= this.refs.length) {
      const n = this.refs.length * 2;
      const grow = <T extends Uint8Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
      this.refs = grow(this.refs, new Uint8Array(n));
      this.reusable = grow(this.reusable, new Uint8Array(n));
      this.blockIndexes = grow(this.blockIndexes, new Int32Array(n));
    }
    return slot;
  }

  /** Advances the hand to the first entry not referenced since its last pass, and evicts it. */
  private evictOne(): void {
    assert(this.entries_ > 0, 'BlockCache: nothing to evict while over budget');
    for (;;) {
      if (this.hand >= this.blocks.length) this.hand = 0;
      const slot = this.hand++;
      if (this.blocks[slot] === null) continue;
      if (this.refs[slot] === 1) {
        this.refs[slot] = 0;
        continue;
      }
      this.evict(slot);
      return;
    }
  }

  private evict(slot: number): void {
    const block = this.blocks[slot] as Uint8Array;
    const owner = this.owners[slot] as CachedBlocks;
    const i = this.blockIndexes[slot] as number;
    assert(owner.cacheSlots[i] === slot + 1, 'BlockCache: slot not indexed by its owner');
    owner.cacheSlots[i] = 0;
    this.owners[slot] = null;
    this.blocks[slot] = null;
    this.entries_--;
    this.freeSlots.push(slot);
    this.bytes_ -= block.length;
    this.evictions++;
    if (this.reusable[slot] === 1) {
      const buffer = block.buffer as ArrayBuffer;
      if (this.holders.has(buffer)) this.evictedHeld.add(buffer);
      else this.giveBack(buffer);
    }
  }
}
