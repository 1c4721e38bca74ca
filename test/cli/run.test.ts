import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

function kvLab(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'kv-lab-run-'));
const R = suite('kv-lab run');

R('the quickstart passes, prints its summary and writes its reports', () => {
  const out = join(tmp, 'reports');
  const r = kvLab('run', 'scenarios/quickstart.yaml', '--out', out);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /quickstart {2}seed 1 {2}PASS/);
  assert.match(r.out, /digest [0-9a-f]{64}/);
  for (const f of ['summary.json', 'history.jsonl', 'trace.jsonl']) assert.ok(existsSync(join(out, 'quickstart', '1', f)), f);
  const summary = JSON.parse(readFileSync(join(out, 'quickstart', '1', 'summary.json'), 'utf8'));
  const history = readFileSync(join(out, 'quickstart', '1', 'history.jsonl'), 'utf8').trim().split('\n');
  assert.is(history.length, summary.ops.invoked * 2);
});

R('--json prints one object; the same seed twice gives the same digest', () => {
  const a = kvLab('run', 'scenarios/quickstart.yaml', '--seed', '3', '--no-out', '--json');
  const b = kvLab('run', 'scenarios/quickstart.yaml', '--seed', '3', '--no-out', '--json');
  assert.is(a.code, 0);
  const sa = JSON.parse(a.out);
  assert.is(sa.seed, 3);
  assert.is(sa.digest, JSON.parse(b.out).digest);
  assert.ok(sa.events > 0 && sa.ops.invoked > 0);
});

R('a failing check exits 1 and prints the command that reproduces it', () => {
  const file = join(tmp, 'lossy.yaml');
  const crash = readFileSync(join(root, 'scenarios/crash.yaml'), 'utf8').replace(/expect:\n(\s+.*\n)*/, '');
  writeFileSync(file, crash);
  const r = kvLab('run', file, '--no-out');
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.out, /lost-writes +FAIL/);
  assert.match(r.out, /acknowledged write\(s\) lost/);
  assert.match(r.out, new RegExp(`reproduce: npx kv-lab run ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --seed 1`));
});

R('--seeds runs a range and counts the passes', () => {
  const r = kvLab('run', 'scenarios/quickstart.yaml', '--seeds', '1..3', '--no-out');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /3 of 3 seeds passed/);
});

R('bad input exits 2 with a clear message and no stack trace', () => {
  const missing = kvLab('run', 'scenarios/nope.yaml');
  assert.is(missing.code, 2);
  assert.match(missing.err, /no such scenario file: scenarios\/nope\.yaml/);
  const bad = join(tmp, 'bad.yaml');
  writeFileSync(bad, 'name: Bad Name\ndescription: x\nduration: 1s\ncluster: {}\nworkload: { clients: -1 }\n');
  const r = kvLab('run', bad);
  assert.is(r.code, 2);
  assert.match(r.err, /bad\.yaml:1:7: name: expected lowercase letters, digits and dashes/);
  assert.match(r.err, /workload\.clients: must be at least 1/);
  for (const e of [missing.err, r.err]) assert.not.match(e, /\n\s+at /, 'no stack trace');
  assert.is(kvLab('run', 'scenarios/quickstart.yaml', '--seed', 'x').code, 2);
  assert.is(kvLab('run', 'scenarios/quickstart.yaml', '--seeds', '5..1').code, 2);
  assert.is(kvLab('run').code, 2);
  assert.is(kvLab('frobnicate').code, 2);
});

R.run();
