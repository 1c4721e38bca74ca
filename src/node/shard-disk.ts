import type { Disk } from '../env/disk.js';
import { shardDir } from './shard-env.js';

/**
 * Where a node records, on its own disk, how it came to hold a shard's replica, so that a restart
 * starts exactly the groups it should, each the way it should:
 *
 *   shards/<i>.joined   the replica was created by a move: it starts empty, never bootstraps, and
 *                       receives the group's state from the leader (snapshot, then log);
 *   shards/<i>.removed  the replica was removed from its group (Raft committed that): its files
 *                       are deleted, or being deleted, and it does not start;
 *   neither             a replica of the cluster's first placement, on a node that was there from
 *                       the start: it bootstraps with the first placement's members (as before moves).
 *
 * Both present means a change was interrupted by a crash; either way the group is not needed
 * (a removal was committed, or a creation had not yet started anything), so it counts as removed
 * and placement creates it again if it is wanted. Each marker is made durable (fsync of the
 * directory) before the step that relies on it: a group's files are deleted only once `.removed`
 * is durable, and a created group starts only once `.joined` is.
 */
export type ShardOrigin = 'first' | 'joined' | 'removed';

const DIR = 'shards';

function marker(shard: number, kind: 'joined' | 'removed'): string {
  return `${DIR}/${shard}.${kind}`;
}

/** How shard i's replica came to this node (see above); 'first' also when there is none. */
export function shardOrigin(disk: Disk, shard: number): ShardOrigin {
  const removed = disk.exists(marker(shard, 'removed'));
  if (removed) return 'removed';
  return disk.exists(marker(shard, 'joined')) ? 'joined' : 'first';
}

/** Marks shard i as created by a move (after deleting whatever an earlier life left), then calls done. */
export function markJoined(disk: Disk, shard: number, done: (err: Error | null) => void): void {
  step(disk, () => {
    wipe(disk, shardDir(shard));
    touch(disk, marker(shard, 'joined'));
  }, (err) => {
    if (err !== null) return done(err);
    step(disk, () => drop(disk, marker(shard, 'removed')), done);
  });
}

/** Marks shard i as removed, then deletes its files; done once the marker is durable and the files gone. */
export function markRemoved(disk: Disk, shard: number, done: (err: Error | null) => void): void {
  step(disk, () => touch(disk, marker(shard, 'removed')), (err) => {
    if (err !== null) return done(err);
    step(disk, () => {
      drop(disk, marker(shard, 'joined'));
      wipe(disk, shardDir(shard));
    }, done);
  });
}

/** Deletes the files a removed shard may still have (a crash stopped the deletion). */
export function finishRemoval(disk: Disk, shard: number): void {
  wipe(disk, shardDir(shard));
}

/** Runs `change` (directory entries), then fsyncs the shards directory so it is durable. */
function step(disk: Disk, change: () => void, done: (err: Error | null) => void): void {
  try {
    disk.mkdir(DIR);
    change();
  } catch (err) {
    return done(err as Error);
  }
  disk.syncDir(DIR, (err) => done(err));
}

function touch(disk: Disk, path: string): void {
  disk.open(path, 'create').close();
}

function drop(disk: Disk, path: string): void {
  if (disk.exists(path)) disk.remove(path);
}

/** Deletes every file under dir (directories stay: the Disk seam has no rmdir; they are empty). */
function wipe(disk: Disk, dir: string): void {
  let names: string[];
  try {
    names = disk.list(dir);
  } catch {
    return; // no such directory: nothing to delete
  }
  for (const name of names) {
    const path = `${dir}/${name}`;
    let sub: string[] | null = null;
    try {
      sub = disk.list(path);
    } catch {
      sub = null;
    }
    if (sub !== null) wipe(disk, path);
    else if (disk.exists(path)) disk.remove(path);
  }
}
