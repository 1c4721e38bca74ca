import type { Disk } from '../env/disk.js';

/**
 * Writes a small file whole and durably, then calls done: truncates it, appends the bytes, fsyncs
 * it, and fsyncs its directory — `always`, `if-new` only when the name did not exist (a name is
 * durable once its directory is), or `never` (the caller syncs it once after several files). A crash part way leaves the file torn or old: its readers
 * check their own bytes (a checksum, a parse). The Raft log's loss markers and its hard-state
 * copies are written this way.
 */
export function writeWholeFile(disk: Disk, path: string, bytes: Uint8Array, syncDir: 'always' | 'if-new' | 'never', done: (err: Error | null) => void): void {
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  let f;
  let created = false;
  try {
    created = !disk.exists(path);
    f = disk.open(path, 'truncate');
    f.append(bytes);
  } catch (err) {
    f?.close();
    return done(err as Error);
  }
  const file = f;
  file.sync((err) => {
    file.close();
    if (err !== null) return done(err);
    if (syncDir === 'always' || (syncDir === 'if-new' && created)) disk.syncDir(dir, (e) => done(e));
    else done(null);
  });
}
