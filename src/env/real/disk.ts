import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { DiskError, type Disk, type DiskErrorCode, type DiskFile, type OpenMode, type SyncCallback } from '../disk.js';

/**
 * The Disk seam on the real file system, rooted at a node's data directory. Page-cache operations
 * are synchronous system calls (they do not wait for the device); fsync and directory fsync run
 * on libuv's thread pool so that the event loop keeps gathering work while the device is busy.
 *
 * Files are created mode 0600 and directories 0700, whatever the umask and whatever the mode of
 * an existing data directory (a --dir made 0755 by hand left the data world-readable, issue 16
 * item 11); a file created by an older build with group or world bits loses them when opened for
 * writing. The data directory itself, when it already exists, keeps its mode: it may be shared.
 */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * usage() walks the data directory; the walk is reused for this long. Free space (statfs, a
 * system call of a few microseconds) for USAGE_FREE_CACHE_MS: a node asks before every write.
 */
const USAGE_WALK_CACHE_MS = 1000;
const USAGE_FREE_CACHE_MS = 50;

export class RealDisk implements Disk {
  private walked: { atMs: number; usedBytes: number } | null = null;
  private free: { atMs: number; bytes: number | null } | null = null;

  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true, mode: DIR_MODE });
  }

  private abs(path: string): string {
    if (path.startsWith('/') || path.split('/').some((p) => p === '..')) {
      throw new DiskError('EINVAL', path, 'path must be relative and stay inside the data directory');
    }
    return path === '' ? this.root : nodePath.join(this.root, path);
  }

  open(path: string, mode: OpenMode): DiskFile {
    const flags = { read: 'r', write: 'r+', create: 'a+', 'create-new': 'wx+', truncate: 'w+' }[mode];
    // 'a+' would force every write to the end; open in create mode as r+ after making sure the
    // file exists, so that writeAt works at any offset.
    const abs = this.abs(path);
    const fd = wrap(path, () => {
      if (mode === 'create') {
        fs.closeSync(fs.openSync(abs, 'a', FILE_MODE));
        return fs.openSync(abs, 'r+');
      }
      return fs.openSync(abs, flags, FILE_MODE);
    });
    const stat = wrap(path, () => fs.fstatSync(fd));
    // The mode given to open() is cut by the umask, and applies only to a new file.
    if (mode !== 'read' && (stat.mode & 0o777) !== FILE_MODE) wrap(path, () => fs.fchmodSync(fd, FILE_MODE));
    return new RealFile(path, fd, stat.size, mode === 'read');
  }

  exists(path: string): boolean {
    return fs.existsSync(this.abs(path));
  }

  list(dir: string): string[] {
    return wrap(dir, () => fs.readdirSync(this.abs(dir)).sort());
  }

  mkdir(dir: string): void {
    wrap(dir, () => {
      const abs = this.abs(dir);
      // recursive mkdir gives every directory it makes the mode (less the umask): set it after.
      const made = fs.mkdirSync(abs, { recursive: true, mode: DIR_MODE });
      if (made === undefined) return;
      for (let d = abs; d.length >= made.length && d.startsWith(this.root); d = nodePath.dirname(d)) fs.chmodSync(d, DIR_MODE);
    });
  }

  rename(from: string, to: string): void {
    wrap(from, () => fs.renameSync(this.abs(from), this.abs(to)));
  }

  remove(path: string): void {
    wrap(path, () => fs.unlinkSync(this.abs(path)));
  }

  syncDir(dir: string, done: SyncCallback): void {
    let fd: number;
    try {
      fd = fs.openSync(this.abs(dir), 'r');
    } catch (err) {
      done(toDiskError(dir, err));
      return;
    }
    fs.fsync(fd, (err) => {
      fs.close(fd, () => done(err ? toDiskError(dir, err) : null));
    });
  }

  readFile(path: string): Uint8Array {
    return wrap(path, () => new Uint8Array(fs.readFileSync(this.abs(path))));
  }

  /**
   * Bytes of the data directory's files, and as capacity those plus the space still available to
   * this process on its file system (statfs: blocks available to unprivileged users), so that
   * capacity - used is the free space a node may still fill.
   */
  usage(): { usedBytes: number; capacityBytes: number | null } {
    const now = performance.now();
    if (this.walked === null || now - this.walked.atMs > USAGE_WALK_CACHE_MS) this.walked = { atMs: now, usedBytes: walkBytes(this.root) };
    if (this.free === null || now - this.free.atMs > USAGE_FREE_CACHE_MS) this.free = { atMs: now, bytes: freeBytes(this.root) };
    const used = this.walked.usedBytes;
    return { usedBytes: used, capacityBytes: this.free.bytes === null ? null : used + this.free.bytes };
  }
}

function walkBytes(root: string): number {
  let used = 0;
  const walk = (abs: string) => {
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const p = nodePath.join(abs, e.name);
      try {
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) used += fs.statSync(p).size;
      } catch {
        // Removed while we walked (a compaction's old file): it no longer counts.
      }
    }
  };
  walk(root);
  return used;
}

function freeBytes(root: string): number | null {
  try {
    const s = fs.statfsSync(root);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

class RealFile implements DiskFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fd: number,
    private length: number,
    private readonly readOnly: boolean,
  ) {}

  private check(writing: boolean): void {
    if (this.closed) throw new DiskError('EBADF', this.path);
    if (writing && this.readOnly) throw new DiskError('EBADF', this.path, 'opened read-only');
  }

  size(): number {
    this.check(false);
    return this.length;
  }

  append(data: Uint8Array): void {
    this.writeAt(this.length, data);
  }

  writeAt(offset: number, data: Uint8Array): void {
    this.check(true);
    wrap(this.path, () => {
      let done = 0;
      while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, offset + done);
    });
    this.length = Math.max(this.length, offset + data.length);
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(length, this.length - offset)));
    const got = this.readInto(offset, out.length, out, 0);
    return got === out.length ? out : out.subarray(0, got);
  }

  readInto(offset: number, length: number, into: Uint8Array, at: number): number {
    this.check(false);
    const n = Math.max(0, Math.min(length, this.length - offset));
    if (at < 0 || at + n > into.length) throw new DiskError('EINVAL', this.path, `readInto: ${n} bytes do not fit at ${at} of ${into.length}`);
    let done = 0;
    try {
      while (done < n) {
        const got = fs.readSync(this.fd, into, at + done, n - done, offset + done);
        if (got === 0) break;
        done += got;
      }
    } catch (err) {
      throw toDiskError(this.path, err);
    }
    return done;
  }

  truncate(size: number): void {
    this.check(true);
    wrap(this.path, () => fs.ftruncateSync(this.fd, size));
    this.length = size;
  }

  sync(done: SyncCallback): void {
    this.check(false);
    // fdatasync: the file's size is metadata it does cover; timestamps we do not need.
    fs.fdatasync(this.fd, (err) => done(err ? toDiskError(this.path, err) : null));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

const CODES: readonly DiskErrorCode[] = ['ENOENT', 'EEXIST', 'ENOSPC', 'EIO', 'EBADF', 'EINVAL'];

function toDiskError(path: string, err: unknown): DiskError {
  const code = (err as NodeJS.ErrnoException).code as DiskErrorCode | undefined;
  if (code !== undefined && CODES.includes(code)) return new DiskError(code, path);
  return new DiskError('EIO', path, (err as Error).message);
}

function wrap<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DiskError) throw err;
    throw toDiskError(path, err);
  }
}
