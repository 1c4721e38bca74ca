import type { Rng } from '../../env/rng.js';
import { assert } from '../../util/assert.js';
import type { ConfChange } from './confchange.js';
import { entryDigest } from './digest.js';
import type { Message } from './messages.js';
import { DEFAULT_RAFT_OPTIONS, type RaftOptions } from './options.js';
import { Raft } from './raft.js';
import type { Ready } from './ready.js';
import type { ProposeResult, ReadIndexResult, TransferResult } from './results.js';
import type { RaftStorage } from './storage.js';
import type { Entry, EntryType, HardState, Index, Membership, NodeId, Role, SnapshotMeta, SoftState, Term } from './types.js';

/** One log entry as observers see it: content replaced by a digest. */
export interface DebugEntry {
  readonly index: Index;
  readonly term: Term;
  readonly type: EntryType;
  readonly digest: string;
}

/**
 * A plain, self-contained picture of a node's Raft state, for the safety observers
 * (observers.ts), traces and tests. `entries` are the whole log above `logStart`, unstable
 * entries included; `logStart` is the compaction boundary (the entry there is gone, its term is
 * known).
 */
export interface RaftDebugState {
  readonly id: NodeId;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly commitIndex: Index;
  readonly lastApplied: Index;
  readonly logStart: { readonly index: Index; readonly term: Term };
  readonly entries: readonly DebugEntry[];
  readonly membership: Membership;
  /**
   * Votes held through this term (protocol-aware recovery: the log lost records it may have
   * acknowledged up to this term); null or absent: none held.
   */
  readonly votesHeldThroughTerm?: Term | null;
}

export interface RaftNodeInit {
  readonly id: NodeId;
  /** What the node restarts from: its durable hard state, snapshot and entries. */
  readonly storage: RaftStorage;
  /** For randomised election timeouts only; give each node its own stream. */
  readonly rng: Rng;
  readonly options?: RaftOptions;
}

/** Refuse to build a debug picture of more entries than this: observers want bounded logs. */
const DEBUG_ENTRIES_MAX = 1_000_000;

/**
 * The interface a runtime drives (etcd's RawNode): inputs, then ready() / carry out / advance().
 * See ready.ts for the contract and README.md for the whole picture.
 */
export class RaftNode {
  private readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Ready | null = null;
  /**
   * The last debugState() picture's entries and the log entries they picture, position for
   * position: entries are immutable, so the next picture reuses the DebugEntry of every entry
   * still held (the same object) instead of looking its digest up again. The lab's observer
   * pictures every log every few hundred events; the digest look-ups (a WeakMap get per entry)
   * were 3.4% of a 21-scenario swarm's CPU profile.
   */
  private debugSource: readonly Entry[] = [];
  private debugEntries: readonly DebugEntry[] = [];

