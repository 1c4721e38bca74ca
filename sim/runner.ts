import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkLinearizable, renderResult, type LinearizabilityResult } from '../src/check/index.js';
import { checkLostWrites, type LostWritesResult } from '../src/check/lost-writes.js';
import { checkTransactions } from '../src/check/txn/index.js';
import type { HistoryEvent } from '../src/check/history.js';
import { RepairWatch } from './repairs.js';
import type { Env } from '../src/env/env.js';
import type { KvNode } from '../src/node/node.js';
import { RaftReplica } from '../src/node/raft-replica.js';
import { kvNodeOf, startNodeProcess } from './node-process.js';
import { Nemesis } from './nemesis.js';
import { RunRecorder, type RecordedRun } from './report/recorder.js';
import { writeReport } from './report/write.js';
import { RaftObserver } from './raft-observer.js';
import { leaderStability, recovery, type Disturbances } from './availability.js';
import { setFailpointHandler } from '../src/util/failpoints.js';
import { NS_PER_MS, NS_PER_S } from './scheduler.js';
import { nodeIds, type CheckName, type Scenario, type WorkloadProtocol } from './scenario.js';
import type { StreamStats } from './stream.js';
import { Trace } from './trace.js';
import { Workload, type WorkloadStats } from './workload.js';
import { World, type Machine, type SimNode } from './world.js';
import type { NetStats, SimNet } from './net.js';
import { EventWatch, LAB_MEMBER_META, membershipVerdict, ringBalanceVerdict, WorldMembership } from './membership.js';
import { GroupedRaftObserver } from './shards/observer.js';
import { leaderBalanceVerdict, placementVerdict, shardConvergence } from './shards/checks.js';
import { MoveWatch } from './shards/moves.js';

/** What the runner reads of the Raft observer: one for a single group, one per group with shards. */
type RaftWatch = RaftObserver | GroupedRaftObserver;

/**
 * Runs one scenario with one seed: builds the world, runs the workload under the fault schedule,
 * heals everything, reads every key once more, and checks the history. The result is a summary
 * whose digest is the same for the same scenario and seed on any machine.
 */

export type Verdict = 'pass' | 'fail' | 'unknown' | 'skipped';

export interface CheckResult {
  verdict: Verdict;
  /** The scenario expects this check to fail (it demonstrates an anomaly). */
  expected?: 'fail';
  summary: string;
  details?: unknown;
}

export interface RunSummary {
  scenario: string;
  file: string;
  seed: number;
  passed: boolean;
  virtualMs: number;
  wallMs: number;
  events: number;
  messages: NetStats;
  /** Client connections to the front doors (workload.protocol line or http). */
  streams: StreamStats;
  /** How the clients reached the cluster. */
  protocol: WorkloadProtocol;
  ops: WorkloadStats;
  faultsApplied: number;
  /** Node processes that exited on a fatal error (and were restarted by their supervisor). */
  nodeExits: { node: string; atMs: number; reason: string }[];
  checks: Partial<Record<CheckName, CheckResult>>;
  digest: string;
  traceLines: number;
  reproduce: string;
  /** The knobs `kv-lab swarm --explore` chose for this seed (absent for a plain run). */
  explored?: Record<string, unknown>;
}

export interface Progress {
  nowNs: number;
  endNs: number;
  phase: 'faults' | 'heal';
  ops: WorkloadStats;
  activeFaults: string[];
}

export interface RunOptions {
  seed: number;
  /** Where to write <scenario>/<seed>/{summary.json,history.jsonl,trace.jsonl}; null: nowhere. */
  outDir: string | null;
  onProgress?: (p: Progress) => void;
  /** How the reproduce command names the scenario file (defaults to its path as given). */
  commandFile?: string;
  /** Flags the reproduce command must repeat (` --protocol http`). */
  reproduceArgs?: string;
  /** Skip the checks (a run whose digest alone matters, as in the determinism tests). */
  skipChecks?: boolean;
  /** Called after every slice of virtual time with the world and its nemesis (tests look inside). */
  inspect?: (world: World, nemesis: Nemesis) => void;
  /** Which runs write their folder (with report.html): every one (default), or only failures (swarms). */
  write?: 'all' | 'failed';
  /** Record faults and roles (RunResult.recorded) even when the run writes no folder (the shrinker reads them). */
  record?: boolean;
  /** Recorded in the summary: the knobs an explored run chose (kv-lab swarm --explore). */
  explored?: Record<string, unknown>;
}

