import type { Disk, DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { StorageCorruptionError } from '../errors.js';
import { compareBytes, readVarint, utf8Decode, varintEnd } from '../util/bytes.js';
import type { BlockCache, CachedBlocks } from './block-cache.js';
import { BlockIterator, blockGet, DecodedBlock, foundKind, foundValueEnd, foundValueStart, KIND_DELETE, KIND_PUT, restartArrayOffset } from './block-format.js';
import { blockedBloomMayContain, bloomMayContain } from './bloom.js';
import type { InternalIterator } from './iterator.js';
import { SortedKeys } from './sorted-keys.js';
import type { TableImages } from './table-images.js';
import {
  BLOCK_DATA,
  BLOCK_FILTER,
  BLOCK_INDEX,
  BLOCK_TRAILER_BYTES,
  checkBlock,
  checkBlockIn,
  decodeFooter,
  FORMAT_VERSION_CRC32C,
  FOOTER_BYTES,
  type Footer,
} from './table-format.js';

/** What Table.get found: a value or a tombstone (the value is a view valid until the next read). */
export interface TableHit {
  deleted: boolean;
  value: Uint8Array;
}

export interface TableReadStats {
  bloomChecks: number;
  bloomNegatives: number;
}

/**
 * An open SSTable: its footer, index and filter in memory, data blocks read on demand through the
 * block cache. Every block is verified (checksum and block type) before use; a bad one raises
 * StorageCorruptionError naming the file and the block's offset.
 */
export class Table implements CachedBlocks {
  /** Per data block, the last key in it: what the index search runs on. */
  private readonly index: SortedKeys;
  private readonly blocks: number;
  private readonly offsets: number[] = [];
  private readonly sizes: number[] = [];
  private readonly filter: Uint8Array | null;
  /** Per data block, its block-cache slot + 1 (0: not cached); the cache maintains it. */
  readonly cacheSlots: Int32Array;
  readonly entries: number;
  /** The table's format version (which checksum its blocks carry). */
  private readonly version: number;
  /**
   * The table's data blocks read whole (table-images.ts), or null; imageBlocks[i] is block i's
   * view once verified. Block-cache misses since open, counted towards imaging.
   */
  private image: Uint8Array | null = null;
  private imageBlocks: (Uint8Array | undefined)[] = [];
  private misses = 0;
  /** Iterators and reads in progress; the file closes only when none remain. */
  users = 0;
  private closeWhenUnused = false;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly fileNumber: number,
    private readonly file: DiskFile,
    private readonly cache: BlockCache,
    readonly stats: TableReadStats,
    footer: Footer,
    private readonly images: TableImages | null,
  ) {
    this.entries = footer.entries;
    this.version = footer.version;
    const index = this.readBlock(footer.indexOffset, footer.indexSize, BLOCK_INDEX);
    let decoded: DecodedBlock;
    try {
      decoded = new DecodedBlock(index);
      for (let i = 0; i < decoded.length; i++) {
        const h = decoded.valueStarts[i] as number;
        const offset = readVarint(index, h, decoded.valueEnds[i] as number);
        const size = readVarint(index, varintEnd, decoded.valueEnds[i] as number);
        if (offset < 0 || size < 0 || offset + size + BLOCK_TRAILER_BYTES > footer.indexOffset) throw new Error('block handle out of range');
        if (i > 0 && compareBytes(decoded.keys[i - 1] as Uint8Array, decoded.keys[i] as Uint8Array) >= 0) throw new Error('index keys out of order');
        this.offsets.push(offset);
        this.sizes.push(size);
      }
    } catch (err) {
      throw new StorageCorruptionError(path, footer.indexOffset, `index block: ${(err as Error).message}`);
    }
    if (decoded.length === 0) throw new StorageCorruptionError(path, footer.indexOffset, 'index block lists no data blocks');
    this.blocks = decoded.length;
    this.index = new SortedKeys(decoded.keys);
    this.cacheSlots = new Int32Array(this.blocks);
    this.filter = footer.filterSize > 0 ? this.readBlock(footer.filterOffset, footer.filterSize, BLOCK_FILTER) : null;
  }

  /** Opens and verifies a table's footer, index and filter. */
  static open(disk: Disk, path: string, fileNumber: number, cache: BlockCache, stats: TableReadStats, images: TableImages | null = null): Table {
    const file = disk.open(path, 'read');
    try {
      const size = file.size();
      const footer = decodeFooter(file.read(Math.max(0, size - FOOTER_BYTES), FOOTER_BYTES), size);
      if (typeof footer === 'string') throw new StorageCorruptionError(path, Math.max(0, size - FOOTER_BYTES), footer);
      return new Table(path, fileNumber, file, cache, stats, footer, file.readInto !== undefined ? images : null);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  get blockCount(): number {
    return this.blocks;
  }

  private readBlock(offset: number, size: number, type: number): Uint8Array {
    const raw = this.file.read(offset, size + BLOCK_TRAILER_BYTES);
    const bad = checkBlock(raw, size, type, this.version);
    if (bad !== null) throw new StorageCorruptionError(this.path, offset, bad);
    return raw.subarray(0, size);
  }

  /**
   * Data block i, from the cache or the file (verified). fillCache: keep it (not for compaction).
   * forIterator: the caller may hold the block after its next call.
   */
  dataBlock(i: number, fillCache: boolean, forIterator: boolean): Uint8Array {
    assert(!this.closed, 'Table: data block read after close');
    if (this.image !== null) return this.imageBlock(i);
    const cached = fillCache ? this.cache.get(this, i, forIterator) : this.cache.peek(this, i);
    if (cached !== undefined) return cached;
    // Only reads that fill the cache count: a compaction reads a table once, as it goes away.
    if (fillCache && this.images !== null && ++this.misses >= this.blocks / 8 && this.takeImage()) return this.imageBlock(i);
    const offset = this.offsets[i] as number;
    if (fillCache && this.file.readInto !== undefined) return this.readIntoCache(i, offset, this.sizes[i] as number, forIterator);
    const block = this.readBlock(offset, this.sizes[i] as number, BLOCK_DATA);
    if (restartArrayOffset(block) < 0) throw new StorageCorruptionError(this.path, offset, 'data block trailer is malformed');
    if (fillCache) this.cache.put(this, i, block, false);
    return block;
  }

  /**
   * Reads the data blocks whole into an image, if the budget has room; drops the table's blocks
   * from the block cache (the image serves them now). The blocks are verified as first used.
   */
  private takeImage(): boolean {
    const last = this.blocks - 1;
    const bytes = (this.offsets[last] as number) + (this.sizes[last] as number) + BLOCK_TRAILER_BYTES;
    const images = this.images as TableImages;
    const buf = images.take(bytes);
    if (buf === null) return false;
    let got: number;
    try {
      got = (this.file.readInto as NonNullable<DiskFile['readInto']>)(0, bytes, buf, 0);
    } catch (err) {
      images.giveBack(buf.buffer as ArrayBuffer);
      throw err;
    }
    if (got !== bytes) {
      images.giveBack(buf.buffer as ArrayBuffer);
      throw new StorageCorruptionError(this.path, got, `data blocks cut short: ${got} of ${bytes} bytes`);
    }
    this.image = buf;
    this.imageBlocks = new Array<Uint8Array | undefined>(this.blocks);
    this.cache.forget(this);
    return true;
  }

  /** Data block i from the image, verified at its first use. */
  private imageBlock(i: number): Uint8Array {
    const images = this.images as TableImages;
    images.reads++;
    const known = this.imageBlocks[i];
    if (known !== undefined) return known;
    const offset = this.offsets[i] as number;
    const size = this.sizes[i] as number;
    const image = this.image as Uint8Array;
    let bad = checkBlock(image.subarray(offset, offset + size + BLOCK_TRAILER_BYTES), size, BLOCK_DATA, this.version);
    const block = image.subarray(offset, offset + size);
    if (bad === null && restartArrayOffset(block) < 0) bad = 'data block trailer is malformed';
    if (bad !== null) throw new StorageCorruptionError(this.path, offset, bad);
    this.imageBlocks[i] = block;
    return block;
  }

  /** A cache miss: reads the block into a buffer the cache hands out (reused where it can). */
  private readIntoCache(i: number, offset: number, size: number, forIterator: boolean): Uint8Array {
    const buf = this.cache.takeBuffer(size + BLOCK_TRAILER_BYTES);
    let bad: string | null;
    try {
      const got = (this.file.readInto as NonNullable<DiskFile['readInto']>)(offset, size + BLOCK_TRAILER_BYTES, buf, 0);
      bad = checkBlockIn(buf, got, size, BLOCK_DATA, this.version);
    } catch (err) {
      this.cache.giveBack(buf.buffer as ArrayBuffer);
      throw err;
    }
    const block = buf.subarray(0, size);
    if (bad === null && restartArrayOffset(block) < 0) bad = 'data block trailer is malformed';
    if (bad !== null) {
      this.cache.giveBack(buf.buffer as ArrayBuffer);
      throw new StorageCorruptionError(this.path, offset, bad);
    }
    this.cache.put(this, i, block, true, forIterator);
    return block;
  }

  /** Index of the first data block whose last key is >= key, or blockCount if none. */
  findBlock(key: Uint8Array): number {
    return this.index.lowerBound(key);
  }

  /**
   * Looks key up (hash: its bloomHash). Returns null when the table has no entry for it, else the
   * entry (a value or a tombstone).
   */
  get(key: Uint8Array, hash: number, out: TableHit): TableHit | null {
    if (this.filter !== null) {
      this.stats.bloomChecks++;
      // Format 2 tables carry a blocked filter, format 1 tables a standard one.
      if (this.version === FORMAT_VERSION_CRC32C ? !bloomMayContain(this.filter, hash) : !blockedBloomMayContain(this.filter, hash)) {
        this.stats.bloomNegatives++;
        return null;
      }
    }
    const i = this.findBlock(key);
    if (i >= this.blocks) return null;
    const block = this.dataBlock(i, true, false);
    let found: boolean;
    try {
      found = blockGet(block, restartArrayOffset(block), key);
    } catch (err) {
      throw new StorageCorruptionError(this.path, this.offsets[i] as number, `data block: ${(err as Error).message}`);
    }
    if (!found) return null;
    if (foundKind !== KIND_PUT && foundKind !== KIND_DELETE) throw new StorageCorruptionError(this.path, this.offsets[i] as number, `entry of unknown kind ${foundKind}`);
    out.deleted = foundKind === KIND_DELETE;
    out.value = block.subarray(foundValueStart, foundValueEnd);
    return out;
  }

  /** An iterator holding the table open until its close(). */
  iterator(fillCache: boolean): TableIterator {
    this.acquire();
    return new TableIterator(this, fillCache);
  }

  /** A cursor over data block i (read and verified through the cache). */
  blockIterator(i: number, fillCache: boolean): BlockIterator {
    const block = this.dataBlock(i, fillCache, true);
    try {
      return new BlockIterator(block);
    } catch (err) {
      throw this.corruption(i, err as Error);
    }
  }

  /** An iterator lets go of a block it had from blockIterator() (its buffer may be reused). */
  releaseBlock(block: Uint8Array): void {
    this.cache.release(block);
  }

  /** A corruption error for data block i. */
  corruption(i: number, err: Error): StorageCorruptionError {
    if (err instanceof StorageCorruptionError) return err;
    return new StorageCorruptionError(this.path, this.offsets[i] as number, `data block: ${err.message}`);
  }

  /** Closes now if unused, else when the last user lets go. */
  close(): void {
    this.closeWhenUnused = true;
    if (this.users === 0 && !this.closed) {
      this.closed = true;
      this.cache.forget(this);
      if (this.image !== null) {
        // No reader holds a view of it: iterators hold the table open, point reads return first.
        (this.images as TableImages).giveBack(this.image.buffer as ArrayBuffer);
        this.image = null;
        this.imageBlocks = [];
      }
      this.file.close();
    }
  }

  acquire(): void {
    assert(!this.closed, () => `Table ${this.path} used after close`);
    this.users++;
  }

  release(): void {
    assert(this.users > 0, 'Table.release without acquire');
    this.users--;
    if (this.users === 0 && this.closeWhenUnused) this.close();
  }
}

/** Iterates one table's entries in both directions, block by block. */
export class TableIterator implements InternalIterator {
  private blockIndex = -1;
  private block: BlockIterator | null = null;
  private closed = false;

  constructor(
    private readonly table: Table,
    private readonly fillCache: boolean,
  ) {}

  private load(index: number): BlockIterator | null {
    this.dropBlock();
    if (index < 0 || index >= this.table.blockCount) return null;
    this.blockIndex = index;
    this.block = this.table.blockIterator(index, this.fillCache);
    return this.block;
  }

  /** Lets go of the current block: from here on nothing reads it (see BlockCache.release). */
  private dropBlock(): void {
    if (this.block === null) return;
    const b = this.block.block;
    this.block = null;
    this.table.releaseBlock(b);
  }

  /** Runs a move of the block cursor, turning a malformed entry into a corruption error. */
  private guard(move: (b: BlockIterator) => void): void {
    try {
      move(this.block as BlockIterator);
    } catch (err) {
      throw this.table.corruption(this.blockIndex, err as Error);
    }
  }

  valid(): boolean {
    return this.block !== null && this.block.valid();
  }

  key(): Uint8Array {
    return (this.block as BlockIterator).key();
  }

  keyString(): string {
    return utf8Decode(this.key());
  }

  isDelete(): boolean {
    return (this.block as BlockIterator).kind === KIND_DELETE;
  }

  value(): Uint8Array {
    const b = this.block as BlockIterator;
    return b.block.subarray(b.valueStart, b.valueEnd);
  }

  valueString(): string {
    const b = this.block as BlockIterator;
    return utf8Decode(b.block, b.valueStart, b.valueEnd);
  }

  seekFirst(): void {
    if (this.load(0) !== null) this.guard((b) => b.seekFirst());
    this.skipForward();
  }

  seekLast(): void {
    if (this.load(this.table.blockCount - 1) !== null) this.guard((b) => b.seekLast());
    this.skipBackward();
  }

  seekGE(target: Uint8Array): void {
    if (this.load(this.table.findBlock(target)) !== null) this.guard((b) => b.seekGE(target));
    this.skipForward();
  }

  seekLT(target: Uint8Array): void {
    const bi = this.table.findBlock(target);
    if (bi >= this.table.blockCount) return this.seekLast();
    if (this.load(bi) !== null) this.guard((b) => b.seekLT(target));
    this.skipBackward();
  }

  next(): void {
    this.guard((b) => b.next());
    this.skipForward();
  }

  prev(): void {
    this.guard((b) => b.prev());
    this.skipBackward();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropBlock();
    this.table.release();
  }

  /** Past the end of a block: to the first entry of the next. */
  private skipForward(): void {
    while (this.block !== null && !this.block.valid()) {
      if (this.load(this.blockIndex + 1) !== null) this.guard((b) => b.seekFirst());
    }
  }

  /** Before the start of a block: to the last entry of the previous. */
  private skipBackward(): void {
    while (this.block !== null && !this.block.valid()) {
      if (this.load(this.blockIndex - 1) !== null) this.guard((b) => b.seekLast());
    }
  }
}
