import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dataKey } from '../../src/node/keyspace.js';
import { executeRead, executeWrite, type KvView } from '../../src/node/kv-state.js';
import { decodeLogEntry, logEntryText } from '../../src/node/log-records.js';
import { executeShardTxn, intentOn, isShardTxnRecord, readIntent, shardTxnRecord, type ShardTxnRecordOp } from '../../src/node/shard-txn-apply.js';
import { homeOf } from '../../src/node/shard-txn.js';
import { TXN_ID_PATTERN } from '../../src/node/protocol.js';
import { readTxnRecord } from '../../src/node/txn-apply.js';

// The Raft entries of two-phase commit across shards (src/node/shard-txn-apply.ts), applied as
// every replica applies them: prepare stores an intent only in its lock term and only over keys
// no other intent holds; the first decision wins; resolve applies or drops the intent, once.

class MapView implements KvView {
  readonly map = new Map<string, string>();
  get(k: string) {
    return this.map.get(k);
  }
  scan(start: string, end: string | null, limit: number): [string, string][] {
    return [...this.map.entries()].filter(([k]) => k >= start && (end === null || k < end)).sort(([a], [b]) => (a < b ? -1 : 1)).slice(0, limit);
  }
  apply(op: ShardTxnRecordOp, term: number) {
    const { result, writes } = executeShardTxn(this, '', op, term);
    for (const [k, v] of writes) v === null ? this.map.delete(k) : this.map.set(k, v);
    return result;
  }
}

const T = suite('two-phase commit entries');

T('a prepare of the lock term stores an intent and its key markers; resolve-commit applies it and removes them', () => {
  const v = new MapView();
  const r = v.apply({ f: 'stxn.prepare', txn: '1.3.1', term: 3, home: 1, writes: [{ f: 'append', key: 'x', value: '1 ' }, { f: 'write', key: 'y', value: 'a' }] }, 3);
  assert.ok(r.ok);
  assert.equal(readIntent(v, '1.3.1')?.home, 1);
  assert.is(intentOn(v, '', 'x'), '1.3.1');
  assert.is(v.get(dataKey('', 'x')), undefined, 'nothing visible before the decision');
  assert.ok(v.apply({ f: 'stxn.resolve', txn: '1.3.1', commit: true }, 4).ok);
  assert.is(v.get(dataKey('', 'x')), '"1 "');
  assert.is(v.get(dataKey('', 'y')), '"a"');
  assert.is(readIntent(v, '1.3.1'), null);
  assert.is(intentOn(v, '', 'x'), null);
  // Resolving again changes nothing.
  assert.ok(v.apply({ f: 'stxn.resolve', txn: '1.3.1', commit: true }, 4).ok);
  assert.is(v.get(dataKey('', 'x')), '"1 "');
});

T('a single-key write, read or range over a key under an intent is refused (retryable) and changes nothing, until the intent is resolved', () => {
  // What every replica checks at apply: a leader may not have applied an earlier term's prepare
  // entry when the operation reached it (src/node/shard-txn-participant.ts's plain waits for the rest).
  const v = new MapView();
  assert.ok(v.apply({ f: 'stxn.prepare', txn: '1.3.1', term: 3, home: 1, writes: [{ f: 'append', key: 'x', value: '1 ' }] }, 3).ok);
  const put = executeWrite(v, { kind: 'req', seq: 1, ackSeq: 0, client: 'c', db: '', once: true, op: { f: 'append', key: 'x', value: '2 ' } });
  assert.ok(!put.result.ok && put.result.code === 'unavailable' && put.result.message.includes('1.3.1'), JSON.stringify(put.result));
  assert.equal(put.writes, []);
  const batch = executeWrite(v, { kind: 'req', seq: 2, ackSeq: 0, client: 'c', db: '', once: true, op: { f: 'batch', ops: [{ f: 'write', key: 'y', value: 1 }, { f: 'delete', key: 'x' }] } });
  assert.ok(!batch.result.ok && batch.result.code === 'unavailable', 'a batch with one held key is refused whole');
  assert.equal(batch.writes, []);
  const get = executeRead(v, '', { f: 'read', key: 'x' });
  assert.ok(!get.ok && get.code === 'unavailable');
  assert.ok(executeRead(v, '', { f: 'read', key: 'y' }).ok, 'a key no intent holds is read as ever');
  const range = executeRead(v, '', { f: 'range', start: 'a', end: 'z', limit: 10, reverse: false });
  assert.ok(!range.ok && range.code === 'unavailable' && range.message.includes('"x"'), JSON.stringify(range));
  assert.ok(executeRead(v, '', { f: 'range', start: 'y', end: null, limit: 10, reverse: false }).ok, 'a range beside the intent is read as ever');
  assert.ok(v.apply({ f: 'stxn.resolve', txn: '1.3.1', commit: true }, 4).ok);
  assert.ok(executeWrite(v, { kind: 'req', seq: 3, ackSeq: 0, client: 'c', db: '', once: true, op: { f: 'append', key: 'x', value: '2 ' } }).result.ok);
  assert.equal(executeRead(v, '', { f: 'read', key: 'x' }), { ok: true, value: '1 ' });
});

