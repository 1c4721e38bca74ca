import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Env } from '../../src/env/env.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { DEFAULT_NET_OPTIONS } from '../../sim/net.js';
import { Nemesis } from '../../sim/nemesis.js';
import { NS_PER_MS, NS_PER_S } from '../../sim/scheduler.js';
import type { Fault } from '../../sim/scenario.js';
import { Trace } from '../../sim/trace.js';
import { World, type SimNode } from '../../sim/world.js';

// Every fault kind of the scenario language, shown on a small protocol: each node sends a
// numbered ping to every other node each millisecond and records what arrives. The faults are
// applied by the nemesis from Fault values, exactly as a scenario applies them.

const enc = new TextEncoder();
const dec = new TextDecoder();

class Pinger implements SimNode {
  seq = 0;
  /** from → sequence numbers received, in arrival order. */
  readonly received = new Map<string, number[]>();
  readonly arrivalNs: { from: string; sentNs: number; atNs: number }[] = [];
  ticks = 0;
  constructor(
    readonly env: Env,
    readonly peers: string[],
    readonly world: World,
  ) {
    env.net.onReceive((from, frame) => {
      const [seq, sentNs] = dec.decode(frame).split(' ').map(Number) as [number, number];
      let list = this.received.get(from);
      if (list === undefined) this.received.set(from, (list = []));
      list.push(seq);
      this.arrivalNs.push({ from, sentNs, atNs: world.nowNs });
    });
    const tick = () => {
      this.ticks++;
      this.seq++;
      for (const p of peers) if (p !== env.id) env.net.send(p, enc.encode(`${this.seq} ${world.nowNs}`));
      env.clock.timer(1, tick);
    };
    env.clock.timer(1, tick);
  }
  stop(): void {}
}

