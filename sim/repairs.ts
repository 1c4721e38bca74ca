import type { CheckResult } from './runner.js';
import type { World } from './world.js';

/** One repair event of a node's state machine (RaftRuntimeHooks.onRepair). */
interface RepairEvent {
  node: string;
  /** The group's shard, on a sharded node (each group repairs its own state machine). */
  shard: number | null;
  event: 'needed' | 'repaired';
  atNs: number;
  need: number;
  why: string;
}

/**
 * The `repairs` check: counts the repairs of Raft members' state machines from their group
 * (protocol-aware recovery: a member whose engine or snapshot files rotted quarantines them and is
 * refilled from the leader), and fails when a member needed one and had not got it by the end of
 * the run (after healing and convergence's power cycle), which means it never served again.
 * Each event is also in the trace, so a report shows when it happened.
 */
export class RepairWatch {
  readonly events: RepairEvent[] = [];

  constructor(private readonly world: World) {}

  onRepair = (node: string, event: 'needed' | 'repaired', detail: { need: number; applied: number; why: string }, shard?: number): void => {
    this.events.push({ node, shard: shard ?? null, event, atNs: this.world.nowNs, need: detail.need, why: detail.why });
    this.world.trace.record(this.world.nowNs, 'repair', { node, ...(shard !== undefined ? { shard } : {}), event, need: detail.need, applied: detail.applied, why: detail.why });
  };

  /** Each member's last repair event, per group (a sharded node's groups repair on their own). */
  private lastEvents(): RepairEvent[] {
    const last = new Map<string, RepairEvent>();
    for (const e of this.events) last.set(`${e.node}/${e.shard ?? ''}`, e);
    return [...last.values()];
  }

  /** The members whose last repair event (of one of their groups) says they need one: waiting for a repair now. */
  pendingNodes(): Set<string> {
    return new Set(this.lastEvents().filter((e) => e.event === 'needed').map((e) => e.node));
  }

  verdict(): CheckResult {
    const needed = this.events.filter((e) => e.event === 'needed').length;
    const repaired = this.events.filter((e) => e.event === 'repaired').length;
    const pending = this.lastEvents().filter((e) => e.event === 'needed').sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : (a.shard ?? -1) - (b.shard ?? -1)));
    if (pending.length > 0) {
      const lines = pending.map((e) => `${e.node}${e.shard !== null ? ` shard ${e.shard}` : ''} since ${(e.atNs / 1e9).toFixed(3)}s (state below ${e.need} lost: ${e.why})`);
      return { verdict: 'fail', summary: `a state machine needed a repair from its group and never got one: ${lines.join('; ')}`, details: { needed, repaired } };
    }
    if (needed === 0) return { verdict: 'pass', summary: 'no state machine needed a repair from its group', details: { needed, repaired } };
    const nodes = [...new Set(this.events.map((e) => e.node))].sort().join(', ');
    return { verdict: 'pass', summary: `${repaired} repair(s) done for ${needed} start(s) that needed one (a member that stopped before its repair needs it again), none left (${nodes})`, details: { needed, repaired } };
  }
}
