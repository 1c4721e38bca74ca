/**
 * npx tsx bench/shards-scale.ts [--nodes 100] [--shards 10000] [--seconds 1]
 *
 * The simulator at issue 20's scale: a cluster of 100 nodes holding 10,000 shards of 3 replicas
 * (30,000 Raft groups, 300 per node), every node the same code as `kv-lab serve --shards`, its
 * groups on the memory engine and the node's shared Raft log, 20 line-protocol clients writing
 * and reading 10,000 keys. No faults, no checks: the figure is how fast the lab can run a cluster
 * this large. Prints one JSON object: simulated events, events per wall second (the whole run,
 * start-up included, and after start-up alone), virtual seconds per wall second, the wall time
 * until every node had started, operations answered, and this process's peak RSS.
 *
 * bench:shards (`--only scale`) runs it in a child process with a heap large enough for it.
 */
import { performance } from 'node:perf_hooks';
import { kvNodeOf } from '../sim/node-process.js';
import { runScenario } from '../sim/runner.js';
import { parseScenario } from '../sim/scenario.js';
import { memoryMb } from './proc.js';

function flag(name: string, fallback: number, min: number, max: number): number {
  const i = process.argv.indexOf(name);
  const text = i < 0 ? String(fallback) : process.argv[i + 1];
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`bench/shards-scale: ${name} expects a number in ${min}..${max}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}

const NODES = flag('--nodes', 100, 3, 128);
const SHARDS = flag('--shards', 10_000, 2, 16_384);
const SECONDS = flag('--seconds', 1, 0.1, 60);

const scenario = parseScenario(
  `name: bench-shards-scale
description: ${NODES} nodes holding ${SHARDS} shards of 3 replicas, 20 clients, no faults
duration: ${Math.round(SECONDS * 1000)}ms
cluster: { nodes: ${NODES}, engine: memory, replication: raft, shards: ${SHARDS}, replicas: 3 }
workload: { clients: 20, keys: 10000, mix: { read: 50, write: 50 }, timeout: 2s, protocol: line }
checks: []
faults: []
`,
  'bench/shards-scale.ts',
);

const t0 = performance.now();
/** Wall time and events when every node had started (each one's groups open and its node ready). */
let started: { wallMs: number; events: number } | null = null;
const { summary } = runScenario(scenario, {
  seed: 1,
  outDir: null,
  inspect: (world) => {
    if (started !== null) return;
    const all = [...world.machines.values()].every((m) => m.state === 'up' && kvNodeOf(m)?.isStarted() === true);
    if (all) started = { wallMs: performance.now() - t0, events: world.sched.eventsRun };
  },
});
const wallMs = performance.now() - t0;
const after = started as { wallMs: number; events: number } | null;
const mem = memoryMb('self');
process.stdout.write(
  JSON.stringify({
    nodes: NODES,
    shards: SHARDS,
    groups: SHARDS * 3,
    virtualSeconds: summary.virtualMs / 1000,
    wallSeconds: Math.round(wallMs) / 1000,
    events: summary.events,
    eventsPerSec: Math.round(summary.events / (wallMs / 1000)),
    startedWallSeconds: after === null ? null : Math.round(after.wallMs) / 1000,
    eventsPerSecAfterStart: after === null || wallMs <= after.wallMs ? null : Math.round((summary.events - after.events) / ((wallMs - after.wallMs) / 1000)),
    virtualSecondsPerWallSecond: Math.round((summary.virtualMs / wallMs) * 1000) / 1000,
    ops: summary.ops.ok,
    messages: summary.messages.sent,
    peakRssMb: mem?.peakRssMb ?? null,
  }) + '\n',
);
