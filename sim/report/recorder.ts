import { assert } from '../../src/util/assert.js';

/**
 * What a run's report draws besides the history: when each fault was in effect, when each node
 * was down or paused, which role each node held in which term, and where the run stopped on a
 * violation. The recorder listens to the run's trace records (the same lines that make the
 * digest), so it sees exactly what the trace says and adds nothing to the run.
 */

export type FaultCategory = 'partition' | 'crash' | 'pause' | 'disk' | 'clock' | 'network' | 'membership' | 'other';

export interface FaultBand {
  label: string;
  category: FaultCategory;
  startNs: number;
  /** When it was undone; null: in effect until the run healed everything (or ended). */
  endNs: number | null;
  /** The nodes the label names (a partition's shape alone names none: it spans the cluster). */
  nodes: string[];
  /** A fault that is one act (a restart, a flipped bit, a membership change) rather than a state. */
  instant: boolean;
}

export interface NodeSpan {
  node: string;
  state: 'down' | 'paused';
  startNs: number;
  endNs: number | null;
}

export interface RoleChange {
  node: string;
  atNs: number;
  role: string;
  /** Raft's term, or primary replication's epoch. */
  term: number;
  leader: string | null;
}

export interface Marker {
  node: string | null;
  atNs: number;
  kind: 'exit' | 'panic' | 'violation' | 'skipped';
  text: string;
}

export interface RecordedRun {
  bands: FaultBand[];
  spans: NodeSpan[];
  roles: RoleChange[];
  markers: Marker[];
  /** Set when a list hit its bound: the report says so. */
  truncated: boolean;
}

/** A bound on every list (a scenario can repeat a fault every millisecond for minutes). */
export const RECORDED_MAX = 50_000;

const CATEGORY: Record<string, FaultCategory> = {
  crash: 'crash', restart: 'crash', 'crash-at': 'crash',
  pause: 'pause', resume: 'pause',
  partition: 'partition', 'one-way': 'partition', heal: 'partition', 'isolate-leader': 'partition',
  clock: 'clock',
  'fsync-fail': 'disk', 'disk-full': 'disk', corrupt: 'disk',
  loss: 'network', duplicate: 'network', reorder: 'network', latency: 'network', delay: 'network',
  join: 'membership', leave: 'membership', failover: 'membership', transfer: 'membership',
  destroy: 'crash',
};

/** Faults that are one act: drawn as a line, not a band. */
const INSTANT = new Set(['restart', 'resume', 'heal', 'corrupt', 'join', 'leave', 'destroy', 'failover', 'transfer']);

export class RunRecorder {
  private readonly run: RecordedRun = { bands: [], spans: [], roles: [], markers: [], truncated: false };
  private readonly openBands: FaultBand[] = [];
  private readonly openSpans = new Map<string, NodeSpan>();

  constructor(private readonly nodeIds: readonly string[]) {
    assert(nodeIds.length > 0, 'a run has nodes');
  }

  /** The trace's listener: every structured record of the run, in order. */
  readonly onRecord = (timeNs: number, kind: string, detail: Record<string, unknown>): void => {
    switch (kind) {
      case 'fault':
        return this.fault(timeNs, String(detail.fault));
      case 'fault-end':
        return this.faultEnd(timeNs, String(detail.fault));
      case 'heal-all':
        for (const b of this.openBands.splice(0)) b.endNs = timeNs;
        return;
      case 'fault-skipped':
        return this.mark({ node: null, atNs: timeNs, kind: 'skipped', text: `${String(detail.kind)} skipped: ${String(detail.why)}` });
      case 'crash':
      case 'exit':
        if (kind === 'exit') this.mark({ node: String(detail.node), atNs: timeNs, kind: 'exit', text: `exited: ${String(detail.reason)}` });
        return this.spanStart(String(detail.node), 'down', timeNs);
      case 'boot':
        return this.spanEnd(String(detail.node), 'down', timeNs);
      case 'pause':
        return this.spanStart(String(detail.node), 'paused', timeNs);
      case 'resume':
        return this.spanEnd(String(detail.node), 'paused', timeNs);
      case 'panic':
        return this.mark({ node: String(detail.node), atNs: timeNs, kind: 'panic', text: `died on ${String(detail.error)}` });
      case 'raft-violation':
        return this.mark({ node: null, atNs: timeNs, kind: 'violation', text: String(detail.message) });
      case 'log':
        if (detail.event === 'raft.role' || detail.event === 'primary.role') this.role(timeNs, detail);
        return;
    }
  };

  /** What was recorded; bands and spans still open end with the run. */
  finish(endNs: number): RecordedRun {
    for (const b of this.openBands.splice(0)) b.endNs = endNs;
    for (const s of this.openSpans.values()) s.endNs = endNs;
    this.openSpans.clear();
    return this.run;
  }

  private fault(atNs: number, label: string): void {
    const word = label.split(' ')[0] as string;
    if (label === 'heal') {
      // `heal` removes every partition at once (the nemesis forgets them without a fault-end).
      for (let i = this.openBands.length - 1; i >= 0; i--) {
        const b = this.openBands[i] as FaultBand;
        if (b.category === 'partition') {
          b.endNs = atNs;
          this.openBands.splice(i, 1);
        }
      }
    }
    const instant = INSTANT.has(word);
    const band: FaultBand = { label, category: CATEGORY[word] ?? 'other', startNs: atNs, endNs: instant ? atNs : null, nodes: this.nodesIn(label), instant };
    if (!this.push(this.run.bands, band)) return;
    if (!instant) this.openBands.push(band);
  }

  private faultEnd(atNs: number, label: string): void {
    // The most recent open band of that label: the nemesis ends faults by their labels.
    for (let i = this.openBands.length - 1; i >= 0; i--) {
      const b = this.openBands[i] as FaultBand;
      if (b.label === label) {
        b.endNs = atNs;
        this.openBands.splice(i, 1);
        return;
      }
    }
  }

  private nodesIn(label: string): string[] {
    const words = new Set(label.split(/[\s,|]+/));
    return this.nodeIds.filter((n) => words.has(n));
  }

  private spanStart(node: string, state: NodeSpan['state'], atNs: number): void {
    const open = this.openSpans.get(node);
    if (open !== undefined) {
      if (open.state === state) return;
      open.endNs = atNs; // a paused node that crashes is down from then on
    }
    const span: NodeSpan = { node, state, startNs: atNs, endNs: null };
    if (this.push(this.run.spans, span)) this.openSpans.set(node, span);
  }

  private spanEnd(node: string, state: NodeSpan['state'], atNs: number): void {
    const open = this.openSpans.get(node);
    if (open === undefined || open.state !== state) return;
    open.endNs = atNs;
    this.openSpans.delete(node);
  }

  private role(atNs: number, d: Record<string, unknown>): void {
    const term = typeof d.term === 'number' ? d.term : typeof d.epoch === 'number' ? d.epoch : 0;
    this.push(this.run.roles, { node: String(d.node), atNs, role: String(d.role), term, leader: typeof d.leader === 'string' ? d.leader : null });
  }

  private mark(m: Marker): void {
    this.push(this.run.markers, m);
  }

  private push<T>(list: T[], item: T): boolean {
    if (list.length >= RECORDED_MAX) {
      this.run.truncated = true;
      return false;
    }
    list.push(item);
    return true;
  }
}
