import type { Clock, Timer } from '../env/clock.js';
import { assert } from '../util/assert.js';

/**
 * Coalesced ticks for the Raft groups of one node. Every group's runtime arms a timer of one tick
 * (tickMs) after each tick; with G groups that is G timers, and G timer events, per tick. Through
 * the Clock this gives them, timers of exactly one period are gathered into buckets at multiples
 * of the period on the node's monotonic clock — one underlying timer per bucket — and fired in the
 * order they were armed. A group's first tick comes at the next boundary at least a period away
 * (never earlier than asked: the Clock contract's "at least delayMs"); from then on every group
 * re-arms at a boundary for the next one, so all of a node's groups tick in one event. Other
 * timers (snapshot yields, transfers) pass through untouched.
 *
 * Idea: CockroachDB's and TiKV's single ticker driving every replica of a store; here done at the
 * Clock seam so that the Raft runtime stays the single-group code.
 */

/** Buckets one node may hold at once: each is a boundary still to come, normally one or two. */
const BUCKETS_MAX = 1024;

interface Bucket {
  dueNs: number;
  entries: { fn: () => void; cancelled: boolean }[];
}

export class TickCoalescer {
  private readonly periodNs: number;
  /** By due time; the Map keeps insertion order, and buckets are created in increasing due order. */
  private readonly buckets = new Map<number, Bucket>();
  /** Underlying timers armed (for tests and status: how many timer events the ticks cost). */
  timersArmed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly periodMs: number,
  ) {
    assert(Number.isFinite(periodMs) && periodMs > 0, () => `a tick period must be positive, got ${periodMs}`);
    this.periodNs = Math.round(periodMs * 1e6);
  }

  /** The Clock a group runs on: the node's, with one-period timers coalesced. */
  clockFor(): Clock {
    const clock = this.clock;
    return {
      monotonicNs: () => clock.monotonicNs(),
      monotonicMs: () => clock.monotonicMs(),
      wallMs: () => clock.wallMs(),
      defer: (fn) => clock.defer(fn),
      timer: (delayMs, fn) => (delayMs === this.periodMs ? this.arm(fn) : clock.timer(delayMs, fn)),
    };
  }

  private arm(fn: () => void): Timer {
    const now = this.clock.monotonicNs();
    // The first boundary at least a period away.
    const dueNs = Math.ceil((now + this.periodNs) / this.periodNs) * this.periodNs;
    assert(dueNs >= now + this.periodNs, 'a coalesced tick is never early');
    let bucket = this.buckets.get(dueNs);
    if (bucket === undefined) {
      assert(this.buckets.size < BUCKETS_MAX, () => `more than ${BUCKETS_MAX} tick buckets pending`);
      const b: Bucket = { dueNs, entries: [] };
      bucket = b;
      this.buckets.set(dueNs, b);
      this.timersArmed++;
      // Never early: the underlying timer's own "at least" covers rounding of ns to ms.
      this.clock.timer(Math.max(0, (dueNs - now) / 1e6), () => this.fire(b));
    }
    const entry = { fn, cancelled: false };
    bucket.entries.push(entry);
    return { cancel: () => void (entry.cancelled = true) };
  }

  private fire(b: Bucket): void {
    this.buckets.delete(b.dueNs);
    // Entries armed while firing go to a later bucket (a period away), never this one.
    for (const e of b.entries) {
      if (e.cancelled) continue;
      e.cancelled = true;
      e.fn();
    }
  }
}
