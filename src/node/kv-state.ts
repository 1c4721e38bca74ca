import type { Json } from '../util/json.js';
import { assert } from '../util/assert.js';
import {
  CATALOG_VERSION_KEY,
  CREDENTIAL_EPOCH_KEY,
  DATABASES_END,
  DATABASES_START,
  dataKey,
  dbEnd,
  dbKey,
  dbPrefix,
  keyAfter,
  MEMBER_SET_KEY,
  resultKey,
  resultPrefix,
  scanAll,
  SESSIONS_END,
  SESSIONS_START,
  sessionKey,
  SWEEP_CURSOR_KEY,
  TXN_KEY_INTENT_START,
  userKey,
  USERS_END,
  USERS_START,
  WRITES_KEY,
} from './keyspace.js';
import { KEY_BYTES_MAX, RANGE_BYTES_MAX, VALUE_BYTES_MAX, type AdminOp, type KvOp, type Permission, type ReadOp, type Request, type Result, type WriteOp } from './protocol.js';
import { utf8Length } from '../storage/keys.js';
import { decodeMemberSet, encodeMemberSet } from '../cluster/placement/members.js';

/**
 * The key-value state machine: what a request means, applied against a storage view. It is pure
 * and deterministic (the same requests in the same order give the same state and results), so
 * that every Raft replica that applies the same log ends in the same state.
 *
 * Storage layout: one flat, ordered key space shared by all databases (keyspace.ts).
 */

export type StoredValue = string | null;

/** A write to storage: value null deletes. */
export type StorageWrite = [key: string, value: StoredValue];

/** What the state machine reads from: the latest applied state. */
export interface KvView {
  get(storageKey: string): string | undefined;
  /** Entries with start <= key < end (end null: no bound), ascending or descending, at most limit. */
  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][];
}

export interface Session {
  /** The client has the answers to every request below this seq. */
  ackSeq: number;
  /** The write counter when the client last wrote (sessions idle for long are swept away). */
  touched: number;
  /**
   * How many results are stored for seqs at or above ackSeq. Kept so that a write finds what to
   * forget by point reads instead of scanning the client's results (with hundreds of requests in
   * flight, as behind a busy gateway, a scan per write made every write cost O(in flight)).
   * Absent in sessions written before it existed: counted once then.
   */
  held?: number;
  /**
   * The seqs of those results, ascending, while there are at most SESSION_SEQS_LISTED of them: a
   * write then forgets what the client acknowledged without reading at all. On a sharded cluster
   * a client's seqs are spread over the shards, so each shard's session sees jumps of about the
   * shard count and the point reads of forgetAcknowledged nearly all miss (16 shards: 15 per
   * write). Absent when there are more, and in sessions written before it existed: listed again
   * by the next write that forgets results and leaves few, which scans for them once.
   */
  seqs?: number[];
}

/** A session lists the seqs of its held results while there are at most this many. */
export const SESSION_SEQS_LISTED = 8;
/** A write that forgets results of a session without a list scans for them while there are at most this many. */
const SESSION_SEQS_SCANNED = 64;

/**
 * Limits on sessions, which would otherwise grow with every client that ever wrote:
 * - a client's unacknowledged results beyond this many are dropped, oldest first (a client that
 *   never acknowledges cannot fill the store);
 * - a session untouched for this many writes is removed with its results (a client that comes
 *   back after that and retries an old request may have it applied again — the price of a bound);
 * - every SESSION_SWEEP_EVERY writes, the next SESSION_SWEEP_MAX sessions are examined.
 */
export const SESSION_RESULTS_MAX = 1024;
export const SESSION_IDLE_WRITES = 1_000_000;
export const SESSION_SWEEP_EVERY = 1024;
export const SESSION_SWEEP_MAX = 256;

/**
 * A user: the password's scrypt hash, what it may do where ('*': everywhere), and the credential
 * epoch its password was set in. Grants are a Map: database names come from users, and a plain
 * object answered `grants["constructor"]` with a function (issue 16, item 2).
 */
export interface UserRecord {
  hash: string;
  grants: ReadonlyMap<string, readonly Permission[]>;
  /**
   * The cluster's credential epoch when this password was set (0 for records older than
   * epochs). Tokens are bound to it (auth.ts): a new password or a deletion invalidates them.
   */
  epoch: number;
}

