import { parse as parseYamlText } from 'yaml';
import { SeededRng, type Rng } from '../../src/env/rng.js';
import { assert } from '../../src/util/assert.js';
import { NS_PER_MS, NS_PER_S } from '../scheduler.js';
import { parseScenario, type Fault, type Scenario } from '../scenario.js';
import { durationText, scenarioYaml } from '../scenario-text.js';

/**
 * Exploration (`kv-lab swarm --explore`, `kv-lab run --explore`): each seed also chooses, from its
 * own random stream, every knob the scenario file leaves open — cluster size, network and disk
 * latency, the clients' timeout and protocol, Raft's timings and optional parts, and, when the
 * file schedules no faults, which kinds of fault happen and how often.
 *
 * The idea is swarm testing (Groce et al., "Swarm Testing", ISSTA 2012; TigerBeetle's simulator
 * picks fault probabilities per seed): a run that enables every fault at a middling rate explores
 * less than many runs that each enable a random few at random rates, because some bugs need a
 * fault to be absent (a partition that never heals hides a crash bug) or frequent. FoundationDB's
 * BUGGIFY does the same for code paths. A knob the file sets is never touched: it is what the
 * scenario is about.
 *
 * The choice depends only on the seed and the file, so `--seed S --explore` replays it exactly;
 * the values chosen are recorded in the run's summary (`explored`).
 */

export interface Explored {
  scenario: Scenario;
  /** The knobs chosen, as a scenario file would write them. */
  chosen: Record<string, unknown>;
}

const LATENCY_PROFILES = [
  { name: 'lan', minNs: 100_000, meanNs: 500_000, maxNs: 20 * NS_PER_MS },
  { name: 'fast', minNs: 50_000, meanNs: 200_000, maxNs: 2 * NS_PER_MS },
  { name: 'wan', minNs: 1 * NS_PER_MS, meanNs: 5 * NS_PER_MS, maxNs: 50 * NS_PER_MS },
  { name: 'slow', minNs: 2 * NS_PER_MS, meanNs: 15 * NS_PER_MS, maxNs: 120 * NS_PER_MS },
];
const SYNC_PROFILES = [
  { minNs: 200_000, maxNs: 2 * NS_PER_MS },
  { minNs: 1 * NS_PER_MS, maxNs: 10 * NS_PER_MS },
  { minNs: 3 * NS_PER_MS, maxNs: 40 * NS_PER_MS },
];

/** Chooses the open knobs of `scenario` (read from `text`, its file) for this seed. */
export function exploreScenario(scenario: Scenario, text: string, seed: number): Explored {
  const open = openKnobs(text);
  const rng = new SeededRng(`kv-lab-explore/${seed}`);
  const s: Scenario = structuredClone(scenario);
  const chosen: Record<string, unknown> = {};
  const multi = s.cluster.replication !== 'none';
  if (open.nodes && s.cluster.replication === 'raft') {
    s.cluster.nodes = s.cluster.voters = rng.pick([3, 3, 5]);
    // Replicas per shard default to the node count up to 3 (sim/scenario.ts); with one group the
    // scenario text leaves them out, so they must follow the nodes chosen here.
    if (s.cluster.shards <= 1) s.cluster.replicas = Math.min(3, s.cluster.nodes);
    chosen.nodes = s.cluster.nodes;
  }
  if (open.latency) {
    const p = rng.pick(LATENCY_PROFILES);
    s.network.latency = { minNs: p.minNs, meanNs: p.meanNs, maxNs: p.maxNs };
    chosen.latency = { profile: p.name, min: durationText(p.minNs), mean: durationText(p.meanNs), max: durationText(p.maxNs) };
  }
  if (open.syncLatency) {
    const p = rng.pick(SYNC_PROFILES);
    s.disk.syncLatencyMinNs = p.minNs;
    s.disk.syncLatencyMaxNs = p.maxNs;
    chosen.syncLatency = { min: durationText(p.minNs), max: durationText(p.maxNs) };
  }
  const latencyMeanNs = s.network.latency.meanNs;
  if (open.raft && s.cluster.replication === 'raft') chosen.raft = exploreRaft(s, rng, latencyMeanNs);
  if (open.timeout) {
    // Long enough for an answer under the chosen latency: at least 40 mean round trips.
    const options = [250, 500, 1000, 2000].map((ms) => ms * NS_PER_MS).filter((t) => t >= 40 * latencyMeanNs);
    s.workload.timeoutNs = rng.pick(options.length > 0 ? options : [2000 * NS_PER_MS]);
    chosen.timeout = durationText(s.workload.timeoutNs);
  }
  if (open.protocol) {
    s.workload.protocol = rng.pick(['line', 'http', 'native'] as const);
    chosen.protocol = s.workload.protocol;
  }
  if (open.faults) {
    s.faults = exploreFaults(s, rng, multi);
    chosen.faults = s.faults.map((f) => describeFault(f));
  }
  // The file form checks every cross-field rule again, so no exploration yields an invalid run.
  const again = parseScenario(scenarioYaml(s), scenario.file);
  assert(again.durationNs === scenario.durationNs, 'exploring never changes the duration');
  return { scenario: again, chosen };
}

interface OpenKnobs {
  nodes: boolean;
  latency: boolean;
  syncLatency: boolean;
  raft: boolean;
  timeout: boolean;
  protocol: boolean;
  faults: boolean;
}

