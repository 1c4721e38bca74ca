import { assert } from '../util/assert.js';
import type { BufferedWrite } from '../txn/txn-table.js';
import { dataKey, TXN_RECORD_COUNT_KEY, TXN_RECORD_LOG_START, TXN_RECORDS_START } from './keyspace.js';
import { applyWriteOp, dbExists, type Execution, type KvView, type StorageWrite, type StoredValue } from './kv-state.js';
import type { Result } from './protocol.js';

/**
 * A transaction's commit entry, and what applying it does. The entry is the transaction record:
 * one Raft entry holds the id, the leader term in which every lock was taken, and every buffered
 * write. Applying it (on every replica, in log order) writes all of them in one batch and records
 * the outcome under the id — or, if the entry's term is not the lock term, writes nothing and
 * records an abort.
 *
 * Why the term check: the locks lived in one leader's memory. An entry proposed in the lock term
 * is ordered after everything that leader let conflict with it, whatever happens to the leader
 * afterwards (a new leader commits old-term entries before it serves any read). An entry of
 * another term could only come from a proposer whose lock table was not the one the reads were
 * checked against (a leader that lost and regained leadership without dropping its table): its
 * reads may be stale, so it must not apply. Every replica decides this from the entry alone.
 *
 * Why the record: a client whose leader died after COMMIT asks the new leader, which knows
 * nothing of the transaction in memory. After a ReadIndex (which commits every earlier entry),
 * the record says committed or aborted; no record means the commit entry never committed and
 * never will — a definite abort.
 *
 * Across shards (two-phase commit, src/txn/README.md) the same record, written by recordWrites,
 * holds the coordinator's decision in the transaction's home shard (shard-txn-apply.ts), and each
 * participant's prepare entry takes the same term check as this entry.
 */

export interface TxnApplyOp {
  f: 'txn.apply';
  txn: string;
  /** The leader term of the lock table that checked every read and write. */
  term: number;
  writes: BufferedWrite[];
}

/** Records kept before the oldest are forgotten (a resent COMMIT older than that gets `unknown`). */
export const TXN_RECORDS_KEPT = 100_000;

/** The entry's record text: a J record (log-records.ts), once (no session: the leader's table answers resends). */
export function txnCommitRecord(db: string, op: TxnApplyOp): string {
  const json = JSON.stringify({ db, op, once: true });
  return `J${json.length}:${json}`;
}

export function isTxnApply(op: { f: string }): op is TxnApplyOp {
  return op.f === 'txn.apply';
}

export function txnRecordKey(txn: string): string {
  return TXN_RECORDS_START + txn;
}

export interface TxnRecord {
  status: 'committed' | 'aborted';
  reason?: string;
}

export function readTxnRecord(view: KvView, txn: string): TxnRecord | null {
  const raw = view.get(txnRecordKey(txn));
  return raw === undefined ? null : (JSON.parse(raw) as TxnRecord);
}

export function abortedResult(reason: string, detail: string): Result {
  return { ok: false, code: 'aborted', message: `${reason} ${detail}` };
}

/** Applies a commit entry of term entryTerm: its writes and record, or only an abort record. */
export function executeTxnApply(view: KvView, db: string, op: TxnApplyOp, entryTerm: number): Execution {
  assert(typeof op.txn === 'string' && Array.isArray(op.writes), 'txn.apply: a malformed commit entry');
  if (view.get(txnRecordKey(op.txn)) !== undefined) {
    // Applied already (the same id twice cannot be proposed; kept safe all the same).
    return { result: abortedResult('duplicate', `transaction ${op.txn} has a record already`), writes: [] };
  }
  let result: Result;
  let writes: StorageWrite[] = [];
  if (op.term !== entryTerm) {
    result = abortedResult('leader_changed', `the commit entry is of term ${entryTerm} but the locks were taken in term ${op.term}`);
  } else if (!dbExists(view, db)) {
    result = abortedResult('no_such_db', `database ${JSON.stringify(db)} was deleted`);
  } else {
    const overlay = new Map<string, StoredValue>();
    const read = (k: string) => (overlay.has(k) ? overlay.get(k) ?? undefined : view.get(k));
    result = { ok: true, value: null };
    for (const w of op.writes) {
      const r = applyWriteOp(read, db, w, overlay);
      if (!r.ok) {
        // All or nothing: an append the leader accepted cannot fail here under its locks, but a
        // replica must never apply half a transaction.
        overlay.clear();
        result = abortedResult('write_failed', `${w.f} ${JSON.stringify(w.key)}: ${r.message}`);
        break;
      }
    }
    writes = [...overlay.entries()];
    assert(writes.every(([k]) => k.startsWith(dataKey(db, ''))), 'txn.apply writes only its database');
  }
  const record: TxnRecord = result.ok ? { status: 'committed' } : { status: 'aborted', reason: result.message.split(' ')[0] as string };
  writes.push(...recordWrites(view, op.txn, record));
  return { result, writes };
}

/** The record, its place in the bounded log of records, and forgetting the one that falls out. */
export function recordWrites(view: KvView, txn: string, record: TxnRecord): StorageWrite[] {
  const n = Number(view.get(TXN_RECORD_COUNT_KEY) ?? '0') + 1;
  const out: StorageWrite[] = [
    [txnRecordKey(txn), JSON.stringify(record)],
    [TXN_RECORD_COUNT_KEY, String(n)],
    [TXN_RECORD_LOG_START + String(n).padStart(16, '0'), txn],
  ];
  if (n > TXN_RECORDS_KEPT) {
    const oldKey = TXN_RECORD_LOG_START + String(n - TXN_RECORDS_KEPT).padStart(16, '0');
    const old = view.get(oldKey);
    if (old !== undefined) out.push([txnRecordKey(old), null], [oldKey, null]);
  }
  return out;
}
