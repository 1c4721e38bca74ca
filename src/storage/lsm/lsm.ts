import type { Timer } from '../../env/clock.js';
import { joinPath } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { checkBatch, decodeBatch, encodeBatch, type WriteOp } from '../batch.js';
import {
  checkAppliedIndex,
  checkScanArgs,
  emptyStats,
  LOGGED_BY_CALLER,
  LOGGED_BY_ENGINE,
  type Engine,
  type EngineDeps,
  type EngineStats,
  type Snapshot,
  type LogMode,
  type WriteCallback,
} from '../engine.js';
import { EngineClosedError, EngineFailedError, InvalidWriteError, StorageCorruptionError, StorageOptionsError } from '../errors.js';
import { compareKeys, utf8Length } from '../keys.js';
import { ByteWriter, compareBytes, utf8Decode, utf8Encode, utf8EncodeInto } from '../util/bytes.js';
import { RECORD_KV_BATCH } from '../wal/record-types.js';
import type { WalRecoveryReport } from '../wal/recovery.js';
import { Wal } from '../wal/wal.js';
import { BlockCache } from './block-cache.js';
import { bloomHash } from './bloom.js';
import { CompactionJob } from './compaction-job.js';
import { compactionDebtBytes, pickCompaction } from './compaction-picker.js';
import { CURRENT_TMP, parseManifestName, parseTableName, tablePath, WAL_DIR } from './files.js';
import { FlushJob } from './flush-job.js';
import { LOG_MODE_APPLIED_INDEX, LOG_MODE_WAL } from './manifest.js';
import type { InternalIterator } from './iterator.js';
import type { JobHost } from './job-host.js';
import { LevelIterator } from './level-iterator.js';
import { Memtable, MemtableIterator, memtableBytesOf, viewGet, type MemView } from './memtable.js';
import { MergingIterator } from './merging-iterator.js';
import { type LsmOptions, resolveLsmOptions } from './options.js';
import type { TableHit, TableReadStats } from './table.js';
import { TableCache } from './table-cache.js';
import { TableImages } from './table-images.js';
import { emptyEdit, type FileMeta, LEVELS, type Version } from './version.js';
import { recoverVersions, removeIfPresent, VersionSet } from './version-set.js';

/** Block size of the manifest's log format (fixed: it is part of the directory's format). */
export const MANIFEST_BLOCK_BYTES = 4096;

/** What the last open found and did, for logs and tests. */
export interface LsmRecoveryReport {
  /** null in log mode `applied-index` (no WAL). */
  wal: WalRecoveryReport | null;
  manifestDroppedTail: { path: string; offset: number; bytes: number; detail: string } | null;
  /** Files no version listed (outputs of interrupted flushes and compactions, old manifests). */
  garbageRemoved: string[];
  tables: number;
}

/** How long a background step may wait behind a caller that never yields before a call runs it. */
const ASSIST_AFTER_MS = 5;

interface PendingStep {
  fn: () => void;
  atNs: number;
  timer: Timer | null;
}

interface QueuedWrite {
  /** Log mode `applied-index`: the write's applied index (0 in mode `wal`). */
  index: number;
  ops: readonly WriteOp[];
  /** Estimated size (checkBatch's), for the admission check. */
  bytes: number;
  done: WriteCallback;
}

/**
 * How much WAL one memtable may stand for, in memtable sizes, before it is flushed anyway (RocksDB
 * bounds its WAL the same way, with max_total_wal_size): the WAL on disk, and the replay after a
 * restart, stay within a few memtables.
 */
export const LOG_BYTES_PER_MEMTABLE = 4;

interface ReadSources {
  /** The live memtable (point reads use its hash index) or a snapshot's frozen view of one. */
  mem: Memtable | MemView;
  imm: Memtable | null;
  version: Version;
}

/**
 * The LSM-tree engine (O'Neil et al. 1996; LevelDB's design): writes go to the WAL and a sorted
 * memtable; full memtables are flushed to level-0 tables; leveled compaction merges tables down
 * the levels. FORMAT.md documents the files; README.md the design choices.
 *
 * Write path: a batch is appended to the WAL as one record (its LSN orders it) and applied to the
 * memtable when the WAL acknowledges it: under fsync `always` only once durable, so that no reader
 * sees a value a crash could take back.
 *
 * Throttling (the documented backlog): a write waits when it would take the memtable (counting
 * the writes in flight, admitted but not yet durable) past memtableBytes while the previous
 * memtable is still being flushed, or while writes are in flight that will fill it; when level 0
 * holds l0StopTrigger tables or the compaction debt reaches debtStopBytes; and from
 * l0SlowdownTrigger level-0 tables or debtSlowdownBytes of debt one write is admitted per
 * background step, so that compaction gets its share of the single thread. Reads never wait.
 *
 * Log mode `applied-index` (../engine.ts has the contract): there is no WAL. A write is applied to
 * the memtable at once, with the caller's applied index as its LSN; a flush's manifest edit records
 * the memtable's last index as the checkpoint, atomically with the table, so the tree's durable
 * state is always exactly the writes up to the checkpoint. The memtable is flushed when full, when
 * the writes applied to it reach LOG_BYTES_PER_MEMTABLE memtable sizes (overwrites do not grow it,
 * and the caller's log, which a restart replays, would grow without bound), on flush(), and on
 * close().
 */
