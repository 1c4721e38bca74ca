import type { Address, Net, ReceiveHandler } from '../src/env/net.js';
import { FRAME_BYTES_MAX } from '../src/env/net.js';
import type { Rng } from '../src/env/rng.js';
import { assert } from '../src/util/assert.js';
import { exponential } from '../src/util/detmath.js';
import { NS_PER_MS, type Owner, type Scheduler } from './scheduler.js';

/**
 * The simulated network: every frame becomes a delivery event after a latency drawn from the
 * configured distribution. Faults act on frames as they are sent:
 * - partitions block directed links (a symmetric partition blocks both directions);
 * - loss drops a frame, duplication delivers it twice;
 * - reordering lets a frame overtake earlier ones on the same link. Without it, links are FIFO,
 *   as a TCP connection is;
 * - a delayed machine's frames (sent, received or both) are each held back by a random extra
 *   time, long enough that frames sent later overtake them: a vote or an append arrives after
 *   newer ones, as behind a congested switch or a retransmitting TCP connection.
 * A frame to an endpoint that is down, or that crashes before delivery, is lost; a paused endpoint
 * receives it when it resumes.
 */

export interface LatencyOptions {
  /** Latency is min + an exponential with mean (meanMs - minMs), capped at maxMs. */
  minMs: number;
  meanMs: number;
  maxMs: number;
}

export interface NetOptions {
  latency: LatencyOptions;
}

export const DEFAULT_NET_OPTIONS: NetOptions = { latency: { minMs: 0.1, meanMs: 0.5, maxMs: 20 } };

export interface NetStats {
  sent: number;
  delivered: number;
  lost: number;
  blocked: number;
  duplicated: number;
  /** Frames addressed to an endpoint that was down (or crashed before delivery). */
  undeliverable: number;
  bytes: number;
}

interface Endpoint {
  address: Address;
  /** The machine it runs on: partitions cut machines, so every endpoint of a machine at once. */
  host: Address;
  owner: Owner;
  handler: ReceiveHandler | null;
}

