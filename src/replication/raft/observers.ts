import { majority } from './quorum.js';
import type { DebugEntry, RaftDebugState } from './node.js';
import type { Index, NodeId, ReadState, Term } from './types.js';
import { sameMembership } from './membership.js';

/**
 * Safety observers: checks of Raft's guarantees (paper Figure 3, §5.4) over plain pictures of
 * node state (RaftNode.debugState()), to run after every step of a simulation.
 *
 * Each check is a pure function of the states and of what was seen before (passed in, read
 * only), returning the violations it finds. RaftSafetyMonitor keeps that memory across steps and
 * throws the first violation. Pass every node's state at each step; a crashed node's is its
 * durable state (a node built from its storage). The checks:
 *
 * - electionSafety: at most one leader per term, across every step ever observed.
 * - logMatching: two logs holding an entry with the same index and term hold the same content
 *   there and agree on everything before it. Checked as: all entries with the same (index, term)
 *   have the same content and the same previous term, which implies the prefix rule by
 *   induction.
 * - committedEntryLost: an entry once seen committed (at or below some node's commitIndex) is
 *   the one every node has at that position while it counts it committed; and (with a fixed
 *   membership) a majority of voters still hold the highest committed entry, or hold their votes
 *   after a corruption cut their log (checkCommittedQuorum says why that is as good).
 * - leaderCompleteness: a leader of term T holds every entry seen committed by a node of term
 *   <= T (that node learned it from a leader of term <= T).
 * - stateMachineSafety: no two nodes apply different commands at one index (observeApply).
 * - readLinearizability: a ReadIndex answer is at least every index committed before the read
 *   was asked (readStarted / readAnswered).
 */
export type RaftInvariant =
  /** A leader's match index for a follower names an entry the two logs do not share (sim/raft-observer.ts). */
  | 'matchIndex'
  | 'electionSafety'
  | 'logMatching'
  | 'committedEntryLost'
  | 'leaderCompleteness'
  | 'stateMachineSafety'
  | 'readLinearizability';

export interface Violation {
  readonly invariant: RaftInvariant;
  readonly nodes: readonly NodeId[];
  readonly detail: string;
}

export class RaftInvariantViolation extends Error {
  constructor(
    readonly violation: Violation,
    readonly step: string,
  ) {
    super(`raft invariant ${violation.invariant} violated at ${step} by ${violation.nodes.join(', ')}: ${violation.detail}`);
    this.name = 'RaftInvariantViolation';
  }

  get invariant(): RaftInvariant {
    return this.violation.invariant;
  }

  get nodes(): readonly NodeId[] {
    return this.violation.nodes;
  }
}

/** What the monitor remembers of a committed position. */
export interface CommittedEntry {
  readonly term: Term;
  /** null when first seen as a compaction boundary (the content is gone). */
  readonly digest: string | null;
  /** The lowest term of any node seen counting it committed (leaders of that term or later must hold it). */
  readonly observedTerm: Term;
  readonly seenOn: NodeId;
}

export function checkElectionSafety(states: readonly RaftDebugState[], leadersSeen: ReadonlyMap<Term, NodeId>): Violation[] {
  const out: Violation[] = [];
  const now = new Map<Term, NodeId>();
  for (const s of states) {
    if (s.role !== 'leader') continue;
    const other = leadersSeen.get(s.term) ?? now.get(s.term);
    if (other !== undefined && other !== s.id) {
      out.push({ invariant: 'electionSafety', nodes: [other, s.id], detail: `two leaders in term ${s.term}` });
    }
    now.set(s.term, s.id);
  }
  return out;
}

/** What checkLogMatching saw at one position: one record per term, chained. */
interface SeenAt {
  readonly term: Term;
  readonly digest: string;
  readonly prevTerm: Term;
  readonly node: NodeId;
  next: SeenAt | null;
}