export class LsmEngine implements Engine {
  readonly kind = 'lsm' as const;
  readonly logMode: LogMode;
  /**
   * Log mode `applied-index`: the index of the last write accepted (which the next must exceed),
   * and of the last one applied (visible; throttled writes wait in the queue between the two).
   */
  private accepted: number;
  private applied: number;
  /** close() in log mode `applied-index` flushes first; writes are refused meanwhile. */
  private closing = false;
  private imm: Memtable | null = null;
  private readonly queue: QueuedWrite[] = [];
  private queueHead = 0;
  private inflightBytes = 0;
  private slowdownToken = false;
  private flushJob: FlushJob | null = null;
  private compactionJob: CompactionJob | null = null;
  private failure_: Error | null = null;
  private closed = false;
  private readonly flushWaiters: { target: Memtable; done: WriteCallback }[] = [];
  private flushRequests: WriteCallback[] = [];
  /** pump() is running; it was called again meanwhile. */
  private pumping = false;
  private pumpAgain = false;
  private readonly encoder = new ByteWriter(64 * 1024);
  private lookupBuf = new Uint8Array(256);
  /**
   * A view of lookupBuf's first lookupView.length bytes, kept while keys of that length come:
   * a point read then allocates no view for its encoded key (keys of one application mostly share
   * a length). Valid only within one read, which nothing re-enters.
   */
  private lookupView = this.lookupBuf.subarray(0, 0);
  private readonly hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  private readonly counters = emptyStats('lsm');
  private flushBytesWritten = 0;
  private readonly host: JobHost;
  private readonly snapshots = new Set<LsmSnapshot>();
  /** Background steps scheduled and not yet run (see assist()). */
  private readonly steps = new Set<PendingStep>();
  private calls = 0;
  private debtVersion: Version | null = null;
  private debtBytes = 0;

  private constructor(
    private readonly deps: EngineDeps,
    readonly dir: string,
    readonly options: LsmOptions,
    private mem: Memtable,
    /** null in log mode `applied-index`. */
    private readonly wal: Wal | null,
    private readonly versions: VersionSet,
    private readonly tables: TableCache,
    private readonly blockCache: BlockCache,
    private readonly readStats: TableReadStats,
    readonly recovery: LsmRecoveryReport,
  ) {
    this.logMode = options.logMode;
    assert((wal === null) === (this.logMode === 'applied-index'), 'LsmEngine: a WAL exactly in log mode wal');
    this.applied = this.logMode === 'applied-index' ? versions.checkpointLsn : 0;
    this.accepted = this.applied;
    this.host = {
      deps,
      dir,
      options,
      tables,
      versions,
      stopped: () => this.closed || this.failure_ !== null,
      schedule: (fn) => this.scheduleStep(fn),
      stepDone: () => {
        this.slowdownToken = true;
        this.pump();
      },
      countWritten: (bytes, kind) => {
        if (kind === 'flush') this.flushBytesWritten += bytes;
        else this.counters.compactionBytesWritten += bytes;
      },
    };
  }

