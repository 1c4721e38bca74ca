import { DiskError, dirname, type Disk, type DiskFile, type OpenMode, type SyncCallback } from '../src/env/disk.js';
import type { Rng } from '../src/env/rng.js';
import { dataFileKind, QUARANTINE_DIR, type DataFileKind } from '../src/node/data-dir.js';
import { assert } from '../src/util/assert.js';
import { NS_PER_MS, type Owner, type Scheduler } from './scheduler.js';

/**
 * A simulated disk with a page cache, for one machine. It keeps, per file, the bytes a reader
 * sees now (the page cache) and the bytes that would survive a power cut (the durable image), and
 * the writes in between. What happens to those in-between writes on a crash is the fault model:
 *
 * - `lose`: every write not covered by a completed sync is gone;
 * - `torn`: the writes reached the platter in order but power failed part way: a prefix of them
 *   survives and the next one survives only in part (the classic torn tail of a log);
 * - `reorder`: the device wrote back in its own order: any subset of them survives;
 * - `random`: one of the three, chosen per file at each crash.
 *
 * Directory entries work the same way: a create, rename or remove is durable only after syncDir
 * of its directory; on a crash, `dirCrash: lose` drops all pending ones and `random` keeps any
 * subset, so a rename may end with both names, or neither (why rename needs the directory fsync).
 * Directories themselves are durable when made: the engines' layouts are fixed at start-up.
 *
 * A failed sync follows Linux: the covered writes stay visible to reads but will never become
 * durable, and the next sync succeeds. Only code that treats a failed fsync as fatal survives it.
 */

export type CrashMode = 'lose' | 'torn' | 'reorder' | 'random';
export type DirCrashMode = 'lose' | 'random';

export interface SimDiskOptions {
  /** How long a sync or syncDir takes, uniformly in [min, max]. */
  syncLatencyMsMin: number;
  syncLatencyMsMax: number;
  capacityBytes: number | null;
  crash: CrashMode;
  dirCrash: DirCrashMode;
}

export const DEFAULT_DISK_OPTIONS: SimDiskOptions = {
  syncLatencyMsMin: 0.2,
  syncLatencyMsMax: 2,
  capacityBytes: null,
  crash: 'lose',
  dirCrash: 'lose',
};

/** A growable byte buffer: file contents, cached or durable. */
class Bytes {
  buf: Uint8Array;
  len: number;
  constructor(from?: Bytes) {
    this.buf = from ? from.buf.slice(0, Math.max(64, from.len)) : new Uint8Array(64);
    this.len = from ? from.len : 0;
  }
  private reserve(n: number): void {
    if (n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    this.reserve(end);
    if (offset > this.len) this.buf.fill(0, this.len, offset);
    this.buf.set(data, offset);
    if (end > this.len) this.len = end;
  }
  truncate(size: number): void {
    if (size > this.len) {
      this.reserve(size);
      this.buf.fill(0, this.len, size);
    }
    this.len = size;
  }
  read(offset: number, length: number): Uint8Array {
    const end = Math.min(this.len, offset + length);
    return offset >= end ? new Uint8Array(0) : this.buf.slice(offset, end);
  }
}

interface PendingWrite {
  seq: number;
  offset: number;
  /** null: a truncate to `offset` bytes. */
  data: Uint8Array | null;
}

class Inode {
  cache = new Bytes();
  durable = new Bytes();
  pending: PendingWrite[] = [];
  constructor(readonly ino: number) {}
}

interface PendingDirOp {
  seq: number;
  dir: string;
  path: string;
  /** The inode to link at path, or null to unlink it. */
  ino: number | null;
}

export interface CrashReport {
  writesLost: number;
  writesTorn: number;
  writesKept: number;
  dirOpsLost: number;
  dirOpsKept: number;
}

export interface CorruptionReport {
  path: string;
  offset: number;
  bit: number;
}

export class SimDisk {
  private readonly inodes = new Map<number, Inode>();
  /** What a reader sees now: path → inode. */
  private readonly names = new Map<string, number>();
  /** What survives a crash. */
  private durableNames = new Map<string, number>();
  private pendingDirOps: PendingDirOp[] = [];
  private readonly dirs = new Set<string>(['']);
  private inoNext = 1;
  private writeSeq = 0;
  private generation = 0;
  usedBytes = 0;
  /** Syncs still to fail; each failure consumes one. */
  syncFailuresPending = 0;
  /** Probability that any sync fails (a flaky device), on top of syncFailuresPending. */
  syncFailureProbability = 0;
  stats = { syncs: 0, syncFailures: 0, bytesWritten: 0, crashes: 0, corruptions: 0 };

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: Rng,
    readonly name: string,
    readonly options: SimDiskOptions = DEFAULT_DISK_OPTIONS,
  ) {}

