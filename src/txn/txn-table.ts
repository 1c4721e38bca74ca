import { assert } from '../util/assert.js';
import type { Json } from '../util/json.js';

/**
 * The transaction table a Raft group's leader keeps in memory beside its lock table: for every
 * transaction begun under this leadership, its state, its buffered writes and its deadlines.
 * Pure: the clock's readings come in as arguments.
 *
 * Ids are `<term>.<counter>`: a leader is the only one of its term, and a node leads at most once
 * per term (a restart comes back as a follower, and leading again needs a new election, so a new
 * term), so an id is never given twice in a group's life. When sharding lands the group's id is
 * prefixed (`<group>:<term>.<counter>`); nothing else about the table changes, since each group's
 * leader holds only its own participants' locks and writes.
 *
 * States: active (taking locks, buffering writes) → committing (its commit entry is in the log)
 * → committed | aborted (with the reason). Active may go straight to aborted (rollback, wound,
 * timeout, leader change). A finished transaction is kept a while so that a resent COMMIT or
 * ROLLBACK gets the same answer.
 */

export type TxnState = 'active' | 'committing' | 'committed' | 'aborted';

/** A write a transaction buffers, as its commit entry carries it. */
export type BufferedWrite = { f: 'write'; key: string; value: Json } | { f: 'delete'; key: string } | { f: 'append'; key: string; value: string };

export interface Txn {
  readonly id: string;
  /** Age for wound-wait: smaller is older. */
  readonly ts: number;
  /** The leader term at BEGIN, in which every lock of the transaction is taken. */
  readonly term: number;
  readonly db: string;
  state: TxnState;
  /** Why it aborted (one word first: `wounded`, `timeout`, `leader_changed`, …). */
  reason: string | null;
  readonly writes: BufferedWrite[];
  /** Operations run and bytes of keys and values buffered or read (bounded by TxnLimits). */
  ops: number;
  bytes: number;
  /** Monotonic ms: BEGIN, and when it must have committed or it is aborted. */
  readonly beganMs: number;
  readonly deadlineMs: number;
  /** An operation of it is in progress (waiting for a lock, a read, or its commit). */
  busy: boolean;
}

export interface TxnLimits {
  /** Operations per transaction (reads and writes). */
  opsMax: number;
  /** Bytes of keys and values a transaction may read and write (UTF-16 units, a cheap bound). */
  bytesMax: number;
  /** Transactions open at once at one leader. */
  openMax: number;
  /** From BEGIN to COMMIT at most; past it the transaction is aborted `timeout`. */
  timeoutMs: number;
  /** How long an operation may wait for a lock before its transaction is aborted `lock_timeout`. */
  lockWaitMs: number;
  /** Finished transactions remembered for resent COMMIT/ROLLBACK. */
  finishedKept: number;
}

export const TXN_LIMITS: TxnLimits = {
  opsMax: 1000,
  bytesMax: 4 * 1024 * 1024,
  openMax: 10_000,
  timeoutMs: 10_000,
  lockWaitMs: 2_000,
  finishedKept: 10_000,
};

/** A transaction id as the protocols carry it. */
export const TXN_ID = /^[0-9]{1,15}\.[0-9]{1,15}$/;

export class TxnTable {
  private counter = 0;
  private readonly open = new Map<string, Txn>();
  /** Finished transactions, oldest first (Map order), at most limits.finishedKept. */
  private readonly finished = new Map<string, { state: 'committed' | 'aborted'; reason: string | null; ts: number | null }>();

  constructor(
    readonly term: number,
    readonly limits: TxnLimits = TXN_LIMITS,
  ) {
    assert(Number.isSafeInteger(term) && term > 0, () => `txn table: bad term ${term}`);
  }

  /**
   * A new active transaction, or null when openMax are open. retryOf: an aborted transaction of
   * this table it retries, whose timestamp it takes (once: a timestamp stays unique).
   */
  begin(db: string, nowMs: number, retryOf?: string): Txn | null {
    if (this.open.size >= this.limits.openMax) return null;
    const n = ++this.counter;
    const before = retryOf === undefined ? undefined : this.finished.get(retryOf);
    let ts = n;
    if (before !== undefined && before.state === 'aborted' && before.ts !== null) {
      ts = before.ts;
      before.ts = null;
    }
    const txn: Txn = { id: `${this.term}.${n}`, ts, term: this.term, db, state: 'active', reason: null, writes: [], ops: 0, bytes: 0, beganMs: nowMs, deadlineMs: nowMs + this.limits.timeoutMs, busy: false };
    this.open.set(txn.id, txn);
    return txn;
  }

  get(id: string): Txn | undefined {
    return this.open.get(id);
  }

  /** What became of a transaction that is no longer open, if remembered. */
  outcome(id: string): { state: 'committed' | 'aborted'; reason: string | null; ts: number | null } | undefined {
    return this.finished.get(id);
  }

  get openCount(): number {
    return this.open.size;
  }

  /** Open transactions, oldest first. */
  openTxns(): Txn[] {
    return [...this.open.values()];
  }

  /** Ends an open transaction. */
  finish(id: string, state: 'committed' | 'aborted', reason: string | null): void {
    const t = this.open.get(id);
    assert(t !== undefined, () => `txn table: finish of ${id}, which is not open`);
    assert(state === 'committed' ? t.state === 'committing' : true, () => `txn table: ${id} committed from ${t.state}`);
    t.state = state;
    t.reason = reason;
    this.open.delete(id);
    this.finished.set(id, { state, reason, ts: t.ts });
    if (this.finished.size > this.limits.finishedKept) this.finished.delete(this.finished.keys().next().value as string);
  }

  /** Open active transactions whose deadline has passed. */
  expired(nowMs: number): Txn[] {
    return [...this.open.values()].filter((t) => t.state === 'active' && t.deadlineMs <= nowMs);
  }
}

/**
 * What a key, read inside a transaction, holds for it: the committed value with the
 * transaction's own buffered writes to that key applied in order (read your own writes).
 * `undefined` from apply: an append to a value that is not a string (the caller refuses it).
 */
export function overlayValue(committed: Json, writes: readonly BufferedWrite[], key: string): Json | undefined {
  let v: Json = committed;
  for (const w of writes) {
    if (w.key !== key) continue;
    if (w.f === 'write') v = w.value;
    else if (w.f === 'delete') v = null;
    else {
      if (v !== null && typeof v !== 'string') return undefined;
      v = (v ?? '') + w.value;
    }
  }
  return v;
}