  /**
   * Opens (or creates) the tree in dir: reads the manifest, replays the WAL past its checkpoint into
   * a memtable (log mode `wal`), removes files no version lists, and starts a new manifest; done
   * once that state is durable. Corruption fails with StorageCorruptionError naming the file and
   * offset; a directory of the other log mode, with StorageOptionsError.
   */
  static open(deps: EngineDeps, dir: string, given: Partial<LsmOptions>, done: (err: Error | null, engine?: LsmEngine) => void): void {
    let options: LsmOptions;
    let versions: VersionSet;
    let tables: TableCache;
    let blockCache: BlockCache;
    const readStats: TableReadStats = { bloomChecks: 0, bloomNegatives: 0 };
    let recovered: ReturnType<typeof recoverVersions>;
    const garbage: string[] = [];
    // The engine exists only after the WAL replay; versions report obsolete files to it then.
    let engineRef: LsmEngine | null = null;
    try {
      options = resolveLsmOptions(given);
      deps.disk.mkdir(dir);
      recovered = recoverVersions(deps.disk, dir, MANIFEST_BLOCK_BYTES);
      checkLogMode(deps, dir, options, recovered);
      blockCache = new BlockCache(options.blockCacheBytes);
      const images = options.tableImageBytes > 0 ? new TableImages(options.tableImageBytes) : null;
      tables = new TableCache(deps.disk, dir, blockCache, options.tableCacheMax, readStats, images);
      versions = new VersionSet(
        deps,
        {
          dir,
          blockBytes: MANIFEST_BLOCK_BYTES,
          walBlockBytes: options.walBlockBytes,
          logMode: options.logMode === 'wal' ? LOG_MODE_WAL : LOG_MODE_APPLIED_INDEX,
          manifestBytesMax: options.manifestBytesMax,
          onObsolete: (f) => engineRef?.removeObsolete(f),
        },
        recovered,
      );
      collectGarbage(deps, dir, recovered, versions, garbage);
    } catch (err) {
      return done(err as Error);
    }
    const start = (mem: Memtable, wal: Wal | null, walReport: WalRecoveryReport | null) => {
      const report: LsmRecoveryReport = { wal: walReport, manifestDroppedTail: recovered.droppedTail, garbageRemoved: garbage, tables: recovered.version.files().length };
      const engine = new LsmEngine(deps, dir, options, mem, wal, versions, tables, blockCache, readStats, report);
      engineRef = engine;
      versions.startNewManifest((err) => {
        if (err !== null) {
          engine.closed = true;
          if (wal === null) return done(err);
          wal.close(() => done(err));
          return;
        }
        if (recovered.droppedTail !== null) deps.log.log('warn', 'storage.lsm.manifest_tail_dropped', { ...recovered.droppedTail });
        deps.log.log('info', 'storage.lsm.opened', { dir, tables: report.tables, walRecords: walReport?.records ?? 0, garbage: garbage.length, appliedIndex: engine.applied });
        // A long replay may have filled the memtable past its size: start flushing it now.
        if (engine.mem.bytes >= options.memtableBytes || engine.mem.logBytes >= options.memtableBytes * LOG_BYTES_PER_MEMTABLE) engine.rotate();
        engine.scheduleBackground();
        done(null, engine);
      });
    };
    if (options.logMode === 'applied-index') return start(new Memtable(), null, null);
    const mem = new Memtable();
    try {
      Wal.open(
        deps,
        {
          dir: joinPath(dir, WAL_DIR),
          fsync: options.fsync,
          segmentBytesMax: options.walSegmentBytes,
          blockBytes: options.walBlockBytes,
          bufferBytesMax: options.walBufferBytes,
          fromLsn: recovered.checkpointLsn + 1,
        },
        (r) => {
          if (r.type !== RECORD_KV_BATCH) throw new StorageCorruptionError(r.segment, r.offset, `WAL record of unknown type ${r.type}`);
          let ops: WriteOp[];
          try {
            ops = decodeBatch(r.data);
          } catch (err) {
            throw new StorageCorruptionError(r.segment, r.offset, `WAL batch: ${(err as Error).message}`);
          }
          mem.apply(ops, r.lsn);
          mem.logBytes += r.data.length;
        },
        (err, wal, walReport) => (err !== null ? done(err) : start(mem, wal as Wal, walReport as WalRecoveryReport)),
      );
    } catch (err) {
      return done(err as Error);
    }
  }

  // ---- background steps ----

  private scheduleStep(fn: () => void): void {
    const step: PendingStep = { fn, atNs: this.deps.clock.monotonicNs(), timer: null };
    this.steps.add(step);
    step.timer = this.deps.clock.timer(0, () => this.runStep(step));
  }

  private runStep(step: PendingStep): void {
    if (!this.steps.delete(step)) return;
    step.timer?.cancel();
    step.fn();
  }

  /**
   * Background work runs between calls, when the caller yields to the event loop. A caller that
   * never yields (a tight loop of reads, or of writes that complete at once) would starve it and
   * let compaction debt grow without bound, so every 128 calls the engine checks whether a step has
   * been waiting for more than ASSIST_AFTER_MS and, if so, runs it inside this call: work shared
   * like a background thread would share a second core. The call that runs it waits for one step.
   */
  private assist(): void {
    if (this.steps.size === 0 || (++this.calls & 127) !== 0) return;
    const now = this.deps.clock.monotonicNs();
    for (const step of this.steps) {
      if (now - step.atNs > ASSIST_AFTER_MS * 1e6) {
        this.runStep(step);
        return;
      }
    }
  }

