import { isMember } from '../replication/raft/membership.js';
import { MOVES_PER_NODE_MAX, nextMoveStep, type MoveStep } from '../cluster/placement/moves.js';
import type { ShardMap } from '../cluster/placement/shard-map.js';
import type { Env } from '../env/env.js';
import type { RaftReplica } from './raft-replica.js';

/**
 * Rebalancing on one node: brings the shards it hosts, and the shards it leads, to where the
 * placement of the member set it knows wants them (src/cluster/placement/moves.ts decides each
 * step; this carries it out). Every MOVE_MS:
 *  - each shard this node should hold and does not: an empty replica is created, which the
 *    shard's leader adds as a learner and fills (snapshot, then log);
 *  - each shard this node leads: one step towards its wanted replicas (add a learner, promote
 *    it, remove a replica, or hand leadership away first), at most MOVES_PER_NODE_MAX learners
 *    catching up at once among the shards it leads (the rate limit: each costs a snapshot);
 *  - each replica Raft has removed is deleted: at once if its own log has the removal committed;
 *    otherwise (a replica cut off when it was removed hears nothing more from its group) it asks
 *    the shard's leader every GC_MS, and deletes itself once a leader answers that its committed
 *    membership has neither it nor a change that adds it back (TiKV's stale-peer check, asked of
 *    the leader rather than of PD). Never before: a replica that still votes keeps its data.
 * Nothing here moves data itself: Raft does, so a move is as safe as any membership change.
 */
export const MOVE_MS = 100;
export const GC_MS = 1000;

export interface HostedGroup {
  shard: number;
  /** null while starting. */
  replica: RaftReplica | null;
}

export interface MoverHost {
  hosted(): HostedGroup[];
  isHosted(shard: number): boolean;
  map(): ShardMap;
  /** Whether this life of the node knows a committed member set (ShardMembers.learned). */
  learned(): boolean;
  create(shard: number): void;
  remove(shard: number, why: string): void;
  /** A JSON frame to a peer node. */
  send(to: string, body: Record<string, unknown>): void;
  removeEarly: boolean;
  /** Every step this node's movers take (the simulator counts them). */
  onStep?: (shard: number, step: MoveStep) => void;
}

export class ShardMover {
  private ticks = 0;

  constructor(
    private readonly env: Env,
    private readonly host: MoverHost,
  ) {}

  tick(): void {
    this.ticks++;
    if (this.host.learned()) this.createWanted();
    this.stepLeaders();
    this.collectLocal();
    if (this.ticks % Math.round(GC_MS / MOVE_MS) === 0) this.askStale();
  }

  private createWanted(): void {
    const map = this.host.map();
    for (const shard of map.shardsOf(this.env.id)) if (!this.host.isHosted(shard)) this.host.create(shard);
  }

  private stepLeaders(): void {
    if (!this.host.learned()) return;
    const led: { shard: number; replica: RaftReplica }[] = [];
    let moving = 0;
    for (const g of this.host.hosted()) {
      const raft = g.replica?.raftNode ?? null;
      if (g.replica === null || raft === null || raft.softState().role !== 'leader') continue;
      if (!raft.membership().voters.includes(this.env.id)) continue; // removed itself: stepping down
      led.push({ shard: g.shard, replica: g.replica });
      if (raft.membership().learners.length > 0) moving++;
    }
    const map = this.host.map();
    for (const { shard, replica } of led) {
      const raft = replica.raftNode;
      if (raft === null) continue;
      const m = raft.membership();
      const view = { self: this.env.id, voters: m.voters, learners: m.learners, match: raft.matchIndexes(), commit: raft.commitIndex(), lastIndex: raft.lastIndex(), confPending: raft.membershipIndex() > raft.commitIndex() };
      const step = nextMoveStep(view, map.replicas(shard), { canStart: moving < MOVES_PER_NODE_MAX, removeEarly: this.host.removeEarly });
      if (step.kind === 'none') continue;
      const outcome = this.carryOut(replica, step);
      if (outcome === 'ok' && step.kind === 'add-learner') moving++;
      this.env.log.log('info', 'shards.move', { shard, step: step.kind, node: step.kind === 'transfer' ? step.to : step.node, outcome });
      if (outcome === 'ok') this.host.onStep?.(shard, step);
    }
  }

