/** `kv-lab check` end to end: a child process on real files, exit codes and outputs. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { script } from '../check/script.js';

const dir = mkdtempSync(join(tmpdir(), 'kv-lab-check-'));
const write = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const jsonl = (text: string): string => script(text).map((e) => JSON.stringify(e)).join('\n') + '\n';

const good = write('good.jsonl', jsonl('p1 invoke write 1\np1 ok write\np2 invoke read\np2 ok read 1'));
const stale = write('stale.jsonl', jsonl('p1 invoke write 1\np1 ok write\np1 invoke write 2\np1 ok write\np2 invoke read\np2 ok read 1'));
const busy = write('busy.jsonl', jsonl('p1 invoke write 1\np1 invoke read'));
const broken = write('broken.jsonl', '{"process": 1, "type": "invoke", "f": "read", "key": "x", "value": null}\n{"process": 1,\n');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/check-main.ts', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a linearizable file exits 0', () => {
  const r = run(good);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /good\.jsonl: linearizable \(2 operations on 1 keys\)/);
});

test('a violation exits 1 and explains it', () => {
  const r = run(stale);
  assert.is(r.code, 1);
  assert.match(r.out, /NOT linearizable/);
  assert.match(r.out, /These 3 operations cannot be put in any order/);
});

test('bad input exits 2 with file:line and what was wrong, no stack trace', () => {
  const a = run(busy);
  assert.is(a.code, 2);
  assert.match(a.err, /busy\.jsonl:2: process 1 invokes read while its write invoked at line 1 is still open/);
  const b = run(broken);
  assert.is(b.code, 2);
  assert.match(b.err, /broken\.jsonl:2: not valid JSON/);
  assert.not.match(a.err + b.err, /\n\s+at /);
  assert.is(run(join(dir, 'missing.jsonl')).code, 2);
  assert.is(run(good, '--timeout', 'soon').code, 2);
});

test('--json prints one object per file; several files give the worst exit code', () => {
  const r = run(good, stale, broken, '--json');
  assert.is(r.code, 1);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.map((l) => l.verdict), ['ok', 'violation', 'invalid']);
  const failing = (lines[1]?.failingKeys as { key: string; explanation: { ops: unknown[]; minimal: boolean } }[])[0];
  assert.is(failing?.key, 'x');
  assert.is(failing?.explanation.ops.length, 3);
  assert.ok(failing?.explanation.minimal);
  assert.is(typeof lines[0]?.ms, 'number');
  assert.is(run(good, broken).code, 2);
});

test('a directory is checked file by file, --html writes one page', () => {
  const html = join(dir, 'out.html');
  const r = run(dir, '--html', html);
  assert.is(r.code, 1);
  for (const name of ['good', 'stale']) assert.match(r.out, new RegExp(`${name}\\.jsonl`));
  const page = readFileSync(html, 'utf8');
  assert.match(page, /<svg/);
  assert.match(page, /class="op violating"/);
});

test('--model register refuses a delete naming its line', () => {
  const del = write('del.jsonl', jsonl('p1 invoke delete\np1 ok delete'));
  const r = run(del, '--model', 'register');
  assert.is(r.code, 2);
  assert.match(r.err, /del\.jsonl:1: delete is not an operation of a register/);
});

test.run();
