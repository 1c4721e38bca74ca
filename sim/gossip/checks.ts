import { Ring } from '../../src/cluster/ring/ring.js';
import { KeySet, loadStats, primaryOwners } from '../../src/cluster/ring/placement.js';
import type { MemberMeta } from '../../src/cluster/gossip/types.js';
import type { GossipNode } from '../../src/cluster/gossip/node.js';
import type { ObservedEvent } from './cluster.js';

/**
 * What the checks need of a world of gossiping nodes: GossipCluster provides it, and so can the
 * main simulator's World once its nodes gossip (the ground truth of who runs, each node's core,
 * and a way to let time pass).
 */
export interface GossipWorld {
  readonly nowMs: number;
  ids(): string[];
  upIds(): string[];
  isUp(id: string): boolean;
  /** The gossip core of a running node. */
  gossipNode(id: string): GossipNode;
  runForMs(ms: number): void;
  onEvent(listener: (e: ObservedEvent) => void): void;
}

/**
 * The two checks of a gossip run.
 *
 * - membership: once the faults heal, every running node must see exactly the running nodes alive
 *   (itself included) within the heal timeout; and at no point may any node declare dead a node
 *   that was running (a false positive): each one is counted and listed.
 * - ring-balance: the ring each running node builds from its own view (members alive, with their
 *   gossiped weights and zones) must be the same ring everywhere, and spread keys within bounds.
 */

export interface CheckResult {
  readonly name: 'membership' | 'ring-balance';
  readonly pass: boolean;
  readonly summary: string;
  /** What failed, one line each (at most 20). */
  readonly details: readonly string[];
}

export interface FalseDeath {
  readonly atMs: number;
  readonly observer: string;
  readonly subject: string;
  readonly incarnation: number;
  /** Who accused: the observer itself (its own timeout) or the node whose news it took. */
  readonly by: string | null;
}

/**
 * Watches a run's membership events from the start: false deaths (a dead event about a running
 * node), and suspicion episodes (a member suspected at an incarnation, counted once however many
 * nodes hear of it), split by whether the subject was running and not impaired by a fault.
 */
export class EventWatch {
  readonly falseDeaths: FalseDeath[] = [];
  /** Distinct (subject, incarnation) deaths of running nodes: one false death per episode. */
  readonly falseDeathEpisodes = new Set<string>();
  readonly suspicionEpisodes = new Map<string, { atMs: number; subject: string; healthy: boolean }>();
  /** Nodes under a fault that makes them slow or mute (a stall, a pause): suspecting them is not false. */
  readonly impaired = new Set<string>();

  constructor(cluster: Pick<GossipWorld, 'onEvent'>) {
    cluster.onEvent((e) => this.see(e));
  }

  private see(e: ObservedEvent): void {
    const ev = e.event;
    const atMs = e.atNs / 1e6;
    if (ev.type === 'dead' && e.subjectUp) {
      this.falseDeaths.push({ atMs, observer: e.observer, subject: ev.id, incarnation: ev.incarnation, by: ev.by });
      this.falseDeathEpisodes.add(`${ev.id}@${ev.incarnation}`);
    }
    if (ev.type === 'suspect') {
      const key = `${ev.id}@${ev.incarnation}`;
      if (!this.suspicionEpisodes.has(key)) this.suspicionEpisodes.set(key, { atMs, subject: ev.id, healthy: e.subjectUp && !this.impaired.has(ev.id) });
    }
  }

  /** Suspicion episodes of running, unimpaired members: false suspicions. */
  falseSuspicions(): number {
    let n = 0;
    for (const s of this.suspicionEpisodes.values()) if (s.healthy) n++;
    return n;
  }
}

export interface MembershipOptions {
  /** From now, how long the views may take to converge. */
  readonly healTimeoutMs: number;
  /** False deaths tolerated (0 unless a scenario's faults outlast the suspicion timeout). */
  readonly falseDeathsAllowed?: number;
}

/** Runs the cluster until every running node's view is exact, or the heal timeout passes. */
export function checkMembership(cluster: GossipWorld, watch: EventWatch, o: MembershipOptions): CheckResult & { readonly convergedAfterMs: number | null } {
  const start = cluster.nowMs;
  let convergedAfterMs: number | null = null;
  let wrong: string[] = [];
  const stepMs = cluster.upIds().length > 100 ? 1000 : 100;
  for (;;) {
    wrong = viewErrors(cluster, false);
    if (wrong.length === 0) {
      convergedAfterMs = cluster.nowMs - start;
      break;
    }
    if (cluster.nowMs - start >= o.healTimeoutMs) {
      wrong = viewErrors(cluster, true);
      break;
    }
    cluster.runForMs(stepMs);
  }
  const allowed = o.falseDeathsAllowed ?? 0;
  const fd = watch.falseDeaths;
  const details = [
    ...wrong.slice(0, 10),
    ...fd.slice(0, 10).map((d) => `false death: at ${d.atMs.toFixed(0)} ms ${d.observer} declared ${d.subject}@${d.incarnation} dead (by ${d.by ?? '?'}) while it was running`),
  ];
  const converged = convergedAfterMs !== null;
  const pass = converged && fd.length <= allowed;
  const summary = `${converged ? `views exact ${convergedAfterMs} ms after healing` : `views not exact within ${o.healTimeoutMs} ms`}; ${fd.length} false death(s) in ${watch.falseDeathEpisodes.size} episode(s)${allowed > 0 ? ` (${allowed} allowed)` : ''}`;
  return { name: 'membership', pass, summary, details, convergedAfterMs };
}