export interface RunResult {
  summary: RunSummary;
  history: HistoryEvent[];
  /** The linearizability checker's full result, when it ran (the report draws it). */
  linearizability: LinearizabilityResult | null;
  /** Faults, node states and roles as the trace recorded them, when the run wrote files or was asked to record. */
  recorded: RecordedRun | null;
}

/** Progress is reported every this much virtual time. */
const SLICE_NS = 100 * NS_PER_MS;

/**
 * How the world boots a node of this scenario: a KvNode and its front door, which every client
 * reaches (line, HTTP, or request frames on the TCP client port). `net` opens the gateway's own
 * endpoint for forwarding.
 */
export function createNodeFor(scenario: Scenario, net: SimNet, observer: RaftWatch | null = null, membership: WorldMembership | null = null, moves: MoveWatch | null = null, repairs: RepairWatch | null = null): (env: Env, machine: Machine) => SimNode {
  const members = nodeIds(scenario).slice(0, scenario.cluster.voters);
  const gossip = scenario.cluster.gossip;
  const bugs = new Set(scenario.bugs);
  return (env, machine) =>
    startNodeProcess(env, machine, {
      config: {
        members,
        original: members.includes(env.id),
        replication: scenario.cluster.replication,
        engine: scenario.cluster.engine,
        bugs,
        raft: scenario.cluster.raft,
        primary: scenario.cluster.primary,
        storage: scenario.cluster.storage,
        ...(observer !== null ? { onApply: observer.onApply } : {}),
        ...(repairs !== null ? { onRepair: repairs.onRepair } : {}),
        // A joiner by gossip (cluster.joinByGossip) keeps the founders in `members` (its front door forwards to them), as a real one learns them by gossip; placement it learns from the members it asks.
        ...(scenario.cluster.shards > 1 ? { shards: { count: scenario.cluster.shards, replicas: scenario.cluster.replicas, ...(scenario.cluster.joinByGossip && !members.includes(env.id) ? { joinByGossip: true } : {}), ...(moves !== null ? { onMoveStep: moves.onStep } : {}) } } : {}),
        // Every node joins through every other: the way an operator lists seeds.
        ...(gossip !== null ? { gossip: { options: gossip, seeds: nodeIds(scenario), meta: LAB_MEMBER_META, ...(membership !== null ? { onEvent: membership.see } : {}) } } : {}),
      },
      frontDoor: true,
      openNet: (address, m) => net.attach(address, m.owner, m.id),
      bugs,
    });
}

export function runScenario(scenario: Scenario, options: RunOptions): RunResult {
  const wallStart = performance.now();
  const seed = options.seed;
  const trace = new Trace(options.outDir !== null);
  const recorder = options.outDir !== null || options.record === true ? new RunRecorder(nodeIds(scenario)) : null;
  trace.listener = recorder?.onRecord ?? null;
  let observer: RaftWatch | null = null;
  let membership: WorldMembership | null = null;
  let moves: MoveWatch | null = null;
  let repairs: RepairWatch | null = null;
  const world: World = new World({
    seed: String(seed),
    nodeIds: nodeIds(scenario),
    net: { latency: { minMs: scenario.network.latency.minNs / NS_PER_MS, meanMs: scenario.network.latency.meanNs / NS_PER_MS, maxMs: scenario.network.latency.maxNs / NS_PER_MS } },
    disk: {
      syncLatencyMsMin: scenario.disk.syncLatencyMinNs / NS_PER_MS,
      syncLatencyMsMax: scenario.disk.syncLatencyMaxNs / NS_PER_MS,
      capacityBytes: scenario.disk.capacityBytes,
      crash: scenario.disk.crash,
      dirCrash: scenario.disk.dirCrash,
    },
    createNode: (env, machine) => createNodeFor(scenario, world.net, observer, membership, moves, repairs)(env, machine),
    trace,
  });
  if (scenario.cluster.replication === 'raft' && OBSERVED.some((c) => scenario.checks.includes(c))) {
    observer = scenario.cluster.shards > 1 ? new GroupedRaftObserver(world, scenario.cluster.shards) : new RaftObserver(world);
    observer.attach();
  }
  if (scenario.cluster.gossip !== null) membership = new WorldMembership(world);
  // Also for corrupt faults that wait for the other members' repairs (whileOthersWhole).
  if (scenario.checks.includes('repairs') || scenario.faults.some((f) => f.kind === 'corrupt' && f.whileOthersWhole === true)) repairs = new RepairWatch(world);
  if (scenario.cluster.shards > 1 && scenario.checks.includes('moves')) {
    moves = new MoveWatch(world, scenario);
    moves.attach();
  }
  const violated = () => observer?.violation != null;
  trace.record(0, 'run', { scenario: scenario.name, seed });
  const workload = new Workload(world, scenario.workload, world.rng.fork('workload'), world.nodeIds());
  const nemesis = new Nemesis(world, world.rng.fork('nemesis'));
  if (repairs !== null) nemesis.repairsPending = () => (repairs as RepairWatch).pendingNodes();
  // Failpoints answer to this run's nemesis while it runs (a run is synchronous: nothing else
  // runs in between), and to no one after it.
  const previousHandler = Nemesis.needsFailpoints(scenario.faults) ? setFailpointHandler(nemesis.onFailpoint) : undefined;
  try {
    return runPhases(scenario, options, { world, trace, workload, nemesis, observer: () => observer, membership, moves, repairs, violated, wallStart, recorder });
  } finally {
    if (previousHandler !== undefined) setFailpointHandler(previousHandler);
  }
}

