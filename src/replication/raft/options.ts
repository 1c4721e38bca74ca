/**
 * The knobs of one Raft node. Durations are in ticks: the runtime calls tick() at a fixed
 * interval (tickMs, its choice), and every timeout here is a whole number of those.
 */
export interface RaftOptions {
  /**
   * A follower that hears nothing from a leader for a randomised timeout in
   * [electionTicks, 2 * electionTicks) starts an election (paper §5.2). A leader with checkQuorum
   * steps down after electionTicks without hearing from a majority.
   */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks. REQUIRES: heartbeatTicks < electionTicks. */
  readonly heartbeatTicks: number;
  /** Pre-vote (Raft thesis §9.6): ask for votes without raising terms first. */
  readonly preVote: boolean;
  /**
   * Check quorum: a leader steps down when it has not heard from a majority for electionTicks, and
   * a follower that heard from a leader within electionTicks ignores vote requests (thesis §6.2
   * and §4.2.3, the "disruptive servers" rule).
   */
  readonly checkQuorum: boolean;
  /**
   * 'safe' answers reads through ReadIndex with a heartbeat round. 'leaseBased' lets a leader
   * answer at once while its lease holds; see raft.ts, leaseValid, for the clock assumption it
   * rests on. REQUIRES checkQuorum for 'leaseBased'.
   */
  readonly readOnly: 'safe' | 'leaseBased';
  /**
   * Lease reads end this many ticks before the earliest moment another leader could be elected,
   * to absorb tick-rate differences between machines (clock drift) up to
   * leaseMarginTicks / electionTicks.
   */
  readonly leaseMarginTicks: number;
  /** The most entry bytes one append message carries (at least one entry is always sent). */
  readonly maxMsgBytes: number;
  /**
   * A leader's appends and heartbeats leave with the Ready (earlyMessages), before the leader
   * has persisted its entries: safe, since the leader counts its own log only once durable, and
   * the followers' fsyncs overlap the leader's (thesis §10.2.1). false: they wait for the
   * leader's fsync, as every other message does (a wider window for timing-dependent anomalies,
   * which the Figure 8 bug scenario uses).
   */
  readonly appendBeforePersist: boolean;
  /** Flow control per follower in the replicate state: appends sent and not yet acknowledged. */
  readonly maxInflightMsgs: number;
  /** ... and their total entry bytes. */
  readonly maxInflightBytes: number;
  /**
   * A leader refuses proposals while the entries it appended and has not yet committed exceed
   * this many bytes, so that a leader cut off from its followers cannot grow its log without
   * bound. A single proposal larger than the limit is accepted when nothing is uncommitted.
   */
  readonly maxUncommittedBytes: number;
  /** The most committed entry bytes one Ready hands to the application. */
  readonly maxCommittedBytesPerReady: number;
  /** ReadIndex requests waiting at a leader; more are refused. */
  readonly maxPendingReads: number;
  /** Known-bug switches for the lab. All off in a correct node. See bugs below. */
  readonly bugs: RaftBugs;
}

/**
 * Each switch turns on a real, known Raft bug as a code path of its own, so that the lab can
 * prove its checkers catch it. Never turn them on outside the lab.
 */
export interface RaftBugs {
  /**
   * A leader commits an entry of an earlier term as soon as a majority stores it, the mistake
   * Figure 8 of the Raft paper shows: a later leader that never had the entry may still be
   * elected and overwrite it. (raft.ts, maybeCommit)
   */
  readonly commitPreviousTermByCount: boolean;
  /**
   * A node grants a vote and the reply leaves before the vote is durable: the granting
   * MsgVoteResp goes in Ready.earlyMessages, which the runtime sends as soon as it has the Ready,
   * before it starts persisting the hard state that records the vote. A crash in between makes
   * the node forget its vote and vote again in the same term. (raft.ts, handleVoteRequest)
   */
  readonly voteWithoutPersist: boolean;
  /**
   * readIndex() answers at once, on any node, with that node's own commit index: no leadership
   * check, no heartbeat round. A deposed leader or a lagging follower serves stale reads.
   * (raft.ts, readIndex)
   */
  readonly readWithoutReadIndex: boolean;
}

export const NO_BUGS: RaftBugs = Object.freeze({
  commitPreviousTermByCount: false,
  voteWithoutPersist: false,
  readWithoutReadIndex: false,
});

export const DEFAULT_RAFT_OPTIONS: RaftOptions = Object.freeze({
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  readOnly: 'safe',
  leaseMarginTicks: 2,
  maxMsgBytes: 64 * 1024,
  appendBeforePersist: true,
  maxInflightMsgs: 64,
  maxInflightBytes: 4 * 1024 * 1024,
  maxUncommittedBytes: 8 * 1024 * 1024,
  maxCommittedBytesPerReady: 4 * 1024 * 1024,
  maxPendingReads: 4096,
  bugs: NO_BUGS,
});

export function raftOptions(overrides: Partial<Omit<RaftOptions, 'bugs'>> & { bugs?: Partial<RaftBugs> } = {}): RaftOptions {
  const o: RaftOptions = { ...DEFAULT_RAFT_OPTIONS, ...overrides, bugs: { ...NO_BUGS, ...overrides.bugs } };
  const problem = validateRaftOptions(o);
  if (problem !== null) throw new RangeError(`invalid raft options: ${problem}`);
  return Object.freeze(o);
}

/** What is wrong with `o`, or null. */
export function validateRaftOptions(o: RaftOptions): string | null {
  const positiveInts: (keyof RaftOptions)[] = [
    'electionTicks', 'heartbeatTicks', 'maxMsgBytes', 'maxInflightMsgs', 'maxInflightBytes',
    'maxUncommittedBytes', 'maxCommittedBytesPerReady', 'maxPendingReads',
  ];
  for (const k of positiveInts) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return `${k} must be a positive integer, got ${String(v)}`;
  }
  if (o.heartbeatTicks >= o.electionTicks) return `heartbeatTicks (${o.heartbeatTicks}) must be less than electionTicks (${o.electionTicks})`;
  if (o.readOnly !== 'safe' && o.readOnly !== 'leaseBased') return `readOnly must be 'safe' or 'leaseBased', got ${String(o.readOnly)}`;
  if (o.readOnly === 'leaseBased' && !o.checkQuorum) return 'readOnly leaseBased requires checkQuorum';
  if (!Number.isInteger(o.leaseMarginTicks) || o.leaseMarginTicks < 0 || o.leaseMarginTicks >= o.electionTicks) {
    return `leaseMarginTicks must be an integer in [0, electionTicks), got ${o.leaseMarginTicks}`;
  }
  return null;
}
