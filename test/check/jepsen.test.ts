/**
 * Jepsen's history formats (src/check/jepsen.ts, edn.ts, formats.ts): the fixtures in
 * test/check/fixtures/jepsen-etcd read the same from their text log, history.edn and JSON Lines;
 * every malformed input names its line.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectFormat, readHistory, readHistoryText, type HistoryFormat } from '../../src/check/formats.js';
import { checkHistory, HistoryError, type History } from '../../src/check/index.js';
import { EDN_TOO, FIXTURES, jepsenHistory, toEdn, toJsonl, toLog } from './fixtures/jepsen.js';

const DIR = join(import.meta.dirname, 'fixtures', 'jepsen-etcd');
const read = (sub: string, name: string): string => readFileSync(join(DIR, sub, name), 'utf8');

/** What a history says, without where it came from. */
function summary(h: History): unknown[] {
  return h.ops.map((op) => [op.process, op.f, op.key, op.input, op.output, op.status, op.callEvent, op.returnEvent, op.callLine]);
}

test('the fixtures are what test/check/fixtures/jepsen.ts makes', () => {
  for (const { name, options, seed } of FIXTURES) {
    const history = jepsenHistory(options, seed);
    assert.is(read('log', `${name}.log`), toLog(history), name);
    assert.is(read('jsonl', `${name}.jsonl`), toJsonl(history), name);
    if (EDN_TOO.includes(name)) assert.is(read('edn', `${name}.edn`), toEdn(history), name);
  }
  assert.is(readdirSync(join(DIR, 'log')).length, FIXTURES.length);
});

test('a Jepsen log and history.edn read as the same operations as their JSON Lines, with the same verdicts', () => {
  const verdicts = new Set<string>();
  for (const { name, options } of FIXTURES) {
    const jsonl = readHistoryText(read('jsonl', `${name}.jsonl`), name);
    const sources: [string, HistoryFormat][] = [['log', 'jepsen-log'], ...(EDN_TOO.includes(name) ? [['edn', 'edn'] as [string, HistoryFormat]] : [])];
    for (const [sub, format] of sources) {
      const text = read(sub, `${name}.${sub}`);
      assert.is(detectFormat(text.split('\n')), format, `${name}.${sub} is told apart by content`);
      const h = readHistoryText(text, name);
      assert.equal(summary(h), summary(jsonl), `${name}.${sub}`);
      assert.is(h.timed, format === 'edn', 'EDN carries :time, the log does not');
      const verdict = checkHistory(h, { model: 'kv' }).verdict;
      assert.is(verdict, checkHistory(jsonl, { model: 'kv' }).verdict);
      assert.is(verdict, options.staleRead ? 'violation' : 'ok', `${name}: the generator's stale read is caught, and only it`);
      verdicts.add(verdict);
    }
  }
  assert.equal([...verdicts].sort(), ['ok', 'violation']);
});

test('the independent (multi-key) form splits keys, and a completion without a tuple belongs to its invoke\'s key', () => {
  const h = readHistoryText(read('log', 'etcd_005.log'), 'etcd_005');
  assert.equal([...new Set(h.ops.map((op) => op.key))].sort(), ['0', '1', '2']);
  const timedOut = h.ops.filter((op) => op.status === 'info' && op.returnEvent >= 0);
  assert.ok(timedOut.length > 5, 'some ops timed out (":timed-out", no tuple)');
});

test('EDN: one vector of ops, tagged records, comments, the nemesis skipped, :key fields, keyword values', () => {
  const text = `; a Knossos-style file
[{:type :invoke, :f :write, :value :a, :process 0, :key "x"}
 #jepsen.history.Op{:type :ok, :f :write, :value :a, :process 0, :key "x"}
 {:type :info, :f :start, :value nil, :process :nemesis}
 {:type :invoke, :f :read, :value nil, :process 1, :key "x"} #_ {:ignored true}
 {:type :ok, :f :read, :value :a, :process 1, :key "x"}]`;
  const h = readHistoryText(text, 'h.edn');
  assert.is(h.ops.length, 2);
  assert.equal(h.ops.map((op) => [op.f, op.key, op.input, op.output, op.callLine]), [['write', 'x', ':a', null, 2], ['read', 'x', null, ':a', 5]]);
  assert.is(checkHistory(h, { model: 'kv' }).verdict, 'ok');
});

