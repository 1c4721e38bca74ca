/**
 * The Disk seam: a node's files, relative to its data directory, with '/' separators.
 *
 * The model is a POSIX file system with a page cache, because that is what storage engines must
 * be correct against:
 * - append/writeAt land in the page cache: visible to reads at once, durable only after sync();
 * - a crash may lose any write that was not synced, keep some of them, or tear the last one;
 * - creating, renaming and removing files changes the directory, which is durable only after
 *   syncDir() of that directory;
 * - a failed sync() means the data it covered may never reach the disk, even though reads still
 *   return it (Linux drops the dirty pages' error state after reporting it once). The only safe
 *   reaction is to stop trusting that file: treat it as fatal.
 *
 * Operations other than sync and syncDir are synchronous: on a real machine they touch the page
 * cache only. The two that wait for the device complete through a callback so that other work
 * (group commit gathering more writers, for one) can proceed while the device is busy.
 */

export type DiskErrorCode =
  | 'ENOENT' // no such file or directory
  | 'EEXIST' // exclusive create of an existing file
  | 'ENOSPC' // disk full
  | 'EIO' // device error (failed fsync, unreadable sector)
  | 'EBADF' // file closed
  | 'EINVAL'; // bad argument (negative offset, path escaping the data directory)

export class DiskError extends Error {
  constructor(
    readonly code: DiskErrorCode,
    readonly path: string,
    message?: string,
  ) {
    super(`${code}: ${message ?? describe(code)}: ${path}`);
    this.name = 'DiskError';
  }
}

function describe(code: DiskErrorCode): string {
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EEXIST': return 'file already exists';
    case 'ENOSPC': return 'no space left on device';
    case 'EIO': return 'input/output error';
    case 'EBADF': return 'file is closed';
    case 'EINVAL': return 'invalid argument';
  }
}

export function isDiskError(err: unknown, code?: DiskErrorCode): err is DiskError {
  return err instanceof DiskError && (code === undefined || err.code === code);
}

/**
 * How to open a file:
 * - 'read': must exist; writes throw EBADF;
 * - 'write': must exist; read and write;
 * - 'create': created empty if missing, kept as is if present;
 * - 'create-new': created empty; EEXIST if present;
 * - 'truncate': created if missing, emptied if present.
 */
export type OpenMode = 'read' | 'write' | 'create' | 'create-new' | 'truncate';

export type SyncCallback = (err: DiskError | null) => void;

export interface DiskFile {
  readonly path: string;
  /** Current size in bytes, including writes not yet synced. */
  size(): number;
  /** Appends at the end. Throws DiskError (ENOSPC, EIO, EBADF). */
  append(data: Uint8Array): void;
  /** Writes at an offset, extending the file (zero-filled) if needed. */
  writeAt(offset: number, data: Uint8Array): void;
  /** Reads up to length bytes at offset; shorter only at the end of the file. */
  read(offset: number, length: number): Uint8Array;
  /**
   * Optional: read() into into[at, at + length) instead of a new array; returns the bytes read.
   * Callers fall back to read() where a Disk lacks it (for a 4 KiB table block on the real disk
   * the new array and the collections it triggers cost about as much as the pread itself).
   */
  readInto?(offset: number, length: number, into: Uint8Array, at: number): number;
  /** Cuts or zero-extends the file to size bytes. */
  truncate(size: number): void;
  /** Makes every write issued before this call durable, then calls done (fsync). */
  sync(done: SyncCallback): void;
  close(): void;
}

export interface Disk {
  open(path: string, mode: OpenMode): DiskFile;
  exists(path: string): boolean;
  /** Names (not paths) of the entries directly in dir, sorted by code unit. ENOENT if missing. */
  list(dir: string): string[];
  /** Creates dir and its parents; an existing directory is fine. */
  mkdir(dir: string): void;
  /** Atomically replaces `to` (if present) with `from`; durable only after syncDir. */
  rename(from: string, to: string): void;
  /** Removes a file; ENOENT if missing. */
  remove(path: string): void;
  /** Makes the directory's entries (creates, renames, removes) durable, then calls done. */
  syncDir(dir: string, done: SyncCallback): void;
  /** Whole-file read, a convenience over open + read. */
  readFile(path: string): Uint8Array;
  /** Bytes in use and bytes available, when known (the simulator always knows). */
  usage(): { usedBytes: number; capacityBytes: number | null };
}

/** Directory part of a path ('' for a top-level file). */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}
