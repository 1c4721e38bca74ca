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
  assert.match(r.out, /good\.jsonl: linearizable \(2 operations on 1 key\)/);
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

test('the verdict comes first, the explanation after; --json has verdictMs beside ms; --no-explain skips explaining', () => {
  const r = run(stale);
  const verdictAt = r.out.indexOf('NOT linearizable (3 operations on 1 key) — verdict in');
  assert.ok(verdictAt >= 0, r.out);
  assert.ok(verdictAt < r.out.indexOf('These 3 operations'), 'the verdict line precedes the explanation');
  assert.match(r.out, /checked in \d+ ms \(verdict in \d+ ms\)/);
  const json = JSON.parse(run(stale, '--json').out) as Record<string, unknown>;
  assert.is(typeof json.verdictMs, 'number');
  assert.ok((json.ms as number) >= (json.verdictMs as number));
  assert.ok((json.explaining as { steps: number }).steps > 0);
  const quiet = run(stale, '--no-explain');
  assert.is(quiet.code, 1);
  assert.not.match(quiet.out, /These 3 operations/);
  assert.match(quiet.out, /not explained: explanations are off/);
  assert.is(run(stale, '--explain-budget', '0').code, 2);
  assert.is(run(stale, '--jobs', 'many').code, 2);
});

test('a directory of Jepsen etcd text logs gives the same verdicts as their JSON Lines conversion', () => {
  const fixtures = join(import.meta.dirname, '..', 'check', 'fixtures', 'jepsen-etcd');
  const verdicts = (sub: string): string[] => {
    // One worker thread: from sources each one boots its own TypeScript loader, which is most of the time here.
    const r = run(join(fixtures, sub), '--json', '--no-explain', '--jobs', '1');
    return r.out.trim().split('\n').map((l) => JSON.parse(l) as { file: string; verdict: string })
      .map((l) => `${l.file.replace(/.*\//, '').replace(/\.\w+$/, '')} ${l.verdict}`);
  };
  const logs = verdicts('log');
  assert.is(logs.length, 6);
  assert.equal(logs, verdicts('jsonl'));
  assert.ok(logs.some((l) => l.endsWith(' ok')) && logs.some((l) => l.endsWith(' violation')), logs.join(', '));
  const edn = run(join(fixtures, 'edn'), '--json', '--no-explain', '--jobs', '1');
  assert.is(edn.code, 1);
});

test('--format names the format; a file that is not in it is bad input with file and line', () => {
  const r = run(good, '--format', 'jepsen-log');
  assert.is(r.code, 2);
  assert.match(r.err, /good\.jsonl:1: no operation lines/);
  const e = run(good, '--format', 'edn');
  assert.is(e.code, 2);
  assert.match(e.err, /good\.jsonl:1: not valid EDN/);
  assert.is(run(good, '--format', 'yaml').code, 2);
});

test('--html on a linearizable history draws its timeline', () => {
  const html = join(dir, 'good.html');
  assert.is(run(good, '--html', html).code, 0);
  const page = readFileSync(html, 'utf8');
  assert.is(page.match(/<g class="op ok"/g)?.length, 2);
});

test('--model register refuses a delete naming its line', () => {
  const del = write('del.jsonl', jsonl('p1 invoke delete\np1 ok delete'));
  const r = run(del, '--model', 'register');
  assert.is(r.code, 2);
  assert.match(r.err, /del\.jsonl:1: delete is not an operation of a register/);
});

test.run();