  constructor(init: RaftNodeInit) {
    this.raft = new Raft(init.id, init.storage, init.rng, init.options ?? DEFAULT_RAFT_OPTIONS);
    this.prevHard = init.storage.hardState();
    this.prevSoft = this.raft.softState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  // ---------------------------------------------------------------- inputs

  /** One tick of the runtime's timer. */
  tick(): void {
    this.raft.tick();
  }

  /** A message from a peer. Messages for another node are a runtime bug. */
  step(m: Message): void {
    this.raft.step(m);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose(data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(change);
  }

  /** requestCtx: unique among this node's pending reads; it comes back in a ReadState. */
  readIndex(requestCtx: string): ReadIndexResult {
    return this.raft.readIndex(requestCtx);
  }

  transferLeadership(to: NodeId): TransferResult {
    return this.raft.transferLeadership(to);
  }

  /** Recovery holds on campaigning and voting (Raft.setRecoveryHolds). */
  setRecoveryHolds(holds: { campaign: boolean; votesThroughTerm: Term | null }): void {
    this.raft.setRecoveryHolds(holds);
  }

  /** Whether votes are still held (the log holds no entry past the held term yet). */
  votesHeld(): boolean {
    return this.raft.votesHeld();
  }

  /** Start an election now (tests, an operator), as if the election timeout had passed. */
  campaign(): void {
    this.raft.hup(this.raft.options.preVote ? 'preElection' : 'election');
  }

  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  // ---------------------------------------------------------------- outputs

  /** Whether ready() would return something to do. False while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.raft;
    const log = r.log;
    // Compared field by field rather than through softState()/hardState(): the runtime asks
    // after every input, and those would allocate two objects each time.
    const soft = this.prevSoft;
    const hard = this.prevHard;
    return (
      r.leader !== soft.leader ||
      r.role !== soft.role ||
      r.term !== hard.term ||
      r.vote !== hard.vote ||
      log.committed !== hard.commit ||
      log.unstable.snapshot !== null ||
      log.unstable.entries.length > 0 ||
      log.hasNextCommittedEntries() ||
      r.hasPendingOutput()
    );
  }

  /** Collects what to persist, send and apply. REQUIRES: the previous Ready was advanced. */
  ready(): Ready {
    assert(this.outstanding === null, 'ready() called before advance() of the previous Ready');
    const r = this.raft;
    r.flush();
    const hard = r.hardState();
    const soft = r.softState();
    const hardChanged = !sameHard(hard, this.prevHard);
    const entries = r.log.unstable.entries.slice();
    const snapshot = r.log.unstable.snapshot;
    const committedEntries = r.log.nextCommittedEntries(r.options.maxCommittedBytesPerReady);
    const rd: Ready = {
      softState: sameSoft(soft, this.prevSoft) ? null : soft,
      hardState: hardChanged ? hard : null,
      snapshot,
      entries,
      mustSync: entries.length > 0 || snapshot !== null || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
      earlyMessages: r.takeEarlyMessages(),
      messages: r.takeMessages(),
      committedEntries,
      readStates: r.takeReadStates(),
    };
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) r.log.acceptApplying(lastCommitted.index);
    this.prevHard = hard;
    this.prevSoft = soft;
    this.outstanding = rd;
    return rd;
  }

  /**
   * Committed entries to apply at once, while a Ready is outstanding: those after everything
   * handed out so far that are already in this node's stable log (below every unstable entry;
   * none while a snapshot waits). A leader whose Ready is being fsynced learns from an ack that
   * its previous entries committed; without this they would wait for that fsync and the next
   * Ready (etcd applies in parallel with its storage writes for the same reason). The entries
   * count as applied once returned: the runtime applies them at once, in order; no Ready hands
   * them out again. The outstanding Ready's own committed entries come first: when any of them
   * still waits for its fsync, it is unstable, so nothing above it is returned here.
   */
  takeDurableCommitted(): Entry[] {
    const log = this.raft.log;
    if (log.unstable.snapshot !== null) return [];
    const hi = Math.min(log.committed, log.unstable.offset - 1);
    if (hi <= log.applying) return [];
    const entries = log.slice(log.applying + 1, hi + 1, this.raft.options.maxCommittedBytesPerReady) ?? [];
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    log.acceptApplying(last.index);
    log.appliedTo(last.index);
    this.raft.reduceUncommitted(entries);
    return entries;
  }

  /** The runtime carried out `rd` (ready.ts). */
  advance(rd: Ready): void {
    assert(rd === this.outstanding, 'advance() of a Ready that is not the outstanding one');
    const log = this.raft.log;
    if (rd.snapshot !== null) log.stableSnapTo(rd.snapshot.meta.index);
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) log.stableTo(lastEntry.index, lastEntry.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      // takeDurableCommitted() may have moved applied past this Ready's entries already.
      if (lastApplied.index > log.applied) log.appliedTo(lastApplied.index);
      this.raft.reduceUncommitted(rd.committedEntries);
    }
    log.noteStorageCompaction();
    this.raft.updateSelfMatch();
    this.outstanding = null;
  }

  // ---------------------------------------------------------------- queries

  softState(): SoftState {
    return this.raft.softState();
  }

  hardState(): HardState {
    return this.raft.hardState();
  }

  /** softState().role without building the object (observers ask after every simulated event). */
  currentRole(): Role {
    return this.raft.role;
  }

  /** hardState().term without building the object. */
  currentTerm(): Term {
    return this.raft.term;
  }

  /** The membership in force: the last config entry in the log, committed or not. */
  membership(): Membership {
    return this.raft.log.memberships.latest();
  }

