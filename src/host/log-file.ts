import * as fs from 'node:fs';
import { assert } from '../util/assert.js';

/**
 * A node's log file, rotated by size (issue 16, item 10): once a line would take the file past
 * `maxBytes`, it is renamed `<file>.1` (the older ones shift to `.2` … `.<keep>`, the oldest is
 * deleted) and a new file is started, so a node's logs take at most (keep + 1) × maxBytes on disk
 * whatever its clients make it say. Files are created 0600 like the rest of the node's data.
 *
 * Writes are synchronous, as process.stderr's are to a file: a line is on its way to the kernel
 * before the event that logged it goes on, and lines of a crash are not lost in a buffer. A write
 * that fails (a full disk) drops the line and counts it; it never takes the node down.
 */

export const LOG_FILE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
export const LOG_FILES_KEPT_DEFAULT = 5;

export interface RotatingLogFileOptions {
  maxBytes?: number;
  /** Rotated files kept besides the current one (0: the full file is simply started again). */
  keep?: number;
}

export class RotatingLogFile {
  readonly maxBytes: number;
  readonly keep: number;
  private fd: number | null;
  private size: number;
  /** Lines lost to failed writes (reported in the next line that gets through). */
  dropped = 0;
  rotations = 0;

  constructor(
    readonly file: string,
    options: RotatingLogFileOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? LOG_FILE_BYTES_MAX_DEFAULT;
    this.keep = options.keep ?? LOG_FILES_KEPT_DEFAULT;
    assert(Number.isSafeInteger(this.maxBytes) && this.maxBytes >= 1024, () => `RotatingLogFile: maxBytes ${this.maxBytes} < 1024`);
    assert(Number.isSafeInteger(this.keep) && this.keep >= 0 && this.keep <= 1000, () => `RotatingLogFile: keep ${this.keep} not in 0..1000`);
    this.fd = fs.openSync(file, 'a', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    try {
      if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
      if (this.fd === null) this.fd = fs.openSync(this.file, 'a', 0o600);
      if (this.dropped > 0) {
        const note = `{"event":"log.dropped","lines":${this.dropped},"why":"writes to ${JSON.stringify(this.file).slice(1, -1)} failed"}\n`;
        fs.writeSync(this.fd, note);
        this.size += Buffer.byteLength(note);
        this.dropped = 0;
      }
      fs.writeSync(this.fd, line);
      this.size += bytes;
    } catch {
      this.dropped++;
    }
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private rotate(): void {
    this.close();
    const name = (i: number) => `${this.file}.${i}`;
    if (this.keep === 0) fs.rmSync(this.file, { force: true });
    else {
      fs.rmSync(name(this.keep), { force: true });
      for (let i = this.keep - 1; i >= 1; i--) if (fs.existsSync(name(i))) fs.renameSync(name(i), name(i + 1));
      if (fs.existsSync(this.file)) fs.renameSync(this.file, name(1));
    }
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.size = 0;
    this.rotations++;
  }
}
