import type { DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { AppendLog } from '../append-log.js';
import { rewriteInPlace, syncEach } from '../rewrite.js';
import { checkBatch, type WriteOp } from '../batch.js';
import {
  checkScanArgs,
  emptyStats,
  LOGGED_BY_ENGINE,
  type Engine,
  type EngineDeps,
  type EngineStats,
  type Snapshot,
  type WriteCallback,
} from '../engine.js';
import { EngineClosedError, EngineFailedError, InvalidWriteError, StorageCorruptionError } from '../errors.js';
import { scanTree } from '../scan.js';
import { ByteWriter } from '../util/bytes.js';
import type { BTree, BTreeView } from '../util/btree.js';
import { removeIfPresent } from '../lsm/version-set.js';
import { dataPath, hintPath, mergeMarkerPath } from './files.js';
import { checkEntry, encodeBatchRecord, entryKey, entryValue } from './format.js';
import { HintJob, type HintHost } from './hint-job.js';
import { MergeJob, type MergeHost } from './merge-job.js';
import { type BitcaskOptions, resolveBitcaskOptions } from './options.js';
import { type BitcaskRecovery, type FileInfo, type Loc, recoverBitcask } from './recovery.js';

/** Estimated bytes of one keydir entry beyond its key: the location object and the tree slot. */
const KEYDIR_ENTRY_BYTES = 96;

interface QueuedWrite {
  ops: readonly WriteOp[];
  done: WriteCallback;
}

/**
 * Bitcask (Sheehy and Smith, Basho 2010): a log-structured hash table. Every write is appended to
 * the active data file; an in-memory keydir maps each key to the file and offset of its newest
 * entry, so a read is one lookup and one read of one entry. Closed files get hint files for a fast
 * start; a merge rewrites the closed files' live entries once enough of them is dead.
 *
 * Its limit, by design: every key is in memory (about the key's bytes plus ~100 bytes each), so
 * the key set must fit in RAM; values need not. Range scans work (the keydir here is an ordered
 * tree, not the original's hash table) but read one entry per key.
 *
 * The write path, fsync policy and group commit are the WAL's (append-log.ts): a batch is one
 * record; under `always` the keydir changes only once the batch is durable.
 */
export class BitcaskEngine implements Engine {
  readonly kind = 'bitcask' as const;
  /** Bitcask's data files are its log: it has no other mode (index.ts refuses one). */
  readonly logMode = 'wal' as const;
  private readonly keydir: BTree<string, Loc>;
  private readonly files: Map<number, FileInfo>;
  private readonly readers = new Map<number, DiskFile>();
  private nextSeq: number;
  private nextFileId: number;
  private readonly queue: QueuedWrite[] = [];
  private inflightBytes = 0;
  private failure_: Error | null = null;
  private closed = false;
  private readonly encoder = new ByteWriter(64 * 1024);
  private readonly counters = emptyStats('bitcask');
  private keyBytes = 0;
  private merge: MergeJob | null = null;
  private hintJob: HintJob | null = null;
  private readonly hintQueue: number[] = [];
  private backgroundBytesWritten = 0;
  private snapshotSeq = 0;
  private readonly liveSnapshots = new Set<number>();
  /** Merged-away files, deleted once every snapshot taken before the merge is released. */
  private readonly pendingDeletes: { ids: number[]; beforeSnapshot: number; marker: string }[] = [];
  private readonly mergeHost: MergeHost;
  private readonly hintHost: HintHost;

  private constructor(
    private readonly deps: EngineDeps,
    readonly dir: string,
    readonly options: BitcaskOptions,
    private readonly log: AppendLog,
    recovered: BitcaskRecovery,
    readonly recovery: Omit<BitcaskRecovery, 'keydir' | 'files'>,
  ) {
    this.keydir = recovered.keydir;
    this.files = recovered.files;
    this.nextSeq = recovered.nextSeq;
    this.nextFileId = recovered.nextFileId;
    const c = this.keydir.cursor();
    for (c.seekFirst(); c.valid(); c.next()) this.keyBytes += c.key().length;
    const common = {
      deps,
      dir,
      stepBytes: options.backgroundStepBytes,
      stopped: () => this.closed || this.failure_ !== null,
      schedule: (fn: () => void) => void deps.clock.timer(0, fn),
      countWritten: (n: number) => void (this.backgroundBytesWritten += n),
    };
    this.hintHost = common;
    this.mergeHost = { ...common, fileBytesMax: options.fileBytesMax, keydir: this.keydir, reader: (id) => this.reader(id), syncLog: (done) => this.log.sync(done) };
  }

  /** Opens (or creates) the store in dir: rebuilds the keydir, cuts a torn tail, then done. */
  static open(deps: EngineDeps, dir: string, given: Partial<BitcaskOptions>, done: (err: Error | null, engine?: BitcaskEngine) => void): void {
    let engine: BitcaskEngine;
    let log: AppendLog;
    let rewritten: DiskFile | null = null;
    try {
      const options = resolveBitcaskOptions(given);
      deps.disk.mkdir(dir);
      const rec = recoverBitcask(deps.disk, dir);
      let activeId: number;
      if (rec.active === null) {
        activeId = rec.nextFileId++;
        rec.files.set(activeId, { id: activeId, bytes: 0, liveBytes: 0, hasHint: false });
      } else activeId = rec.active.id;
      // The resumed data file is where a failed fsync of the last run may have left a hole (rewrite.ts).
      if (rec.active !== null && options.fsync.kind !== 'never') rewritten = rewriteInPlace(deps.disk, dataPath(dir, activeId), rec.active.validBytes);
      log = new AppendLog(deps, { dir, fsync: options.fsync, segmentPath: (id) => dataPath(dir, id), bufferBytesMax: options.bufferBytesMax }, activeId, rec.active?.validBytes ?? null);
      const { keydir: _k, files: _f, ...report } = rec;
      engine = new BitcaskEngine(deps, dir, options, log, rec, report);
      if (rec.droppedTail !== null) deps.log.log('warn', 'storage.bitcask.tail_dropped', { ...rec.droppedTail });
      for (const r of rec.hintsRejected) deps.log.log('warn', 'storage.bitcask.hint_rejected', { ...r });
      for (const f of rec.files.values()) if (f.id !== activeId && !f.hasHint) engine.hintQueue.push(f.id);
    } catch (err) {
      return done(err as Error);
    }
    syncEach(rewritten === null ? [] : [rewritten], (rewriteErr) => log.sync((syncErr) => {
      const err = rewriteErr ?? syncErr;
      if (err !== null) return log.close(() => done(err));
      // The open's directory fsync made the deletions of consumed files durable.
      for (const m of engine.recovery.markers) engine.removeQuietly(mergeMarkerPath(dir, m));
      const r = engine.recovery;
      deps.log.log('info', 'storage.bitcask.opened', { dir, keys: engine.keydir.size, active: r.active, hintsUsed: r.hintsUsed, garbage: r.garbage, droppedTail: r.droppedTail });
      engine.scheduleBackground();
      done(null, engine);
    }));
  }

  // ---- writes ----

  write(ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.closed) return done(new EngineClosedError('write'));
    if (this.failure_ !== null) return done(new EngineFailedError(this.failure_));
    const checked = checkBatch(ops);
    if (typeof checked === 'string') return done(new InvalidWriteError(checked));
    if (this.queue.length > 0 || this.inflightBytes >= this.options.inflightBytesMax) {
      this.queue.push({ ops, done });
      this.counters.writeStalls++;
      return;
    }
    this.admit(ops, done);
  }

  put(key: string, value: string, done: WriteCallback): void {
    this.write([[key, value]], done);
  }

  delete(key: string, done: WriteCallback): void {
    this.write([[key, null]], done);
  }

  private admit(ops: readonly WriteOp[], done: WriteCallback): void {
    const seq = this.nextSeq++;
    const entries: { offset: number; size: number }[] = [];
    encodeBatchRecord(this.encoder, seq, ops, (_i, offset, size) => entries.push({ offset, size }));
    const record = this.encoder.written();
    if (this.log.activeSize() > 0 && this.log.activeSize() + record.length > this.options.fileBytesMax && this.log.canRotate()) this.rotate();
    const file = this.log.activeId();
    const base = this.log.activeSize();
    let userBytes = 0;
    for (const e of entries) userBytes += e.size - 13;
    this.log.append(record);
    (this.files.get(file) as FileInfo).bytes += record.length;
    this.inflightBytes += record.length;
    this.log.commit((err) => {
      this.inflightBytes -= record.length;
      if (err !== null) {
        this.fail(err);
        return done(new EngineFailedError(err));
      }
      for (let i = 0; i < ops.length; i++) {
        const [key, value] = ops[i] as WriteOp;
        const e = entries[i] as { offset: number; size: number };
        this.applyEntry(key, value === null ? null : { file, offset: base + e.offset, size: e.size, seq });
      }
      this.counters.writes++;
      this.counters.userBytesWritten += userBytes;
      done(null);
      this.pump();
      this.scheduleBackground();
    });
  }

  private applyEntry(key: string, loc: Loc | null): void {
    const prev = loc === null ? this.keydir.delete(key) : this.keydir.set(key, loc);
    if (prev !== undefined) (this.files.get(prev.file) as FileInfo).liveBytes -= prev.size;
    else if (loc !== null) this.keyBytes += key.length;
    if (prev !== undefined && loc === null) this.keyBytes -= key.length;
    if (loc !== null) (this.files.get(loc.file) as FileInfo).liveBytes += loc.size;
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.closed && this.failure_ === null && this.inflightBytes < this.options.inflightBytesMax) {
      const w = this.queue.shift() as QueuedWrite;
      this.admit(w.ops, w.done);
    }
  }

  private rotate(): number {
    const sealed = this.log.activeId();
    const id = this.nextFileId++;
    this.log.rotate(id);
    this.deps.log.log('debug', 'storage.bitcask.rotated', { sealed, active: id });
    this.files.set(id, { id, bytes: 0, liveBytes: 0, hasHint: false });
    this.hintQueue.push(sealed);
    return id;
  }

  writeApplied(_index: number, _ops: readonly WriteOp[], done: WriteCallback): void {
    done(new InvalidWriteError(LOGGED_BY_ENGINE));
  }

  appliedIndex(): number {
    return 0;
  }

  durableAppliedIndex(): number {
    return 0;
  }

  flush(done: WriteCallback): void {
    if (this.closed) return done(new EngineClosedError('flush'));
    this.log.sync((err) => {
      if (err !== null) {
        this.fail(err);
        return done(new EngineFailedError(err));
      }
      done(null);
    });
  }

  // ---- background: hints and merges ----

  private scheduleBackground(): void {
    if (this.closed || this.failure_ !== null) return;
    if (this.hintJob === null && this.merge === null) {
      const id = this.hintQueue.shift();
      if (id !== undefined && this.files.has(id)) this.startHint(id);
    }
    if (this.merge === null && this.hintJob === null && this.mergeWanted() && this.log.canRotate()) this.startMerge();
  }

  private mergeWanted(): boolean {
    let total = 0;
    let live = 0;
    const active = this.log.activeId();
    for (const f of this.files.values()) {
      if (f.id === active) continue;
      total += f.bytes;
      live += f.liveBytes;
    }
    const dead = total - live;
    return total > 0 && dead >= this.options.mergeDeadBytesMin && dead / total >= this.options.mergeDeadRatio;
  }

  private startHint(id: number): void {
    const job = new HintJob(this.hintHost, id);
    this.hintJob = job;
    job.start((err) => {
      this.hintJob = null;
      if (this.closed) return;
      if (err !== null) return this.fail(err);
      const f = this.files.get(id);
      if (f !== undefined) f.hasHint = true;
      this.scheduleBackground();
    });
  }

  private startMerge(): void {
    // Reserve ids below the next active file for the outputs: at most one more than the inputs.
    const inputs = [...this.files.values()].map((f) => ({ id: f.id, bytes: f.bytes })).sort((a, b) => a.id - b.id);
    const first = this.nextFileId;
    // An input larger than a file (one batch larger than fileBytesMax, or written while the log
    // could not rotate) is split among several outputs: ids for those too, by its size — each
    // output but the last is more than half full unless one entry alone fills it. Without them a
    // snapshot installed into a small bitcask (rot-bitcask seed 14) failed its merge.
    const fileBytesMax = this.options.fileBytesMax;
    const split = inputs.reduce((n, i) => n + (i.bytes > fileBytesMax ? Math.ceil((2 * i.bytes) / fileBytesMax) : 0), 0);
    const last = first + inputs.length + split;
    this.nextFileId = last + 1;
    this.rotate();
    this.hintQueue.length = 0;
    const job = new MergeJob(this.mergeHost, inputs, [first, last]);
    this.merge = job;
    this.deps.log.log('debug', 'storage.bitcask.merge_started', { inputs: inputs.map((i) => i.id), reserved: [first, last], active: this.log.activeId() });
    // Every input must be sealed (fsynced) before any output can become durable.
    this.log.sync((err) => {
      if (err !== null) return this.fail(err);
      job.start((e) => this.mergeDone(job, e));
    });
  }

  private mergeDone(job: MergeJob, err: Error | null): void {
    this.merge = null;
    if (this.closed) return;
    if (err !== null) return this.fail(err);
    for (const id of job.outputIds) this.files.set(id, { id, bytes: job.outputBytes(id), liveBytes: 0, hasHint: true });
    for (const m of job.moved) {
      if (this.keydir.get(m.key) !== m.from) continue; // overwritten or deleted since the copy
      this.keydir.set(m.key, m.to);
      (this.files.get(m.from.file) as FileInfo).liveBytes -= m.from.size;
      (this.files.get(m.to.file) as FileInfo).liveBytes += m.to.size;
    }
    const ids = job.inputs.map((i) => i.id);
    for (const id of ids) {
      const f = this.files.get(id) as FileInfo;
      assert(f.liveBytes === 0, () => `merge: input ${id} still has ${f.liveBytes} live bytes`);
      this.files.delete(id);
    }
    this.counters.compactions++;
    this.counters.compactionBytesRead += job.bytesRead;
    this.deps.log.log('debug', 'storage.bitcask.merged', { inputs: ids, outputs: job.outputIds, moved: job.moved.length });
    this.pendingDeletes.push({ ids, beforeSnapshot: this.snapshotSeq, marker: job.markerPath });
    this.deleteUnpinned();
    this.scheduleBackground();
  }

  private deleteUnpinned(): void {
    let oldest = Infinity;
    for (const s of this.liveSnapshots) oldest = Math.min(oldest, s);
    for (let i = this.pendingDeletes.length - 1; i >= 0; i--) {
      const p = this.pendingDeletes[i] as { ids: number[]; beforeSnapshot: number; marker: string };
      if (oldest <= p.beforeSnapshot) continue;
      this.pendingDeletes.splice(i, 1);
      for (const id of p.ids) {
        this.readers.get(id)?.close();
        this.readers.delete(id);
        this.removeQuietly(dataPath(this.dir, id));
        this.removeQuietly(hintPath(this.dir, id));
      }
      this.removeMarkersAfterSync([p.marker]);
    }
  }

  /** Removes merge markers once the deletions they guard are durable (a directory fsync). */
  private removeMarkersAfterSync(markers: string[]): void {
    if (markers.length === 0) return;
    this.log.noteDirChanged();
    this.log.sync((err) => {
      if (err !== null) return this.fail(err);
      for (const m of markers) this.removeQuietly(m);
    });
  }

  /** A file left behind is garbage the next open removes: not worth stopping for. */
  private removeQuietly(path: string): void {
    try {
      removeIfPresent(this.deps.disk, path);
    } catch (err) {
      this.deps.log.log('warn', 'storage.bitcask.remove_failed', { path, error: (err as Error).message });
    }
  }

  private fail(err: Error): void {
    if (this.failure_ !== null || this.closed) return;
    this.failure_ = err;
    this.deps.log.log('error', 'storage.bitcask.failed', { dir: this.dir, error: err.message });
    // The data files share the directory with merges and hints: whatever failed may have dropped
    // the log's pending entries there, so the log must not acknowledge anything more.
    this.log.poison(err);
    const failed = new EngineFailedError(err);
    for (const w of this.queue.splice(0)) w.done(failed);
  }

  // ---- reads ----

  private reader(id: number): DiskFile {
    let r = this.readers.get(id);
    if (r === undefined) {
      r = this.deps.disk.open(dataPath(this.dir, id), 'read');
      this.readers.set(id, r);
    }
    return r;
  }

  /** Reads and verifies the entry at loc; returns its value. */
  private readValue(key: string, loc: Loc): string {
    const open = loc.file === this.log.activeId() || loc.file === this.log.sealingId();
    const data = open ? this.log.read(loc.file, loc.offset, loc.size) : this.reader(loc.file).read(loc.offset, loc.size);
    const path = dataPath(this.dir, loc.file);
    const bad = checkEntry(data, 0, loc.size);
    if (bad !== null) throw new StorageCorruptionError(path, loc.offset, bad);
    if (entryKey(data, 0) !== key) throw new StorageCorruptionError(path, loc.offset, `entry holds another key than ${JSON.stringify(key)}`);
    return entryValue(data, 0);
  }

  get(key: string): string | undefined {
    this.checkOpen('get');
    return this.getFrom(this.keydir, key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.checkOpen('scan');
    checkScanArgs(start, end, limit);
    return scanTree(this.keydir, start, end, limit, reverse, (k, loc) => this.readValue(k, loc));
  }

  /** @internal */
  getFrom(view: BTreeView<string, Loc>, key: string): string | undefined {
    if (typeof key !== 'string') throw new RangeError(`get: key must be a string, got ${typeof key}`);
    const loc = view.get(key);
    return loc === undefined ? undefined : this.readValue(key, loc);
  }

  /** @internal */
  scanFrom(view: BTreeView<string, Loc>, start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    return scanTree(view, start, end, limit, reverse, (k, loc) => this.readValue(k, loc));
  }

  snapshot(): Snapshot {
    this.checkOpen('take a snapshot');
    const id = ++this.snapshotSeq;
    this.liveSnapshots.add(id);
    return new BitcaskSnapshot(this, this.keydir.freeze(), () => {
      this.liveSnapshots.delete(id);
      if (!this.closed) this.deleteUnpinned();
    });
  }

  /** @internal */
  checkOpen(what: string): void {
    if (this.closed) throw new EngineClosedError(what);
  }

  close(done: WriteCallback): void {
    if (this.closed) return done(null);
    this.closed = true;
    const closedErr = new EngineClosedError('write');
    for (const w of this.queue.splice(0)) w.done(closedErr);
    this.log.close((err) => {
      for (const r of this.readers.values()) r.close();
      this.readers.clear();
      done(err);
    });
  }

  /** What background work is in flight (tests crash the machine in the middle of each kind). */
  backgroundWork(): { merging: boolean; writingHint: boolean } {
    return { merging: this.merge !== null, writingHint: this.hintJob !== null };
  }

  stats(): EngineStats {
    let diskBytes = 0;
    for (const f of this.files.values()) diskBytes += f.bytes;
    const diskBytesWritten = this.log.stats.bytesWritten + this.backgroundBytesWritten;
    return {
      ...this.counters,
      diskBytes,
      memoryBytes: this.keyBytes + this.keydir.size * KEYDIR_ENTRY_BYTES,
      diskBytesWritten,
      writeAmplification: this.counters.userBytesWritten === 0 ? 0 : diskBytesWritten / this.counters.userBytesWritten,
      fsyncs: this.log.stats.fsyncs,
      compactionBytesWritten: this.backgroundBytesWritten,
      failure: this.failure_ === null ? null : this.failure_.message,
      levels: [],
    };
  }
}

class BitcaskSnapshot implements Snapshot {
  private released = false;

  constructor(
    private readonly engine: BitcaskEngine,
    private readonly view: BTreeView<string, Loc>,
    private readonly onRelease: () => void,
  ) {}

  get(key: string): string | undefined {
    this.check();
    return this.engine.getFrom(this.view, key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.check();
    checkScanArgs(start, end, limit);
    return this.engine.scanFrom(this.view, start, end, limit, reverse);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }

  private check(): void {
    if (this.released) throw new RangeError('snapshot used after release()');
    this.engine.checkOpen('read a snapshot');
  }
}
