import { RaftReplica } from '../src/node/raft-replica.js';
import type { RaftNode } from '../src/replication/raft/node.js';
import { RaftInvariantViolation, RaftSafetyMonitor } from '../src/replication/raft/observers.js';
import type { World } from './world.js';
import { kvNodeOf } from './node-process.js';
import { AppliedResults } from './applied-results.js';

/** A node that began to campaign (pre-vote or vote), for the leader-stability check. */
export interface Campaign {
  node: string;
  atNs: number;
  term: number;
  /** Whether the leader of the moment (if any) counts the node among its voters. */
  voter: boolean;
}

/**
 * Raft's safety properties, watched while a simulated run goes (src/replication/raft/observers.ts
 * holds the checks):
 * - after every event: at most one leader per term; and every applied entry is compared with what
 *   every other node applied at that position (state-machine safety);
 * - every `fullEveryEvents` events or more, at each fault and heal, and at the end: log matching,
 *   leader completeness, and committed entries never lost — these compare whole logs, too costly
 *   to do at every one of a run's million events. The interval grows with the logs (a quarter of
 *   their total length in events), so the checks cost a few entry comparisons per event however
 *   long the logs grow; what they look for stays in the logs until the next check sees it, and a
 *   lost committed entry is compared with the first record of it, however late.
 * The first violation stops the run; it names the invariant, the event and the nodes.
 *
 * It also records what the checks of the run's end read: when each node began to campaign
 * (leader-stability), and every applied entry, in a reference state machine (applied-results).
 */
export class RaftObserver {
  private readonly monitor = new RaftSafetyMonitor();
  private readonly leaders = new Map<number, string>();
  private events = 0;
  private lastFull = 0;
  private lastLabel = 'start';
  violation: RaftInvariantViolation | null = null;
  fullChecks = 0;
  /** Each node's role after the last event, to see campaigns begin. */
  private readonly roles = new Map<string, string>();
  readonly campaigns: Campaign[] = [];
  /** Role changes of all nodes (a churning cluster shows hundreds). */
  roleChanges = 0;
  readonly applied = new AppliedResults();

  constructor(
    private readonly world: World,
    private readonly fullEveryEvents = 500,
    /** With shards: the one Raft group this observer watches (sim/shards/observer.ts keeps one per group). */
    private readonly group: number | null = null,
  ) {}

  attach(): void {
    this.world.sched.afterEach = (label) => this.afterEvent(label);
  }

  private nodes(): RaftNode[] {
    const out: RaftNode[] = [];
    for (const m of this.world.machines.values()) {
      const kv = m.state === 'down' ? null : kvNodeOf(m);
      if (kv === null) continue;
      const r = this.group === null ? kv.replicaForInspection : kv.sharded?.group(this.group) ?? null;
      const raft = r instanceof RaftReplica ? r.raftNode : null;
      if (raft !== null) out.push(raft);
    }
    return out;
  }

  /** After every event of the world (attach installs it; a group's observer is called by its owner). */
  afterEvent(label: string): void {
    if (this.violation !== null) return;
    this.events++;
    this.lastLabel = label;
    // The hottest code of the lab's own (it runs after each of a run's ~10^6 events): no closure,
    // no softState()/hardState() objects, and the full check's interval (a walk over every node)
    // computed only once the smallest interval has passed.
    try {
      const nodes = this.nodes();
      for (const n of nodes) {
        const role = n.currentRole();
        this.noteRole(n, role, nodes);
        if (role !== 'leader') continue;
        const term = n.currentTerm();
        const other = this.leaders.get(term);
        if (other !== undefined && other !== n.id) {
          throw new RaftInvariantViolation({ invariant: 'electionSafety', nodes: [other, n.id], detail: `two leaders in term ${term}` }, this.stepName());
        }
        this.leaders.set(term, n.id);
        this.checkMatches(n, term, nodes);
      }
    } catch (err) {
      this.caught(err);
      return;
    }
    const due = this.events - this.lastFull;
    if ((due >= this.fullEveryEvents && due >= this.fullInterval()) || label.startsWith('fault') || label.startsWith('heal')) this.full();
  }

