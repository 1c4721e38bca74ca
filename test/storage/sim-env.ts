// A simulated machine for storage tests: a scheduler, a page-cache disk with crash faults, a clock,
// and the owner (process incarnation) whose timers and pending syncs die with a crash.
import type { Disk, DiskFile, OpenMode, SyncCallback } from '../../src/env/disk.js';
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

  /**
   * readInto: give the engine's files DiskFile.readInto, as the real disk has (the simulated disk
   * has only read(); without it the engines take their fallback path).
   */
  constructor(seed: string, disk: Partial<SimDiskOptions> = {}, readonly readInto = true) {
    this.disk = new SimDisk(this.sched, new SeededRng(`${seed}/disk`), 'n1', { ...DEFAULT_DISK_OPTIONS, ...disk });
    this.clock = new SimMachineClock(this.sched, 'n1', 1_700_000_000_000);
    this.owner = new Owner('n1#1');
    this.deps = this.makeDeps();
  }

  private makeDeps(): EngineDeps {
    const view = this.disk.view(this.owner);
    return { disk: this.readInto ? new ReadIntoDisk(view) : view, clock: this.clock.view(this.owner), log: this.logger };
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

/** A Disk whose files have readInto, over one whose files may not. */
class ReadIntoDisk implements Disk {
  constructor(private readonly inner: Disk) {}
  open(path: string, mode: OpenMode): DiskFile {
    return new ReadIntoFile(this.inner.open(path, mode));
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  list(dir: string): string[] {
    return this.inner.list(dir);
  }
  mkdir(dir: string): void {
    this.inner.mkdir(dir);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.inner.remove(path);
  }
  syncDir(dir: string, done: SyncCallback): void {
    this.inner.syncDir(dir, done);
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  usage(): { usedBytes: number; capacityBytes: number | null } {
    return this.inner.usage();
  }
}

class ReadIntoFile implements DiskFile {
  constructor(private readonly inner: DiskFile) {}
  get path(): string {
    return this.inner.path;
  }
  size(): number {
    return this.inner.size();
  }
  append(data: Uint8Array): void {
    this.inner.append(data);
  }
  writeAt(offset: number, data: Uint8Array): void {
    this.inner.writeAt(offset, data);
  }
  read(offset: number, length: number): Uint8Array {
    return this.inner.read(offset, length);
  }
  readInto(offset: number, length: number, into: Uint8Array, at: number): number {
    const data = this.inner.read(offset, length);
    if (at < 0 || at + data.length > into.length) throw new RangeError(`readInto: ${data.length} bytes do not fit at ${at} of ${into.length}`);
    // Garbage first, so that a reader using bytes past what was read fails its checks.
    into.fill(0xa5, at, Math.min(into.length, at + length));
    into.set(data, at);
    return data.length;
  }
  truncate(size: number): void {
    this.inner.truncate(size);
  }
  sync(done: SyncCallback): void {
    this.inner.sync(done);
  }
  close(): void {
    this.inner.close();
  }
}
