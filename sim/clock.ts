import type { Clock, Timer } from '../src/env/clock.js';
import { assert } from '../src/util/assert.js';
import { NS_PER_MS, type Owner, type Scheduler } from './scheduler.js';

/**
 * A simulated machine clock. Local time runs at (1 + drift) times the simulator's true time, in
 * pieces: changing the drift starts a new piece where the last one ended, so monotonic time stays
 * continuous and never goes back. Wall time adds a skew that a fault may jump in either direction
 * (an NTP step, an operator's mistake); monotonic time ignores skew, as CLOCK_MONOTONIC does.
 *
 * The machine clock survives crashes; each incarnation of the node gets a view whose timers die
 * with it.
 */
export class SimMachineClock {
  private baseTrueNs: number;
  private baseLocalNs = 0;
  private rate = 1;
  skewMs = 0;
  driftPpm = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly name: string,
    /** Wall time of true time zero, the same for every machine (skew is added per machine). */
    private readonly wallEpochMs: number,
  ) {
    this.baseTrueNs = sched.nowNs;
  }

  localNs(): number {
    return this.baseLocalNs + Math.floor((this.sched.nowNs - this.baseTrueNs) * this.rate);
  }

  /** Changes how fast this clock runs, in parts per million (+100 = 100 µs fast per second). */
  setDriftPpm(ppm: number): void {
    assert(ppm > -1e6, () => `drift must be above -1e6 ppm, got ${ppm}`);
    this.baseLocalNs = this.localNs();
    this.baseTrueNs = this.sched.nowNs;
    this.driftPpm = ppm;
    this.rate = 1 + ppm / 1e6;
  }

  /** True-time nanoseconds until this clock has advanced by localDelayNs. */
  trueDelayNs(localDelayNs: number): number {
    return Math.ceil(localDelayNs / this.rate);
  }

  view(owner: Owner): Clock {
    return new SimClockView(this, this.sched, owner, this.name, this.wallEpochMs);
  }
}

class SimClockView implements Clock {
  /** Built once: a node sets thousands of timers a run. */
  private readonly timerLabel: string;
  private readonly deferLabel: string;

  constructor(
    private readonly machine: SimMachineClock,
    private readonly sched: Scheduler,
    private readonly owner: Owner,
    name: string,
    private readonly wallEpochMs: number,
  ) {
    this.timerLabel = `timer ${name}`;
    this.deferLabel = `defer ${name}`;
  }

  monotonicNs(): number {
    return this.machine.localNs();
  }

  monotonicMs(): number {
    return this.machine.localNs() / NS_PER_MS;
  }

  wallMs(): number {
    return this.wallEpochMs + this.machine.localNs() / NS_PER_MS + this.machine.skewMs;
  }

  timer(delayMs: number, fn: () => void): Timer {
    assert(delayMs >= 0 && Number.isFinite(delayMs), () => `timer: bad delay ${delayMs} ms`);
    const delayNs = this.machine.trueDelayNs(delayMs * NS_PER_MS);
    return this.sched.after(delayNs, this.timerLabel, fn, this.owner);
  }

  defer(fn: () => void): void {
    this.sched.after(0, this.deferLabel, fn, this.owner);
  }
}