/** The checks that need the Raft observer's record. */
const OBSERVED: readonly CheckName[] = ['raft-safety', 'leader-stability', 'applied-results'];

interface RunParts {
  world: World;
  trace: Trace;
  workload: Workload;
  nemesis: Nemesis;
  observer: () => RaftWatch | null;
  membership: WorldMembership | null;
  /** What moves did (sharded runs with the moves check). */
  moves: MoveWatch | null;
  /** Repairs of state machines from their group (the repairs check). */
  repairs: RepairWatch | null;
  violated: () => boolean;
  wallStart: number;
  /** Reads the trace for report.html; null when the run writes no folder. */
  recorder: RunRecorder | null;
}

function runPhases(scenario: Scenario, options: RunOptions, parts: RunParts): RunResult {
  const { world, trace, workload, nemesis, violated, wallStart, recorder } = parts;
  const observer = parts.observer();
  const seed = options.seed;
  const watch = parts.membership !== null ? new EventWatch(parts.membership) : null;
  world.start();
  workload.start();
  nemesis.schedule(scenario.faults, scenario.durationNs);

  const progress = (phase: Progress['phase'], endNs: number) => {
    options.inspect?.(world, nemesis);
    options.onProgress?.({ nowNs: world.nowNs, endNs, phase, ops: workload.stats, activeFaults: nemesis.activeLabels() });
  };

  // Safety phase: the workload runs under the fault schedule.
  while (world.nowNs < scenario.durationNs && !violated()) {
    world.sched.runUntil(Math.min(scenario.durationNs, world.nowNs + SLICE_NS));
    progress('faults', scenario.durationNs);
  }

  // Liveness phase: every fault healed, no new operations; once the open ones end, read every
  // key. A healthy cluster answers them all before the heal deadline.
  workload.stopIssuing();
  nemesis.healAll();
  let unanswered: string[] | null = null;
  const healStartNs = world.nowNs;
  const hardEndNs = healStartNs + scenario.settleNs + scenario.workload.timeoutNs + scenario.healNs + NS_PER_S;
  world.sched.after(scenario.settleNs, 'settle', () =>
    workload.whenQuiet(() => {
      workload.finalReads(world.nowNs + scenario.healNs, (keys) => {
        unanswered = keys;
        world.sched.stop();
      });
    }),
  );
  while (unanswered === null && world.nowNs < hardEndNs && !violated()) {
    world.sched.runUntil(Math.min(hardEndNs, world.nowNs + SLICE_NS));
    progress('heal', hardEndNs);
  }

  // Before convergence's power cycle, which restarts every node's gossip from nothing: the views
  // judged are the ones the faults left.
  const gossipChecks = gossipVerdicts(scenario, options.skipChecks === true ? null : parts.membership, watch, { timeline: nemesis.timeline, others: [...world.exits.flatMap((e) => [e.atNs, e.atNs + world.supervisorRestartNs]), ...world.panics.map((p) => p.atNs)] }, violated());
  const cycles: number[] = [];
  const convergence = scenario.checks.includes('convergence') && !violated() ? (scenario.cluster.shards > 1 ? shardConvergence : awaitConvergence)(world, scenario, hardEndNs + scenario.healNs, cycles) : null;
  const shardChecks = shardVerdicts(scenario, world, violated(), parts.moves);
  observer?.full();
  const history = workload.history;
  const disturbances: Disturbances = {
    timeline: nemesis.timeline,
    others: [...world.exits.flatMap((e) => [e.atNs, e.atNs + world.supervisorRestartNs]), ...world.panics.map((p) => p.atNs), ...cycles],
  };
  const checks: Partial<Record<CheckName, CheckResult>> = {};
  const kept: { linearizability: LinearizabilityResult | null } = { linearizability: null };
  for (const name of scenario.checks) {
    const c: CheckResult =
      name === 'membership' || name === 'ring-balance'
        ? gossipChecks[name]
        : name === 'placement' || name === 'leader-balance' || name === 'moves'
        ? shardChecks[name]
        : name === 'convergence'
        ? convergence ?? { verdict: 'skipped', summary: 'the run stopped before replicas could converge' }
        : name === 'assertions'
          ? assertionsVerdict(world)
        : name === 'repairs'
          ? parts.repairs?.verdict() ?? { verdict: 'skipped', summary: 'no Raft in this run' }
        : options.skipChecks && name !== 'raft-safety'
          ? { verdict: 'skipped', summary: 'not checked (skipChecks)' }
          : name === 'leader-stability' || name === 'applied-results' || name === 'recovery'
            ? raftRecordCheck(name, scenario, history, observer, disturbances)
            : runCheck(name, history, unanswered, observer, kept);
    checks[name] = scenario.expectFail.includes(name) ? { ...c, expected: 'fail' } : c;
  }
  const passed = Object.values(checks).every((c) => (c.expected === 'fail' ? c.verdict === 'fail' : c.verdict === 'pass' || c.verdict === 'skipped'));
  const digest = trace.digest();
  const file = options.commandFile ?? scenario.file;
  const summary: RunSummary = {
    scenario: scenario.name,
    file: scenario.file,
    seed,
    passed,
    virtualMs: world.nowNs / NS_PER_MS,
    wallMs: Math.round(performance.now() - wallStart),
    events: world.sched.eventsRun,
    messages: { ...world.net.stats },
    streams: { ...world.streams.stats },
    protocol: scenario.workload.protocol,
    ops: { ...workload.stats },
    faultsApplied: nemesis.applied,
    nodeExits: world.exits.map((e) => ({ node: e.node, atMs: e.atNs / NS_PER_MS, reason: e.reason })),
    checks,
    digest,
    traceLines: trace.lines,
    reproduce: `npx kv-lab run ${file} --seed ${seed}${options.reproduceArgs ?? ''}`,
    ...(options.explored !== undefined ? { explored: options.explored } : {}),
  };
  const recorded = recorder?.finish(world.nowNs) ?? null;
  if (options.outDir !== null && (options.write !== 'failed' || !passed)) {
    const dir = writeRun(options.outDir, summary, history, trace);
    writeReport(dir, { summary, history, recorded: recorded as RecordedRun, linearizability: kept.linearizability, nodeIds: nodeIds(scenario) });
  }
  return { summary, history, linearizability: kept.linearizability, recorded };
}

