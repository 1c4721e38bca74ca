import type { Clock } from '../env/clock.js';
import type { Env } from '../env/env.js';
import { markStateMachineLost } from '../replication/raft-runtime/runtime.js';
import { StorageCorruptionError } from '../storage/errors.js';
import { filesUnder, quarantine } from '../storage/quarantine.js';
import { dataFileKind, ENGINE_DIR, ENGINE_ROTTEN_MARKER, RAFT_DIR } from './data-dir.js';

/**
 * A Raft member's engine whose files fail their checks (protocol-aware recovery,
 * src/replication/raft-runtime/README.md), in the steps a single group's node and each group of a
 * sharded node take alike, each on its own Env (a group's is rooted at shards/<i>/, data-dir.ts):
 *
 * - found at start: the state machine is marked lost (durably, first), the whole engine directory
 *   goes to quarantine, and the engine opens empty; the Raft runtime then refills it from the
 *   leader's snapshot before the member applies or leads again (quarantineRottenEngine);
 * - found while running (a read, a merge, a compaction): the engine cannot go on, so a marker says
 *   so (durably) and the process exits; its next start quarantines before it opens the engine
 *   (markEngineRotten, rottenEngineMarker).
 */

/** The engine-file corruption that err is or was caused by (errors may wrap it), or null. */
export function engineCorruption(err: Error): StorageCorruptionError | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof StorageCorruptionError && dataFileKind(e.path) === 'engine') return e;
  }
  return null;
}

/** Why the engine-rotten marker says the engine was found rotten, or null when there is no marker. */
export function rottenEngineMarker(env: Pick<Env, 'disk'>): string | null {
  if (!env.disk.exists(ENGINE_ROTTEN_MARKER)) return null;
  try {
    return new TextDecoder().decode(env.disk.readFile(ENGINE_ROTTEN_MARKER)).trim().slice(0, 1000) || 'an engine file failed its checks';
  } catch {
    // The reason is for the log only: a rotten marker still says what it must.
    return 'an engine file failed its checks';
  }
}

/** Marks the state machine lost, quarantines the engine directory, drops the engine-rotten marker; then done. */
export function quarantineRottenEngine(env: Pick<Env, 'disk' | 'log'>, why: string, done: (err: Error | null) => void): void {
  env.log.log('error', 'node.engine_corrupt', { why });
  markStateMachineLost(env, RAFT_DIR, why, (e) => {
    if (e !== null) return done(e);
    quarantine(env.disk, 'engine', filesUnder(env.disk, ENGINE_DIR), (e2, dir) => {
      if (e2 !== null) return done(e2);
      env.log.log('error', 'node.quarantined', { what: 'engine', to: dir ?? null });
      try {
        if (env.disk.exists(ENGINE_ROTTEN_MARKER)) env.disk.remove(ENGINE_ROTTEN_MARKER);
      } catch (e3) {
        return done(e3 as Error);
      }
      // Not waited for: a marker that comes back after a crash quarantines an engine the
      // state-machine-lost marker already has repaired from the group (wasteful, never wrong).
      env.disk.syncDir('', () => {});
      done(null);
    });
  });
}

/** Writes the engine-rotten marker (durably, as far as the disk lets it), then calls done: the caller exits next. */
export function markEngineRotten(env: Pick<Env, 'disk'>, rotten: StorageCorruptionError, done: () => void): void {
  let f;
  try {
    f = env.disk.open(ENGINE_ROTTEN_MARKER, 'truncate');
    f.append(new TextEncoder().encode(`${rotten.message}\n`));
  } catch {
    return done();
  }
  const file = f;
  file.sync(() => {
    file.close();
    env.disk.syncDir('', () => done());
  });
}

/**
 * Reads for transactions (RaftReplica.txnHost's view) run in code that is entered from many
 * places: client requests, peer frames, timers, lock grants. A rotten engine file met by such a
 * read fails its replica at the read itself (the same path as a rotten read in apply), and the
 * error is recorded here; whatever entry point it then unwinds to drops it (dropFailedRead), so
 * the one failed group does not take the process down with an uncaught exception (txn/
 * cross-shard-rot seed 3: a participant's sweep scanned its intents over a rotten table).
 */
const replicaFailedOn = new WeakSet<Error>();

/** err failed its replica already: entry points may drop it. */
export function replicaFailed(err: Error): void {
  replicaFailedOn.add(err);
}

/** Whether err is a read error its replica has already failed on (and so is dropped, not thrown on). */
export function dropFailedRead(err: unknown): boolean {
  return err instanceof Error && replicaFailedOn.has(err);
}

/** Runs fn, dropping a read error its replica has already failed on; anything else is thrown on. */
export function guardReads(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!dropFailedRead(err)) throw err;
  }
}

/** clock, with every timer and deferred callback run under guardReads. */
export function readGuardedClock(clock: Clock): Clock {
  return {
    monotonicNs: () => clock.monotonicNs(),
    monotonicMs: () => clock.monotonicMs(),
    wallMs: () => clock.wallMs(),
    timer: (delayMs, fn) => clock.timer(delayMs, () => guardReads(fn)),
    defer: (fn) => clock.defer(() => guardReads(fn)),
  };
}
