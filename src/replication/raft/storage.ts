import type { Entry, HardState, Index, Snapshot, Term } from './types.js';

/**
 * The stable part of a Raft log: what the runtime has made durable. The core only reads it; the
 * runtime writes it while carrying out a Ready (ready.ts) and then calls advance(). The node
 * runtime implements it over the write-ahead log, keeping the entries above the last snapshot in
 * memory (the log is bounded by compaction); MemoryRaftStorage implements it for tests.
 *
 * Positions: the storage holds entries firstIndex()..lastIndex(), and knows the term of the entry
 * at firstIndex() - 1 (the compaction boundary, whose entry is gone). firstIndex() - 1 never
 * exceeds the latest snapshot's index: entries below a snapshot may be kept (so a follower just
 * behind can still be sent entries instead of a snapshot), but none above it may be dropped.
 * An empty log has firstIndex() = snapshot index + 1 and lastIndex() = firstIndex() - 1.
 *
 * Every method is synchronous and must not fail: the core calls them while stepping. A storage
 * that finds its data corrupt must stop the node before the core runs (at recovery).
 */
export interface RaftStorage {
  /** The last persisted hard state; EMPTY_HARD_STATE for a node that never persisted one. */
  hardState(): HardState;
  /** The latest snapshot; a new node's is at index 0, term 0 with an empty membership and data. */
  snapshot(): Snapshot;
  firstIndex(): Index;
  lastIndex(): Index;
  /** REQUIRES: firstIndex() - 1 <= index <= lastIndex(). */
  term(index: Index): Term;
  /**
   * Entries [lo, hi), stopping before the entry that would make the total entryBytes exceed
   * maxBytes, but always at least one entry.
   * REQUIRES: firstIndex() <= lo < hi <= lastIndex() + 1.
   */
  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[];
}