/** placement and leader-balance (sim/shards/checks.ts): after convergence, each given the heal timeout to hold. */
function shardVerdicts(s: Scenario, world: World, stopped: boolean, moves: MoveWatch | null): Record<'placement' | 'leader-balance' | 'moves', CheckResult> {
  const skipped = (why: string): CheckResult => ({ verdict: 'skipped', summary: why });
  const placement = !s.checks.includes('placement') ? skipped('not checked') : stopped ? skipped('the run stopped at a Raft safety violation') : placementVerdict(world, s, world.nowNs + s.healNs);
  const balance = !s.checks.includes('leader-balance') ? skipped('not checked') : stopped ? skipped('the run stopped at a Raft safety violation') : leaderBalanceVerdict(world, s, world.nowNs + s.healNs);
  const moved = moves === null ? skipped('not checked') : stopped ? skipped('the run stopped at a Raft safety violation') : moves.verdict(world);
  return { placement, 'leader-balance': balance, moves: moved };
}

/** membership and ring-balance (sim/membership.ts): run the world on until the views agree or the heal timeout passes. */
function gossipVerdicts(s: Scenario, m: WorldMembership | null, watch: EventWatch | null, d: Disturbances, stopped: boolean): Record<'membership' | 'ring-balance', CheckResult> {
  const skipped = (why: string): CheckResult => ({ verdict: 'skipped', summary: why });
  if (m === null || watch === null || s.cluster.gossip === null) return { membership: skipped('no gossip in this run, or not checked'), 'ring-balance': skipped('no gossip in this run, or not checked') };
  if (stopped) return { membership: skipped('the run stopped at a Raft safety violation'), 'ring-balance': skipped('the run stopped at a Raft safety violation') };
  const healMs = s.healNs / NS_PER_MS;
  const membership = s.checks.includes('membership') ? membershipVerdict(m, watch, s.cluster.gossip, d, healMs) : skipped('not checked');
  const ring = s.checks.includes('ring-balance') ? ringBalanceVerdict(m, healMs) : skipped('not checked');
  return { membership, 'ring-balance': ring };
}