  /**
   * A leader's match index for a follower is a claim that their logs agree up to it: the follower
   * acknowledged only entries it had checked against the leader's (log matching), and while both
   * stay in the leader's term neither log can change below it. So for a follower still in the
   * term, the entry at match must have the same term on both (where both still hold it), and the
   * leader must hold it at all. An acknowledgement of more than was checked — a follower that
   * reports its whole log, stale tail of an older term included — breaks this at once, long
   * before it may or may not cost a committed entry (issue 17's "acknowledges its whole log").
   */
  private checkMatches(leader: RaftNode, term: number, nodes: readonly RaftNode[]): void {
    leader.forEachMatchIndex((id, match) => {
      if (match === 0) return;
      if (match > leader.lastIndex()) {
        throw new RaftInvariantViolation({ invariant: 'matchIndex', nodes: [leader.id, id], detail: `leader ${leader.id} (term ${term}) counts ${id} as holding up to ${match}, past its own last index ${leader.lastIndex()}` }, this.stepName());
      }
      let f: RaftNode | undefined;
      for (const x of nodes) {
        if (x.id === id) {
          f = x;
          break;
        }
      }
      if (f === undefined || f.currentTerm() !== term) return;
      const mine = leader.termAt(match);
      const theirs = f.termAt(match);
      if (mine !== undefined && theirs !== undefined && mine !== theirs) {
        throw new RaftInvariantViolation({ invariant: 'matchIndex', nodes: [leader.id, id], detail: `leader ${leader.id} (term ${term}) counts ${id} as matching up to ${match}, but the entry there is of term ${mine} on the leader and ${theirs} on ${id}` }, this.stepName());
      }
    });
  }

  private noteRole(n: RaftNode, role: string, nodes: readonly RaftNode[]): void {
    const before = this.roles.get(n.id);
    if (before === role) return;
    this.roles.set(n.id, role);
    if (before === undefined) return;
    this.roleChanges++;
    if (role !== 'preCandidate' && role !== 'candidate') return;
    if (before === 'preCandidate' && role === 'candidate') return; // the same campaign, past its pre-vote
    let leader: RaftNode | null = null;
    for (const o of nodes) if (o.currentRole() === 'leader' && (leader === null || o.currentTerm() > leader.currentTerm())) leader = o;
    const voter = leader === null || leader.membership().voters.includes(n.id);
    this.campaigns.push({ node: n.id, atNs: this.world.nowNs, term: n.currentTerm(), voter });
  }

  /** The hook a node calls for each entry it applies. */
  onApply = (node: string, index: number, term: number, digest: string, data: Uint8Array | null): void => {
    if (this.violation !== null) return;
    this.applied.observe(index, data, term);
    // The step is named only if a violation is found: building its text for each of the run's
    // applications (every node applies every entry) cost more than the check itself.
    try {
      this.monitor.observeApply(node, { index, term, digest }, this.stepNamer);
    } catch (err) {
      this.caught(err);
    }
  };

  private fullInterval(): number {
    let entries = 0;
    for (const n of this.nodes()) entries += n.logLength();
    return Math.max(this.fullEveryEvents, entries >> 2);
  }

  /** The full check, also run once at the end of a run. */
  full(): void {
    if (this.violation !== null) return;
    this.lastFull = this.events;
    this.guard(() => {
      this.fullChecks++;
      this.monitor.observe(this.nodes().map((n) => n.debugState()), this.stepName());
    });
  }

  private readonly stepNamer = (): string => this.stepName();

  private stepName(): string {
    const group = this.group === null ? '' : `shard ${this.group}'s group, `;
    return `${group}event ${this.world.sched.eventsRun} at ${(this.world.nowNs / 1e6).toFixed(3)} ms (${this.lastLabel})`;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.caught(err);
    }
  }

  private caught(err: unknown): void {
    if (!(err instanceof RaftInvariantViolation)) throw err;
    this.violation = err;
    this.world.trace.record(this.world.nowNs, 'raft-violation', { invariant: err.invariant, nodes: err.nodes, message: err.message });
    this.world.sched.stop();
  }
}
