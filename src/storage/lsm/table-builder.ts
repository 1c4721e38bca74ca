import type { DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { ByteWriter, compareBytes } from '../util/bytes.js';
import { BlockedBloomBuilder, bloomHash } from './bloom.js';
import { BlockBuilder, KIND_PUT } from './block-format.js';
import {
  BLOCK_DATA,
  BLOCK_FILTER,
  BLOCK_INDEX,
  BLOCK_TRAILER_BYTES,
  encodeFooter,
  TABLE_BYTES_MAX,
  writeBlock,
} from './table-format.js';

export interface TableBuildOptions {
  blockBytes: number;
  restartInterval: number;
  /** 0: no filter. */
  bloomBitsPerKey: number;
}

export interface BuiltTable {
  sizeBytes: number;
  entries: number;
  smallest: Uint8Array;
  largest: Uint8Array;
}

/** Output is handed to the file in chunks of about this size: fewer system calls. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Writes one SSTable (table-format.ts) from keys added in strictly increasing order. The bytes go
 * to the file (the page cache) as they are produced; the caller fsyncs the file when it is done.
 */
export class TableBuilder {
  private readonly data: BlockBuilder;
  private readonly index = new BlockBuilder(1);
  private readonly bloom: BlockedBloomBuilder | null;
  private readonly pending = new ByteWriter(CHUNK_BYTES + 8192);
  private offset = 0;
  /** The last key added, in a reused buffer (copied out only at block ends and at finish). */
  private lastKey = new Uint8Array(64);
  private lastKeyLength = -1;
  private smallest: Uint8Array | null = null;
  private entries = 0;
  private finished = false;
  private readonly handle = new ByteWriter(16);

  constructor(
    private readonly file: DiskFile,
    private readonly options: TableBuildOptions,
  ) {
    assert(options.blockBytes >= 64, 'TableBuilder: blocks must be at least 64 bytes');
    this.data = new BlockBuilder(options.restartInterval);
    this.bloom = options.bloomBitsPerKey > 0 ? new BlockedBloomBuilder(options.bloomBitsPerKey) : null;
  }

  /** Bytes of the table so far, including the unfinished block. */
  sizeEstimate(): number {
    return this.offset + this.pending.length + this.data.sizeEstimate();
  }

  get entryCount(): number {
    return this.entries;
  }

  /** REQUIRES: key sorts strictly after the previous key. */
  add(key: Uint8Array, kind: number, value: Uint8Array, valueStart = 0, valueEnd = value.length): void {
    assert(!this.finished, 'TableBuilder.add after finish');
    assert(this.lastKeyLength < 0 || compareBytes(this.lastKey.subarray(0, this.lastKeyLength), key) < 0, 'TableBuilder.add: keys must be strictly increasing');
    if (this.smallest === null) this.smallest = key.slice();
    this.data.add(key, kind, value, valueStart, valueEnd);
    this.bloom?.add(bloomHash(key));
    if (this.lastKey.length < key.length) this.lastKey = new Uint8Array(key.length * 2);
    this.lastKey.set(key);
    this.lastKeyLength = key.length;
    this.entries++;
    if (this.data.sizeEstimate() >= this.options.blockBytes) this.finishDataBlock();
  }

  private finishDataBlock(): void {
    if (this.data.empty()) return;
    const at = this.offset + this.pending.length;
    const contents = this.data.finish();
    writeBlock(this.pending, contents, BLOCK_DATA);
    this.handle.reset();
    this.handle.varint(at);
    this.handle.varint(contents.length);
    this.index.add(this.lastKey.subarray(0, this.lastKeyLength), KIND_PUT, this.handle.written());
    this.data.reset();
    if (this.pending.length >= CHUNK_BYTES) this.writePending();
  }

  private writePending(): void {
    if (this.pending.length === 0) return;
    this.file.append(this.pending.written());
    this.offset += this.pending.length;
    this.pending.reset();
  }

  /** Writes the filter, index and footer. REQUIRES: at least one entry. */
  finish(): BuiltTable {
    assert(this.entries > 0 && this.smallest !== null, 'TableBuilder.finish: empty table');
    this.finishDataBlock();
    let filterOffset = 0;
    let filterSize = 0;
    if (this.bloom !== null) {
      const filter = this.bloom.finish();
      filterOffset = this.offset + this.pending.length;
      filterSize = filter.length;
      writeBlock(this.pending, filter, BLOCK_FILTER);
    }
    const indexOffset = this.offset + this.pending.length;
    const index = this.index.finish();
    writeBlock(this.pending, index, BLOCK_INDEX);
    this.pending.bytes(encodeFooter({ filterOffset, filterSize, indexOffset, indexSize: index.length, entries: this.entries }));
    this.writePending();
    this.finished = true;
    assert(this.offset <= TABLE_BYTES_MAX, 'TableBuilder: table larger than 4 GiB');
    assert(indexOffset + index.length + BLOCK_TRAILER_BYTES <= this.offset, 'TableBuilder: index past the end');
    return { sizeBytes: this.offset, entries: this.entries, smallest: this.smallest, largest: this.lastKey.slice(0, this.lastKeyLength) };
  }
}
