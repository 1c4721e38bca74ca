import type { Net } from '../../src/env/net.js';
import { SeededRng, type Rng } from '../../src/env/rng.js';
import { GossipRuntime } from '../../src/cluster/gossip/runtime.js';
import type { GossipNode } from '../../src/cluster/gossip/node.js';
import { DEFAULT_GOSSIP_OPTIONS, type GossipOptions } from '../../src/cluster/gossip/options.js';
import { EMPTY_META, type MemberEvent, type MemberMeta, type MemberSnapshot } from '../../src/cluster/gossip/types.js';
import { assert } from '../../src/util/assert.js';
import { SimMachineClock } from '../clock.js';
import { DEFAULT_NET_OPTIONS, SimNet, type NetOptions } from '../net.js';
import { NS_PER_MS, Owner, Scheduler } from '../scheduler.js';
import { Trace } from '../trace.js';
import type { GossipWorld } from './checks.js';

/**
 * N gossiping nodes on the simulator's Scheduler and SimNet: each node is the real GossipRuntime
 * over a simulated clock and a Net endpoint, so what runs here is what runs for real. Seeded and
 * deterministic: the same seed and the same calls give the same trace digest.
 *
 * Faults: crash and restart, pause (SIGSTOP-like: timers and messages wait, then run in order),
 * receive stall (inbound frames wait while timers keep firing: the slow member of the Lifeguard
 * paper, whose acks arrive but are not read in time), message loss, one-way link cuts, graceful
 * leave. The ground truth the checks compare with (who is live) is kept here.
 */

export type NodeStatus = 'up' | 'crashed' | 'left';

export interface SimGossipNode {
  readonly id: string;
  status: NodeStatus;
  owner: Owner;
  readonly machine: SimMachineClock;
  net: Net | null;
  runtime: GossipRuntime | null;
  /** Inbound frames are held until this virtual time (receive stall). */
  stalledUntilNs: number;
  held: { from: string; frame: Uint8Array }[];
  paused: boolean;
  bytesSent: number;
  framesSent: number;
  restarts: number;
}

/** One membership event, as seen by `observer`. */
export interface ObservedEvent {
  readonly atNs: number;
  readonly observer: string;
  readonly event: MemberEvent;
  /** Was the subject up (not crashed, not left) when the observer saw this? */
  readonly subjectUp: boolean;
}

export type EventListener = (e: ObservedEvent) => void;

export interface GossipClusterOptions {
  readonly seed: string;
  readonly gossip?: GossipOptions;
  readonly net?: NetOptions;
  /** Keep trace lines (for a trace file); the digest is computed either way. */
  readonly keepTrace?: boolean;
  /** Record membership events in the trace (off for the largest runs: N² lines at start). */
  readonly traceEvents?: boolean;
}

/** Held inbound frames per stalled node, at most; beyond it they are dropped (a full socket buffer). */
const HELD_FRAMES_MAX = 100_000;
const SIM_WALL_EPOCH_MS = Date.UTC(2026, 0, 1);

export class GossipCluster implements GossipWorld {
  readonly sched = new Scheduler();
  readonly net: SimNet;
  readonly rng: Rng;
  readonly trace: Trace;
  readonly gossip: GossipOptions;
  private readonly nodes = new Map<string, SimGossipNode>();
  private readonly listeners: EventListener[] = [];
  private readonly traceEvents: boolean;

  constructor(options: GossipClusterOptions) {
    this.rng = new SeededRng(`gossip/${options.seed}`);
    this.net = new SimNet(this.sched, this.rng.fork('net'), options.net ?? DEFAULT_NET_OPTIONS);
    this.trace = new Trace(options.keepTrace ?? false);
    this.gossip = options.gossip ?? DEFAULT_GOSSIP_OPTIONS;
    this.traceEvents = options.traceEvents ?? true;
    this.sched.trace = (t, label) => this.trace.event(t, label);
  }

  get nowNs(): number {
    return this.sched.nowNs;
  }

  get nowMs(): number {
    return this.sched.nowNs / NS_PER_MS;
  }

