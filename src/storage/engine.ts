import type { Clock } from '../env/clock.js';
import type { Disk } from '../env/disk.js';
import type { Logger } from '../env/log.js';
import type { WriteOp } from './batch.js';

/**
 * The Engine contract: what every storage engine (lsm, bitcask, memory) promises the node.
 *
 * Keys and values are strings ordered by code point, which is the memcmp order of their UTF-8
 * bytes (keys.ts says why strings). Reads are synchronous: the Disk seam's reads hit the page cache
 * and an engine's in-memory structures answer the rest, so the node's state machine can read while
 * it steps. Writes complete through a callback, because durability waits for the device.
 *
 * Callbacks (write, flush, close and openEngine's) may run before the call that takes them
 * returns — under fsync policy `never` a write completes at once. Callers must not assume otherwise.
 * No callback is ever called twice.
 *
 * Visibility and durability:
 * - under fsync `always`, a write becomes visible to readers only when it is durable, just before
 *   its callback runs; a crash can therefore never take back a value a reader has seen;
 * - under `interval` and `never`, a write is visible when acknowledged (fsync-policy.ts documents
 *   each loss window);
 * - writes are applied in the order write() was called, each batch atomically: after a crash the
 *   engine holds exactly the effect of some prefix of the writes issued, which includes every write
 *   acknowledged under `always`.
 *
 * Failures: an error on the write path (a failed fsync, a failed append, a background flush that
 * cannot finish) stops the engine from accepting writes: every later write fails with
 * EngineFailedError. Why: after a failed fsync the page cache may hold data that will never reach
 * the disk, and Linux reports that only once — a later fsync succeeds without it. Carrying on would
 * acknowledge writes as durable while an earlier one silently is not (PostgreSQL's "fsyncgate",
 * 2018). Restarting recovers from what actually is on disk. Reads keep working after a failure.
 * Reads throw StorageCorruptionError when stored data fails its checksum, never returning it.
 *
 * Log modes. An engine opened in log mode `wal` (the default) logs its writes itself and takes
 * them through write(). In log mode `applied-index` it keeps no log: its caller's log is the log,
 * as on a Raft member, whose state machine applies entries its Raft log already made durable
 * (etcd's consistent index, TiKV's applied index: one fsynced log per replicated write, not two).
 * Writes then come through writeApplied(index, ops), index being the caller's log position, and:
 *  1. each index exceeds the one before (InvalidWriteError otherwise): the writes are the effect of
 *     consecutive log entries, and the index orders them;
 *  2. a write is visible once its callback ran (at once unless writes are throttled), and promises
 *     no durability: the fsync policy does not apply, there being nothing to sync;
 *  3. the engine makes its state durable in whole flushes, each recording atomically with its data
 *     the applied index the data reflects (the LSM: a table and the manifest edit naming it and the
 *     index); durableAppliedIndex() grows as flushes complete, flush() completes one on demand,
 *     and memtable pressure or the bytes applied since the last flush start one on their own (the
 *     latter bounds how much of the caller's log a restart has to replay);
 *  4. after any crash and reopen, durableAppliedIndex() is some D at least every value it returned
 *     before the crash, and the engine holds exactly the effect of the writes with index <= D and
 *     of none after: the caller replays its log from D + 1 (and may truncate it up to D);
 *  5. failures are as in log mode `wal`: a failed fsync stops the engine (EngineFailedError).
 * A directory keeps the log mode it was created with; opening it in the other mode is refused
 * (StorageOptionsError), since neither mode's recovery can read what the other leaves.
 */
export type EngineKind = 'lsm' | 'bitcask' | 'memory';

export const ENGINE_KINDS: readonly EngineKind[] = ['lsm', 'bitcask', 'memory'];

export type { WriteOp } from './batch.js';

export type WriteCallback = (err: Error | null) => void;

/** Who keeps the log of an engine's writes (see the contract above). */
export type LogMode = 'wal' | 'applied-index';