export function checkLogMatching(states: readonly RaftDebugState[]): Violation[] {
  // Keyed by index, then a short chain of the terms seen there (nearly always one): a string key
  // per (index, term) cost an allocation and a string hash for every entry of every log at every
  // full check of the lab's observer.
  const seen = new Map<Index, SeenAt>();
  for (const s of states) {
    let prevTerm = s.logStart.term;
    let prevIndex = s.logStart.index;
    for (const e of s.entries) {
      // Only compare the previous term where this node knows it (not across a gap).
      const known = e.index === prevIndex + 1;
      const head = seen.get(e.index);
      let other: SeenAt | null = head ?? null;
      while (other !== null && other.term !== e.term) other = other.next;
      if (other === null) {
        const rec: SeenAt = { term: e.term, digest: e.digest, prevTerm: known ? prevTerm : -1, node: s.id, next: null };
        if (head === undefined) seen.set(e.index, rec);
        else {
          let last = head;
          while (last.next !== null) last = last.next;
          last.next = rec;
        }
      } else if (other.digest !== e.digest) {
        return [{ invariant: 'logMatching', nodes: [other.node, s.id], detail: `entry ${e.term}/${e.index} differs: ${other.digest} vs ${e.digest}` }];
      } else if (known && other.prevTerm >= 0 && other.prevTerm !== prevTerm) {
        return [{ invariant: 'logMatching', nodes: [other.node, s.id], detail: `entry ${e.term}/${e.index} follows term ${other.prevTerm} on one, ${prevTerm} on the other` }];
      }
      prevTerm = e.term;
      prevIndex = e.index;
    }
  }
  return [];
}

function entryAt(s: RaftDebugState, index: Index): DebugEntry | undefined {
  const first = s.entries[0];
  if (first === undefined) return undefined;
  const e = s.entries[index - first.index];
  return e !== undefined && e.index === index ? e : undefined;
}

/** Compares each node's committed prefix with what was seen committed before. */
export function checkCommittedEntries(states: readonly RaftDebugState[], committed: ReadonlyMap<Index, CommittedEntry>): Violation[] {
  for (const s of states) {
    if (s.lastApplied > s.commitIndex) {
      return [{ invariant: 'committedEntryLost', nodes: [s.id], detail: `applied ${s.lastApplied} is past commit ${s.commitIndex}` }];
    }
    const start = committed.get(s.logStart.index);
    if (start !== undefined && start.term !== s.logStart.term) {
      return [{ invariant: 'committedEntryLost', nodes: [start.seenOn, s.id], detail: `committed ${start.term}/${s.logStart.index}, but ${s.id}'s snapshot ends at term ${s.logStart.term}` }];
    }
    for (const e of s.entries) {
      if (e.index > s.commitIndex) break;
      const c = committed.get(e.index);
      if (c === undefined) continue;
      if (c.term !== e.term || (c.digest !== null && c.digest !== e.digest)) {
        return [{ invariant: 'committedEntryLost', nodes: [c.seenOn, s.id], detail: `position ${e.index} committed as ${c.term}/${c.digest ?? '?'}, ${s.id} commits ${e.term}/${e.digest} there` }];
      }
    }
  }
  return [];
}

/**
 * With one membership on every node and every voter pictured: the highest committed entry is
 * still held by a majority of voters (durably, since crashed nodes are pictured by their storage),
 * counting as holding it a voter whose log lost records to corruption and who holds its votes
 * through the entry's term or a later one. Such a voter helps elect no one until its log holds an
 * entry of a later term, and a log that does holds every entry committed up to that term
 * (raft-runtime/README.md, "The log"): no candidate lacking the entry can count on its vote, so
 * the entry still cannot be lost by an election. With a rot on one member while another is behind
 * (shards/log-rot seed 5: n2 restarting, n1's shared log cut), one intact copy is all there is.
 */
