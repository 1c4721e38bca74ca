import { WAL_DEFAULTS } from '../storage/wal/wal.js';

/**
 * How a node runs Raft: timing, snapshots and compaction, flow control, and the protocol's
 * optional parts. One record, with its defaults here, used by `kv-lab serve` (through NodeConfig)
 * and by scenarios (cluster.raft), which may set any field.
 */
export interface RaftTuning {
  /** One Raft tick, in ms. */
  tickMs: number;
  /** Ticks without a leader's message before a follower campaigns (randomised up to twice this). */
  electionTicks: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks: number;
  /** Snapshot (and compact the log) once this many entries were applied since the last one. */
  snapshotEntries: number;
  /** Also once the entries applied since the last snapshot hold this many bytes. */
  snapshotBytes: number;
  /** Entries kept below a snapshot, for followers a little behind. */
  keepEntries: number;
  /** At most this many bytes of the entries kept below a snapshot. */
  keepBytes: number;
  /** Serve reads from the leader's lease instead of a ReadIndex round (needs checkQuorum). */
  leaseReads: boolean;
  /** Most entry bytes per append message. */
  maxMsgBytes: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** A leader's appends leave before its own fsync, which then overlaps the followers'. */
  appendBeforePersist: boolean;
  /**
   * Keep the term and vote in two checksummed copies beside the log too (raft-runtime/
   * hard-state-file.ts), so that a rotten log record of them never makes the member vote twice in
   * a term. Each change of term or vote then waits for one more fsync, in parallel with the log's.
   */
  hardStateCopies: boolean;
  /** Bytes of state per snapshot block (a snapshot is built and installed a block at a time). */
  snapshotBlockBytes: number;
  /** Snapshot transfers (raft-runtime/snapshot-transfer.ts): bytes per chunk message, */
  snapshotChunkBytes: number;
  /** chunks in flight to one follower, */
  snapshotWindowChunks: number;
  /** and how long without progress before chunks are resent. */
  snapshotTimeoutMs: number;
  /** Building and installing a snapshot yield between blocks: by a timer of this many ms (0: at once). */
  snapshotYieldMs: number;
  /** A snapshot file being written or received is fsynced every this many bytes. */
  snapshotSyncBytes: number;
  /** The Raft log's segments are sealed past this size (and dropped whole after a compaction). */
  logSegmentBytes: number;
  /** The Raft log's block size: fixed for a log's whole life (its records are framed in blocks). */
  logBlockBytes: number;
}

/**
 * Defaults for a served node. snapshotEntries: a snapshot encodes the whole state, so taking one
 * every 10,000 entries cost a busy node (10k writes/s) 6-8% of its CPU; etcd settled on 100,000
 * (its --snapshot-count) for the same reason. The price is the log kept in memory and replayed at
 * a restart. An entry batches up to PROPOSAL_BATCH_MAX writes, so the count alone could hold
 * gigabytes: snapshotBytes bounds the log since the last snapshot at 64 MB, and keepBytes the
 * entries kept below it (which every checkpoint record rewrites) at 4 MB.
 */
export const DEFAULT_RAFT_TUNING: Readonly<RaftTuning> = Object.freeze({
  tickMs: 20,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotEntries: 100_000,
  snapshotBytes: 64 * 1024 * 1024,
  keepEntries: 1_000,
  keepBytes: 4 * 1024 * 1024,
  leaseReads: false,
  maxMsgBytes: 64 * 1024,
  preVote: true,
  checkQuorum: true,
  appendBeforePersist: true,
  hardStateCopies: true,
  // A block is what the event loop does between two yields while a snapshot is built or
  // installed: 256 KiB of state is a page or two of the store and a few milliseconds.
  snapshotBlockBytes: 256 * 1024,
  // Chunks of a mebibyte, as TiKV sends them, four in flight: far below the 64 MiB frame limit,
  // and enough to keep a LAN busy.
  snapshotChunkBytes: 1024 * 1024,
  snapshotWindowChunks: 4,
  snapshotTimeoutMs: 2_000,
  snapshotYieldMs: 0,
  snapshotSyncBytes: 8 * 1024 * 1024,
  logSegmentBytes: WAL_DEFAULTS.segmentBytesMax,
  logBlockBytes: WAL_DEFAULTS.blockBytes,
});

/**
 * The lab's defaults differ in one place: a scenario of a few virtual seconds applies some
 * thousands of entries, so at 100,000 no run would ever snapshot. At 10,000 the long scenarios
 * do, and snapshots stay part of what every run exercises.
 */
export const LAB_RAFT_TUNING: Readonly<RaftTuning> = Object.freeze({ ...DEFAULT_RAFT_TUNING, snapshotEntries: 10_000 });