/** Which knobs the file leaves to their defaults: only those are explored. */
function openKnobs(text: string): OpenKnobs {
  const doc = parseYamlText(text) as Record<string, unknown> | null;
  assert(doc !== null && typeof doc === 'object', 'a scenario file is a mapping');
  const at = (...path: string[]): unknown => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
  const faults = at('faults');
  return {
    nodes: at('cluster', 'nodes') === undefined && at('cluster', 'voters') === undefined,
    latency: at('network', 'latency') === undefined,
    syncLatency: at('disk', 'syncLatency') === undefined,
    raft: at('cluster', 'raft') === undefined,
    timeout: at('workload', 'timeout') === undefined,
    protocol: at('workload', 'protocol') === undefined,
    faults: faults === undefined || (Array.isArray(faults) && faults.length === 0),
  };
}

/** Raft's timings and optional parts; an election timeout of at least 10 mean latencies, so that leaders can be elected. */
function exploreRaft(s: Scenario, rng: Rng, latencyMeanNs: number): Record<string, unknown> {
  const combos: { tickMs: number; electionTicks: number }[] = [];
  for (const tickMs of [5, 10, 20, 50]) for (const electionTicks of [5, 10, 20]) {
    if (tickMs * electionTicks * NS_PER_MS >= 10 * latencyMeanNs && tickMs * electionTicks <= 1000) combos.push({ tickMs, electionTicks });
  }
  const c = rng.pick(combos);
  const checkQuorum = rng.chance(0.7);
  s.cluster.raft = {
    ...s.cluster.raft,
    tickMs: c.tickMs,
    electionTicks: c.electionTicks,
    heartbeatTicks: rng.between(1, Math.max(1, Math.floor(c.electionTicks / 4))),
    preVote: rng.chance(0.7),
    checkQuorum,
    leaseReads: checkQuorum && rng.chance(0.3),
    appendBeforePersist: rng.chance(0.7),
  };
  const r = s.cluster.raft;
  return { tick: durationText(r.tickMs * NS_PER_MS), electionTicks: r.electionTicks, heartbeatTicks: r.heartbeatTicks, preVote: r.preVote, checkQuorum: r.checkQuorum, leaseReads: r.leaseReads, appendBeforePersist: r.appendBeforePersist };
}

type FaultMaker = (rng: Rng) => Omit<Fault, 'atNs' | 'forNs' | 'everyNs' | 'untilNs' | 'line'> & { lasting: boolean };

/**
 * The kinds of fault a seed may switch on. Each chosen kind repeats at its own random period
 * (attrition), lasting a random part of it; node faults pick their node afresh each time.
 */
function faultMakers(nodes: number, multi: boolean): FaultMaker[] {
  const makers: FaultMaker[] = [
    () => ({ kind: 'crash', node: 'random', lasting: true }),
    () => ({ kind: 'pause', node: 'random', lasting: true }),
    (rng) => ({ kind: 'clock', node: 'random', skewNs: rng.pick([-1, 1]) * rng.between(1, 30) * NS_PER_S, lasting: true }),
    (rng) => ({ kind: 'clock', node: 'random', driftPpm: rng.pick([-1, 1]) * rng.between(5, 30) * 10_000, lasting: true }),
    (rng) => ({ kind: 'latency', minNs: 1 * NS_PER_MS, meanNs: rng.pick([5, 20]) * NS_PER_MS, maxNs: 100 * NS_PER_MS, lasting: true }),
    () => ({ kind: 'fsync-fail', node: 'random', count: 1, probability: 0, lasting: true }),
  ];
  if (multi) {
    makers.push(
      () => ({ kind: 'crash', node: 'leader', lasting: true }),
      () => ({ kind: 'partition', shape: 'isolate', node: 'random', lasting: true }),
      () => ({ kind: 'partition-one-way', from: ['random'], to: ['others'], lasting: true }),
      (rng) => ({ kind: 'loss', probability: rng.pick([0.01, 0.05, 0.2]), lasting: true }),
      (rng) => ({ kind: 'duplicate', probability: rng.pick([0.01, 0.05, 0.2]), lasting: true }),
      (rng) => ({ kind: 'reorder', probability: rng.pick([0.01, 0.05, 0.2]), lasting: true }),
    );
    if (nodes >= 3) makers.push((rng) => ({ kind: 'partition', shape: rng.pick(['majority-minority', 'halves', 'bridge'] as const), lasting: true }));
  }
  return makers;
}

function exploreFaults(s: Scenario, rng: Rng, multi: boolean): Fault[] {
  const makers = faultMakers(s.cluster.nodes, multi);
  // Each kind on with probability one half; at least one.
  let chosen = makers.filter(() => rng.chance(0.5));
  if (chosen.length === 0) chosen = [rng.pick(makers)];
  const d = s.durationNs;
  const ms = (ns: number) => Math.max(1, Math.round(ns / NS_PER_MS)) * NS_PER_MS;
  return chosen.map((make) => {
    const { lasting, ...f } = make(rng);
    const everyNs = ms(d / rng.between(2, 8));
    const atNs = ms(rng.between(1, 4) * (d / 10));
    return { ...f, atNs, everyNs, ...(lasting ? { forNs: ms(everyNs * rng.between(1, 5) / 10) } : {}), line: 0 } as Fault;
  }).filter((f) => f.atNs < d);
}

function describeFault(f: Fault): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: f.kind, at: durationText(f.atNs) };
  if (f.everyNs !== undefined) out.every = durationText(f.everyNs);
  if (f.forNs !== undefined) out.for = durationText(f.forNs);
  for (const [k, v] of Object.entries(f)) if (!['kind', 'atNs', 'everyNs', 'forNs', 'untilNs', 'line'].includes(k)) out[k.endsWith('Ns') ? k.slice(0, -2) : k] = typeof v === 'number' && k.endsWith('Ns') ? durationText(v) : v;
  return out;
}