export const LOG_MODES: readonly LogMode[] = ['wal', 'applied-index'];

/** Why write() is refused in log mode `applied-index`, and writeApplied() in mode `wal`. */
export const LOGGED_BY_CALLER = 'this engine was opened in log mode "applied-index": write with writeApplied(index, ops)';
export const LOGGED_BY_ENGINE = 'this engine was opened in log mode "wal": write with write(ops)';

/** Most entries one scan may return; larger ranges are read page by page. */
export const SCAN_LIMIT_MAX = 100_000;

export interface ReadView {
  /** The value of key, or undefined when absent. */
  get(key: string): string | undefined;
  /**
   * Entries with start <= key < end (end null: no upper bound), ascending, or descending from the
   * end when reverse, at most limit of them (0 <= limit <= SCAN_LIMIT_MAX).
   */
  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][];
}

/**
 * A consistent view of the engine at the moment snapshot() was called; later writes do not change
 * it. It holds resources (memtables, files) until released; release it when done.
 */
export interface Snapshot extends ReadView {
  release(): void;
}

export interface Engine extends ReadView {
  readonly kind: EngineKind;
  readonly logMode: LogMode;
  /**
   * Log mode `wal`: applies ops atomically, in order; done(null) when acknowledged under the fsync
   * policy. Refused in log mode `applied-index` (InvalidWriteError).
   */
  write(ops: readonly WriteOp[], done: WriteCallback): void;
  /**
   * Log mode `applied-index`: applies ops atomically as the effect of the caller's log position
   * index (greater than every index before). Refused in log mode `wal` (InvalidWriteError).
   */
  writeApplied(index: number, ops: readonly WriteOp[], done: WriteCallback): void;
  /** Log mode `applied-index`: the index of the last write accepted (after an open: the recovered one). 0 in mode `wal`. */
  appliedIndex(): number;
  /** Log mode `applied-index`: the applied index the durable state reflects. 0 in mode `wal`. */
  durableAppliedIndex(): number;
  put(key: string, value: string, done: WriteCallback): void;
  delete(key: string, done: WriteCallback): void;
  snapshot(): Snapshot;
  /**
   * Makes every write acknowledged before the call durable, whatever the fsync policy, and for the
   * LSM also writes the memtable to a table (so the log can be truncated). In log mode
   * `applied-index`: once done(null) runs, durableAppliedIndex() >= the index of the last write
   * accepted before the call, counting writes still queued behind a stall (appliedIndex() counts
   * only those admitted).
   */
  flush(done: WriteCallback): void;
  /**
   * Stops the engine: writes not yet acknowledged fail, acknowledged ones are made durable,
   * background work stops where it is (what it leaves is cleaned up at the next open), files close.
   */
  close(done: WriteCallback): void;
  stats(): EngineStats;
}

/** What an engine takes from the node's Env. */
export interface EngineDeps {
  readonly disk: Disk;
  /** fsync intervals and the scheduling of background steps (flush, compaction, merge). */
  readonly clock: Clock;
  readonly log: Logger;
}

export interface LevelStats {
  level: number;
  files: number;
  bytes: number;
}

/** Figures for benchmarks and tests. Counters count since the engine was opened. */
export interface EngineStats {
  kind: EngineKind;
  /** Bytes of the engine's files on disk now. */
  diskBytes: number;
  /**
   * Estimated bytes the engine holds in memory: memtables, the LSM's block cache and table images,
   * Bitcask's keydir, the memory engine's map. (At 10M keys the images alone reach their 256 MiB
   * budget, ten times the memtables: leaving them out understated an LSM's memory tenfold.)
   */
  memoryBytes: number;
  /** Batches accepted and acknowledged. */
  writes: number;
  /** UTF-8 bytes of keys and values in acknowledged writes. */
  userBytesWritten: number;
  /** Bytes written to files: logs, tables, compaction and merge output, manifests, hints. */
  diskBytesWritten: number;
  /** diskBytesWritten / userBytesWritten (0 before any write). */
  writeAmplification: number;
  fsyncs: number;
  /** Memtables written to tables (LSM). */
  flushes: number;
  /** LSM compactions, including trivial moves; Bitcask merges. */
  compactions: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  cacheHits: number;
  cacheMisses: number;
  cacheBytes: number;
  /** Writes that had to wait for background work (throttling). */
  writeStalls: number;
  /** Why the engine refuses writes, or null. */
  failure: string | null;
  /** Per level (LSM); empty for other engines. */
  levels: LevelStats[];
}

