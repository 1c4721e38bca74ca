// A simulated machine for storage tests: a scheduler, a page-cache disk with crash faults, a clock,
// and the owner (process incarnation) whose timers and pending syncs die with a crash.
import type { Logger, LogLevel, LogFields } from '../../src/env/log.js';
import { SeededRng } from '../../src/env/rng.js';
import type { EngineDeps } from '../../src/storage/engine.js';
import { SimMachineClock } from '../../sim/clock.js';
import { DEFAULT_DISK_OPTIONS, SimDisk, type SimDiskOptions } from '../../sim/disk.js';
import { NS_PER_MS, Owner, Scheduler } from '../../sim/scheduler.js';

export interface LogLine {
  level: LogLevel;
  event: string;
  fields: LogFields | undefined;
}

export class SimEnv {
  readonly sched = new Scheduler();
  readonly disk: SimDisk;
  readonly clock: SimMachineClock;
  owner: Owner;
  deps: EngineDeps;
  incarnation = 1;
  readonly logs: LogLine[] = [];
  private readonly logger: Logger = { log: (level, event, fields) => void this.logs.push({ level, event, fields }) };

  constructor(seed: string, disk: Partial<SimDiskOptions> = {}) {
    this.disk = new SimDisk(this.sched, new SeededRng(`${seed}/disk`), 'n1', { ...DEFAULT_DISK_OPTIONS, ...disk });
    this.clock = new SimMachineClock(this.sched, 'n1', 1_700_000_000_000);
    this.owner = new Owner('n1#1');
    this.deps = this.makeDeps();
  }

  private makeDeps(): EngineDeps {
    return { disk: this.disk.view(this.owner), clock: this.clock.view(this.owner), log: this.logger };
  }

  /** Power loss: the process dies, the page cache is lost per the disk's crash mode. */
  crash() {
    this.owner.alive = false;
    const report = this.disk.crash();
    this.owner = new Owner(`n1#${++this.incarnation}`);
    this.deps = this.makeDeps();
    return report;
  }

  /** The process dies, the machine does not: the page cache, dirty pages and all, stays. */
  exitProcess(): void {
    this.owner.alive = false;
    this.disk.processExit();
    this.owner = new Owner(`n1#${++this.incarnation}`);
    this.deps = this.makeDeps();
  }

  /** Runs events for ms of virtual time. */
  run(ms: number): void {
    this.sched.runUntil(this.sched.nowNs + ms * NS_PER_MS);
  }

  /** Runs events until done is true (or fails after maxMs of virtual time). */
  until(done: () => boolean, maxMs = 60_000): void {
    const end = this.sched.nowNs + maxMs * NS_PER_MS;
    while (!done()) {
      const t = this.sched.peekTimeNs();
      if (t === null || t > end) throw new Error(`SimEnv.until: condition not met within ${maxMs} ms of virtual time`);
      this.sched.runUntil(t);
    }
  }

  /** Calls fn with a callback and runs the simulation until the callback fires; returns its args. */
  call<A extends unknown[]>(fn: (cb: (...args: A) => void) => void, maxMs = 60_000): A {
    let result: A | null = null;
    fn((...args: A) => {
      if (result !== null) throw new Error('callback called twice');
      result = args;
    });
    this.until(() => result !== null, maxMs);
    return result as unknown as A;
  }
}