  onEvent(listener: EventListener): void {
    this.listeners.push(listener);
  }

  node(id: string): SimGossipNode {
    const n = this.nodes.get(id);
    assert(n !== undefined, () => `no node ${id}`);
    return n;
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  /** Nodes up (not crashed, not left): the ground truth of who is a member. */
  upIds(): string[] {
    return this.ids().filter((id) => this.node(id).status === 'up');
  }

  isUp(id: string): boolean {
    return this.nodes.get(id)?.status === 'up';
  }

  /**
   * Starts `ids` as one converged cluster (every node knows every other alive), as a cluster
   * whose members have met long ago would be. For measuring a steady state without a join storm.
   */
  startConverged(ids: readonly string[], meta: (id: string) => MemberMeta = () => EMPTY_META): void {
    const snapshot: MemberSnapshot[] = ids.map((id) => ({ id, incarnation: 0, state: 'alive', meta: meta(id) }));
    for (const id of ids) this.boot(id, meta(id), snapshot);
  }

  /** Starts a new node that joins through `seeds`. */
  add(id: string, seeds: readonly string[], meta: MemberMeta = EMPTY_META): void {
    assert(!this.nodes.has(id), () => `node ${id} exists`);
    this.boot(id, meta, undefined);
    this.node(id).runtime!.join(seeds);
  }

  private boot(id: string, meta: MemberMeta, members: readonly MemberSnapshot[] | undefined): void {
    let n = this.nodes.get(id);
    if (n === undefined) {
      n = {
        id, status: 'up', owner: new Owner(`${id}#0`), machine: new SimMachineClock(this.sched, id, SIM_WALL_EPOCH_MS), net: null, runtime: null,
        stalledUntilNs: 0, held: [], paused: false, bytesSent: 0, framesSent: 0, restarts: 0,
      };
      this.nodes.set(id, n);
    }
    const node = n;
    const net = this.net.attach(id, node.owner);
    node.net = net;
    node.status = 'up';
    net.onReceive((from, frame) => this.inbound(node, from, frame));
    node.runtime = new GossipRuntime({
      id, meta, clock: node.machine.view(node.owner), rng: this.rng.fork(`node/${id}/${node.restarts}`), options: this.gossip,
      send: (to, frame) => {
        node.bytesSent += frame.length;
        node.framesSent++;
        net.send(to, frame);
      },
      onEvent: (e) => this.observe(id, e),
      ...(members ? { members } : {}),
    });
  }

  private inbound(node: SimGossipNode, from: string, frame: Uint8Array): void {
    if (this.sched.nowNs < node.stalledUntilNs) {
      if (node.held.length < HELD_FRAMES_MAX) node.held.push({ from, frame });
      return;
    }
    node.runtime?.receive(from, frame);
  }

  private observe(observer: string, event: MemberEvent): void {
    const e: ObservedEvent = { atNs: this.sched.nowNs, observer, event, subjectUp: this.isUp(event.id) };
    if (this.traceEvents) this.trace.record(e.atNs, 'member', { at: observer, type: event.type, id: event.id, inc: event.incarnation, by: event.by });
    for (const l of this.listeners) l(e);
  }

  // ---------------------------------------------------------------- faults

  crash(id: string): void {
    const n = this.node(id);
    if (n.status !== 'up') return;
    this.faultLine('crash', { id });
    n.owner.alive = false;
    n.runtime?.stop();
    n.runtime = null;
    n.net?.close();
    n.net = null;
    n.status = 'crashed';
    n.held = [];
    n.stalledUntilNs = 0;
  }

  /** Restarts a crashed (or left) node from nothing (incarnation 0), joining through `seeds`. */
  restart(id: string, seeds: readonly string[], meta: MemberMeta = EMPTY_META): void {
    const n = this.node(id);
    assert(n.status !== 'up', () => `restart of ${id}, which is up`);
    this.faultLine('restart', { id });
    n.restarts++;
    n.owner = new Owner(`${id}#${n.restarts}`);
    this.boot(id, meta, undefined);
    n.runtime!.join(seeds.filter((s) => s !== id));
  }

  /** SIGSTOP for `ms`: the node's timers and deliveries wait, then run in their original order. */
  pause(id: string, ms: number): void {
    const n = this.node(id);
    if (n.status !== 'up' || n.paused) return;
    this.faultLine('pause', { id, ms });
    n.paused = true;
    n.owner.paused = true;
    const owner = n.owner;
    this.sched.after(ms * NS_PER_MS, `resume ${id}`, () => {
      n.paused = false;
      if (owner.alive) this.sched.resume(owner);
    });
  }

  /**
   * The node stops reading its inbound frames for `ms` while its timers keep firing; at the end it
   * reads the backlog in order. Its probes time out although the acks have arrived: the slow
   * member of the Lifeguard paper.
   */
  stall(id: string, ms: number): void {
    const n = this.node(id);
    if (n.status !== 'up') return;
    this.faultLine('stall', { id, ms });
    n.stalledUntilNs = Math.max(n.stalledUntilNs, this.sched.nowNs + ms * NS_PER_MS);
    this.sched.at(n.stalledUntilNs, `unstall ${id}`, () => this.drain(n), n.owner);
  }

  private drain(n: SimGossipNode): void {
    if (this.sched.nowNs < n.stalledUntilNs) return; // A longer stall was added meanwhile.
    const held = n.held;
    n.held = [];
    for (const { from, frame } of held) n.runtime?.receive(from, frame);
  }

  leave(id: string): void {
    const n = this.node(id);
    if (n.status !== 'up') return;
    this.faultLine('leave', { id });
    n.runtime!.leave();
    // The node is gone for the ground truth at once: its peers will mark it left, not dead.
    n.status = 'left';
    const check = () => {
      if (n.runtime !== null && n.runtime.node.status === 'left') {
        n.runtime.stop();
        n.owner.alive = false;
        n.net?.close();
        n.net = null;
        n.runtime = null;
      } else this.sched.after(100 * NS_PER_MS, `leaving ${id}`, check);
    };
    check();
  }

  setLoss(p: number): void {
    assert(p >= 0 && p < 1, () => `loss ${p}`);
    this.faultLine('loss', { p });
    this.net.lossProbability = p;
  }

  /** Cuts every link from each of `from` to each of `to` (one way). */
  cut(from: readonly string[], to: readonly string[]): void {
    this.faultLine('cut', { from: from.join(','), to: to.join(',') });
    for (const a of from) for (const b of to) if (a !== b) this.net.block(a, b);
  }

  /** Isolates `id` both ways from every other node. */
  isolate(id: string): void {
    const others = this.ids().filter((x) => x !== id);
    this.cut([id], others);
    this.cut(others, [id]);
  }

  heal(): void {
    this.faultLine('heal', {});
    this.net.heal();
  }

  runForMs(ms: number): void {
    this.sched.runUntil(this.sched.nowNs + ms * NS_PER_MS);
  }

  /** Calls fn at virtual time `atMs` from now. */
  atMs(ms: number, label: string, fn: () => void): void {
    this.sched.after(ms * NS_PER_MS, label, fn);
  }

  /** The gossip core of a running node (GossipWorld, for the checks). */
  gossipNode(id: string): GossipNode {
    const rt = this.node(id).runtime;
    assert(rt !== null, () => `${id} is not running`);
    return rt.node;
  }

  /** Each up node's view: the members it holds alive (itself included). */
  aliveView(id: string): string[] {
    const rt = this.node(id).runtime;
    assert(rt !== null, () => `${id} is not running`);
    return rt.node.snapshot().filter((s) => s.state === 'alive').map((s) => s.id);
  }

  bytesSentTotal(): number {
    let b = 0;
    for (const n of this.nodes.values()) b += n.bytesSent;
    return b;
  }

  digest(): string {
    return this.trace.digest();
  }

  private faultLine(kind: string, detail: Record<string, unknown>): void {
    this.trace.record(this.sched.nowNs, `fault.${kind}`, detail);
  }
}
