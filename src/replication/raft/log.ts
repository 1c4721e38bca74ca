import { assert } from '../../util/assert.js';
import { UnstableLog } from './log-unstable.js';
import { MembershipHistory } from './membership-history.js';
import { describeMembership, sameMembership } from './membership.js';
import type { RaftStorage } from './storage.js';
import { entryBytes, type Entry, type Index, type Snapshot, type Term } from './types.js';

/** Scanning the stable log for config entries at start-up reads this much at a time. */
const SCAN_BYTES_MAX = 1 << 20;

/**
 * A node's Raft log: the stable entries (RaftStorage, durable) followed by the unstable ones (not
 * yet durable), plus the commit and apply positions and the membership at every position.
 *
 * Positions, in order: firstIndex() - 1 <= applied <= applying <= committed <= lastIndex().
 * - firstIndex() - 1 is the compaction boundary: its term is known, its entry is gone.
 * - committed: the highest position known committed (Figure 2's commitIndex).
 * - applying: the highest position handed to the application in a Ready; applied: reported
 *   applied by advance(). They differ only while a Ready is outstanding.
 * - Positions below unstable.offset are read from storage, the others from unstable (storage may
 *   still hold a stale tail there that the next Ready overwrites).
 */
export class RaftLog {
  readonly unstable: UnstableLog;
  readonly memberships: MembershipHistory;
  committed: Index;
  applying: Index;
  applied: Index;

  constructor(readonly storage: RaftStorage) {
    const snap = storage.snapshot().meta;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    assert(first - 1 <= snap.index && snap.index <= last, () => `storage holds [${first}, ${last}] around a snapshot at ${snap.index}`);
    this.unstable = new UnstableLog(last + 1);
    this.committed = snap.index;
    this.applying = snap.index;
    this.applied = snap.index;
    this.memberships = new MembershipHistory(snap.index, snap.membership);
    for (let lo = snap.index + 1; lo <= last; ) {
      const chunk = storage.entries(lo, last + 1, SCAN_BYTES_MAX);
      this.memberships.appended(chunk);
      lo += chunk.length;
    }
  }

  firstIndex(): Index {
    return this.unstable.firstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): Index {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** The term at `index`, or undefined if the position is compacted away or beyond the log. */
  term(index: Index): Term | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const t = this.unstable.term(index);
    if (t !== undefined) return t;
    assert(index < this.unstable.offset, () => `term(${index}): position at or past the unstable offset ${this.unstable.offset} is missing`);
    return this.storage.term(index);
  }

  /**
   * The last position whose entry is durable and part of this log: everything below the unstable
   * offset (storage may hold a stale tail above it). 0 while a snapshot is being installed.
   */
  lastStableIndex(): Index {
    return this.unstable.snapshot === null ? this.unstable.offset - 1 : 0;
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last entry of the log has no term');
    return t;
  }

