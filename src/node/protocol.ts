import type { Json } from '../util/json.js';
import { utf8Length } from '../storage/keys.js';
import { assert } from '../util/assert.js';
import { JSON_DEPTH_MAX } from '../util/json.js';
import { parseJson } from '../util/json-parse.js';

/**
 * The request protocol between clients and nodes: what the TypeScript client, the HTTP and TCP
 * front ends and the simulator's clients all speak, so that every path into a node is the same.
 *
 * Idempotence: a client names itself and numbers its requests. A node remembers the result of each
 * (client, seq) it has applied, so a request retried after a timeout is applied once and answered
 * with the original result (Ongaro's thesis §6.3). `ackSeq` tells the node that the client has its
 * answers for every seq below it, so the node can forget them.
 */

export type WriteOp =
  | { f: 'write'; key: string; value: Json }
  | { f: 'cas'; key: string; expected: Json; value: Json }
  | { f: 'delete'; key: string }
  | { f: 'append'; key: string; value: string };

export type ReadOp =
  | { f: 'read'; key: string }
  | { f: 'range'; start: string; end: string | null; limit: number; reverse: boolean };

/** What a user may do in a database ('*' in a grant: every database). */
export type Permission = 'read' | 'write' | 'admin';
export const PERMISSIONS: readonly Permission[] = ['read', 'write', 'admin'];

/**
 * Administrative writes, replicated like data. Passwords arrive already hashed (the front end
 * salts them with real randomness, which a replicated state machine must not use).
 */
export type AdminOp =
  | { f: 'db.create'; name: string }
  | { f: 'db.delete'; name: string }
  | { f: 'user.put'; name: string; hash: string }
  | { f: 'user.delete'; name: string }
  | { f: 'user.grant'; name: string; db: string; perms: Permission[] }
  /** Raft membership, one server at a time: a new node joins as a learner and is promoted once caught up. */
  | { f: 'member.add'; node: string }
  | { f: 'member.remove'; node: string }
  /** Replication primary: the operator's failover — the node that receives it leads a new epoch. */
  | { f: 'node.promote' }
  /**
   * A sharded cluster's member set (src/cluster/placement/members.ts), written by shard 0's leader
   * into shard 0's state: applied only over epoch - 1, so two concurrent changes cannot both
   * build on the same set. Made by nodes only: validateRequest refuses it from clients.
   */
  | { f: 'placement.set'; epoch: number; members: string[] };

/** Administrative reads, and login (which changes nothing: it checks a password, returns a token). */
export type AdminReadOp = { f: 'db.list' } | { f: 'user.list' } | { f: 'auth.login'; user: string; password: string };

export type KvOp = WriteOp | ReadOp | { f: 'batch'; ops: WriteOp[] } | AdminOp | AdminReadOp | TxnOp;

/** The writes a transaction may buffer (a cas is a read then a write inside a transaction). */
export type TxnWriteOp = Exclude<WriteOp, { f: 'cas' }>;

/**
 * Interactive transactions, served by a Raft group's leader (src/node/txn-service.ts): BEGIN
 * answers an id, operations name it, COMMIT or ROLLBACK ends it. `txn.oneshot` runs a list of
 * reads and writes as one transaction in one request (HTTP's POST /txn/commit).
 */
export type TxnOp =
  /**
   * retryOf: the id of an aborted transaction this one retries; it inherits that one's age, so
   * a transaction wounded again and again still becomes the oldest and gets through (wound-wait's
   * rule that a restarted transaction keeps its timestamp).
   */
  | { f: 'txn.begin'; retryOf?: string }
  | { f: 'txn.op'; txn: string; op: ReadOp | TxnWriteOp }
  | { f: 'txn.commit'; txn: string }
  | { f: 'txn.rollback'; txn: string }
  | { f: 'txn.oneshot'; ops: (ReadOp | TxnWriteOp)[] };

/** Operations in one transaction, and so in one txn.oneshot (TxnLimits.opsMax agrees). */
export const TXN_OPS_MAX = 1000;
/**
 * A transaction id: `<term>.<counter>` (src/txn/txn-table.ts); on a sharded cluster
 * `<home shard>.<term>.<counter>` (src/node/shard-txn.ts: the home shard holds its record).
 */
