import type { Timer } from '../../env/clock.js';
import { joinPath } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { checkBatch, decodeBatch, encodeBatch, type WriteOp } from '../batch.js';
import {
  checkScanArgs,
  emptyStats,
  type Engine,
  type EngineDeps,
  type EngineStats,
  type Snapshot,
  type WriteCallback,
} from '../engine.js';
import { EngineClosedError, EngineFailedError, InvalidWriteError, StorageCorruptionError, StorageOptionsError } from '../errors.js';
import { compareKeys } from '../keys.js';
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
import type { InternalIterator } from './iterator.js';
import type { JobHost } from './job-host.js';
import { LevelIterator } from './level-iterator.js';
import { Memtable, MemtableIterator, memtableBytesOf, viewGet, type MemView } from './memtable.js';
import { MergingIterator } from './merging-iterator.js';
import { type LsmOptions, resolveLsmOptions } from './options.js';
import type { TableHit, TableReadStats } from './table.js';
import { TableCache } from './table-cache.js';
import { type FileMeta, LEVELS, type Version } from './version.js';
import { recoverVersions, removeIfPresent, VersionSet } from './version-set.js';

/** Block size of the manifest's log format (fixed: it is part of the directory's format). */
export const MANIFEST_BLOCK_BYTES = 4096;

