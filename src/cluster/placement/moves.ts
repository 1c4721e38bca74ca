import { assert } from '../../util/assert.js';
import type { ShardMap } from './shard-map.js';

/**
 * Moving one shard's replicas to where placement wants them, one Raft membership change at a
 * time, decided by the shard's leader (the idea of CockroachDB's replicate queue, which each
 * range's leaseholder runs for its own range, and of TiKV PD's operators, which add a learner,
 * promote it and only then remove a peer). Pure: the leader's view of its group in, the next step
 * out; the node (src/node/shard-mover.ts) carries the step out and asks again later.
 *
 * The order is what keeps a moving shard durable and available:
 *  1. a learner nobody wants any more is removed (a move abandoned because placement changed);
 *  2. a wanted learner that holds every committed entry is promoted (the core refuses earlier);
 *     while it catches up (snapshot, then log) nothing else happens: one move per group;
 *  3. a wanted node that is no member is added as a learner, if the leader's node has room for
 *     one more move (the rate limit);
 *  4. only once every wanted node votes: a voter nobody wants is removed — or, if that voter is
 *     the leader itself, leadership goes first to a wanted voter (Raft's transfer, thesis §3.10),
 *     so the removal never leaves the group leaderless for an election timeout.
 * So the group never has fewer than R voters holding its log (R + 1 during a move), and a learner
 * never counts towards a quorum before it has the data.
 */

export interface GroupView {
  self: string;
  voters: readonly string[];
  learners: readonly string[];
  /** The leader's match index for each follower. */
  match: ReadonlyMap<string, number>;
  commit: number;
  lastIndex: number;
  /** A config entry is appended but not committed: no new change may be proposed. */
  confPending: boolean;
}

export type MoveStep =
  | { kind: 'none'; why: string }
  | { kind: 'add-learner'; node: string }
  | { kind: 'promote'; node: string }
  | { kind: 'remove'; node: string }
  | { kind: 'transfer'; to: string };

export interface MoveOptions {
  /** Whether one more move may start from this leader's node now (MOVES_PER_NODE_MAX). */
  canStart: boolean;
  /**
   * BUG (lab switch `move-remove-early`): step 4 before step 3 — the replica leaving is removed
   * before its replacement has been added and has caught up.
   */
  removeEarly?: boolean;
}

/** Moves (learners catching up) one node may lead at once: the rate limit of rebalancing. */
export const MOVES_PER_NODE_MAX = 2;

export function nextMoveStep(g: GroupView, target: readonly string[], o: MoveOptions): MoveStep {
  assert(g.voters.includes(g.self), 'the mover runs on a voter that leads');
  if (g.confPending) return { kind: 'none', why: 'a membership change is not committed yet' };
  const wanted = (n: string) => target.includes(n);
  const strayLearner = g.learners.find((n) => !wanted(n));
  if (strayLearner !== undefined) return { kind: 'remove', node: strayLearner };
  for (const l of g.learners) if ((g.match.get(l) ?? 0) >= g.commit) return { kind: 'promote', node: l };
  if (g.learners.length > 0) return { kind: 'none', why: `learner ${g.learners.join(',')} is catching up` };
  const missing = target.filter((n) => !g.voters.includes(n));
  const extra = g.voters.filter((n) => !wanted(n));
  const removal = (): MoveStep => {
    const leaving = extra.includes(g.self) ? g.self : (extra[0] as string);
    if (leaving !== g.self) return { kind: 'remove', node: leaving };
    const heirs = target.filter((n) => g.voters.includes(n));
    const ready = heirs.find((n) => (g.match.get(n) ?? 0) >= g.lastIndex) ?? heirs[0];
    return ready === undefined ? { kind: 'none', why: 'no wanted voter to hand leadership to' } : { kind: 'transfer', to: ready };
  };
  if (o.removeEarly === true && extra.length > 0) return removal();
  if (missing.length > 0) return o.canStart ? { kind: 'add-learner', node: missing[0] as string } : { kind: 'none', why: 'the node leads as many moves as it may' };
  if (extra.length > 0) return removal();
  return { kind: 'none', why: 'placed' };
}

/** Replicas that must be created to go from one placement to the other: Σ over shards of |after \ before|. */
export function replicasToMove(before: ShardMap, after: ShardMap): number {
  assert(before.shards === after.shards, 'placements of the same shards');
  let n = 0;
  for (let s = 0; s < before.shards; s++) {
    const had = before.replicas(s);
    for (const node of after.replicas(s)) if (!had.includes(node)) n++;
  }
  return n;
}
