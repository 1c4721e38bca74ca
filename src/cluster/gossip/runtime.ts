import type { Clock, Timer } from '../../env/clock.js';
import type { Address } from '../../env/net.js';
import type { Rng } from '../../env/rng.js';
import { assert } from '../../util/assert.js';
import { GossipNode } from './node.js';
import type { GossipOptions } from './options.js';
import type { MemberEvent, MemberId, MemberMeta, MemberSnapshot } from './types.js';

export interface GossipRuntimeInit {
  readonly id: MemberId;
  readonly meta: MemberMeta;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly options?: GossipOptions;
  /**
   * How a frame leaves. Usually the node's Net.send: gossip shares the node's Net with its other
   * protocols, and the node's receive handler passes frames whose first byte is GOSSIP_MAGIC to
   * receive() below.
   */
  readonly send: (to: Address, frame: Uint8Array) => void;
  /** Membership changes, in order (the ring, an operator's view). */
  readonly onEvent?: (e: MemberEvent) => void;
  readonly members?: readonly MemberSnapshot[];
}

/**
 * The thin runtime around GossipNode: it feeds the core its inputs with the Clock's monotonic
 * time and carries out each Ready (ready.ts) — sends, events, one timer. The same runtime drives
 * the core in the simulator (sim/gossip) and, through the node's Env, for real.
 */
export class GossipRuntime {
  readonly node: GossipNode;
  private timer: Timer | null = null;
  private timerAtMs: number | null = null;
  private stopped = false;
  private driving = false;
  private again = false;

  constructor(private readonly init: GossipRuntimeInit) {
    this.node = new GossipNode({ id: init.id, meta: init.meta, rng: init.rng, nowMs: init.clock.monotonicMs(), ...(init.options ? { options: init.options } : {}), ...(init.members ? { members: init.members } : {}) });
    this.drive();
  }

  join(seeds: readonly Address[]): void {
    if (this.stopped) return;
    this.node.join(seeds, this.now());
    this.drive();
  }

  leave(): void {
    if (this.stopped) return;
    this.node.leave(this.now());
    this.drive();
  }

  updateMeta(meta: MemberMeta): void {
    if (this.stopped) return;
    this.node.updateMeta(meta, this.now());
    this.drive();
  }

  /** A gossip frame from the Net. */
  receive(from: Address, frame: Uint8Array): void {
    if (this.stopped) return;
    this.node.receive(from, frame, this.now());
    this.drive();
  }

  /** Stops for good: no more timers, inputs ignored (a crash, or after leave() completed). */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.timerAtMs = null;
  }

  private now(): number {
    return this.init.clock.monotonicMs();
  }

  /** Carries out Readys until none is left; a send that re-enters (a loopback Net) is folded in. */
  private drive(): void {
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = true;
    try {
      do {
        this.again = false;
        const rd = this.node.ready();
        for (const m of rd.messages) this.init.send(m.to, m.frame);
        if (this.init.onEvent) for (const e of rd.events) this.init.onEvent(e);
        this.arm(rd.wakeAtMs);
      } while (this.again && !this.stopped);
    } finally {
      this.driving = false;
    }
  }

  /**
   * One timer at a time. A timer already armed for an earlier moment is kept: when it fires, tick()
   * finds nothing due and the next Ready re-arms it. Re-arming on every Ready instead would leave
   * a cancelled timer behind per message (the simulator keeps those in its queue until due).
   */
  private arm(atMs: number | null): void {
    if (this.stopped) return;
    if (atMs === null) {
      this.timer?.cancel();
      this.timer = null;
      this.timerAtMs = null;
      return;
    }
    if (this.timerAtMs !== null && this.timerAtMs <= atMs) return;
    this.timer?.cancel();
    this.timerAtMs = atMs;
    this.timer = this.init.clock.timer(Math.max(0, atMs - this.now()), this.fire);
    assert(this.timer !== null, 'no timer armed');
  }

  /** Bound once: a timer per wake, not a closure per wake. */
  private readonly fire = (): void => {
    this.timer = null;
    this.timerAtMs = null;
    if (this.stopped) return;
    this.node.tick(this.now());
    this.drive();
  };
}
