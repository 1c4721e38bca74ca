import type { MemberEvent, MemberMeta } from '../src/cluster/gossip/types.js';
import { suspicionTimeoutMs, type GossipOptions } from '../src/cluster/gossip/options.js';
import type { GossipNode } from '../src/cluster/gossip/node.js';
import { KV_LAB_VERSION } from '../src/util/version.js';
import { activeAt, lastAtOrBefore, type Disturbances, type Verdict } from './availability.js';
import { checkMembership, checkRingBalance, EventWatch, type GossipWorld } from './gossip/checks.js';
import type { ObservedEvent } from './gossip/cluster.js';
import { kvNodeOf } from './node-process.js';
import { NS_PER_MS } from './scheduler.js';
import type { World } from './world.js';

/** What each simulated node announces of itself by gossip: one zone, equal weights. */
export const LAB_MEMBER_META: MemberMeta = Object.freeze({ zone: '', version: KV_LAB_VERSION, weight: 100, addresses: Object.freeze([]) });

/**
 * The main simulator's nodes seen as a gossip world (sim/gossip/checks.ts's GossipWorld), so the
 * membership and ring-balance checks of the pure gossip lab judge the KvNodes' gossip as well: who
 * runs is the machines' ground truth, each node's core is its KvNode's, and time passes on the
 * world's scheduler.
 */
export class WorldMembership implements GossipWorld {
  private readonly listeners: ((e: ObservedEvent) => void)[] = [];

  constructor(private readonly world: World) {}

  get nowMs(): number {
    return this.world.nowNs / NS_PER_MS;
  }

  ids(): string[] {
    return this.world.nodeIds();
  }

  upIds(): string[] {
    return this.ids().filter((id) => this.isUp(id));
  }

  /** Running, with its gossip started (a paused machine runs, slowly: it is not down). */
  isUp(id: string): boolean {
    const m = this.world.machine(id);
    return m.state !== 'down' && kvNodeOf(m)?.gossipNode != null;
  }

  gossipNode(id: string): GossipNode {
    const g = kvNodeOf(this.world.machine(id))?.gossipNode;
    if (g == null) throw new Error(`node ${id} runs no gossip`);
    return g;
  }

  runForMs(ms: number): void {
    this.world.sched.runUntil(this.world.nowNs + ms * NS_PER_MS);
  }

  onEvent(listener: (e: ObservedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** NodeGossipConfig.onEvent of every node: an event as its observer saw it, with the ground truth. */
  readonly see = (observer: string, event: MemberEvent): void => {
    const e: ObservedEvent = { atNs: this.world.nowNs, observer, event, subjectUp: this.world.machines.has(event.id) && this.isUp(event.id) };
    for (const l of this.listeners) l(e);
  };
}

/**
 * membership: after healing, every running node sees exactly the running nodes alive within the
 * heal timeout; and no running node is declared dead while the cluster is calm — no fault in
 * effect, and none for longer than a suspicion could take to end (Lifeguard's longest, plus two
 * probe periods). Deaths during or right after a fault (a partition outlasting the suspicion
 * timeout, a paused process) are what gossip is for: they are listed, not failures.
 */
export function membershipVerdict(m: WorldMembership, watch: EventWatch, o: GossipOptions, d: Disturbances, healTimeoutMs: number): Verdict {
  const r = checkMembership(m, watch, { healTimeoutMs, falseDeathsAllowed: Number.MAX_SAFE_INTEGER });
  const n = m.ids().length;
  const graceNs = (suspicionTimeoutMs(o, n) * (o.lifeguard.dynamicSuspicion ? o.suspicionMaxTimeoutMult : 1) + 2 * o.probeIntervalMs * (1 + o.awarenessMax)) * NS_PER_MS;
  const times = [0, ...d.timeline.map((e) => e.atNs), ...d.others].sort((a, b) => a - b);
  const calm = watch.falseDeaths.filter((f) => {
    const atNs = f.atMs * NS_PER_MS;
    return activeAt(d.timeline, atNs) === 0 && atNs - lastAtOrBefore(times, atNs) >= graceNs;
  });
  const lines = [...r.details.filter((l) => !l.startsWith('false death')), ...calm.slice(0, 5).map((f) => `${f.observer} declared ${f.subject}@${f.incarnation} dead at ${f.atMs.toFixed(0)} ms (by ${f.by ?? '?'}) in a calm cluster`)];
  const converged = r.convergedAfterMs !== null;
  const pass = converged && calm.length === 0;
  const counts = `${watch.falseDeaths.length} death(s) of running nodes, ${calm.length} of them while calm`;
  const head = converged ? `every running node sees exactly the running nodes alive (after the final reads, and ${r.convergedAfterMs} ms more); ${counts}` : `views not exact ${healTimeoutMs} ms after the final reads; ${counts}`;
  return pass ? { verdict: 'pass', summary: head } : { verdict: 'fail', summary: `${head}:\n  ${lines.slice(0, 10).join('\n  ')}` };
}

/** ring-balance: every running node builds the same ring from its gossip view, and it spreads keys evenly. */
export function ringBalanceVerdict(m: WorldMembership, healTimeoutMs: number): Verdict {
  // The pure lab's bounds (std/mean 5%, max/mean 1.15) hold for small clusters too: `kv-lab ring
  // --nodes 3 --vnodes 256` measures 1.81% and 1.020, --nodes 5 1.90% and 1.030.
  const r = checkRingBalance(m, { healTimeoutMs });
  return r.pass ? { verdict: 'pass', summary: r.summary } : { verdict: 'fail', summary: `${r.summary}:\n  ${r.details.slice(0, 10).join('\n  ')}` };
}

export { EventWatch };
