/**
 * The internal iterator every source of entries offers (memtables, tables, levels) so that reads
 * can merge them (LevelDB's Iterator). Keys are UTF-8 bytes in memcmp order; an entry is a value or
 * a tombstone. Views returned by key() and value() stay valid until the iterator moves.
 *
 * An iterator is positioned by a seek and then moved in one direction: next() after seekFirst or
 * seekGE, prev() after seekLast or seekLT (scans never change direction midway).
 */
export interface InternalIterator {
  valid(): boolean;
  key(): Uint8Array;
  /** The key as a string (a memtable has it already; a table decodes it). */
  keyString(): string;
  isDelete(): boolean;
  value(): Uint8Array;
  valueString(): string;
  seekFirst(): void;
  seekLast(): void;
  /** To the first entry with key >= target. */
  seekGE(target: Uint8Array): void;
  /** To the last entry with key < target. */
  seekLT(target: Uint8Array): void;
  next(): void;
  prev(): void;
  /** Lets go of the tables it holds open. */
  close(): void;
}
