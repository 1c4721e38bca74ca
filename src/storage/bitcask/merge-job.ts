import type { DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import type { EngineDeps } from '../engine.js';
import { ByteWriter } from '../util/bytes.js';
import type { BTree } from '../util/btree.js';
import { series, type Step } from '../util/series.js';
import { readBatchAt } from './batch-reader.js';
import { dataPath, hintPath, mergeMarkerPath } from './files.js';
import { BATCH_HEADER_BYTES, encodeHint, encodeMergeMarker, encodeSingleEntryBatch, type EntryRef } from './format.js';
import type { Loc } from './recovery.js';

export interface MergeHost {
  readonly deps: EngineDeps;
  readonly dir: string;
  readonly stepBytes: number;
  readonly fileBytesMax: number;
  readonly keydir: BTree<string, Loc>;
  stopped(): boolean;
  schedule(fn: () => void): void;
  /** A closed data file's read handle. */
  reader(id: number): DiskFile;
  /** Makes every write appended to the data files so far durable (whatever the fsync policy). */
  syncLog(done: (err: Error | null) => void): void;
  countWritten(bytes: number): void;
}

interface Output {
  id: number;
  file: DiskFile;
  bytes: number;
  entries: EntryRef[];
}

/** A live entry copied to an output: where it was and where it is now. */
export interface Moved {
  key: string;
  from: Loc;
  to: Loc;
}

/**
 * Bitcask's merge: copies the live entries of every closed data file into new files and drops the
 * rest (overwritten values, tombstones, batch headers). An entry is live when the keydir still
 * points at it. Each copy keeps its sequence number, which is what recovery orders entries by, so
 * the new files may sort anywhere among the old ones.
 *
 * Output files take ids reserved below the active file's (the engine rotated past them when the
 * merge started), so the newest file at recovery is still the active one. They are written under
 * temporary names, fsynced with their hints, renamed into place and the directory fsynced; only
 * then does the keydir move to them (entries overwritten meanwhile stay where the newer write put
 * them) and the inputs become deletable. A crash before the renames are durable leaves temporary
 * files (garbage); after, the copies and the originals hold the same entries with the same
 * sequence numbers, which recovery resolves either way. Nothing is lost.
 *
 * Deleting the inputs is not atomic: a crash may keep any subset of the deletions. A merge marker
 * listing the inputs is made durable with the outputs, so that recovery deletes every input that
 * came back; otherwise an old value whose tombstone the merge dropped could return.
 *
 * Tombstones are dropped because every file older than the active one is an input: no older value
 * of the key survives the merge for a tombstone to hide.
 */
export class MergeJob {
  private inputIndex = 0;
  private pos = 0;
  private readonly outputs: Output[] = [];
  private current: Output | null = null;
  private nextOutputId: number;
  private readonly buffer = new ByteWriter(64 * 1024);
  readonly moved: Moved[] = [];
  bytesRead = 0;

  constructor(
    private readonly host: MergeHost,
    /** Closed data files to merge, with their sizes. */
    readonly inputs: { id: number; bytes: number }[],
    /** Ids reserved for outputs: [first, last]. */
    private readonly reserved: [number, number],
  ) {
    this.nextOutputId = reserved[0];
  }

  get outputIds(): number[] {
    return this.outputs.map((o) => o.id);
  }

  outputBytes(id: number): number {
    return this.outputs.find((o) => o.id === id)?.bytes ?? 0;
  }

  start(done: (err: Error | null) => void): void {
    this.host.schedule(() => this.step(done));
  }

  private step(done: (err: Error | null) => void): void {
    if (this.host.stopped()) return this.abandon();
    try {
      let budget = this.host.stepBytes;
      while (this.inputIndex < this.inputs.length && budget > 0) {
        const input = this.inputs[this.inputIndex] as { id: number; bytes: number };
        if (this.pos >= input.bytes) {
          this.inputIndex++;
          this.pos = 0;
          continue;
        }
        const b = readBatchAt(this.host.reader(input.id), dataPath(this.host.dir, input.id), this.pos, input.bytes);
        for (const e of b.entries) {
          const loc = this.host.keydir.get(e.key);
          if (loc === undefined || loc.file !== input.id || loc.offset !== e.offset) continue;
          this.copy(e, loc, b.raw.subarray(e.offset - b.start, e.offset - b.start + e.size));
        }
        budget -= b.end - b.start;
        this.bytesRead += b.end - b.start;
        this.pos = b.end;
      }
      this.writeBuffer();
    } catch (err) {
      this.abandon();
      return done(err as Error);
    }
    if (this.inputIndex < this.inputs.length) return this.host.schedule(() => this.step(done));
    this.finish(done);
  }

  private copy(e: EntryRef, from: Loc, entry: Uint8Array): void {
    let out = this.current;
    if (out === null || out.bytes + this.buffer.length + BATCH_HEADER_BYTES + entry.length > this.host.fileBytesMax) {
      this.writeBuffer();
      out = this.openOutput();
    }
    const offset = out.bytes + this.buffer.length + BATCH_HEADER_BYTES;
    encodeSingleEntryBatch(this.buffer, e.seq, entry);
    const to: Loc = { file: out.id, offset, size: e.size, seq: e.seq };
    out.entries.push({ kind: e.kind, key: e.key, offset, size: e.size, seq: e.seq });
    this.moved.push({ key: e.key, from, to });
  }

  private openOutput(): Output {
    const id = this.nextOutputId++;
    assert(id <= this.reserved[1], () => `merge: output ${id} beyond the reserved ids ${this.reserved[0]}..${this.reserved[1]}`);
    const file = this.host.deps.disk.open(`${dataPath(this.host.dir, id)}.tmp`, 'truncate');
    this.current = { id, file, bytes: 0, entries: [] };
    this.outputs.push(this.current);
    return this.current;
  }

  private writeBuffer(): void {
    if (this.current === null || this.buffer.length === 0) return;
    this.current.file.append(this.buffer.written());
    this.current.bytes += this.buffer.length;
    this.host.countWritten(this.buffer.length);
    this.buffer.reset();
  }

  private finish(done: (err: Error | null) => void): void {
    const { disk } = this.host.deps;
    const dir = this.host.dir;
    const opened: DiskFile[] = [];
    const write = (path: string, data: Uint8Array): Step => (next) => {
      const f = disk.open(path, 'truncate');
      opened.push(f);
      f.append(data);
      this.host.countWritten(data.length);
      f.sync(next);
    };
    const marker = mergeMarkerPath(dir, this.reserved[0]);
    const steps: Step[] = [];
    for (const o of this.outputs) {
      steps.push((next) => o.file.sync(next));
      steps.push(write(`${hintPath(dir, o.id)}.tmp`, encodeHint(o.entries, o.bytes)));
    }
    // An entry was left out because a newer write superseded it; under fsync `never` or `interval`
    // that write may not be durable yet, and the input must outlive it until it is.
    steps.push((next) => this.host.syncLog(next));
    steps.push(write(`${marker}.tmp`, encodeMergeMarker(this.inputs.map((i) => i.id))));
    steps.push((next) => {
      if (this.host.stopped()) return next(new Error('stopped'));
      for (const o of this.outputs) {
        disk.rename(`${dataPath(dir, o.id)}.tmp`, dataPath(dir, o.id));
        disk.rename(`${hintPath(dir, o.id)}.tmp`, hintPath(dir, o.id));
      }
      disk.syncDir(dir, next);
    });
    // Only once every output's name is durable may the marker say the inputs are gone.
    steps.push((next) => {
      if (this.host.stopped()) return next(new Error('stopped'));
      disk.rename(`${marker}.tmp`, marker);
      disk.syncDir(dir, next);
    });
    series(steps, (err) => {
      for (const f of opened) f.close();
      for (const o of this.outputs) o.file.close();
      if (this.host.stopped()) return;
      done(err);
    });
  }

  /** The marker that lists this merge's inputs (removable once their deletion is durable). */
  get markerPath(): string {
    return mergeMarkerPath(this.host.dir, this.reserved[0]);
  }

  private abandon(): void {
    for (const o of this.outputs) o.file.close();
  }
}
