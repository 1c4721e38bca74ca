import { ShardMap } from '../../src/cluster/placement/shard-map.js';
import type { KvNode } from '../../src/node/node.js';
import type { ShardedReplica } from '../../src/node/sharded-replica.js';
import { kvNodeOf } from '../node-process.js';
import type { CheckResult } from '../runner.js';
import { nodeIds, type Scenario } from '../scenario.js';
import { NS_PER_MS, NS_PER_S } from '../scheduler.js';
import type { World } from '../world.js';
import { finalMemberSet } from './moves.js';

/**
 * The checks of a sharded run, read from the nodes once the faults are healed:
 * - convergence, per group: every replica of a shard holds the same state at the same position;
 *   then every node loses power at once and must come back to the same states (as the unsharded
 *   check does, sim/runner.ts);
 * - placement: every shard has its R replicas running on exactly the ring's owners
 *   (ShardMap.replicas), the group's voters are those nodes, and it has a leader;
 * - leader-balance: no node leads more than ⌈S/N⌉ + LEADER_SLACK shards (the nodes' balancer
 *   hands each shard to its preferred leader; the slack covers a transfer still under way).
 * Each waits, in virtual time up to its deadline, for the condition to hold, and reports what it
 * last saw when it does not.
 */

/** Leaders a node may hold above ⌈shards / nodes⌉ and still count as balanced. */
export const LEADER_SLACK = 1;

interface Host {
  id: string;
  node: KvNode;
  sharded: ShardedReplica;
}

function hosts(world: World): Host[] {
  const out: Host[] = [];
  for (const m of world.machines.values()) {
    if (m.state !== 'up') continue;
    const node = kvNodeOf(m);
    const sharded = node?.sharded ?? null;
    if (node !== null && node !== undefined && sharded !== null) out.push({ id: m.id, node, sharded });
  }
  return out;
}

/** The first placement: the first member set's (cluster.voters nodes). */
export function shardMapOf(s: Scenario): ShardMap {
  return ShardMap.build(nodeIds(s).slice(0, s.cluster.voters), { shards: s.cluster.shards, replicas: s.cluster.replicas });
}

/** The placement the cluster ended with: its last member set's (moves.ts finalMemberSet). */
export function finalShardMap(world: World, s: Scenario): ShardMap {
  return ShardMap.build(finalMemberSet(world, s).members, { shards: s.cluster.shards, replicas: s.cluster.replicas });
}

/** Runs the world in small steps until `done` holds or the deadline passes; whether it held. */
function waitFor(world: World, deadlineNs: number, done: () => boolean): boolean {
  while (!done()) {
    if (world.nowNs >= deadlineNs) return false;
    world.sched.runUntil(Math.min(deadlineNs, world.nowNs + 20 * NS_PER_MS));
  }
  return true;
}

interface GroupState {
  shard: number;
  states: { id: string; applied: number; keys: number; digest: string; unapplied: number; repairing: boolean }[];
}

function groupStates(world: World, map: ShardMap): GroupState[] {
  const hs = hosts(world);
  const out: GroupState[] = [];
  for (let shard = 0; shard < map.shards; shard++) {
    const states: GroupState['states'] = [];
    for (const h of hs) {
      const d = h.sharded.stateDigest(shard);
      if (d !== null) states.push({ id: h.id, ...d });
    }
    out.push({ shard, states });
  }
  return out;
}

/**
 * Every shard's replicas are all running and agree (position and digest), at minApplied or past,
 * and quiet: each has applied its whole log, and finished any repair of its state machine (which
 * ends once the repaired state is durable: raft/rot-lsm seed 178). An entry appended a moment ago on a majority but not
 * yet committed would be committed after the power cycle and move the state on, which is no
 * divergence (shards/partitions seed 79: the single group's convergence waits for the same).
 */
function agreed(g: GroupState, replicas: number, minApplied: number): boolean {
  return g.states.length === replicas && g.states.every((x) => x.unapplied === 0 && !x.repairing) && new Set(g.states.map((x) => `${x.applied}/${x.digest}`)).size === 1 && (g.states[0]?.applied ?? 0) >= minApplied;
}

function convergeGroups(world: World, map: ShardMap, deadlineNs: number, minApplied: number[] | null): { ok: boolean; groups: GroupState[] } {
  let groups = groupStates(world, map);
  const settled = () => groups.every((g) => agreed(g, map.replicasPerShard, minApplied?.[g.shard] ?? 0) && (minApplied === null || hasLeader(world, g.shard)));
  const ok = waitFor(world, deadlineNs, () => {
    groups = groupStates(world, map);
    return settled();
  });
  return { ok, groups };
}

function describeGroups(groups: GroupState[], replicas: number): string {
  return groups
    .filter((g) => !agreed(g, replicas, 0))
    .slice(0, 5)
    .map((g) => `  shard ${g.shard}: ${g.states.length} of ${replicas} replicas running; ${g.states.map((x) => `${x.id} at ${x.applied}${x.unapplied > 0 ? ` (+${x.unapplied} unapplied)` : ''} (${x.keys} keys, ${x.digest.slice(0, 12)})`).join(', ')}`)
    .join('\n');
}

