import { assert } from '../../util/assert.js';
import { compareBytes } from '../util/bytes.js';
import { SortedKeys } from './sorted-keys.js';
import type { Table } from './table.js';

/**
 * The set of table files that make up the LSM tree at one moment, by level (LevelDB's Version).
 * Level 0 holds flushed memtables, whose key ranges overlap: it is kept newest first (by file
 * number, which grows with every file) and searched in that order. Levels 1 and up hold tables
 * with disjoint key ranges, sorted by smallest key, so a key is in at most one table per level.
 *
 * Versions are immutable; a VersionEdit turns one into the next. FileMeta objects are shared by
 * every version that lists the file; `refs` counts those versions still alive, and a file whose
 * count drops to zero is deleted (version-set.ts).
 */

export const LEVELS = 7;

export interface FileMeta {
  readonly number: number;
  readonly sizeBytes: number;
  readonly entries: number;
  readonly smallest: Uint8Array;
  readonly largest: Uint8Array;
  /** Live versions listing this file. */
  refs: number;
  /** The open table, while the table cache keeps it open. */
  table: Table | null;
  /** Set on each read; the table cache's clock eviction clears it and spares the file once. */
  touched: boolean;
}

export function newFileMeta(number: number, sizeBytes: number, entries: number, smallest: Uint8Array, largest: Uint8Array): FileMeta {
  assert(compareBytes(smallest, largest) <= 0, () => `table ${number}: smallest key after largest`);
  return { number, sizeBytes, entries, smallest, largest, refs: 0, table: null, touched: false };
}

export interface VersionEdit {
  /**
   * Every WAL record with LSN <= this is in a table; in log mode `applied-index`, the tables hold
   * exactly the writes with applied index <= this.
   */
  checkpointLsn?: number;
  nextFileNumber?: number;
  /** The WAL's block size: part of the log's format, so a reopen must use the same. */
  walBlockBytes?: number;
  /** LOG_MODE_WAL or LOG_MODE_APPLIED_INDEX (manifest.ts): a reopen must use the same. */
  logMode?: number;
  compactPointers: { level: number; key: Uint8Array }[];
  deleted: { level: number; number: number }[];
  added: { level: number; file: FileMeta }[];
}

export function emptyEdit(): VersionEdit {
  return { compactPointers: [], deleted: [], added: [] };
}

export class Version {
  /** Pins by snapshots and compactions: a pinned version keeps its files. */
  pins = 0;
  /** Set once the version is neither current nor pinned and its files' refs were dropped. */
  released = false;
  /** Per level >= 1, its tables' largest keys laid out for search (made at the first lookup). */
  private readonly largestKeys: (SortedKeys | null)[] = Array.from({ length: LEVELS }, () => null);

  constructor(readonly levels: readonly (readonly FileMeta[])[]) {
    assert(levels.length === LEVELS, 'Version: wrong number of levels');
  }

  static empty(): Version {
    return new Version(Array.from({ length: LEVELS }, () => []));
  }

  levelBytes(level: number): number {
    let n = 0;
    for (const f of this.levels[level] as FileMeta[]) n += f.sizeBytes;
    return n;
  }

  files(): FileMeta[] {
    return this.levels.flat();
  }

  /** For level >= 1: the file whose range may hold key, or null. */
  findFile(level: number, key: Uint8Array): FileMeta | null {
    assert(level >= 1 && level < LEVELS, 'Version.findFile: level 0 tables overlap');
    const files = this.levels[level] as FileMeta[];
    if (files.length === 0) return null;
    let search = this.largestKeys[level] as SortedKeys | null;
    if (search === null) this.largestKeys[level] = search = new SortedKeys(files.map((f) => f.largest));
    const f = files[search.lowerBound(key)];
    return f !== undefined && compareBytes(f.smallest, key) <= 0 ? f : null;
  }

  /** Files of level whose range intersects [smallest, largest] (null: unbounded). */
  overlapping(level: number, smallest: Uint8Array | null, largest: Uint8Array | null): FileMeta[] {
    return (this.levels[level] as FileMeta[]).filter(
      (f) => (largest === null || compareBytes(f.smallest, largest) <= 0) && (smallest === null || compareBytes(f.largest, smallest) >= 0),
    );
  }

  /** Applies an edit; checks that the result keeps every level's invariant. */
  apply(edit: VersionEdit): Version {
    const levels = this.levels.map((l) => l.slice());
    for (const d of edit.deleted) {
      const files = levels[d.level] as FileMeta[];
      const i = files.findIndex((f) => f.number === d.number);
      assert(i >= 0, () => `VersionEdit deletes table ${d.number} which is not in level ${d.level}`);
      files.splice(i, 1);
    }
    for (const a of edit.added) (levels[a.level] as FileMeta[]).push(a.file);
    (levels[0] as FileMeta[]).sort((a, b) => b.number - a.number);
    for (let l = 1; l < LEVELS; l++) {
      const files = levels[l] as FileMeta[];
      files.sort((a, b) => compareBytes(a.smallest, b.smallest));
      for (let i = 1; i < files.length; i++) {
        assert(
          compareBytes((files[i - 1] as FileMeta).largest, (files[i] as FileMeta).smallest) < 0,
          () => `level ${l}: tables ${(files[i - 1] as FileMeta).number} and ${(files[i] as FileMeta).number} overlap`,
        );
      }
    }
    return new Version(levels);
  }
}