test('a single-register EDN history: cas [old new], read of nil', () => {
  const text = [
    '{:type :invoke, :f :cas, :value [nil 1], :process 0}',
    '{:type :ok, :f :cas, :value [nil 1], :process 0}',
    '{:type :invoke, :f :read, :value nil, :process 1}',
    '{:type :ok, :f :read, :value 2, :process 1}',
  ].join('\n');
  const result = checkHistory(readHistoryText(text, 'r.edn'), { model: 'register' });
  assert.is(result.verdict, 'violation');
  assert.is(result.keys[0]?.key, 'register');
});

/** The error a text raises: its message. */
function errorOf(text: string, format: HistoryFormat | 'auto' = 'auto'): string {
  try {
    readHistoryText(text, 'bad');
  } catch (e) {
    assert.instance(e, HistoryError);
    return (e as Error).message;
  }
  if (format !== 'auto') return errorOf(text);
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

test('malformed input is reported with file and line', () => {
  const invoke = '{:type :invoke, :f :read, :value nil, :process 0}';
  assert.match(errorOf(`${invoke}\n{:type :ok, :f :read, :value 3`), /^bad:2: not valid EDN: the file ends inside this form/);
  assert.match(errorOf(`${invoke}\n{:type :done, :f :read, :value 3, :process 0}`), /^bad:2: :type must be one of :invoke, :ok, :fail, :info; got :done/);
  assert.match(errorOf(`${invoke}\n{:type :ok, :f :read, :value 3, :process "p"}`), /^bad:2: :process must be an integer/);
  assert.match(errorOf(`${invoke}\n{:type :ok :f :read :value}`), /^bad:2: not valid EDN: a map needs a value for every key/);
  assert.match(errorOf(`${invoke}\n{:type :ok, :f :read, :value 3, :process 0}}`), /^bad:2: not valid EDN: unexpected }/);
  assert.match(errorOf(`${invoke}\n{:type :invoke, :f :txn, :value [], :process 1}`), /^bad:2: :f must be one of :read, :write, :cas, :delete, :append; got :txn/);
  const tuples = '{:type :invoke, :f :read, :value [1 nil], :process 0}\n{:type :invoke, :f :write, :value 3, :process 1}';
  assert.match(errorOf(tuples), /^bad:2: this history is in Jepsen's independent form/);
  const log = 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:okay\t:read\t3';
  assert.match(errorOf(log), /^bad:2: type must be one of :invoke, :ok, :fail, :info; got :okay/);
  assert.match(errorOf('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t[1'), /^bad:2: not valid EDN/);
  assert.match(errorOf('INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t3'), /^bad:2: ok from process 1, but it has no open invoke/);
  assert.match(errorOf('hello\nworld'), /^bad:1: cannot tell the history's format/);
});

test('streaming and whole-text reading agree, and a format can be named', async () => {
  const text = read('log', 'etcd_001.log');
  const streamed = await readHistory(text.split('\n'), 'etcd_001');
  assert.equal(summary(streamed), summary(readHistoryText(text, 'etcd_001')));
  const named = await readHistory(text.split('\n'), 'etcd_001', 'jepsen-log');
  assert.equal(summary(named), summary(streamed));
  await readHistory(['{"process": 1}'], 'x', 'edn').then(() => assert.unreachable('JSON is not an op map'), (e: unknown) => {
    assert.match((e as Error).message, /^x:1: an op must be a map|^x:1: not valid EDN/);
  });
});

test.run();
