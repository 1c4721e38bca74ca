import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventsOf, HistoryError, parseHistoryLines } from '../../../src/check/index.js';

// Transactions in the history format (src/check/HISTORY.md): what the parser accepts, and each
// malformed micro-operation as an error naming the file and line. Single-key lines keep their
// meaning beside transactions.

async function parse(lines: readonly unknown[]) {
  return parseHistoryLines(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))), 'h.jsonl');
}

async function parseError(lines: readonly unknown[]): Promise<string> {
  try {
    await parse(lines);
  } catch (e) {
    if (e instanceof HistoryError) return e.message;
    throw e;
  }
  throw new Error('expected a HistoryError');
}

const inv = (value: unknown, process = 1) => ({ process, type: 'invoke', f: 'txn', value, time: 10 });
const ok = (value: unknown, process = 1) => ({ process, type: 'ok', f: 'txn', value, time: 20 });

test('a transaction pairs its invoke and ok, reads filled in; single-key ops live beside it', async () => {
  const h = await parse([
    inv([['append', 'x', 3], ['r', 'y', null], ['w', 'z', 5]]),
    { process: 2, type: 'invoke', f: 'write', key: 'k', value: 1 },
    ok([['append', 'x', 3], ['r', 'y', [1, 2]], ['w', 'z', 5]]),
    { process: 2, type: 'ok', f: 'write', key: 'k', value: 1 },
    inv([['r', 'z', null]], 3),
  ]);
  assert.is(h.ops.length, 1);
  assert.is(h.txns?.length, 2);
  const [t, open] = h.txns ?? [];
  assert.equal([t?.status, t?.callLine, t?.returnLine, t?.output?.[1]], ['ok', 1, 3, ['r', 'y', [1, 2]]]);
  assert.equal([open?.status, open?.returnEvent], ['info', -1]);
  // Back to events, in the same order.
  assert.equal(eventsOf(h).map((e) => [e.process, e.type, e.f]), [[1, 'invoke', 'txn'], [2, 'invoke', 'write'], [1, 'ok', 'txn'], [2, 'ok', 'write'], [3, 'invoke', 'txn']]);
});

test('fail and info may carry the micro-operations or nothing', async () => {
  const h = await parse([inv([['append', 'x', 1]]), { process: 1, type: 'fail', f: 'txn', value: null },
    inv([['append', 'x', 2]], 2), { process: 2, type: 'info', f: 'txn', value: [['append', 'x', 2]] }]);
  assert.equal(h.txns?.map((t) => t.status), ['fail', 'info']);
});

const BAD: [string, unknown[], RegExp][] = [
  ['value not a list', [inv({ r: 'x' })], /h\.jsonl:1: the value of a txn invoke must be a list of micro-operations/],
  ['micro-op not a triple', [inv([['r', 'x']])], /h\.jsonl:1: micro-operation 0 of the txn must be \[f, key, value\]/],
  ['unknown f', [inv([['read', 'x', null]])], /h\.jsonl:1: micro-operation 0 of the txn: f must be one of r, w, append; got "read"/],
  ['key not a string', [inv([['append', 1, 2]])], /h\.jsonl:1: micro-operation 0 of the txn: the key must be a string, got 1/],
  ['invoke read with a value', [inv([['r', 'x', 5]])], /h\.jsonl:1: micro-operation 0 of the txn: a read's value is null in the invoke/],
  ['append of null', [inv([['append', 'x', null]])], /h\.jsonl:1: micro-operation 0 of the txn: append of null/],
  ['a key on a txn', [{ ...inv([]), key: 'x' }], /h\.jsonl:1: a txn event has no "key"/],
  ['ok with fewer micro-ops', [inv([['r', 'x', null], ['w', 'x', 1]]), ok([['r', 'x', 1]])], /h\.jsonl:2: ok of a txn has 1 micro-operations, but its invoke at line 1 has 2/],
  ['ok with another key', [inv([['r', 'x', null]]), ok([['r', 'y', 1]])], /h\.jsonl:2: micro-operation 0 is \["r","y"\], but the invoke at line 1 has \["r","x"\] there/],
  ['ok changing a written value', [inv([['w', 'x', 1]]), ok([['w', 'x', 2]])], /h\.jsonl:2: micro-operation 0 \(w of "x"\) has value 2, but the invoke at line 1 has 1/],
  ['txn ok for a single-key invoke', [{ process: 1, type: 'invoke', f: 'read', key: 'x', value: null }, ok([])], /h\.jsonl:2: ok is for a txn, but process 1 invoked read of key "x" at line 1/],
  ['single-key ok for a txn invoke', [inv([]), { process: 1, type: 'ok', f: 'read', key: 'x', value: null }], /h\.jsonl:2: ok is for read of key "x", but process 1 invoked a txn at line 1/],
  ['invoke while a txn is open', [inv([]), inv([])], /h\.jsonl:2: process 1 invokes txn while its txn invoked at line 1 is still open/],
  ['completion before its invoke in time', [inv([]), { ...ok([]), time: 5 }], /h\.jsonl:2: completion time 5 is before its invoke's time 10/],
  ['too many micro-ops', [inv(Array.from({ length: 10_001 }, (_, i) => ['append', 'x', i]))], /h\.jsonl:1: a txn has 10001 micro-operations; the limit is 10000/],
  ['f neither op nor txn', [{ process: 1, type: 'invoke', f: 'transaction', value: [] }], /h\.jsonl:1: "f" must be one of read, write, cas, delete, append or txn/],
];

for (const [name, lines, message] of BAD) {
  test(`bad input: ${name}`, async () => {
    const got = await parseError(lines);
    assert.match(got, message);
  });
}

test.run();
