import { assert } from '../src/util/assert.js';

/**
 * The discrete-event scheduler at the heart of the simulator. Every asynchronous thing in a
 * simulated run (a timer, a message delivery, a disk sync completing, a fault) is an event ordered
 * by (virtual time, sequence number); the scheduler runs them one at a time. Nothing else decides
 * what happens next, which is what makes a run repeatable bit for bit.
 *
 * Virtual time is an integer number of nanoseconds since the start of the run.
 */

/**
 * Who an event belongs to. Events of a crashed owner are dropped (a crash loses the process's
 * timers and in-flight work); events of a paused owner wait until it resumes, then run in their
 * original order, late — as a SIGSTOPped process sees its timers fire all at once on SIGCONT.
 */
export class Owner {
  alive = true;
  paused = false;
  /** Events held back while paused, in the order they became due. */
  readonly deferred: SimEvent[] = [];
  constructor(readonly name: string) {}
}

/**
 * A scheduled event; it is also the handle that cancels it (one object per event instead of two:
 * a run schedules ~10^6 of them).
 */
export class SimEvent implements EventHandle {
  constructor(
    public timeNs: number,
    public seq: number,
    /** A short label for the trace ("deliver n1>n2", "timer n3"). */
    readonly label: string,
    readonly fn: () => void,
    readonly owner: Owner | null,
  ) {}

  cancelled = false;

  cancel(): void {
    this.cancelled = true;
  }
}

export interface EventHandle {
  cancel(): void;
}

export type TraceSink = (timeNs: number, label: string) => void;

export class Scheduler {
  private heap: SimEvent[] = [];
  private seqNext = 0;
  private nowNs_ = 0;
  /** Events run so far (cancelled, dropped and deferred ones are not counted). */
  eventsRun = 0;
  private stopped = false;
  /** Called with one line per event run; the world hashes them into the run's digest. */
  trace: TraceSink | null = null;
  /** Called after each event that ran (the simulator's safety observers hook in here). */
  afterEach: ((label: string) => void) | null = null;
  /**
   * Called when an event of an owner throws, instead of letting the exception end the run: the
   * world treats it as that process dying on a failed assertion. Without it, exceptions propagate.
   */
  onOwnerError: ((owner: Owner, err: unknown, label: string) => void) | null = null;
  /**
   * The owner whose code runs now (null: the simulator's own, such as a fault), so that a hook
   * called from deep inside a node — a failpoint — can tell which machine it is on.
   */
  current: Owner | null = null;

  get nowNs(): number {
    return this.nowNs_;
  }

  /** Schedules fn at an absolute virtual time. REQUIRES: timeNs >= now. */
  at(timeNs: number, label: string, fn: () => void, owner: Owner | null = null): EventHandle {
    assert(Number.isFinite(timeNs), () => `Scheduler.at: time must be finite, got ${timeNs}`);
    assert(timeNs >= this.nowNs_, () => `Scheduler.at: time ${timeNs} is before now ${this.nowNs_}`);
    const ev = new SimEvent(Math.ceil(timeNs), this.seqNext++, label, fn, owner);
    this.push(ev);
    return ev;
  }

  after(delayNs: number, label: string, fn: () => void, owner: Owner | null = null): EventHandle {
    assert(delayNs >= 0, () => `Scheduler.after: negative delay ${delayNs}`);
    return this.at(this.nowNs_ + delayNs, label, fn, owner);
  }

  /** Number of events waiting (including cancelled ones not yet popped). */
  get pending(): number {
    return this.heap.length;
  }

  /** Time of the next live event, or null when there is none. */
  peekTimeNs(): number | null {
    while (this.heap.length > 0 && (this.heap[0] as SimEvent).cancelled) this.pop();
    return this.heap.length > 0 ? (this.heap[0] as SimEvent).timeNs : null;
  }

  /** Stops runUntil after the current event. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Runs events in order until the next one is after endNs (time then advances to endNs), there
   * are none, or stop() is called. Returns the number of events run.
   */
  runUntil(endNs: number): number {
    const before = this.eventsRun;
    this.stopped = false;
    while (!this.stopped) {
      const top = this.heap[0];
      if (top === undefined || top.timeNs > endNs) break;
      this.pop();
      this.runEvent(top);
    }
    if (!this.stopped && this.nowNs_ < endNs) this.nowNs_ = endNs;
    return this.eventsRun - before;
  }

  /** Resumes a paused owner: its held-back events run next, in their original order. */
  resume(owner: Owner): void {
    owner.paused = false;
    const held = owner.deferred.splice(0);
    for (const ev of held) {
      if (ev.cancelled) continue;
      // Re-queued in place so that a handle taken before the pause still cancels it.
      ev.timeNs = this.nowNs_;
      ev.seq = this.seqNext++;
      this.push(ev);
    }
  }

  private runEvent(ev: SimEvent): void {
    if (ev.cancelled) return;
    this.nowNs_ = ev.timeNs;
    const owner = ev.owner;
    if (owner !== null) {
      if (!owner.alive) return;
      if (owner.paused) {
        owner.deferred.push(ev);
        return;
      }
    }
    this.eventsRun++;
    if (this.trace !== null) this.trace(ev.timeNs, ev.label);
    this.current = owner;
    if (owner !== null && this.onOwnerError !== null) {
      try {
        ev.fn();
      } catch (err) {
        this.onOwnerError(owner, err, ev.label);
      }
    } else ev.fn();
    this.current = null;
    if (this.afterEach !== null) this.afterEach(ev.label);
  }

  // A binary min-heap on (timeNs, seq), kept by hand: it is the simulator's hottest path.
  private push(ev: SimEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as SimEvent;
      if (p.timeNs < ev.timeNs || (p.timeNs === ev.timeNs && p.seq < ev.seq)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = ev;
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    const n = h.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      const lc = h[l] as SimEvent;
      if (r < n) {
        const rc = h[r] as SimEvent;
        if (rc.timeNs < lc.timeNs || (rc.timeNs === lc.timeNs && rc.seq < lc.seq)) c = r;
      }
      const child = h[c] as SimEvent;
      if (last.timeNs < child.timeNs || (last.timeNs === child.timeNs && last.seq < child.seq)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

export const NS_PER_MS = 1_000_000;
export const NS_PER_S = 1_000_000_000;
