/**
 * npm run bench:sim [--json] [--quick]
 *
 * How fast the simulator itself runs: a 5-node broadcast protocol in which every node, every
 * millisecond of virtual time, sends a message to each other node and each receiver answers it.
 * Every event is traced and hashed into the digest, as in `kv-lab run`. Prints simulated events
 * per wall-clock second and virtual seconds per wall-clock second, best of a few repetitions.
 *
 * Then a real scenario, scenarios/raft-quickstart.yaml, with each client protocol: `native`
 * (request frames straight to the nodes, as every run was before the front door ran in the lab),
 * `line` and `http` (bytes through simulated connections, sessions, the gateway). For each: the
 * simulation alone (checks skipped) and the whole run, and for line and http the share of the
 * run's CPU profile spent in the front door (src/frontdoor, src/wire, the stream clients,
 * sim/stream.ts), measured with V8's sampling profiler in this process.
 *
 * Last, whole runs of scenarios/raft (checks included, as `kv-lab swarm --jobs 1` runs them in
 * one thread): runs per CPU second and per wall second, the figure issue 17's 200-seed sweeps and
 * the test suite pay for. The CPU time is this process's (process.cpuUsage), so it holds up
 * better than wall time on a loaded machine; still, compare two builds in the same sitting.
 */
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runScenario } from '../sim/runner.js';
import { parseScenario, type WorkloadProtocol } from '../sim/scenario.js';
import type { Env } from '../src/env/env.js';
import { DEFAULT_DISK_OPTIONS } from '../sim/disk.js';
import { NS_PER_S } from '../sim/scheduler.js';
import { Trace } from '../sim/trace.js';
import { World } from '../sim/world.js';
import { benchArgs, type BenchReport } from './args.js';

const args = benchArgs();
const NODES = 5;
const virtualSeconds = args.smoke ? 0.5 : args.quick ? 2 : 10;
const repetitions = args.smoke ? 1 : args.quick ? 2 : 3;

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

// ---- a real scenario, with each client protocol ----

const scenarioFile = join(import.meta.dirname, '..', 'scenarios', 'raft-quickstart.yaml');
const scenario = parseScenario(readFileSync(scenarioFile, 'utf8'), scenarioFile);
const FRONT_DOOR = [/\/src\/frontdoor\//, /\/src\/wire\//, /\/src\/client\/(line|http)-client\.ts/, /\/sim\/stream\.ts/, /\/sim\/node-process\.ts/];

function scenarioRun(protocol: WorkloadProtocol, skipChecks: boolean) {
  const s = { ...scenario, workload: { ...scenario.workload, protocol } };
  const start = performance.now();
  const { summary } = runScenario(s, { seed: 1, outDir: null, skipChecks });
  return { wallS: (performance.now() - start) / 1000, events: summary.events, virtualS: summary.virtualMs / 1000, passed: summary.passed, digest: summary.digest };
}

/** Self time of the profile's samples: in the front door's files, and in all. */
async function frontDoorShare(protocol: WorkloadProtocol): Promise<number> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  scenarioRun(protocol, false);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame.url]));
  let total = 0;
  let inFrontDoor = 0;
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => {
    const url = byId.get(id) ?? '';
    const dt = deltas[i] ?? 0;
    if (url === '') return; // (idle), (program), (garbage collector): not attributable
    total += dt;
    if (FRONT_DOOR.some((re) => re.test(url))) inFrontDoor += dt;
  });
  return total === 0 ? 0 : inFrontDoor / total;
}

// A smoke run takes one protocol through the scenario path; the others differ only in the client.
const protocols: WorkloadProtocol[] = args.smoke ? ['line'] : ['native', 'line', 'http'];
const scenarioResults = [];
for (const protocol of protocols) {
  const sims = Array.from({ length: repetitions }, () => scenarioRun(protocol, true)).sort((a, b) => a.wallS - b.wallS);
  const fulls = Array.from({ length: args.quick ? 1 : 2 }, () => scenarioRun(protocol, false)).sort((a, b) => a.wallS - b.wallS);
  const sim = sims[0] as ReturnType<typeof scenarioRun>;
  const full = fulls[0] as ReturnType<typeof scenarioRun>;
  const share = protocol === 'native' ? 0 : await frontDoorShare(protocol);
  scenarioResults.push({
    case: `raft-quickstart ${protocol}`,
    subject: 'kv-lab-sim',
    opsPerSec: Math.round(sim.events / sim.wallS),
    eventsPerSec: Math.round(sim.events / sim.wallS),
    virtualSecondsPerWallSecond: Number((sim.virtualS / sim.wallS).toFixed(3)),
    events: sim.events,
    simulationWallSeconds: Number(sim.wallS.toFixed(3)),
    runWallSeconds: Number(full.wallS.toFixed(3)),
    frontDoorShareOfRun: Number(share.toFixed(3)),
    passed: full.passed,
    digest: sim.digest,
  });
}
const native = scenarioResults[0] as (typeof scenarioResults)[number];

