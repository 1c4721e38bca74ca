import { assert } from '../../util/assert.js';
import type { WriteOp } from '../batch.js';
import { compareKeys } from '../keys.js';
import { utf8Decode, utf8Encode, utf8EncodeInto } from '../util/bytes.js';
import { BTree, type BTreeCursor, type BTreeView } from '../util/btree.js';
import type { InternalIterator } from './iterator.js';

/** A memtable value: the string, or null for a tombstone. */
export type MemValue = string | null;

/** Estimated bytes an entry holds beyond its characters (tree slot, string headers). */
const ENTRY_OVERHEAD_BYTES = 32;

/** What a batch adds to a memtable's size estimate at most (its code units from checkBatch). */
export function memtableBytesOf(ops: readonly WriteOp[], codeUnits: number): number {
  return codeUnits + ENTRY_OVERHEAD_BYTES * ops.length;
}

/**
 * A memtable entry. The tree and the hash index share it, so that a write to a key already here
 * changes it in place instead of searching the tree again: most writes of a running node are such
 * overwrites (its applied index and sessions on every batch; hot keys), and a search of a tree of
 * tens of thousands of keys misses the CPU cache at every level. An entry some snapshot may see is
 * never changed: `epoch` says which view() last preceded it (see Memtable.apply).
 */
export interface MemEntry {
  value: MemValue;
  readonly epoch: number;
}

/** A frozen view of a memtable, for snapshots. */
export type MemView = BTreeView<string, MemEntry>;

/**
 * The sorted in-memory table that takes writes before they reach a table file. It keeps only the
 * newest value of each key: snapshots do not need old versions here, because a snapshot holds a
 * frozen copy-on-write view of the tree instead (btree.ts). A tombstone stays as an entry, since it
 * must hide older values in the tables below.
 *
 * `lastLsn` is the LSN of the newest WAL record applied; once this memtable is in a table, every
 * record up to it is, and the WAL before it may go.
 */
export class Memtable {
  readonly tree = new BTree<string, MemEntry>(compareKeys);
  /**
   * The same entries in a hash map, for point reads and overwrites: a lookup in a tree of tens of
   * thousands of keys misses the CPU cache at every level, a hash lookup once. Snapshots read the tree.
   */
  private readonly index = new Map<string, MemEntry>();
  /** Bumped by every view(): entries made before it belong to that view and stay as they are. */
  private epoch = 0;
  /** Estimated size: code units of keys and values plus a per-entry overhead. */
  bytes = 0;
  /** Bytes of the WAL records applied here (the engine counts them): what a flush lets go. */
  logBytes = 0;
  firstLsn = 0;
  lastLsn = 0;
  private frozen = false;

  apply(ops: readonly WriteOp[], lsn: number): void {
    assert(!this.frozen, 'Memtable.apply on an immutable memtable');
    assert(lsn > this.lastLsn, () => `Memtable.apply: LSN ${lsn} after ${this.lastLsn}`);
    for (const [key, value] of ops) {
      const entry = this.index.get(key);
      if (entry === undefined) {
        const fresh: MemEntry = { value, epoch: this.epoch };
        this.tree.set(key, fresh);
        this.index.set(key, fresh);
        this.bytes += key.length + ENTRY_OVERHEAD_BYTES + (value === null ? 0 : value.length);
        continue;
      }
      const prev = entry.value;
      if (entry.epoch === this.epoch) entry.value = value; // no view has this entry: change it in place
      else {
        // A snapshot holds this entry: a new one replaces it here, copying the tree path (btree.ts).
        const fresh: MemEntry = { value, epoch: this.epoch };
        this.tree.set(key, fresh);
        this.index.set(key, fresh);
      }
      this.bytes += (value === null ? 0 : value.length) - (prev === null ? 0 : prev.length);
    }
    if (this.firstLsn === 0) this.firstLsn = lsn;
    this.lastLsn = lsn;
  }

  /** undefined: no entry; null: a tombstone. */
  get(key: string): MemValue | undefined {
    const entry = this.index.get(key);
    return entry === undefined ? undefined : entry.value;
  }

  get empty(): boolean {
    return this.tree.size === 0;
  }

  /** Makes it immutable (it is about to be flushed). */
  freeze(): void {
    this.frozen = true;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** A view that later writes do not change. */
  view(): MemView {
    if (this.frozen) return this.tree;
    this.epoch++;
    return this.tree.freeze();
  }
}

/** A point read from a frozen view: undefined, no entry; null, a tombstone. */
export function viewGet(view: MemView, key: string): MemValue | undefined {
  const entry = view.get(key);
  return entry === undefined ? undefined : entry.value;
}

/**
 * An internal iterator over a memtable view. Keys are encoded to UTF-8 on demand (once per
 * position), for merging with tables; scans take the strings directly.
 */
export class MemtableIterator implements InternalIterator {
  private readonly cursor: BTreeCursor<string, MemEntry>;
  private encoded: Uint8Array | null = null;
  private encodedValue: Uint8Array | null = null;
  private scratch = new Uint8Array(64);

  constructor(view: MemView) {
    this.cursor = view.cursor();
  }

  valid(): boolean {
    return this.cursor.valid();
  }

  key(): Uint8Array {
    if (this.encoded === null) {
      const k = this.cursor.key();
      if (this.scratch.length < k.length * 3) this.scratch = new Uint8Array(k.length * 6);
      this.encoded = this.scratch.subarray(0, utf8EncodeInto(k, this.scratch, 0));
    }
    return this.encoded;
  }

  keyString(): string {
    return this.cursor.key();
  }

  isDelete(): boolean {
    return this.cursor.value().value === null;
  }

  value(): Uint8Array {
    if (this.encodedValue === null) this.encodedValue = utf8Encode(this.cursor.value().value ?? '');
    return this.encodedValue;
  }

  valueString(): string {
    return this.cursor.value().value ?? '';
  }

  private moved(): void {
    this.encoded = null;
    this.encodedValue = null;
  }

  seekFirst(): void {
    this.cursor.seekFirst();
    this.moved();
  }

  seekLast(): void {
    this.cursor.seekLast();
    this.moved();
  }

  seekGE(target: Uint8Array): void {
    this.cursor.seekGE(utf8Decode(target));
    this.moved();
  }

  seekLT(target: Uint8Array): void {
    this.cursor.seekLT(utf8Decode(target));
    this.moved();
  }

  next(): void {
    this.cursor.next();
    this.moved();
  }

  prev(): void {
    this.cursor.prev();
    this.moved();
  }

  close(): void {}
}
