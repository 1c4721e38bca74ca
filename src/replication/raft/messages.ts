import type { Entry, Index, NodeId, Snapshot, Term } from './types.js';

/**
 * The messages Raft nodes exchange. Each is a plain object: the runtime may encode it as JSON,
 * except for the `Uint8Array` fields (`Entry.data`, `Snapshot.data`), which need a binary or
 * base64 encoding. Every message carries its sender's term; a receiver handles terms first (see
 * Raft.step) and only then looks at the type.
 *
 * Proposals and ReadIndex requests are not messages: the core accepts them only on the leader and
 * tells the caller who the leader is otherwise, so that the runtime decides whether to redirect the
 * client or forward the request (issue 5, item 3).
 */
export type MessageType = Message['type'];

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** AppendEntries (paper Figure 2); also a leader's probe (no entries) and commit update. */
export interface MsgApp extends Envelope {
  readonly type: 'MsgApp';
  /** Position and term of the entry just before `entries` (the paper's prevLogIndex, prevLogTerm). */
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  /** The leader's commit index (leaderCommit). */
  readonly commit: Index;
}

/**
 * The answer to MsgApp or MsgSnap. Accepted: `index` is the last position the follower now knows
 * matches the leader. Rejected: `index` is the prevIndex that did not match, and the hint is the
 * follower's own (index, term) to back off to, found by RaftLog.findConflictByTerm: the leader then
 * skips a whole term of mismatching entries per round trip instead of one entry (Raft thesis §5.3,
 * "the follower can include the term of the conflicting entry and the first index it stores for
 * that term"; etcd's findConflictByTerm).
 */
export interface MsgAppResp extends Envelope {
  readonly type: 'MsgAppResp';
  readonly index: Index;
  readonly reject: boolean;
  readonly hintIndex: Index;
  readonly hintTerm: Term;
}

/**
 * RequestVote, and its pre-vote twin (Raft thesis §9.6): a pre-vote asks "would you vote for me in
 * term `term`?" without anyone changing term, so a node that was partitioned away cannot disrupt
 * a working leader by inflating terms when it returns.
 */
export interface MsgVote extends Envelope {
  readonly type: 'MsgVote' | 'MsgPreVote';
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** Set when the campaign was started by the leader's MsgTimeoutNow: voters then ignore leases. */
  readonly transfer: boolean;
}

/** A granted pre-vote carries the term the candidate asked for; a rejection, the voter's term. */
export interface MsgVoteResp extends Envelope {
  readonly type: 'MsgVoteResp' | 'MsgPreVoteResp';
  readonly reject: boolean;
}

/**
 * The leader's heartbeat. `commit` is min(the follower's match, leader commit): a follower may
 * not commit past what it is known to hold. `readCtx` names the latest pending ReadIndex request
 * this round confirms; `tick` is the leader's tick count when it sent the heartbeat, echoed back so
 * that a lease can start from the send time (read-only.ts, lease reads).
 */
export interface MsgHeartbeat extends Envelope {
  readonly type: 'MsgHeartbeat';
  readonly commit: Index;
  readonly readCtx: string | null;
  readonly tick: number;
}

export interface MsgHeartbeatResp extends Envelope {
  readonly type: 'MsgHeartbeatResp';
  readonly readCtx: string | null;
  readonly tick: number;
}

/** InstallSnapshot (paper §7), the whole snapshot in one message. */
export interface MsgSnap extends Envelope {
  readonly type: 'MsgSnap';
  readonly snapshot: Snapshot;
}

/** Leadership transfer (Raft thesis §3.10): "start an election now, without waiting". */
export interface MsgTimeoutNow extends Envelope {
  readonly type: 'MsgTimeoutNow';
}

export type Message =
  | MsgApp
  | MsgAppResp
  | MsgVote
  | MsgVoteResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgSnap
  | MsgTimeoutNow;

/** A one-line rendering for traces and test scripts. */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'MsgApp': {
      const ents = m.entries.map((e) => `${e.term}/${e.index}${e.type === 'config' ? 'c' : ''}`).join(',');
      return `${head} prev=${m.prevTerm}/${m.prevIndex} commit=${m.commit} entries=[${ents}]`;
    }
    case 'MsgAppResp':
      return m.reject
        ? `${head} reject index=${m.index} hint=${m.hintTerm}/${m.hintIndex}`
        : `${head} index=${m.index}`;
    case 'MsgVote':
    case 'MsgPreVote':
      return `${head} last=${m.lastTerm}/${m.lastIndex}${m.transfer ? ' transfer' : ''}`;
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      return `${head}${m.reject ? ' reject' : ''}`;
    case 'MsgHeartbeat':
      return `${head} commit=${m.commit}${m.readCtx === null ? '' : ` ctx=${m.readCtx}`}`;
    case 'MsgHeartbeatResp':
      return `${head}${m.readCtx === null ? '' : ` ctx=${m.readCtx}`}`;
    case 'MsgSnap':
      return `${head} snapshot=${m.snapshot.meta.term}/${m.snapshot.meta.index}`;
    case 'MsgTimeoutNow':
      return head;
  }
}
