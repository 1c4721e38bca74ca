import type { Clock } from '../src/env/clock.js';
import type { Env } from '../src/env/env.js';
import type { Logger } from '../src/env/log.js';
import type { Net } from '../src/env/net.js';
import type { Dialer, Stream } from '../src/env/stream.js';
import { SeededRng, type Rng } from '../src/env/rng.js';
import { assert } from '../src/util/assert.js';
import { SimMachineClock } from './clock.js';
import { SimDisk, type CrashMode, type CrashReport, type SimDiskOptions } from './disk.js';
import { SimNet, type NetOptions } from './net.js';
import { Owner, Scheduler } from './scheduler.js';
import { SimStreams, type StreamProtocol } from './stream.js';
import type { Trace } from './trace.js';
import type { WorkloadHost } from './workload.js';
import type { HistoryEvent } from '../src/check/history.js';

/**
 * The simulated world: machines (each with a clock, a disk and a node process), the network
 * between them, clients, and the scheduler that owns time. Faults act on it; nodes see only their
 * Env, exactly as a real node sees the real machine.
 */

/**
 * What the world needs of a node: that it can be stopped, and — for a node with a front door —
 * that it takes client connections. Anything else is the node's business.
 */
export interface SimNode {
  stop(): void;
  accept?(stream: Stream, protocol: StreamProtocol): void;
}

export type NodeFactory = (env: Env, machine: Machine) => SimNode;

export type MachineState = 'up' | 'down' | 'paused';

export class Machine {
  owner: Owner;
  incarnation = 0;
  /** Destroyed (World.destroy): down for good, its disk gone; nothing boots it again. */
  destroyed = false;
  node: SimNode | null = null;
  state: MachineState = 'down';
  env: Env | null = null;

  constructor(
    readonly id: string,
    readonly clock: SimMachineClock,
    readonly disk: SimDisk,
  ) {
    this.owner = new Owner(`${id}#0`);
    this.owner.alive = false;
  }
}

export interface WorldOptions {
  seed: string;
  nodeIds: readonly string[];
  net: NetOptions;
  disk: SimDiskOptions;
  createNode: NodeFactory;
  trace: Trace;
  /** Wall-clock time at virtual time zero, the same on every machine before skew. */
  wallEpochMs?: number;
  /** Record node log lines of these levels in the trace. */
  traceLogLevels?: ReadonlySet<string>;
}

/** 2026-01-01T00:00:00Z: a fixed wall-clock origin, so wall times are as repeatable as the rest. */
export const SIM_WALL_EPOCH_MS = 1_767_225_600_000;

export class World implements WorkloadHost {
  readonly sched = new Scheduler();
  readonly rng: Rng;
  readonly net: SimNet;
  /** Client connections to the nodes' front doors. */
  readonly streams: SimStreams;
  readonly machines = new Map<string, Machine>();
  readonly trace: Trace;
  /** Addresses of the clients attached so far. */
  readonly clientAddresses: string[] = [];
  /** Node processes that ended themselves on a fatal error (reported, not a failure). */
  readonly exits: { node: string; atNs: number; reason: string }[] = [];
  /** How long the supervisor waits before restarting a node that exited. */
  supervisorRestartNs = 1_000_000_000;
  /** Node processes that died on an exception (a failed assertion): each is a finding. */
  readonly panics: { node: string; atNs: number; event: string; error: string }[] = [];
  private readonly createNode: NodeFactory;
  private readonly wallEpochMs: number;
  private readonly logLevels: ReadonlySet<string>;

