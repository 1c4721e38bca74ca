import type { BufferedWrite } from '../txn/txn-table.js';
import { assert } from '../util/assert.js';
import { dataKey, TXN_INTENTS_START, TXN_KEY_INTENT_START } from './keyspace.js';
import { applyWriteOp, dbExists, type Execution, type KvView, type StorageWrite, type StoredValue } from './kv-state.js';
import type { Result } from './protocol.js';
import { abortedResult, readTxnRecord, recordWrites, type TxnRecord } from './txn-apply.js';

/**
 * The Raft entries of two-phase commit across shards (src/txn/README.md), and what applying
 * them does on every replica of a group. Three records, each one log entry:
 *
 * - `stxn.prepare` (a participant's group): "my locks are durable". Applied only in the term its
 *   locks were taken in (the same check as the single group's commit entry, txn-apply.ts: a
 *   table of another term may have let a conflicting transaction through), and only if no other
 *   prepared transaction's intent covers one of its keys. Then it stores the intent (the
 *   transaction's writes in this group, and its home shard) and one marker per key. The answer is
 *   the participant's vote: ok = yes. Because the intent is state, it survives a leader change
 *   and a restart, and travels in snapshots: the new leader finds it (Gray & Lamport's
 *   "prepared" state must be stable storage; here it is a Raft log).
 * - `stxn.decide` (the home group, the coordinator's): the decision, as the transaction record
 *   of txn-apply.ts. The first decision applied wins; a later one answers with it. So a
 *   participant that pushes an abort after the coordinator went silent and a coordinator that
 *   decided commit meanwhile cannot both win (CockroachDB's transaction record and PushTxn;
 *   Percolator's primary lock plays the same part).
 * - `stxn.resolve` (a participant's group): apply the intent's writes (commit) or drop it
 *   (abort), and remove its markers. Without an intent it does nothing: resolving twice is safe.
 */

export interface ShardPrepareOp {
  f: 'stxn.prepare';
  txn: string;
  /** The participant leader's term in which every lock was taken. */
  term: number;
  /** The transaction's home shard: where its record (the decision) lives. */
  home: number;
  writes: BufferedWrite[];
}

export interface ShardDecideOp {
  f: 'stxn.decide';
  txn: string;
  commit: boolean;
  /** Why, for an abort (one word). */
  reason?: string;
}

export interface ShardResolveOp {
  f: 'stxn.resolve';
  txn: string;
  commit: boolean;
}

export type ShardTxnRecordOp = ShardPrepareOp | ShardDecideOp | ShardResolveOp;

/** A participant's durable intent, as stored under TXN_INTENTS_START + id. */
export interface Intent {
  home: number;
  db: string;
  writes: BufferedWrite[];
}

export function isShardTxnRecord(op: { f: string }): op is ShardTxnRecordOp {
  return op.f === 'stxn.prepare' || op.f === 'stxn.decide' || op.f === 'stxn.resolve';
}

/** The entry's record text: a J record (log-records.ts), sent once (the caller's tables answer resends). */
export function shardTxnRecord(db: string, op: ShardTxnRecordOp): string {
  const json = JSON.stringify({ db, op, once: true });
  return `J${json.length}:${json}`;
}

export function intentKey(txn: string): string {
  return TXN_INTENTS_START + txn;
}

export function keyIntentKey(db: string, key: string): string {
  return TXN_KEY_INTENT_START + dataKey(db, key);
}

export function readIntent(view: KvView, txn: string): Intent | null {
  const raw = view.get(intentKey(txn));
  return raw === undefined || raw === null ? null : (JSON.parse(raw) as Intent);
}

/** The prepared transaction whose intent covers db/key here, or null. */
export function intentOn(view: KvView, db: string, key: string): string | null {
  return view.get(keyIntentKey(db, key)) ?? null;
}

export function executeShardTxn(view: KvView, db: string, op: ShardTxnRecordOp, entryTerm: number): Execution {
  assert(typeof op.txn === 'string' && op.txn.length > 0, () => `${op.f}: a malformed entry`);
  switch (op.f) {
    case 'stxn.prepare':
      return prepare(view, db, op, entryTerm);
    case 'stxn.decide':
      return decide(view, op);
    case 'stxn.resolve':
      return resolve(view, op);
  }
}

function prepare(view: KvView, db: string, op: ShardPrepareOp, entryTerm: number): Execution {
  assert(Array.isArray(op.writes) && op.writes.length > 0, 'stxn.prepare: a participant with nothing to write prepares no entry');
  if (view.get(intentKey(op.txn)) !== undefined) return { result: { ok: true, value: 'prepared' }, writes: [] };
  if (op.term !== entryTerm) return { result: abortedResult('leader_changed', `the prepare entry is of term ${entryTerm} but the locks were taken in term ${op.term}`), writes: [] };
  if (!dbExists(view, db)) return { result: abortedResult('no_such_db', `database ${JSON.stringify(db)} was deleted`), writes: [] };
  const keys = [...new Set(op.writes.map((w) => w.key))];
  for (const k of keys) {
    const holder = intentOn(view, db, k);
    if (holder !== null && holder !== op.txn) return { result: abortedResult('conflict', `${JSON.stringify(k)} is held by prepared transaction ${holder}`), writes: [] };
  }
  const intent: Intent = { home: op.home, db, writes: op.writes };
  const writes: StorageWrite[] = [[intentKey(op.txn), JSON.stringify(intent)], ...keys.map((k): StorageWrite => [keyIntentKey(db, k), op.txn])];
  return { result: { ok: true, value: 'prepared' }, writes };
}

function decide(view: KvView, op: ShardDecideOp): Execution {
  const known = readTxnRecord(view, op.txn);
  if (known !== null) return { result: recordResult(op.txn, known), writes: [] };
  const record: TxnRecord = op.commit ? { status: 'committed' } : { status: 'aborted', reason: op.reason ?? 'aborted' };
  return { result: recordResult(op.txn, record), writes: recordWrites(view, op.txn, record) };
}

/** A decision as an answer: ok for committed, `aborted <reason>` otherwise. */
export function recordResult(txn: string, r: TxnRecord): Result {
  return r.status === 'committed' ? { ok: true, value: null } : abortedResult(r.reason ?? 'aborted', `transaction ${txn} was aborted`);
}

function resolve(view: KvView, op: ShardResolveOp): Execution {
  const intent = readIntent(view, op.txn);
  if (intent === null) return { result: { ok: true, value: 'none' }, writes: [] };
  const overlay = new Map<string, StoredValue>();
  if (op.commit) {
    const read = (k: string) => (overlay.has(k) ? overlay.get(k) ?? undefined : view.get(k));
    for (const w of intent.writes) {
      // Cannot fail: the participant checked each append under its X lock, and the intent kept
      // every other writer out since. A replica must apply the same either way, so it is an assert.
      const r = applyWriteOp(read, intent.db, w, overlay);
      assert(r.ok, () => `stxn.resolve ${op.txn}: ${w.f} ${JSON.stringify(w.key)} failed under its intent`);
    }
  }
  const writes: StorageWrite[] = [...overlay.entries(), [intentKey(op.txn), null]];
  for (const k of new Set(intent.writes.map((w) => w.key))) if (intentOn(view, intent.db, k) === op.txn) writes.push([keyIntentKey(intent.db, k), null]);
  return { result: { ok: true, value: op.commit ? 'committed' : 'aborted' }, writes };
}
