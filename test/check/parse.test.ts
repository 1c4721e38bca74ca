import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventsOf, historyFromEvents, HistoryError, parseHistoryLines } from '../../src/check/index.js';
import { randomHistory } from './arbitraries.js';

async function parse(text: string) {
  async function* lines() {
    for (const line of text.split('\n')) yield line;
  }
  return parseHistoryLines(lines(), 'h.jsonl');
}

async function parseError(text: string): Promise<HistoryError> {
  try {
    await parse(text);
  } catch (e) {
    if (e instanceof HistoryError) return e;
    throw e;
  }
  throw new Error('expected a HistoryError');
}

const invoke = (p: number, f = 'write', value: unknown = 1, key = 'x') => JSON.stringify({ process: p, type: 'invoke', f, key, value });
const done = (p: number, type = 'ok', f = 'write', value: unknown = 1, key = 'x') => JSON.stringify({ process: p, type, f, key, value });

test('a well-formed history becomes operations paired by process', async () => {
  const h = await parse([invoke(1), invoke(2, 'read', null), done(2, 'ok', 'read', 1), '', done(1)].join('\n'));
  assert.is(h.ops.length, 2);
  assert.is(h.eventCount, 4);
  assert.equal([h.ops[0]?.status, h.ops[0]?.callLine, h.ops[0]?.returnLine], ['ok', 1, 5]);
  assert.equal([h.ops[1]?.f, h.ops[1]?.output, h.ops[1]?.returnEvent], ['read', 1, 2]);
});

test('an operation still open at the end counts as info', async () => {
  const h = await parse(invoke(1));
  assert.equal([h.ops[0]?.status, h.ops[0]?.returnEvent, h.ops[0]?.returnLine], ['info', -1, 0]);
});

test('a malformed line is an error naming the file and line', async () => {
  const e = await parseError(`${invoke(1)}\n{"process": 1, "type": "ok",`);
  assert.is(e.line, 2);
  assert.match(e.message, /^h\.jsonl:2: not valid JSON/);
});

test('an ok without an invoke names the line and the process', async () => {
  const e = await parseError(done(3));
  assert.is(e.line, 1);
  assert.match(e.message, /ok from process 3, but it has no open invoke/);
});

test('a second invoke from a busy process names both lines', async () => {
  const e = await parseError([invoke(1), invoke(2), invoke(1, 'read', null)].join('\n'));
  assert.is(e.line, 3);
  assert.match(e.message, /process 1 invokes read while its write invoked at line 1 is still open/);
});

test('a completion for another function or key than its invoke is an error', async () => {
  assert.match((await parseError(`${invoke(1)}\n${done(1, 'ok', 'cas', [1, 2])}`)).message, /invoked write/);
  assert.match((await parseError(`${invoke(1)}\n${done(1, 'ok', 'write', 1, 'y')}`)).message, /of key "x"/);
});

test('each field is validated with what was wrong', async () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /must be a JSON object/],
    [{ process: 'a', type: 'invoke', f: 'read', key: 'x', value: null }, /"process" must be an integer/],
    [{ process: 1, type: 'start', f: 'read', key: 'x', value: null }, /"type" must be one of invoke, ok, fail, info; got "start"/],
    [{ process: 1, type: 'invoke', f: 'get', key: 'x', value: null }, /"f" must be one of read, write/],
    [{ process: 1, type: 'invoke', f: 'read', key: 5, value: null }, /"key" must be a string/],
    [{ process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: -3 }, /"time" must be a non-negative integer/],
    [{ process: 1, type: 'invoke', f: 'read', key: 'x', value: 4 }, /read must have value null/],
    [{ process: 1, type: 'invoke', f: 'cas', key: 'x', value: 4 }, /cas needs value \[expected, new\]/],
    [{ process: 1, type: 'invoke', f: 'append', key: 'x', value: 4 }, /append needs a string/],
    [{ process: 1, type: 'invoke', f: 'write', key: 'x' }, /write needs a "value"/],
  ];
  for (const [event, message] of cases) assert.match((await parseError(JSON.stringify(event))).message, message);
});

test('a completion before its invoke in time is an error', async () => {
  const lines = [
    JSON.stringify({ process: 1, type: 'invoke', f: 'read', key: 'x', value: null, time: 10 }),
    JSON.stringify({ process: 1, type: 'ok', f: 'read', key: 'x', value: null, time: 5 }),
  ];
  assert.match((await parseError(lines.join('\n'))).message, /h\.jsonl:2: completion time 5 is before/);
});

test('in-memory events are validated too, event i named as line i + 1', () => {
  assert.throws(() => historyFromEvents([{ process: 1, type: 'invoke', f: 'write', key: 'x', value: Number.NaN }], 'sim'),
    (e: unknown) => e instanceof HistoryError && e.message === 'sim:1: "value" is not JSON data');
});

test('eventsOf gives back the events a history was read from', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 10, processes: 4, keys: ['x', 'y'] }), (events) => {
      assert.equal(eventsOf(historyFromEvents(events)), events);
    }),
    { numRuns: 500 },
  );
});

test.run();
