/**
 * npm run bench:sim [--json] [--quick]
 *
 * How fast the simulator itself runs: a 5-node broadcast protocol in which every node, every
 * millisecond of virtual time, sends a message to each other node and each receiver answers it.
 * Every event is traced and hashed into the digest, as in `kv-lab run`. Prints simulated events
 * per wall-clock second and virtual seconds per wall-clock second, best of a few repetitions.
 */
import { performance } from 'node:perf_hooks';
import type { Env } from '../src/env/env.js';
import { DEFAULT_DISK_OPTIONS } from '../sim/disk.js';
import { NS_PER_S } from '../sim/scheduler.js';
import { Trace } from '../sim/trace.js';
import { World } from '../sim/world.js';
import { benchArgs, type BenchReport } from './args.js';

const args = benchArgs();
const NODES = 5;
const virtualSeconds = args.quick ? 2 : 10;
const repetitions = args.quick ? 2 : 3;

function broadcastNode(env: Env, peers: string[]) {
  const ping = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
  const pong = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]);
  let received = 0;
  env.net.onReceive((from, frame) => {
    received++;
    if (frame[0] === 1) env.net.send(from, pong);
  });
  const tick = () => {
    for (const p of peers) if (p !== env.id) env.net.send(p, ping);
    env.clock.timer(1, tick);
  };
  env.clock.timer(env.rng.next(), tick);
  return { stop() {}, received: () => received };
}

function once(seed: number) {
  const ids = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
  const trace = new Trace(false);
  const world = new World({
    seed: String(seed),
    nodeIds: ids,
    net: { latency: { minMs: 0.1, meanMs: 0.5, maxMs: 10 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace,
    createNode: (env) => broadcastNode(env, ids),
  });
  world.start();
  const start = performance.now();
  world.sched.runUntil(virtualSeconds * NS_PER_S);
  const wallS = (performance.now() - start) / 1000;
  const digest = trace.digest();
  return { events: world.sched.eventsRun, wallS, messages: world.net.stats.delivered, digest };
}

const runs = Array.from({ length: repetitions }, (_, i) => once(1 + i * 0)).sort((a, b) => a.wallS - b.wallS);
const best = runs[0] as (typeof runs)[number];
const eventsPerSec = Math.round(best.events / best.wallS);
const virtualPerWall = virtualSeconds / best.wallS;
const report: BenchReport = {
  bench: 'sim',
  results: [
    {
      case: 'broadcast-5-nodes',
      subject: 'kv-lab-sim',
      opsPerSec: eventsPerSec,
      eventsPerSec,
      virtualSecondsPerWallSecond: Number(virtualPerWall.toFixed(3)),
      events: best.events,
      messagesDelivered: best.messages,
      virtualSeconds,
      wallSeconds: Number(best.wallS.toFixed(3)),
      repetitions,
      digest: best.digest,
    },
  ],
  ratios: { 'events/s vs target 500k': Number((eventsPerSec / 500_000).toFixed(3)) },
  deterministic: runs.every((r) => r.digest === best.digest),
};
if (args.json) process.stdout.write(JSON.stringify(report) + '\n');
else {
  console.log(`bench:sim — ${NODES}-node broadcast, ${virtualSeconds} virtual s, best of ${repetitions}`);
  console.log(`  events          ${best.events.toLocaleString('en-US')} (${best.messages.toLocaleString('en-US')} messages delivered)`);
  console.log(`  events/s        ${eventsPerSec.toLocaleString('en-US')}   (target 500,000: ratio ${(eventsPerSec / 500_000).toFixed(2)})`);
  console.log(`  virtual s/wall s ${virtualPerWall.toFixed(2)}`);
  console.log(`  same digest on every repetition: ${report.deterministic ? 'yes' : 'NO'}`);
}
