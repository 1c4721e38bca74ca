import type { Rng } from '../../env/rng.js';
import { assert } from '../../util/assert.js';
import { applyConfChange, describeConfChange, type ConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import { encodeMembership, isVoter } from './membership.js';
import type { Message, MsgApp, MsgAppResp, MsgHeartbeat, MsgHeartbeatResp, MsgSnap, MsgVote, MsgVoteResp } from './messages.js';
import type { RaftOptions } from './options.js';
import type { Progress } from './progress.js';
import { ReadOnlyQueue } from './read-only.js';
import { refuse, type ProposeResult, type ReadIndexResult, type Refusal, type TransferResult } from './results.js';
import type { RaftStorage } from './storage.js';
import { ProgressTracker } from './tracker.js';
import { entriesBytes, type Entry, type HardState, type Index, type NodeId, type ReadState, type Role, type Snapshot, type SoftState, type Term } from './types.js';

type CampaignKind = 'preElection' | 'election' | 'transfer';

/** A message as built by this node: `from` is filled in, `term` defaults to the current term. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> & { term?: Term } : never) : never;

const EMPTY = new Uint8Array(0);

/**
 * The Raft state machine of one node: pure and synchronous. It never touches a clock, disk or
 * network: inputs are step(message), tick() and the client requests; outputs accumulate here
 * (messages, read states, unstable log entries, hard and soft state) until RaftNode.ready()
 * collects them for the runtime. Section numbers refer to the Raft paper (Ongaro and Ousterhout,
 * 2014) and, where marked "thesis", to Ongaro's dissertation (2014). The structure follows
 * etcd-io/raft (raft.go), re-derived here.
 *
 * The leader counts its own log towards commit quorums only once it is durable (updateSelfMatch,
 * called when the runtime reports the Ready persisted), like any follower, whose acknowledgement
 * also leaves only after its Ready is persisted. So an entry is committed only when a majority
 * holds it on disk, whatever the runtime's timing.
 */
export class Raft {
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  term: Term = 0;
  vote: NodeId | null = null;
  leader: NodeId | null = null;
  role: Role = 'follower';

  /** Ticks since the last election-relevant event (see tickElection, tickHeartbeat). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Ticks since this node object was created: the leader's clock for leases. */
  private ticks = 0;
  /** With lease reads, a restarted node refuses votes until this tick (see inLease). */
  private readonly voteQuietUntilTick: number;

  /** The voter a leadership transfer goes to, while one is under way. */
  leadTransferee: NodeId | null = null;
  /** The leader sent MsgTimeoutNow in this term: its lease may no longer hold (leaseValid). */
  private timeoutNowSent = false;
  /** The position of the last config entry this leader may not have seen committed. */
  private pendingConfIndex: Index = 0;
  /** Data bytes of the entries this leader appended and has not seen applied. */
  private uncommittedBytes = 0;
  /** Reads waiting for a heartbeat round, and reads that arrived before a commit in this term. */
  private readonly readOnly: ReadOnlyQueue;
  private readsBeforeCommit: string[] = [];
  /** Batching: proposals and reads are sent with one append or heartbeat round per Ready. */
  private appendsPending = false;
  private readHeartbeatPending = false;

  /** Recovery holds (setRecoveryHolds). */
  private campaignHeld = false;
  private votesThroughTerm: Term | null = null;

  private msgs: Message[] = [];
  private earlyMsgs: Message[] = [];
  private readStates: ReadState[] = [];

  constructor(
    readonly id: NodeId,
    storage: RaftStorage,
    private readonly rng: Rng,
    readonly options: RaftOptions,
  ) {
    this.log = new RaftLog(storage);
    const hs = storage.hardState();
    assert(hs.commit <= this.log.lastIndex(), () => `persisted commit ${hs.commit} is past the last index ${this.log.lastIndex()}: the log was lost or truncated`);
    this.tracker = new ProgressTracker(
      this.log.memberships.latest(),
      { inflightCountMax: options.maxInflightMsgs, inflightBytesMax: options.maxInflightBytes },
      this.log.lastIndex() + 1,
    );
    this.readOnly = new ReadOnlyQueue(options.maxPendingReads);
    this.term = hs.term;
    this.vote = hs.vote;
    this.log.commitTo(hs.commit);
    this.voteQuietUntilTick = options.readOnly === 'leaseBased' ? options.electionTicks : 0;
    this.becomeFollower(this.term, null);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  /**
   * Whether this node may start elections: a voter of its latest membership, or a voter of the
   * previous one while the latest, which removes it, is not known committed. The thesis (§4.1)
   * asks for the latter: such a server "might still be needed until the Cnew entry is
   * committed"; without it, a leader that removed itself and restarted before committing the
   * change can hold the only copy of that change, refuse its vote to every voter with a shorter
   * log, and stall the cluster for ever. Its own vote does not count (tallies count the voters
   * of the latest membership only).
   */
  promotable(): boolean {
    if (isVoter(this.tracker.membership, this.id)) return true;
    const latestAt = this.log.memberships.latestIndex();
    return this.log.committed < latestAt && isVoter(this.log.memberships.at(latestAt - 1), this.id);
  }

  // ---------------------------------------------------------------- outputs

  private send(m: Outgoing): void {
    // Completed in place rather than copied ({ ...m, from, term }): every caller passes a fresh
    // literal it does not keep, the keys end in the same order either way (so the encoded frames
    // are the same bytes), and a copy per message was 2% of a simulated run's CPU profile.
    const msg = m as Outgoing & { from: NodeId; term: Term };
    msg.from = this.id;
    msg.term = m.term ?? this.term;
    // A leader's appends and heartbeats promise nothing about its own disk: it counts its own log
    // towards a commit only once the runtime reports it durable (updateSelfMatch). So they may
    // leave before the Ready that holds the same entries is persisted, and the followers' fsyncs
    // overlap the leader's instead of following it (Raft thesis §10.2.1). An entry is still
    // committed only when a majority has it on disk, counting the leader or not.
    if (this.options.appendBeforePersist && this.role === 'leader' && (msg.type === 'MsgApp' || msg.type === 'MsgHeartbeat')) this.earlyMsgs.push(msg as Message);
    else this.msgs.push(msg as Message);
  }

  takeMessages(): Message[] {
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  takeEarlyMessages(): Message[] {
    const out = this.earlyMsgs;
    this.earlyMsgs = [];
    return out;
  }

  takeReadStates(): ReadState[] {
    const out = this.readStates;
    this.readStates = [];
    return out;
  }

  hasPendingOutput(): boolean {
    return this.msgs.length > 0 || this.earlyMsgs.length > 0 || this.readStates.length > 0 || this.appendsPending || this.readHeartbeatPending;
  }

  /** Sends the batched appends and read heartbeats; RaftNode calls it before building a Ready. */
  flush(): void {
    if (this.role !== 'leader') {
      this.appendsPending = false;
      this.readHeartbeatPending = false;
      return;
    }
    if (this.appendsPending) {
      this.appendsPending = false;
      this.bcastAppend();
    }
    if (this.readHeartbeatPending) {
      this.readHeartbeatPending = false;
      this.bcastHeartbeat(this.readOnly.lastRequestCtx());
    }
  }

  // ---------------------------------------------------------------- role transitions

  private reset(term: Term): void {
    if (term !== this.term) {
      assert(term > this.term, () => `term going back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // Randomised timeouts in [electionTicks, 2 * electionTicks) make split votes rare (§5.2).
    this.randomizedElectionTimeout = this.options.electionTicks + this.rng.int(this.options.electionTicks);
    this.leadTransferee = null;
    this.timeoutNowSent = false;
    this.tracker.resetVotes();
    this.tracker.resetAll(this.log.lastIndex() + 1);
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly.clear();
    this.readsBeforeCommit = [];
    this.appendsPending = false;
    this.readHeartbeatPending = false;
  }

  becomeFollower(term: Term, leader: NodeId | null): void {
    this.reset(term);
    this.leader = leader;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // A pre-candidate changes neither its term nor its vote: that is the point of pre-vote.
    this.tracker.resetVotes();
    this.leader = null;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', () => `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.leader = this.id;
    this.role = 'leader';
    this.updateSelfMatch();
    // An uncommitted config entry of an earlier leader may sit in the log: no change until it
    // (and so everything up to here) is committed.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry of the new term (§5.4.2, §8): committing it commits every earlier entry,
    // and tells the leader which of them are committed, which ReadIndex needs (thesis §6.4).
    this.appendEntries([{ type: 'normal', data: EMPTY }]);
    this.uncommittedBytes = 0;
  }

  // ---------------------------------------------------------------- ticks and elections

  tick(): void {
    this.ticks += 1;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed += 1;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      if (this.campaignHeld || this.votesHeld()) {
        // Held from campaigning (recovery holds): the leader is presumed gone all the same. Kept,
        // it would renew this member's lease at every timeout, and with check quorum the member
        // would ignore every candidate that can stand, for good (raft/rot-lsm seed 80: a member
        // repairing its state machine held the one log the others needed, and no one was elected).
        this.leader = null;
        return;
      }
      this.hup(this.options.preVote ? 'preElection' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed += 1;
    this.electionElapsed += 1;
    if (this.electionElapsed >= this.options.electionTicks) {
      this.electionElapsed = 0;
      if (this.options.checkQuorum) {
        // Check quorum (thesis §6.2): a leader cut off from a majority steps down, so that its
        // clients look for the new leader instead of waiting on one that cannot commit.
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, null);
          return;
        }
        this.tracker.forEachPeer(this.id, (_, pr) => (pr.recentActive = false));
      }
      // A transfer that did not finish within an election timeout has failed (thesis §3.10).
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastRequestCtx());
    }
  }

  /**
   * Recovery holds (protocol-aware recovery, raft-runtime/README.md). `campaign`: this member does
   * not stand for election (its state machine is being repaired: as leader it could neither apply
   * nor serve). `votesThroughTerm`: it grants no vote or pre-vote while its log's last term is at
   * most this term — its log lost records it may have acknowledged in that term or before, and
   * only a log holding an entry of a later term (which comes from a later leader, and follows
   * every entry committed before) vouches for them again. Neither is ever a reason to vote twice.
   */
  setRecoveryHolds(holds: { campaign: boolean; votesThroughTerm: Term | null }): void {
    this.campaignHeld = holds.campaign;
    this.votesThroughTerm = holds.votesThroughTerm;
  }

  /** Whether the vote hold of setRecoveryHolds still applies (it lifts itself once the log holds a later term). */
  votesHeld(): boolean {
    if (this.votesThroughTerm === null) return false;
    if (this.log.lastTerm() > this.votesThroughTerm) this.votesThroughTerm = null;
    return this.votesThroughTerm !== null;
  }

  /** The term through which votes are held now (votesHeld), or null: none held. */
  votesHeldThroughTerm(): Term | null {
    return this.votesHeld() ? this.votesThroughTerm : null;
  }

  /** Starts an election now (a timeout, or a test or operator asking), unless leader. */
  hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    if (this.campaignHeld || this.votesHeld()) return;
    // A node about to install a snapshot does not know its own log yet.
    if (this.log.unstable.snapshot !== null) return;
    this.campaign(kind);
  }

  private campaign(kind: CampaignKind): void {
    let voteTerm: Term;
    let type: 'MsgPreVote' | 'MsgVote';
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
      type = 'MsgPreVote';
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = 'MsgVote';
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tally().result === 'won') {
      this.wonElection();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const voter of this.tracker.membership.voters) {
      if (voter === this.id) continue;
      this.send({ type, to: voter, term: voteTerm, lastIndex, lastTerm, transfer: kind === 'transfer' });
    }
  }

  private wonElection(): void {
    if (this.role === 'preCandidate') {
      this.campaign('election');
    } else {
      this.becomeLeader();
      this.bcastAppend();
    }
  }

  /**
   * Whether this node heard from a leader less than an election timeout ago. With check quorum,
   * such a node ignores vote requests (thesis §4.2.3): a server that cannot hear the leader
   * cannot depose it while a majority still can. With lease reads, a node that just restarted
   * does not remember when it last heard from a leader, so it assumes "just now" for one timeout.
   */
  private inLease(): boolean {
    if (!this.options.checkQuorum) return false;
    if (this.ticks < this.voteQuietUntilTick) return true;
    return this.leader !== null && this.electionElapsed < this.options.electionTicks;
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    assert(m.to === this.id, () => `message for ${m.to} stepped into ${this.id}`);
    if (!this.stepTerm(m)) return;
    switch (m.type) {
      case 'MsgVote':
      case 'MsgPreVote':
        this.handleVoteRequest(m);
        return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** Figure 2, "rules for all servers": terms first. Returns whether to go on with `m`. */
  private stepTerm(m: Message): boolean {
    if (m.term > this.term) {
      if ((m.type === 'MsgVote' || m.type === 'MsgPreVote') && !m.transfer && this.inLease()) return false;
      if (m.type === 'MsgPreVote') return true; // a pre-vote changes no term
      if (m.type === 'MsgPreVoteResp' && !m.reject) return true; // carries the term we asked for
      const fromLeader = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
      this.becomeFollower(m.term, fromLeader ? m.from : null);
      return true;
    }
    if (m.term < this.term) {
      if ((this.options.checkQuorum || this.options.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A leader from an older term (it was partitioned away) learns our term from this answer
        // and steps down. Without it, pre-vote and check quorum keep our term from ever reaching
        // it by a vote request, and it would stay a leader nobody follows.
        this.send({ type: 'MsgAppResp', to: m.from, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'MsgPreVote') {
        this.send({ type: 'MsgPreVoteResp', to: m.from, reject: true });
      }
      return false;
    }
    return true;
  }

  /** §5.2 and §5.4.1: one vote per term, first come first served, only for an up-to-date log. */
  private handleVoteRequest(m: MsgVote): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'MsgPreVote' && m.term > this.term);
    const type = m.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
    if (!canVote || !this.log.isUpToDate(m.lastIndex, m.lastTerm) || this.votesHeld()) {
      this.send({ type, to: m.from, reject: true });
      return;
    }
    // A granted answer is in the candidate's term: for a pre-vote ours is older, and the
    // candidate would drop an answer from an older term.
    const grant: Outgoing = { type, to: m.from, term: m.term, reject: false };
    if (m.type === 'MsgPreVote') {
      this.send(grant);
      return;
    }
    this.electionElapsed = 0;
    this.vote = m.from;
    if (this.options.bugs.voteWithoutPersist) {
      // BUG (lab switch): the grant may leave before the vote is durable.
      this.earlyMsgs.push({ ...grant, from: this.id, term: m.term } as Message);
    } else {
      this.send(grant);
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
      case 'MsgHeartbeat':
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleFromLeader(m);
        return;
      case 'MsgTimeoutNow':
        // Thesis §3.10: the leader asks us to start an election at once; voters will not hold
        // their lease against it.
        this.hup('transfer');
        return;
      default:
        return; // answers to a role we no longer have
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
      case 'MsgHeartbeat':
      case 'MsgSnap':
        // A leader of our term exists (§5.2): follow it.
        this.becomeFollower(this.term, m.from);
        this.handleFromLeader(m);
        return;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        if (m.type !== (this.role === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp')) return;
        this.tracker.recordVote(m.from, !m.reject);
        const { result } = this.tracker.tally();
        if (result === 'won') this.wonElection();
        else if (result === 'lost') this.becomeFollower(this.term, null);
        return;
      }
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.tracker.get(m.from);
    if (pr === undefined) return; // not a member (any more)
    switch (m.type) {
      case 'MsgAppResp':
        pr.recentActive = true;
        if (m.reject) this.handleAppendRejection(m, pr);
        else this.handleAppendAcceptance(m, pr);
        this.stepDownIfRemoved();
        return;
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return;
      default:
        // Another leader in our term cannot exist in a correct cluster; the observers judge.
        return;
    }
  }

  // ---------------------------------------------------------------- follower side

  private handleFromLeader(m: MsgApp | MsgHeartbeat | MsgSnap): void {
    if (m.type === 'MsgApp') this.handleAppend(m);
    else if (m.type === 'MsgHeartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  private handleAppend(m: MsgApp): void {
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit index matches any leader's log: say so, skip the rest.
      this.send({ type: 'MsgAppResp', to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.syncMembership();
      this.send({ type: 'MsgAppResp', to: m.from, index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    // Fast back-off (thesis §5.3): tell the leader the last position at or before prevIndex whose
    // term is at most prevTerm; nothing after it can match.
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({ type: 'MsgAppResp', to: m.from, index: m.prevIndex, reject: true, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(m: MsgHeartbeat): void {
    // A member whose log was cut at a corruption (its votes held) may hear a commit index its log
    // no longer reaches: the leader's match for it predates the cut. It commits what it holds.
    this.log.commitTo(this.votesThroughTerm !== null ? Math.min(m.commit, this.log.lastIndex()) : m.commit);
    this.send({ type: 'MsgHeartbeatResp', to: m.from, readCtx: m.readCtx, tick: m.tick });
  }

  private handleSnapshot(m: MsgSnap): void {
    const installed = this.restore(m.snapshot);
    const index = installed ? this.log.lastIndex() : this.log.committed;
    this.send({ type: 'MsgAppResp', to: m.from, index, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  /** Installs a leader's snapshot (§7) unless our log already holds what it covers. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term } = snapshot.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We hold the snapshot's last entry, hence everything before it: just commit.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.syncMembership();
    return true;
  }

  // ---------------------------------------------------------------- leader side

  private handleAppendRejection(m: MsgAppResp, pr: Progress): void {
    // The follower's hint is its own (index, term); find in our log the last position at or
    // before it whose term is at most that term: the logs may match there.
    const nextProbe = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
    // A follower whose log ends below what it acknowledged in this term lost entries to a
    // corruption (it holds its votes until it has them again): a match that the Raft paper never
    // lowers has to be here, or every probe would start past the follower's log, for ever.
    if (m.hintIndex < pr.match && (m.index > pr.match || (pr.state === 'probe' && m.index === pr.next - 1))) {
      pr.forgetMatch(nextProbe + 1);
      this.sendAppend(m.from, true);
      return;
    }
    if (!pr.maybeDecrTo(m.index, nextProbe)) return;
    if (pr.state === 'replicate') pr.becomeProbe();
    this.sendAppend(m.from, true);
  }

  private handleAppendAcceptance(m: MsgAppResp, pr: Progress): void {
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower now holds enough (by the snapshot or otherwise) to go on from our log.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    // A new commit index reaches the followers with the next appends (flush(), before the next
    // Ready) rather than in appends of its own at once: both followers' acks, and the proposals
    // gathered meanwhile, then share one append per follower. Sent at once, each commit cost every
    // follower a message, a Ready and an answer of its own; a follower that learns it a little
    // later only applies a little later (clients are answered by the leader).
    if (this.maybeCommit()) this.appendsPending = true;
    else if (wasPaused) this.sendAppend(m.from, true);
    while (this.sendAppend(m.from, false)) {
      // stream what the inflight window allows
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: MsgHeartbeatResp, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (m.tick > pr.heartbeatAckTick) pr.heartbeatAckTick = m.tick;
    // The follower is alive, yet the stream to it is stalled: an append (or its answer) was lost
    // with the window full, or the snapshot never arrived and the runtime could not tell us
    // (reportSnapshot). Free one slot, or give up on the snapshot after an election timeout, so
    // the follower's answer to the next append puts us back on track.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.state === 'snapshot' && this.ticks - pr.pendingSnapshotTick >= this.options.electionTicks) {
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
    }
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from, true);
    if (m.readCtx === null) return;
    this.readStates.push(...this.readOnly.recvAck(m.from, m.readCtx, this.tracker.membership.voters));
  }

  /** Sends each follower what it lacks, as many appends as its flow control allows. */
  private bcastAppend(): void {
    this.tracker.forEachPeer(this.id, (to) => {
      if (!this.sendAppend(to, true)) return;
      while (this.sendAppend(to, false)) {
        // stream while the inflight window allows
      }
    });
  }

  private bcastHeartbeat(readCtx: string | null): void {
    this.tracker.forEachPeer(this.id, (to, pr) => {
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'MsgHeartbeat', to, commit, readCtx, tick: this.ticks });
    });
  }

  /**
   * Sends `to` the entries from its next position, within flow control; a snapshot if they are
   * compacted. With sendIfEmpty false, sends only if there are entries. Returns whether it sent.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.get(to);
    assert(pr !== undefined, () => `no progress for ${to}`);
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.log.entriesFrom(pr.next, this.options.maxMsgBytes);
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'MsgApp', to, prevIndex, prevTerm, entries, commit: this.log.committed });
    const last = entries[entries.length - 1];
    pr.sentEntries(entries.length, last === undefined ? prevIndex : last.index, entriesBytes(entries));
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower we have not heard from lately may be down: do not ship it a whole state.
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    assert(snapshot.meta.index > 0, () => `entries for ${to} are compacted but there is no snapshot`);
    pr.becomeSnapshot(snapshot.meta.index, this.ticks);
    this.send({ type: 'MsgSnap', to, snapshot });
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.timeoutNowSent = true;
    this.send({ type: 'MsgTimeoutNow', to });
  }

  /**
   * Advances the commit index to what a majority of voters durably holds: only if the entry
   * there is of the current term (§5.4.2); earlier entries are then committed with it. Counting
   * replicas of an earlier term's entry is unsafe (Figure 8).
   */
  private maybeCommit(): boolean {
    const mci = this.tracker.committed();
    if (mci <= this.log.committed) return false;
    if (this.log.term(mci) !== this.term && !this.options.bugs.commitPreviousTermByCount) return false;
    // BUG (lab switch) commitPreviousTermByCount: the term check above is skipped.
    this.log.commitTo(mci);
    this.releaseReadsBeforeCommit();
    return true;
  }

  /** The leader's own log counts for commit once durable (see the class comment). */
  updateSelfMatch(): void {
    if (this.role !== 'leader') return;
    const self = this.tracker.get(this.id);
    if (self === undefined) return;
    const durable = this.log.lastStableIndex();
    if (self.maybeUpdate(durable) && this.maybeCommit()) this.appendsPending = true;
    this.stepDownIfRemoved();
  }

  /**
   * A leader that removed itself steps down once that change is committed (thesis §4.2.2); until
   * then it manages the cluster without counting itself in majorities.
   */
  private stepDownIfRemoved(): void {
    if (this.role !== 'leader' || this.promotable()) return;
    if (this.log.committed < this.log.memberships.latestIndex()) return;
    this.flush(); // let the others learn the commit before we go quiet
    this.becomeFollower(this.term, null);
  }

  private syncMembership(): void {
    const latest = this.log.memberships.latest();
    if (latest === this.tracker.membership) return;
    this.tracker.setMembership(latest, this.log.lastIndex() + 1);
    if (this.leadTransferee !== null && !isVoter(latest, this.leadTransferee)) this.leadTransferee = null;
    if (this.role === 'leader') this.appendsPending = true;
  }

  private appendEntries(entries: readonly Pick<Entry, 'type' | 'data'>[]): Index {
    const first = this.log.lastIndex() + 1;
    this.log.append(entries.map((e, i) => ({ term: this.term, index: first + i, type: e.type, data: e.data })));
    this.syncMembership();
    this.appendsPending = true;
    return first;
  }

  /** The runtime applied these entries: they no longer count against maxUncommittedBytes. */
  reduceUncommitted(applied: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    let bytes = 0;
    for (const e of applied) bytes += e.data.byteLength;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  // ---------------------------------------------------------------- client requests

  private refusalIfNotServing(): Refusal | null {
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader', leader: this.leader };
    if (this.tracker.get(this.id) === undefined) return { ok: false, reason: 'notLeader', leader: null };
    if (this.leadTransferee !== null) return refuse('transferring', `leadership is moving to ${this.leadTransferee}`);
    return null;
  }

  propose(data: Uint8Array): ProposeResult {
    const refusal = this.refusalIfNotServing();
    if (refusal !== null) return refusal;
    const bytes = data.byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.options.maxUncommittedBytes) {
      return refuse('uncommittedLimit', `${this.uncommittedBytes} bytes uncommitted, limit ${this.options.maxUncommittedBytes}`);
    }
    const index = this.appendEntries([{ type: 'normal', data }]);
    this.uncommittedBytes += bytes;
    return { ok: true, index, term: this.term };
  }

  /** One server at a time; see confchange.ts for the rules and why. */
  proposeConfChange(change: ConfChange): ProposeResult {
    const refusal = this.refusalIfNotServing();
    if (refusal !== null) return refusal;
    if (this.pendingConfIndex > this.log.committed) {
      return refuse('configChangePending', `config entry at ${this.pendingConfIndex} is not committed (commit ${this.log.committed})`);
    }
    if (this.log.term(this.log.committed) !== this.term) {
      return refuse('termNotCommitted', `no entry of term ${this.term} committed yet`);
    }
    const r = applyConfChange(this.log.memberships.latest(), change);
    if (!r.ok) return refuse('invalidConfChange', `${describeConfChange(change)}: ${r.error}`);
    if (change.type === 'promoteLearner') {
      const match = this.tracker.get(change.node)?.match ?? 0;
      if (match < this.log.committed) return refuse('learnerBehind', `${change.node} holds up to ${match}, commit is ${this.log.committed}`);
    }
    const index = this.appendEntries([{ type: 'config', data: encodeMembership(r.membership) }]);
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  /**
   * Linearizable read (thesis §6.4). The answer, a ReadState, comes in a later Ready; the
   * runtime serves the read once it has applied up to its index.
   */
  readIndex(requestCtx: string): ReadIndexResult {
    if (this.options.bugs.readWithoutReadIndex) {
      // BUG (lab switch): answer at once from whatever this node has committed.
      this.readStates.push({ index: this.log.committed, requestCtx });
      return { ok: true };
    }
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader', leader: this.leader };
    if (this.readOnly.has(requestCtx) || this.readsBeforeCommit.includes(requestCtx)) {
      return refuse('duplicateRequest', `read ${requestCtx} is already pending`);
    }
    if (this.readOnly.size + this.readsBeforeCommit.length >= this.options.maxPendingReads) {
      return refuse('tooManyReads', `${this.options.maxPendingReads} reads pending`);
    }
    // A new leader's commit index may be behind the true one until it commits an entry of its
    // own term; answering with it could miss a write acknowledged by the previous leader.
    if (this.log.term(this.log.committed) !== this.term) this.readsBeforeCommit.push(requestCtx);
    else this.startRead(requestCtx);
    return { ok: true };
  }

  private startRead(requestCtx: string): void {
    const index = this.log.committed;
    if (this.tracker.isSingleVoter(this.id) || (this.options.readOnly === 'leaseBased' && this.leaseValid())) {
      this.readStates.push({ index, requestCtx });
      return;
    }
    this.readOnly.add(index, requestCtx);
    this.readStates.push(...this.readOnly.recvAck(this.id, requestCtx, this.tracker.membership.voters));
    this.readHeartbeatPending = true;
  }

  private releaseReadsBeforeCommit(): void {
    if (this.readsBeforeCommit.length === 0 || this.log.term(this.log.committed) !== this.term) return;
    const waiting = this.readsBeforeCommit;
    this.readsBeforeCommit = [];
    for (const ctx of waiting) this.startRead(ctx);
  }

  /**
   * Lease reads (thesis §6.4.1), only with readOnly 'leaseBased'. If a majority acknowledged a
   * heartbeat sent at leader tick T, each of them refuses votes until it has itself counted
   * electionTicks since receiving it (inLease; a restarted one waits that long too), so no other
   * leader can exist before T + electionTicks. The leader answers reads without a heartbeat
   * round until T + electionTicks - leaseMarginTicks by its own tick count.
   *
   * CLOCK-SKEW RISK: the argument assumes everyone's ticks run at the same rate. If the leader's
   * ticks run slower than the followers' (a slow clock, or a paused process whose ticks arrive
   * late: a GC pause, a stopped VM), followers elect a new leader while the old one still thinks
   * its lease holds, and it serves stale reads: a linearizability violation. leaseMarginTicks
   * absorbs a drift of leaseMarginTicks / electionTicks, nothing more. That is why the default
   * is 'safe'. A leadership transfer voids the lease (voters ignore leases for it).
   */
  private leaseValid(): boolean {
    if (this.timeoutNowSent || this.leadTransferee !== null) return false;
    const ackTick = this.tracker.quorumHeartbeatAckTick(this.id, this.ticks);
    return this.ticks < ackTick + this.options.electionTicks - this.options.leaseMarginTicks;
  }

  /** Leadership transfer (thesis §3.10): bring `to` up to date, then tell it to campaign. */
  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'notLeader', leader: this.leader };
    if (to === this.id) {
      this.leadTransferee = null;
      return { ok: true };
    }
    if (!isVoter(this.tracker.membership, to)) return refuse('notVoter', `${to} is not a voter`);
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    // The transfer must finish within an election timeout (tickHeartbeat aborts it).
    this.electionElapsed = 0;
    const pr = this.tracker.get(to);
    assert(pr !== undefined, () => `no progress for voter ${to}`);
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return { ok: true };
  }

  /** The runtime could not reach `to`: stop streaming to it and probe. */
  reportUnreachable(to: NodeId): void {
    const pr = this.role === 'leader' ? this.tracker.get(to) : undefined;
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The runtime finished (or failed) sending the snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.role === 'leader' ? this.tracker.get(to) : undefined;
    if (pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or a heartbeat answer) before sending again.
    pr.probeSent = true;
  }
}