/** Convergence per group, then after a power cycle of every node (the runner's awaitConvergence, per shard). */
export function shardConvergence(world: World, s: Scenario, deadlineNs: number, cycles: number[]): CheckResult {
  const map = finalShardMap(world, s);
  const first = convergeGroups(world, map, deadlineNs, null);
  if (!first.ok) return { verdict: 'fail', summary: `the replicas of some shards did not converge after healing:\n${describeGroups(first.groups, map.replicasPerShard)}` };
  const before = new Map(first.groups.map((g) => [g.shard, g.states[0]?.digest ?? '']));
  const applied = first.groups.map((g) => g.states[0]?.applied ?? 0);
  const keys = first.groups.reduce((n, g) => n + (g.states[0]?.keys ?? 0), 0);
  cycles.push(world.nowNs);
  for (const m of world.machines.values()) world.crash(m.id);
  world.trace.record(world.nowNs, 'power-cycle', {});
  for (const m of world.machines.values()) world.restart(m.id);
  const again = convergeGroups(world, map, world.nowNs + Math.max(deadlineNs - world.nowNs, 10 * NS_PER_S), applied);
  if (!again.ok) return { verdict: 'fail', summary: `after a power cycle of every node, some shards did not come back to their positions:\n${describeGroups(again.groups, map.replicasPerShard)}` };
  const changed = again.groups.filter((g) => before.get(g.shard) !== g.states[0]?.digest);
  if (changed.length > 0) {
    const lines = changed.map((g) => `  shard ${g.shard}: digest ${before.get(g.shard)?.slice(0, 12)} before, ${g.states[0]?.digest.slice(0, 12)} after`);
    return { verdict: 'fail', summary: `after a power cycle of every node, some shards agree on a state other than the one they held:\n${lines.join('\n')}` };
  }
  return { verdict: 'pass', summary: `${map.shards} shards × ${map.replicasPerShard} replicas each hold the same state (${keys} keys in all); the same after a power cycle of every node` };
}

/** The node leading `shard` now (the highest term's leader), or null. */
function leaderOf(world: World, shard: number): { id: string; term: number; voters: readonly string[] } | null {
  let best: { id: string; term: number; voters: readonly string[] } | null = null;
  for (const h of hosts(world)) {
    const raft = h.sharded.group(shard)?.raftNode ?? null;
    if (raft === null || raft.softState().role !== 'leader') continue;
    const term = raft.hardState().term;
    if (best === null || term > best.term) best = { id: h.id, term, voters: raft.membership().voters };
  }
  return best;
}

function hasLeader(world: World, shard: number): boolean {
  return leaderOf(world, shard) !== null;
}

/** What is wrong with one shard's placement now, or null. */
function placementProblemOf(world: World, map: ShardMap, shard: number): string | null {
  const want = [...map.replicas(shard)].sort();
  const running = hosts(world).filter((h) => h.sharded.group(shard) !== null).map((h) => h.id).sort();
  if (running.join(',') !== want.join(',')) return `shard ${shard}: replicas running on ${running.join(',') || 'no node'}, the ring's owners are ${want.join(',')}`;
  const leader = leaderOf(world, shard);
  if (leader === null) return `shard ${shard}: no leader`;
  const voters = [...leader.voters].sort();
  if (voters.join(',') !== want.join(',')) return `shard ${shard}: its leader ${leader.id} counts voters ${voters.join(',')}, the ring's owners are ${want.join(',')}`;
  return null;
}

export function placementVerdict(world: World, s: Scenario, deadlineNs: number): CheckResult {
  const map = finalShardMap(world, s);
  let problems: string[] = [];
  const ok = waitFor(world, deadlineNs, () => {
    problems = [];
    for (let shard = 0; shard < map.shards; shard++) {
      const p = placementProblemOf(world, map, shard);
      if (p !== null) problems.push(p);
    }
    return problems.length === 0;
  });
  if (!ok) return { verdict: 'fail', summary: `after healing, ${problems.length} shard(s) are not placed as the ring says:\n  ${problems.slice(0, 8).join('\n  ')}` };
  return { verdict: 'pass', summary: `every one of ${map.shards} shards has its ${map.replicasPerShard} replicas on the ring's owners, as voters, and a leader` };
}

/** Leaders per node now (every node listed, 0 included), and shards without a leader. */
function leaderCounts(world: World, s: Scenario, map: ShardMap): { counts: Map<string, number>; leaderless: number } {
  const counts = new Map(map.nodes.map((id) => [id, 0]));
  let leaderless = 0;
  for (let shard = 0; shard < map.shards; shard++) {
    const l = leaderOf(world, shard);
    if (l === null) leaderless++;
    else counts.set(l.id, (counts.get(l.id) ?? 0) + 1);
  }
  return { counts, leaderless };
}

export function leaderBalanceVerdict(world: World, s: Scenario, deadlineNs: number): CheckResult {
  const map = finalShardMap(world, s);
  const bound = Math.ceil(map.shards / map.nodes.length) + LEADER_SLACK;
  let seen = leaderCounts(world, s, map);
  const ok = waitFor(world, deadlineNs, () => {
    seen = leaderCounts(world, s, map);
    return seen.leaderless === 0 && Math.max(...seen.counts.values()) <= bound;
  });
  const shown = [...seen.counts].map(([id, n]) => `${id}: ${n}`).join(', ');
  if (!ok && seen.leaderless > 0) return { verdict: 'fail', summary: `after healing, ${seen.leaderless} shard(s) without a leader (leaders per node ${shown})` };
  if (!ok) return { verdict: 'fail', summary: `leaders per node ${shown}: more than the bound ⌈${map.shards}/${map.nodes.length}⌉ + ${LEADER_SLACK} = ${bound} on some node` };
  return { verdict: 'pass', summary: `leaders per node ${shown}: at most ⌈${map.shards}/${map.nodes.length}⌉ + ${LEADER_SLACK} = ${bound}` };
}
