import { QUARANTINE_DIR } from '../storage/quarantine.js';

/**
 * The layout of a node's data directory, and what a node does with files found corrupt there.
 *
 *   kv/              the state machine's storage engine (LSM, bitcask)
 *   raft/wal/        the Raft log (one group); `raftlog/` on a sharded node (shared by its groups)
 *   raft/snap/       Raft snapshot files
 *   raft/hardstate-{a,b}  the Raft hard state (term, vote), two checksummed copies written in turn
 *   quarantine/<n>-<kind>/  files found corrupt, moved aside for an operator to inspect
 *   engine-rotten    marker: an engine file failed a check while the node ran; the next start
 *                    quarantines kv/ before it opens the engine (raft/sm-lost: it is then
 *                    refilled from the group)
 *   shards/<i>/…     a sharded node's groups, each with its own kv/ and raft/snap/
 */

export const ENGINE_DIR = 'kv';
export { QUARANTINE_DIR };
export const RAFT_DIR = 'raft';
export const ENGINE_ROTTEN_MARKER = 'engine-rotten';

/** The kinds of stored file a fault (the simulator's `corrupt`) or an operator can name. */
export type DataFileKind = 'log' | 'snapshot' | 'hardstate' | 'engine';
export const DATA_FILE_KINDS: readonly DataFileKind[] = ['log', 'snapshot', 'hardstate', 'engine'];

/**
 * Which kind of stored file `path` (relative to the node's disk root) is, or null for anything
 * else (markers, quarantined files, temporaries of the kinds below still count as their kind).
 */
export function dataFileKind(path: string): DataFileKind | null {
  // A sharded node's group files sit under shards/<i>/ with the same layout.
  const local = path.startsWith('shards/') ? path.split('/').slice(2).join('/') : path;
  if (local.startsWith(`${QUARANTINE_DIR}/`)) return null;
  if (local.startsWith(`${ENGINE_DIR}/`)) return 'engine';
  if (local.startsWith(`${RAFT_DIR}/wal/`) || local.startsWith('raftlog/')) return 'log';
  if (local.startsWith(`${RAFT_DIR}/snap/`)) return 'snapshot';
  if (local.startsWith(`${RAFT_DIR}/hardstate`)) return 'hardstate';
  return null;
}