export function loadUser(view: KvView, name: string): UserRecord | null {
  const raw = view.get(userKey(name));
  return raw === undefined ? null : userFromJson(raw);
}

function userFromJson(raw: string): UserRecord {
  const stored = JSON.parse(raw) as { hash: string; grants: Record<string, Permission[]>; epoch?: number };
  return { hash: stored.hash, grants: new Map(Object.entries(stored.grants)), epoch: stored.epoch ?? 0 };
}

function userJson(record: UserRecord): string {
  // Object.fromEntries defines own properties, so a grant on a database named __proto__ is
  // stored as data, and JSON.parse gives it back as data.
  return JSON.stringify({ hash: record.hash, grants: Object.fromEntries(record.grants), epoch: record.epoch });
}

/** The next credential epoch, and the write that records it. */
function nextEpoch(view: KvView): [number, StorageWrite] {
  const next = Number(view.get(CREDENTIAL_EPOCH_KEY) ?? '0') + 1;
  return [next, [CREDENTIAL_EPOCH_KEY, String(next)]];
}

/** The write that moves the catalog's version on (every change of users or databases makes one). */
function nextCatalogVersion(view: KvView): StorageWrite {
  return [CATALOG_VERSION_KEY, String(catalogVersion(view) + 1)];
}

/** The catalog's version in this state: 0 before any user or database was ever created. */
export function catalogVersion(view: KvView): number {
  const v = Number(view.get(CATALOG_VERSION_KEY) ?? '0');
  assert(Number.isSafeInteger(v) && v >= 0, () => `catalog version ${v} is not a non-negative integer`);
  return v;
}

/** The cluster's credential epoch in this state (bumped by every user.put and user.delete). */
export function credentialEpoch(view: KvView): number {
  return Number(view.get(CREDENTIAL_EPOCH_KEY) ?? '0');
}

export function dbExists(view: KvView, db: string): boolean {
  return db === '' || view.get(dbKey(db)) !== undefined;
}

/** Keys are listed in pages of this many while deleting a database (and listing databases, users). */
const DELETE_PAGE = 1000;

export interface SessionLimits {
  resultsMax: number;
  idleWrites: number;
  sweepEvery: number;
  sweepMax: number;
}

export const SESSION_LIMITS: SessionLimits = {
  resultsMax: SESSION_RESULTS_MAX,
  idleWrites: SESSION_IDLE_WRITES,
  sweepEvery: SESSION_SWEEP_EVERY,
  sweepMax: SESSION_SWEEP_MAX,
};

export interface ExecuteOptions {
  /** Known-bug switch: do not consult sessions, so a retried request is applied again. */
  duplicateApply?: boolean;
  /** Session bounds (tests make them small). Every replica must use the same. */
  limits?: SessionLimits;
}

export interface Execution {
  result: Result;
  writes: StorageWrite[];
}

/**
 * Executes a write request (or a batch) against the view, returning its result and the storage
 * writes that make it so, including the session update that makes a retry return this result.
 */
export function executeWrite(view: KvView, req: Request, opts: ExecuteOptions = {}): Execution {
  assert(req.op.f !== 'read' && req.op.f !== 'range', 'executeWrite: read-only op');
  // A request that is never resent needs no session: its result row and the tombstone that
  // later forgets it were two of a write's three storage rows.
  if (req.once === true) return executeOp(view, req);
  const session = loadSession(view, req.client);
  if (!opts.duplicateApply) {
    const earlier = view.get(resultKey(req.client, req.seq));
    if (earlier !== undefined) return { result: JSON.parse(earlier) as Result, writes: [] };
    if (req.seq < session.ackSeq) {
      // The client said it had this answer already; a late duplicate of an old request.
      return { result: { ok: false, code: 'bad_request', message: `request ${req.seq} of ${req.client} was already answered` }, writes: [] };
    }
  }
  const { result, writes } = executeOp(view, req);
  writes.push(...recordResult(view, session, req, result, opts.limits ?? SESSION_LIMITS));
  return { result, writes };
}

/**
 * A write sent once (no session) whose value comes as JSON text, as a log record carries it: the
 * text is stored as it is, the same as executeWrite would store JSON.stringify(value) for the
 * parsed value. wantResult false (no one waits for the answer on this replica): the result's
 * value is not parsed either.
 */
