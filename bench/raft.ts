/**
 * npm run bench:raft [--json] [--quick]
 *
 * Raft in the simulator, 5 nodes on the memory engine:
 * - failover: the leader crashes under load; virtual time until another node is leader of a newer
 *   term, over many seeds (p50/p99 ms). Election timeouts are 10–20 ticks of 20 ms (pre-vote on).
 * - throughput: a closed-loop workload of writes and reads for 10 virtual seconds; committed
 *   (acknowledged) operations per wall-clock second of simulation, and events per second.
 */
import { performance } from 'node:perf_hooks';
import { runScenario, createNodeFor } from '../sim/runner.js';
import { parseScenario, nodeIds } from '../sim/scenario.js';
import { NS_PER_MS, NS_PER_S } from '../sim/scheduler.js';
import { Trace } from '../sim/trace.js';
import { World } from '../sim/world.js';
import { Workload } from '../sim/workload.js';
import { kvNodeOf } from '../sim/node-process.js';
import { benchArgs, percentile, type BenchReport } from './args.js';

const args = benchArgs();
const seeds = args.smoke ? 2 : args.quick ? 40 : 200;

const scenario = parseScenario(
  `name: bench-raft
description: bench
duration: ${args.smoke ? '1s' : '10s'}
cluster: { nodes: 5, engine: memory, replication: raft }
workload: { clients: 8, keys: 16, mix: { read: 50, write: 40, cas: 5, append: 5 }, timeout: 1s, think: 1ms }
`,
  'bench:raft',
);

function leaderOf(world: World): { id: string; term: number } | null {
  let best: { id: string; term: number } | null = null;
  for (const m of world.machines.values()) {
    const kv = m.state === 'up' ? kvNodeOf(m) : null;
    if (kv === null) continue;
    const st = kv.status();
    if (st.role === 'leader' && (best === null || st.term > best.term)) best = { id: m.id, term: st.term };
  }
  return best;
}

/** Virtual ms from crashing the leader to a leader of a newer term, or null if none within 10 s. */
function failoverMs(seed: number): number | null {
  const world: World = new World({
    seed: `bench-raft/${seed}`,
    nodeIds: nodeIds(scenario),
    net: { latency: { minMs: 0.1, meanMs: 0.5, maxMs: 20 } },
    disk: { syncLatencyMsMin: 0.2, syncLatencyMsMax: 2, capacityBytes: null, crash: 'lose', dirCrash: 'lose' },
    createNode: (env, machine) => createNodeFor(scenario, world.net)(env, machine),
    trace: new Trace(false),
  });
  const workload = new Workload(world, scenario.workload, world.rng.fork('workload'), world.nodeIds());
  world.start();
  workload.start();
  world.sched.runUntil(2 * NS_PER_S);
  const old = leaderOf(world);
  if (old === null) return null;
  world.crash(old.id);
  const crashedAt = world.nowNs;
  while (world.nowNs - crashedAt < 10 * NS_PER_S) {
    world.sched.runUntil(world.nowNs + 0.5 * NS_PER_MS);
    const now = leaderOf(world);
    if (now !== null && now.term > old.term) return (world.nowNs - crashedAt) / NS_PER_MS;
  }
  return null;
}

const failovers: number[] = [];
let noLeader = 0;
const t0 = performance.now();
for (let s = 1; s <= seeds; s++) {
  const ms = failoverMs(s);
  if (ms === null) noLeader++;
  else failovers.push(ms);
}
const failoverWallS = (performance.now() - t0) / 1000;
failovers.sort((a, b) => a - b);

const runs = args.smoke ? 1 : args.quick ? 2 : 5;
let best = { opsPerSec: 0, eventsPerSec: 0, ok: 0, wallMs: 0, events: 0 };
for (let s = 1; s <= runs; s++) {
  const { summary } = runScenario({ ...scenario, checks: [] }, { seed: s, outDir: null });
  const opsPerSec = summary.ops.ok / (summary.wallMs / 1000);
  if (opsPerSec > best.opsPerSec) best = { opsPerSec, eventsPerSec: summary.events / (summary.wallMs / 1000), ok: summary.ops.ok, wallMs: summary.wallMs, events: summary.events };
}

const report: BenchReport = {
  bench: 'raft',
  results: [
    {
      case: 'failover-after-leader-crash',
      subject: 'kv-lab-raft-5-nodes',
      p50Ms: percentile(failovers, 50),
      p99Ms: percentile(failovers, 99),
      maxMs: failovers[failovers.length - 1] ?? null,
      seeds,
      noNewLeaderWithin10s: noLeader,
      unit: 'virtual ms',
      wallSeconds: Number(failoverWallS.toFixed(2)),
    },
    {
      case: 'committed-ops-under-load',
      subject: 'kv-lab-raft-5-nodes',
      opsPerSec: Math.round(best.opsPerSec),
      eventsPerSec: Math.round(best.eventsPerSec),
      opsOk: best.ok,
      events: best.events,
      virtualSeconds: args.smoke ? 1 : 10,
      wallMs: best.wallMs,
      note: 'operations acknowledged per wall-clock second of simulation (best of runs), checks off',
    },
  ],
  ratios: {},
};
if (args.json) process.stdout.write(JSON.stringify(report) + '\n');
else {
  console.log(`bench:raft — 5 Raft nodes in the simulator`);
  console.log(`  failover after a leader crash (${seeds} seeds, virtual time): p50 ${report.results[0]?.p50Ms?.toFixed(1)} ms, p99 ${report.results[0]?.p99Ms?.toFixed(1)} ms, max ${(report.results[0]?.maxMs as number | null)?.toFixed(1)} ms; no new leader within 10 s: ${noLeader}`);
  console.log(`  committed operations per wall second: ${Math.round(best.opsPerSec).toLocaleString('en-US')} (${best.ok.toLocaleString('en-US')} ops in ${best.wallMs} ms wall for ${args.smoke ? 1 : 10} virtual s)`);
  console.log(`  simulated events per wall second: ${Math.round(best.eventsPerSec).toLocaleString('en-US')}`);
}
