import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvClient, type Outcome } from '../../src/client/client.js';
import { ShardKeyspace, ShardMap } from '../../src/cluster/placement/shard-map.js';
import { decodeMessage, encodeMessage, type Request, type Result } from '../../src/node/protocol.js';
import type { Clock, Timer } from '../../src/env/clock.js';
import type { Net, ReceiveHandler } from '../../src/env/net.js';

// KvClient's routing table on a sharded cluster: the first not_leader teaches it the shard count
// and that shard's leader; later requests for keys of a known shard go straight to its leader,
// keys of other shards to any node (which refers them on), and an attempt that goes unanswered
// drops the entry. A cluster of one group never names shards, and the client behaves as before.

/** Three nodes of 8 shards as a scripted cluster: each answers for the shards it leads, refers the rest. */
function cluster(shards: number, leaderOf: (shard: number) => string, silent: Set<string> = new Set()) {
  const keyspace = new ShardKeyspace(shards);
  const sent: { to: string; req: Request }[] = [];
  let deliver: ReceiveHandler = () => {};
  const timers: { ms: number; fire: () => void; live: () => boolean }[] = [];
  const net: Net = {
    self: 'c1',
    send: (to, frame) => {
      const req = decodeMessage(frame) as unknown as Request;
      sent.push({ to, req });
      if (silent.has(to)) return;
      const key = (req.op as { key?: string }).key as string;
      const shard = keyspace.shardOf(req.db, key);
      const leader = leaderOf(shard);
      const result: Result = leader === to ? { ok: true, value: `${to}:${key}` } : shards > 1 ? { ok: false, code: 'not_leader', message: 'not here', leader, shard, shards } : { ok: false, code: 'not_leader', message: 'not here', leader };
      queueMicrotask(() => deliver(to, encodeMessage({ kind: 'res', seq: req.seq, result })));
    },
    onReceive: (h) => (deliver = h),
    close: () => {},
  };
  const clock: Clock = {
    monotonicNs: () => 0,
    monotonicMs: () => 0,
    wallMs: () => 0,
    timer: (ms: number, fn: () => void): Timer => {
      let live = true;
      timers.push({ ms, fire: () => live && ((live = false), fn()), live: () => live });
      return { cancel: () => (live = false) };
    },
  } as Clock;
  const client = new KvClient(net, clock, { nodes: ['n1', 'n2', 'n3'], timeoutMs: 10_000, attemptTimeoutMs: 1_000 });
  const read = async (key: string): Promise<Outcome> => {
    const o = await new Promise<Outcome>((resolve) => {
      client.invoke({ f: 'read', key }, resolve);
      // Fire the soonest live timer (an attempt's, before the deadline's), as time would.
      const tick = () => {
        const live = timers.filter((t) => t.live()).sort((a, b) => a.ms - b.ms);
        const t = live[0];
        if (t !== undefined && t.ms < 10_000) {
          t.fire();
          setTimeout(tick, 0);
        }
      };
      if (silent.size > 0) setTimeout(tick, 0);
    });
    return o;
  };
  return { client, sent, read, keyspace };
}

const map = ShardMap.build(['n1', 'n2', 'n3'], { shards: 8, replicas: 3 });
const leaderOf = (s: number) => map.preferredLeader(s);

/** A key of each shard, found by search. */
function keysByShard(keyspace: ShardKeyspace): string[] {
  const out: string[] = [];
  for (let i = 0; out.filter((k) => k !== undefined).length < keyspace.shards; i++) {
    const k = `k${i}`;
    const s = keyspace.shardOf('', k);
    if (out[s] === undefined) out[s] = k;
  }
  return out;
}

test('the first not_leader names the shard count and leader; later keys of that shard go straight to it', async () => {
  const c = cluster(8, leaderOf);
  const keys = keysByShard(c.keyspace);
  // Shard of a key n1 does not lead: referred once, then cached.
  const s = [...keys.keys()].find((i) => leaderOf(i) !== 'n1') as number;
  const first = await c.read(keys[s] as string);
  assert.is(first.type, 'ok');
  assert.equal(c.sent.map((x) => x.to), ['n1', leaderOf(s)]);
  c.sent.length = 0;
  const again = await c.read(keys[s] as string);
  assert.equal([again.type, c.sent.map((x) => x.to)], ['ok', [leaderOf(s)]], 'straight to the cached leader');
  // Every shard: after one referral each, every read goes straight to its leader.
  for (const k of keys) await c.read(k);
  c.sent.length = 0;
  for (const k of keys) assert.is((await c.read(k)).type, 'ok');
  assert.equal(c.sent.map((x) => x.to), keys.map((_, i) => leaderOf(i)), 'one message per read, each to its shard\'s leader');
});

test('a leader that stops answering is dropped from the table; the next referral refreshes it', async () => {
  const silent = new Set<string>();
  let moved = false;
  const c = cluster(8, (s) => (moved && leaderOf(s) === 'n2' ? 'n3' : leaderOf(s)), silent);
  const keys = keysByShard(c.keyspace);
  const s = [...keys.keys()].find((i) => leaderOf(i) === 'n2') as number;
  await c.read(keys[s] as string);
  // n2 goes silent and its shards' leadership moves to n3.
  silent.add('n2');
  moved = true;
  c.sent.length = 0;
  const o = await c.read(keys[s] as string);
  assert.is(o.type, 'ok');
  assert.is(c.sent[0]?.to, 'n2', 'first to the cached leader');
  assert.is(c.sent.at(-1)?.to, 'n3', 'then, after the unanswered attempt and a referral, to the new leader');
  c.sent.length = 0;
  await c.read(keys[s] as string);
  assert.equal(c.sent.map((x) => x.to), ['n3'], 'the table holds the new leader');
});

test('one group: no shard is ever named, and the single leader hint serves every key', async () => {
  const c = cluster(1, () => 'n2');
  await c.read('a');
  c.sent.length = 0;
  await c.read('b');
  await c.read('c');
  assert.equal(c.sent.map((x) => x.to), ['n2', 'n2']);
});

test.run();