  // ---- writes ----

  write(ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.logMode !== 'wal') return done(new InvalidWriteError(LOGGED_BY_CALLER));
    this.accept(0, ops, done);
  }

  writeApplied(index: number, ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.logMode !== 'applied-index') return done(new InvalidWriteError(LOGGED_BY_ENGINE));
    if (this.closed || this.closing) return done(new EngineClosedError('write'));
    const bad = checkAppliedIndex(index, this.accepted);
    if (bad !== null) return done(new InvalidWriteError(bad));
    this.accept(index, ops, done);
  }

  appliedIndex(): number {
    return this.applied;
  }

  durableAppliedIndex(): number {
    return this.logMode === 'applied-index' ? this.versions.checkpointLsn : 0;
  }

  /** Admits a write now, or queues it behind the ones waiting (index: 0 in log mode `wal`). */
  private accept(index: number, ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.closed || this.closing) return done(new EngineClosedError('write'));
    this.assist();
    if (this.failure_ !== null) return done(new EngineFailedError(this.failure_));
    const checked = checkBatch(ops);
    if (typeof checked === 'string') return done(new InvalidWriteError(checked));
    const bytes = memtableBytesOf(ops, checked);
    // An index refused for its batch may come again; one accepted may not.
    if (index > 0) this.accepted = index;
    if (this.queueHead < this.queue.length || this.stalled(bytes)) {
      this.queue.push({ index, ops, bytes, done });
      this.counters.writeStalls++;
      this.scheduleBackground();
      return;
    }
    this.admit(index, ops, bytes, done);
  }

  put(key: string, value: string, done: WriteCallback): void {
    this.write([[key, value]], done);
  }

  delete(key: string, done: WriteCallback): void {
    this.write([[key, null]], done);
  }

  /**
   * Whether the next write must wait. In-flight writes (admitted, waiting for their fsync) count
   * towards the memtable, so that the memtable, the immutable one and the writes in flight are
   * each bounded by about memtableBytes.
   */
  private stalled(nextBytes: number): boolean {
    const o = this.options;
    this.rotateIfLogFull();
    if (this.mem.bytes + this.inflightBytes + nextBytes > o.memtableBytes) {
      if (this.imm === null && !this.mem.empty) this.rotate();
      if (this.mem.bytes + this.inflightBytes + nextBytes > o.memtableBytes && (this.imm !== null || this.inflightBytes > 0)) return true;
    }
    const l0 = (this.versions.current.levels[0] as FileMeta[]).length;
    const debt = this.debt();
    if (l0 >= o.l0StopTrigger || debt >= o.debtStopBytes) return true;
    return (l0 >= o.l0SlowdownTrigger || debt >= o.debtSlowdownBytes) && !this.slowdownToken;
  }

  /**
   * Overwrites leave a memtable's size where it was (it keeps one value per key), but each adds to
   * the log (the WAL, or the caller's), which goes only once the memtable is in a table: without
   * this, a workload of overwrites grew the log without bound (and the replay after a restart with
   * it). Checked before each write and when a flush ends.
   */
  private rotateIfLogFull(): void {
    if (this.mem.logBytes >= this.options.memtableBytes * LOG_BYTES_PER_MEMTABLE && this.imm === null && !this.mem.empty) this.rotate();
  }

  /** Compaction debt of the current version (computed once per version). */
  private debt(): number {
    const v = this.versions.current;
    if (this.debtVersion !== v) {
      this.debtVersion = v;
      this.debtBytes = compactionDebtBytes(v, this.options);
    }
    return this.debtBytes;
  }

  private admit(index: number, ops: readonly WriteOp[], bytes: number, done: WriteCallback): void {
    this.slowdownToken = false;
    if (this.wal === null) return this.admitApplied(index, ops, done);
    this.encoder.reset();
    const userBytes = encodeBatch(ops, this.encoder);
    const record = this.encoder.written();
    const recordBytes = record.length;
    this.inflightBytes += bytes;
    this.wal.append(RECORD_KV_BATCH, record, (err, lsn) => {
      this.inflightBytes -= bytes;
      if (err !== null) {
        this.fail(err);
        return done(new EngineFailedError(err));
      }
      this.mem.apply(ops, lsn);
      this.mem.logBytes += recordBytes;
      this.counters.writes++;
      this.counters.userBytesWritten += userBytes;
      done(null);
      this.pump();
    });
  }

  /**
   * Log mode `applied-index`: the write goes to the memtable at once, under its applied index. Its
   * bytes count as log bytes: they stand for the caller's log that a restart replays, which only a
   * flush lets the caller truncate.
   */
  private admitApplied(index: number, ops: readonly WriteOp[], done: WriteCallback): void {
    assert(index > this.applied && index <= this.accepted, () => `LsmEngine: applied index ${index} out of order (applied ${this.applied})`);
    this.mem.apply(ops, index);
    this.applied = index;
    let userBytes = 0;
    for (const [k, v] of ops) userBytes += utf8Length(k) + (v === null ? 0 : utf8Length(v));
    this.mem.logBytes += userBytes + ops.length;
    this.counters.writes++;
    this.counters.userBytesWritten += userBytes;
    done(null);
  }

  /**
   * Admits queued writes while nothing holds them back. Not re-entered: what it calls (a write's
   * callback, a flush request, a background step that ends at once) may call it again, and a
   * nested pass must not reset the queue under the outer one's loop; a nested call makes the
   * outer pass go round once more instead. (txn/cross-shard-rot seed 67 read an empty slot: the
   * engine failed inside stalled(), which emptied the queue.)
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.queueHead < this.queue.length && !this.closed && this.failure_ === null) {
          const w = this.queue[this.queueHead] as QueuedWrite;
          assert(w !== undefined, 'LsmEngine.pump: an empty slot in the write queue');
          if (this.stalled(w.bytes)) break;
          // stalled() may rotate the memtable and start background work, which can fail the
          // engine at once (a rotten table) and so empty the queue (fail): then w is answered.
          if (this.closed || this.failure_ !== null) break;
          this.queue[this.queueHead++] = undefined as unknown as QueuedWrite;
          this.admit(w.index, w.ops, w.bytes, w.done);
        }
        if (this.queueHead === this.queue.length) {
          this.queue.length = 0;
          this.queueHead = 0;
          // Flushes that waited for the queue (requestFlush); those waiting for the flush under way are asked again and wait on.
          if (this.flushRequests.length > 0 && !this.closed && this.failure_ === null) for (const r of this.flushRequests.splice(0)) this.requestFlush(r);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private rotate(): void {
    assert(this.imm === null && !this.mem.empty, 'LsmEngine.rotate: previous memtable still flushing, or nothing to flush');
    this.mem.freeze();
    this.imm = this.mem;
    this.mem = new Memtable();
    this.scheduleBackground();
  }

  flush(done: WriteCallback): void {
    if (this.closed) return done(new EngineClosedError('flush'));
    if (this.failure_ !== null) return done(new EngineFailedError(this.failure_));
    if (this.wal === null) return this.requestFlush(done);
    this.wal.sync((err) => {
      if (err !== null) {
        this.fail(err);
        return done(new EngineFailedError(err));
      }
      this.requestFlush(done);
    });
  }

  private requestFlush(done: WriteCallback): void {
    if (this.closed) return done(new EngineClosedError('flush'));
    if (this.failure_ !== null) return done(new EngineFailedError(this.failure_));
    if (this.queueHead < this.queue.length) {
      // Writes accepted but stalled (level 0 at its stop trigger, say) are not in a memtable yet,
      // and a flush promises durableAppliedIndex() >= appliedIndex() as of its call, which counts
      // them. Answering at once broke that, and a Raft member whose compaction waits on it asked
      // again and again in one call stack until it overflowed (txn + rot on a tiny LSM). The
      // request is made again once the queue has drained (pump).
      this.flushRequests.push(done);
      return;
    }
    if (this.mem.empty) {
      if (this.imm !== null && this.wal === null && this.mem.lastLsn > this.imm.lastLsn) {
        // Writes of no ops went to the new memtable: ask again once the old one is in.
        this.flushRequests.push(done);
        return;
      }
      if (this.imm === null) return this.wal === null ? this.checkpointApplied(done) : done(null);
      this.flushWaiters.push({ target: this.imm, done });
    } else if (this.imm === null) {
      this.rotate();
      this.flushWaiters.push({ target: this.imm as unknown as Memtable, done });
    } else {
      this.flushRequests.push(done);
    }
  }

  /**
   * Log mode `applied-index` with an empty memtable: writes of no ops (or none) since the last
   * flush. If the applied index moved, a manifest edit records it alone: the tables already are the
   * state at that index.
   */
  private checkpointApplied(done: WriteCallback): void {
    assert(this.mem.empty && this.imm === null, 'LsmEngine.checkpointApplied: data not in tables');
    if (this.mem.lastLsn <= this.versions.checkpointLsn) return done(null);
    const edit = emptyEdit();
    edit.checkpointLsn = this.mem.lastLsn;
    this.versions.logAndApply(edit, (err) => {
      if (err === null) return done(null);
      this.fail(err);
      done(new EngineFailedError(err));
    });
  }

  // ---- background work ----

  private scheduleBackground(): void {
    if (this.closed || this.failure_ !== null) return;
    if (this.imm !== null && this.flushJob === null) this.startFlush(this.imm);
    if (this.compactionJob === null) {
      const pick = pickCompaction(this.versions.current, this.versions.compactPointers, this.options);
      if (pick !== null) this.startCompaction(pick);
    }
  }

  private startFlush(imm: Memtable): void {
    const job = new FlushJob(this.host, imm);
    this.flushJob = job;
    job.start((err) => {
      if (this.closed) return;
      this.flushJob = null;
      if (err !== null) return this.fail(err);
      assert(this.imm === imm, 'LsmEngine: flushed memtable is not the immutable one');
      this.imm = null;
      this.counters.flushes++;
      const checkpoint = imm.lastLsn;
      this.wal?.truncatePrefix(checkpoint, (e) => e !== null && this.fail(e));
      for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
        const w = this.flushWaiters[i] as { target: Memtable; done: WriteCallback };
        if (w.target === imm) {
          this.flushWaiters.splice(i, 1);
          w.done(null);
        }
      }
      const requests = this.flushRequests;
      this.flushRequests = [];
      for (const r of requests) this.requestFlush(r);
      this.pump();
      if (!this.closed && this.failure_ === null) this.rotateIfLogFull();
      this.scheduleBackground();
    });
  }

  private startCompaction(pick: NonNullable<ReturnType<typeof pickCompaction>>): void {
    const version = this.versions.pin();
    const job = new CompactionJob(this.host, pick, version);
    this.compactionJob = job;
    job.start((err) => {
      if (this.closed) return;
      this.compactionJob = null;
      this.versions.unpin(version);
      if (err !== null) return this.fail(err);
      this.counters.compactions++;
      this.counters.compactionBytesRead += job.bytesRead;
      this.deps.log.log('debug', 'storage.lsm.compacted', {
        level: pick.level,
        inputs: pick.inputs.length + pick.overlaps.length,
        trivialMove: pick.trivialMove,
        tombstonesDropped: job.tombstonesDropped,
      });
      this.pump();
      this.scheduleBackground();
    });
  }

  /** Deletes tables no live version lists any more. */
  removeObsolete(files: FileMeta[]): void {
    for (const f of files) {
      this.tables.forget(f);
      try {
        removeIfPresent(this.deps.disk, tablePath(this.dir, f.number));
      } catch (err) {
        // A leftover file is garbage the next open removes; not worth stopping for.
        this.deps.log.log('warn', 'storage.lsm.remove_failed', { table: f.number, error: (err as Error).message });
      }
    }
  }

  private fail(err: Error): void {
    if (this.failure_ !== null || this.closed) return;
    this.failure_ = err;
    this.deps.log.log('error', 'storage.lsm.failed', { dir: this.dir, error: err.message });
    // A failed directory fsync may have dropped pending entries a manifest update relies on.
    this.versions.poison(err);
    const failed = new EngineFailedError(err);
    const queued = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const w of queued) w.done(failed);
    for (const w of this.flushWaiters.splice(0)) w.done(failed);
    for (const r of this.flushRequests.splice(0)) r(failed);
  }

  // ---- reads ----

  get(key: string): string | undefined {
    this.checkOpen('get');
    this.assist();
    return this.getFrom({ mem: this.mem, imm: this.imm, version: this.versions.current }, key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.checkOpen('scan');
    checkScanArgs(start, end, limit);
    this.assist();
    return this.scanFrom({ mem: this.mem, imm: this.imm, version: this.versions.current }, start, end, limit, reverse);
  }

  snapshot(): Snapshot {
    this.checkOpen('take a snapshot');
    const snap = new LsmSnapshot(this, { mem: this.mem.view(), imm: this.imm, version: this.versions.pin() });
    this.snapshots.add(snap);
    return snap;
  }

  /** @internal for LsmSnapshot */
  releaseSnapshot(snap: LsmSnapshot, version: Version): void {
    if (!this.snapshots.delete(snap)) return;
    if (!this.closed) this.versions.unpin(version);
  }

  /** @internal */
  getFrom(src: ReadSources, key: string): string | undefined {
    if (typeof key !== 'string') throw new RangeError(`get: key must be a string, got ${typeof key}`);
    const m = src.mem instanceof Memtable ? src.mem.get(key) : viewGet(src.mem, key);
    if (m !== undefined) return m ?? undefined;
    if (src.imm !== null) {
      const i = src.imm.get(key);
      if (i !== undefined) return i ?? undefined;
    }
    if (this.lookupBuf.length < key.length * 3) {
      this.lookupBuf = new Uint8Array(key.length * 6);
      this.lookupView = this.lookupBuf.subarray(0, 0);
    }
    const keyBytes = utf8EncodeInto(key, this.lookupBuf, 0);
    if (this.lookupView.length !== keyBytes) this.lookupView = this.lookupBuf.subarray(0, keyBytes);
    const kb = this.lookupView;
    const hash = bloomHash(kb);
    const v = src.version;
    for (const f of v.levels[0] as FileMeta[]) {
      if (compareBytes(kb, f.smallest) < 0 || compareBytes(kb, f.largest) > 0) continue;
      const r = this.tables.table(f).get(kb, hash, this.hit);
      if (r !== null) return r.deleted ? undefined : utf8Decode(r.value);
    }
    for (let l = 1; l < LEVELS; l++) {
      const f = v.findFile(l, kb);
      if (f === null) continue;
      const r = this.tables.table(f).get(kb, hash, this.hit);
      if (r !== null) return r.deleted ? undefined : utf8Decode(r.value);
    }
    return undefined;
  }

  /** @internal */
  scanFrom(src: ReadSources, start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    const out: [string, string][] = [];
    if (limit === 0 || (end !== null && compareKeys(start, end) >= 0)) return out;
    const startB = utf8Encode(start);
    const endB = end === null ? null : utf8Encode(end);
    const sources: InternalIterator[] = [new MemtableIterator(src.mem instanceof Memtable ? src.mem.tree : src.mem)];
    let it: MergingIterator | null = null;
    try {
      if (src.imm !== null) sources.push(new MemtableIterator(src.imm.tree));
      for (const f of src.version.levels[0] as FileMeta[]) {
        if (compareBytes(f.largest, startB) < 0 || (endB !== null && compareBytes(f.smallest, endB) >= 0)) continue;
        sources.push(this.tables.table(f).iterator(true));
      }
      for (let l = 1; l < LEVELS; l++) {
        const files = src.version.levels[l] as FileMeta[];
        if (files.length > 0) sources.push(new LevelIterator(files, this.tables, true));
      }
      it = new MergingIterator(sources);
      if (!reverse) {
        for (it.seekGE(startB); it.valid() && out.length < limit; it.next()) {
          if (endB !== null && compareBytes(it.key(), endB) >= 0) break;
          if (!it.isDelete()) out.push([it.keyString(), it.valueString()]);
        }
      } else {
        for (endB === null ? it.seekLast() : it.seekLT(endB); it.valid() && out.length < limit; it.prev()) {
          if (compareBytes(it.key(), startB) < 0) break;
          if (!it.isDelete()) out.push([it.keyString(), it.valueString()]);
        }
      }
    } finally {
      if (it !== null) it.close();
      else for (const s of sources) s.close();
    }
    return out;
  }

  /** @internal */
  checkOpen(what: string): void {
    if (this.closed) throw new EngineClosedError(what);
  }

  // ---- the rest of the contract ----

  close(done: WriteCallback): void {
    if (this.closed) return done(null);
    if (this.wal === null && !this.closing && this.failure_ === null && this.applied > this.versions.checkpointLsn) {
      // Log mode `applied-index`: the memtable is what the caller would replay; write it out first.
      this.closing = true;
      const queued = this.queue.slice(this.queueHead);
      this.queue.length = 0;
      this.queueHead = 0;
      for (const w of queued) w.done(new EngineClosedError('write'));
      this.requestFlush((err) => this.closeNow((e) => done(err ?? e)));
      return;
    }
    this.closeNow(done);
  }

  private closeNow(done: WriteCallback): void {
    if (this.closed) return done(null);
    this.closed = true;
    const closedErr = new EngineClosedError('write');
    const queued = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const w of queued) w.done(closedErr);
    for (const w of this.flushWaiters.splice(0)) w.done(closedErr);
    for (const r of this.flushRequests.splice(0)) r(closedErr);
    const finish = (err: Error | null) => {
      this.versions.close();
      this.tables.closeAll();
      done(err);
    };
    if (this.wal === null) return finish(null);
    this.wal.close(finish);
  }

  stats(): EngineStats {
    const v = this.versions.current;
    const walStats = this.wal?.stats() ?? { bytesWritten: 0, diskBytes: 0, fsyncs: 0 };
    const levels = [];
    let tableBytes = 0;
    for (let l = 0; l < LEVELS; l++) {
      const bytes = v.levelBytes(l);
      tableBytes += bytes;
      levels.push({ level: l, files: (v.levels[l] as FileMeta[]).length, bytes });
    }
    const diskBytesWritten = walStats.bytesWritten + this.flushBytesWritten + this.counters.compactionBytesWritten + this.versions.bytesWritten;
    return {
      ...this.counters,
      diskBytes: tableBytes + walStats.diskBytes + this.versions.manifestBytes(),
      memoryBytes: this.mem.bytes + (this.imm?.bytes ?? 0) + this.blockCache.bytes + (this.tables.images?.bytes ?? 0),
      diskBytesWritten,
      writeAmplification: this.counters.userBytesWritten === 0 ? 0 : diskBytesWritten / this.counters.userBytesWritten,
      fsyncs: walStats.fsyncs + this.versions.fsyncs,
      cacheHits: this.blockCache.hits,
      cacheMisses: this.blockCache.misses,
      cacheBytes: this.blockCache.bytes,
      failure: this.failure_ === null ? null : this.failure_.message,
      levels,
    };
  }

  /** What background work is in flight (tests crash the machine in the middle of each kind). */
  backgroundWork(): { flushing: boolean; compacting: boolean; writingManifest: boolean } {
    return { flushing: this.flushJob !== null, compacting: this.compactionJob !== null && !this.compactionJob.pick.trivialMove, writingManifest: this.versions.writingManifest };
  }

  /** Bloom filter checks and how many of them saved a block read (for the bench and tests). */
  bloomStats(): TableReadStats {
    return { ...this.readStats };
  }

  /** Table images (table-images.ts): tables imaged since open, bytes held, block reads served. */
  imageStats(): { imaged: number; bytes: number; reads: number } {
    const im = this.tables.images;
    return { imaged: im?.imaged ?? 0, bytes: im?.bytes ?? 0, reads: im?.reads ?? 0 };
  }
}

