import { assert } from '../../util/assert.js';
import type { Entry, Index, Snapshot, Term } from './types.js';

/**
 * The part of the log not yet durable: entries (and possibly a snapshot) that the next Ready hands
 * to the runtime to persist. Once the runtime reports them durable (advance), they leave this
 * structure; the stable copies are then read from RaftStorage.
 *
 * Index convention: entries[i] has log position offset + i. If a snapshot is present, it covers
 * positions up to offset - 1 (snapshot.meta.index === offset - 1).
 */
export class UnstableLog {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  offset: Index;

  constructor(offset: Index) {
    assert(offset >= 1, 'unstable offset starts at 1 or later');
    this.offset = offset;
  }

  /** The first position known from the snapshot, if there is one. */
  firstIndex(): Index | undefined {
    return this.snapshot === null ? undefined : this.snapshot.meta.index + 1;
  }

  lastIndex(): Index | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === null ? undefined : this.snapshot.meta.index;
  }

  /** The term at `index` if this structure knows it. */
  term(index: Index): Term | undefined {
    if (index < this.offset) {
      return this.snapshot !== null && this.snapshot.meta.index === index ? this.snapshot.meta.term : undefined;
    }
    const e = this.entries[index - this.offset];
    return e === undefined ? undefined : e.term;
  }

  /**
   * Entries up to `index` (whose term was `term` when handed out) are durable. If the entry there
   * has since been replaced (a conflicting leader truncated the tail while the write was in
   * flight), nothing changes: the replacement is still to be persisted.
   */
  stableTo(index: Index, term: Term): void {
    if (this.term(index) !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: Index): void {
    if (this.snapshot !== null && this.snapshot.meta.index === index) this.snapshot = null;
  }

  /** Replaces everything by a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.offset = snapshot.meta.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /**
   * Appends entries, first dropping whatever this log holds at or after entries[0].index.
   * REQUIRES: entries are contiguous, and entries[0].index <= lastIndex() + 1 of the whole log.
   */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const after = first.index;
    // In place: a leader appends one proposal at a time, and copying the array at each one made
    // a burst of n proposals between two Readys cost n^2/2 copies. Nothing outside holds this
    // array (ready() and slice() hand out copies).
    if (after === this.offset + this.entries.length) {
      for (const e of entries) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces every unstable entry, and the runtime must overwrite stable ones from `after` on.
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries.length = after - this.offset;
      for (const e of entries) this.entries.push(e);
    }
  }

  /** Entries [lo, hi). REQUIRES: offset <= lo <= hi <= offset + entries.length. */
  slice(lo: Index, hi: Index): Entry[] {
    assert(this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length, () => `unstable.slice(${lo}, ${hi}) outside [${this.offset}, ${this.offset + this.entries.length}]`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
