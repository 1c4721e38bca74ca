import { SCAN_LIMIT_MAX } from '../storage/engine.js';
import { assert } from '../util/assert.js';

/**
 * The node's one flat, ordered key space, shared by every database and the node's own records:
 * the single definition of each prefix, and the one paged scan over a range of it.
 *
 *   "\x00" + db + "\x00" + key         → JSON text of the value (db '' is the default database)
 *   "\x01s\x00" + client               → the client's session: {ackSeq, touched, held}
 *   "\x01r\x00" + client + "\x00" + seq → the result of that request (16-digit seq), until acknowledged
 *   "\x01n"                            → the number of write requests applied (a logical clock)
 *   "\x01w"                            → where the last sweep of idle sessions stopped
 *   "\x01d\x00" + db                   → "1": the database exists (the default database always does)
 *   "\x01u\x00" + user                 → JSON UserRecord: {hash, grants: {db: perms}, epoch}
 *   "\x01e"                            → the credential epoch: bumped by every user.put and user.delete
 *   "\x01v"                            → the catalog version: bumped by every change of users or databases
 *   "\x01t\x00" + txn id               → a transaction's record: {"status":"committed"|"aborted","reason"?}
 *   "\x01c"                            → the number of transaction records written (txn-apply.ts)
 *   "\x01l\x00" + 16-digit n            → the id of the n-th record (records past a bound are forgotten)
 *   "\x01x\x00" + txn id               → a prepared cross-shard transaction's intent here: {home, db, writes}
 *   "\x01k\x00" + data key             → the id of the prepared transaction whose intent covers that key
 *   "\x01m"                            → a sharded cluster's member set {epoch, members} (shard 0 only)
 *   "\x01a"                            → Raft: the last log index the store reflects   } node-local:
 *   "\x01p"                            → primary: the last shipped record applied      } not replicated
 *
 * Database names may not contain "\x00", so the keys of one database are contiguous, and every
 * user key sorts before every internal key ("\x00…" < "\x01…").
 */

export const WRITES_KEY = '\x01n';
export const SWEEP_CURSOR_KEY = '\x01w';
export const SESSIONS_START = '\x01s\x00';
export const SESSIONS_END = '\x01s\x01';
export const DATABASES_START = '\x01d\x00';
export const DATABASES_END = '\x01d\x01';
export const USERS_START = '\x01u\x00';
export const USERS_END = '\x01u\x01';
/** The credential epoch (kv-state.ts): tokens are bound to a user's epoch at login. */
export const CREDENTIAL_EPOCH_KEY = '\x01e';
/**
 * The catalog's version (users, databases, the credential epoch): bumped by every db.create,
 * db.delete, user.put, user.delete and user.grant. A sharded node reads it from its replica of
 * shard 0 to learn, with one lookup, that the catalog changed (src/node/shard-catalog.ts).
 */
export const CATALOG_VERSION_KEY = '\x01v';
/** Transaction records (src/node/txn-apply.ts). */
export const TXN_RECORDS_START = '\x01t\x00';
export const TXN_RECORD_COUNT_KEY = '\x01c';
export const TXN_RECORD_LOG_START = '\x01l\x00';
/** Two-phase commit across shards (src/node/shard-txn-apply.ts): a participant's prepared intents. */
export const TXN_INTENTS_START = '\x01x\x00';
export const TXN_INTENTS_END = '\x01x\x01';
export const TXN_KEY_INTENT_START = '\x01k\x00';
/** The lock-table name of a database's guard (src/txn/lock-manager.ts): never a stored key. */
export function txnGuardLock(db: string): string {
  return `\x01g\x00${db}`;
}
/** A sharded cluster's member set (src/cluster/placement/members.ts), replicated by shard 0's group. */
export const MEMBER_SET_KEY = '\x01m';
/** Raft's applied index, written in the same batch as the entries it covers. */
export const RAFT_APPLIED_KEY = '\x01a';
/** Log shipping's last applied record. */
export const PRIMARY_APPLIED_KEY = '\x01p';

/** Keys a replica keeps for itself (its applied position): not part of the replicated state. */
export const NODE_LOCAL_KEYS: ReadonlySet<string> = new Set([RAFT_APPLIED_KEY, PRIMARY_APPLIED_KEY]);

export function dataKey(db: string, key: string): string {
  return `\x00${db}\x00${key}`;
}

export function dbPrefix(db: string): string {
  return `\x00${db}\x00`;
}

export function dbEnd(db: string): string {
  return `\x00${db}\x01`;
}

export function sessionKey(client: string): string {
  return SESSIONS_START + client;
}

export function resultPrefix(client: string): string {
  return `\x01r\x00${client}\x00`;
}

export function resultKey(client: string, seq: number): string {
  return resultPrefix(client) + String(seq).padStart(16, '0');
}

export function dbKey(db: string): string {
  return DATABASES_START + db;
}

export function userKey(name: string): string {
  return USERS_START + name;
}

/** The smallest key after `key`: where the next page of a scan starts. */
export function keyAfter(key: string): string {
  return `${key}\x00`;
}

/** What a paged scan reads from (a storage view, or the store). */
export interface ScanSource {
  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][];
}

/**
 * Every entry with start <= key < end (end null: to the last key), ascending, read a page of
 * pageSize entries at a time so that no single scan asks the engine for more than it allows.
 * REQUIRES: 0 < pageSize <= SCAN_LIMIT_MAX.
 */
export function* scanAll(source: ScanSource, start = '', end: string | null = null, pageSize = SCAN_LIMIT_MAX): Generator<[string, string]> {
  assert(pageSize > 0 && pageSize <= SCAN_LIMIT_MAX, () => `scanAll: page size ${pageSize} is not in 1..${SCAN_LIMIT_MAX}`);
  let from = start;
  for (;;) {
    const page = source.scan(from, end, pageSize, false);
    assert(page.length <= pageSize, () => `scanAll: a page of ${page.length} entries, asked for ${pageSize}`);
    yield* page;
    if (page.length < pageSize) return;
    from = keyAfter((page[page.length - 1] as [string, string])[0]);
  }
}
