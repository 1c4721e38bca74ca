import type { Timer } from '../env/clock.js';
import type { DiskFile } from '../env/disk.js';
import { assert } from '../util/assert.js';
import type { EngineDeps } from './engine.js';
import type { FsyncPolicy } from './fsync-policy.js';
import { ByteWriter } from './util/bytes.js';

/**
 * An append-only log of segment files with group commit: the write path the WAL and Bitcask's data
 * files share. Callers append framed bytes and ask for a commit; the log decides when bytes reach
 * the page cache and when they are fsynced, under the fsync policy (fsync-policy.ts).
 *
 * Group commit: at most one fsync is in flight. Commits that arrive meanwhile wait for the next
 * one, which covers all of them: with many concurrent writers, one fsync acknowledges many writes.
 *
 * Bytes are gathered in a buffer and written to the active file in one call: before each fsync,
 * when the buffer passes bufferBytesMax, and (under `interval` and `never`) at the end of the
 * event-loop turn. Writes always hold whole records, so a lost write leaves a gap at a record
 * boundary.
 *
 * Rotation keeps the durable image a prefix of what was appended, across files: when the active
 * segment is rotated out ("sealed"), the new segment's bytes are held back until the sealed one is
 * fsynced and the directory (holding the new file's name) is fsynced too. So a crash can never keep
 * a later segment's data and lose an earlier segment's tail, which lets recovery treat any bad
 * data in a non-last segment as corruption. Only one segment seals at a time; an active segment
 * may outgrow its size while the previous one seals.
 *
 * A failed write or fsync is fatal: every waiting and later commit fails with the error (engine.ts
 * says why nothing may carry on after a failed fsync).
 */

export interface AppendLogOptions {
  dir: string;
  fsync: FsyncPolicy;
  /** Path of the segment file with this id. */
  segmentPath(id: number): string;
  /** Buffered bytes beyond which the buffer goes to the page cache at once. */
  bufferBytesMax: number;
}

interface Segment {
  id: number;
  path: string;
  file: DiskFile;
  /** Bytes in the file (the page cache), not counting the buffer. */
  size: number;
}

interface Waiter {
  /** Durable once `durable` reaches this many appended bytes... */
  ticket: number;
  /** ...and a directory fsync has covered this many directory changes. */
  dirTicket: number;
  done: (err: Error | null) => void;
}

export interface AppendLogStats {
  fsyncs: number;
  bytesWritten: number;
}

export class AppendLog {
  private active: Segment;
  private sealing: Segment | null = null;
  /** The active segment's bytes not yet written to its file. */
  private readonly buffer = new ByteWriter(64 * 1024);
  /** A file was created in dir since the last directory fsync. */
  private dirDirty: boolean;
  /** Directory changes noted so far, and how many of them a completed directory fsync covers. */
  private dirChanges = 1;
  private dirSynced = 0;
  /** Bytes appended since open (all segments), and how many of them are known durable. */
  private appended = 0;
  private durable = 0;
  private readonly waiters: Waiter[] = [];
  private waiterHead = 0;
  private syncing = false;
  private syncRequested = false;
  private failure_: Error | null = null;
  private closed = false;
  private flushTimer: Timer | null = null;
  private intervalTimer: Timer | null = null;
  readonly stats: AppendLogStats = { fsyncs: 0, bytesWritten: 0 };

  /**
   * Opens segment `id` for appending. validBytes: the segment exists and its first validBytes are
   * kept (anything after, a torn tail, is cut off); null: the segment is created. Call sync() before
   * acknowledging anything, so that the starting state is durable.
   */
  constructor(
    private readonly deps: EngineDeps,
    private readonly options: AppendLogOptions,
    id: number,
    validBytes: number | null,
  ) {
    assert(options.bufferBytesMax >= 1, 'AppendLog: bufferBytesMax must be positive');
    const path = options.segmentPath(id);
    if (validBytes === null) {
      this.active = { id, path, file: deps.disk.open(path, 'create-new'), size: 0 };
    } else if (validBytes === 0) {
      // An empty segment gets a new directory entry. rotate() creates the next segment before the
      // directory fsync that makes its name durable; if that fsync failed, Linux keeps the name
      // visible but never writes it back, and a later directory fsync succeeds without it
      // ("fsyncgate", rewrite.ts). A segment that holds bytes had its name made durable before
      // its first byte (rotate() holds them back until then; at open, owners append only after
      // the first round), so only an empty one can be such a ghost. (Found by scenarios/raft/rot-bitcask.yaml, seed 114: the restarted node resumed in
      // such a segment, and a power loss took it with every entry acknowledged into it.)
      deps.disk.remove(path);
      this.active = { id, path, file: deps.disk.open(path, 'create-new'), size: 0 };
    } else {
      const file = deps.disk.open(path, 'write');
      if (file.size() > validBytes) file.truncate(validBytes);
      assert(file.size() === validBytes, () => `AppendLog: ${path} is shorter (${file.size()}) than its valid bytes ${validBytes}`);
      this.active = { id, path, file, size: validBytes };
    }
    // Also for an existing segment: after a process crash its name may not be durable yet.
    this.dirDirty = true;
    this.syncRequested = true;
  }