export function executeWriteOnce(view: KvView, db: string, key: string, valueJson: string, wantResult: boolean): Execution {
  if (!dbExists(view, db)) return { result: noSuchDb(db), writes: [] };
  return { result: { ok: true, value: wantResult ? (JSON.parse(valueJson) as Json) : null }, writes: [[dataKey(db, key), valueJson]] };
}

function noSuchDb(db: string): Result {
  return { ok: false, code: 'no_such_db', message: `no database ${JSON.stringify(db)}` };
}

/** A write request's own effect, without its session. */
function executeOp(view: KvView, req: Request): Execution {
  if (req.op.f.includes('.')) return executeAdmin(view, req.op as AdminOp);
  const overlay = new Map<string, StoredValue>();
  const read = (k: string) => (overlay.has(k) ? overlay.get(k) ?? undefined : view.get(k));
  const ops: WriteOp[] = req.op.f === 'batch' ? req.op.ops : [req.op as WriteOp];
  let result: Result = { ok: true, value: null };
  if (!dbExists(view, req.db)) return { result: noSuchDb(req.db), writes: [] };
  for (const op of ops) {
    const held = preparedOn(view, req.db, op.key);
    if (held !== null) return { result: held, writes: [] };
  }
  for (const op of ops) {
    const r = applyWriteOp(read, req.db, op, overlay);
    if (!r.ok) {
      // A batch is atomic: the first failing op fails it all.
      overlay.clear();
      result = r;
      break;
    }
    result = r;
  }
  return { result, writes: [...overlay.entries()] };
}

/**
 * A key a prepared cross-shard transaction holds (its intent: shard-txn-apply.ts) is neither read
 * nor written, nor ranged over, outside it until the transaction is resolved: a read would miss a write that may
 * already be committed, a write would slip between the transaction's reads and its commit. The
 * shard's leader makes single-key operations wait for such keys (shard-txn-participant.ts);
 * this is the check every replica makes when it applies or serves one anyway — an intent whose
 * prepare entry the leader had not yet applied when the operation arrived (a new leader). The
 * answer is a refusal with nothing applied: `unavailable`, which clients retry. A cluster of one
 * group never has intents: one lookup of an absent key.
 */
function preparedOn(view: KvView, db: string, key: string): Result | null {
  const txn = view.get(TXN_KEY_INTENT_START + dataKey(db, key));
  if (txn === undefined || txn === null) return null;
  return { ok: false, code: 'unavailable', message: `${JSON.stringify(key)} is held by prepared transaction ${txn}: retry once it is resolved` };
}

export function applyWriteOp(
  read: (k: string) => string | null | undefined,
  db: string,
  op: WriteOp,
  overlay: Map<string, StoredValue>,
): Result {
  const k = dataKey(db, op.key);
  switch (op.f) {
    case 'write':
      overlay.set(k, JSON.stringify(op.value));
      return { ok: true, value: op.value };
    case 'delete':
      overlay.set(k, null);
      return { ok: true, value: null };
    case 'cas': {
      const current = parseStored(read(k));
      if (!jsonEqual(current, op.expected)) {
        return { ok: false, code: 'cas_mismatch', message: `expected ${JSON.stringify(op.expected)}, found ${JSON.stringify(current)}` };
      }
      overlay.set(k, JSON.stringify(op.value));
      return { ok: true, value: op.value };
    }
    case 'append': {
      const current = parseStored(read(k));
      if (current !== null && typeof current !== 'string') {
        return { ok: false, code: 'type_error', message: `cannot append to a ${Array.isArray(current) ? 'list' : typeof current}` };
      }
      const next = (current ?? '') + op.value;
      overlay.set(k, JSON.stringify(next));
      return { ok: true, value: op.value };
    }
  }
}

