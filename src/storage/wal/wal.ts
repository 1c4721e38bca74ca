import { isDiskError, type DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { AppendLog } from '../append-log.js';
import { rewriteInPlace, syncEach } from '../rewrite.js';
import type { EngineDeps } from '../engine.js';
import type { FsyncPolicy } from '../fsync-policy.js';
import { ByteWriter } from '../util/bytes.js';
import { StorageCorruptionError } from '../errors.js';
import { decodeLogicalHeader, encodeLogical, LOGICAL_HEADER_BYTES } from './logical-record.js';
import { BLOCK_BYTES_DEFAULT, checkBlockBytes, framedSize, frameRecord, scanRecords } from './record-format.js';
import { recoverWal, type DroppedTail, type WalRecord, type WalRecoveryPlan, type WalRecoveryReport } from './recovery.js';
import { parseSegmentName, segmentPath } from './segments.js';

/**
 * The write-ahead log: typed records with monotonic LSNs in checksummed segment files, group
 * commit under an fsync policy, recovery that stops cleanly at a torn tail, truncation of a prefix
 * after a checkpoint. Generic: the LSM and the Raft runtime use the same log (README.md).
 */

export interface WalOptions {
  dir: string;
  fsync: FsyncPolicy;
  /** A segment is sealed and a new one started when the next record would take it past this. */
  segmentBytesMax: number;
  blockBytes: number;
  bufferBytesMax: number;
  /**
   * The first LSN the owner still needs: 1 for a new log, else one past the owner's durable
   * checkpoint. Older records are not delivered; a log that starts after it is an error. null:
   * take whatever the newest contiguous run of segments holds.
   */
  fromLsn: number | null;
  /**
   * Called when recovery found a tail to drop, before anything is written (the tail is still on
   * disk): an owner that made promises on the log's records marks what the tail may have held
   * (tailMayBeRot) before it is gone. An error fails the open.
   */
  beforeTailCut?: (tail: DroppedTail, done: (err: Error | null) => void) => void;
}

export const WAL_DEFAULTS = {
  segmentBytesMax: 4 * 1024 * 1024,
  blockBytes: BLOCK_BYTES_DEFAULT,
  bufferBytesMax: 1024 * 1024,
} as const;

/** The largest record: a batch at its limit plus headroom. */
export const WAL_RECORD_BYTES_MAX = 64 * 1024 * 1024;

export type AppendCallback = (err: Error | null, lsn: number) => void;

export interface WalStats {
  segments: number;
  diskBytes: number;
  bytesWritten: number;
  fsyncs: number;
  nextLsn: number;
}

export class Wal {
  private readonly record = new ByteWriter(4096);
  private readonly frame = new ByteWriter(4096);
  /** First LSN of each segment on disk, oldest first; the last one is the active segment. */
  private readonly segments: number[];
  /** Sizes of sealed segments by first LSN (the active one's is the log's). */
  private readonly sealedBytes = new Map<number, number>();
  /** truncatePrefix calls, the first running (one segment's removal durable at a time). */
  private readonly truncations: { upToLsn: number; done: (err: Error | null) => void }[] = [];
  private closed = false;
  /** A truncation is under way (truncateNext's runner): later calls wait in truncations. */
  private truncating = false;

  private constructor(
    private readonly deps: EngineDeps,
    private readonly options: WalOptions,
    private readonly log: AppendLog,
    private next: number,
    segments: number[],
  ) {
    this.segments = segments;
  }

  /**
   * Recovers the log in options.dir, calling onRecord for each record from options.fromLsn on, in
   * order; then makes the recovered state durable (cutting off a torn tail) and calls done with the
   * open log and what recovery found. Corruption fails with StorageCorruptionError.
   */
  static open(
    deps: EngineDeps,
    options: WalOptions,
    onRecord: (r: WalRecord) => void,
    done: (err: Error | null, wal?: Wal, report?: WalRecoveryReport) => void,
  ): void {
    checkBlockBytes(options.blockBytes);
    assert(options.segmentBytesMax >= options.blockBytes, 'WAL: a segment must hold at least one block');
    let plan: WalRecoveryPlan;
    try {
      deps.disk.mkdir(options.dir);
      plan = recoverWal(deps.disk, options.dir, options.blockBytes, options.fromLsn, onRecord);
    } catch (err) {
      return done(err as Error);
    }
    const tail = plan.report.droppedTail;
    const hook = options.beforeTailCut;
    if (tail === null || hook === undefined) return Wal.openRecovered(deps, options, plan, done);
    hook(tail, (err) => (err !== null ? done(err) : Wal.openRecovered(deps, options, plan, done)));
  }

  /** The rest of open: what recovery found is made durable (a torn tail cut off), then done. */
  private static openRecovered(deps: EngineDeps, options: WalOptions, plan: WalRecoveryPlan, done: (err: Error | null, wal?: Wal, report?: WalRecoveryReport) => void): void {
    let wal: Wal;
    const report = plan.report;
    let rewritten: DiskFile[] = [];
    let log: AppendLog | null = null;
    try {
      for (const path of report.staleSegments) removeIfPresent(deps, path);
      // Every kept segment: a failed fsync may have left a hole in any of them (rewrite.ts).
      if (options.fsync.kind !== 'never') {
        const resumed = plan.resume === null ? null : segmentPath(options.dir, plan.resume.id);
        rewritten = report.segments.map((path) => rewriteInPlace(deps.disk, path, path === resumed ? (plan.resume as { validBytes: number }).validBytes : null));
      }
      const activeId = plan.resume?.id ?? report.nextLsn;
      log = new AppendLog(
        deps,
        { dir: options.dir, fsync: options.fsync, segmentPath: (id) => segmentPath(options.dir, id), bufferBytesMax: options.bufferBytesMax },
        activeId,
        plan.resume?.validBytes ?? null,
      );
      const ids = report.segments.map((p) => parseSegmentName(p.slice(p.lastIndexOf('/') + 1)) as number);
      if (!ids.includes(activeId)) ids.push(activeId);
      wal = new Wal(deps, options, log, report.nextLsn, ids);
      for (const id of ids.slice(0, -1)) {
        const f = deps.disk.open(segmentPath(options.dir, id), 'read');
        wal.sealedBytes.set(id, f.size());
        f.close();
      }
    } catch (err) {
      for (const f of rewritten) f.close();
      if (log === null) return done(err as Error);
      return log.close(() => done(err as Error));
    }
    if (report.droppedTail !== null) {
      const t = report.droppedTail;
      deps.log.log('warn', 'storage.wal.tail_dropped', { segment: t.segment, offset: t.offset, bytes: t.bytes, kind: t.kind, detail: t.detail });
    }
    // A start that fails here leaves no file open behind it.
    syncEach(rewritten, (err) => {
      if (err !== null) return wal.close(() => done(err));
      wal.log.sync((e) => (e !== null ? wal.close(() => done(e)) : done(null, wal, report)));
    });
  }

  /** First LSN of each segment on disk, oldest first (the last is the active one). */
  segmentFirstLsns(): readonly number[] {
    return this.segments;
  }

  /** The LSN the next append gets. */
  nextLsn(): number {
    return this.next;
  }

  failure(): Error | null {
    return this.log.failure();
  }

  /**
   * Appends a record and returns its LSN. done (optional) runs when the record is acknowledged
   * under the fsync policy (durable under `always`), in LSN order, or with the log's fatal error;
   * without it the record is made durable all the same.
   * REQUIRES: 0 <= type <= 255; data.length <= WAL_RECORD_BYTES_MAX. data is copied at once.
   *
   * `{ sync: false }` asks for no durability of this record at all: done runs at once, and the
   * record reaches the disk with the next round a later record (or sync/close) asks for, or is
   * lost in a crash before that. For a record whose loss the owner tolerates (Raft's commit index
   * alone), so that writing it costs no fsync of its own.
   */
  append(type: number, data: Uint8Array, done?: AppendCallback, opts?: { sync: boolean }): number {
    assert(data.length <= WAL_RECORD_BYTES_MAX, () => `WAL: record of ${data.length} bytes exceeds ${WAL_RECORD_BYTES_MAX}`);
    const failed = this.log.failure();
    if (failed !== null) {
      done?.(failed, -1);
      return -1;
    }
    const lsn = this.next++;
    this.record.reset();
    encodeLogical(this.record, lsn, type, data);
    const { blockBytes, segmentBytesMax } = this.options;
    const offset = this.log.activeSize();
    if (offset > 0 && offset + framedSize(this.record.length, offset, blockBytes) > segmentBytesMax && this.log.canRotate()) {
      this.sealedBytes.set(this.log.activeId(), offset);
      this.log.rotate(lsn);
      this.segments.push(lsn);
    }
    this.frame.reset();
    frameRecord(this.frame, this.record.written(), this.log.activeSize(), blockBytes);
    if (this.log.failure() === null) this.log.append(this.frame.written());
    if (opts?.sync === false) {
      const failure = this.log.failure();
      done?.(failure, failure === null ? lsn : -1);
      return lsn;
    }
    this.log.commit(done === undefined ? ignore : (err) => done(err, lsn));
    return lsn;
  }

  /** done once every record appended so far is durable, whatever the fsync policy. */
  sync(done: (err: Error | null) => void): void {
    this.log.sync(done);
  }

  /**
   * Removes the segments all of whose records have LSN <= upToLsn (never the active segment),
   * oldest first, each removal made durable (the directory fsynced) before the next. A crash
   * part way then leaves the log's segments contiguous: with the removals durable in any subset
   * (a directory's pending entries may survive a crash in any combination), an older segment
   * could stay in front of a gap, stale, and a rot in it would read as corruption of the live
   * log, whose cut would quarantine every segment after it (the live log). Call it only once the
   * owner's checkpoint covering upToLsn is durable, and open the log next time with fromLsn past
   * that checkpoint. Calls made while one runs are served in order.
   */
  truncatePrefix(upToLsn: number, done: (err: Error | null) => void): void {
    this.truncations.push({ upToLsn, done });
    if (!this.truncating) this.truncateNext();
  }

  private truncateNext(): void {
    const t = this.truncations[0];
    this.truncating = t !== undefined;
    if (t === undefined) return;
    // A done that truncates again only queues its call: this runner serves it next.
    const finish = (err: Error | null): void => {
      this.truncations.shift();
      t.done(err);
      this.truncateNext();
    };
    // Closed while it ran: the segments left are below the owner's checkpoint, stale at the next open.
    if (this.closed) return finish(new Error(`wal ${this.options.dir}: closed before its truncation through ${t.upToLsn} was done`));
    const first = this.segments[0] as number;
    const second = this.segments[1];
    if (second === undefined || second - 1 > t.upToLsn || first === this.log.sealingId()) return finish(null);
    try {
      removeIfPresent(this.deps, segmentPath(this.options.dir, first));
    } catch (err) {
      return finish(err as Error);
    }
    this.sealedBytes.delete(first);
    this.segments.shift();
    this.log.noteDirChanged();
    this.log.sync((err) => (err !== null ? finish(err) : this.truncateNext()));
  }

  /**
   * Reads back the records with LSN >= fromLsn that have reached the segment files (for shipping
   * the log to a follower), calling onRecord in order, at most maxRecords of them. Returns how many.
   */
  read(fromLsn: number, maxRecords: number, onRecord: (r: WalRecord) => void): number {
    this.log.flushBuffer();
    let count = 0;
    for (let i = 0; i < this.segments.length && count < maxRecords; i++) {
      const next = this.segments[i + 1];
      if (next !== undefined && next <= fromLsn) continue;
      const path = segmentPath(this.options.dir, this.segments[i] as number);
      const scan = scanRecords(this.deps.disk.readFile(path), this.options.blockBytes, (payload, offset) => {
        const h = decodeLogicalHeader(payload);
        if (h === null) throw new StorageCorruptionError(path, offset, 'record shorter than its header');
        if (h.lsn < fromLsn || count >= maxRecords) return;
        count++;
        onRecord({ lsn: h.lsn, type: h.type, data: payload.subarray(LOGICAL_HEADER_BYTES), segment: path, offset });
      });
      // The files hold whole records only (the buffer is written whole), so anything bad is damage.
      if (scan.bad !== null) throw new StorageCorruptionError(path, scan.bad.fragmentOffset, `${scan.bad.kind}: ${scan.bad.detail}`);
    }
    return count;
  }

  stats(): WalStats {
    let diskBytes = this.log.activeSize();
    for (const b of this.sealedBytes.values()) diskBytes += b;
    return { segments: this.segments.length, diskBytes, bytesWritten: this.log.stats.bytesWritten, fsyncs: this.log.stats.fsyncs, nextLsn: this.next };
  }

  /** Makes everything appended durable and closes the log. */
  close(done: (err: Error | null) => void): void {
    this.closed = true;
    this.log.close(done);
  }
}

function ignore(): void {}

function removeIfPresent(deps: EngineDeps, path: string): void {
  try {
    deps.disk.remove(path);
  } catch (err) {
    if (!isDiskError(err, 'ENOENT')) throw err;
  }
}