  failure(): Error | null {
    return this.failure_;
  }

  activeId(): number {
    return this.active.id;
  }

  /** Offset in the active segment at which the next appended byte will be. */
  activeSize(): number {
    return this.active.size + this.buffer.length;
  }

  /** Whether rotate() may be called now (no other segment is still sealing). */
  canRotate(): boolean {
    return this.sealing === null && this.failure_ === null;
  }

  append(data: Uint8Array): void {
    this.checkUsable();
    this.buffer.bytes(data);
    this.appended += data.length;
    if (this.buffer.length >= this.options.bufferBytesMax) this.writeOut();
    if (this.options.fsync.kind !== 'always') this.scheduleFlush();
  }

  /**
   * done(null) once everything appended so far is acknowledged under the policy: durable under
   * `always`, at once otherwise. done(err) if the log has failed.
   */
  commit(done: (err: Error | null) => void): void {
    if (this.failure_ !== null) return done(this.failure_);
    if (this.options.fsync.kind === 'always') {
      this.waiters.push({ ticket: this.appended, dirTicket: this.dirChanges, done });
      this.round();
      return;
    }
    done(null);
  }

  /** done once everything appended so far is durable, whatever the policy. */
  sync(done: (err: Error | null) => void): void {
    if (this.failure_ !== null) return done(this.failure_);
    if (this.appended === this.durable && this.dirSynced === this.dirChanges && this.sealing === null && !this.syncRequested) return done(null);
    this.waiters.push({ ticket: this.appended, dirTicket: this.dirChanges, done });
    this.syncRequested = true;
    this.round();
  }

