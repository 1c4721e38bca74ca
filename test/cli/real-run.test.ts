import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// kv-lab run --real: the lab against real processes. The test: three nodes, kill -9 of
// the leader under load, zero acknowledged writes lost, linearizable.

const root = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'kv-lab-real-'));

function kvLab(...args: string[]) {
  return kvLabEnv({}, ...args);
}

function kvLabEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const R = suite('kv-lab run --real');

R('three real nodes, the leader killed with kill -9 under load: nothing acknowledged lost, linearizable', () => {
  const r = kvLab('run', 'scenarios/real/kill-leader.yaml', '--real', '--json', '--out', tmp);
  assert.is(r.code, 0, r.out + r.err);
  const s = JSON.parse(r.out);
  assert.ok(s.real);
  assert.is(s.faultsApplied, 3);
  assert.ok(s.ops.ok > 100, `only ${s.ops.ok} operations succeeded`);
  assert.is(s.checks['lost-writes'].verdict, 'pass');
  assert.is(s.checks.linearizable.verdict, 'pass');
  assert.is(s.checks.liveness.verdict, 'pass');
  // The kills really happened: each killed leader started again from its disk.
  const logs = ['n1', 'n2', 'n3'].map((n) => readFileSync(join(tmp, 'real-kill-leader', '1', 'cluster', 'logs', `${n}.log`), 'utf8'));
  const starts = logs.map((l) => l.split('\n').filter((x) => x.includes('"node.start"')).length);
  assert.ok(starts.reduce((a, b) => a + b, 0) >= 5, `node starts ${starts.join(', ')}: two kills should add two restarts`);
  const history = readFileSync(join(tmp, 'real-kill-leader', '1', 'history.jsonl'), 'utf8').trim().split('\n');
  assert.is(history.length, s.ops.invoked * 2);
});

R('faults only the simulator can make are refused, naming the line', () => {
  const file = join(tmp, 'skew.yaml');
  writeFileSync(file, 'name: skew\ndescription: x\nduration: 2s\ncluster: { nodes: 3, replication: raft }\nworkload: {}\nfaults:\n  - { at: 1s, kind: clock, node: n1, skew: 5s }\n');
  const r = kvLab('run', file, '--real');
  assert.is(r.code, 2);
  assert.match(r.err, /skew\.yaml:7: clock needs the simulator/);
});

// Before: exit 70, "internal error (a bug; please report it …)", a stack trace, and "see
// <dir>/logs/n1.log" naming a directory --no-out had already removed.
R('a real node that does not start in time: one clear message with its log, exit 4, no stack trace', () => {
  const r = kvLabEnv({ KV_LAB_REAL_START_TIMEOUT_MS: '1' }, 'run', 'scenarios/real/kill-leader.yaml', '--real', '--no-out');
  assert.is(r.code, 4, r.out + r.err);
  assert.match(r.err, /^kv-lab: node n1 did not become healthy within 0\.001 s \(a machine too busy, or a node stuck\); its log ended:\n {4}\S/);
  assert.not.match(r.err, /internal error|\n\s+at /);
  const bad = kvLabEnv({ KV_LAB_REAL_START_TIMEOUT_MS: 'soon' }, 'run', 'scenarios/real/kill-leader.yaml', '--real', '--no-out');
  assert.is(bad.code, 2);
  assert.match(bad.err, /KV_LAB_REAL_START_TIMEOUT_MS expects milliseconds \(an integer\), got "soon"/);
});

R.run();
