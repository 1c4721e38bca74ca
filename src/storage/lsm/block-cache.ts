import { assert } from '../../util/assert.js';

/** Most evicted buffers kept for reuse (about 1.3 MB of 5 KiB buffers). */
const SPARE_BUFFERS_MAX = 256;

/** Buffers are handed out in multiples of this, so that an evicted block's buffer fits the next. */
export const BUFFER_GRAIN_BYTES = 1024;

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
 * Buffers: an evicted block whose buffer came from takeBuffer() and that no reader outside the
 * cache can hold (see `reusable`) gives its buffer back, so a miss reads into a reused buffer
 * instead of allocating one (an allocation of 4 KiB off the V8 heap, and the collections it
 * triggers, cost about 1 µs).
 *
 * Keys combine the table's file number and the block's index in it: fileNumber * 2^24 + index,
 * exact in a double while file numbers stay below 2^29 and tables below 2^24 blocks (asserted).
 */
export class BlockCache {
  private readonly slots = new Map<number, number>();
  private readonly keys: number[] = [];
  private readonly blocks: (Uint8Array | null)[] = [];
  /** Per slot: 1 = referenced since the hand last passed. */
  private refs = new Uint8Array(64);
  /**
   * Per slot: 1 = the block's buffer came from takeBuffer() and has never been handed to an
   * iterator, so it can be reused once evicted. An iterator may hold its block after the eviction;
   * a point read uses a block only until it returns.
   */
  private reusable = new Uint8Array(64);
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

  static key(fileNumber: number, blockIndex: number): number {
    assert(fileNumber < 2 ** 29 && blockIndex < 2 ** 24, () => `BlockCache: key out of range (${fileNumber}, ${blockIndex})`);
    return fileNumber * 16777216 + blockIndex;
  }

  get bytes(): number {
    return this.bytes_;
  }

  get entries(): number {
    return this.slots.size;
  }

  /** The cached block, or undefined. exposeToIterator: the caller may keep it past its next call. */
  get(key: number, exposeToIterator = false): Uint8Array | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.refs[slot] = 1;
    if (exposeToIterator) this.reusable[slot] = 0;
    return this.blocks[slot] as Uint8Array;
  }

  /**
   * Caches a verified block (replacing any block under key). reusable: its buffer came from
   * takeBuffer() and no iterator holds it. A block larger than the whole budget is not cached.
   */
  put(key: number, block: Uint8Array, reusable: boolean): void {
    if (block.length > this.capacityBytes) return;
    const old = this.slots.get(key);
    if (old !== undefined) this.evict(old);
    while (this.bytes_ + block.length > this.capacityBytes) this.evictOne();
    const slot = this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.newSlot();
    this.slots.set(key, slot);
    this.keys[slot] = key;
    this.blocks[slot] = block;
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

  private newSlot(): number {
    const slot = this.keys.length;
    this.keys.push(0);
    this.blocks.push(null);
    if (slot >= this.refs.length) {
      const refs = new Uint8Array(this.refs.length * 2);
      refs.set(this.refs);
      this.refs = refs;
      const reusable = new Uint8Array(this.reusable.length * 2);
      reusable.set(this.reusable);
      this.reusable = reusable;
    }
    return slot;
  }

  /** Advances the hand to the first entry not referenced since its last pass, and evicts it. */
  private evictOne(): void {
    assert(this.slots.size > 0, 'BlockCache: nothing to evict while over budget');
    for (;;) {
      if (this.hand >= this.keys.length) this.hand = 0;
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
    assert(this.slots.delete(this.keys[slot] as number), 'BlockCache: slot not indexed');
    this.blocks[slot] = null;
    this.freeSlots.push(slot);
    this.bytes_ -= block.length;
    this.evictions++;
    if (this.reusable[slot] === 1) this.giveBack(block.buffer as ArrayBuffer);
  }
}