export const TXN_ID_PATTERN = /^[0-9]{1,15}\.[0-9]{1,15}(\.[0-9]{1,15})?$/;

/** The key of a single-key operation (read, write, cas, delete, append); null for any other. */
export function singleKey(op: KvOp): string | null {
  switch (op.f) {
    case 'read':
    case 'write':
    case 'cas':
    case 'delete':
    case 'append':
      return op.key;
    default:
      return null;
  }
}

export function isTxnOp(op: KvOp): op is TxnOp {
  return op.f.startsWith('txn.');
}

export function isReadOnly(op: KvOp): op is ReadOp | AdminReadOp {
  return op.f === 'read' || op.f === 'range' || op.f === 'db.list' || op.f === 'user.list' || op.f === 'auth.login';
}

export const DB_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

export interface Request {
  kind: 'req';
  client: string;
  seq: number;
  /** Every seq below this one has been answered (the node may drop their cached results). */
  ackSeq: number;
  /** Database (keyspace); '' is the default database. */
  db: string;
  op: KvOp;
  /** A bearer token from auth.login, when the cluster requires authentication. */
  token?: string;
  /**
   * The sender will never send this (client, seq) again, so the node keeps no result for it and
   * leaves the session alone: at-most-once holds by construction. The gateway's first, in-process
   * attempt is such a request (its only resend follows a definite refusal, and goes without the
   * flag); a client that may retry must not set it.
   */
  once?: true;
  /**
   * A sharded cluster's shard this request is for, where its key does not say (a range: the
   * gateway asks every shard for its part). Absent: the key's shard (src/cluster/placement).
   */
  shard?: number;
  /**
   * Whom a request forwarded by a member speaks for (auth.ts ForwardedPrincipal), in place of the
   * client's token. Accepted only from members over the peer network (KvNode.request); a client's
   * request carrying it is refused.
   */
  principal?: { user: string; epoch: number };
}

/**
 * A write request as a replicated log keeps it: what applying it needs, as JSON. Not the bearer
 * token (checked before the request is proposed; credentials do not belong in a log on every
 * member's disk), not `kind`, and for a request sent once not its session fields either.
 */
export function loggedRequestJson(req: Request): string {
  if (req.once === true) return JSON.stringify({ db: req.db, op: req.op, once: true });
  return JSON.stringify({ client: req.client, seq: req.seq, ackSeq: req.ackSeq, db: req.db, op: req.op });
}

/** A request parsed back from loggedRequestJson (a `once` one has no session fields: unused). */
export function requestFromLog(value: unknown): Request {
  const r = value as Request;
  if (r.once === true) return { kind: 'req', client: '', seq: 0, ackSeq: 0, db: r.db, op: r.op, once: true };
  return r;
}

/**
 * Why a request failed. `definite` failures certainly did not take effect; the others may have.
 * - cas_mismatch: the current value differed from the expected one;
 * - type_error: append to a value that is not a string;
 * - not_leader: this node cannot order writes; `leader` names the one that can, if known;
 * - unavailable: the node cannot serve now (recovering, no quorum, storage failed) — not applied;
 * - disk_full: the node's disk is nearly full, so it refuses writes (reads still work) until
 *   space is freed — not applied (HTTP 507, `ERR disk_full` on the line protocol);
 * - bad_request / too_large: the request itself is wrong;
 * - timeout / internal: the outcome is unknown.
 */
export type ErrorCode =
  | 'cas_mismatch'
  | 'type_error'
  | 'not_leader'
  | 'unavailable'
  | 'disk_full'
  | 'bad_request'
  | 'too_large'
  | 'no_such_db'
  | 'already_exists'
  | 'unauthorized'
  | 'forbidden'
  | 'timeout'
  | 'too_many_requests'
  /** A transaction was aborted (the message starts with the reason: wounded, timeout, leader_changed, …). */
  | 'aborted'
  | 'internal';

const DEFINITE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'too_many_requests',
  'cas_mismatch',
  'type_error',
  'not_leader',
  'unavailable',
  'disk_full',
  'bad_request',
  'too_large',
  'no_such_db',
  'already_exists',
  'unauthorized',
  'forbidden',
  'aborted',
]);

export function isDefinite(code: ErrorCode): boolean {
  return DEFINITE.has(code);
}

