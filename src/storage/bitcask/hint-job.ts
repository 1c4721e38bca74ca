import type { DiskFile } from '../../env/disk.js';
import type { EngineDeps } from '../engine.js';
import { series } from '../util/series.js';
import { readBatchAt } from './batch-reader.js';
import { dataPath, hintPath } from './files.js';
import { encodeHint, type EntryRef } from './format.js';

export interface HintHost {
  readonly deps: EngineDeps;
  readonly dir: string;
  readonly stepBytes: number;
  stopped(): boolean;
  schedule(fn: () => void): void;
  countWritten(bytes: number): void;
}

/**
 * Writes the hint file of a closed data file, reading the file a batch at a time in steps. The
 * hint is written to a temporary name, fsynced and renamed into place; it needs no directory
 * fsync: a hint lost in a crash only means the next start scans the data file.
 */
export class HintJob {
  private readonly entries: EntryRef[] = [];
  private pos = 0;
  private file: DiskFile | null = null;
  private bytes = 0;

  constructor(
    private readonly host: HintHost,
    readonly id: number,
  ) {}

  start(done: (err: Error | null) => void): void {
    try {
      this.file = this.host.deps.disk.open(dataPath(this.host.dir, this.id), 'read');
      this.bytes = this.file.size();
    } catch (err) {
      return done(err as Error);
    }
    this.host.schedule(() => this.step(done));
  }

  private step(done: (err: Error | null) => void): void {
    if (this.host.stopped()) return this.file?.close();
    const file = this.file as DiskFile;
    const path = dataPath(this.host.dir, this.id);
    try {
      let budget = this.host.stepBytes;
      while (this.pos < this.bytes && budget > 0) {
        const b = readBatchAt(file, path, this.pos, this.bytes);
        for (const e of b.entries) this.entries.push(e);
        budget -= b.end - b.start;
        this.pos = b.end;
      }
    } catch (err) {
      file.close();
      return done(err as Error);
    }
    if (this.pos < this.bytes) return this.host.schedule(() => this.step(done));
    file.close();
    this.write(done);
  }

  private write(done: (err: Error | null) => void): void {
    const { disk } = this.host.deps;
    const final = hintPath(this.host.dir, this.id);
    const tmp = `${final}.tmp`;
    const hint = encodeHint(this.entries, this.bytes);
    let f: DiskFile | null = null;
    series(
      [
        (next) => {
          f = disk.open(tmp, 'truncate');
          f.append(hint);
          this.host.countWritten(hint.length);
          f.sync(next);
        },
        (next) => {
          (f as DiskFile).close();
          if (this.host.stopped()) return next(null);
          disk.rename(tmp, final);
          next(null);
        },
      ],
      (err) => {
        if (err !== null) (f as DiskFile | null)?.close();
        done(err);
      },
    );
  }
}
