import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dataKey, TXN_RECORD_COUNT_KEY } from '../../src/node/keyspace.js';
import type { KvView } from '../../src/node/kv-state.js';
import { decodeLogEntry, logEntryText } from '../../src/node/log-records.js';
import { executeTxnApply, isTxnApply, readTxnRecord, txnCommitRecord, txnRecordKey, TXN_RECORDS_KEPT, type TxnApplyOp } from '../../src/node/txn-apply.js';

// A transaction's commit entry (src/node/txn-apply.ts): every write in one batch with its record,
// or — when the entry's term is not the term its locks were taken in — nothing but an abort record.

class MapView implements KvView {
  readonly map = new Map<string, string>();
  get(k: string) {
    return this.map.get(k);
  }
  scan(): [string, string][] {
    return [];
  }
  write(writes: [string, string | null][]) {
    for (const [k, v] of writes) v === null ? this.map.delete(k) : this.map.set(k, v);
  }
}

const A = suite('transaction commit entries');

const op = (txn: string, term: number): TxnApplyOp => ({ f: 'txn.apply', txn, term, writes: [{ f: 'append', key: 'l', value: '1 ' }, { f: 'write', key: 'x', value: 5 }, { f: 'append', key: 'l', value: '2 ' }, { f: 'delete', key: 'y' }] });

A('the entry round-trips through the log record format and is recognised', () => {
  const [rec] = decodeLogEntry(logEntryText([txnCommitRecord('', op('3.1', 3))]));
  assert.ok(rec !== undefined && rec.kind === 'request' && isTxnApply(rec.req.op));
  assert.equal((rec as { req: { op: unknown; db: string } }).req.op, op('3.1', 3));
});

A('in its lock term, every write applies together, with a committed record', () => {
  const v = new MapView();
  v.write([[dataKey('', 'y'), '"old"']]);
  const { result, writes } = executeTxnApply(v, '', op('3.1', 3), 3);
  assert.equal(result, { ok: true, value: null });
  v.write(writes);
  assert.is(v.get(dataKey('', 'l')), '"1 2 "');
  assert.is(v.get(dataKey('', 'x')), '5');
  assert.is(v.get(dataKey('', 'y')), undefined);
  assert.equal(readTxnRecord(v, '3.1'), { status: 'committed' });
});

A('in another term, nothing applies and the record says leader_changed', () => {
  const v = new MapView();
  const { result, writes } = executeTxnApply(v, '', op('3.2', 3), 4);
  assert.is(result.ok, false);
  assert.match((result as { message: string }).message, /^leader_changed the commit entry is of term 4 but the locks were taken in term 3/);
  v.write(writes);
  assert.is(v.get(dataKey('', 'x')), undefined, 'no write applied');
  assert.equal(readTxnRecord(v, '3.2'), { status: 'aborted', reason: 'leader_changed' });
});

A('an append to a value that is not a string aborts the whole transaction', () => {
  const v = new MapView();
  v.write([[dataKey('', 'l'), '[1]']]);
  const { result, writes } = executeTxnApply(v, '', op('3.3', 3), 3);
  assert.is((result as { code: string }).code, 'aborted');
  v.write(writes);
  assert.is(v.get(dataKey('', 'x')), undefined);
  assert.equal(readTxnRecord(v, '3.3')?.status, 'aborted');
});

A('records are bounded: the one TXN_RECORDS_KEPT before is forgotten', () => {
  const v = new MapView();
  v.write([[TXN_RECORD_COUNT_KEY, String(TXN_RECORDS_KEPT - 1)]]);
  v.write(executeTxnApply(v, '', { f: 'txn.apply', txn: '1.1', term: 1, writes: [] }, 1).writes);
  assert.ok(v.get(txnRecordKey('1.1')) !== undefined);
  v.write(executeTxnApply(v, '', { f: 'txn.apply', txn: '1.2', term: 1, writes: [] }, 1).writes);
  assert.ok(v.get(txnRecordKey('1.1')) !== undefined, 'record number TXN_RECORDS_KEPT (1.1) stays until record 2 * TXN_RECORDS_KEPT');
  v.write([[TXN_RECORD_COUNT_KEY, String(2 * TXN_RECORDS_KEPT - 1)]]);
  v.write(executeTxnApply(v, '', { f: 'txn.apply', txn: '9.9', term: 1, writes: [] }, 1).writes);
  assert.is(v.get(txnRecordKey('1.1')), undefined, 'forgotten');
  assert.ok(v.get(txnRecordKey('9.9')) !== undefined);
});

A.run();