// ---- whole runs of scenarios/raft, as a swarm runs them ----

// A spread of the raft scenarios: crashes (restarts and recovery), partitions (the most events),
// network (loss and duplication), tiny-lsm (the LSM engine under compaction), snapshots.
const RAFT_RUNS = args.quick ? ['network'] : ['crashes', 'partitions', 'network', 'tiny-lsm', 'snapshots'];
const raftRuns = RAFT_RUNS.map((name) => {
  const file = join(import.meta.dirname, '..', 'scenarios', 'raft', `${name}.yaml`);
  return parseScenario(readFileSync(file, 'utf8'), file);
});
const cpuStart = process.cpuUsage();
const raftWallStart = performance.now();
const raftDigests: string[] = [];
let raftEvents = 0;
let raftPassed = true;
for (const s of raftRuns) {
  const { summary } = runScenario(s, { seed: 1, outDir: null, write: 'failed' });
  raftDigests.push(summary.digest);
  raftEvents += summary.events;
  raftPassed &&= summary.passed;
}
const raftWallS = (performance.now() - raftWallStart) / 1000;
const raftCpu = process.cpuUsage(cpuStart);
const raftCpuS = (raftCpu.user + raftCpu.system) / 1e6;
const raftResult = {
  case: `scenarios/raft runs (${RAFT_RUNS.join(', ')}; seed 1)`,
  subject: 'kv-lab-sim',
  opsPerSec: Number((raftRuns.length / raftCpuS).toFixed(3)),
  runs: raftRuns.length,
  runsPerCpuSecond: Number((raftRuns.length / raftCpuS).toFixed(3)),
  runsPerWallSecond: Number((raftRuns.length / raftWallS).toFixed(3)),
  cpuSecondsPerRun: Number((raftCpuS / raftRuns.length).toFixed(3)),
  eventsPerCpuSecond: Math.round(raftEvents / raftCpuS),
  events: raftEvents,
  passed: raftPassed,
  digests: raftDigests,
};

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
    ...scenarioResults,
    raftResult,
  ],
  ratios: {
    'events/s vs target 500k': Number((eventsPerSec / 500_000).toFixed(3)),
    // Issue 17's sweep: 21 scenarios x 200 seeds in 12,500 CPU-seconds at ~3 s a run.
    'scenarios/raft CPU s per run vs 3 s': Number((raftResult.cpuSecondsPerRun / 3).toFixed(3)),
    ...Object.fromEntries(
      scenarioResults.slice(1).flatMap((r) => [
        [`${r.case} run wall/native`, Number((r.runWallSeconds / native.runWallSeconds).toFixed(3))],
        [`${r.case} front-door share of the run (target < 0.3)`, r.frontDoorShareOfRun],
      ]),
    ),
  },
  deterministic: runs.every((r) => r.digest === best.digest),
};
if (args.json) process.stdout.write(JSON.stringify(report) + '\n');
else {
  console.log(`bench:sim — ${NODES}-node broadcast, ${virtualSeconds} virtual s, best of ${repetitions}`);
  console.log(`  events          ${best.events.toLocaleString('en-US')} (${best.messages.toLocaleString('en-US')} messages delivered)`);
  console.log(`  events/s        ${eventsPerSec.toLocaleString('en-US')}   (target 500,000: ratio ${(eventsPerSec / 500_000).toFixed(2)})`);
  console.log(`  virtual s/wall s ${virtualPerWall.toFixed(2)}`);
  console.log(`  same digest on every repetition: ${report.deterministic ? 'yes' : 'NO'}`);
  console.log('scenarios/raft-quickstart.yaml, seed 1, by client protocol (simulation: checks skipped, best of runs):');
  for (const r of scenarioResults) {
    console.log(`  ${r.case.padEnd(24)} events/s ${r.eventsPerSec.toLocaleString('en-US').padStart(9)}   virtual s/wall s ${r.virtualSecondsPerWallSecond.toFixed(2).padStart(5)}   run ${r.runWallSeconds.toFixed(2)} s (${(r.runWallSeconds / native.runWallSeconds).toFixed(2)}× native)${r.case.endsWith('native') ? '' : `   front door ${(r.frontDoorShareOfRun * 100).toFixed(1)}% of the run's CPU`}`);
  }
  console.log(`${raftResult.case}, whole runs with their checks:`);
  console.log(`  runs/s          ${raftResult.runsPerCpuSecond} per CPU second, ${raftResult.runsPerWallSecond} per wall second (${raftResult.cpuSecondsPerRun} CPU s a run, ${raftResult.eventsPerCpuSecond.toLocaleString('en-US')} events per CPU second)${raftResult.passed ? '' : '   A RUN FAILED'}`);
}
