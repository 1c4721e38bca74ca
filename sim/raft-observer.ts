import { RaftReplica } from '../src/node/raft-replica.js';
import type { RaftNode } from '../src/replication/raft/node.js';
import { RaftInvariantViolation, RaftSafetyMonitor } from '../src/replication/raft/observers.js';
import type { World } from './world.js';
import { kvNodeOf } from './node-process.js';

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
 */
export class RaftObserver {
  private readonly monitor = new RaftSafetyMonitor();
  private readonly leaders = new Map<number, string>();
  private events = 0;
  private lastFull = 0;
  private lastLabel = 'start';
  violation: RaftInvariantViolation | null = null;
  fullChecks = 0;

  constructor(
    private readonly world: World,
    private readonly fullEveryEvents = 500,
  ) {}

  attach(): void {
    this.world.sched.afterEach = (label) => this.afterEvent(label);
  }

  private nodes(): RaftNode[] {
    const out: RaftNode[] = [];
    for (const m of this.world.machines.values()) {
      const kv = m.state === 'down' ? null : kvNodeOf(m);
      if (kv === null) continue;
      const r = kv.replicaForInspection;
      const raft = r instanceof RaftReplica ? r.raftNode : null;
      if (raft !== null) out.push(raft);
    }
    return out;
  }

  private afterEvent(label: string): void {
    if (this.violation !== null) return;
    this.events++;
    this.lastLabel = label;
    this.guard(() => {
      for (const n of this.nodes()) {
        const soft = n.softState();
        if (soft.role !== 'leader') continue;
        const term = n.hardState().term;
        const other = this.leaders.get(term);
        if (other !== undefined && other !== n.id) {
          throw new RaftInvariantViolation({ invariant: 'electionSafety', nodes: [other, n.id], detail: `two leaders in term ${term}` }, this.stepName());
        }
        this.leaders.set(term, n.id);
      }
      if (this.events - this.lastFull >= this.fullInterval() || label.startsWith('fault') || label.startsWith('heal')) this.full();
    });
  }

  /** The hook a node calls for each entry it applies. */
  onApply = (node: string, index: number, term: number, digest: string): void => {
    if (this.violation !== null) return;
    this.guard(() => this.monitor.observeApply(node, { index, term, digest }, this.stepName()));
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

  private stepName(): string {
    return `event ${this.world.sched.eventsRun} at ${(this.world.nowNs / 1e6).toFixed(3)} ms (${this.lastLabel})`;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof RaftInvariantViolation)) throw err;
      this.violation = err;
      this.world.trace.record(this.world.nowNs, 'raft-violation', { invariant: err.invariant, nodes: err.nodes, message: err.message });
      this.world.sched.stop();
    }
  }
}