T('a prepare of another term than its locks votes no and stores nothing', () => {
  const v = new MapView();
  const r = v.apply({ f: 'stxn.prepare', txn: '0.2.1', term: 2, home: 0, writes: [{ f: 'write', key: 'x', value: 1 }] }, 3);
  assert.not.ok(r.ok);
  assert.ok(!r.ok && r.message.startsWith('leader_changed'));
  assert.is(v.map.size, 0);
});

T('a prepare over a key another intent holds votes no; resolve-abort drops the intent without writing', () => {
  const v = new MapView();
  assert.ok(v.apply({ f: 'stxn.prepare', txn: '0.2.1', term: 2, home: 0, writes: [{ f: 'write', key: 'x', value: 1 }] }, 2).ok);
  const r = v.apply({ f: 'stxn.prepare', txn: '2.5.1', term: 3, home: 2, writes: [{ f: 'write', key: 'x', value: 2 }] }, 3);
  assert.ok(!r.ok && r.message.startsWith('conflict'));
  assert.ok(v.apply({ f: 'stxn.resolve', txn: '0.2.1', commit: false }, 3).ok);
  assert.is(v.get(dataKey('', 'x')), undefined);
  assert.is(intentOn(v, '', 'x'), null);
  assert.ok(v.apply({ f: 'stxn.prepare', txn: '2.5.1', term: 3, home: 2, writes: [{ f: 'write', key: 'x', value: 2 }] }, 3).ok);
});

T('the first decision applied wins: a later one answers with it', () => {
  const v = new MapView();
  assert.ok(v.apply({ f: 'stxn.decide', txn: '0.1.7', commit: true }, 1).ok);
  const late = v.apply({ f: 'stxn.decide', txn: '0.1.7', commit: false, reason: 'coordinator_lost' }, 2);
  assert.ok(late.ok, 'the pushed abort finds the commit');
  assert.equal(readTxnRecord(v, '0.1.7'), { status: 'committed' });
  assert.ok(v.apply({ f: 'stxn.decide', txn: '0.1.8', commit: false, reason: 'coordinator_lost' }, 2).ok === false);
  const again = v.apply({ f: 'stxn.decide', txn: '0.1.8', commit: true }, 2);
  assert.ok(!again.ok && again.message.startsWith('coordinator_lost'), 'a late commit finds the abort');
});

T('records round-trip through a log entry; sharded ids name their home', () => {
  const op: ShardTxnRecordOp = { f: 'stxn.prepare', txn: '3.4.5', term: 4, home: 3, writes: [{ f: 'delete', key: 'k' }] };
  const [rec] = decodeLogEntry(logEntryText([shardTxnRecord('db1', op)]));
  assert.ok(rec?.kind === 'request' && isShardTxnRecord(rec.req.op));
  assert.equal(rec?.kind === 'request' ? rec.req.op : null, op);
  assert.is(homeOf('3.4.5'), 3);
  assert.is(homeOf('4.5'), null);
  assert.ok(TXN_ID_PATTERN.test('3.4.5') && TXN_ID_PATTERN.test('4.5') && !TXN_ID_PATTERN.test('1.2.3.4'));
});

T.run();