/**
 * A node's engines added up, for /status and /metrics (a sharded node has one per shard): the
 * figures an operator watches — memory and disk, writes, background work, cache hits, stalls.
 */
export interface StorageStatus {
  /** Engines open on the node. */
  engines: number;
  diskBytes: number;
  memoryBytes: number;
  writes: number;
  userBytesWritten: number;
  diskBytesWritten: number;
  flushes: number;
  compactions: number;
  compactionBytesWritten: number;
  cacheHits: number;
  cacheMisses: number;
  writeStalls: number;
  /** Engines that refuse writes after a fatal error (each also fails its replica). */
  failed: number;
}

/** Adds up stats of a node's engines (StorageStatus). */
export function storageStatus(stats: readonly EngineStats[]): StorageStatus {
  const out: StorageStatus = { engines: stats.length, diskBytes: 0, memoryBytes: 0, writes: 0, userBytesWritten: 0, diskBytesWritten: 0, flushes: 0, compactions: 0, compactionBytesWritten: 0, cacheHits: 0, cacheMisses: 0, writeStalls: 0, failed: 0 };
  for (const s of stats) {
    out.diskBytes += s.diskBytes;
    out.memoryBytes += s.memoryBytes;
    out.writes += s.writes;
    out.userBytesWritten += s.userBytesWritten;
    out.diskBytesWritten += s.diskBytesWritten;
    out.flushes += s.flushes;
    out.compactions += s.compactions;
    out.compactionBytesWritten += s.compactionBytesWritten;
    out.cacheHits += s.cacheHits;
    out.cacheMisses += s.cacheMisses;
    out.writeStalls += s.writeStalls;
    if (s.failure !== null) out.failed++;
  }
  return out;
}

export function emptyStats(kind: EngineKind): EngineStats {
  return {
    kind,
    diskBytes: 0,
    memoryBytes: 0,
    writes: 0,
    userBytesWritten: 0,
    diskBytesWritten: 0,
    writeAmplification: 0,
    fsyncs: 0,
    flushes: 0,
    compactions: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    cacheHits: 0,
    cacheMisses: 0,
    cacheBytes: 0,
    writeStalls: 0,
    failure: null,
    levels: [],
  };
}

/**
 * Checks an applied index against the last one accepted; returns what is wrong, or null. Indexes
 * are integers in [1, 2^53): a Raft log position.
 */
export function checkAppliedIndex(index: number, last: number): string | null {
  if (!Number.isSafeInteger(index) || index < 1) return `applied index must be a positive integer below 2^53, got ${String(index)}`;
  if (index <= last) return `applied index ${index} is not above the last one written, ${last}`;
  return null;
}

/** Checks scan arguments; throws RangeError naming the bad one (a caller's bug, not data). */
export function checkScanArgs(start: string, end: string | null, limit: number): void {
  if (typeof start !== 'string') throw new RangeError(`scan: start must be a string, got ${typeof start}`);
  if (end !== null && typeof end !== 'string') throw new RangeError(`scan: end must be a string or null, got ${typeof end}`);
  if (!(Number.isInteger(limit) && limit >= 0 && limit <= SCAN_LIMIT_MAX)) {
    throw new RangeError(`scan: limit must be an integer in [0, ${SCAN_LIMIT_MAX}], got ${limit}`);
  }
}