export type Result =
  /**
   * `next` (a range only): the answer was cut short by RANGE_BYTES_MAX before `limit` entries or
   * the end of the range; the rest begins there. Pass it as the next request's `start` (with
   * `reverse`, as its `end`: the page ended at that key, which is excluded).
   */
  | { ok: true; value: Json; entries?: [string, Json][]; next?: string }
  /**
   * leader: where to go instead (`not_leader`). On a sharded cluster a `not_leader` also names
   * the request's shard and the shard count, so a client caches that shard's leader (its routing
   * table) and computes later keys' shards itself (ShardKeyspace).
   */
  | { ok: false; code: ErrorCode; message: string; leader?: string; shard?: number; shards?: number };

export interface Response {
  kind: 'res';
  seq: number;
  result: Result;
}

/** Limits every front end enforces (and the node asserts). */
export const KEY_BYTES_MAX = 1024;
export const VALUE_BYTES_MAX = 1024 * 1024;
export const BATCH_OPS_MAX = 10_000;
export const RANGE_LIMIT_MAX = 10_000;
/**
 * Bytes of keys and values (UTF-8) in one range answer: past it the answer ends early and says
 * where to continue (Result.next). Without it a range of 10,000 values of 1 MiB was built whole
 * in memory (a 46 MB answer stalled a node for 10.5 s, issue 16 item 9). At least one entry is
 * always returned, so a range makes progress whatever its values' sizes.
 */
export const RANGE_BYTES_MAX = 4 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeMessage(message: Request | Response | { kind: string }): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

