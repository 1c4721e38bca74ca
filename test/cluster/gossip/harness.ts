/**
 * A hand-driven cluster of GossipNode cores for unit tests: one shared clock, messages held in
 * flight until a test delivers, drops or loses them, and every Ready carried out as ready.ts says.
 * No scheduler, no latency: a test decides exactly what happens and in what order.
 */
import { SeededRng } from '../../../src/env/rng.js';
import { describeMessage } from '../../../src/cluster/gossip/describe.js';
import { GossipNode } from '../../../src/cluster/gossip/node.js';
import { gossipOptions, type GossipOptionsInput } from '../../../src/cluster/gossip/options.js';
import { EMPTY_META, type GossipMessage, type MemberEvent, type MemberSnapshot } from '../../../src/cluster/gossip/types.js';

export interface Flight {
  readonly from: string;
  readonly to: string;
  readonly frame: Uint8Array;
  readonly message: GossipMessage;
}

export interface ClusterInit {
  readonly ids: readonly string[];
  /** Start knowing each other (default) or alone (then join). */
  readonly converged?: boolean;
  readonly options?: GossipOptionsInput;
  readonly seed?: string;
}

export class Harness {
  nowMs = 0;
  readonly nodes = new Map<string, GossipNode>();
  readonly wake = new Map<string, number | null>();
  inflight: Flight[] = [];
  readonly events: { observer: string; event: MemberEvent }[] = [];
  readonly down = new Set<string>();
  private readonly cut = new Set<string>();
  /** Messages lost at random, from a stream of the harness's seed. */
  lossRate = 0;
  private readonly lossRng: SeededRng;
  private readonly seed: string;
  private readonly options: GossipOptionsInput;
  private restarts = 0;

  constructor(init: ClusterInit) {
    this.seed = init.seed ?? 'harness';
    this.lossRng = new SeededRng(`${this.seed}/loss`);
    this.options = init.options ?? {};
    const snapshot: MemberSnapshot[] = init.ids.map((id) => ({ id, incarnation: 0, state: 'alive', meta: EMPTY_META }));
    for (const id of init.ids) this.boot(id, init.converged === false ? undefined : snapshot);
  }

  boot(id: string, members?: readonly MemberSnapshot[]): GossipNode {
    const node = new GossipNode({
      id, meta: EMPTY_META, rng: new SeededRng(`${this.seed}/${id}/${this.restarts++}`), nowMs: this.nowMs, options: gossipOptions(this.options), ...(members ? { members } : {}),
    });
    this.nodes.set(id, node);
    this.down.delete(id);
    this.collect(id);
    return node;
  }

  node(id: string): GossipNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Carries out `id`'s Ready: messages into flight, events recorded, wake time noted. */
  collect(id: string): Flight[] {
    const rd = this.node(id).ready();
    const sent = rd.messages.map((m) => ({ from: id, to: m.to, frame: m.frame, message: m.message }));
    this.inflight.push(...sent);
    for (const event of rd.events) this.events.push({ observer: id, event });
    this.wake.set(id, rd.wakeAtMs);
    return sent;
  }

  /** Moves time to `nowMs + ms`, ticking each live node at each of its wake times on the way. */
  advance(ms: number): Flight[] {
    const end = this.nowMs + ms;
    const sent: Flight[] = [];
    for (;;) {
      let next: { id: string; at: number } | null = null;
      for (const [id, at] of this.wake) if (!this.down.has(id) && at !== null && at <= end && (next === null || at < next.at)) next = { id, at };
      if (next === null) break;
      this.nowMs = Math.max(this.nowMs, next.at);
      this.node(next.id).tick(this.nowMs);
      sent.push(...this.collect(next.id));
    }
    this.nowMs = end;
    return sent;
  }

  /** Delivers the oldest message in flight (lost if its link is cut or its receiver is down). */
  deliverOne(): { flight: Flight; lost: boolean; replies: Flight[] } | null {
    const f = this.inflight.shift();
    if (f === undefined) return null;
    const lost = this.down.has(f.to) || this.cut.has(`${f.from}>${f.to}`) || !this.nodes.has(f.to) || (this.lossRate > 0 && this.lossRng.chance(this.lossRate));
    if (lost) return { flight: f, lost: true, replies: [] };
    this.node(f.to).receive(f.from, f.frame, this.nowMs);
    return { flight: f, lost: false, replies: this.collect(f.to) };
  }

  /** Delivers until nothing is in flight (at the current time). */
  stabilize(limit = 10_000): number {
    let n = 0;
    while (this.inflight.length > 0) {
      if (++n > limit) throw new Error('stabilize: still busy after many deliveries');
      this.deliverOne();
    }
    return n;
  }

  /**
   * A network with no latency: moves time to `nowMs + ms` one wake time at a time, delivering
   * everything each tick sends (and what that causes) at once. `onDeliver` sees each message.
   */
  run(ms: number, onDeliver: (r: { flight: Flight; lost: boolean; atMs: number }) => void = () => {}): void {
    const end = this.nowMs + ms;
    const drain = () => {
      for (let n = 0; this.inflight.length > 0; n++) {
        if (n > 100_000) throw new Error('run: deliveries do not settle');
        const r = this.deliverOne()!;
        onDeliver({ flight: r.flight, lost: r.lost, atMs: this.nowMs });
      }
    };
    drain();
    for (;;) {
      let next: { id: string; at: number } | null = null;
      for (const [id, at] of this.wake) if (!this.down.has(id) && at !== null && at <= end && (next === null || at < next.at)) next = { id, at };
      if (next === null) break;
      this.nowMs = Math.max(this.nowMs, next.at);
      this.node(next.id).tick(this.nowMs);
      this.collect(next.id);
      drain();
    }
    this.nowMs = end;
  }

  crash(id: string): void {
    this.down.add(id);
  }

  restart(id: string, seeds: readonly string[]): GossipNode {
    const node = this.boot(id);
    node.join(seeds, this.nowMs);
    this.collect(id);
    return node;
  }

  cutLink(from: string, to: string): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** How `observer` sees each member: "id:state@incarnation". */
  view(observer: string): string {
    return this.node(observer).snapshot().map((s) => `${s.id}:${s.state}@${s.incarnation}`).join(' ');
  }

  describe(f: Flight): string {
    return `${f.from}->${f.to} ${describeMessage(f.message)}`;
  }
}
