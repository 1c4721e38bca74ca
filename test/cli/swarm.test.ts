import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario } from '../../sim/scenario.js';
import { runInProcess } from './in-process.js';

/**
 * kv-lab swarm, report merge, shrink and --explore as a user types them (one process each): worker
 * threads give the runs one thread gives, shards merged equal the whole, an explored seed replays
 * from the knobs it recorded, and a shrunk run still fails the same check. One-second scenarios.
 */
const root = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'kv-lab-swarm-cli-'));

function kvLab(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'kv-lab.js'), ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, KV_LAB_FROM_SOURCE: '1', NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const S = suite('kv-lab swarm, report merge, shrink, --explore');

mkdirSync(join(tmp, 's'));
const AMNESIA = `name: tiny-amnesia
description: an in-memory node crashes and comes back empty
duration: 1s
cluster: { nodes: 1, engine: memory }
workload: { clients: 2, keys: 2, mix: { read: 50, write: 50 } }
faults:
  - { at: 300ms, kind: pause, node: n1, for: 100ms }
  - { at: 500ms, kind: loss, probability: 0.1, for: 100ms }
  - { at: 600ms, kind: crash, node: n1 }
  - { at: 700ms, kind: duplicate, probability: 0.1, for: 100ms }
`;
writeFileSync(join(tmp, 's', 'amnesia.yaml'), AMNESIA);
writeFileSync(join(tmp, 'copy.yaml'), AMNESIA);
writeFileSync(join(tmp, 's', 'raft.yaml'), `name: tiny-raft
description: three Raft nodes, the leader crashes
duration: 1s
cluster: { nodes: 3, replication: raft }
workload: { clients: 2, keys: 2 }
faults:
  - { at: 300ms, for: 300ms, kind: crash, node: leader }
`);
// Leaves every knob open but the duration and the workload: --explore chooses them.
writeFileSync(join(tmp, 'open.yaml'), `name: tiny-open
description: Raft with every knob left open
duration: 1s
cluster: { replication: raft }
workload: { clients: 2, keys: 2 }
`);

const summaryOf = (dir: string) => JSON.parse(readFileSync(join(tmp, dir, 'summary.json'), 'utf8'));