  commitIndex(): Index {
    return this.raft.log.committed;
  }

  /** The membership of the last config entry at or below the commit index: unlike membership(), it cannot be undone. */
  committedMembership(): Membership {
    const log = this.raft.log;
    return log.memberships.at(Math.max(log.committed, log.memberships.baseIndex()));
  }

  /** Where the membership in force was set (its config entry's index, or the snapshot's). */
  membershipIndex(): Index {
    return this.raft.log.memberships.latestIndex();
  }

  appliedIndex(): Index {
    return this.raft.log.applied;
  }

  /**
   * What a snapshot of the state machine at `index` must record (term and membership there), for
   * the runtime to compact the log. REQUIRES: index applied, and not below the log's start.
   */
  snapshotMetaAt(index: Index): SnapshotMeta {
    const log = this.raft.log;
    assert(index <= log.applied, () => `snapshot at ${index} is past the applied index ${log.applied}`);
    const term = log.term(index);
    assert(term !== undefined, () => `no term known at ${index} (log starts after ${log.firstIndex() - 1})`);
    return { index, term, membership: log.memberships.at(index) };
  }

  /** Progress of each peer as the leader sees it ("probe match=3 next=4"), for traces. */
  progressSummary(): Record<NodeId, string> {
    const out: Record<NodeId, string> = {};
    if (this.raft.role !== 'leader') return out;
    this.raft.tracker.forEachPeer(this.id, (id, pr) => (out[id] = pr.describe()));
    return out;
  }

  /** A leader's match index for each peer (empty unless leader), for the lab's observer. */
  matchIndexes(): Map<NodeId, Index> {
    const out = new Map<NodeId, Index>();
    if (this.raft.role !== 'leader') return out;
    this.raft.tracker.forEachPeer(this.id, (id, pr) => out.set(id, pr.match));
    return out;
  }

  /** matchIndexes() without building the map: visits each peer's match index, in the same order. */
  forEachMatchIndex(visit: (id: NodeId, match: Index) => void): void {
    if (this.raft.role !== 'leader') return;
    this.raft.tracker.forEachPeer(this.id, (id, pr) => visit(id, pr.match));
  }

  /** The term of the entry at `index`, if the log still holds it (or its snapshot ends there). */
  termAt(index: Index): Term | undefined {
    return this.raft.log.term(index);
  }

  lastIndex(): Index {
    return this.raft.log.lastIndex();
  }

  /** How many entries the log holds (stored and unstable), cheaply, for observers pacing their checks. */
  logLength(): number {
    const log = this.raft.log;
    return Math.max(0, log.lastIndex() - log.firstIndex() + 1);
  }

  debugState(): RaftDebugState {
    const r = this.raft;
    const log = r.log;
    const first = log.firstIndex();
    const last = log.lastIndex();
    assert(last - first + 1 <= DEBUG_ENTRIES_MAX, () => `log of ${last - first + 1} entries is too long to picture`);
    const entries = last >= first ? (log.slice(first, last + 1, Infinity) ?? []) : [];
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      role: r.role,
      leader: r.leader,
      commitIndex: log.committed,
      lastApplied: log.applied,
      logStart: { index: first - 1, term: log.term(first - 1) ?? 0 },
      entries: this.debugPictures(entries),
      membership: log.memberships.latest(),
      votesHeldThroughTerm: r.votesHeldThroughTerm(),
    };
  }

  /** The DebugEntry of each entry, reusing the last picture's where the entry is the same object. */
  private debugPictures(entries: readonly Entry[]): DebugEntry[] {
    const prevSource = this.debugSource;
    const prevEntries = this.debugEntries;
    const prevFirst = prevSource.length > 0 ? (prevSource[0] as Entry).index : 0;
    const out: DebugEntry[] = [];
    for (const e of entries) {
      const j = e.index - prevFirst;
      const d = prevSource[j] === e ? (prevEntries[j] as DebugEntry) : undefined;
      out.push(d !== undefined && d.index === e.index && d.term === e.term && d.type === e.type ? d : { index: e.index, term: e.term, type: e.type, digest: entryDigest(e) });
    }
    this.debugSource = entries;
    this.debugEntries = out;
    return out;
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
