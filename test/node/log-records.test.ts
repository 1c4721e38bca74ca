import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Json } from '../../src/util/json.js';
import { decodeLogEntry, encodeLogRecord, logEntryText } from '../../src/node/log-records.js';
import type { KvOp, Request } from '../../src/node/protocol.js';

// The Raft log's request records: what goes in comes out, old JSON entries still read, and bad
// text is refused with where it went wrong.

const key = fc.string({ unit: 'grapheme', maxLength: 20 }); // well-formed, as validateKey requires
const json: fc.Arbitrary<Json> = fc.jsonValue() as fc.Arbitrary<Json>;
const op: fc.Arbitrary<KvOp> = fc.oneof(
  fc.record({ f: fc.constant('write' as const), key, value: json }),
  fc.record({ f: fc.constant('cas' as const), key, expected: json, value: json }),
  fc.record({ f: fc.constant('delete' as const), key }),
  fc.record({ f: fc.constant('append' as const), key, value: fc.string() }),
);
const request: fc.Arbitrary<Request> = fc
  .record({ db: fc.constantFrom('', 'shop', 'a-b_9'), op, once: fc.boolean(), seq: fc.nat(), token: fc.option(fc.string(), { nil: undefined }) })
  .map(({ db, op, once, seq, token }) => ({ kind: 'req', client: 'gw', seq, ackSeq: seq, db, op, ...(once ? { once: true as const } : {}), ...(token !== undefined ? { token } : {}) }));

/** A request's meaning once logged: no token; a once request has no session fields. */
function meaning(r: Request): unknown {
  const plain = JSON.parse(JSON.stringify(r.op)) as unknown;
  return r.once === true ? { db: r.db, op: plain, once: true } : { client: r.client, seq: r.seq, ackSeq: r.ackSeq, db: r.db, op: plain };
}

test('any batch of requests comes back in order, meaning the same', () => {
  fc.assert(
    fc.property(fc.array(request, { minLength: 1, maxLength: 8 }), (reqs) => {
      // Through bytes, as the log stores it.
      const text = new TextDecoder('utf-8', { fatal: true }).decode(new TextEncoder().encode(logEntryText(reqs.map(encodeLogRecord))));
      const records = decodeLogEntry(text);
      assert.is(records.length, reqs.length);
      records.forEach((rec, i) => {
        const r = reqs[i] as Request;
        if (rec.kind === 'write-once') {
          assert.ok(r.once === true && r.op.f === 'write');
          assert.equal({ db: rec.db, op: { f: 'write', key: rec.key, value: JSON.parse(rec.valueJson) as unknown }, once: true }, meaning(r));
          assert.is(rec.valueJson, JSON.stringify(r.op.value), 'stored as executeWrite would store it');
        } else {
          const { kind: _k, ...logged } = rec.req;
          assert.equal(r.once === true ? { db: logged.db, op: logged.op, once: true } : { client: logged.client, seq: logged.seq, ackSeq: logged.ackSeq, db: logged.db, op: logged.op }, meaning(r));
          assert.is(rec.req.token, undefined, 'no token in the log');
        }
      });
    }),
  );
});

test('entries in the JSON form written before the records still decode', () => {
  const one = { kind: 'req', client: 'c', seq: 2, ackSeq: 1, db: '', op: { f: 'write', key: 'k', value: 1 } };
  assert.equal(decodeLogEntry(JSON.stringify(one)), [{ kind: 'request', req: one }]);
  const many = decodeLogEntry(JSON.stringify([one, { db: '', op: { f: 'delete', key: 'k' }, once: true }]));
  assert.is(many.length, 2);
  assert.equal(many[1], { kind: 'request', req: { kind: 'req', client: '', seq: 0, ackSeq: 0, db: '', op: { f: 'delete', key: 'k' }, once: true } });
});

test('bad entry text is refused, saying where', () => {
  const cases: [string, RegExp][] = [
    ['', /starts with ""/],
    ['X', /starts with "X"/],
    ['R', /no record/],
    ['RQ1:a', /unknown record kind "Q" at offset 1/],
    ['RW5:ab', /bad field length at offset 2/],
    ['RW0:1:a', /bad field length at offset 7/],
    ['RW:', /bad field length/],
    ['RW0:1:a1', /bad field length/],
    ['RW01234567890:', /bad field length/],
    ['RJ17:{"db":"","op":{}}x', /unknown record kind "x"/],
    ['RJ2:{}', /not a request/],
    ['RJ5:[[[[[', /not JSON/],
  ];
  for (const [text, message] of cases) assert.throws(() => decodeLogEntry(text), message, text);
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (junk) => {
      try {
        decodeLogEntry(`R${junk}`);
      } catch (err) {
        return err instanceof Error;
      }
      return true;
    }),
  );
});

test.run();
