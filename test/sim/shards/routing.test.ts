/**
 * Routing on a sharded cluster, end to end in the simulator: any node's front door accepts any
 * key and reaches the key's shard leader (through a replica's `not_leader` or a non-holder's
 * referral, over the gateway's forwarding client); RANGE merges every shard; BATCHPUT splits.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_DISK_OPTIONS } from '../../../sim/disk.js';
import { kvNodeOf, NodeProcess } from '../../../sim/node-process.js';
import { createNodeFor } from '../../../sim/runner.js';
import { nodeIds, parseScenario } from '../../../sim/scenario.js';
import { NS_PER_MS } from '../../../sim/scheduler.js';
import { Trace } from '../../../sim/trace.js';
import { World } from '../../../sim/world.js';
import type { KvOp, Result } from '../../../src/node/protocol.js';

const scenario = parseScenario(
  'name: routing\ndescription: x\nduration: 1s\ncluster: { nodes: 5, replication: raft, shards: 4, replicas: 3 }\nworkload: { clients: 1, keys: 1, mix: { read: 1 } }\n',
  'routing.yaml',
);

function world(): World {
  const w: World = new World({
    seed: 'routing',
    nodeIds: nodeIds(scenario),
    net: { latency: { minMs: 0.1, meanMs: 0.5, maxMs: 5 } },
    disk: DEFAULT_DISK_OPTIONS,
    createNode: (env, m) => createNodeFor(scenario, w.net)(env, m),
    trace: new Trace(false),
  });
  w.start();
  w.sched.runUntil(2000 * NS_PER_MS);
  return w;
}

/** Runs an operation through node `id`'s gateway and the world until it is answered. */
function run(w: World, id: string, op: KvOp): Result {
  const p = w.machine(id).node as NodeProcess;
  let out: Result | null = null;
  p.frontDoor?.gateway.execute('tcp', op, '', null, (r) => (out = r));
  for (let i = 0; i < 500 && out === null; i++) w.sched.runUntil(w.nowNs + 10 * NS_PER_MS);
  assert.ok(out !== null, `${op.f} through ${id} was answered`);
  return out as Result;
}

test('writes through every node reach their shard; a range from any node returns every key in order', () => {
  const w = world();
  const map = kvNodeOf(w.machine('n1'))?.shardMap();
  assert.ok(map !== null && map !== undefined && map.shards === 4);
  const keys = Array.from({ length: 24 }, (_, i) => `key-${String(i).padStart(2, '0')}`);
  keys.forEach((k, i) => {
    const via = `n${(i % 5) + 1}`;
    const r = run(w, via, { f: 'write', key: k, value: i });
    assert.equal(r, { ok: true, value: i }, `write ${k} through ${via}`);
  });
  // Some writes went through a node that holds no replica of their shard: referred, then forwarded.
  assert.ok(keys.some((k, i) => !map.replicas(map.shardOf('', k)).includes(`n${(i % 5) + 1}`)), 'a write entered at a non-holder');
  for (const via of ['n2', 'n5']) {
    const r = run(w, via, { f: 'range', start: '', end: null, limit: 1000, reverse: false });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.ok && r.entries?.map((e) => e[0]), keys, `range through ${via}`);
  }
  const first = run(w, 'n4', { f: 'range', start: 'key-10', end: 'key-20', limit: 3, reverse: true });
  assert.equal(first.ok && first.entries, [['key-19', 19], ['key-18', 18], ['key-17', 17]]);
  for (const k of keys.slice(0, 6)) assert.equal(run(w, 'n3', { f: 'read', key: k }), { ok: true, value: keys.indexOf(k) });
});

test('a batch across shards is applied shard by shard; each replica holds only its shards\' keys', () => {
  const w = world();
  const ops = Array.from({ length: 10 }, (_, i) => ({ f: 'write' as const, key: `b${i}`, value: `v${i}` }));
  assert.equal(run(w, 'n1', { f: 'batch', ops }), { ok: true, value: 'v9' });
  for (const o of ops) assert.equal(run(w, 'n2', { f: 'read', key: o.key }), { ok: true, value: o.value });
  w.sched.runUntil(w.nowNs + 500 * NS_PER_MS);
  const map = kvNodeOf(w.machine('n1'))?.shardMap();
  assert.ok(map !== null && map !== undefined);
  let checked = 0;
  for (const m of w.machines.values()) {
    const sharded = kvNodeOf(m)?.sharded;
    assert.ok(sharded !== null && sharded !== undefined, `${m.id} runs shards`);
    assert.equal(sharded.hostedShards(), map.shardsOf(m.id));
    for (const s of sharded.hostedShards()) {
      for (const [k] of sharded.stateEntries(s)) {
        const key = k.replace(/^\x00[^\x00]*\x00/, '');
        if (!k.startsWith('\x00')) continue;
        assert.is(map.shardOf('', key), s, `${m.id} shard ${s} holds ${JSON.stringify(key)}`);
        checked++;
      }
    }
  }
  assert.is(checked, ops.length * 3, 'every key on its three replicas, and nowhere else');
  // A range without a shard, straight to a node (not through a gateway), is refused with the reason.
  const kv = kvNodeOf(w.machine('n1'));
  let refused: Result | null = null;
  kv?.submit({ kind: 'req', client: 'x', seq: 1, ackSeq: 1, db: '', op: { f: 'range', start: '', end: null, limit: 10, reverse: false } }, (r) => (refused = r));
  assert.is((refused as Result | null)?.ok, false);
  assert.match((refused as unknown as { message: string }).message, /must name its shard/);
});

test.run();
