import { compareBytes } from '../util/bytes.js';
import type { InternalIterator } from './iterator.js';
import type { TableIterator } from './table.js';
import type { TableCache } from './table-cache.js';
import type { FileMeta } from './version.js';

/**
 * Iterates a level >= 1 (disjoint tables sorted by key) as one sequence, opening each table only
 * when the iteration reaches it (LevelDB's concatenating iterator).
 */
export class LevelIterator implements InternalIterator {
  private index = -1;
  private current: TableIterator | null = null;

  constructor(
    private readonly files: readonly FileMeta[],
    private readonly tables: TableCache,
    private readonly fillCache: boolean,
  ) {}

  private open(i: number): TableIterator | null {
    this.current?.close();
    this.current = null;
    this.index = i;
    if (i < 0 || i >= this.files.length) return null;
    this.current = this.tables.table(this.files[i] as FileMeta).iterator(this.fillCache);
    return this.current;
  }

  /** Index of the first file whose largest key is >= target. */
  private find(target: Uint8Array): number {
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes((this.files[mid] as FileMeta).largest, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  valid(): boolean {
    return this.current !== null && this.current.valid();
  }

  key(): Uint8Array {
    return (this.current as TableIterator).key();
  }

  keyString(): string {
    return (this.current as TableIterator).keyString();
  }

  isDelete(): boolean {
    return (this.current as TableIterator).isDelete();
  }

  value(): Uint8Array {
    return (this.current as TableIterator).value();
  }

  valueString(): string {
    return (this.current as TableIterator).valueString();
  }

  seekFirst(): void {
    this.open(0)?.seekFirst();
    this.skipForward();
  }

  seekLast(): void {
    this.open(this.files.length - 1)?.seekLast();
    this.skipBackward();
  }

  seekGE(target: Uint8Array): void {
    this.open(this.find(target))?.seekGE(target);
    this.skipForward();
  }

  seekLT(target: Uint8Array): void {
    // The last file whose smallest key is < target holds the answer, or the one before it.
    let i = this.find(target);
    if (i >= this.files.length || compareBytes((this.files[i] as FileMeta).smallest, target) >= 0) i--;
    this.open(i)?.seekLT(target);
    this.skipBackward();
  }

  next(): void {
    (this.current as TableIterator).next();
    this.skipForward();
  }

  prev(): void {
    (this.current as TableIterator).prev();
    this.skipBackward();
  }

  close(): void {
    this.current?.close();
    this.current = null;
  }

  private skipForward(): void {
    while (this.current !== null && !this.current.valid()) this.open(this.index + 1)?.seekFirst();
  }

  private skipBackward(): void {
    while (this.current !== null && !this.current.valid()) this.open(this.index - 1)?.seekLast();
  }
}