  constructor(options: WorldOptions) {
    this.rng = new SeededRng(`kv-lab/${options.seed}`);
    this.trace = options.trace;
    this.sched.trace = (t, label) => this.trace.event(t, label);
    this.sched.onOwnerError = (owner, err, label) => this.panic(owner, err, label);
    this.net = new SimNet(this.sched, this.rng.fork('net'), options.net);
    this.streams = new SimStreams(this.sched, this.rng.fork('streams'), this.net, {
      listener: (id) => {
        const m = this.machines.get(id);
        const node = m?.node;
        if (m === undefined || node === null || node === undefined || node.accept === undefined || m.state === 'down') return null;
        return { owner: m.owner, accept: (stream, protocol) => node.accept?.(stream, protocol) };
      },
    });
    this.createNode = options.createNode;
    this.wallEpochMs = options.wallEpochMs ?? SIM_WALL_EPOCH_MS;
    this.logLevels = options.traceLogLevels ?? new Set(['info', 'warn', 'error']);
    for (const id of options.nodeIds) {
      assert(/^[a-z][a-z0-9-]*$/.test(id), () => `node id ${id} must be lowercase letters, digits and dashes`);
      const clock = new SimMachineClock(this.sched, id, this.wallEpochMs);
      const disk = new SimDisk(this.sched, this.rng.fork(`disk/${id}`), id, options.disk);
      this.machines.set(id, new Machine(id, clock, disk));
    }
  }

  get nowNs(): number {
    return this.sched.nowNs;
  }

  after(delayNs: number, label: string, fn: () => void): void {
    this.sched.after(delayNs, label, fn);
  }

  recordOp(ev: HistoryEvent): void {
    this.trace.record(ev.time as number, 'op', ev);
  }

  machine(id: string): Machine {
    const m = this.machines.get(id);
    assert(m !== undefined, () => `no machine ${id}`);
    return m;
  }

  nodeIds(): string[] {
    return [...this.machines.keys()];
  }

  /** Boots every machine's node. */
  start(): void {
    for (const m of this.machines.values()) this.boot(m);
  }

  private boot(m: Machine): void {
    assert(m.state === 'down', () => `boot ${m.id}: machine is ${m.state}`);
    m.incarnation++;
    m.owner = new Owner(`${m.id}#${m.incarnation}`);
    const env: Env = {
      id: m.id,
      clock: m.clock.view(m.owner),
      disk: m.disk.view(m.owner),
      net: this.net.attach(m.id, m.owner),
      rng: this.rng.fork(`node/${m.id}/${m.incarnation}`),
      log: this.logger(m.id),
      exit: (reason) => {
        // The process exits at the end of the current event; a supervisor restarts it later.
        const owner = m.owner;
        this.sched.after(0, `exit ${m.id}`, () => {
          if (m.owner === owner && m.state !== 'down') this.processExit(m.id, reason);
        });
      },
    };
    m.env = env;
    m.state = 'up';
    this.trace.record(this.nowNs, 'boot', { node: m.id, incarnation: m.incarnation });
    // The node's constructor runs its recovery as the node's own code (a failpoint on the way
    // must know whose it is), whichever event booted it.
    const running = this.sched.current;
    this.sched.current = m.owner;
    try {
      const node = this.createNode(env, m);
      if (m.owner.alive) m.node = node;
    } catch (err) {
      // Power cut at a failpoint during recovery (FailpointCrash, or EBADF from what ran on after
      // it): the machine is already down.
      if (m.owner.alive) throw err;
    } finally {
      this.sched.current = running;
    }
  }

  /**
   * Kills the node's process and cuts its machine's power: volatile state, timers and frames in
   * flight to it are gone; its disk keeps what was durable (per the crash mode).
   */
  crash(id: string, diskMode?: CrashMode, cause: 'power' | 'panic' = 'power'): CrashReport | null {
    const m = this.machine(id);
    if (m.state === 'down') return null;
    // Power loss leaves clients' connections hanging; a process that dies on its machine has them reset.
    this.streams.nodeDown(id, cause === 'power');
    m.owner.alive = false;
    m.owner.paused = false;
    m.owner.deferred.length = 0;
    this.net.detach(id, m.owner);
    m.node = null;
    m.env = null;
    m.state = 'down';
    const saved = m.disk.options.crash;
    if (diskMode !== undefined) m.disk.options.crash = diskMode;
    const report = m.disk.crash();
    m.disk.options.crash = saved;
    this.trace.record(this.nowNs, 'crash', { node: id, ...report });
    return report;
  }