  /** The Disk seam for one incarnation of the node; its pending syncs die with the owner. */
  view(owner: Owner): Disk {
    return new SimDiskView(this, owner, this.generation);
  }

  currentGeneration(): number {
    return this.generation;
  }

  // ---- used by views ----

  checkPath(path: string): void {
    if (path === '' || path.startsWith('/') || path.split('/').some((p) => p === '' || p === '.' || p === '..')) {
      throw new DiskError('EINVAL', path, 'path must be relative, without empty, . or .. parts');
    }
  }

  lookup(path: string): Inode | undefined {
    const ino = this.names.get(path);
    return ino === undefined ? undefined : this.inodes.get(ino);
  }

  create(path: string): Inode {
    this.checkPath(path);
    const dir = dirname(path);
    if (!this.dirs.has(dir)) throw new DiskError('ENOENT', dir, 'parent directory does not exist');
    if (this.dirs.has(path)) throw new DiskError('EINVAL', path, 'is a directory');
    const inode = new Inode(this.inoNext++);
    this.inodes.set(inode.ino, inode);
    this.link(path, inode.ino);
    return inode;
  }

  private link(path: string, ino: number | null): void {
    if (ino === null) this.names.delete(path);
    else this.names.set(path, ino);
    this.pendingDirOps.push({ seq: this.writeSeq++, dir: dirname(path), path, ino });
  }

  rename(from: string, to: string): void {
    this.checkPath(from);
    this.checkPath(to);
    const ino = this.names.get(from);
    if (ino === undefined) throw new DiskError('ENOENT', from);
    if (!this.dirs.has(dirname(to))) throw new DiskError('ENOENT', dirname(to), 'parent directory does not exist');
    if (from === to) return;
    const replaced = this.names.get(to);
    if (replaced !== undefined) this.usedBytes -= this.orphanSize(replaced, to);
    this.link(to, ino);
    this.link(from, null);
  }

  remove(path: string): void {
    this.checkPath(path);
    const ino = this.names.get(path);
    if (ino === undefined) throw new DiskError('ENOENT', path);
    this.usedBytes -= this.orphanSize(ino, path);
    this.link(path, null);
  }

  /** Bytes freed when `path` stops naming ino (0 if another name still holds it). */
  private orphanSize(ino: number, path: string): number {
    for (const [p, i] of this.names) if (i === ino && p !== path) return 0;
    return this.inodes.get(ino)?.cache.len ?? 0;
  }