function executeAdmin(view: KvView, op: AdminOp): Execution {
  const fail = (code: 'no_such_db' | 'already_exists' | 'bad_request', message: string): Execution => ({ result: { ok: false, code, message }, writes: [] });
  switch (op.f) {
    case 'db.create':
      if (dbExists(view, op.name)) return fail('already_exists', `database ${op.name} exists`);
      return { result: { ok: true, value: op.name }, writes: [[dbKey(op.name), '1'], nextCatalogVersion(view)] };
    case 'db.delete': {
      if (!dbExists(view, op.name)) return fail('no_such_db', `no database ${op.name}`);
      // Every key goes, in pages; the state machine is deterministic, so every replica deletes
      // exactly the same keys.
      const writes: StorageWrite[] = [];
      for (const [k] of scanAll(view, dbPrefix(op.name), dbEnd(op.name), DELETE_PAGE)) writes.push([k, null]);
      writes.push([dbKey(op.name), null]);
      const keys = writes.length - 1;
      writes.push(nextCatalogVersion(view));
      return { result: { ok: true, value: keys }, writes };
    }
    case 'user.put': {
      // A new password (or a new user) takes a new epoch: tokens issued before stop working.
      const existing = loadUser(view, op.name);
      const [epoch, epochWrite] = nextEpoch(view);
      const record: UserRecord = { hash: op.hash, grants: existing?.grants ?? new Map(), epoch };
      return { result: { ok: true, value: op.name }, writes: [epochWrite, [userKey(op.name), userJson(record)], nextCatalogVersion(view)] };
    }
    case 'user.delete': {
      if (loadUser(view, op.name) === null) return fail('bad_request', `no user ${op.name}`);
      // The epoch moves on, so a user created again under this name never matches old tokens.
      const [, epochWrite] = nextEpoch(view);
      return { result: { ok: true, value: op.name }, writes: [epochWrite, [userKey(op.name), null], nextCatalogVersion(view)] };
    }
    case 'user.grant': {
      const user = loadUser(view, op.name);
      if (user === null) return fail('bad_request', `no user ${op.name}`);
      if (op.db !== '*' && !dbExists(view, op.db)) return fail('no_such_db', `no database ${op.db}`);
      const grants = new Map(user.grants);
      if (op.perms.length === 0) grants.delete(op.db);
      else grants.set(op.db, [...new Set(op.perms)].sort());
      return { result: { ok: true, value: Object.fromEntries(grants) as Json }, writes: [[userKey(op.name), userJson({ ...user, grants })], nextCatalogVersion(view)] };
    }
    case 'placement.set': {
      const raw = view.get(MEMBER_SET_KEY);
      const epoch = raw === undefined || raw === null ? 0 : decodeMemberSet(raw).epoch;
      if (epoch !== op.epoch - 1) return { result: { ok: false, code: 'unavailable', message: `the member set changed meanwhile (epoch ${epoch}, not ${op.epoch - 1}): retry` }, writes: [] };
      const next = { epoch: op.epoch, members: op.members };
      return { result: { ok: true, value: next }, writes: [[MEMBER_SET_KEY, encodeMemberSet(next)]] };
    }
    case 'member.add':
    case 'member.remove':
    case 'node.promote':
      // Membership and leadership are the replication layer's, not the state machine's (RaftReplica handles it).
      return fail('bad_request', `${op.f} is not handled by this replication mode`);
  }
}

/** Every database name, the default one ('') first. */
export function listDatabases(view: KvView): string[] {
  const names = [...scanAll(view, DATABASES_START, DATABASES_END, DELETE_PAGE)].map(([k]) => k.slice(DATABASES_START.length));
  return ['', ...names];
}

/** Answers a read-only request from the view. */
export function executeRead(view: KvView, db: string, op: ReadOp | { f: 'db.list' } | { f: 'user.list' }): Result {
  if (op.f === 'db.list') return { ok: true, value: listDatabases(view) };
  if (op.f === 'user.list') {
    const users = [...scanAll(view, USERS_START, USERS_END, DELETE_PAGE)].map(([k, v]) => ({ name: k.slice(USERS_START.length), grants: Object.fromEntries(userFromJson(v).grants) }));
    return { ok: true, value: users as unknown as Json };
  }
  if (!dbExists(view, db)) return noSuchDb(db);
  if (op.f === 'read') return preparedOn(view, db, op.key) ?? { ok: true, value: parseStored(view.get(dataKey(db, op.key))) };
  const [held] = view.scan(TXN_KEY_INTENT_START + dataKey(db, op.start), TXN_KEY_INTENT_START + (op.end === null ? dbEnd(db) : dataKey(db, op.end)), 1, false);
  if (held !== undefined) return { ok: false, code: 'unavailable', message: `${JSON.stringify(held[0].slice(TXN_KEY_INTENT_START.length + dataKey(db, '').length))} in the range is held by prepared transaction ${held[1]}: retry once it is resolved` };
  return executeRange(view, db, op, RANGE_BYTES_MAX);
}