/** The checks that read the Raft observer's record and the fault timeline (availability.ts, applied-results.ts). */
function raftRecordCheck(name: 'leader-stability' | 'applied-results' | 'recovery', s: Scenario, history: HistoryEvent[], observer: RaftWatch | null, d: Disturbances): CheckResult {
  if (name === 'recovery') return recovery(history, d.timeline, s.durationNs, s.recoverWithinNs, s.recoverFraction);
  if (observer === null) return { verdict: 'skipped', summary: 'no Raft in this run' };
  if (observer.violation !== null) return { verdict: 'skipped', summary: 'the run stopped at a Raft safety violation' };
  if (name === 'leader-stability') {
    // A few of the longest election timeouts (randomised up to twice electionTicks).
    const graceNs = Math.max(NS_PER_S, 5 * s.cluster.raft.electionTicks * s.cluster.raft.tickMs * NS_PER_MS);
    const v = leaderStability(observer.campaigns, d, graceNs);
    return { ...v, summary: `${v.summary}; ${observer.roleChanges} role changes in all` };
  }
  const a = observer.applied;
  if (a.broken !== null) return { verdict: 'unknown', summary: `the reference state machine could not apply ${a.broken}` };
  const { checked, mismatches } = a.compare(history);
  const gap = a.gapAt !== null ? `; entries from ${a.gapAt} on were never applied in order by any node, so the writes in them were not checked` : '';
  if (mismatches.length > 0) {
    const more = mismatches.length > 5 ? `\n  … ${mismatches.length - 5} more` : '';
    return { verdict: 'fail', summary: `${mismatches.length} answer(s) differ from what was applied:\n  ${mismatches.slice(0, 5).join('\n  ')}${more}` };
  }
  return { verdict: 'pass', summary: `every answered write matches the entry that carried it (${checked} answers, ${a.entries} entries)${gap}` };
}

function assertionsVerdict(world: World): CheckResult {
  const p = world.panics;
  if (p.length === 0) return { verdict: 'pass', summary: 'no node stopped on a failed assertion' };
  const shown = p.slice(0, 3).map((x) => `${x.node} at ${(x.atNs / 1e6).toFixed(3)} ms (${x.event}): ${x.error}`);
  return { verdict: 'fail', summary: `${p.length} node process(es) died on a failed assertion:\n  ${shown.join('\n  ')}`, details: p };
}

/**
 * Replicas converge: once healed and quiet, every running node holds the same state at the same
 * log position. Waits (in virtual time, up to deadlineNs) for the positions to meet, then compares
 * the states; a difference names the first keys that differ.
 *
 * Under Raft it then cuts the power of every node at once and boots them again: each must recover
 * from what its disk really holds (its engine's files and the Raft log) to the same state as
 * before. An engine that lost data it had recorded as applied — a flush that logged its checkpoint
 * before its table was durable — shows here, even when no read ever touched the key. Every member
 * must be running at the end, but for nodes the scenario deliberately corrupted where the cluster
 * cannot repair them yet (withMembers). `cycles` receives the times of the power cycle.
 */
function awaitConvergence(world: World, s: Scenario, deadlineNs: number, cycles: number[]): CheckResult {
  const first = converge(world, deadlineNs);
  if (first.verdict !== 'pass' || s.cluster.replication !== 'raft') return first.verdict === 'pass' ? withMembers(world, s, first) : first;
  const before = new Map(first.states.map((st) => [st.id, st.digest]));
  const appliedBefore = Math.max(0, ...first.states.map((st) => st.applied));
  cycles.push(world.nowNs);
  for (const m of world.machines.values()) world.crash(m.id);
  world.trace.record(world.nowNs, 'power-cycle', {});
  for (const m of world.machines.values()) world.restart(m.id);
  const again = converge(world, world.nowNs + Math.max(deadlineNs - world.nowNs, 10 * NS_PER_S), appliedBefore);
  if (again.verdict !== 'pass') return { ...again, summary: `after a power cycle of every node: ${again.summary}` };
  const changed = again.states.filter((st) => before.has(st.id) && before.get(st.id) !== st.digest);
  if (changed.length > 0) {
    const lines = changed.map((st) => `${st.id}: digest ${before.get(st.id)?.slice(0, 12)} before, ${st.digest.slice(0, 12)} after`);
    return { verdict: 'fail', summary: `after a power cycle of every node, the replicas agree on a state other than the one they held:\n${lines.join('\n')}` };
  }
  return withMembers(world, s, { ...again, summary: `${first.summary}; the same after a power cycle of every node` });
}