  mkdir(dir: string): void {
    this.checkPath(dir);
    const parts = dir.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (this.names.has(d)) throw new DiskError('EEXIST', d, 'a file has that name');
      this.dirs.add(d);
    }
  }

  list(dir: string): string[] {
    if (!this.dirs.has(dir)) throw new DiskError('ENOENT', dir);
    const prefix = dir === '' ? '' : dir + '/';
    const out = new Set<string>();
    const consider = (p: string) => {
      if (p.startsWith(prefix) && p.length > prefix.length) out.add(p.slice(prefix.length).split('/')[0] as string);
    };
    for (const p of this.names.keys()) consider(p);
    for (const d of this.dirs) consider(d);
    return [...out].sort();
  }

  exists(path: string): boolean {
    return this.names.has(path) || this.dirs.has(path);
  }

  write(path: string, inode: Inode, offset: number, data: Uint8Array): void {
    if (!(offset >= 0 && Number.isInteger(offset))) throw new DiskError('EINVAL', path, `bad offset ${offset}`);
    const grow = Math.max(0, offset + data.length - inode.cache.len);
    const cap = this.options.capacityBytes;
    if (cap !== null && this.usedBytes + grow > cap) throw new DiskError('ENOSPC', path);
    this.usedBytes += grow;
    this.stats.bytesWritten += data.length;
    inode.cache.write(offset, data);
    inode.pending.push({ seq: this.writeSeq++, offset, data: data.slice() });
  }

  truncate(path: string, inode: Inode, size: number): void {
    if (!(size >= 0 && Number.isInteger(size))) throw new DiskError('EINVAL', path, `bad size ${size}`);
    const grow = size - inode.cache.len;
    const cap = this.options.capacityBytes;
    if (cap !== null && grow > 0 && this.usedBytes + grow > cap) throw new DiskError('ENOSPC', path);
    this.usedBytes += grow;
    inode.cache.truncate(size);
    inode.pending.push({ seq: this.writeSeq++, offset: size, data: null });
  }

  sync(owner: Owner, path: string, inode: Inode, done: SyncCallback): void {
    const upTo = this.writeSeq - 1;
    this.afterLatency(owner, `fsync ${this.name}:${path}`, () => {
      this.stats.syncs++;
      const fail = this.takeSyncFailure();
      const covered = inode.pending.filter((w) => w.seq <= upTo);
      inode.pending = inode.pending.filter((w) => w.seq > upTo);
      if (fail) {
        // The covered writes are dropped from the durable path but stay in the cache: lost
        // silently at the next crash, like dirty pages whose writeback error was reported once.
        done(new DiskError('EIO', path, 'fsync failed'));
        return;
      }
      for (const w of covered) applyWrite(inode.durable, w);
      done(null);
    });
  }

  syncDir(owner: Owner, dir: string, done: SyncCallback): void {
    if (!this.dirs.has(dir)) throw new DiskError('ENOENT', dir);
    const upTo = this.writeSeq - 1;
    this.afterLatency(owner, `fsyncdir ${this.name}:${dir || '.'}`, () => {
      this.stats.syncs++;
      if (this.takeSyncFailure()) {
        this.pendingDirOps = this.pendingDirOps.filter((op) => !(op.dir === dir && op.seq <= upTo));
        done(new DiskError('EIO', dir, 'fsync of directory failed'));
        return;
      }
      const keep: PendingDirOp[] = [];
      for (const op of this.pendingDirOps) {
        if (op.dir === dir && op.seq <= upTo) applyDirOp(this.durableNames, op);
        else keep.push(op);
      }
      this.pendingDirOps = keep;
      done(null);
    });
  }

  private takeSyncFailure(): boolean {
    if (this.syncFailuresPending > 0) {
      this.syncFailuresPending--;
      this.stats.syncFailures++;
      return true;
    }
    if (this.rng.chance(this.syncFailureProbability)) {
      this.stats.syncFailures++;
      return true;
    }
    return false;
  }

  private afterLatency(owner: Owner, label: string, fn: () => void): void {
    const { syncLatencyMsMin: lo, syncLatencyMsMax: hi } = this.options;
    const ns = Math.round((lo + this.rng.next() * (hi - lo)) * NS_PER_MS);
    this.sched.after(ns, label, fn, owner);
  }

  // ---- faults ----

  /**
   * The process died but the machine did not: the page cache survives (unsynced writes stay
   * pending), only the dead process's open handles stop working.
   */
  processExit(): void {
    this.generation++;
  }

  /**
   * The machine lost power: the page cache is gone and what reached the device is what the next
   * incarnation finds. Open handles of the old incarnation stop working.
   */
  crash(): CrashReport {
    this.generation++;
    this.stats.crashes++;
    const report: CrashReport = { writesLost: 0, writesTorn: 0, writesKept: 0, dirOpsLost: 0, dirOpsKept: 0 };
    for (const inode of this.inodes.values()) this.crashInode(inode, report);
    for (const op of this.pendingDirOps) {
      if (this.options.dirCrash === 'random' && this.rng.chance(0.5)) {
        applyDirOp(this.durableNames, op);
        report.dirOpsKept++;
      } else report.dirOpsLost++;
    }
    this.pendingDirOps = [];
    this.names.clear();
    for (const [p, ino] of this.durableNames) this.names.set(p, ino);
    // Inodes no durable name reaches are gone, like orphans reclaimed by fsck.
    const live = new Set(this.durableNames.values());
    this.usedBytes = 0;
    for (const [ino, inode] of this.inodes) {
      if (!live.has(ino)) this.inodes.delete(ino);
      else this.usedBytes += inode.cache.len;
    }
    return report;
  }

  /**
   * The device is gone for good (the lab's `destroy`): after a crash, nothing is left — no file,
   * no directory. The machine never boots on it again.
   */
  wipe(): void {
    this.generation++;
    this.inodes.clear();
    this.names.clear();
    this.durableNames.clear();
    this.pendingDirOps = [];
    this.dirs.clear();
    this.dirs.add('');
    this.usedBytes = 0;
  }

  private crashInode(inode: Inode, report: CrashReport): void {
    const pending = inode.pending;
    let mode = this.options.crash;
    if (mode === 'random' && pending.length > 0) mode = this.rng.pick(['lose', 'torn', 'reorder'] as const);
    if (mode === 'torn' && pending.length > 0) {
      const kept = this.rng.int(pending.length + 1);
      for (let i = 0; i < kept; i++) applyWrite(inode.durable, pending[i] as PendingWrite);
      report.writesKept += kept;
      const torn = pending[kept];
      if (torn !== undefined && torn.data !== null && torn.data.length > 1) {
        const part = torn.data.subarray(0, this.rng.int(torn.data.length));
        applyWrite(inode.durable, { seq: torn.seq, offset: torn.offset, data: part });
        report.writesTorn++;
        report.writesLost += pending.length - kept - 1;
      } else report.writesLost += pending.length - kept;
    } else if (mode === 'reorder') {
      for (const w of pending) {
        if (this.rng.chance(0.5)) {
          applyWrite(inode.durable, w);
          report.writesKept++;
        } else report.writesLost++;
      }
    } else report.writesLost += pending.length;
    inode.pending = [];
    inode.cache = new Bytes(inode.durable);
  }

  /**
   * Flips one bit of stored data in a random file (or one whose path contains pathFilter), as a
   * failing sector would. The page cache sees it too: the engines must catch it by checksum.
   * Returns null when there is no stored byte to flip. `kind` narrows it to a kind of node file
   * (`any`: any of them, quarantined files and markers left out).
   */
  corrupt(pathFilter?: string, kind?: DataFileKind | 'any', spare?: (path: string) => boolean): CorruptionReport | null {
    const ofKind = (p: string) => kind === undefined || (kind === 'any' ? dataFileKind(p) !== null : dataFileKind(p) === kind);
    const candidates = [...this.durableNames.entries()]
      .filter(([p, ino]) => (pathFilter === undefined || p.includes(pathFilter)) && ofKind(p) && spare?.(p) !== true && (this.inodes.get(ino)?.durable.len ?? 0) > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (candidates.length === 0) return null;
    const [path, ino] = this.rng.pick(candidates);
    const inode = this.inodes.get(ino) as Inode;
    const offset = this.rng.int(inode.durable.len);
    const bit = this.rng.int(8);
    const mask = 1 << bit;
    const before = inode.durable.buf[offset] as number;
    inode.durable.buf[offset] = before ^ mask;
    if (offset < inode.cache.len && inode.cache.buf[offset] === before) inode.cache.buf[offset] = before ^ mask;
    this.stats.corruptions++;
    this.flips.push({ ino, offset, value: before ^ mask });
    return { path, offset, bit };
  }

  /** Every flip corrupt() made, until rotFlipped() finds it gone. */
  private flips: { ino: number; offset: number; value: number }[] = [];

  /**
   * The paths that still hold a flipped bit, sorted: a durable name (outside quarantine/) still
   * leads to the flipped file — under the name it was flipped at or another it was renamed to (a
   * temporary renamed into place) — and the byte still holds the flipped value (not rewritten).
   * Found by a read or not: rot nobody has read yet is rot all the same. A file no durable name
   * leads to but in quarantine/ is gone for good (a crash restores the durable names, no older
   * ones), and its flips are forgotten.
   */
  rotFlipped(): string[] {
    const namesOf = new Map<number, string[]>();
    for (const [p, ino] of this.durableNames) {
      if (p.startsWith(`${QUARANTINE_DIR}/`) || p.includes(`/${QUARANTINE_DIR}/`)) continue;
      const list = namesOf.get(ino);
      if (list === undefined) namesOf.set(ino, [p]);
      else list.push(p);
    }
    const paths = new Set<string>();
    this.flips = this.flips.filter((f) => {
      const inode = this.inodes.get(f.ino);
      const names = namesOf.get(f.ino);
      if (inode === undefined || names === undefined) return false;
      if (!(f.offset < inode.durable.len && inode.durable.buf[f.offset] === f.value)) return false;
      for (const p of names) paths.add(p);
      return true;
    });
    return [...paths].sort();
  }


  /** Paths of every file, sorted (for tests and reports). */
  paths(): string[] {
    return [...this.names.keys()].sort();
  }
}

