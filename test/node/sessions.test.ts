import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { executeWrite, SESSION_SEQS_LISTED, type KvView, type SessionLimits, type StorageWrite } from '../../src/node/kv-state.js';
import type { Request } from '../../src/node/protocol.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { EngineStore } from '../../src/node/store.js';

// Sessions make a retry return the first answer; they must also stay bounded.

function store() {
  const s = new EngineStore(new MemoryEngine());
  const apply = (writes: StorageWrite[]) => s.apply(writes, () => {});
  const keys = (prefix: string) => s.view.scan(prefix, prefix + '\x7f', 100_000, false).length;
  return { view: s.view as KvView, apply, keys };
}

const req = (client: string, seq: number, ackSeq: number, value = seq): Request => ({ kind: 'req', client, seq, ackSeq, db: '', op: { f: 'append', key: 'k', value: `${value};` } });
const small: SessionLimits = { resultsMax: 8, idleWrites: 50, sweepEvery: 10, sweepMax: 4 };

test('a retry gets the first answer and changes nothing; an acknowledged seq is refused', () => {
  const s = store();
  const first = executeWrite(s.view, req('c', 1, 1));
  s.apply(first.writes);
  const retry = executeWrite(s.view, req('c', 1, 1));
  assert.equal(retry.result, first.result);
  assert.is(retry.writes.length, 0);
  s.apply(executeWrite(s.view, req('c', 2, 2)).writes);
  const late = executeWrite(s.view, req('c', 1, 1));
  assert.is(late.result.ok ? 'ok' : late.result.code, 'bad_request');
});

test('a request sent once leaves no session: only its own writes, and the client\'s session untouched', () => {
  const s = store();
  s.apply(executeWrite(s.view, req('gw', 1, 1)).writes);
  const session = s.view.get('\x01s\x00gw');
  const once = executeWrite(s.view, { ...req('gw', 2, 2), once: true });
  assert.equal(once.writes, [['\x00\x00k', JSON.stringify('1;2;')]], 'the data row alone');
  assert.equal(once.result, { ok: true, value: '2;' });
  s.apply(once.writes);
  assert.is(s.view.get('\x01s\x00gw'), session, 'session as before');
  assert.is(s.keys('\x01r\x00gw\x00'), 1, 'the retriable request\'s result is kept, none for the once one');
  // Failures and admin ops alike.
  const cas = executeWrite(s.view, { kind: 'req', client: 'gw', seq: 3, ackSeq: 3, db: '', op: { f: 'cas', key: 'k', expected: 'x', value: 'y' }, once: true });
  assert.is(cas.result.ok ? 'ok' : cas.result.code, 'cas_mismatch');
  assert.equal(cas.writes, []);
  const db = executeWrite(s.view, { kind: 'req', client: 'gw', seq: 4, ackSeq: 4, db: '', op: { f: 'db.create', name: 'shop' }, once: true });
  // The database's row and the catalog's version, which a change of users or databases bumps
  // (shard-catalog.ts: a sharded node's copies follow it): no session row.
  assert.equal(db.writes, [['\x01d\x00shop', '1'], ['\x01v', '1']]);
  const missing = executeWrite(s.view, { kind: 'req', client: 'gw', seq: 5, ackSeq: 5, db: 'nope', op: { f: 'write', key: 'k', value: 1 }, once: true });
  assert.is(missing.result.ok ? 'ok' : missing.result.code, 'no_such_db');
  assert.equal(missing.writes, []);
});

test('acknowledged results are forgotten; a client that never acknowledges keeps at most resultsMax', () => {
  const s = store();
  for (let seq = 1; seq <= 20; seq++) s.apply(executeWrite(s.view, req('good', seq, seq), { limits: small }).writes);
  assert.is(s.keys('\x01r\x00good\x00'), 1, 'only the latest, unacknowledged one');
  for (let seq = 1; seq <= 30; seq++) s.apply(executeWrite(s.view, req('lazy', seq, 0), { limits: small }).writes);
  assert.is(s.keys('\x01r\x00lazy\x00'), 8);
  const newest = executeWrite(s.view, req('lazy', 30, 0), { limits: small });
  assert.is(newest.writes.length, 0, 'the newest results are the ones kept');
});