/** The most characters one entry's key and stored value may hold (what a scan may hand back per entry). */
const RANGE_ENTRY_CHARS_MAX = KEY_BYTES_MAX + VALUE_BYTES_MAX;

/**
 * A range, at most `bytesMax` of keys and values (UTF-8), read from the engine a few entries at a
 * time: each scan asks for no more entries than could fit in the bytes still allowed if every one
 * were as large as an entry may be, so the answer and the page being read together stay within
 * about twice the bound, however large the values. Exported for tests with a small bound.
 */
export function executeRange(view: KvView, db: string, op: Extract<ReadOp, { f: 'range' }>, bytesMax: number): Result {
  assert(bytesMax > 0, 'executeRange: a positive bound');
  const prefix = dbPrefix(db);
  let start = dataKey(db, op.start);
  let end = op.end === null ? dbEnd(db) : dataKey(db, op.end);
  const entries: [string, Json][] = [];
  let bytes = 0;
  while (entries.length < op.limit) {
    const want = Math.min(op.limit - entries.length, Math.max(1, Math.floor((bytesMax - bytes) / RANGE_ENTRY_CHARS_MAX)));
    const page = view.scan(start, end, want, op.reverse);
    for (const [k, v] of page) {
      const key = k.slice(prefix.length);
      const size = utf8Length(key) + utf8Length(v);
      if (entries.length > 0 && bytes + size > bytesMax) {
        // Forwards the rest starts at this key; backwards it ends (excluded) at the last one given.
        const next = op.reverse ? (entries[entries.length - 1] as [string, Json])[0] : key;
        return { ok: true, value: entries.length, entries, next };
      }
      bytes += size;
      entries.push([key, JSON.parse(v) as Json]);
    }
    if (page.length < want) break;
    const last = (page[page.length - 1] as [string, string])[0];
    if (op.reverse) end = last;
    else start = keyAfter(last);
  }
  assert(entries.length <= op.limit, 'executeRange: at most limit entries');
  return { ok: true, value: entries.length, entries };
}

function loadSession(view: KvView, client: string): Session {
  const raw = view.get(sessionKey(client));
  return raw === undefined ? { ackSeq: 0, touched: 0 } : (JSON.parse(raw) as Session);
}

/**
 * The writes that remember a request's result until the client acknowledges it (so a retry gets
 * it back instead of a second application), forget what the client has acknowledged, and keep
 * sessions bounded.
 */
function recordResult(view: KvView, session: Session, req: Request, result: Result, limits: SessionLimits): StorageWrite[] {
  const writes: StorageWrite[] = [];
  const n = Number(view.get(WRITES_KEY) ?? '0') + 1;
  writes.push([WRITES_KEY, String(n)]);
  // A client cannot hold the answer to the request it is making: an ackSeq past it is clamped, so
  // this result is kept where `held` counts it.
  const ackSeq = Math.max(session.ackSeq, Math.min(req.ackSeq, req.seq));
  let held = session.held ?? countHeld(view, req.client, session.ackSeq, limits);
  // The held results' seqs, when known: listed by the session, or none at all.
  let seqs: number[] | null = session.seqs !== undefined && session.seqs.length === held ? [...session.seqs] : held === 0 ? [] : null;
  if (ackSeq > session.ackSeq && held > 0) {
    // A list lost to a burst of more results (or never written) comes back with one scan of them,
    // when there are not too many to read.
    if (seqs === null && held <= SESSION_SEQS_SCANNED) seqs = heldSeqs(view, req.client, session.ackSeq, held);
    if (seqs !== null) {
      // The same keys forgetAcknowledged would find, in the same (ascending) order.
      const kept: number[] = [];
      for (const seq of seqs) {
        if (seq < ackSeq) writes.push([resultKey(req.client, seq), null]);
        else kept.push(seq);
      }
      held = kept.length;
      seqs = kept;
    } else held -= forgetAcknowledged(view, req.client, session.ackSeq, ackSeq, held, limits, writes);
  }
  if (held >= limits.resultsMax) {
    // Over the bound: the oldest unacknowledged results go (their retries will fail, not repeat).
    const prefix = resultPrefix(req.client);
    for (const [k] of view.scan(resultKey(req.client, ackSeq), prefix + '\x7f', held - limits.resultsMax + 1, false)) {
      writes.push([k, null]);
      held--;
      seqs?.shift();
    }
  }
  const key = resultKey(req.client, req.seq);
  if (view.get(key) === undefined) {
    held++;
    // (Below ackSeq only under the duplicate-apply bug: then the list is not kept.)
    if (seqs !== null && req.seq >= ackSeq) insertAscending(seqs, req.seq);
    else seqs = null;
  } else if (seqs !== null && !seqs.includes(req.seq)) seqs = null; // present only under the duplicate-apply bug
  const next: Session = { ackSeq, touched: n, held };
  if (seqs !== null && seqs.length <= SESSION_SEQS_LISTED) next.seqs = seqs;
  writes.push([key, JSON.stringify(result)]);
  writes.push([sessionKey(req.client), JSON.stringify(next)]);
  if (n % limits.sweepEvery === 0) writes.push(...sweepIdleSessions(view, n, req.client, limits));
  return writes;
}