/** Decodes a frame; throws a ProtocolError saying what was wrong. */
export function decodeMessage(frame: Uint8Array): { kind: string } & Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseJson(decoder.decode(frame), 'frame');
  } catch (err) {
    throw new ProtocolError(`frame is not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { kind?: unknown }).kind !== 'string') {
    throw new ProtocolError('frame has no "kind"');
  }
  return parsed as { kind: string } & Record<string, unknown>;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Checks a decoded request's shape and limits; returns a message saying what is wrong, or null. */
export function validateRequest(m: Record<string, unknown>): string | null {
  if (typeof m.client !== 'string' || m.client === '') return 'client must be a non-empty string';
  if (!Number.isSafeInteger(m.seq) || (m.seq as number) < 0) return 'seq must be a non-negative integer';
  if (!Number.isSafeInteger(m.ackSeq) || (m.ackSeq as number) < 0) return 'ackSeq must be a non-negative integer';
  if (typeof m.db !== 'string' || (m.db !== '' && !DB_NAME.test(m.db))) return 'db must be "" or a name of 1-64 letters, digits, _ and -';
  if (m.token !== undefined && (typeof m.token !== 'string' || m.token.length > 1024)) return 'token must be a string';
  if (m.once !== undefined && m.once !== true) return 'once must be true or absent';
  // Only a member names whom a request speaks for (auth.ts ForwardedPrincipal), and only over the
  // peer network: KvNode takes it off a forwarded request before this check, so here it is a client's.
  if (m.principal !== undefined) return 'principal is set only by the members forwarding a request; log in and send a token';
  if (m.shard !== undefined && (!Number.isSafeInteger(m.shard) || (m.shard as number) < 0 || (m.shard as number) > 0xffff_ffff)) return 'shard must be a non-negative integer';
  return validateOp(m.op, 'op');
}

function validateKey(key: unknown, where: string): string | null {
  if (typeof key !== 'string') return `${where} must be a string`;
  // A lone surrogate has no UTF-8 form; the storage engines refuse it, and a replicated state
  // machine must never meet a write it cannot apply.
  if (!(key as unknown as { isWellFormed(): boolean }).isWellFormed()) return `${where} is not well-formed Unicode (a lone surrogate)`;
  // A UTF-16 code unit is at most 3 bytes of UTF-8: most keys need no measuring at all (this
  // runs for every request, reads included), and the rest are measured without encoding them.
  if (key.length * 3 > KEY_BYTES_MAX && utf8Length(key) > KEY_BYTES_MAX) return `${where} is longer than ${KEY_BYTES_MAX} bytes`;
  return null;
}

function validateValue(value: unknown, where: string): string | null {
  if (value === undefined) return `${where} is missing`;
  if (typeof value === 'string') {
    // A string's JSON form is at most 6 bytes per code unit plus the quotes.
    if (value.length * 6 + 2 > VALUE_BYTES_MAX && JSON.stringify(value).length > VALUE_BYTES_MAX) return `${where} is larger than ${VALUE_BYTES_MAX} bytes`;
    return null;
  }
  const bad = nonJsonNumber(value, where);
  if (bad !== null) return bad;
  if (JSON.stringify(value).length > VALUE_BYTES_MAX) return `${where} is larger than ${VALUE_BYTES_MAX} bytes`;
  return null;
}

/**
 * How deep a stored value may nest: JSON_DEPTH_MAX, as in an HTTP body (a frame may nest a few
 * levels more for its envelope, util/json-parse.ts), so every value that passes is one the
 * recursive code downstream (JSON.stringify, jsonEqual) handles in a few hundred stack frames.
 */
export const VALUE_DEPTH_MAX = JSON_DEPTH_MAX;

/**
 * What is wrong with a value JSON cannot carry faithfully, or null: a number JSON cannot
 * represent (Infinity, NaN: what JSON.parse makes of an over-large literal such as 1e400), which
 * stored would silently become null — replicas that parse the entry would apply null where the
 * leader's own copy held Infinity — or nesting deeper than VALUE_DEPTH_MAX. The walk keeps its
 * own stack: a value handed in by an in-process front end may be nested arbitrarily deep, and a
 * recursive walk over one 100,000 deep overflowed the call stack (issue 16, item 1).
 */
function nonJsonNumber(value: unknown, where: string): string | null {
  if (typeof value !== 'object' || value === null) return badNumber(value, where);
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() as number;
    if (typeof v !== 'object' || v === null) {
      if (badNumber(v, where) !== null) return locate(value, where);
      continue;
    }
    if (depth > VALUE_DEPTH_MAX) return `${where} nests deeper than ${VALUE_DEPTH_MAX} levels`;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) {
      values.push(c);
      depths.push(depth + 1);
    }
  }
  return null;
}

function badNumber(v: unknown, where: string): string | null {
  return typeof v === 'number' && !Number.isFinite(v) ? `${where} is ${v}, which JSON cannot represent` : null;
}

/** Where in a value (known to hold one, within VALUE_DEPTH_MAX) the first bad number is. */
function locate(value: unknown, where: string): string | null {
  const stack: [unknown, string][] = [[value, where]];
  while (stack.length > 0) {
    const [v, at] = stack.pop() as [unknown, string];
    const bad = badNumber(v, at);
    if (bad !== null) return bad;
    if (typeof v !== 'object' || v === null) continue;
    const entries: [string, unknown][] = Array.isArray(v) ? v.map((x, i) => [`${at}[${i}]`, x]) : Object.entries(v).map(([k, x]) => [`${at}.${k}`, x]);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [p, x] = entries[i] as [string, unknown];
      stack.push([x, p]);
    }
  }
  assert(false, 'locate: no bad number in a value said to hold one');
  return null;
}

export function validateOp(op: unknown, where: string, nested = false): string | null {
  if (typeof op !== 'object' || op === null) return `${where} must be an object`;
  const o = op as Record<string, unknown>;
  switch (o.f) {
    case 'read':
    case 'delete':
      return validateKey(o.key, `${where}.key`);
    case 'write':
      return validateKey(o.key, `${where}.key`) ?? validateValue(o.value, `${where}.value`);
    case 'cas':
      return validateKey(o.key, `${where}.key`) ?? validateValue(o.expected, `${where}.expected`) ?? validateValue(o.value, `${where}.value`);
    case 'append':
      if (typeof o.value !== 'string') return `${where}.value must be a string`;
      return validateKey(o.key, `${where}.key`) ?? validateValue(o.value, `${where}.value`);
    case 'range':
      if (nested) return `${where}: range is not allowed in a batch`;
      if (!Number.isSafeInteger(o.limit) || (o.limit as number) < 1 || (o.limit as number) > RANGE_LIMIT_MAX) return `${where}.limit must be an integer in 1..${RANGE_LIMIT_MAX}`;
      if (typeof o.reverse !== 'boolean') return `${where}.reverse must be a boolean`;
      return validateKey(o.start, `${where}.start`) ?? (o.end === null ? null : validateKey(o.end, `${where}.end`));
    case 'batch': {
      if (nested) return `${where}: batches do not nest`;
      if (!Array.isArray(o.ops) || o.ops.length === 0 || o.ops.length > BATCH_OPS_MAX) return `${where}.ops must be a list of 1..${BATCH_OPS_MAX} writes`;
      for (let i = 0; i < o.ops.length; i++) {
        const sub = o.ops[i] as Record<string, unknown> | null;
        if (sub?.f === 'read') return `${where}.ops[${i}]: reads are not allowed in a batch`;
        const err = validateOp(sub, `${where}.ops[${i}]`, true);
        if (err !== null) return err;
      }
      return null;
    }
    case 'db.create':
    case 'db.delete':
      return typeof o.name === 'string' && DB_NAME.test(o.name) ? null : `${where}.name must be 1-64 letters, digits, _ and -`;
    case 'db.list':
    case 'user.list':
      return null;
    case 'user.put':
      if (typeof o.name !== 'string' || !USER_NAME.test(o.name)) return `${where}.name must be 1-64 letters, digits and _.@-`;
      return typeof o.hash === 'string' && /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(o.hash) ? null : `${where}.hash must be an scrypt hash (scrypt$N$r$p$salt$key)`;
    case 'user.delete':
      return typeof o.name === 'string' && USER_NAME.test(o.name) ? null : `${where}.name must be a user name`;
    case 'user.grant':
      if (typeof o.name !== 'string' || !USER_NAME.test(o.name)) return `${where}.name must be a user name`;
      if (typeof o.db !== 'string' || !(o.db === '*' || o.db === '' || DB_NAME.test(o.db))) return `${where}.db must be a database name, "" or *`;
      if (!Array.isArray(o.perms) || !o.perms.every((p) => (PERMISSIONS as readonly unknown[]).includes(p))) return `${where}.perms must be a list of read, write, admin`;
      return null;
    case 'node.promote':
      return null;
    case 'member.add':
    case 'member.remove':
      return typeof o.node === 'string' && /^[a-z][a-z0-9-]{0,63}$/.test(o.node) ? null : `${where}.node must be a node id`;
    case 'auth.login':
      return typeof o.user === 'string' && typeof o.password === 'string' && o.password.length <= 1024 ? null : `${where} needs user and password strings`;
    case 'txn.begin':
    case 'txn.op':
    case 'txn.commit':
    case 'txn.rollback':
    case 'txn.oneshot':
      return validateTxnOp(o, where);
    default:
      return `${where}.f must be one of read, write, cas, delete, append, range, batch, txn.begin, txn.op, txn.commit, txn.rollback, txn.oneshot, db.create, db.delete, db.list, user.put, user.delete, user.grant, user.list, member.add, member.remove, node.promote, auth.login`;
  }
}

/** A transaction operation's shape: an id where one is needed, and data operations a transaction can run. */
function validateTxnOp(o: Record<string, unknown>, where: string): string | null {
  if (o.f === 'txn.begin') return o.retryOf === undefined || (typeof o.retryOf === 'string' && TXN_ID_PATTERN.test(o.retryOf)) ? null : `${where}.retryOf must be a transaction id`;
  if (o.f === 'txn.oneshot') {
    if (!Array.isArray(o.ops) || o.ops.length === 0 || o.ops.length > TXN_OPS_MAX) return `${where}.ops must be a list of 1..${TXN_OPS_MAX} reads and writes`;
    for (let i = 0; i < o.ops.length; i++) {
      const err = validateTxnDataOp(o.ops[i], `${where}.ops[${i}]`);
      if (err !== null) return err;
    }
    return null;
  }
  if (typeof o.txn !== 'string' || !TXN_ID_PATTERN.test(o.txn)) return `${where}.txn must be a transaction id (<term>.<counter>, as BEGIN answers)`;
  return o.f === 'txn.op' ? validateTxnDataOp(o.op, `${where}.op`) : null;
}

function validateTxnDataOp(op: unknown, where: string): string | null {
  const f = (op as { f?: unknown } | null)?.f;
  if (f !== 'read' && f !== 'range' && f !== 'write' && f !== 'delete' && f !== 'append') return `${where}.f must be one of read, range, write, delete, append inside a transaction`;
  return validateOp(op, where);
}
