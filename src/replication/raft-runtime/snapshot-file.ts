import type { Disk } from '../../env/disk.js';
import { isDiskError, joinPath } from '../../env/disk.js';
import { StorageCorruptionError } from '../../storage/errors.js';
import { crc32c } from '../../storage/util/crc32c.js';
import type { Membership, Snapshot } from '../raft/types.js';

/**
 * Snapshot files: the state machine at one log position, as the Raft runtime keeps it on disk.
 *
 *   "KVLSNAP1"  8 bytes magic
 *   u32 BE      header length h
 *   h bytes     header JSON: {"index", "term", "membership", "dataBytes", "dataCrc32c", "headerVersion": 1}
 *   u32 BE      CRC32C of the header bytes
 *   dataBytes   the state machine's encoding (opaque here)
 *
 * A file is written under a temporary name, fsynced, renamed into place and its directory
 * fsynced, so a crash leaves either the old set of snapshots or the new one, never half a file
 * under a final name. Names sort by position: snap-<index, 16 digits>-<term>.snap.
 */

const MAGIC = new TextEncoder().encode('KVLSNAP1');

export function snapshotFileName(index: number, term: number): string {
  return `snap-${String(index).padStart(16, '0')}-${term}.snap`;
}

export function encodeSnapshotFile(s: Snapshot): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ headerVersion: 1, index: s.meta.index, term: s.meta.term, membership: s.meta.membership, dataBytes: s.data.length, dataCrc32c: crc32c(s.data) }),
  );
  const out = new Uint8Array(MAGIC.length + 4 + header.length + 4 + s.data.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, header.length);
  out.set(header, 12);
  view.setUint32(12 + header.length, crc32c(header));
  out.set(s.data, 16 + header.length);
  return out;
}

export function decodeSnapshotFile(bytes: Uint8Array, path: string): Snapshot {
  const bad = (offset: number, why: string) => new StorageCorruptionError(path, offset, why);
  if (bytes.length < 16 || !MAGIC.every((b, i) => bytes[i] === b)) throw bad(0, 'not a kv-lab snapshot (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = view.getUint32(8);
  if (12 + h + 4 > bytes.length) throw bad(8, `header of ${h} bytes runs past the end of the file`);
  const header = bytes.subarray(12, 12 + h);
  if (view.getUint32(12 + h) !== crc32c(header)) throw bad(12, 'header checksum mismatch');
  const meta = JSON.parse(new TextDecoder().decode(header)) as { index: number; term: number; membership: Membership; dataBytes: number; dataCrc32c: number };
  const data = bytes.subarray(16 + h);
  if (data.length !== meta.dataBytes) throw bad(16 + h, `data is ${data.length} bytes, header says ${meta.dataBytes}`);
  if (crc32c(data) !== meta.dataCrc32c) throw bad(16 + h, 'data checksum mismatch');
  return { meta: { index: meta.index, term: meta.term, membership: meta.membership }, data: data.slice() };
}

/** Writes a snapshot durably; done with its file name. */
export function saveSnapshotFile(disk: Disk, dir: string, s: Snapshot, done: (err: Error | null, name?: string) => void): void {
  const name = snapshotFileName(s.meta.index, s.meta.term);
  const tmp = joinPath(dir, `${name}.tmp`);
  let file;
  try {
    file = disk.open(tmp, 'truncate');
    file.append(encodeSnapshotFile(s));
  } catch (err) {
    return done(err as Error);
  }
  file.sync((err) => {
    file.close();
    if (err !== null) return done(err);
    try {
      disk.rename(tmp, joinPath(dir, name));
    } catch (e) {
      return done(e as Error);
    }
    disk.syncDir(dir, (e) => done(e, name));
  });
}

export function loadSnapshotFile(disk: Disk, dir: string, name: string): Snapshot {
  const path = joinPath(dir, name);
  return decodeSnapshotFile(disk.readFile(path), path);
}

/**
 * Removes snapshot files older than `keep`. A newer one — a snapshot installed from the leader
 * while this compaction ran — stays: the log names it. Temporaries stay too (one may be being
 * written right now); those a crash left behind go at the next open (removeTemporaries).
 */
export function removeOtherSnapshots(disk: Disk, dir: string, keep: string): void {
  for (const name of disk.list(dir)) {
    if (name === keep || !name.startsWith('snap-')) continue;
    if (name.endsWith('.tmp') || name > keep) continue;
    try {
      disk.remove(joinPath(dir, name));
    } catch (err) {
      if (!isDiskError(err, 'ENOENT')) throw err;
    }
  }
}

/** Removes temporaries an interrupted save left behind. Call before anything saves. */
export function removeTemporaries(disk: Disk, dir: string): void {
  for (const name of disk.list(dir)) if (name.startsWith('snap-') && name.endsWith('.tmp')) disk.remove(joinPath(dir, name));
}
