import { ShardMap } from '../../src/cluster/placement/shard-map.js';
import { decodeMemberSet, type MemberSet } from '../../src/cluster/placement/members.js';
import { replicasToMove } from '../../src/cluster/placement/moves.js';
import type { MoveStep } from '../../src/cluster/placement/moves.js';
import type { ShardedReplica } from '../../src/node/sharded-replica.js';
import { kvNodeOf } from '../node-process.js';
import type { CheckResult } from '../runner.js';
import { nodeIds, type Scenario } from '../scenario.js';
import type { World } from '../world.js';

/**
 * What moves did, watched from outside the nodes (the `moves` check):
 * - each shard's committed membership, as its leaders count it (sampled every SAMPLE_EVENTS
 *   events): every node that appears in it is a replica created (a move), and the fewest voters
 *   it ever had. A shard whose committed membership has fewer than R voters is held by fewer
 *   replicas than promised: one more lost disk and acknowledged writes are gone. Moves add before
 *   they remove (src/cluster/placement/moves.ts), so this never happens while they work;
 * - the keys each created replica received (its shard's size when it was added): the data moved,
 *   against the least any placement could move — the member set's changes' fair share.
 * The nodes' own count of steps (onMoveStep) is reported beside it.
 */
const SAMPLE_EVENTS = 8;

interface ShardRecord {
  /** The committed membership last seen (voters and learners), sorted. */
  members: string[];
  minVoters: number;
  /** Where the fewest voters were seen, for the message. */
  minAt: { atNs: number; voters: string[] } | null;
}

export class MoveWatch {
  private readonly shards: ShardRecord[];
  private events = 0;
  /** Replicas created after the start, and the keys their shards held when they were added. */
  created = 0;
  keysMoved = 0;
  /** Steps the nodes' movers took, by kind. */
  readonly steps: Record<string, number> = {};

  constructor(
    private readonly world: World,
    private readonly s: Scenario,
  ) {
    const first = ShardMap.build(nodeIds(s).slice(0, s.cluster.voters), { shards: s.cluster.shards, replicas: s.cluster.replicas });
    this.shards = Array.from({ length: s.cluster.shards }, (_, i) => ({ members: [...first.replicas(i)].sort(), minVoters: s.cluster.replicas, minAt: null }));
  }

  attach(): void {
    const before = this.world.sched.afterEach;
    this.world.sched.afterEach = (label) => {
      before?.(label);
      if (++this.events % SAMPLE_EVENTS === 0) this.sample();
    };
  }

  onStep = (_node: string, _shard: number, step: MoveStep): void => {
    this.steps[step.kind] = (this.steps[step.kind] ?? 0) + 1;
  };

  private sample(): void {
    for (const { shard, sharded, voters, learners } of leadersViews(this.world)) {
      const rec = this.shards[shard] as ShardRecord;
      const members = [...voters, ...learners].sort();
      if (members.join(',') === rec.members.join(',')) continue;
      for (const n of members) {
        if (rec.members.includes(n)) continue;
        this.created++;
        this.keysMoved += sharded.stateDigest(shard)?.keys ?? 0;
      }
      rec.members = members;
      if (voters.length < rec.minVoters) {
        rec.minVoters = voters.length;
        rec.minAt = { atNs: this.world.nowNs, voters: [...voters] };
      }
    }
  }

  verdict(world: World): CheckResult {
    const R = this.s.cluster.replicas;
    const under = this.shards.map((r, shard) => ({ shard, ...r })).filter((r) => r.minVoters < R);
    const fin = finalMemberSet(world, this.s);
    const first = ShardMap.build(nodeIds(this.s).slice(0, this.s.cluster.voters), { shards: this.s.cluster.shards, replicas: R });
    const last = ShardMap.build(fin.members, { shards: this.s.cluster.shards, replicas: R });
    const ring = replicasToMove(first, last);
    const steps = Object.entries(this.steps).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    const keys = totalKeys(world, this.s.cluster.shards);
    const share = fairShare(first, last);
    const figures = `${this.created} replica(s) created by moves (the ring's placements differ by ${ring}; the fair share is ${share.toFixed(1)}), ${this.keysMoved} keys copied (of ${keys} keys × ${R} replicas now); member set epoch ${fin.epoch}: ${fin.members.join(',')}; steps: ${steps}`;
    const details = { created: this.created, ringDiff: ring, fairShare: share, keysMoved: this.keysMoved, keys, epoch: fin.epoch, steps: { ...this.steps } };
    if (under.length > 0) {
      const lines = under.slice(0, 5).map((u) => `shard ${u.shard}: ${u.minVoters} voter(s) (${u.minAt?.voters.join(',')}) committed at ${((u.minAt?.atNs ?? 0) / 1e6).toFixed(1)} ms`);
      return { verdict: 'fail', summary: `${under.length} shard(s) were held by fewer than ${R} voters during a move — one lost disk from losing acknowledged writes:\n  ${lines.join('\n  ')}\n${figures}`, details };
    }
    return { verdict: 'pass', summary: `no shard ever had fewer than ${R} voters; ${figures}`, details };
  }
}

/** Each group's committed membership as each of its running leaders counts it. */
export function* leadersViews(world: World): Generator<{ shard: number; sharded: ShardedReplica; voters: readonly string[]; learners: readonly string[] }> {
  for (const m of world.machines.values()) {
    if (m.state !== 'up') continue;
    const sharded = kvNodeOf(m)?.sharded ?? null;
    if (sharded === null) continue;
    for (const shard of sharded.hostedShards()) {
      const raft = sharded.group(shard)?.raftNode ?? null;
      if (raft === null || raft.softState().role !== 'leader') continue;
      const c = raft.committedMembership();
      yield { shard, sharded, voters: c.voters, learners: c.learners };
    }
  }
}

/**
 * The fewest replicas any placement must create to go from one member set to the other: each
 * node joining must receive its share S·R/N of the replicas, and each node leaving hands on all
 * of its own (whichever is more, when both happen).
 */
function fairShare(first: ShardMap, last: ShardMap): number {
  const joined = last.nodes.filter((n) => !first.nodes.includes(n)).length;
  const total = first.shards * first.replicasPerShard;
  const left = first.nodes.filter((n) => !last.nodes.includes(n));
  const handed = left.reduce((sum, n) => sum + first.shardsOf(n).length, 0);
  return Math.max((joined * total) / last.nodes.length, handed);
}

function totalKeys(world: World, shards: number): number {
  let keys = 0;
  for (let shard = 0; shard < shards; shard++) {
    for (const m of world.machines.values()) {
      const d = m.state === 'up' ? kvNodeOf(m)?.sharded?.stateDigest(shard) ?? null : null;
      if (d !== null) {
        keys += d.keys;
        break;
      }
    }
  }
  return keys;
}

/**
 * The member set the cluster ended with: the record in shard 0's state on any running replica
 * (the highest epoch), or the first member set if none was ever written.
 */
export function finalMemberSet(world: World, s: Scenario): MemberSet {
  let best: MemberSet = { epoch: 0, members: nodeIds(s).slice(0, s.cluster.voters) };
  for (const m of world.machines.values()) {
    if (m.state !== 'up') continue;
    const raw = kvNodeOf(m)?.sharded?.memberSetRecord() ?? null;
    if (raw === null) continue;
    const set = decodeMemberSet(raw);
    if (set.epoch > best.epoch) best = set;
  }
  return best;
}