/**
 * Fails a passing convergence if a member is not running, unless the scenario corrupted a file
 * its cluster cannot repair yet. A single Raft group's members quarantine what rotted and repair
 * from the group, so they must be running too; so must a sharded node whose groups' engine or
 * snapshot files rotted (each group repairs its own). A sharded node's shared Raft log (and the
 * term and vote in it), and other replication modes, still refuse to start on a corrupt file.
 */
function withMembers(world: World, s: Scenario, c: CheckResult): CheckResult {
  const members = leaderMembers(world) ?? nodeIds(s).slice(0, s.cluster.voters);
  const down = members.filter((id) => world.machine(id).state !== 'up' || kvNodeOf(world.machine(id)) === null);
  if (down.length === 0) return c;
  const repairable = (f: Scenario['faults'][number]) =>
    s.cluster.replication === 'raft' && (s.cluster.shards <= 1 || (f.kind === 'corrupt' && (f.file === 'engine' || f.file === 'snapshot')));
  const corrupted = s.faults.some((f) => f.kind === 'corrupt' && !repairable(f));
  const why = down.map((id) => `${id} (${world.exits.filter((e) => e.node === id).at(-1)?.reason ?? world.machine(id).state})`).join(', ');
  if (corrupted) return { ...c, summary: `${c.summary}; not running, as a corrupted disk may leave them: ${why}` };
  return { verdict: 'fail', summary: `member(s) not running at the end: ${why}` };
}

interface Converged extends CheckResult {
  states: { id: string; digest: string; applied: number }[];
}

function running(world: World): { id: string; node: KvNode }[] {
  return [...world.machines.values()].filter((m) => m.state === 'up' && kvNodeOf(m) !== null).map((m) => ({ id: m.id, node: kvNodeOf(m) as KvNode }));
}

/** The members as the leader of the highest term counts them (spares never added are not). */
function leaderMembers(world: World): string[] | null {
  let best: { term: number; members: string[] } | null = null;
  for (const n of running(world)) {
    const st = n.node.status();
    if (st.role === 'leader' && (best === null || st.term > best.term)) best = { term: st.term, members: st.members };
  }
  return best?.members ?? null;
}

/**
 * Waits until the members hold the same state at the same position; with minApplied, also until
 * a leader is known and that position is at least minApplied (nodes just booted all agree on
 * being empty at position 0).
 */
function converge(world: World, deadlineNs: number, minApplied = 0): Converged {
  const nodes = () => {
    const m = leaderMembers(world);
    return running(world).filter((n) => m === null || m.includes(n.id));
  };
  // Quiet includes every Raft log applied to its end: an entry appended a moment ago (a front
  // door's retry reaching the leader) would be committed after the power cycle below and move the
  // state on, which is no divergence (raft/overtaken.yaml seed 58).
  // Quiet also means no state machine is still being repaired: a repair ends once the installed
  // state is durable, after its position already agrees (raft/rot-lsm seed 178 stopped waiting in
  // between, and the repairs check found the repair never done).
  const positions = () => nodes().map((n) => ({ ...n.node.stateDigest(), unapplied: unappliedEntries(n.node) + (n.node.status().recovery?.stateMachine !== undefined ? 1 : 0) }));
  const settled = (states: { applied: number; digest: string; unapplied: number }[]) =>
    states.length > 0 &&
    states.every((s) => s.unapplied === 0) &&
    new Set(states.map((s) => `${s.applied}/${s.digest}`)).size === 1 &&
    (minApplied === 0 || (leaderMembers(world) !== null && (states[0]?.applied ?? 0) >= minApplied));
  let states = positions();
  while (world.nowNs < deadlineNs && !settled(states)) {
    world.sched.runUntil(world.nowNs + 20 * NS_PER_MS);
    states = positions();
  }
  const all = nodes();
  const ids = all.map((n, i) => ({ id: n.id, digest: states[i]?.digest ?? '', applied: states[i]?.applied ?? 0 }));
  if (minApplied > 0 && !settled(states)) {
    const lines = all.map((n, i) => `${n.id}: position ${states[i]?.applied}, ${states[i]?.keys} keys`);
    return { verdict: 'fail', summary: `the replicas did not come back to position ${minApplied}:\n${lines.join('\n')}`, states: ids };
  }
  if (all.length < 2) return { verdict: 'pass', summary: 'a single replica', states: ids };
  const distinct = new Set(states.map((s) => `${s.applied}/${s.digest}`));
  if (distinct.size === 1) return { verdict: 'pass', summary: `${all.length} replicas hold the same ${states[0]?.keys ?? 0} keys at position ${states[0]?.applied ?? 0}`, states: ids };
  const lines = all.map((n, i) => `${n.id}: position ${states[i]?.applied}, ${states[i]?.keys} keys, digest ${states[i]?.digest.slice(0, 12)}`);
  const diffs = firstDifferences(all[0] as { id: string; node: KvNode }, all.slice(1));
  return { verdict: 'fail', summary: `replicas did not converge after healing:\n${[...lines, ...diffs].join('\n')}`, states: ids };
}

