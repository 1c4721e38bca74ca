import { assert } from '../../util/assert.js';

/**
 * Image buffers are sized in multiples of this, so that a closed table's buffer fits the next
 * (tables are cut at about targetFileBytes, 2 MiB at the defaults); small tables in 4 KiB pages.
 */
const IMAGE_GRAIN_BYTES = 64 * 1024;
const SMALL_IMAGE_GRAIN_BYTES = 4096;

/** Most buffers of closed tables kept for reuse (each about a table: 2 MiB at the defaults). */
const SPARE_IMAGES_MAX = 4;

/**
 * The byte budget of table images: tables read whole into memory once and served from there, with
 * no read per block (LevelDB serves uncompressed tables from mmap the same way, lmdb its whole
 * file; Node has no mmap, so the image is one read into a buffer).
 *
 * Why: on this project's machines (virtualized) a pread of a 4 KiB block costs 4-7 µs however few
 * bytes it asks (64 B: 4.4 µs, 4352 B: 6.5 µs, `node /tmp/rs.mjs` in the lsmread notes, load 13),
 * while a block-cache hit costs well under 1 µs. Random reads of a tree larger than the block
 * cache miss in proportion to what does not fit (at 1M keys, 32 MiB of cache for ~100 MB of
 * tables: 60-70% of lookups), so the pread was most of a read's time, where LevelDB and lmdb pay
 * none. A table image costs its bytes once; the block cache stays for the tables that do not fit.
 *
 * Admission, not eviction: a table is imaged once its block-cache misses reach an eighth of its
 * blocks (the image's one read then costs less than the misses it saves) and only if its bytes fit
 * the budget; an image is dropped only when its table closes (obsolete after a compaction, or
 * closed by the table cache). So a budget smaller than the tree never thrashes: images go to the
 * tables that missed first, and compaction outputs take over the budget of the tables they replace.
 *
 * Only disks whose files have readInto (the real one) get images: the simulated disk injects
 * corruption into stored bytes at any moment, and an image taken before would hide it, changing
 * what a simulated run sees (the block cache hides it the same way, but only for its few blocks).
 */
export class TableImages {
  private bytes_ = 0;
  private readonly spare: ArrayBuffer[] = [];
  /** Tables imaged since open, and block reads served from images. */
  imaged = 0;
  reads = 0;

  constructor(readonly capacityBytes: number) {
    assert(capacityBytes >= 0, 'TableImages: capacity must be non-negative');
  }

  /** Bytes of the images held now. */
  get bytes(): number {
    return this.bytes_;
  }

  /**
   * A buffer of at least bytes charged to the budget, or null if it does not fit. Return it with
   * giveBack() once no reader can see it (its table closed).
   */
  take(bytes: number): Uint8Array | null {
    const grain = bytes >= 16 * IMAGE_GRAIN_BYTES ? IMAGE_GRAIN_BYTES : SMALL_IMAGE_GRAIN_BYTES;
    const size = Math.ceil(bytes / grain) * grain;
    // Reuse a closed table's buffer (up to an eighth larger): a fresh one costs a page fault per
    // 4 KiB when first written, and these are the costly system calls images are there to save.
    for (let i = 0; i < this.spare.length; i++) {
      const b = this.spare[i] as ArrayBuffer;
      if (b.byteLength >= size && b.byteLength <= size + size / 8 && this.bytes_ + b.byteLength <= this.capacityBytes) {
        this.spare.splice(i, 1);
        this.bytes_ += b.byteLength;
        this.imaged++;
        return new Uint8Array(b);
      }
    }
    if (this.bytes_ + size > this.capacityBytes) return null;
    this.bytes_ += size;
    this.imaged++;
    return new Uint8Array(size);
  }

  /** Releases a buffer from take() (its bytes leave the budget). */
  giveBack(buffer: ArrayBuffer): void {
    assert(this.bytes_ >= buffer.byteLength, 'TableImages.giveBack: more than was taken');
    this.bytes_ -= buffer.byteLength;
    if (this.spare.length >= SPARE_IMAGES_MAX) this.spare.shift();
    this.spare.push(buffer);
  }
}
