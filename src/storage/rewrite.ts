import type { Disk, DiskError, DiskFile } from '../env/disk.js';

/**
 * Rewriting recovered log files over themselves at start-up.
 *
 * A failed fsync before this start may have left records that reads return but the device never
 * got: Linux keeps such pages in the cache, clean, and forgets the error once it has reported it
 * (the "fsyncgate" behaviour, which the simulated disk models). The process that saw the failure
 * stops; the next one recovers from the same file, trusts those records, acknowledges more on top
 * of them, and a later power loss takes the unsynced ones back: recovery then cuts the log at the
 * hole, behind records it had promised. Rewritten, the pages are dirty again and the sync that
 * follows makes them durable, or fails and the node stops again. The cost is one sequential pass
 * over what recovery has just read anyway. (Found by scenarios/raft/disk-faults.yaml, seed 27.)
 */

/** Bytes moved at once, to bound memory on large files. */
const CHUNK_BYTES = 1 << 20;

/** Writes bytes [0, end) of path (end null: the whole file) back over themselves; returns the open file, to be synced. */
export function rewriteInPlace(disk: Disk, path: string, end: number | null): DiskFile {
  const f = disk.open(path, 'write');
  const stop = end === null ? f.size() : Math.min(end, f.size());
  for (let off = 0; off < stop; off += CHUNK_BYTES) f.writeAt(off, f.read(off, Math.min(CHUNK_BYTES, stop - off)));
  return f;
}

/** Syncs and closes each file in turn; the first failure stops the rest (closed unsynced). */
export function syncEach(files: DiskFile[], done: (err: DiskError | null) => void): void {
  const f = files.shift();
  if (f === undefined) return done(null);
  f.sync((err) => {
    f.close();
    if (err !== null) {
      for (const rest of files) rest.close();
      return done(err);
    }
    syncEach(files, done);
  });
}