S('on worker threads, the same runs as on one thread; a failing run exits 1 and says how to reproduce it', () => {
  const two = kvLab('swarm', 's', '--seeds', '1..3', '--jobs', '2', '--out', 'two');
  assert.is(two.code, 1, two.out + two.err);
  assert.match(two.out, /FAIL {2}s\/amnesia\.yaml {2}0\/3 seeds passed\n {8}npx kv-lab run s\/amnesia\.yaml --seed 1 {4}# linearizable, lost-writes/);
  assert.match(two.out, /pass {2}s\/raft\.yaml {5}3\/3 seeds passed/);
  assert.match(two.out, /6 runs in [0-9.]+ s on 2 job\(s\): 3 passed, 3 failed\nswarm digest [0-9a-f]{64}\nwritten to two\/ \(summary\.json, summary\.md, junit\.xml, index\.html, runs\/\)/);
  // Not a terminal: plain progress lines on stderr, no bar redrawn in place.
  assert.match(two.err, /^swarm: 6 run\(s\): 2 scenario\(s\) × seeds 1\.\.3 on 2 job\(s\)\n/);
  assert.not.match(two.err, /\r/);
  const one = kvLab('swarm', 's', '--seeds', '1..3', '--jobs', '1', '--out', 'one');
  assert.is(one.code, 1);
  assert.is(readFileSync(join(tmp, 'two', 'summary.json'), 'utf8'), readFileSync(join(tmp, 'one', 'summary.json'), 'utf8'));
  for (const f of ['summary.md', 'junit.xml', 'index.html', 'timings.json', 'runs/tiny-amnesia/2/report.html']) assert.ok(existsSync(join(tmp, 'two', f)), f);
});

S('--shard 1/2 and 2/2, merged, equal the unsharded swarm', () => {
  const a = kvLab('swarm', 's', '--seeds', '1..3', '--jobs', '1', '--shard', '1/2', '--out', 'shard-1');
  const b = kvLab('swarm', 's', '--seeds', '1..3', '--jobs', '1', '--shard', '2/2', '--out', 'shard-2');
  assert.match(a.out, /3 runs in .*\(shard 1\/2\)/);
  assert.is(a.code, 1);
  assert.is(b.code, 1);
  const m = kvLab('report', 'merge', 'shard-2', 'shard-1', '--out', 'merged');
  assert.is(m.code, 1, m.out + m.err);
  assert.is(readFileSync(join(tmp, 'merged', 'summary.json'), 'utf8'), readFileSync(join(tmp, 'one', 'summary.json'), 'utf8'));
  const digest = (out: string) => /swarm digest ([0-9a-f]{64})/.exec(out)?.[1];
  assert.is(digest(m.out), summaryOf('one').digest);
  assert.ok(existsSync(join(tmp, 'merged', 'runs', 'tiny-amnesia', '3', 'report.html')));
  assert.match(readFileSync(join(tmp, 'merged', 'summary.md'), 'utf8'), /2 shards merged/);
});

S('bad input: exit 2 and a sentence saying what and where', async () => {
  const cases: [string[], RegExp][] = [
    [['swarm', 's', '--seeds', '3..1'], /kv-lab: --seeds 3\.\.1 is an empty range/],
    [['swarm', 's', '--shard', '3/2'], /kv-lab: --shard 3\/2: i must be between 1 and n/],
    [['swarm', 'nope.yaml'], /kv-lab: no such scenario file or directory: nope\.yaml/],
    [['swarm', 's', '--jobs', 'many'], /kv-lab: --jobs expects auto or a number from 1 to 256, got "many"/],
    [['swarm', 's', '--out', 's'], /kv-lab: --out s holds other files \(amnesia\.yaml, raft\.yaml\)/],
    [['report', 'merge', 'shard-1', '--out', 'x'], /kv-lab: missing shard\(s\) 2\/2/],
    [['swarm', 's/amnesia.yaml', 'copy.yaml'], /kv-lab: s\/amnesia\.yaml and copy\.yaml both name their scenario tiny-amnesia: their failing runs' folders would collide/],
    [['report', 'merge', 's'], /kv-lab: s: no summary\.json here/],
    [['shrink', 's/amnesia.yaml'], /kv-lab: give the failing seed: kv-lab shrink <scenario\.yaml> --seed S/],
  ];
  // In this process (a command costs milliseconds, not a process start), from the same folder.
  const cwd = process.cwd();
  process.chdir(tmp);
  try {
    for (const [args, re] of cases) {
      const r = await runInProcess(args);
      assert.is(r.code, 2, `${args.join(' ')}\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.not.match(r.stderr, /\n {4}at /, 'no stack trace');
    }
  } finally {
    process.chdir(cwd);
  }
});

S('--explore: each seed chooses the open knobs, records them, and replays from them exactly', () => {
  const r = kvLab('swarm', 'open.yaml', '--seeds', '1..3', '--jobs', '1', '--explore', '--out', 'explore');
  assert.ok(r.code === 0 || r.code === 1, r.err);
  const runs = summaryOf('explore').results as { seed: number; digest: string; explored: Record<string, unknown>; reproduce: string }[];
  assert.is(runs.length, 3);
  for (const run of runs) {
    assert.ok(run.explored !== undefined && 'latency' in run.explored && 'faults' in run.explored && 'raft' in run.explored, JSON.stringify(run.explored));
    assert.is(run.reproduce, `npx kv-lab run open.yaml --seed ${run.seed} --explore`);
  }
  assert.is(new Set(runs.map((x) => JSON.stringify(x.explored))).size, 3, 'each seed its own choice');
  // The reproduce command gives the same run: the same knobs and the same digest.
  const again = kvLab('run', 'open.yaml', '--seed', '2', '--explore', '--json', '--no-out');
  const s = JSON.parse(again.out);
  assert.equal(s.explored, runs[1]?.explored);
  assert.is(s.digest, runs[1]?.digest);
  // Without --explore the file's own defaults run: another run.
  const plain = JSON.parse(kvLab('run', 'open.yaml', '--seed', '2', '--json', '--no-out').out);
  assert.is(plain.explored, undefined);
  assert.is.not(plain.digest, runs[1]?.digest);
});

S('shrink a failing run\'s folder: minimal.yaml, smaller, still failing the same check', () => {
  const r = kvLab('shrink', join('two', 'runs', 'tiny-amnesia', '1'), '--runs', '120');
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /^tiny-amnesia seed 1: (linearizable|lost-writes) still fails with 4 faults → [0-3], 1s → \d+ms, 2 clients → 1, 2 keys → 1, [\d,]+ ops → \d+\n/);
  const check = /seed 1: (\S+) still fails/.exec(r.out)?.[1] as string;
  const minimal = join('two', 'runs', 'tiny-amnesia', '1', 'minimal.yaml');
  assert.match(r.out, new RegExp(`written to ${minimal.replace(/\./g, '\\.')}\n {2}reproduce: npx kv-lab run ${minimal.replace(/\./g, '\\.')}\n`));
  const text = readFileSync(join(tmp, minimal), 'utf8');
  const s = parseScenario(text, minimal);
  assert.ok(s.faults.length < 4 && s.durationNs < 1e9 && s.workload.clients === 1, text);
  assert.is(s.name, 'tiny-amnesia-minimal');
  const run = kvLab('run', minimal, '--no-out');
  assert.is(run.code, 1);
  assert.match(run.out, new RegExp(`${check} +FAIL`));
  // A run that fails nothing has nothing to shrink.
  const pass = kvLab('shrink', 's/raft.yaml', '--seed', '1');
  assert.is(pass.code, 1);
  assert.match(pass.err, /s\/raft\.yaml seed 1 fails no check: nothing to shrink/);
});

S.run();
