/**
 * The Raft core's public surface, for the node runtime and the simulator. See README.md.
 */
export { RaftNode, type RaftNodeInit, type RaftDebugState, type DebugEntry } from './node.js';
export { isEmptyReady, type Ready } from './ready.js';
export { describeMessage, type Message, type MessageType } from './messages.js';
export type { RaftStorage } from './storage.js';
export { MemoryRaftStorage, bootstrapState, emptySnapshot } from './memory-storage.js';
export { DEFAULT_RAFT_OPTIONS, NO_BUGS, raftOptions, validateRaftOptions, type RaftBugs, type RaftOptions } from './options.js';
export type { ProposeResult, ReadIndexResult, Refusal, TransferResult } from './results.js';
export { applyConfChange, describeConfChange, type ConfChange } from './confchange.js';
export { decodeMembership, encodeMembership, makeMembership, describeMembership, EMPTY_MEMBERSHIP } from './membership.js';
export { dataDigest, entryDigest } from './digest.js';
export {
  RaftSafetyMonitor,
  RaftInvariantViolation,
  checkCommittedEntries,
  checkCommittedQuorum,
  checkElectionSafety,
  checkLeaderCompleteness,
  checkLogMatching,
  type CommittedEntry,
  type RaftInvariant,
  type Violation,
} from './observers.js';
export {
  EMPTY_HARD_STATE,
  ENTRY_HEADER_BYTES,
  entryBytes,
  type Entry,
  type EntryType,
  type HardState,
  type Index,
  type Membership,
  type NodeId,
  type ReadState,
  type Role,
  type Snapshot,
  type SnapshotMeta,
  type SoftState,
  type Term,
} from './types.js';
