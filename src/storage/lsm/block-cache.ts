import { assert } from '../../util/assert.js';

/**
 * An LRU cache of verified table blocks with a byte budget (LevelDB's block cache). A block enters
 * after its checksum passed, so a hit is served without verifying again; misses read and verify.
 * The Map's insertion order is the recency order: a hit moves the block to the end, eviction
 * takes from the front.
 *
 * Keys combine the table's file number and the block's index in it: fileNumber * 2^24 + index,
 * exact in a double while file numbers stay below 2^29 and tables below 2^24 blocks (asserted).
 */
export class BlockCache {
  private readonly blocks = new Map<number, Uint8Array>();
  private bytes_ = 0;
  hits = 0;
  misses = 0;

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

  get(key: number): Uint8Array | undefined {
    const b = this.blocks.get(key);
    if (b === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.blocks.delete(key);
    this.blocks.set(key, b);
    return b;
  }

  put(key: number, block: Uint8Array): void {
    if (block.length > this.capacityBytes) return;
    const old = this.blocks.get(key);
    if (old !== undefined) {
      this.bytes_ -= old.length;
      this.blocks.delete(key);
    }
    this.blocks.set(key, block);
    this.bytes_ += block.length;
    for (const [k, b] of this.blocks) {
      if (this.bytes_ <= this.capacityBytes) break;
      this.blocks.delete(k);
      this.bytes_ -= b.length;
    }
  }
}
