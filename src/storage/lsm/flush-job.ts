import type { DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { failpoint } from '../../util/failpoints.js';
import { utf8EncodeInto } from '../util/bytes.js';
import { series } from '../util/series.js';
import type { BTreeCursor } from '../util/btree.js';
import { KIND_DELETE, KIND_PUT } from './block-format.js';
import { tablePath } from './files.js';
import type { Job, JobHost } from './job-host.js';
import type { MemEntry, Memtable } from './memtable.js';
import { TableBuilder } from './table-builder.js';
import { emptyEdit, newFileMeta } from './version.js';

const EMPTY = new Uint8Array(0);

/**
 * Writes an immutable memtable to a level-0 table (LevelDB's CompactMemTable), in steps of about
 * backgroundStepBytes so that reads and writes go on meanwhile (they read the memtable until the
 * table is installed). Then: fsync the table, fsync the directory (its name), and log the edit
 * "add this table to level 0; the WAL up to this memtable's last LSN is checkpointed". Only after
 * that edit is durable may the engine drop the memtable and truncate the WAL.
 *
 * A crash at any point before the edit is durable leaves an unlisted table (deleted at the next
 * open) and the WAL still holding every record: nothing is lost.
 */
export class FlushJob implements Job {
  private cursor: BTreeCursor<string, MemEntry> | null = null;
  private builder: TableBuilder | null = null;
  private file: DiskFile | null = null;
  private number = 0;
  private keyBuf = new Uint8Array(256);
  private valueBuf = new Uint8Array(256);
  private done: (err: Error | null) => void = () => {};

  constructor(
    private readonly host: JobHost,
    readonly memtable: Memtable,
  ) {
    assert(memtable.isFrozen && !memtable.empty, 'FlushJob: the memtable must be frozen and non-empty');
  }

  start(done: (err: Error | null) => void): void {
    this.done = done;
    const o = this.host.options;
    try {
      this.number = this.host.versions.newFileNumber();
      this.file = this.host.deps.disk.open(tablePath(this.host.dir, this.number), 'create-new');
      this.builder = new TableBuilder(this.file, { blockBytes: o.blockBytes, restartInterval: o.blockRestartInterval, bloomBitsPerKey: o.bloomBitsPerKey });
      this.cursor = this.memtable.tree.cursor();
      this.cursor.seekFirst();
    } catch (err) {
      return this.fail(err as Error);
    }
    this.host.schedule(() => this.step());
  }

  private step(): void {
    if (this.host.stopped()) return this.abandon();
    const cursor = this.cursor as BTreeCursor<string, MemEntry>;
    const builder = this.builder as TableBuilder;
    try {
      let budget = this.host.options.backgroundStepBytes;
      for (; cursor.valid() && budget > 0; cursor.next()) {
        const key = this.encodeKey(cursor.key());
        const value = cursor.value().value;
        if (value === null) builder.add(key, KIND_DELETE, EMPTY);
        else builder.add(key, KIND_PUT, this.encodeValue(value));
        budget -= key.length + (value?.length ?? 0) + 8;
      }
    } catch (err) {
      return this.fail(err as Error);
    }
    this.host.stepDone();
    if (cursor.valid()) this.host.schedule(() => this.step());
    else this.finish();
  }

  private finish(): void {
    const file = this.file as DiskFile;
    const { deps, dir, versions } = this.host;
    let built: ReturnType<TableBuilder['finish']>;
    try {
      built = (this.builder as TableBuilder).finish();
    } catch (err) {
      return this.fail(err as Error);
    }
    this.host.countWritten(built.sizeBytes, 'flush');
    series(
      [
        (next) => {
          failpoint('lsm.flushTableWritten');
          file.sync(next);
        },
        (next) => deps.disk.syncDir(dir, next),
        (next) => {
          if (this.host.stopped()) return next(new Error('stopped'));
          failpoint('lsm.flushBeforeEdit');
          file.close();
          this.file = null;
          const edit = emptyEdit();
          edit.checkpointLsn = this.memtable.lastLsn;
          edit.added.push({ level: 0, file: newFileMeta(this.number, built.sizeBytes, built.entries, built.smallest, built.largest) });
          versions.logAndApply(edit, next);
        },
      ],
      (err) => (err !== null ? this.fail(err) : this.done(null)),
    );
  }

  private encodeKey(k: string): Uint8Array {
    if (this.keyBuf.length < k.length * 3) this.keyBuf = new Uint8Array(k.length * 6);
    return this.keyBuf.subarray(0, utf8EncodeInto(k, this.keyBuf, 0));
  }

  private encodeValue(v: string): Uint8Array {
    if (this.valueBuf.length < v.length * 3) this.valueBuf = new Uint8Array(v.length * 6);
    return this.valueBuf.subarray(0, utf8EncodeInto(v, this.valueBuf, 0));
  }

  private abandon(): void {
    this.file?.close();
    this.file = null;
  }

  /** Reports err, unless the engine stopped meanwhile (then nobody is waiting). */
  private fail(err: Error): void {
    this.abandon();
    if (!this.host.stopped()) this.done(err);
  }
}
