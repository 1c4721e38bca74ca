import type { DiskFile } from '../../env/disk.js';
import { failpoint } from '../../util/failpoints.js';
import { compareBytes } from '../util/bytes.js';
import { series, type Step } from '../util/series.js';
import { KIND_DELETE, KIND_PUT } from './block-format.js';
import type { CompactionPick } from './compaction-picker.js';
import { tablePath } from './files.js';
import type { InternalIterator } from './iterator.js';
import type { Job, JobHost } from './job-host.js';
import { LevelIterator } from './level-iterator.js';
import { MergingIterator } from './merging-iterator.js';
import { TableBuilder } from './table-builder.js';
import { emptyEdit, type FileMeta, LEVELS, newFileMeta, type Version } from './version.js';

interface Output {
  number: number;
  file: DiskFile;
  builder: TableBuilder;
  meta: FileMeta | null;
}

/**
 * Merges a compaction's input tables into new tables one level down (LevelDB's
 * DoCompactionWork), in steps of about backgroundStepBytes of input, so that reads and writes go
 * on between steps: reads keep using the inputs, which stay in the version until the end.
 *
 * Per key only the newest entry survives (snapshots do not need older ones: a snapshot pins the
 * version it reads, whose files stay on disk). A tombstone is dropped when no level below the
 * output level has a table whose range holds the key: then nothing older can reappear.
 *
 * At the end the outputs are fsynced, the directory is fsynced, and one edit replaces the inputs by
 * the outputs. A crash before that edit is durable leaves unlisted outputs (deleted at the next
 * open) and the inputs as they were: nothing is lost. The inputs are deleted once no version
 * lists them.
 */
export class CompactionJob implements Job {
  private it: InternalIterator | null = null;
  private readonly outputs: Output[] = [];
  private current: Output | null = null;
  /** Per level below the output level: how far the tombstone check has walked its tables. */
  private readonly levelPointers = new Array<number>(LEVELS).fill(0);
  private done: (err: Error | null) => void = () => {};
  tombstonesDropped = 0;

  constructor(
    private readonly host: JobHost,
    readonly pick: CompactionPick,
    /** The version the pick was made from, pinned until the job ends (the caller unpins it). */
    readonly version: Version,
  ) {}

  get outputLevel(): number {
    return this.pick.level + 1;
  }

  start(done: (err: Error | null) => void): void {
    this.done = done;
    if (this.pick.trivialMove) return this.install();
    try {
      const { tables } = this.host;
      const sources: InternalIterator[] =
        this.pick.level === 0
          ? this.pick.inputs.map((f) => tables.table(f).iterator(false))
          : [new LevelIterator(this.pick.inputs, tables, false)];
      if (this.pick.overlaps.length > 0) sources.push(new LevelIterator(this.pick.overlaps, tables, false));
      this.it = new MergingIterator(sources);
      this.it.seekFirst();
    } catch (err) {
      return this.fail(err as Error);
    }
    this.host.schedule(() => this.step());
  }

  private step(): void {
    if (this.host.stopped()) return this.abandon();
    const it = this.it as InternalIterator;
    try {
      let budget = this.host.options.backgroundStepBytes;
      for (; it.valid() && budget > 0; it.next()) {
        const key = it.key();
        const value = it.value();
        budget -= key.length + value.length + 8;
        if (it.isDelete() && this.isBaseLevelForKey(key)) {
          this.tombstonesDropped++;
          continue;
        }
        const out = this.current ?? this.openOutput();
        out.builder.add(key, it.isDelete() ? KIND_DELETE : KIND_PUT, value);
        if (out.builder.sizeEstimate() >= this.host.options.targetFileBytes) this.closeOutput();
      }
    } catch (err) {
      return this.fail(err as Error);
    }
    this.host.stepDone();
    if (it.valid()) this.host.schedule(() => this.step());
    else this.finish();
  }

  /** True when no table below the output level may hold key (so its tombstone can go). */
  private isBaseLevelForKey(key: Uint8Array): boolean {
    for (let l = this.outputLevel + 1; l < LEVELS; l++) {
      const files = this.version.levels[l] as FileMeta[];
      // Keys arrive in increasing order, so each level's pointer only moves forward.
      for (let p = this.levelPointers[l] as number; p < files.length; p++) {
        const f = files[p] as FileMeta;
        if (compareBytes(key, f.largest) <= 0) {
          if (compareBytes(key, f.smallest) >= 0) return false;
          break;
        }
        this.levelPointers[l] = p + 1;
      }
    }
    return true;
  }

  private openOutput(): Output {
    const o = this.host.options;
    const number = this.host.versions.newFileNumber();
    const file = this.host.deps.disk.open(tablePath(this.host.dir, number), 'create-new');
    const builder = new TableBuilder(file, { blockBytes: o.blockBytes, restartInterval: o.blockRestartInterval, bloomBitsPerKey: o.bloomBitsPerKey });
    this.current = { number, file, builder, meta: null };
    this.outputs.push(this.current);
    return this.current;
  }

  private closeOutput(): void {
    const out = this.current;
    if (out === null) return;
    this.current = null;
    const t = out.builder.finish();
    out.meta = newFileMeta(out.number, t.sizeBytes, t.entries, t.smallest, t.largest);
    this.host.countWritten(t.sizeBytes, 'compaction');
  }

  private finish(): void {
    try {
      this.closeOutput();
    } catch (err) {
      return this.fail(err as Error);
    }
    this.it?.close();
    this.it = null;
    const { deps, dir } = this.host;
    const steps: Step[] = this.outputs.map((o) => (next) => o.file.sync(next));
    if (this.outputs.length > 0) steps.push((next) => deps.disk.syncDir(dir, next));
    series(steps, (err) => {
      if (err !== null) return this.fail(err);
      for (const o of this.outputs) o.file.close();
      this.install();
    });
  }

  private install(): void {
    if (this.host.stopped()) return this.abandon();
    failpoint('lsm.compactionBeforeEdit');
    const edit = emptyEdit();
    const { level, inputs, overlaps } = this.pick;
    for (const f of inputs) edit.deleted.push({ level, number: f.number });
    for (const f of overlaps) edit.deleted.push({ level: level + 1, number: f.number });
    if (this.pick.trivialMove) edit.added.push({ level: level + 1, file: inputs[0] as FileMeta });
    for (const o of this.outputs) edit.added.push({ level: level + 1, file: o.meta as FileMeta });
    let largest = (inputs[0] as FileMeta).largest;
    for (const f of inputs) if (compareBytes(f.largest, largest) > 0) largest = f.largest;
    edit.compactPointers.push({ level, key: largest });
    this.host.versions.logAndApply(edit, (err) => (err !== null ? this.fail(err) : this.done(null)));
  }

  get bytesRead(): number {
    let n = 0;
    for (const f of this.pick.inputs) n += f.sizeBytes;
    for (const f of this.pick.overlaps) n += f.sizeBytes;
    return this.pick.trivialMove ? 0 : n;
  }

  get bytesWritten(): number {
    let n = 0;
    for (const o of this.outputs) n += o.meta?.sizeBytes ?? 0;
    return n;
  }

  private abandon(): void {
    this.it?.close();
    this.it = null;
    for (const o of this.outputs) o.file.close();
  }

  private fail(err: Error): void {
    this.abandon();
    if (!this.host.stopped()) this.done(err);
  }
}