test('idle sessions are swept away with their results', () => {
  const s = store();
  for (let i = 0; i < 5; i++) s.apply(executeWrite(s.view, req(`old${i}`, 1, 1), { limits: small }).writes);
  assert.is(s.keys('\x01s\x00'), 5);
  for (let seq = 1; seq <= 200; seq++) s.apply(executeWrite(s.view, req('busy', seq, seq), { limits: small }).writes);
  assert.is(s.keys('\x01s\x00'), 1, 'only the busy client keeps a session');
  assert.is(s.keys('\x01r\x00old'), 0);
});

test('the held count matches the stored results for any order of seqs and acknowledgements', () => {
  // Requests as a pipelining gateway sends them: seqs rise with gaps (reads take seqs too), acks
  // trail behind (in flight), sometimes jump far ahead (past the point-read window), and at times
  // stay put while results pile up past what a session lists.
  const step = fc.record({ gap: fc.integer({ min: 1, max: 3 }), lag: fc.integer({ min: 0, max: 24 }), jump: fc.integer({ min: 0, max: 20 }), ack: fc.boolean() });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), (steps) => {
      const s = store();
      let seq = 0;
      let acked = 0;
      let ackBefore = 0;
      // More results than a session lists, at times (lags up to 12 at gaps of 1 to 3).
      const limits = { ...small, resultsMax: 32 };
      let heldBefore = 0;
      for (const { gap, lag, jump, ack } of steps) {
        seq += jump === 20 ? 100 : gap;
        // (Some writes acknowledge nothing new: results pile up past what a session lists.)
        if (ack) acked = Math.max(acked, seq - lag);
        const exec = executeWrite(s.view, req('p', seq, acked), { limits });
        s.apply(exec.writes);
        const session = JSON.parse(s.view.get('\x01s\x00p') as string) as { ackSeq: number; held: number; seqs?: number[] };
        const stored = s.view.scan('\x01r\x00p\x00', '\x01r\x00p\x01', 100_000, false).map(([k]) => Number(k.slice(5)));
        assert.is(session.held, stored.length, `held after seq ${seq}`);
        if (session.seqs !== undefined) assert.equal(session.seqs, stored, `the listed seqs after seq ${seq}`);
        // A write that forgot results lists what is left, if few enough before and after.
        else assert.ok(stored.length > SESSION_SEQS_LISTED || heldBefore > SESSION_SEQS_LISTED || session.ackSeq === ackBefore, `seqs not listed while ${stored.length} are held`);
        ackBefore = session.ackSeq;
        heldBefore = stored.length;
        assert.ok(stored.length <= limits.resultsMax, 'bounded');
        assert.ok(stored.every((x) => x >= session.ackSeq), 'nothing acknowledged is kept');
        assert.ok(stored.includes(seq), 'the newest result is kept');
      }
    }),
  );
});

test('a client whose seqs reach this shard sparsely (one in 16) forgets its acknowledged results without reading them', () => {
  const s = store();
  let reads = 0;
  const view = { ...s.view, get: (k: string) => { reads++; return s.view.get(k); }, scan: s.view.scan.bind(s.view) };
  for (let seq = 16; seq <= 16 * 50; seq += 16) s.apply(executeWrite(view as typeof s.view, req('gw', seq, seq - 15)).writes);
  assert.is(s.keys('\x01r\x00gw\x00'), 1, 'only the latest result is kept');
  assert.equal(JSON.parse(s.view.get('\x01s\x00gw') as string).seqs, [800]);
  // Per write about six: the session, the database, an intent on the key, the key's value, the
  // write counter, the result (twice); none per seq skipped (15 more per write before the list).
  assert.ok(reads <= 50 * 7, `${reads} reads for 50 writes`);
});

test('a session whose results outgrew the list lists them again once few are held', () => {
  const s = store();
  const session = () => JSON.parse(s.view.get('\x01s\x00gw') as string) as { held: number; seqs?: number[] };
  for (let seq = 1; seq <= 40; seq++) s.apply(executeWrite(s.view, req('gw', seq, Math.max(1, seq - 20))).writes);
  assert.is(session().held, 21);
  assert.is(session().seqs, undefined, 'too many to list');
  s.apply(executeWrite(s.view, req('gw', 41, 38)).writes);
  assert.equal(session().seqs, [38, 39, 40, 41], 'listed again by the write that forgot the rest');
});

test('an ackSeq past the request itself still keeps its result for a retry', () => {
  const s = store();
  const first = executeWrite(s.view, req('c', 5, 9));
  s.apply(first.writes);
  const retry = executeWrite(s.view, req('c', 5, 9));
  assert.equal(retry.result, first.result);
  assert.is(retry.writes.length, 0);
});

test.run();