/**
 * What is wrong with the running nodes' views (empty: every one is exact). Looks members up one
 * by one instead of listing whole views, and stops at the first wrong node while the views are
 * still converging: a thousand-node cluster is checked every simulated second.
 */
function viewErrors(cluster: GossipWorld, all: boolean): string[] {
  const ids = cluster.ids();
  const up = ids.filter((id) => cluster.isUp(id));
  const out: string[] = [];
  for (const observer of up) {
    const node = cluster.gossipNode(observer);
    const missing: string[] = [];
    const extra: string[] = [];
    for (const id of ids) {
      if (id === observer) continue;
      const alive = node.member(id)?.state === 'alive';
      if (cluster.isUp(id) && !alive) missing.push(id);
      else if (!cluster.isUp(id) && alive) extra.push(id);
    }
    if (missing.length > 0 || extra.length > 0) {
      out.push(`${observer} sees${missing.length > 0 ? ` not alive: ${missing.slice(0, 5).join(',')}${missing.length > 5 ? '…' : ''}` : ''}${extra.length > 0 ? ` alive but down: ${extra.slice(0, 5).join(',')}` : ''}`);
      if (!all) return out;
    }
  }
  return out;
}

export interface RingBalanceOptions {
  /** From now, how long the nodes' rings may take to agree (metadata travels by gossip). */
  readonly healTimeoutMs?: number;
  readonly vnodes?: number;
  readonly keys?: number;
  readonly stdOverMeanMax?: number;
  readonly maxOverMeanMax?: number;
}

function ringOf(cluster: GossipWorld, observer: string, vnodes: number): Ring {
  const snap = cluster.gossipNode(observer).snapshot();
  const members = snap.filter((s) => s.state === 'alive').map((s) => ({ id: s.id, weight: s.meta.weight / 100, zone: s.meta.zone }));
  return Ring.build(members, { vnodes });
}

function ringsByNode(cluster: GossipWorld, up: readonly string[], vnodes: number): Map<string, string[]> {
  const byRing = new Map<string, string[]>();
  for (const id of up) {
    const d = ringOf(cluster, id, vnodes).describe();
    byRing.set(d, [...(byRing.get(d) ?? []), id]);
  }
  return byRing;
}

/** Every running node builds the same ring from its view, and that ring spreads keys evenly. */
export function checkRingBalance(cluster: GossipWorld, o: RingBalanceOptions = {}): CheckResult {
  const vnodes = o.vnodes ?? 256;
  const up = cluster.upIds().sort();
  const details: string[] = [];
  if (up.length === 0) return { name: 'ring-balance', pass: false, summary: 'no running node', details };
  const start = cluster.nowMs;
  let byRing = ringsByNode(cluster, up, vnodes);
  while (byRing.size > 1 && cluster.nowMs - start < (o.healTimeoutMs ?? 0)) {
    cluster.runForMs(100);
    byRing = ringsByNode(cluster, up, vnodes);
  }
  const reference = ringOf(cluster, up[0]!, vnodes);
  if (byRing.size > 1) for (const [d, ids] of byRing) details.push(`${ids.length} node(s) (${ids.slice(0, 4).join(',')}${ids.length > 4 ? '…' : ''}) build ring ${d.length > 120 ? `${d.slice(0, 120)}…` : d}`);
  const stats = loadStats(reference, primaryOwners(reference, KeySet.numbered(o.keys ?? 100_000, reference.options.probes)));
  const stdMax = o.stdOverMeanMax ?? 0.05;
  const maxMax = o.maxOverMeanMax ?? 1.15;
  if (stats.stdOverMean > stdMax) details.push(`std/mean ${(stats.stdOverMean * 100).toFixed(2)}% above ${(stdMax * 100).toFixed(1)}%`);
  if (stats.maxOverMean > maxMax) details.push(`max/mean ${stats.maxOverMean.toFixed(3)} above ${maxMax}`);
  const agree = byRing.size === 1;
  const summary = `${agree ? `all ${up.length} nodes build the same ring` : `${byRing.size} different rings among ${up.length} nodes`}; keys per node std/mean ${(stats.stdOverMean * 100).toFixed(2)}%, max/mean ${stats.maxOverMean.toFixed(3)}`;
  return { name: 'ring-balance', pass: details.length === 0, summary, details: details.slice(0, 20) };
}

/** Weight in hundredths, zone: a member's ring-relevant metadata. */
export function ringMeta(zone: string, weight = 100): MemberMeta {
  return { zone, version: 'kv-lab', weight, addresses: [] };
}