/**
 * Deletes the results of seqs in [from, to), which the client now holds, and returns how many.
 * Point reads, one per seq, stopping once all `held` are found: ackSeq only grows, so each seq is
 * looked at once in a session's life. A jump too long for that (a client that skipped far ahead)
 * scans instead.
 */
function forgetAcknowledged(view: KvView, client: string, from: number, to: number, held: number, limits: SessionLimits, writes: StorageWrite[]): number {
  let found = 0;
  if (to - from <= 4 * limits.resultsMax) {
    for (let seq = from; seq < to && found < held; seq++) {
      const k = resultKey(client, seq);
      if (view.get(k) === undefined) continue;
      writes.push([k, null]);
      found++;
    }
    return found;
  }
  for (const [k] of view.scan(resultKey(client, from), resultKey(client, to), held, false)) {
    writes.push([k, null]);
    found++;
  }
  return found;
}

/** The seqs of the client's results at or above `from`, if there are exactly `held` (else null). */
function heldSeqs(view: KvView, client: string, from: number, held: number): number[] | null {
  const prefix = resultPrefix(client);
  const found = view.scan(resultKey(client, from), prefix + '\x7f', held + 1, false);
  return found.length === held ? found.map(([k]) => Number(k.slice(prefix.length))) : null;
}

function insertAscending(list: number[], x: number): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as number) > x) i--;
  list.splice(i, 0, x);
}

function countHeld(view: KvView, client: string, ackSeq: number, limits: SessionLimits): number {
  return view.scan(resultKey(client, ackSeq), resultPrefix(client) + '\x7f', limits.resultsMax + 1, false).length;
}

/** Removes sessions idle for SESSION_IDLE_WRITES writes, a bounded slice at a time. */
function sweepIdleSessions(view: KvView, now: number, current: string, limits: SessionLimits): StorageWrite[] {
  const writes: StorageWrite[] = [];
  const from = view.get(SWEEP_CURSOR_KEY) ?? SESSIONS_START;
  const page = view.scan(from, SESSIONS_END, limits.sweepMax, false);
  for (const [k, v] of page) {
    const client = k.slice(3);
    if (client === current || (JSON.parse(v) as Session).touched >= now - limits.idleWrites) continue;
    writes.push([k, null]);
    for (const [r] of view.scan(resultPrefix(client), resultPrefix(client) + '\x7f', limits.resultsMax, false)) writes.push([r, null]);
  }
  const last = page[page.length - 1];
  writes.push([SWEEP_CURSOR_KEY, page.length < limits.sweepMax || last === undefined ? SESSIONS_START : keyAfter(last[0])]);
  return writes;
}

export function parseStored(raw: string | null | undefined): Json {
  if (raw === undefined || raw === null) return null;
  // A stored string without a backslash is its text between the quotes: JSON.stringify escapes
  // every quote, control character and lone surrogate, so nothing else can be in there. A seventh
  // of the cost of JSON.parse, on every read of a string value.
  if (raw.length >= 2 && raw.charCodeAt(0) === 0x22 && raw.indexOf('\\') < 0) return raw.slice(1, -1);
  return JSON.parse(raw) as Json;
}

/** Structural equality of JSON values (object key order does not matter). */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as Json[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i] as Json));
  }
  const ao = a as Record<string, Json>;
  const bo = b as Record<string, Json>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k] as Json, bo[k] as Json));
}

