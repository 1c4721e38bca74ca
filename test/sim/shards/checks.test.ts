/**
 * The shard checks can fail (a check that cannot fail proves nothing): `placement` names a shard
 * whose replica is down, `leader-balance` a cluster whose shards lost their leaders, and both pass
 * on the healthy cluster a moment before.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_DISK_OPTIONS } from '../../../sim/disk.js';
import { kvNodeOf } from '../../../sim/node-process.js';
import { createNodeFor } from '../../../sim/runner.js';
import { nodeIds, parseScenario } from '../../../sim/scenario.js';
import { NS_PER_MS } from '../../../sim/scheduler.js';
import { leaderBalanceVerdict, placementVerdict, shardMapOf } from '../../../sim/shards/checks.js';
import { Trace } from '../../../sim/trace.js';
import { World } from '../../../sim/world.js';

const scenario = parseScenario(
  'name: checks\ndescription: x\nduration: 1s\ncluster: { nodes: 5, replication: raft, shards: 6, replicas: 3 }\nworkload: { clients: 1, keys: 1, mix: { read: 1 } }\n',
  'checks.yaml',
);

function world(): World {
  const w: World = new World({
    seed: 'checks',
    nodeIds: nodeIds(scenario),
    net: { latency: { minMs: 0.1, meanMs: 0.5, maxMs: 5 } },
    disk: DEFAULT_DISK_OPTIONS,
    createNode: (env, m) => createNodeFor(scenario, w.net)(env, m),
    trace: new Trace(false),
  });
  w.start();
  return w;
}

test('placement: passes on the healthy cluster, fails naming a shard whose replica is down', () => {
  const w = world();
  const ok = placementVerdict(w, scenario, w.nowNs + 3000 * NS_PER_MS);
  assert.is(ok.verdict, 'pass', ok.summary);
  w.crash('n2');
  const bad = placementVerdict(w, scenario, w.nowNs + 500 * NS_PER_MS);
  assert.is(bad.verdict, 'fail');
  const held = shardMapOf(scenario).shardsOf('n2');
  assert.ok(held.length > 0);
  assert.match(bad.summary, new RegExp(`${held.length} shard\\(s\\) are not placed`));
  assert.match(bad.summary, new RegExp(`shard ${held[0]}: replicas running on [^\\n]*the ring's owners are [^\\n]*n2`));
});

test('leader-balance: passes once leaders settle, fails when shards have no leader', () => {
  const w = world();
  const ok = leaderBalanceVerdict(w, scenario, w.nowNs + 3000 * NS_PER_MS);
  assert.is(ok.verdict, 'pass', ok.summary);
  assert.match(ok.summary, /at most ⌈6\/5⌉ \+ 1 = 3/);
  // Given a few balancing rounds on a calm cluster, every shard is led by its preferred leader.
  w.sched.runUntil(w.nowNs + 4000 * NS_PER_MS);
  const map = shardMapOf(scenario);
  for (let shard = 0; shard < map.shards; shard++) {
    const leaders = [...w.machines.values()].filter((m) => kvNodeOf(m)?.sharded?.group(shard)?.raftNode?.softState().role === 'leader').map((m) => m.id);
    assert.equal(leaders, [map.preferredLeader(shard)], `shard ${shard}`);
  }
  for (const id of ['n1', 'n2', 'n3']) w.crash(id);
  w.sched.runUntil(w.nowNs + 1000 * NS_PER_MS);
  const bad = leaderBalanceVerdict(w, scenario, w.nowNs + 500 * NS_PER_MS);
  assert.is(bad.verdict, 'fail');
  assert.match(bad.summary, /shard\(s\) without a leader/);
});

test.run();