/** Entries in a node's Raft log past what it applied (0 without Raft). */
function unappliedEntries(node: KvNode): number {
  const r = node.replicaForInspection;
  const raft = r instanceof RaftReplica ? r.raftNode : null;
  return r instanceof RaftReplica && raft !== null ? Math.max(0, raft.lastIndex() - r.appliedIndex()) : 0;
}

/** Up to five keys where other replicas differ from the first. */
function firstDifferences(base: { id: string; node: KvNode }, others: { id: string; node: KvNode }[]): string[] {
  const show = (k: string) => JSON.stringify(k.replace(/^\x00[^\x00]*\x00/, ''));
  const baseMap = new Map(base.node.stateEntries());
  const out: string[] = [];
  for (const o of others) {
    const seen = new Set<string>();
    for (const [k, v] of o.node.stateEntries()) {
      seen.add(k);
      if (baseMap.get(k) !== v && out.length < 5) out.push(`  key ${show(k)}: ${base.id} has ${baseMap.get(k) ?? '(absent)'}, ${o.id} has ${v}`);
    }
    for (const [k, v] of baseMap) if (!seen.has(k) && out.length < 5) out.push(`  key ${show(k)}: ${base.id} has ${v}, ${o.id} has (absent)`);
  }
  return out;
}

/** The checks that need only the history (and which final reads went unanswered): real runs use them too. */
export function historyCheck(name: 'linearizable' | 'lost-writes' | 'liveness', history: HistoryEvent[], unanswered: string[] | null): CheckResult {
  return runCheck(name, history, unanswered, null, { linearizability: null });
}

function runCheck(name: CheckName, history: HistoryEvent[], unanswered: string[] | null, observer: RaftWatch | null, kept: { linearizability: LinearizabilityResult | null }): CheckResult {
  switch (name) {
    case 'convergence':
      return { verdict: 'skipped', summary: 'checked while the run goes' };
    case 'assertions':
      return { verdict: 'skipped', summary: 'checked from the world' };
    case 'raft-safety':
      if (observer === null) return { verdict: 'skipped', summary: 'no Raft in this run' };
      if (observer.violation !== null) {
        const v = observer.violation;
        return { verdict: 'fail', summary: `${v.message}\n(the run stopped there)`, details: { invariant: v.invariant, nodes: v.nodes, step: v.step } };
      }
      return { verdict: 'pass', summary: `one leader per term, matching logs, no committed entry lost, same entries applied everywhere (${observer.fullChecks} full checks)` };
    case 'lost-writes':
      if (onlyTxns(history)) return { verdict: 'skipped', summary: 'only transactions: they are the isolation checker\'s' };
      return lostWritesVerdict(checkLostWrites(singleKeyOps(history)));
    case 'liveness':
      if (unanswered === null) return { verdict: 'fail', summary: 'the cluster never became quiet enough to read every key after healing' };
      if (unanswered.length > 0) return { verdict: 'fail', summary: `after healing, reads of ${unanswered.length} key(s) never succeeded: ${unanswered.slice(0, 10).join(', ')}` };
      return { verdict: 'pass', summary: 'every key was read after healing' };
    case 'linearizable':
      if (onlyTxns(history)) return { verdict: 'skipped', summary: 'only transactions: they are the isolation checker\'s' };
      return linearizableVerdict(singleKeyOps(history), kept);
    case 'leader-stability':
    case 'applied-results':
    case 'recovery':
      return { verdict: 'skipped', summary: 'checked from the run\'s record (raftRecordCheck)' };
    case 'repairs':
      return { verdict: 'skipped', summary: 'checked from the nodes\' repair events (RepairWatch)' };
    case 'membership':
    case 'ring-balance':
      return { verdict: 'skipped', summary: 'checked from the nodes\' gossip (gossipVerdicts)' };
    case 'placement':
    case 'leader-balance':
    case 'moves':
      return { verdict: 'skipped', summary: 'checked from the nodes\' shards (shardVerdicts)' };
    case 'isolation':
      return isolationVerdict(history);
  }
}