export function checkCommittedQuorum(states: readonly RaftDebugState[], index: Index, c: CommittedEntry | undefined): Violation[] {
  const first = states[0];
  if (first === undefined || c === undefined || index === 0) return [];
  if (!states.every((s) => sameMembership(s.membership, first.membership))) return [];
  const voters = first.membership.voters;
  // No voters at all: every pictured node's log is empty of configuration (a member whose log
  // was cut whole at a corruption, waiting for it from the leader): nothing to judge by.
  if (voters.length === 0) return [];
  const byId = new Map(states.map((s) => [s.id, s]));
  if (!voters.every((v) => byId.has(v))) return [];
  const holders = voters.filter((v) => {
    const s = byId.get(v) as RaftDebugState;
    if (s.logStart.index >= index) return true;
    const e = entryAt(s, index);
    if (e !== undefined && e.term === c.term) return true;
    return s.votesHeldThroughTerm != null && s.votesHeldThroughTerm >= c.term;
  });
  if (holders.length >= majority(voters.length)) return [];
  return [{
    invariant: 'committedEntryLost',
    nodes: voters.filter((v) => !holders.includes(v)),
    detail: `committed entry ${c.term}/${index} is held by ${holders.length} of ${voters.length} voters (${holders.join(' ') || 'none'}), counting those whose votes are held through its term`,
  }];
}

/** Checks a leader's log against the committed entries with index >= fromIndex. */
export function checkLeaderCompleteness(
  leader: RaftDebugState,
  committed: ReadonlyMap<Index, CommittedEntry>,
  fromIndex: Index,
  toIndex: Index,
): Violation[] {
  for (let i = Math.max(fromIndex, leader.logStart.index + 1); i <= toIndex; i++) {
    const c = committed.get(i);
    if (c === undefined || c.observedTerm > leader.term) continue;
    const e = entryAt(leader, i);
    if (e === undefined || e.term !== c.term || (c.digest !== null && e.digest !== c.digest)) {
      const has = e === undefined ? 'nothing' : `${e.term}/${e.digest}`;
      return [{ invariant: 'leaderCompleteness', nodes: [leader.id, c.seenOn], detail: `leader of term ${leader.term} has ${has} at ${i}, committed as ${c.term}/${c.digest ?? '?'} (seen on ${c.seenOn} in term ${c.observedTerm})` }];
    }
  }
  return [];
}

/** Memory bound: the monitor forgets committed positions this far below the highest one. */
const COMMITTED_REMEMBERED_MAX = 200_000;
/** Memory bound: reads never answered are forgotten, oldest first, beyond this many. */
const READS_REMEMBERED_MAX = 100_000;

/** Runs every check after each step, remembering what it must across steps; throws on violation. */
export class RaftSafetyMonitor {
  private readonly leaders = new Map<Term, NodeId>();
  private readonly committed = new Map<Index, CommittedEntry>();
  private maxCommitted: Index = 0;
  private lowestRemembered: Index = 1;
  private readonly applied = new Map<Index, { digest: string; term: Term; node: NodeId }>();
  /** Per leader and term, the committed positions already checked against its log. */
  private readonly leaderChecked = new Map<string, Index>();
  private readonly readsStarted = new Map<string, Index>();

  /** `step` names the step in a violation, e.g. "step 41 (deliver n2->n1 MsgAppResp)". */
  observe(states: readonly RaftDebugState[], step: string): void {
    this.fail(checkElectionSafety(states, this.leaders), step);
    for (const s of states) if (s.role === 'leader') this.leaders.set(s.term, s.id);
    this.fail(checkLogMatching(states), step);
    this.recordCommitted(states);
    this.fail(checkCommittedEntries(states, this.committed), step);
    this.fail(checkCommittedQuorum(states, this.maxCommitted, this.committed.get(this.maxCommitted)), step);
    for (const s of states) {
      if (s.role !== 'leader') continue;
      const key = `${s.id}@${s.term}`;
      const from = (this.leaderChecked.get(key) ?? 0) + 1;
      this.fail(checkLeaderCompleteness(s, this.committed, from, this.maxCommitted), step);
      this.leaderChecked.set(key, this.maxCommitted);
    }
  }