  matchTerm(index: Index, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Paper §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) limited to maxBytes (at least one entry), or undefined if lo is compacted.
   * REQUIRES: hi <= lastIndex() + 1.
   */
  slice(lo: Index, hi: Index, maxBytes: number): Entry[] | undefined {
    assert(hi <= this.lastIndex() + 1, () => `slice(${lo}, ${hi}) past the last index ${this.lastIndex()}`);
    if (lo < this.firstIndex()) return undefined;
    if (lo >= hi) return [];
    const off = this.unstable.offset;
    let out: Entry[] = [];
    let bytes = 0;
    if (lo < off) {
      const storedHi = Math.min(hi, off);
      assert(storedHi <= this.storage.lastIndex() + 1, 'the stable log ends before the unstable offset');
      out = this.storage.entries(lo, storedHi, maxBytes).slice();
      if (out.length < storedHi - lo) return out;
      if (maxBytes === Infinity) return hi > off ? out.concat(this.unstable.slice(off, hi)) : out;
      for (const e of out) bytes += entryBytes(e);
    } else if (maxBytes === Infinity) {
      return this.unstable.slice(lo, hi);
    }
    if (hi > off) {
      for (const e of this.unstable.slice(Math.max(lo, off), hi)) {
        bytes += entryBytes(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Entries from `lo` to the end, limited to maxBytes; undefined if lo is compacted. */
  entriesFrom(lo: Index, maxBytes: number): Entry[] | undefined {
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /**
   * The first of `entries` that this log does not hold with the same term (a conflict, or the
   * first new entry), or 0 if it holds them all.
   */
  findConflict(entries: readonly Entry[]): Index {
    for (const e of entries) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest position <= index whose term is <= term, with that term: a leader whose entry at
   * some position has `term` cannot match anything after it here. If a term on the way is not
   * known (compacted), that position is returned with term 0, meaning "maybe".
   * (Raft thesis §5.3 fast back-off; etcd's findConflictByTerm.)
   */
  findConflictByTerm(index: Index, term: Term): { index: Index; term: Term } {
    for (let i = index; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * The follower side of AppendEntries (Figure 2, receiver steps 2-5): if the entry at prevIndex
   * has prevTerm, drop conflicting entries, append the new ones, advance the commit index; return
   * the last position now known to match the leader. Otherwise return null.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, commit: Index, entries: readonly Entry[]): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `entry ${conflict} conflicts with a committed entry (committed ${this.committed})`);
      this.append(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends (replacing any tail from entries[0].index on). REQUIRES: nothing committed is replaced. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.committed, () => `appending at ${first.index} would replace committed entries (committed ${this.committed})`);
    assert(first.index <= this.lastIndex() + 1, () => `appending at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (let i = 1; i < entries.length; i++) {
      assert((entries[i] as Entry).index === first.index + i, 'appended entries are not contiguous');
    }
    this.unstable.truncateAndAppend(entries);
    this.memberships.appended(entries);
  }

  commitTo(index: Index): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} is past the last index ${this.lastIndex()}: was the log lost or truncated?`);
    this.committed = index;
  }

  /** Committed entries not yet handed to the application, limited to maxBytes. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.unstable.snapshot !== null) return []; // the snapshot is applied first
    const lo = this.applying + 1;
    if (lo > this.committed) return [];
    assert(lo >= this.firstIndex(), () => `committed entry ${lo} was compacted before it was applied`);
    return this.slice(lo, this.committed + 1, maxBytes) ?? [];
  }

  hasNextCommittedEntries(): boolean {
    return this.unstable.snapshot === null && this.applying < this.committed;
  }

  acceptApplying(index: Index): void {
    assert(index >= this.applying && index <= this.committed, () => `applying ${index} outside [${this.applying}, ${this.committed}]`);
    this.applying = index;
  }

  appliedTo(index: Index): void {
    assert(index >= this.applied && index <= this.committed, () => `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
    if (this.applying < index) this.applying = index;
  }

  /** Replaces the whole log by a snapshot the leader sent; the next Ready hands it out. */
  restore(snapshot: Snapshot): void {
    const { index, membership } = snapshot.meta;
    assert(index > this.committed, () => `restoring a snapshot at ${index}, not past the commit index ${this.committed}`);
    this.committed = index;
    this.unstable.restore(snapshot);
    this.memberships.reset(index, membership);
  }

  /** The latest snapshot, durable or not. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  stableTo(index: Index, term: Term): void {
    this.unstable.stableTo(index, term);
  }

  /** The runtime persisted the snapshot handed out at `index` and restored its state machine. */
  stableSnapTo(index: Index): void {
    this.unstable.stableSnapTo(index);
    if (this.applied < index) this.appliedTo(index);
  }

  /** The stable part now starts above a newer snapshot: fold memberships below it. */
  noteStorageCompaction(): void {
    const snap = this.storage.snapshot().meta;
    if (this.unstable.snapshot !== null || snap.index <= this.memberships.baseIndex()) return;
    assert(snap.index <= this.applied, () => `storage snapshot at ${snap.index} is past the applied index ${this.applied}`);
    assert(
      sameMembership(this.memberships.at(snap.index), snap.membership),
      () => `storage snapshot at ${snap.index} records membership ${describeMembership(snap.membership)}, the log says ${describeMembership(this.memberships.at(snap.index))}`,
    );
    this.memberships.compactTo(snap.index, snap.membership);
  }
}
