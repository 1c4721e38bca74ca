import { BitcaskEngine } from './bitcask/bitcask.js';
import type { BitcaskOptions } from './bitcask/options.js';
import { ENGINE_KINDS, LOG_MODES, type Engine, type EngineDeps, type EngineKind, type LogMode } from './engine.js';
import { StorageOptionsError } from './errors.js';
import type { FsyncPolicy } from './fsync-policy.js';
import { LsmEngine } from './lsm/lsm.js';
import type { LsmOptions } from './lsm/options.js';
import { MemoryEngine } from './memory.js';

/**
 * Storage: the Engine contract (engine.ts) and its three engines. Open one with openEngine.
 */

export interface EngineOptions {
  /** When logs are fsynced (fsync-policy.ts); default `always`. Ignored by the memory engine. */
  fsync?: FsyncPolicy;
  /**
   * `wal` (default): the engine logs its writes. `applied-index`: the caller's log is the log and
   * writes come with its positions (engine.ts has the contract). The LSM and the memory engine
   * have both modes; Bitcask only `wal` (its data files are its log).
   */
  logMode?: LogMode;
  /** Overrides of the LSM tree's knobs (lsm/options.ts). */
  lsm?: Partial<Omit<LsmOptions, 'fsync' | 'logMode'>>;
  /** Overrides of Bitcask's knobs (bitcask/options.ts). */
  bitcask?: Partial<Omit<BitcaskOptions, 'fsync'>>;
}

export type OpenCallback = (err: Error | null, engine?: Engine) => void;

/**
 * Opens the engine of the given kind on the files under dir (relative to deps.disk's root),
 * recovering what a previous incarnation left there.
 *
 * It completes through a callback (possibly before it returns, for the memory engine) because
 * recovery ends with fsyncs: the recovered state is made durable before the engine serves a read,
 * so that nothing a reader sees can be lost by a crash right after. The callback gets:
 * - StorageCorruptionError: stored data failed a check (the message names file and offset); the
 *   directory is left as it was for inspection (`kv-lab wal dump`);
 * - StorageOptionsError: bad options (the message names the option);
 * - DiskError: the disk refused (EIO, ENOSPC, ...).
 */
export function openEngine(kind: EngineKind, deps: EngineDeps, dir: string, options: EngineOptions, done: OpenCallback): void {
  const logMode = options.logMode ?? 'wal';
  if (!LOG_MODES.includes(logMode)) return done(new StorageOptionsError(`logMode must be one of ${LOG_MODES.join(', ')}, got ${JSON.stringify(logMode)}`));
  switch (kind) {
    case 'memory':
      return done(null, new MemoryEngine(logMode));
    case 'lsm':
      return LsmEngine.open(deps, dir, { ...options.lsm, logMode, ...(options.fsync ? { fsync: options.fsync } : {}) }, done);
    case 'bitcask':
      // Bitcask's data files are its log: every write is appended there once either way, and
      // there is no second log to leave out.
      if (logMode !== 'wal') return done(new StorageOptionsError('bitcask keeps its data in its own log: it has only logMode "wal"'));
      return BitcaskEngine.open(deps, dir, { ...options.bitcask, ...(options.fsync ? { fsync: options.fsync } : {}) }, done);
    default:
      return done(new StorageOptionsError(`engine must be one of ${ENGINE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`));
  }
}

export type { Engine, EngineDeps, EngineKind, EngineStats, LogMode, ReadView, Snapshot, StorageStatus, WriteCallback, WriteOp } from './engine.js';
export { ENGINE_KINDS, LOG_MODES, SCAN_LIMIT_MAX, storageStatus } from './engine.js';
export { EngineClosedError, EngineFailedError, InvalidWriteError, StorageCorruptionError, StorageOptionsError } from './errors.js';
export { FSYNC_ALWAYS, FSYNC_NEVER, describeFsyncPolicy, parseFsyncPolicy, type FsyncPolicy } from './fsync-policy.js';
export { compareKeys, KEY_BYTES_MAX, VALUE_BYTES_MAX } from './keys.js';
export { Wal, type WalOptions } from './wal/wal.js';
export type { WalRecord, WalRecoveryReport } from './wal/recovery.js';