  /** Seals the active segment and starts segment `id`. REQUIRES: canRotate(). */
  rotate(id: number): void {
    this.checkUsable();
    assert(this.canRotate(), 'AppendLog.rotate: a segment is still sealing');
    assert(id > this.active.id, () => `AppendLog.rotate: segment id ${id} must exceed ${this.active.id}`);
    this.writeOut();
    if (this.failure_ !== null) return;
    this.sealing = this.active;
    const path = this.options.segmentPath(id);
    try {
      this.active = { id, path, file: this.deps.disk.open(path, 'create-new'), size: 0 };
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.dirDirty = true;
    this.dirChanges++;
    this.round();
  }

  /** Id of the segment still sealing, or null. Its file must not be removed until it has sealed. */
  sealingId(): number | null {
    return this.sealing === null ? null : this.sealing.id;
  }

  /**
   * Records that files of dir were removed or renamed by the owner: the next round fsyncs the
   * directory. (A directory fsync that fails may drop any pending entry of the directory, such as
   * a new segment's name, so all of them go through the log, where a failure is fatal.)
   */
  noteDirChanged(): void {
    this.dirDirty = true;
    this.dirChanges++;
  }

  /**
   * Stops the log for good with err: its owner hit a failure that may have lost this log's pending
   * directory entries (a failed directory fsync drops every pending entry of the directory, which
   * other writers of the directory share). Waiting commits fail; later ones too.
   */
  poison(err: Error): void {
    this.fail(err);
  }

  /** Writes the buffer to the page cache now (when no sealing segment holds it back). */
  flushBuffer(): void {
    this.writeOut();
  }

  /** Reads bytes of the active or sealing segment, including bytes still in the buffer. */
  read(id: number, offset: number, length: number): Uint8Array {
    if (this.sealing !== null && id === this.sealing.id) return this.sealing.file.read(offset, length);
    assert(id === this.active.id, () => `AppendLog.read: segment ${id} is not open here`);
    const a = this.active;
    if (offset + length <= a.size) return a.file.read(offset, length);
    const out = new Uint8Array(Math.max(0, Math.min(length, this.activeSize() - offset)));
    let at = 0;
    if (offset < a.size) {
      const part = a.file.read(offset, a.size - offset);
      out.set(part);
      at = part.length;
    }
    const from = offset + at - a.size;
    out.set(this.buffer.buf.subarray(from, from + out.length - at), at);
    return out;
  }

  /** Makes everything durable, then closes the files. Later calls fail. */
  close(done: (err: Error | null) => void): void {
    if (this.closed) return done(null);
    const finish = (err: Error | null) => {
      this.closed = true;
      this.cancelTimers();
      this.sealing?.file.close();
      this.active.file.close();
      done(err);
    };
    if (this.failure_ !== null) return finish(this.failure_);
    this.sync(finish);
  }

  private checkUsable(): void {
    assert(!this.closed, 'AppendLog: used after close');
  }

  /** Moves the buffer to the active file, unless a sealing segment holds it back. */
  private writeOut(): void {
    if (this.sealing !== null || this.buffer.length === 0 || this.failure_ !== null) return;
    try {
      this.active.file.append(this.buffer.written());
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.active.size += this.buffer.length;
    this.stats.bytesWritten += this.buffer.length;
    this.buffer.reset();
  }

  private scheduleFlush(): void {
    if (this.flushTimer === null && this.buffer.length > 0) {
      this.flushTimer = this.deps.clock.timer(0, () => {
        this.flushTimer = null;
        this.writeOut();
      });
    }
    const p = this.options.fsync;
    if (p.kind === 'interval' && this.intervalTimer === null) {
      this.intervalTimer = this.deps.clock.timer(p.intervalMs, () => {
        this.intervalTimer = null;
        if (this.appended > this.durable) {
          this.syncRequested = true;
          this.round();
        }
      });
    }
  }

  /**
   * One fsync round: seal (fsync the sealed segment, then the directory), write the buffer out,
   * fsync the active segment if anyone waits; then start the next round if more is needed.
   */
  private round(): void {
    if (this.syncing || this.failure_ !== null || this.closed) return;
    const seal = this.sealing;
    const dir = this.dirDirty;
    const wantActive = this.waiters.length > this.waiterHead || this.syncRequested;
    if (seal === null && !dir && !wantActive) return;
    this.syncing = true;
    this.syncRequested = false;
    const afterSeal = () => {
      if (seal !== null) {
        seal.file.close();
        this.sealing = null;
      }
      // A rotation during this round left a segment whose bytes this round's fsyncs do not cover:
      // acknowledging now would count them durable. The next round seals it first.
      if (this.sealing !== null) return this.endRound();
      this.writeOut();
      if (this.failure_ !== null) return;
      if (!wantActive && this.waiters.length === this.waiterHead) return this.endRound();
      const ticket = this.appended - this.buffer.length;
      this.stats.fsyncs++;
      this.active.file.sync((err) => {
        if (this.failure_ !== null) return;
        if (err !== null) return this.fail(err);
        this.durable = ticket;
        this.release(ticket);
        this.endRound();
      });
    };
    const afterFile = () => {
      if (!dir) return afterSeal();
      this.dirDirty = false;
      const upTo = this.dirChanges;
      this.stats.fsyncs++;
      this.deps.disk.syncDir(this.options.dir, (err) => {
        if (this.failure_ !== null) return;
        if (err !== null) return this.fail(err);
        this.dirSynced = upTo;
        afterSeal();
      });
    };
    if (seal === null) return afterFile();
    this.stats.fsyncs++;
    seal.file.sync((err) => {
      if (this.failure_ !== null) return;
      if (err !== null) return this.fail(err);
      afterFile();
    });
  }

  private endRound(): void {
    this.syncing = false;
    if (this.options.fsync.kind !== 'always') this.scheduleFlush();
    this.round();
  }

  private release(ticket: number): void {
    while (this.waiterHead < this.waiters.length) {
      const w = this.waiters[this.waiterHead] as Waiter;
      if (w.ticket > ticket || w.dirTicket > this.dirSynced) break;
      this.waiterHead++;
      w.done(null);
    }
    if (this.waiterHead === this.waiters.length) {
      this.waiters.length = 0;
      this.waiterHead = 0;
    }
  }

  private fail(err: Error): void {
    if (this.failure_ !== null) return;
    this.failure_ = err;
    this.syncing = false;
    this.cancelTimers();
    this.deps.log.log('error', 'storage.log.failed', { dir: this.options.dir, error: err.message });
    const waiting = this.waiters.slice(this.waiterHead);
    this.waiters.length = 0;
    this.waiterHead = 0;
    for (const w of waiting) w.done(err);
  }

  private cancelTimers(): void {
    this.flushTimer?.cancel();
    this.flushTimer = null;
    this.intervalTimer?.cancel();
    this.intervalTimer = null;
  }
}