function setup(n = 3, seed = 'faults') {
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const nodes = new Map<string, Pinger>();
  const world: World = new World({
    seed,
    nodeIds: ids,
    net: { latency: { minMs: 0.2, meanMs: 0.5, maxMs: 5 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env): Pinger => {
      const p: Pinger = new Pinger(env, ids, world);
      nodes.set(env.id, p);
      return p;
    },
  });
  const nemesis = new Nemesis(world, world.rng.fork('nemesis'));
  world.start();
  const run = (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS);
  const got = (to: string, from: string) => nodes.get(to)?.received.get(from) ?? [];
  const fault = (f: FaultInput) => nemesis.schedule([{ line: 0, ...f } as Fault]);
  return { world, nodes, nemesis, run, got, fault };
}

const reachable = (t: ReturnType<typeof setup>, from: string, to: string, sinceMs: number) =>
  (t.nodes.get(to)?.arrivalNs ?? []).some((a) => a.from === from && a.sentNs >= sinceMs * NS_PER_MS);

type FaultInput = Fault extends unknown ? DistributiveOmit<Fault, 'line'> : never;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const F = suite('faults on a ping protocol');

F('without faults, links are FIFO and lose nothing', () => {
  const t = setup();
  t.run(100);
  const seqs = t.got('n2', 'n1');
  assert.ok(seqs.length >= 95);
  assert.equal(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
});

F('latency stays within the configured bounds, and the latency fault changes it', () => {
  const t = setup();
  t.run(50);
  const delays = (since: number) => (t.nodes.get('n2') as Pinger).arrivalNs.filter((a) => a.sentNs >= since).map((a) => (a.atNs - a.sentNs) / NS_PER_MS);
  assert.ok(delays(0).every((d) => d >= 0.2 && d <= 5 + 1e-9));
  t.fault({ kind: 'latency', atNs: t.world.nowNs, minNs: 20 * NS_PER_MS, meanNs: 30 * NS_PER_MS, maxNs: 40 * NS_PER_MS });
  const since = t.world.nowNs + 1;
  t.run(200);
  const slow = delays(since);
  assert.ok(slow.length > 0 && slow.every((d) => d >= 20), 'every frame sent under the fault took at least 20 ms');
});

F('loss drops about the given share of frames', () => {
  const t = setup();
  t.fault({ kind: 'loss', atNs: 0, probability: 0.3 });
  t.run(1000);
  const n = t.got('n2', 'n1').length;
  assert.ok(n > 550 && n < 850, `received ${n} of ~1000`);
});

F('duplication delivers some frames twice', () => {
  const t = setup();
  t.fault({ kind: 'duplicate', atNs: 0, probability: 0.2 });
  t.run(500);
  const seqs = t.got('n2', 'n1');
  assert.ok(seqs.length > new Set(seqs).size + 50);
});

F('reordering lets frames overtake each other', () => {
  const t = setup();
  t.fault({ kind: 'reorder', atNs: 0, probability: 0.5 });
  t.run(500);
  const seqs = t.got('n2', 'n1');
  let inversions = 0;
  for (let i = 1; i < seqs.length; i++) if ((seqs[i] as number) < (seqs[i - 1] as number)) inversions++;
  assert.ok(inversions > 10, `${inversions} inversions`);
});

F('a symmetric partition cuts both directions, and for: heals it', () => {
  const t = setup();
  t.fault({ kind: 'partition', atNs: 10 * NS_PER_MS, forNs: 100 * NS_PER_MS, shape: 'groups', groups: [['n1'], ['n2', 'n3']] });
  t.run(20);
  const cutAt = t.world.nowNs / NS_PER_MS;
  t.run(50);
  assert.not.ok(reachable(t, 'n1', 'n2', cutAt + 1));
  assert.not.ok(reachable(t, 'n2', 'n1', cutAt + 1));
  assert.ok(reachable(t, 'n2', 'n3', cutAt + 1));
  t.run(100);
  assert.ok(reachable(t, 'n1', 'n2', 115), 'healed after for:');
});

F('a one-way partition cuts only one direction', () => {
  const t = setup();
  t.fault({ kind: 'partition-one-way', atNs: 0, from: ['n1'], to: ['n2'] });
  t.run(100);
  assert.is(t.got('n2', 'n1').length, 0);
  assert.ok(t.got('n1', 'n2').length > 90);
});

F('majority-minority splits 5 nodes into 2 and 3; bridge leaves one node talking to both sides', () => {
  const mm = setup(5, 'mm');
  mm.fault({ kind: 'partition', atNs: 0, shape: 'majority-minority' });
  mm.run(100);
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const side = (id: string) => ids.filter((o) => o === id || reachable(mm, o, id, 5));
  const sizes = ids.map((id) => side(id).length).sort();
  assert.equal(sizes, [2, 2, 3, 3, 3]);

  const br = setup(5, 'br');
  br.fault({ kind: 'partition', atNs: 0, shape: 'bridge' });
  br.run(100);
  const reach = (id: string) => ids.filter((o) => o !== id && reachable(br, o, id, 5)).length;
  const counts = ids.map(reach).sort();
  assert.equal(counts, [2, 2, 2, 2, 4], 'the bridge hears all 4, the others hear their side and the bridge');
});

F('isolate cuts a node off from everyone; heal reconnects everything', () => {
  const t = setup();
  t.fault({ kind: 'partition', atNs: 0, shape: 'isolate', node: 'n3' });
  t.fault({ kind: 'heal', atNs: 50 * NS_PER_MS });
  t.run(40);
  assert.is(t.got('n1', 'n3').length + t.got('n3', 'n2').length, 0);
  t.run(60);
  assert.ok(reachable(t, 'n3', 'n1', 55) && reachable(t, 'n1', 'n3', 55));
});

F('a crash stops the node and drops frames to it; for: restarts it fresh', () => {
  const t = setup();
  t.run(10);
  const before = t.nodes.get('n2') as Pinger;
  t.fault({ kind: 'crash', atNs: t.world.nowNs, forNs: 50 * NS_PER_MS, node: 'n2' });
  t.run(30);
  assert.is(t.world.machine('n2').state, 'down');
  const ticksAtCrash = before.ticks;
  t.run(10);
  assert.is(before.ticks, ticksAtCrash, 'the crashed incarnation runs no more timers');
  t.run(50);
  const after = t.nodes.get('n2') as Pinger;
  assert.is.not(after, before, 'a new incarnation');
  assert.ok(after.ticks > 0 && after.seq < before.seq + after.ticks + 1);
  assert.is(t.world.machine('n2').incarnation, 2);
});

F('a pause freezes the node; on resume its held-back events run', () => {
  const t = setup();
  t.fault({ kind: 'pause', atNs: 10 * NS_PER_MS, forNs: 40 * NS_PER_MS, node: 'n1' });
  t.run(12);
  const ticks = (t.nodes.get('n1') as Pinger).ticks;
  const heard = t.got('n1', 'n2').length;
  t.run(30);
  assert.is((t.nodes.get('n1') as Pinger).ticks, ticks, 'no timer fires while paused');
  assert.is(t.got('n1', 'n2').length, heard, 'nothing is received while paused');
  t.run(20);
  assert.ok(t.got('n1', 'n2').length > heard + 25, 'frames that arrived during the pause are delivered on resume');
  assert.is(t.nodes.get('n1'), t.nodes.get('n1'), 'the same incarnation: a pause is not a crash');
});

F('clock drift makes a node count time faster; skew moves wall time but not monotonic time', () => {
  const t = setup();
  t.fault({ kind: 'clock', atNs: 0, node: 'n1', driftPpm: 100_000 });
  t.run(1000);
  const fast = (t.nodes.get('n1') as Pinger).ticks;
  const normal = (t.nodes.get('n2') as Pinger).ticks;
  assert.ok(fast > normal * 1.08 && fast < normal * 1.12, `ticks ${fast} vs ${normal}`);
  const env = (t.nodes.get('n3') as Pinger).env;
  const mono = env.clock.monotonicMs();
  const wall = env.clock.wallMs();
  t.fault({ kind: 'clock', atNs: t.world.nowNs, node: 'n3', skewNs: -5 * NS_PER_S });
  t.run(1);
  assert.ok(env.clock.wallMs() < wall - 4000, 'wall time jumped back');
  assert.ok(env.clock.monotonicMs() > mono, 'monotonic time kept going');
});

F('disk faults: fsync failure, bit corruption and a full disk, applied by the nemesis', () => {
  const t = setup(1, 'disk');
  const env = (t.nodes.get('n1') as Pinger).env;
  env.disk.mkdir('data');
  const f = env.disk.open('data/log', 'create');
  f.append(enc.encode('0123456789'));
  let syncErr: string | null | undefined;
  t.fault({ kind: 'fsync-fail', atNs: t.world.nowNs, node: 'n1', count: 1, probability: 0 });
  t.run(1);
  f.sync((e) => (syncErr = e?.code ?? null));
  t.run(10);
  assert.is(syncErr, 'EIO');
  f.sync((e) => (syncErr = e?.code ?? null));
  env.disk.syncDir('data', () => {});
  t.run(10);
  assert.is(syncErr, null);
  f.append(enc.encode('abcdefghij'));
  f.sync(() => {});
  t.run(10);
  t.fault({ kind: 'corrupt', atNs: t.world.nowNs, node: 'n1', bits: 1, path: 'data/log' });
  t.run(1);
  assert.is.not(dec.decode(env.disk.readFile('data/log')), '0123456789abcdefghij');
  t.fault({ kind: 'disk-full', atNs: t.world.nowNs, forNs: 10 * NS_PER_MS, node: 'n1', freeBytes: 4 });
  t.run(1);
  f.append(enc.encode('xyz'));
  assert.throws(() => f.append(enc.encode('more')), /ENOSPC/);
  t.run(20);
  f.append(enc.encode('more'));
});

F('a crash with the torn disk mode keeps part of the unsynced tail', () => {
  let torn = 0;
  for (let i = 0; i < 20; i++) {
    const t = setup(1, `torn${i}`);
    const env = (t.nodes.get('n1') as Pinger).env;
    const f = env.disk.open('log', 'create');
    env.disk.syncDir('', () => {});
    t.run(5);
    f.append(enc.encode('aaaaaaaa'));
    f.append(enc.encode('bbbbbbbb'));
    t.fault({ kind: 'crash', atNs: t.world.nowNs, node: 'n1', disk: 'torn' });
    t.run(1);
    t.world.restart('n1');
    const len = (t.nodes.get('n1') as Pinger).env.disk.readFile('log').length;
    if (len % 8 !== 0) torn++;
  }
  assert.ok(torn > 0);
});

F.run();