function applyWrite(target: Bytes, w: PendingWrite): void {
  if (w.data === null) target.truncate(w.offset);
  else target.write(w.offset, w.data);
}

function applyDirOp(names: Map<string, number>, op: PendingDirOp): void {
  if (op.ino === null) names.delete(op.path);
  else names.set(op.path, op.ino);
}

class SimDiskView implements Disk {
  constructor(
    private readonly disk: SimDisk,
    private readonly owner: Owner,
    private readonly generation: number,
  ) {}

  private live(path: string): void {
    if (this.disk.currentGeneration() !== this.generation) throw new DiskError('EBADF', path, 'machine crashed since');
  }

  open(path: string, mode: OpenMode): DiskFile {
    this.live(path);
    this.disk.checkPath(path);
    let inode = this.disk.lookup(path);
    if (inode === undefined) {
      if (mode === 'read' || mode === 'write') throw new DiskError('ENOENT', path);
      inode = this.disk.create(path);
    } else if (mode === 'create-new') {
      throw new DiskError('EEXIST', path);
    } else if (mode === 'truncate') {
      this.disk.truncate(path, inode, 0);
    }
    return new SimFile(this.disk, this.owner, this.generation, path, inode, mode === 'read');
  }

  exists(path: string): boolean {
    this.live(path);
    return this.disk.exists(path);
  }

