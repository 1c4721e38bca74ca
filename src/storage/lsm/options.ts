import { LOG_MODES, type LogMode } from '../engine.js';
import { StorageOptionsError } from '../errors.js';
import { checkFsyncPolicy, FSYNC_ALWAYS, type FsyncPolicy } from '../fsync-policy.js';
import { BLOCK_BYTES_MAX, BLOCK_BYTES_MIN } from '../wal/record-format.js';
import { WAL_DEFAULTS } from '../wal/wal.js';

/**
 * The LSM tree's knobs, with LevelDB's defaults where LevelDB has one. Tests shrink the sizes so
 * that flushes, compactions and manifest roll-overs happen within a few operations.
 */
export interface LsmOptions {
  fsync: FsyncPolicy;
  /**
   * `wal`: writes go to the engine's WAL. `applied-index`: no WAL; the caller's log is the log and
   * the manifest's checkpoint is the caller's applied index (../engine.ts, FORMAT.md).
   */
  logMode: LogMode;
  /** A memtable is frozen and flushed to a level-0 table once it holds this much. */
  memtableBytes: number;
  /** Data blocks are cut at about this size (before the trailer). */
  blockBytes: number;
  /** Every this-many entries a block stores a key whole (a restart point). */
  blockRestartInterval: number;
  /** Bloom filter bits per key; 0 disables filters. */
  bloomBitsPerKey: number;
  /** Byte budget of the block cache (verified data blocks). */
  blockCacheBytes: number;
  /**
   * Byte budget of table images: tables read whole into memory and served from there without a
   * read per block, as LevelDB serves uncompressed tables from mmap (table-images.ts). Only on
   * disks with readInto (the real one); 0 turns images off.
   */
  tableImageBytes: number;
  /** Tables kept open at once. */
  tableCacheMax: number;
  /** Compaction output tables are cut at about this size. */
  targetFileBytes: number;
  /** Level 0 is compacted once it holds this many tables. */
  l0CompactionTrigger: number;
  /** From this many level-0 tables, one write is admitted per background step. */
  l0SlowdownTrigger: number;
  /** From this many level-0 tables, writes wait until compaction brings the count down. */
  l0StopTrigger: number;
  /**
   * Compaction debt (bytes levels 1 and deeper hold beyond their limits, plus level 0's tables
   * beyond the trigger) from which one write is admitted per background step, and from which
   * writes wait (RocksDB's pending-compaction-bytes limits): without them a writer faster than
   * compaction piles up debt that every later read pays for.
   */
  debtSlowdownBytes: number;
  debtStopBytes: number;
  /** Size limit of level 1; each deeper level may hold levelSizeRatio times more. */
  l1Bytes: number;
  levelSizeRatio: number;
  /**
   * Work a flush or compaction does per step before it yields to reads and writes. Each step
   * holds the event loop: 256 KB took 3-5 ms, 64 KB about 1 (a write load of 100k/s with
   * compactions running: event-loop gaps p99 6.7 -> 4.9 ms, max 21 -> 15 ms, the same rate).
   */
  backgroundStepBytes: number;
  /** A new manifest is started when the current one passes this size. */
  manifestBytesMax: number;
  walSegmentBytes: number;
  walBlockBytes: number;
  walBufferBytes: number;
}

export const LSM_DEFAULTS: LsmOptions = {
  fsync: FSYNC_ALWAYS,
  logMode: 'wal',
  memtableBytes: 4 * 1024 * 1024,
  blockBytes: 4096,
  blockRestartInterval: 16,
  bloomBitsPerKey: 10,
  blockCacheBytes: 32 * 1024 * 1024,
  tableImageBytes: 256 * 1024 * 1024,
  tableCacheMax: 1000,
  targetFileBytes: 2 * 1024 * 1024,
  l0CompactionTrigger: 4,
  l0SlowdownTrigger: 8,
  l0StopTrigger: 12,
  debtSlowdownBytes: 8 * 1024 * 1024,
  debtStopBytes: 32 * 1024 * 1024,
  l1Bytes: 10 * 1024 * 1024,
  levelSizeRatio: 10,
  backgroundStepBytes: 64 * 1024,
  manifestBytesMax: 4 * 1024 * 1024,
  walSegmentBytes: WAL_DEFAULTS.segmentBytesMax,
  walBlockBytes: WAL_DEFAULTS.blockBytes,
  walBufferBytes: WAL_DEFAULTS.bufferBytesMax,
};

type Rule = [keyof LsmOptions, number, number];

const RULES: Rule[] = [
  ['memtableBytes', 256, 1 << 30],
  ['blockBytes', 64, 1 << 22],
  ['blockRestartInterval', 1, 1024],
  ['bloomBitsPerKey', 0, 64],
  ['blockCacheBytes', 0, 2 ** 40],
  ['tableImageBytes', 0, 2 ** 40],
  ['tableCacheMax', 8, 1 << 20],
  ['targetFileBytes', 256, 1 << 30],
  ['l0CompactionTrigger', 1, 1000],
  ['l0SlowdownTrigger', 1, 1000],
  ['l0StopTrigger', 1, 1000],
  ['debtSlowdownBytes', 0, 2 ** 50],
  ['debtStopBytes', 1, 2 ** 50],
  ['l1Bytes', 512, 2 ** 40],
  ['levelSizeRatio', 2, 100],
  ['backgroundStepBytes', 512, 1 << 30],
  ['manifestBytesMax', 512, 1 << 30],
  ['walSegmentBytes', 256, 1 << 30],
  ['walBlockBytes', BLOCK_BYTES_MIN, BLOCK_BYTES_MAX],
  ['walBufferBytes', 1, 1 << 30],
];

/** Fills in defaults and checks every value, naming the first bad one. */
export function resolveLsmOptions(given: Partial<LsmOptions> = {}): LsmOptions {
  for (const k of Object.keys(given)) {
    if (!(k in LSM_DEFAULTS)) throw new StorageOptionsError(`unknown lsm option "${k}"`);
  }
  const o: LsmOptions = { ...LSM_DEFAULTS, ...given };
  for (const [k, min, max] of RULES) {
    const v = o[k] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new StorageOptionsError(`lsm option ${k} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
  }
  if (!(o.l0CompactionTrigger <= o.l0SlowdownTrigger && o.l0SlowdownTrigger <= o.l0StopTrigger)) {
    throw new StorageOptionsError('lsm options must satisfy l0CompactionTrigger <= l0SlowdownTrigger <= l0StopTrigger');
  }
  if (o.debtSlowdownBytes > o.debtStopBytes) throw new StorageOptionsError('lsm options must satisfy debtSlowdownBytes <= debtStopBytes');
  if (o.walSegmentBytes < o.walBlockBytes) throw new StorageOptionsError('lsm option walSegmentBytes must be at least walBlockBytes');
  checkFsyncPolicy(o.fsync);
  if (!LOG_MODES.includes(o.logMode)) throw new StorageOptionsError(`lsm option logMode must be one of ${LOG_MODES.join(', ')}, got ${JSON.stringify(o.logMode)}`);
  return o;
}
