import type { Disk } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import type { BlockCache } from './block-cache.js';
import { tablePath } from './files.js';
import { Table, type TableReadStats } from './table.js';
import type { TableImages } from './table-images.js';
import type { FileMeta } from './version.js';

/**
 * Keeps up to `capacity` tables open (file handle, index and filter in memory), LevelDB's table
 * cache. The open table hangs off its FileMeta, so a read reaches it without a lookup. Eviction is
 * the clock algorithm: each read marks the file; the hand clears marks and closes the first
 * unmarked table no reader holds. Tables held by iterators are never closed under them.
 */
export class TableCache {
  private readonly ring: FileMeta[] = [];
  private hand = 0;
  opens = 0;

  constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly blockCache: BlockCache,
    private readonly capacity: number,
    readonly stats: TableReadStats,
    readonly images: TableImages | null = null,
  ) {
    assert(capacity >= 1, 'TableCache: capacity must be at least 1');
  }

  /** The open table of f (opening it if needed). Throws StorageCorruptionError for a bad table. */
  table(f: FileMeta): Table {
    f.touched = true;
    if (f.table !== null) return f.table;
    const t = Table.open(this.disk, tablePath(this.dir, f.number), f.number, this.blockCache, this.stats, this.images);
    this.opens++;
    f.table = t;
    this.ring.push(f);
    if (this.ring.length > this.capacity) this.evictOne(f);
    return t;
  }

  /** Closes f's table for good (the file is obsolete). */
  forget(f: FileMeta): void {
    const i = this.ring.indexOf(f);
    if (i >= 0) this.removeAt(i);
  }

  closeAll(): void {
    while (this.ring.length > 0) this.removeAt(this.ring.length - 1);
  }

  get openCount(): number {
    return this.ring.length;
  }

  private evictOne(spare: FileMeta): void {
    for (let scanned = 0; scanned < 2 * this.ring.length; scanned++) {
      if (this.hand >= this.ring.length) this.hand = 0;
      const f = this.ring[this.hand] as FileMeta;
      if (f !== spare && !f.touched && (f.table as Table).users === 0) {
        this.removeAt(this.hand);
        return;
      }
      f.touched = false;
      this.hand++;
    }
    // Every table is in use: stay over capacity until one is released.
  }

  private removeAt(i: number): void {
    const f = this.ring[i] as FileMeta;
    this.ring.splice(i, 1);
    if (this.hand > i) this.hand--;
    f.table?.close();
    f.table = null;
  }
}
