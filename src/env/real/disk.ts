import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { DiskError, type Disk, type DiskErrorCode, type DiskFile, type OpenMode, type SyncCallback } from '../disk.js';

/**
 * The Disk seam on the real file system, rooted at a node's data directory. Page-cache operations
 * are synchronous system calls (they do not wait for the device); fsync and directory fsync run
 * on libuv's thread pool so that the event loop keeps gathering work while the device is busy.
 */
export class RealDisk implements Disk {
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
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
        fs.closeSync(fs.openSync(abs, 'a'));
        return fs.openSync(abs, 'r+');
      }
      return fs.openSync(abs, flags);
    });
    return new RealFile(path, fd, wrap(path, () => fs.fstatSync(fd).size), mode === 'read');
  }

  exists(path: string): boolean {
    return fs.existsSync(this.abs(path));
  }

  list(dir: string): string[] {
    return wrap(dir, () => fs.readdirSync(this.abs(dir)).sort());
  }

  mkdir(dir: string): void {
    wrap(dir, () => fs.mkdirSync(this.abs(dir), { recursive: true }));
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

  usage(): { usedBytes: number; capacityBytes: number | null } {
    let used = 0;
    const walk = (abs: string) => {
      for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
        const p = nodePath.join(abs, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) used += fs.statSync(p).size;
      }
    };
    walk(this.root);
    return { usedBytes: used, capacityBytes: null };
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
