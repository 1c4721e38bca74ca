import { isDiskError, joinPath, type Disk, type DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { failpoint } from '../../util/failpoints.js';
import type { EngineDeps } from '../engine.js';
import { StorageCorruptionError } from '../errors.js';
import { ByteWriter, FormatError } from '../util/bytes.js';
import { series, type Step } from '../util/series.js';
import { frameRecord, scanRecords } from '../wal/record-format.js';
import { CURRENT, CURRENT_TMP, manifestName, tableName } from './files.js';
import { decodeCurrent, decodeEdit, encodeCurrent, encodeEdit, LOG_MODE_WAL } from './manifest.js';
import { emptyEdit, type FileMeta, LEVELS, Version, type VersionEdit } from './version.js';

/**
 * The current version of the tree and the manifest that makes it durable (LevelDB's VersionSet).
 *
 * An edit is installed only after it is durable: appended to the manifest and fsynced. Edits are
 * written one at a time, in the order they were asked for. When the manifest grows past its limit,
 * and at every open, a new manifest is started with one edit describing the whole version; CURRENT
 * is switched to it atomically: write CURRENT.tmp, fsync it, rename it over CURRENT, fsync the
 * directory. Until that rename is durable the old CURRENT names the old manifest, which is deleted
 * only afterwards, so a crash at any point leaves a CURRENT that names a complete manifest.
 *
 * Files no live version lists (neither current nor pinned by a snapshot or a compaction) are
 * handed to onObsolete for deletion.
 */

export interface RecoveredVersions {
  version: Version;
  checkpointLsn: number;
  nextFileNumber: number;
  compactPointers: (Uint8Array | null)[];
  walBlockBytes: number | null;
  /** LOG_MODE_WAL or LOG_MODE_APPLIED_INDEX; null for a new tree (a manifest without it: WAL). */
  logMode: number | null;
  /** Number of the manifest read, or null for a new tree. */
  manifestNumber: number | null;
  edits: number;
  droppedTail: { path: string; offset: number; bytes: number; detail: string } | null;
}

/** Reads CURRENT and the manifest it names; checks that every listed table is there. */
export function recoverVersions(disk: Disk, dir: string, blockBytes: number): RecoveredVersions {
  const fresh: RecoveredVersions = {
    version: Version.empty(),
    checkpointLsn: 0,
    nextFileNumber: 1,
    compactPointers: Array.from({ length: LEVELS }, () => null),
    walBlockBytes: null,
    logMode: null,
    manifestNumber: null,
    edits: 0,
    droppedTail: null,
  };
  const currentPath = joinPath(dir, CURRENT);
  if (!disk.exists(currentPath)) return fresh;
  const name = decodeCurrent(currentPath, disk.readFile(currentPath));
  const path = joinPath(dir, name);
  if (!disk.exists(path)) throw new StorageCorruptionError(currentPath, 0, `names ${name}, which does not exist`);
  const data = disk.readFile(path);
  const state = fresh;
  state.manifestNumber = Number(name.slice('MANIFEST-'.length));
  state.logMode = LOG_MODE_WAL;
  let version = Version.empty();
  const scan = scanRecords(data, blockBytes, (payload, offset) => {
    let edit: VersionEdit;
    try {
      edit = decodeEdit(payload);
      version = version.apply(edit);
    } catch (err) {
      const inner = err instanceof FormatError ? err.offset : 0;
      throw new StorageCorruptionError(path, offset, `version edit: ${(err as Error).message}${inner ? ` (byte ${inner} of the record)` : ''}`);
    }
    if (edit.checkpointLsn !== undefined) state.checkpointLsn = edit.checkpointLsn;
    if (edit.nextFileNumber !== undefined) state.nextFileNumber = edit.nextFileNumber;
    if (edit.walBlockBytes !== undefined) state.walBlockBytes = edit.walBlockBytes;
    if (edit.logMode !== undefined) state.logMode = edit.logMode;
    for (const p of edit.compactPointers) state.compactPointers[p.level] = p.key;
    state.edits++;
  });
  if (scan.bad !== null) {
    const b = scan.bad;
    // As in the WAL's last segment: a cut or zeroed tail is an edit that never became durable (it
    // was never installed); a checksum failure with valid data after it is corruption.
    if (b.kind !== 'incomplete' && b.kind !== 'zeroed' && b.validAfter) throw new StorageCorruptionError(path, b.fragmentOffset, `${b.detail}, with valid records after it`);
    state.droppedTail = { path, offset: b.offset, bytes: data.length - b.offset, detail: `${b.kind}: ${b.detail}` };
  }
  if (state.edits === 0) throw new StorageCorruptionError(path, 0, 'the manifest holds no complete edit');
  for (const f of version.files()) {
    const tpath = joinPath(dir, tableName(f.number));
    if (!disk.exists(tpath)) throw new StorageCorruptionError(tpath, 0, `table listed in ${name} is missing`);
    const file = disk.open(tpath, 'read');
    const size = file.size();
    file.close();
    if (size !== f.sizeBytes) throw new StorageCorruptionError(tpath, size, `table is ${size} bytes, ${name} says ${f.sizeBytes}`);
    state.nextFileNumber = Math.max(state.nextFileNumber, f.number + 1);
  }
  state.version = version;
  return state;
}

interface Manifest {
  number: number;
  path: string;
  file: DiskFile;
  size: number;
}

interface Pending {
  edit: VersionEdit;
  /** Start a new manifest for this edit even if the current one has room. */
  newManifest: boolean;
  done: (err: Error | null) => void;
}

export interface VersionSetOptions {
  dir: string;
  /** Block size of the manifest's log format. */
  blockBytes: number;
  /** Recorded in every new manifest (the WAL's format depends on it). */
  walBlockBytes: number;
  /** Recorded in every new manifest: LOG_MODE_WAL or LOG_MODE_APPLIED_INDEX. */
  logMode: number;
  manifestBytesMax: number;
  onObsolete: (files: FileMeta[]) => void;
}

export class VersionSet {
  current: Version;
  checkpointLsn: number;
  nextFileNumber: number;
  readonly compactPointers: (Uint8Array | null)[];
  private manifest: Manifest | null = null;
  private readonly queue: Pending[] = [];
  private writing = false;
  private closed = false;
  /** The first failure writing the manifest: fatal, like a failed WAL fsync (engine.ts says why). */
  private failure: Error | null = null;
  bytesWritten = 0;
  fsyncs = 0;

  constructor(
    private readonly deps: EngineDeps,
    private readonly options: VersionSetOptions,
    recovered: RecoveredVersions,
  ) {
    this.current = recovered.version;
    this.checkpointLsn = recovered.checkpointLsn;
    this.nextFileNumber = recovered.nextFileNumber;
    this.compactPointers = recovered.compactPointers.slice();
    for (const f of this.current.files()) f.refs++;
  }

  newFileNumber(): number {
    return this.nextFileNumber++;
  }

  /** Raises the counter past numbers found on disk (files a crash left unlisted). */
  skipPast(n: number): void {
    this.nextFileNumber = Math.max(this.nextFileNumber, n + 1);
  }

  pin(): Version {
    this.current.pins++;
    return this.current;
  }

  unpin(v: Version): void {
    assert(v.pins > 0, 'VersionSet.unpin: not pinned');
    v.pins--;
    this.releaseIfDead(v);
  }

  /** Makes edit durable in the manifest, then installs it; done after, or with the error. */
  logAndApply(edit: VersionEdit, done: (err: Error | null) => void): void {
    this.queue.push({ edit, newManifest: false, done });
    this.writeNext();
  }

  /** Starts a new manifest describing the current version (at open). */
  startNewManifest(done: (err: Error | null) => void): void {
    this.queue.push({ edit: emptyEdit(), newManifest: true, done });
    this.writeNext();
  }

  /** True while an edit is being made durable (a manifest append or roll-over is in flight). */
  get writingManifest(): boolean {
    return this.writing;
  }

  /**
   * Stops manifest writes for good: the engine failed, and the failure (a failed fsync of the
   * directory, say) may have dropped pending directory entries a manifest update relies on.
   */
  poison(err: Error): void {
    this.failure ??= err;
  }

  manifestBytes(): number {
    return this.manifest?.size ?? 0;
  }

  /** Stops writing edits; the manifest file closes once an fsync in flight has completed. */
  close(): void {
    this.closed = true;
    if (!this.writing) this.manifest?.file.close();
  }

  private writeNext(): void {
    if (this.writing || this.closed) return;
    const p = this.queue.shift();
    if (p === undefined) return;
    if (this.failure !== null) {
      p.done(this.failure);
      return this.writeNext();
    }
    this.writing = true;
    const { edit } = p;
    let next: Version;
    try {
      next = this.current.apply(edit);
    } catch (err) {
      this.writing = false;
      p.done(err as Error);
      return this.writeNext();
    }
    const finish = (err0: Error | null) => {
      const err = err0 ?? this.failure;
      this.writing = false;
      if (this.closed) {
        // Closed while this edit was in flight: no one waits for it any more.
        this.manifest?.file.close();
        return;
      }
      // After a failed write or fsync the manifest's tail is unknown (the failed bytes may or may
      // not reach the disk, and a later fsync would not tell): no edit may follow it.
      if (err !== null) this.failure ??= err;
      if (err === null) failpoint('lsm.manifestBeforeInstall');
      if (err === null) this.install(next, edit);
      p.done(err);
      this.writeNext();
    };
    if (p.newManifest || this.manifest === null || this.manifest.size >= this.options.manifestBytesMax) return this.roll(next, edit, finish);
    edit.nextFileNumber = this.nextFileNumber;
    const m = this.manifest;
    try {
      this.appendEdit(m, edit);
    } catch (err) {
      return finish(err as Error);
    }
    this.fsyncs++;
    m.file.sync(finish);
  }

  private appendEdit(m: Manifest, edit: VersionEdit): void {
    const out = new ByteWriter(512);
    const end = frameRecord(out, encodeEdit(edit), m.size, this.options.blockBytes);
    m.file.append(out.written());
    this.bytesWritten += end - m.size;
    m.size = end;
  }

  private install(next: Version, edit: VersionEdit): void {
    if (edit.checkpointLsn !== undefined) {
      assert(edit.checkpointLsn >= this.checkpointLsn, 'VersionSet: checkpoint went back');
      this.checkpointLsn = edit.checkpointLsn;
    }
    for (const p of edit.compactPointers) this.compactPointers[p.level] = p.key;
    const old = this.current;
    for (const f of next.files()) f.refs++;
    this.current = next;
    this.releaseIfDead(old);
  }

  private releaseIfDead(v: Version): void {
    if (v === this.current || v.pins > 0 || v.released) return;
    v.released = true;
    const obsolete: FileMeta[] = [];
    for (const f of v.files()) {
      assert(f.refs > 0, () => `table ${f.number}: reference count below zero`);
      if (--f.refs === 0) obsolete.push(f);
    }
    if (obsolete.length > 0) this.options.onObsolete(obsolete);
  }

  /**
   * Writes a new manifest holding the whole of `next` (with edit's checkpoint and pointers), then
   * switches CURRENT to it and deletes the old manifest.
   */
  private roll(next: Version, edit: VersionEdit, done: (err: Error | null) => void): void {
    const { disk } = this.deps;
    const { dir } = this.options;
    const number = this.newFileNumber();
    const name = manifestName(number);
    const snapshot = emptyEdit();
    snapshot.checkpointLsn = Math.max(this.checkpointLsn, edit.checkpointLsn ?? 0);
    snapshot.nextFileNumber = this.nextFileNumber;
    snapshot.walBlockBytes = this.options.walBlockBytes;
    snapshot.logMode = this.options.logMode;
    for (let l = 0; l < LEVELS; l++) {
      const key = edit.compactPointers.find((p) => p.level === l)?.key ?? this.compactPointers[l];
      if (key !== null && key !== undefined) snapshot.compactPointers.push({ level: l, key });
      for (const file of next.levels[l] as FileMeta[]) snapshot.added.push({ level: l, file });
    }
    const path = joinPath(dir, name);
    const tmpPath = joinPath(dir, CURRENT_TMP);
    let m: Manifest | null = null;
    let tmp: DiskFile | null = null;
    const fsync = (step: (cb: (err: Error | null) => void) => void): Step => (next) => {
      this.fsyncs++;
      step(next);
    };
    // Each step first checks that nothing failed meanwhile (see poison()) and that the engine is
    // still open: after close, a new incarnation may own the directory.
    const guarded = (steps: Step[]): Step[] =>
      steps.map((st) => (next) => (this.failure !== null ? next(this.failure) : this.closed ? next(new Error('closed')) : st(next)));
    series(
      guarded([
        (next) => {
          m = { number, path, file: disk.open(path, 'create-new'), size: 0 };
          this.appendEdit(m, snapshot);
          next(null);
        },
        fsync((cb) => (m as Manifest).file.sync(cb)),
        fsync((cb) => disk.syncDir(dir, cb)),
        (next) => {
          failpoint('lsm.manifestBeforeCurrent');
          tmp = disk.open(tmpPath, 'truncate');
          const current = encodeCurrent(name);
          tmp.append(current);
          this.bytesWritten += current.length;
          next(null);
        },
        fsync((cb) => (tmp as DiskFile).sync(cb)),
        (next) => {
          (tmp as DiskFile).close();
          disk.rename(tmpPath, joinPath(dir, CURRENT));
          next(null);
        },
        fsync((cb) => disk.syncDir(dir, cb)),
        (next) => {
          const old = this.manifest;
          this.manifest = m;
          if (old !== null) {
            old.file.close();
            removeIfPresent(disk, old.path);
          }
          next(null);
        },
      ]),
      (err) => {
        if (err !== null && m !== null && this.manifest !== m) (m as Manifest).file.close();
        done(err);
      },
    );
  }
}

export function removeIfPresent(disk: Disk, path: string): void {
  try {
    disk.remove(path);
  } catch (err) {
    if (!isDiskError(err, 'ENOENT')) throw err;
  }
}
