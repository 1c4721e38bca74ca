/**
 * Sharded runs in the lab: a shipped shard scenario passes every check, a known bug is still
 * caught with shards on (a check that cannot fail proves nothing), and bad shard settings are
 * refused with the file and the reason.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario, ScenarioError } from '../../../sim/scenario.js';
import { kvNodeOf } from '../../../sim/node-process.js';

const dir = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'shards');

function shipped(name: string) {
  const file = join(dir, `${name}.yaml`);
  return parseScenario(readFileSync(file, 'utf8'), file);
}

test('shards/partitions, cut to 3.5 s, its first split only: every check passes, and every node runs its shards', () => {
  const s = shipped('partitions');
  assert.is(s.cluster.shards, 8);
  assert.is(s.cluster.replicas, 3);
  const short = { ...s, durationNs: 3.5e9, faults: s.faults.filter((f) => f.atNs + (f.forNs ?? 0) <= 3e9) };
  assert.is(short.faults.length, 1, 'the cut run keeps the first split');
  let hosted = 0;
  const { summary } = runScenario(short, {
    seed: 1,
    outDir: null,
    inspect: (world) => {
      for (const m of world.machines.values()) hosted = Math.max(hosted, kvNodeOf(m)?.sharded?.hostedShards().length ?? 0);
    },
  });
  const failed = Object.entries(summary.checks).filter(([, c]) => c.verdict !== 'pass').map(([n, c]) => `${n}: ${c.verdict} ${c.summary}`);
  assert.equal(failed, [], failed.join('\n'));
  for (const c of ['linearizable', 'lost-writes', 'convergence', 'raft-safety', 'placement', 'leader-balance'] as const) assert.ok(c in summary.checks, `${c} ran`);
  assert.ok(hosted >= 4, `a node hosts several shards (saw at most ${hosted})`);
  assert.ok(summary.ops.ok > 200, `clients got answers (${summary.ops.ok})`);
});

test('shard settings are validated with the file and the reason', () => {
  const base = (cluster: string, extra = '') => `name: x\ndescription: x\nduration: 2s\ncluster: ${cluster}\nworkload: { clients: 1, keys: 1, mix: { read: 1 } }\n${extra}`;
  const refuses = (text: string, pattern: RegExp) => {
    try {
      parseScenario(text, 'bad.yaml');
    } catch (err) {
      assert.instance(err, ScenarioError);
      assert.match((err as Error).message, pattern);
      return;
    }
    assert.unreachable(`accepted: ${text}`);
  };
  refuses(base('{ nodes: 2, replication: raft, shards: 4, replicas: 3 }'), /bad\.yaml: cluster: replicas \(3\) is more than the 2 nodes/);
  refuses(base('{ nodes: 1, shards: 4 }'), /cluster\.shards: each shard is a Raft group; it needs replication raft/);
  refuses(base('{ nodes: 3, replication: raft }', 'checks: [placement]\n'), /checks: placement needs cluster\.shards of 2 or more/);
  refuses(base('{ nodes: 3, replication: raft, shards: 2 }', 'checks: [applied-results]\n'), /applied-results is not kept per shard yet/);
  refuses(base('{ nodes: 3, replication: raft, shards: 2 }', 'faults:\n  - { at: 1s, kind: transfer, node: n2 }\n'), /bad\.yaml:\d+: faults: transfer is not supported with cluster\.shards yet/);
  const ok = parseScenario(base('{ nodes: 3, replication: raft }'), 'ok.yaml');
  assert.is(ok.cluster.shards, 1, 'one group unless asked');
  assert.not.ok(ok.checks.includes('placement'), 'no shard checks by default without shards');
});

test.run();