  /**
   * The application of `node` applied this entry (in Ready.committedEntries order). `step` may be
   * a function, called only to name a violation (it runs for every application of every node).
   */
  observeApply(node: NodeId, entry: { index: Index; term: Term; digest: string }, step: string | (() => string)): void {
    const other = this.applied.get(entry.index);
    if (other === undefined) {
      this.applied.set(entry.index, { digest: entry.digest, term: entry.term, node });
      return;
    }
    if (other.digest !== entry.digest || other.term !== entry.term) {
      this.fail([{ invariant: 'stateMachineSafety', nodes: [other.node, node], detail: `position ${entry.index}: ${other.node} applied ${other.term}/${other.digest}, ${node} applied ${entry.term}/${entry.digest}` }], typeof step === 'string' ? step : step());
    }
  }

  /** A client asked `node` for a linearizable read with this context. */
  readStarted(node: NodeId, requestCtx: string): void {
    if (this.readsStarted.size >= READS_REMEMBERED_MAX) {
      const oldest = this.readsStarted.keys().next().value as string;
      this.readsStarted.delete(oldest);
    }
    this.readsStarted.set(`${node}/${requestCtx}`, this.maxCommitted);
  }

  /** The read will not be answered (refused, or its leader lost leadership). */
  readDropped(node: NodeId, requestCtx: string): void {
    this.readsStarted.delete(`${node}/${requestCtx}`);
  }

  /** `node` answered the read: its index must cover everything committed before it started. */
  readAnswered(node: NodeId, rs: ReadState, step: string): void {
    const key = `${node}/${rs.requestCtx}`;
    const floor = this.readsStarted.get(key);
    if (floor === undefined) return;
    this.readsStarted.delete(key);
    if (rs.index < floor) {
      const c = this.committed.get(floor);
      this.fail([{ invariant: 'readLinearizability', nodes: [node, ...(c ? [c.seenOn] : [])], detail: `read ${rs.requestCtx} answered at index ${rs.index}, but ${floor} was committed before it was asked` }], step);
    }
  }

  /** How many terms had a leader, over the whole run. */
  leaderTermsSeen(): number {
    return this.leaders.size;
  }

  highestCommitted(): Index {
    return this.maxCommitted;
  }

  private recordCommitted(states: readonly RaftDebugState[]): void {
    for (const s of states) {
      this.remember(s.logStart.index, s.logStart.term, null, s);
      for (const e of s.entries) {
        if (e.index > s.commitIndex) break;
        this.remember(e.index, e.term, e.digest, s);
      }
    }
    // The lowest term among the nodes counting each new position committed (see CommittedEntry).
    for (const s of states) {
      for (let i = Math.max(this.lowestRemembered, s.logStart.index); i <= s.commitIndex; i++) {
        const c = this.committed.get(i);
        if (c !== undefined && s.term < c.observedTerm) this.committed.set(i, { ...c, observedTerm: s.term });
      }
    }
    while (this.maxCommitted - this.lowestRemembered > COMMITTED_REMEMBERED_MAX) {
      this.committed.delete(this.lowestRemembered);
      this.applied.delete(this.lowestRemembered);
      this.lowestRemembered += 1;
    }
  }

  private remember(index: Index, term: Term, digest: string | null, s: RaftDebugState): void {
    if (index === 0 || index < this.lowestRemembered) return;
    const c = this.committed.get(index);
    if (c === undefined) {
      this.committed.set(index, { term, digest, observedTerm: s.term, seenOn: s.id });
      if (index > this.maxCommitted) this.maxCommitted = index;
    } else if (c.digest === null && digest !== null) {
      this.committed.set(index, { ...c, digest });
    }
  }

  private fail(violations: readonly Violation[], step: string): void {
    const v = violations[0];
    if (v !== undefined) throw new RaftInvariantViolation(v, step);
  }
}
