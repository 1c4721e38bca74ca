import type { Index, NodeId, Term } from './types.js';

/**
 * Answers to the inputs a runtime offers on behalf of a client. A refusal says why, and on a
 * non-leader who the leader is (if known), so that the runtime can redirect or forward.
 */
export type Refusal =
  | { readonly ok: false; readonly reason: 'notLeader'; readonly leader: NodeId | null }
  | {
      readonly ok: false;
      readonly reason:
        | 'transferring' // a leadership transfer is under way: proposals wait for the new leader
        | 'uncommittedLimit' // options.maxUncommittedBytes reached
        | 'configChangePending' // an earlier config entry is not yet committed
        | 'termNotCommitted' // the leader has not yet committed an entry of its term
        | 'learnerBehind' // the learner to promote does not yet hold every committed entry
        | 'invalidConfChange'
        | 'notVoter' // leadership can only go to a voter
        | 'duplicateRequest' // a read with this context is already pending
        | 'tooManyReads'; // options.maxPendingReads reached
      readonly detail: string;
    };

/**
 * An accepted proposal will be at log position `index` in term `term`. It is committed if, when
 * the application applies position `index`, the entry there has this term; if another term's
 * entry is applied there, the proposal was lost (a new leader overwrote it) and may be retried.
 */
export type ProposeResult = { readonly ok: true; readonly index: Index; readonly term: Term } | Refusal;

/** An accepted read arrives later as a ReadState with the same context in some Ready. */
export type ReadIndexResult = { readonly ok: true } | Refusal;

export type TransferResult = { readonly ok: true } | Refusal;

export function refuse(reason: Exclude<Refusal['reason'], 'notLeader'>, detail: string): Refusal {
  return { ok: false, reason, detail };
}
