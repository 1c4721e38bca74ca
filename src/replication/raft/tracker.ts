import { assert } from '../../util/assert.js';
import { members } from './membership.js';
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, quorumMin, voteResult, type VoteResult } from './quorum.js';
import type { Index, Membership, NodeId } from './types.js';

export interface TrackerLimits {
  readonly inflightCountMax: number;
  readonly inflightBytesMax: number;
}

/**
 * The membership a node works with, the leader's view of every member's log (Progress), and the
 * votes of the current election. One Progress per member, the node itself included.
 */
export class ProgressTracker {
  membership: Membership;
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  constructor(
    membership: Membership,
    private readonly limits: TrackerLimits,
    nextIndex: Index,
  ) {
    this.membership = membership;
    this.setMembership(membership, nextIndex);
  }

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id);
  }

  /** Switches to `m`: new members start probing at nextIndex; removed members are forgotten. */
  setMembership(m: Membership, nextIndex: Index): void {
    this.membership = m;
    const all = members(m);
    for (const id of [...this.progress.keys()]) {
      if (!all.includes(id)) {
        this.progress.delete(id);
        this.votes.delete(id);
      }
    }
    for (const id of all) {
      const isLearner = m.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        this.progress.set(id, new Progress(nextIndex, isLearner, this.limits.inflightCountMax, this.limits.inflightBytesMax));
      } else {
        pr.isLearner = isLearner;
      }
    }
  }

  /** Every member's progress starts over (a new term): nothing is known to match. */
  resetAll(nextIndex: Index): void {
    for (const id of members(this.membership)) {
      const learner = this.membership.learners.includes(id);
      this.progress.set(id, new Progress(nextIndex, learner, this.limits.inflightCountMax, this.limits.inflightBytesMax));
    }
  }

  /** Visits every member other than `self`, voters first, each list in sorted order. */
  forEachPeer(self: NodeId, visit: (id: NodeId, pr: Progress) => void): void {
    for (const id of members(this.membership)) {
      if (id === self) continue;
      const pr = this.progress.get(id);
      assert(pr !== undefined, () => `no progress for member ${id}`);
      visit(id, pr);
    }
  }

  /** The highest position a majority of voters holds. */
  committed(): Index {
    return committedIndex(this.membership.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  isSingleVoter(self: NodeId): boolean {
    return this.membership.voters.length === 1 && this.membership.voters[0] === self;
  }

  /** Check quorum: whether a majority of voters (the leader counting as active) was heard from. */
  quorumActive(self: NodeId): boolean {
    return hasQuorum(this.membership.voters, (id) => id === self || this.progress.get(id)?.recentActive === true);
  }

  /** The latest leader tick by which a majority acknowledged a heartbeat (self at `nowTick`). */
  quorumHeartbeatAckTick(self: NodeId, nowTick: number): number {
    return quorumMin(this.membership.voters, (id) => (id === self ? nowTick : this.progress.get(id)?.heartbeatAckTick ?? -Infinity));
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a voter's first answer in an election stands. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tally(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.membership.voters) {
      const v = this.votes.get(id);
      if (v === true) granted += 1;
      else if (v === false) rejected += 1;
    }
    return { granted, rejected, result: voteResult(this.membership.voters, this.votes) };
  }
}
