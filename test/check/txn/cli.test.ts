import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCheckCommand } from '../../../src/cli/check.js';

// `kv-lab check --model txn` in process: verdicts, exit codes (0 valid, 1 violation, 2 bad
// input), --json, --html, and the flags' errors.

const dir = mkdtempSync(join(tmpdir(), 'kv-lab-txn-check-'));
const skew = join(import.meta.dirname, 'fixtures', 'write-skew.jsonl');

async function check(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCheckCommand(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const write = (name: string, lines: readonly unknown[]): string => {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return path;
};

test('write skew: snapshot isolation passes (exit 0), serializable fails (exit 1) and says why', async () => {
  const si = await check('--model', 'txn', '--consistency', 'snapshot-isolation', skew);
  assert.is(si.code, 0, si.out + si.err);
  assert.match(si.out, /write-skew\.jsonl: snapshot-isolation \(3 transactions: 3 ok, 0 aborted, 0 unknown; 2 keys\)/);
  const ser = await check('--model', 'txn', '--consistency', 'serializable', skew);
  assert.is(ser.code, 1);
  assert.match(ser.out, /NOT serializable \(G2-item\)/);
  assert.match(ser.out, /anomalies: G2-item 1/);
  assert.match(ser.out, /T0 ─rw→ T1 ─rw→ T0/);
  assert.match(ser.out, /T1 read x=\[\] and T0 appended 1 to x first, which T1 did not see, so T1 rw→ T0/);
  // Strict serializable is the default.
  assert.match((await check('--model', 'txn', skew)).out, /NOT strict-serializable/);
});

test('--json: one line per file with the verdict, counts and explained anomalies', async () => {
  const r = await check('--model', 'txn', '--consistency', 'serializable', '--json', skew);
  const line = JSON.parse(r.out) as { file: string; verdict: string; counts: Record<string, number>; anomalies: { class: string; cycle: unknown[] }[] };
  assert.equal([line.file, line.verdict, line.counts], [skew, 'violation', { 'G2-item': 1 }]);
  assert.is(line.anomalies[0]?.cycle.length, 2);
});

test('--html draws each cycle', async () => {
  const page = join(dir, 'txn.html');
  const r = await check('--model', 'txn', '--html', page, skew);
  assert.is(r.code, 1);
  const html = readFileSync(page, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /class="edge rw"/);
});

test('bad input: a malformed micro-operation names file and line (exit 2)', async () => {
  const bad = write('bad.jsonl', [{ process: 1, type: 'invoke', f: 'txn', value: [['append', 'x', 1]] }, { process: 1, type: 'invoke', f: 'txn', value: [['incr', 'x', 1]] }]);
  const r = await check('--model', 'txn', bad);
  assert.is(r.code, 2);
  assert.match(r.err, /bad\.jsonl:2: micro-operation 0 of the txn: f must be one of r, w, append; got "incr"/);
});

test('models and histories that do not go together are refused by name', async () => {
  const single = write('single.jsonl', [{ process: 1, type: 'invoke', f: 'read', key: 'x', value: null }]);
  const r1 = await check('--model', 'txn', single);
  assert.is(r1.code, 2);
  assert.match(r1.err, /single\.jsonl:1: a single-key operation \(read of "x"\); --model txn checks transactions/);
  const r2 = await check(skew);
  assert.is(r2.code, 2);
  assert.match(r2.err, /write-skew\.jsonl:1: a transaction \("f": "txn"\): check transactional histories with --model txn/);
  const r3 = await check('--consistency', 'serializable', skew);
  assert.is(r3.code, 2);
  assert.match(r3.err, /--consistency is for transactional histories: add --model txn/);
  const r4 = await check('--model', 'txn', '--consistency', 'linearizable', skew);
  assert.is(r4.code, 2);
  assert.match(r4.err, /Allowed choices are strict-serializable, serializable, snapshot-isolation, read-committed/);
});

test.run();