export class SimNet {
  private readonly endpoints = new Map<Address, Endpoint>();
  /** Directed links that are cut ("from>to"), with how many active faults cut each. */
  private readonly blocked = new Map<string, number>();
  /** Per directed link, the latest delivery time scheduled, to keep links FIFO. */
  private readonly lastDeliveryNs = new Map<string, number>();
  /** Machines whose frames are held back (nemesis `delay`), with the extra delay's range. */
  private readonly delays = new Map<Address, { minNs: number; maxNs: number; out: boolean; in: boolean }>();
  /**
   * Per directed link, its name ("from>to") and its delivery events' trace label, built once: two
   * template strings per frame, each then hashed as a Map key, showed in a run's profile.
   */
  private readonly links = new Map<Address, Map<Address, { link: string; label: string }>>();
  lossProbability = 0;
  duplicateProbability = 0;
  reorderProbability = 0;
  readonly stats: NetStats = { sent: 0, delivered: 0, lost: 0, blocked: 0, duplicated: 0, undeliverable: 0, bytes: 0 };
  latency: LatencyOptions;

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: Rng,
    options: NetOptions = DEFAULT_NET_OPTIONS,
  ) {
    this.latency = { ...options.latency };
    checkLatency(this.latency);
  }

  /**
   * Registers (or re-registers, after a restart) an endpoint; frames in flight to a previous
   * incarnation are lost. `host`: the machine it runs on, when it is not its own (a node's
   * gateway has an endpoint of its own on the node's machine).
   */
  attach(address: Address, owner: Owner, host: Address = address): Net {
    const ep: Endpoint = { address, host, owner, handler: null };
    this.endpoints.set(address, ep);
    return new SimNetEndpoint(this, ep);
  }

  detach(address: Address, owner: Owner): void {
    const ep = this.endpoints.get(address);
    if (ep !== undefined && ep.owner === owner) this.endpoints.delete(address);
  }

  // ---- faults ----

  block(from: Address, to: Address): void {
    const link = `${from}>${to}`;
    this.blocked.set(link, (this.blocked.get(link) ?? 0) + 1);
  }

  /** Undoes one block() of the link; the link opens when no fault cuts it any more. */
  unblock(from: Address, to: Address): void {
    const link = `${from}>${to}`;
    const n = this.blocked.get(link) ?? 0;
    if (n <= 1) this.blocked.delete(link);
    else this.blocked.set(link, n - 1);
  }


  isBlocked(from: Address, to: Address): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  blockedLinks(): string[] {
    return [...this.blocked.keys()].sort();
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Holds back frames `host` sends (out) and/or receives (in) by minNs..maxNs more; null ends it. */
  setDelay(host: Address, d: { minNs: number; maxNs: number; out: boolean; in: boolean } | null): void {
    if (d === null) this.delays.delete(host);
    else {
      assert(d.minNs >= 0 && d.minNs <= d.maxNs, () => `delay of ${host}: need 0 <= min <= max`);
      this.delays.set(host, d);
    }
  }

  private extraDelayNs(fromHost: Address, toHost: Address): number {
    const out = this.delays.get(fromHost);
    const into = this.delays.get(toHost);
    const d = out?.out === true ? out : into?.in === true ? into : undefined;
    if (d === undefined) return 0;
    return d.minNs + Math.round(this.rng.next() * (d.maxNs - d.minNs));
  }

  // ---- delivery ----

  send(from: Endpoint, to: Address, frame: Uint8Array): void {
    assert(frame.length <= FRAME_BYTES_MAX, () => `frame of ${frame.length} bytes from ${from.address} exceeds the limit`);
    this.stats.sent++;
    this.stats.bytes += frame.length;
    if (this.blocked.size > 0 && this.blocked.has(this.linkNames(from.host, this.endpoints.get(to)?.host ?? to).link)) {
      this.stats.blocked++;
      return;
    }
    if (this.lossProbability > 0 && this.rng.chance(this.lossProbability)) {
      this.stats.lost++;
      return;
    }
    this.schedule(from, to, frame);
    if (this.duplicateProbability > 0 && this.rng.chance(this.duplicateProbability)) {
      this.stats.duplicated++;
      this.schedule(from, to, frame);
    }
  }

  private schedule(fromEp: Endpoint, to: Address, frame: Uint8Array): void {
    const from = fromEp.address;
    const dest = this.endpoints.get(to);
    if (dest === undefined) {
      this.stats.undeliverable++;
      return;
    }
    const { link, label } = this.linkNames(from, to);
    let at = this.sched.nowNs + this.drawLatencyNs();
    const held = this.delays.size > 0 ? this.extraDelayNs(fromEp.host, dest.host) : 0;
    const reorder = held > 0 || (this.reorderProbability > 0 && this.rng.chance(this.reorderProbability));
    if (held > 0) {
      // Off the link's FIFO order: frames sent after it, delayed less or not at all, overtake it.
      at += held;
    } else if (reorder) {
      // Held back by up to the maximum latency, so that frames sent after it overtake it.
      at += Math.round(this.rng.next() * this.latency.maxMs * NS_PER_MS);
    } else {
      const last = this.lastDeliveryNs.get(link) ?? 0;
      if (at < last) at = last;
      this.lastDeliveryNs.set(link, at);
    }
    this.sched.at(at, label, () => this.deliver(dest, from, frame), dest.owner);
  }

  private linkNames(from: Address, to: Address): { link: string; label: string } {
    let byTo = this.links.get(from);
    if (byTo === undefined) {
      byTo = new Map();
      this.links.set(from, byTo);
    }
    let names = byTo.get(to);
    if (names === undefined) {
      const link = `${from}>${to}`;
      names = { link, label: `deliver ${link}` };
      byTo.set(to, names);
    }
    return names;
  }

  private deliver(dest: Endpoint, from: Address, frame: Uint8Array): void {
    if (this.endpoints.get(dest.address) !== dest || dest.handler === null) {
      this.stats.undeliverable++;
      return;
    }
    this.stats.delivered++;
    dest.handler(from, frame);
  }

  /** A latency from the current distribution (also the simulated streams' segments, from their own Rng). */
  drawLatencyNs(rng: Rng = this.rng): number {
    const { minMs, meanMs, maxMs } = this.latency;
    const extra = exponential(rng.next(), meanMs - minMs);
    return Math.round(Math.min(maxMs, minMs + extra) * NS_PER_MS);
  }
}

export function checkLatency(l: LatencyOptions): void {
  assert(l.minMs >= 0 && l.minMs <= l.meanMs && l.meanMs <= l.maxMs, () => `latency needs 0 <= min <= mean <= max, got ${JSON.stringify(l)}`);
}

class SimNetEndpoint implements Net {
  private closed = false;
  constructor(
    private readonly net: SimNet,
    private readonly ep: Endpoint,
  ) {}

  get self(): Address {
    return this.ep.address;
  }

  send(to: Address, frame: Uint8Array): void {
    if (this.closed || !this.ep.owner.alive) return;
    this.net.send(this.ep, to, frame);
  }

  onReceive(handler: ReceiveHandler): void {
    this.ep.handler = handler;
  }

  close(): void {
    this.closed = true;
    this.ep.handler = null;
    this.net.detach(this.ep.address, this.ep.owner);
  }
}
