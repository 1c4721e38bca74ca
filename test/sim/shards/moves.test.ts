/**
 * Shards that move, in the lab: a node joins and receives its replicas (created by moves, marked
 * on its disk so that a restart starts them again), the nodes that gave them up deleted theirs,
 * and every check passes; the new faults are refused where they cannot work.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kvNodeOf } from '../../../sim/node-process.js';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario, ScenarioError } from '../../../sim/scenario.js';
import { finalShardMap, shardMapOf } from '../../../sim/shards/checks.js';
import type { World } from '../../../sim/world.js';
import { validateRequest } from '../../../src/node/protocol.js';

const join = parseScenario(
  `name: join-short
description: n5 joins four nodes of 6 shards.
duration: 3s
cluster: { nodes: 5, voters: 4, engine: memory, replication: raft, shards: 6, replicas: 3 }
workload: { clients: 3, keys: 8, rate: 150, mix: { read: 50, write: 30, cas: 10, append: 10 }, timeout: 1s, protocol: line }
faults:
  - { at: 800ms, kind: join, node: n5 }
`,
  'join-short.yaml',
);

test('a join: the new node holds its share, created by moves and marked on its disk; the others deleted what they gave up', () => {
  let seen: World | null = null;
  const { summary } = runScenario(join, { seed: 1, outDir: null, inspect: (w) => (seen = w) });
  const failed = Object.entries(summary.checks).filter(([, c]) => c.verdict !== 'pass').map(([n, c]) => `${n}: ${c.verdict} ${c.summary}`);
  assert.equal(failed, [], failed.join('\n'));
  const w = seen as unknown as World;
  const first = shardMapOf(join);
  const last = finalShardMap(w, join);
  assert.equal([...last.nodes], ['n1', 'n2', 'n3', 'n4', 'n5']);
  const n5 = kvNodeOf(w.machine('n5'))?.sharded;
  assert.ok(n5 !== null && n5 !== undefined);
  assert.ok(last.shardsOf('n5').length > 0, 'the new placement gives n5 replicas');
  assert.equal(n5.hostedShards(), last.shardsOf('n5'));
  for (const shard of last.shardsOf('n5')) assert.ok(w.machine('n5').disk.view(w.machine('n5').owner).exists(`shards/${shard}.joined`), `shard ${shard} is marked joined on n5`);
  let gaveUp = 0;
  for (const id of ['n1', 'n2', 'n3', 'n4']) {
    const m = w.machine(id);
    for (const shard of first.shardsOf(id)) {
      if (last.replicas(shard).includes(id)) continue;
      gaveUp++;
      assert.not.ok(kvNodeOf(m)?.sharded?.hostedShards().includes(shard), `${id} no longer runs shard ${shard}`);
      assert.ok(m.disk.view(m.owner).exists(`shards/${shard}.removed`), `${id} marked shard ${shard} removed`);
    }
  }
  assert.ok(gaveUp > 0, 'some replicas moved off the first owners');
  assert.match(summary.checks.moves?.summary ?? '', /no shard ever had fewer than 3 voters; \d+ replica\(s\) created by moves/);
});

test('moves are deterministic: the same seed gives the same run, bit for bit, destroy and join included', () => {
  const s = { ...join, faults: [...join.faults, { atNs: 1.6e9, kind: 'destroy' as const, node: 'n2', line: 0 }] };
  const a = runScenario(s, { seed: 7, outDir: null, skipChecks: true });
  const b = runScenario(s, { seed: 7, outDir: null, skipChecks: true });
  assert.is(a.summary.digest, b.summary.digest);
  assert.is(JSON.stringify(a.history), JSON.stringify(b.history));
  assert.is(a.summary.faultsApplied, 2);
});

test('the member set is written by nodes only: a client\'s placement.set is refused', () => {
  const problem = validateRequest({ kind: 'req', client: 'c', seq: 1, ackSeq: 1, db: '', op: { f: 'placement.set', epoch: 9, members: ['evil'] } });
  assert.ok(problem !== null && /\.f must be one of/.test(problem), String(problem));
});

test('destroy needs shards; join with shards is accepted, with spares', () => {
  const base = (cluster: string, faults: string) => `name: x\ndescription: x\nduration: 2s\ncluster: ${cluster}\nworkload: { clients: 1, keys: 1, mix: { read: 1 } }\nfaults:\n${faults}`;
  try {
    parseScenario(base('{ nodes: 3, replication: raft }', '  - { at: 1s, kind: destroy, node: n2 }\n'), 'bad.yaml');
    assert.unreachable('destroy without shards was accepted');
  } catch (err) {
    assert.instance(err, ScenarioError);
    assert.match((err as Error).message, /bad\.yaml:\d+: faults: destroy loses a node for good; only a sharded cluster/);
  }
  const ok = parseScenario(base('{ nodes: 4, voters: 3, replication: raft, shards: 4 }', '  - { at: 1s, kind: join, node: n4 }\n  - { at: 1500ms, kind: destroy, node: n1 }\n'), 'ok.yaml');
  assert.ok(ok.checks.includes('moves'), 'the moves check is on by default with shards');
  assert.throws(() => parseScenario(base('{ nodes: 4, voters: 3, replication: raft, shards: 4 }', '  - { at: 1s, for: 1s, kind: destroy, node: n1 }\n'), 'for.yaml'), /a destroy fault cannot be undone with for:/);
});

test.run();
