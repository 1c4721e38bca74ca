import { StorageOptionsError } from './errors.js';

/**
 * When a log is fsynced, and so which acknowledged writes a machine crash can lose:
 *
 * - `always`: a write is acknowledged only once an fsync covering it has completed (writers that
 *   arrive while an fsync is in flight share the next one: group commit). Loss window: none. A
 *   crash loses only writes that were never acknowledged.
 * - `interval`: a write is acknowledged once it is in the log's buffer; an fsync runs every
 *   intervalMs while there is unsynced data. Loss window: a machine crash loses up to intervalMs
 *   plus one fsync's duration of acknowledged writes; a process crash alone loses at most the
 *   writes of the current event-loop turn (the buffer reaches the OS at the end of each turn).
 * - `never`: a write is acknowledged once it is in the log's buffer and never fsynced on the write
 *   path. Loss window: whatever the OS had not written back when the machine crashed (on Linux,
 *   dirty pages live up to 30 s by default), plus the current turn on a process crash. Logs still
 *   fsync when they seal a full segment, so that recovery can tell a torn tail from corruption.
 *
 * Under `interval` and `never` a write is visible to readers as soon as it is acknowledged, before
 * it is durable: a crash may take back a value someone has read. Under `always` it becomes visible
 * only when durable.
 */
export type FsyncPolicy = { kind: 'always' } | { kind: 'interval'; intervalMs: number } | { kind: 'never' };

export const FSYNC_ALWAYS: FsyncPolicy = { kind: 'always' };
export const FSYNC_NEVER: FsyncPolicy = { kind: 'never' };

/** Parses `always`, `never`, `interval 100` or `interval 100ms`. */
export function parseFsyncPolicy(text: string): FsyncPolicy {
  const t = text.trim();
  if (t === 'always') return FSYNC_ALWAYS;
  if (t === 'never') return FSYNC_NEVER;
  const m = /^interval\s+(\d+(?:\.\d+)?)\s*(ms)?$/.exec(t);
  if (m) return checkFsyncPolicy({ kind: 'interval', intervalMs: Number(m[1]) });
  throw new StorageOptionsError(`fsync policy must be "always", "never" or "interval <ms>", got ${JSON.stringify(text)}`);
}

export function checkFsyncPolicy(p: FsyncPolicy): FsyncPolicy {
  if (p.kind === 'interval' && !(p.intervalMs > 0 && p.intervalMs <= 60_000)) {
    throw new StorageOptionsError(`fsync interval must be in (0, 60000] ms, got ${p.intervalMs}`);
  }
  return p;
}

export function describeFsyncPolicy(p: FsyncPolicy): string {
  return p.kind === 'interval' ? `interval ${p.intervalMs}ms` : p.kind;
}