/**
 * The transactions of a run against strict serializability (src/check/txn: Elle's inference of
 * dependencies from list-append and unique-write register histories, plus real-time order): the
 * model the store promises, so that any cycle, aborted or intermediate read fails the run.
 */
function isolationVerdict(history: HistoryEvent[]): CheckResult {
  if (!history.some((e) => (e.f as string) === 'txn')) return { verdict: 'skipped', summary: 'no transactions in this history' };
  const r = checkTransactions(history, { consistency: 'strict-serializable', source: 'run history' });
  const seen = `${r.txnCount} transactions (${r.okCount} committed, ${r.failCount} aborted, ${r.infoCount} unknown) over ${r.keyCount} keys, ${r.edgeCount} dependency edges`;
  if (r.valid === true) return { verdict: 'pass', summary: `strict serializable: ${seen}, no forbidden anomaly` };
  const counts = Object.entries(r.counts).map(([c, n]) => `${c} ${n}`).join(', ');
  if (r.valid === 'unknown') return { verdict: 'unknown', summary: `the search budget ran out: ${seen}; ${r.notes.join('; ')}` };
  const first = r.anomalies.find((a) => a.forbidden);
  return {
    verdict: 'fail',
    summary: `not strict serializable: ${r.forbiddenFound.join(', ')} (${counts}) in ${seen}${first !== undefined ? `\n${first.class}: ${first.text}` : ''}`,
    details: { forbidden: r.forbiddenFound, counts: r.counts },
  };
}

/**
 * The single-key operations of a history: transactions (`f: txn`, sim/txn-workload.ts) are the
 * isolation checker's, and the per-key checks leave them out.
 */
export function singleKeyOps(history: HistoryEvent[]): HistoryEvent[] {
  return history.some((e) => (e.f as string) === 'txn') ? history.filter((e) => (e.f as string) !== 'txn') : history;
}

function onlyTxns(history: HistoryEvent[]): boolean {
  return history.length > 0 && history.every((e) => (e.f as string) === 'txn');
}

/**
 * The search budget of a run's linearizability check, in steps rather than seconds so that the
 * verdict is as deterministic as the run; exhausting it gives `unknown`, never a false pass.
 */
export const CHECK_STEPS_MAX = 50_000_000;
/**
 * The budget for explaining a violation (a smallest failing set). Past it the explanation is
 * reported as not shown minimal; the verdict itself is already decided.
 */
export const EXPLAIN_STEPS_MAX = 5_000_000;

function linearizableVerdict(history: HistoryEvent[], kept: { linearizability: LinearizabilityResult | null }): CheckResult {
  const r = checkLinearizable(history, { model: 'kv', stepsMax: CHECK_STEPS_MAX, explainKeysMax: 1, explainStepsMax: EXPLAIN_STEPS_MAX, source: 'history.jsonl' });
  kept.linearizability = r;
  const text = renderResult(r);
  switch (r.verdict) {
    case 'ok':
      return { verdict: 'pass', summary: `linearizable (${r.opCount} operations on ${r.keyCount} keys, ${r.steps} search steps)` };
    case 'violation':
      return { verdict: 'fail', summary: text, details: { keys: r.keys.map((k) => k.key) } };
    case 'unknown':
      return { verdict: 'unknown', summary: text };
  }
}

function lostWritesVerdict(r: LostWritesResult): CheckResult {
  if (r.lost.length === 0) {
    const unread = r.keysUnread.length > 0 ? `; ${r.keysUnread.length} key(s) had no final read` : '';
    return { verdict: r.keysUnread.length > 0 && r.keysChecked === 0 ? 'unknown' : 'pass', summary: `no acknowledged write lost (${r.readsChecked} reads of ${r.keysChecked} keys checked${unread})` };
  }
  const shown = r.lost.slice(0, 5).map((l) => `${l.key}: ${l.f} ${JSON.stringify(l.value)} (process ${l.process}) is gone: process ${l.readProcess} then read ${JSON.stringify(l.readValue)}`);
  return { verdict: 'fail', summary: `${r.lost.length} acknowledged write(s) lost:\n  ${shown.join('\n  ')}${r.lost.length > 5 ? '\n  …' : ''}`, details: r };
}

function writeRun(outDir: string, summary: RunSummary, history: HistoryEvent[], trace: Trace): string {
  const dir = join(outDir, summary.scenario, String(summary.seed));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(dir, 'history.jsonl'), history.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const lines = trace.keptLines();
  writeFileSync(join(dir, 'trace.jsonl'), lines === null ? '{"e":"trace-truncated"}\n' : lines.join('\n') + '\n');
  return dir;
}
