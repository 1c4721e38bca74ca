import { isMember, makeMembership } from './membership.js';
import type { Membership, NodeId } from './types.js';

/**
 * Membership changes, one server at a time (Raft thesis §4.1), with learners.
 *
 * Why one at a time and not joint consensus: when two memberships differ by one voter, every
 * majority of the one overlaps every majority of the other, so no moment exists in which two
 * leaders could be elected, and no intermediate "joint" state needs its own quorum rules, log
 * format and exit step. Any change decomposes into single steps. The known flaw of the scheme
 * (Ongaro, raft-dev, 2015: a leader elected in a new term may append a change while an earlier,
 * uncommitted change from a previous term is still in someone's log, and two overlapping steps can
 * yield disjoint majorities) is closed as the thesis errata says: a leader proposes a change only
 * after it has committed an entry of its own term (Raft.proposeConfChange).
 *
 * Why learners: a new voter with an empty log would count towards quorums at once and could stall
 * commits (or, with several added, lose availability) while it catches up (thesis §4.2.1). A learner
 * receives the log without voting; the leader promotes it only once it holds everything committed.
 *
 * When a change takes effect: when its entry is appended to a node's log, committed or not (thesis
 * §4.1), on every node. A node therefore uses the membership of the last config entry in its log,
 * and reverts to the previous one if that entry is truncated away. Waiting for commit (or apply)
 * instead would let a node count votes with a membership two steps old; taking effect on append is
 * what the single-step safety argument above relies on.
 */
export type ConfChange =
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'promoteLearner'; readonly node: NodeId }
  | { readonly type: 'removeNode'; readonly node: NodeId };

export type ConfChangeResult = { ok: true; membership: Membership } | { ok: false; error: string };

/** The membership after `change`, or why the change is not a valid single step from `m`. */
export function applyConfChange(m: Membership, change: ConfChange): ConfChangeResult {
  const { node } = change;
  switch (change.type) {
    case 'addLearner':
      if (isMember(m, node)) return { ok: false, error: `${node} is already a member` };
      return { ok: true, membership: makeMembership(m.voters, [...m.learners, node]) };
    case 'promoteLearner':
      if (!m.learners.includes(node)) return { ok: false, error: `${node} is not a learner` };
      return {
        ok: true,
        membership: makeMembership([...m.voters, node], m.learners.filter((id) => id !== node)),
      };
    case 'removeNode':
      if (!isMember(m, node)) return { ok: false, error: `${node} is not a member` };
      if (m.voters.length === 1 && m.voters[0] === node) return { ok: false, error: `${node} is the last voter` };
      return {
        ok: true,
        membership: makeMembership(
          m.voters.filter((id) => id !== node),
          m.learners.filter((id) => id !== node),
        ),
      };
  }
}

export function describeConfChange(c: ConfChange): string {
  return `${c.type} ${c.node}`;
}
