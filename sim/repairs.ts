import type { RecoveryStatus, RepairDetail, RepairKind } from '../src/replication/raft-runtime/runtime.js';
import { kvNodeOf } from './node-process.js';
import type { CheckResult } from './runner.js';
import type { World } from './world.js';

/** One repair event of a node's state machine, log or hard state (RaftRuntimeHooks.onRepair). */
interface RepairEvent {
  node: string;
  /** The group's shard, on a sharded node (each group repairs its own state machine). */
  shard: number | null;
  /** The run of the node's process that said it (World's Machine.incarnation). */
  incarnation: number;
  what: RepairKind;
  event: 'needed' | 'repaired';
  atNs: number;
  need: number;
  why: string;
}

/** The field of a member's status (RecoveryStatus) that says it is repairing each kind. */
const STATUS_FIELD: Record<RepairKind, keyof RecoveryStatus> = { 'state-machine': 'stateMachine', log: 'votesHeld', 'hard-state': 'mute' };

/**
 * The `repairs` check: counts the repairs of Raft members' state machines from their group
 * (protocol-aware recovery: a member whose engine or snapshot files rotted quarantines them and is
 * refilled from the leader), and fails when a member needed one and had not got it by the end of
 * the run (after healing and convergence's power cycle), which means it never served again, or
 * when a running member's status (its `recovery`, what `kv-lab cluster status` prints) says
 * otherwise than its events. Each event is also in the trace, so a report shows when it happened.
 */
export class RepairWatch {
  readonly events: RepairEvent[] = [];

  constructor(private readonly world: World) {}

  onRepair = (node: string, event: 'needed' | 'repaired', detail: RepairDetail, shard?: number): void => {
    this.events.push({ node, shard: shard ?? null, incarnation: this.world.machine(node).incarnation, what: detail.what, event, atNs: this.world.nowNs, need: detail.need, why: detail.why });
    this.world.trace.record(this.world.nowNs, 'repair', { node, ...(shard !== undefined ? { shard } : {}), what: detail.what, event, need: detail.need, applied: detail.applied, why: detail.why });
  };

  /**
   * Each member's last repair event, per group (a sharded node's groups repair on their own) and
   * per kind (a log hold lifted does not finish a state machine's repair begun meanwhile), from
   * the node's latest run only: each start finds again what it lacks and says so, so a need an
   * earlier run did not see through (it crashed after a repair's install was durable, say, and
   * before it said so) is no longer one unless the latest run says it is.
   */
  private lastEvents(): RepairEvent[] {
    const last = new Map<string, RepairEvent>();
    for (const e of this.events) if (e.incarnation === this.world.machine(e.node).incarnation) last.set(`${e.node}/${e.shard ?? ''}/${e.what}`, e);
    return [...last.values()];
  }

  /**
   * Where a running member's status (what `kv-lab cluster status` prints) disagrees with its repair
   * events: it says it repairs what it holds again, or is silent about what it still lacks.
   */
  private statusMismatches(): string[] {
    const pending = new Set(this.lastEvents().filter((e) => e.event === 'needed').map((e) => `${e.node}/${e.shard ?? ''}/${e.what}`));
    const out: string[] = [];
    for (const m of this.world.machines.values()) {
      const node = m.state === 'up' ? kvNodeOf(m) : null;
      if (node === null) continue;
      const st = node.status();
      if (st.role === 'starting' || st.role === 'stopped') continue;
      const groups: [number | null, RecoveryStatus | undefined][] = st.shards !== undefined ? st.shards.hosted.map((g) => [g.shard, g.recovery]) : [[null, st.recovery]];
      for (const [shard, recovery] of groups) {
        for (const what of Object.keys(STATUS_FIELD) as RepairKind[]) {
          const says = recovery?.[STATUS_FIELD[what]] !== undefined;
          const lacks = pending.has(`${m.id}/${shard ?? ''}/${what}`);
          if (says !== lacks) out.push(`${m.id}${shard !== null ? ` shard ${shard}` : ''}: its status ${says ? 'says' : 'does not say'} it repairs its ${what}, its last ${what} event ${lacks ? 'says it must' : 'says it did'}`);
        }
      }
    }
    return out;
  }

  /** The members whose last repair event (of one of their groups) says they need one: waiting for a repair now. */
  pendingNodes(): Set<string> {
    return new Set(this.lastEvents().filter((e) => e.event === 'needed').map((e) => e.node));
  }

  verdict(): CheckResult {
    const needed = this.events.filter((e) => e.event === 'needed').length;
    const repaired = this.events.filter((e) => e.event === 'repaired').length;
    const pending = this.lastEvents().filter((e) => e.event === 'needed').sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : (a.shard ?? -1) - (b.shard ?? -1)));
    const mismatches = this.statusMismatches();
    const statusSays = mismatches.length > 0 ? `; a member's status does not tell what it repairs: ${mismatches.join('; ')}` : '';
    if (pending.length > 0) {
      const lines = pending.map((e) => `${e.node}${e.shard !== null ? ` shard ${e.shard}` : ''} since ${(e.atNs / 1e9).toFixed(3)}s (${e.what === 'state-machine' ? `state below ${e.need} lost` : `its ${e.what}`}: ${e.why})`);
      return { verdict: 'fail', summary: `a member needed a repair from its group and never got one: ${lines.join('; ')}${statusSays}`, details: { needed, repaired } };
    }
    if (mismatches.length > 0) return { verdict: 'fail', summary: statusSays.slice(2), details: { needed, repaired } };
    if (needed === 0) return { verdict: 'pass', summary: 'no state machine needed a repair from its group', details: { needed, repaired } };
    const nodes = [...new Set(this.events.map((e) => e.node))].sort().join(', ');
    return { verdict: 'pass', summary: `${repaired} repair(s) done for ${needed} start(s) that needed one (a member that stopped before its repair needs it again), none left (${nodes})`, details: { needed, repaired } };
  }
}
