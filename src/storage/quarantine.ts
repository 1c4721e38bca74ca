import type { Disk } from '../env/disk.js';
import { assert } from '../util/assert.js';

/** Where files found corrupt are moved, under the disk's root: quarantine/<n>-<what>/<their path>. */
export const QUARANTINE_DIR = 'quarantine';

/** Quarantined sets kept at most: older ones are deleted, so a disk that keeps rotting cannot fill up with them. */
export const QUARANTINE_SETS_MAX = 4;

/** Every file under dir, as paths relative to the disk's root, sorted (none if dir is missing). */
export function filesUnder(disk: Disk, dir: string): string[] {
  let names: string[];
  try {
    names = disk.list(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    let isDir = true;
    try {
      disk.list(path);
    } catch {
      isDir = false;
    }
    if (isDir) out.push(...filesUnder(disk, path));
    else out.push(path);
  }
  return out;
}

/**
 * Moves `files` (paths relative to the disk's root) to quarantine/<n>-<what>/, keeping their
 * relative paths, and makes the moves durable; then drops the oldest sets beyond
 * QUARANTINE_SETS_MAX. done with the set's directory. What is quarantined is never read again by
 * the node: it is kept so that an operator can see what rotted (CTRL, Alagappan et al. FAST 2018,
 * keeps the faulty data aside the same way rather than overwriting it in place).
 *
 * `oneByOne`: each move is durable (both directories fsynced) before the next starts, in the
 * order given. Together, a crash may keep any subset of the moves (a directory's pending entries
 * survive in any combination); a log's segments moved newest first, one by one, always leave a
 * contiguous log behind, whose rotten segment the next start finds and moves again.
 */
export function quarantine(disk: Disk, what: string, files: readonly string[], done: (err: Error | null, dir?: string) => void, oneByOne = false): void {
  assert(/^[a-z-]+$/.test(what), () => `quarantine set named ${what}`);
  let dir: string;
  let sets: string[];
  try {
    disk.mkdir(QUARANTINE_DIR);
    sets = disk.list(QUARANTINE_DIR).filter((n) => /^\d+-/.test(n));
    const next = sets.reduce((m, n) => Math.max(m, Number(n.slice(0, n.indexOf('-')))), 0) + 1;
    dir = `${QUARANTINE_DIR}/${next}-${what}`;
  } catch (err) {
    return done(err as Error);
  }
  const set = dir.slice(QUARANTINE_DIR.length + 1);
  const pending = new Set<string>();
  const move = (f: string): void => {
    assert(!f.startsWith(`${QUARANTINE_DIR}/`), () => `quarantining ${f} again`);
    const to = `${dir}/${f}`;
    const parent = to.slice(0, to.lastIndexOf('/'));
    disk.mkdir(parent);
    disk.rename(f, to);
    pending.add(f.includes('/') ? f.slice(0, f.lastIndexOf('/')) : '');
    pending.add(parent);
  };
  const flush = (then: (err: Error | null) => void): void => {
    const dirs = [...pending].sort();
    pending.clear();
    syncDirs(disk, dirs, then);
  };
  const finish = (): void => {
    try {
      // Oldest first by number; the set just made is the newest.
      const all = [...sets, set].sort((a, b) => Number(a.slice(0, a.indexOf('-'))) - Number(b.slice(0, b.indexOf('-'))));
      for (const old of all.slice(0, Math.max(0, all.length - QUARANTINE_SETS_MAX))) for (const f of filesUnder(disk, `${QUARANTINE_DIR}/${old}`)) disk.remove(f);
      pending.add(QUARANTINE_DIR);
    } catch (err) {
      return done(err as Error);
    }
    flush((err) => done(err, dir));
  };
  if (!oneByOne) {
    try {
      for (const f of files) move(f);
    } catch (err) {
      return done(err as Error);
    }
    return finish();
  }
  const step = (i: number): void => {
    const f = files[i];
    if (f === undefined) return finish();
    try {
      move(f);
    } catch (err) {
      return done(err as Error);
    }
    flush((err) => (err !== null ? done(err) : step(i + 1)));
  };
  step(0);
}

function syncDirs(disk: Disk, dirs: string[], done: (err: Error | null) => void): void {
  const d = dirs.shift();
  if (d === undefined) return done(null);
  disk.syncDir(d, (err) => (err !== null ? done(err) : syncDirs(disk, dirs, done)));
}