  private carryOut(replica: RaftReplica, step: Exclude<MoveStep, { kind: 'none' }>): string {
    if (step.kind === 'transfer') {
      const r = replica.transferLeadership(step.to);
      return r === null ? 'stopped' : r.ok ? 'ok' : r.reason;
    }
    const change = step.kind === 'add-learner' ? ({ type: 'addLearner', node: step.node } as const) : step.kind === 'promote' ? ({ type: 'promoteLearner', node: step.node } as const) : ({ type: 'removeNode', node: step.node } as const);
    const r = replica.proposeConfChange(change);
    return r === null ? 'stopped' : r.ok ? 'ok' : r.reason;
  }

  /**
   * Replicas whose own log holds their removal, committed: deleted now. Only a replica seen a
   * member in this life counts: a new learner's first snapshot may predate the entry that added
   * it, and until that entry arrives its membership does not name it.
   */
  private collectLocal(): void {
    for (const g of this.host.hosted()) {
      const raft = g.replica?.raftNode ?? null;
      if (raft === null) continue;
      if (isMember(raft.membership(), this.env.id)) {
        this.memberSeen.add(g.shard);
        continue;
      }
      if (!this.memberSeen.has(g.shard) || isMember(raft.committedMembership(), this.env.id)) continue;
      this.memberSeen.delete(g.shard);
      this.host.remove(g.shard, 'its removal is committed in its own log');
    }
  }

  /** Shards whose replica here has been seen a member of its group since it started. */
  private readonly memberSeen = new Set<number>();

  /** A replica here was deleted or created: what was seen of the old one no longer holds. */
  forget(shard: number): void {
    this.memberSeen.delete(shard);
  }

  /** Replicas the placement no longer wants: ask the shard's leader (and the wanted replicas) whether Raft removed them. */
  private askStale(): void {
    if (!this.host.learned()) return;
    const map = this.host.map();
    for (const g of this.host.hosted()) {
      const wanted = map.replicas(g.shard);
      if (wanted.includes(this.env.id) || g.replica === null) continue;
      const leader = g.replica.raftNode?.softState().leader ?? null;
      const ask = new Set([...wanted, ...(leader !== null && leader !== this.env.id ? [leader] : [])]);
      for (const to of ask) this.host.send(to, { kind: 'shard.gc', shard: g.shard });
    }
  }

  /** A replica asks whether it may go: yes if this node leads the shard and neither its committed nor its latest membership has the asker. */
  answer(from: string, shard: number): void {
    const g = this.host.hosted().find((x) => x.shard === shard);
    const raft = g?.replica?.raftNode ?? null;
    if (raft === null || raft.softState().role !== 'leader') return;
    if (isMember(raft.committedMembership(), from) || isMember(raft.membership(), from)) return;
    this.host.send(from, { kind: 'shard.gone', shard, commit: raft.commitIndex() });
  }

  /**
   * A leader said this replica is no member: deleted if its log stops before that leader's commit
   * (it missed its removal) or its own membership has it out. A replica added back since, which
   * holds the log past that commit, stays.
   */
  gone(from: string, shard: number, commit: number): void {
    const g = this.host.hosted().find((x) => x.shard === shard);
    const raft = g?.replica?.raftNode ?? null;
    if (g === undefined || raft === null) return;
    if (raft.lastIndex() < commit || !isMember(raft.membership(), this.env.id)) this.host.remove(shard, `leader ${from} no longer counts it (commit ${commit})`);
  }
}
