/**
 * The vocabulary of the Raft core, in the paper's words.
 *
 * Index conventions, used everywhere in this folder:
 * - Log positions (`Index`) start at 1. Index 0 means "before the first entry"; its term is 0.
 * - A snapshot "at index i" replaces every entry at positions 1..i; the log continues at i + 1.
 * - Terms (`Term`) start at 0 (a node that has never seen an election) and only grow.
 */

/** A member's id, also its network address in the node runtime. */
export type NodeId = string;
export type Term = number;
export type Index = number;

/**
 * 'normal' entries carry application commands (opaque bytes) or nothing (the empty entry a new
 * leader appends). 'config' entries carry a whole encoded `Membership` (see membership.ts).
 */
export type EntryType = 'normal' | 'config';

export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly type: EntryType;
  /** Opaque to the core; the application's command. */
  readonly data: Uint8Array;
}

/**
 * What must survive a crash (Raft paper Figure 2, "persistent state on all servers") plus the
 * commit index, kept so that a restarted node need not wait for the leader to re-learn it.
 */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: Index;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile, informative state: the runtime routes requests with it. Never persisted. */
export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * The cluster's members. Voters elect leaders and count towards commit quorums; learners only
 * receive the log (they catch up before a promotion makes them voters). Both lists are sorted and
 * disjoint, so that two equal memberships have equal encodings and iteration order is fixed.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** The last log position the snapshot covers. */
  readonly index: Index;
  /** The term of the entry at `index`. */
  readonly term: Term;
  /** The membership in force at `index` (the last config entry at or before it). */
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The application's state machine at meta.index, opaque to the core. */
  readonly data: Uint8Array;
}

/**
 * The answer to a ReadIndex request: once the application has applied every entry up to `index`,
 * it may serve the read identified by `requestCtx` from its state machine, linearizably.
 */
export interface ReadState {
  readonly index: Index;
  readonly requestCtx: string;
}

/**
 * An estimate of an entry's size on the wire and in the log, for flow control and memory limits.
 * The header estimate keeps empty entries (a new leader's) from counting as free.
 */
export const ENTRY_HEADER_BYTES = 24;

export function entryBytes(e: Entry): number {
  return ENTRY_HEADER_BYTES + e.data.byteLength;
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += entryBytes(e);
  return total;
}