class LsmSnapshot implements Snapshot {
  private released = false;

  constructor(
    private readonly engine: LsmEngine,
    private readonly src: ReadSources,
  ) {}

  get(key: string): string | undefined {
    this.check();
    return this.engine.getFrom(this.src, key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.check();
    checkScanArgs(start, end, limit);
    return this.engine.scanFrom(this.src, start, end, limit, reverse);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.engine.releaseSnapshot(this, this.src.version);
  }

  private check(): void {
    if (this.released) throw new RangeError('snapshot used after release()');
    this.engine.checkOpen('read a snapshot');
  }
}

/**
 * Refuses a directory of the other log mode: the WAL mode's recovery would not know the manifest's
 * checkpoint is an applied index, and the applied-index mode's would ignore a WAL's records.
 */
function checkLogMode(deps: EngineDeps, dir: string, options: LsmOptions, recovered: ReturnType<typeof recoverVersions>): void {
  const want = options.logMode === 'wal' ? LOG_MODE_WAL : LOG_MODE_APPLIED_INDEX;
  const name = (m: number) => (m === LOG_MODE_WAL ? 'wal' : 'applied-index');
  if (recovered.logMode !== null && recovered.logMode !== want) {
    throw new StorageOptionsError(`${dir} was written in log mode "${name(recovered.logMode)}": it cannot be opened in log mode "${options.logMode}"`);
  }
  if (want === LOG_MODE_WAL && recovered.walBlockBytes !== null && recovered.walBlockBytes !== options.walBlockBytes) {
    throw new StorageOptionsError(`${dir} was written with walBlockBytes ${recovered.walBlockBytes}, not ${options.walBlockBytes}`);
  }
  // A new tree in applied-index mode next to a WAL: a WAL-mode tree that lost its CURRENT, whose
  // records this mode would ignore. Left for an operator to look at.
  if (want === LOG_MODE_APPLIED_INDEX && recovered.logMode === null && deps.disk.exists(joinPath(dir, WAL_DIR))) {
    throw new StorageOptionsError(`${dir} holds a WAL but no manifest: it cannot be opened in log mode "applied-index"`);
  }
}

/** Removes what no version lists: tables of interrupted flushes and compactions, old manifests. */
function collectGarbage(deps: EngineDeps, dir: string, recovered: ReturnType<typeof recoverVersions>, versions: VersionSet, removed: string[]): void {
  const live = new Set(recovered.version.files().map((f) => f.number));
  for (const name of deps.disk.list(dir)) {
    const table = parseTableName(name);
    const manifest = parseManifestName(name);
    if (table !== null) versions.skipPast(table);
    if (manifest !== null) versions.skipPast(manifest);
    const garbage = (table !== null && !live.has(table)) || (manifest !== null && manifest !== recovered.manifestNumber) || name === CURRENT_TMP;
    if (garbage) {
      removeIfPresent(deps.disk, joinPath(dir, name));
      removed.push(name);
    }
  }
}

