/**
 * The gateway on a sharded cluster: a RANGE asks every shard and merges in key order; a BATCHPUT
 * is split into one atomic batch per shard. With a scripted node that answers each shard from
 * its own part of the keys, as the shards' leaders would.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ShardMap } from '../../src/cluster/placement/index.js';
import type { Clock, Timer } from '../../src/env/clock.js';
import { silentLogger } from '../../src/env/log.js';
import { Gateway, type LocalNode } from '../../src/frontdoor/gateway.js';
import { mergeBatch, mergeRanges } from '../../src/frontdoor/shard-scatter.js';
import type { NodeStatus, Reply } from '../../src/node/node.js';
import type { Request, Result, WriteOp } from '../../src/node/protocol.js';
import type { Json } from '../../src/util/json.js';
import { storageStatus } from '../../src/storage/index.js';

const clock: Clock = { monotonicNs: () => 0, monotonicMs: () => 0, wallMs: () => 0, timer: (): Timer => ({ cancel() {} }), defer: (fn) => fn() };
const map = ShardMap.build(['n1', 'n2', 'n3'], { shards: 4, replicas: 3 });

class ShardedNode implements LocalNode {
  readonly data = new Map<string, Json>();
  readonly seen: Request[] = [];
  failShard: number | null = null;
  shardMap(): ShardMap {
    return map;
  }
  status(): NodeStatus {
    return { id: 'n1', replication: 'raft', engine: 'memory', role: 'leader', term: 1, leader: null, members: ['n1', 'n2', 'n3'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
  submit(req: Request, reply: Reply): void {
    this.seen.push(req);
    const op = req.op;
    if (op.f === 'range') {
      const shard = req.shard as number;
      const keys = [...this.data.keys()].filter((k) => map.shardOf(req.db, k) === shard && k >= op.start && (op.end === null || k < op.end)).sort();
      if (op.reverse) keys.reverse();
      const entries = keys.slice(0, op.limit).map((k) => [k, this.data.get(k) as Json] as [string, Json]);
      reply({ ok: true, value: entries.length, entries });
    } else if (op.f === 'batch') {
      const shards = new Set(op.ops.map((o) => map.shardOf(req.db, o.key)));
      assert.is(shards.size, 1, 'each part lies in one shard');
      if (shards.has(this.failShard ?? -1)) return reply({ ok: false, code: 'cas_mismatch', message: 'no' });
      for (const o of op.ops) if (o.f === 'write') this.data.set(o.key, o.value);
      reply({ ok: true, value: (op.ops.at(-1) as { value: Json }).value });
    } else reply({ ok: false, code: 'bad_request', message: 'not scripted' });
  }
}

function gateway(node: ShardedNode): Gateway {
  return new Gateway({ node, clientId: 'gw', forward: null, clock, log: silentLogger, authEnabled: false });
}

const run = (g: Gateway, op: Parameters<Gateway['run']>[1]) => g.run('tcp', op, '', null);

test('RANGE asks every shard and merges in key order, cut to the limit', async () => {
  const node = new ShardedNode();
  for (let i = 0; i < 40; i++) node.data.set(`k${String(i).padStart(2, '0')}`, i);
  const shardsHit = new Set([...node.data.keys()].map((k) => map.shardOf('', k)));
  assert.ok(shardsHit.size > 1, 'the keys lie in several shards');
  const g = gateway(node);
  const r = await run(g, { f: 'range', start: 'k05', end: 'k30', limit: 10, reverse: false });
  assert.ok(r.ok);
  assert.equal(r.ok && r.entries?.map((e) => e[0]), ['k05', 'k06', 'k07', 'k08', 'k09', 'k10', 'k11', 'k12', 'k13', 'k14']);
  assert.equal(node.seen.map((q) => q.shard).sort(), [0, 1, 2, 3], 'one request per shard');
  const back = await run(g, { f: 'range', start: '', end: null, limit: 3, reverse: true });
  assert.equal(back.ok && back.entries?.map((e) => e[0]), ['k39', 'k38', 'k37']);
});

test('BATCHPUT: one atomic batch per shard; all applied answers the last op; a partial failure says so', async () => {
  const node = new ShardedNode();
  const g = gateway(node);
  const ops: WriteOp[] = Array.from({ length: 12 }, (_, i) => ({ f: 'write', key: `b${i}`, value: i }));
  const r = await run(g, { f: 'batch', ops });
  assert.equal(r, { ok: true, value: 11 });
  assert.is(node.data.size, 12);
  const parts = node.seen.filter((q) => q.op.f === 'batch');
  assert.is(parts.length, new Set(ops.map((o) => map.shardOf('', o.key))).size);
  node.failShard = map.shardOf('', 'b0');
  const partial = await run(g, { f: 'batch', ops });
  assert.is(!partial.ok && partial.code, 'internal');
  assert.match(!partial.ok ? partial.message : '', /atomic only within each/);
});

test('mergeRanges: a part cut short by its byte bound stops the merged answer there (forwards and backwards)', () => {
  const op = { f: 'range' as const, start: '', end: null, limit: 100, reverse: false };
  const r = mergeRanges(op, [
    { ok: true, value: 2, entries: [['a', 1], ['m', 2]], next: 'p' },
    { ok: true, value: 3, entries: [['b', 1], ['q', 2], ['z', 3]] },
  ]);
  assert.equal(r, { ok: true, value: 3, entries: [['a', 1], ['b', 1], ['m', 2]], next: 'p' });
  const rev = mergeRanges({ ...op, reverse: true }, [
    { ok: true, value: 2, entries: [['z', 1], ['m', 2]], next: 'm' },
    { ok: true, value: 3, entries: [['y', 1], ['c', 2]] },
  ]);
  assert.equal(rev, { ok: true, value: 3, entries: [['z', 1], ['y', 1], ['m', 2]], next: 'm' });
  const refused: Result = { ok: false, code: 'not_leader', message: 'x' };
  assert.equal(mergeRanges(op, [{ ok: true, value: 0, entries: [] }, refused]), refused);
});

test('mergeBatch: every part failed is the earliest failure, unchanged', () => {
  const a: Result = { ok: false, code: 'cas_mismatch', message: 'a' };
  const b: Result = { ok: false, code: 'unavailable', message: 'b' };
  assert.equal(mergeBatch([{ shard: 1, lastIndex: 5, result: b }, { shard: 0, lastIndex: 2, result: a }]), a);
});

test.run();