  /**
   * A node's code threw: like a real process that trips an assertion, it dies on the spot (and is
   * restarted when the run heals). Exceptions of clients are the simulator's own bugs: rethrown.
   */
  private panic(owner: Owner, err: unknown, label: string): void {
    // The process already died during this event (its machine lost power at a failpoint): what its
    // code did after that point (FailpointCrash, or a dead file handle's EBADF) is moot, and not a
    // failed assertion. Only a failpoint kills a process in the middle of its own event.
    if (!owner.alive) return;
    const m = [...this.machines.values()].find((x) => x.owner === owner);
    if (m === undefined) throw err;
    const error = err instanceof Error ? err.message : String(err);
    // The stack stays out of the trace (it names files, which differ between builds); a developer
    // asks for it on stderr.
    if (process.env.KV_LAB_PANIC_STACK === '1') console.error(err instanceof Error ? err.stack : err);
    this.panics.push({ node: m.id, atNs: this.nowNs, event: label, error });
    this.trace.record(this.nowNs, 'panic', { node: m.id, event: label, error });
    this.crash(m.id, undefined, 'panic');
  }

  /**
   * The node's process ended on its own (a fatal error): memory and timers are gone, but the
   * machine kept running, so its page cache — and every write not yet fsynced — survives. A
   * supervisor (systemd's Restart=) starts it again after supervisorRestartNs.
   */
  processExit(id: string, reason: string): void {
    const m = this.machine(id);
    if (m.state === 'down') return;
    this.streams.nodeDown(id, false);
    m.owner.alive = false;
    m.owner.paused = false;
    m.owner.deferred.length = 0;
    this.net.detach(id, m.owner);
    m.node = null;
    m.env = null;
    m.state = 'down';
    m.disk.processExit();
    this.exits.push({ node: id, atNs: this.nowNs, reason });
    this.trace.record(this.nowNs, 'exit', { node: id, reason });
    const incarnation = m.incarnation;
    this.sched.after(this.supervisorRestartNs, `supervisor ${id}`, () => {
      if (m.state === 'down' && m.incarnation === incarnation) this.restart(id);
    });
  }

  /**
   * Permanent loss of a machine: its power is cut, its disk is wiped, and it never boots again
   * (restart, healing and the power cycle of the convergence check all leave it down).
   */
  destroy(id: string): void {
    const m = this.machine(id);
    this.crash(id);
    m.disk.wipe();
    m.destroyed = true;
    this.trace.record(this.nowNs, 'destroy', { node: id });
  }

  restart(id: string): void {
    const m = this.machine(id);
    if (m.state !== 'down' || m.destroyed) return;
    this.boot(m);
  }

  /** Freezes the node's process (SIGSTOP): nothing it does happens until resume. */
  pause(id: string): void {
    const m = this.machine(id);
    if (m.state !== 'up') return;
    m.owner.paused = true;
    m.state = 'paused';
    this.trace.record(this.nowNs, 'pause', { node: id });
  }

  resume(id: string): void {
    const m = this.machine(id);
    if (m.state !== 'paused') return;
    m.state = 'up';
    this.trace.record(this.nowNs, 'resume', { node: id });
    this.sched.resume(m.owner);
  }

  /**
   * A client endpoint: it never crashes, and its clock has neither skew nor drift. It reaches
   * the nodes by frames (net) or by connections to their front doors (dial "n1:line", "n2:http").
   */
  clientEndpoint(address: string): { net: Net; clock: Clock; dial: Dialer } {
    assert(!this.machines.has(address), () => `client address ${address} is a node's`);
    assert(!this.clientAddresses.includes(address), () => `client address ${address} is taken`);
    this.clientAddresses.push(address);
    const owner = new Owner(address);
    const clock = new SimMachineClock(this.sched, address, this.wallEpochMs);
    return { net: this.net.attach(address, owner), clock: clock.view(owner), dial: (target) => this.streams.dial({ address, owner }, target) };
  }

  private logger(node: string): Logger {
    return {
      log: (level, event, fields) => {
        if (this.logLevels.has(level)) this.trace.record(this.nowNs, 'log', { node, level, event, ...fields });
      },
    };
  }
}