  list(dir: string): string[] {
    this.live(dir);
    return this.disk.list(dir);
  }

  mkdir(dir: string): void {
    this.live(dir);
    this.disk.mkdir(dir);
  }

  rename(from: string, to: string): void {
    this.live(from);
    this.disk.rename(from, to);
  }

  remove(path: string): void {
    this.live(path);
    this.disk.remove(path);
  }

  syncDir(dir: string, done: SyncCallback): void {
    this.live(dir);
    this.disk.syncDir(this.owner, dir, done);
  }

  readFile(path: string): Uint8Array {
    this.live(path);
    const inode = this.disk.lookup(path);
    if (inode === undefined) throw new DiskError('ENOENT', path);
    return inode.cache.read(0, inode.cache.len);
  }

  usage(): { usedBytes: number; capacityBytes: number | null } {
    return { usedBytes: this.disk.usedBytes, capacityBytes: this.disk.options.capacityBytes };
  }
}

class SimFile implements DiskFile {
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly owner: Owner,
    private readonly generation: number,
    readonly path: string,
    private readonly inode: Inode,
    private readonly readOnly: boolean,
  ) {}

  private check(writing: boolean): void {
    if (this.closed) throw new DiskError('EBADF', this.path);
    if (this.disk.currentGeneration() !== this.generation) throw new DiskError('EBADF', this.path, 'machine crashed since');
    if (writing && this.readOnly) throw new DiskError('EBADF', this.path, 'opened read-only');
  }

  size(): number {
    this.check(false);
    return this.inode.cache.len;
  }

  append(data: Uint8Array): void {
    this.check(true);
    this.disk.write(this.path, this.inode, this.inode.cache.len, data);
  }

  writeAt(offset: number, data: Uint8Array): void {
    this.check(true);
    this.disk.write(this.path, this.inode, offset, data);
  }

  read(offset: number, length: number): Uint8Array {
    this.check(false);
    assert(offset >= 0 && length >= 0, () => `read: bad range ${offset}+${length} of ${this.path}`);
    return this.inode.cache.read(offset, length);
  }

  truncate(size: number): void {
    this.check(true);
    this.disk.truncate(this.path, this.inode, size);
  }

  sync(done: SyncCallback): void {
    this.check(false);
    this.disk.sync(this.owner, this.path, this.inode, done);
  }

  close(): void {
    this.closed = true;
  }
}