/** What the last open found and did, for logs and tests. */
export interface LsmRecoveryReport {
  wal: WalRecoveryReport;
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
 */
export class LsmEngine implements Engine {
  readonly kind = 'lsm' as const;
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
  private readonly encoder = new ByteWriter(64 * 1024);
  private lookupBuf = new Uint8Array(256);
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
    private readonly wal: Wal,
    private readonly versions: VersionSet,
    private readonly tables: TableCache,
    private readonly blockCache: BlockCache,
    private readonly readStats: TableReadStats,
    readonly recovery: LsmRecoveryReport,
  ) {
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
   * a memtable, removes files no version lists, and starts a new manifest; done once that state is
   * durable. Corruption fails with StorageCorruptionError naming the file and offset.
   */
  static open(deps: EngineDeps, dir: string, given: Partial<LsmOptions>, done: (err: Error | null, engine?: LsmEngine) => void): void {
    let options: LsmOptions;
    let versions: VersionSet;
    let tables: TableCache;
    let blockCache: BlockCache;
    const readStats: TableReadStats = { bloomChecks: 0, bloomNegatives: 0 };
    let recovered: ReturnType<typeof recoverVersions>;
    const garbage: string[] = [];
    try {
      options = resolveLsmOptions(given);
      deps.disk.mkdir(dir);
      recovered = recoverVersions(deps.disk, dir, MANIFEST_BLOCK_BYTES);
      if (recovered.walBlockBytes !== null && recovered.walBlockBytes !== options.walBlockBytes) {
        throw new StorageOptionsError(`${dir} was written with walBlockBytes ${recovered.walBlockBytes}, not ${options.walBlockBytes}`);
      }
      blockCache = new BlockCache(options.blockCacheBytes);
      tables = new TableCache(deps.disk, dir, blockCache, options.tableCacheMax, readStats);
      // The engine exists only after the WAL replay; versions report obsolete files to it then.
      let engineRef: LsmEngine | null = null;
      versions = new VersionSet(
        deps,
        { dir, blockBytes: MANIFEST_BLOCK_BYTES, walBlockBytes: options.walBlockBytes, manifestBytesMax: options.manifestBytesMax, onObsolete: (f) => engineRef?.removeObsolete(f) },
        recovered,
      );
      collectGarbage(deps, dir, recovered, versions, garbage);
      const mem = new Memtable();
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
        (err, wal, walReport) => {
          if (err !== null) return done(err);
          const report: LsmRecoveryReport = {
            wal: walReport as WalRecoveryReport,
            manifestDroppedTail: recovered.droppedTail,
            garbageRemoved: garbage,
            tables: recovered.version.files().length,
          };
          const engine = new LsmEngine(deps, dir, options, mem, wal as Wal, versions, tables, blockCache, readStats, report);
          engineRef = engine;
          versions.startNewManifest((err2) => {
            if (err2 !== null) {
              engine.closed = true;
              (wal as Wal).close(() => done(err2));
              return;
            }
            if (recovered.droppedTail !== null) deps.log.log('warn', 'storage.lsm.manifest_tail_dropped', { ...recovered.droppedTail });
            deps.log.log('info', 'storage.lsm.opened', { dir, tables: report.tables, walRecords: report.wal.records, garbage: garbage.length });
            // A long replay may have filled the memtable past its size: start flushing it now.
            if (engine.mem.bytes >= options.memtableBytes || engine.mem.logBytes >= options.memtableBytes * LOG_BYTES_PER_MEMTABLE) engine.rotate();
            engine.scheduleBackground();
            done(null, engine);
          });
        },
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
    if (this.closed) return done(new EngineClosedError('write'));
    this.assist();
    if (this.failure_ !== null) return done(new EngineFailedError(this.failure_));
    const checked = checkBatch(ops);
    if (typeof checked === 'string') return done(new InvalidWriteError(checked));
    const bytes = memtableBytesOf(ops, checked);
    if (this.queueHead < this.queue.length || this.stalled(bytes)) {
      this.queue.push({ ops, bytes, done });
      this.counters.writeStalls++;
      this.scheduleBackground();
      return;
    }
    this.admit(ops, bytes, done);
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
    // Overwrites leave a memtable's size where it was (it keeps one value per key), but each adds
    // to the WAL, which goes only once the memtable is in a table: without this, a workload of
    // overwrites grew the WAL without bound (and the replay after a restart with it).
    if (this.mem.logBytes >= o.memtableBytes * LOG_BYTES_PER_MEMTABLE && this.imm === null && !this.mem.empty) this.rotate();
    if (this.mem.bytes + this.inflightBytes + nextBytes > o.memtableBytes) {
      if (this.imm === null && !this.mem.empty) this.rotate();
      if (this.mem.bytes + this.inflightBytes + nextBytes > o.memtableBytes && (this.imm !== null || this.inflightBytes > 0)) return true;
    }
    const l0 = (this.versions.current.levels[0] as FileMeta[]).length;
    const debt = this.debt();
    if (l0 >= o.l0StopTrigger || debt >= o.debtStopBytes) return true;
    return (l0 >= o.l0SlowdownTrigger || debt >= o.debtSlowdownBytes) && !this.slowdownToken;
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

  private admit(ops: readonly WriteOp[], bytes: number, done: WriteCallback): void {
    this.slowdownToken = false;
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

  /** Admits queued writes while nothing holds them back. */
  private pump(): void {
    while (this.queueHead < this.queue.length && !this.closed && this.failure_ === null && !this.stalled((this.queue[this.queueHead] as QueuedWrite).bytes)) {
      const w = this.queue[this.queueHead] as QueuedWrite;
      this.queue[this.queueHead++] = undefined as unknown as QueuedWrite;
      this.admit(w.ops, w.bytes, w.done);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
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
    if (this.mem.empty) {
      if (this.imm === null) return done(null);
      this.flushWaiters.push({ target: this.imm, done });
    } else if (this.imm === null) {
      this.rotate();
      this.flushWaiters.push({ target: this.imm as unknown as Memtable, done });
    } else {
      this.flushRequests.push(done);
    }
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
      this.wal.truncatePrefix(checkpoint, (e) => e !== null && this.fail(e));
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
    if (this.lookupBuf.length < key.length * 3) this.lookupBuf = new Uint8Array(key.length * 6);
    const kb = this.lookupBuf.subarray(0, utf8EncodeInto(key, this.lookupBuf, 0));
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
    this.closed = true;
    const closedErr = new EngineClosedError('write');
    const queued = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const w of queued) w.done(closedErr);
    for (const w of this.flushWaiters.splice(0)) w.done(closedErr);
    for (const r of this.flushRequests.splice(0)) r(closedErr);
    this.wal.close((err) => {
      this.versions.close();
      this.tables.closeAll();
      done(err);
    });
  }

  stats(): EngineStats {
    const v = this.versions.current;
    const walStats = this.wal.stats();
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
      memoryBytes: this.mem.bytes + (this.imm?.bytes ?? 0),
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

