import { KvClient, type Outcome } from '../src/client/client.js';
import type { HistoryEvent, Json, OpFunction } from '../src/check/history.js';
import type { Rng } from '../src/env/rng.js';
import type { KvOp } from '../src/node/protocol.js';
import { assert } from '../src/util/assert.js';
import { detPow, exponential } from './detmath.js';
import { NS_PER_MS } from './scheduler.js';
import type { Workload as WorkloadSpec } from './scenario.js';
import type { Clock } from '../src/env/clock.js';
import type { Net } from '../src/env/net.js';

/**
 * Where a workload runs: the simulated world, or real processes on loopback (`kv-lab run
 * --real`). Both give clients a Net and a Clock, and a time line for the history.
 */
export interface WorkloadHost {
  /** Nanoseconds since the run began, for history events. */
  readonly nowNs: number;
  after(delayNs: number, label: string, fn: () => void): void;
  clientEndpoint(address: string): { net: Net; clock: Clock };
  /** Every history event, as it happens (the simulator traces it). */
  recordOp(ev: HistoryEvent): void;
}

/**
 * Simulated clients. Each client slot runs one operation at a time through the real KvClient and
 * records it in the history: an invoke when it starts, ok/fail/info when it ends. After an info
 * (outcome unknown) the slot continues as a new process, as Jepsen does, so that a process never
 * has two operations open.
 *
 * Written values are unique (a counter), so any value read names the one operation that wrote it.
 */

export interface WorkloadStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
}

interface Slot {
  index: number;
  process: number;
  client: KvClient;
  /** The last value this client saw per key, to aim cas operations at plausible values. */
  seen: Map<string, Json>;
  busy: boolean;
}

export class Workload {
  readonly history: HistoryEvent[] = [];
  readonly stats: WorkloadStats = { invoked: 0, ok: 0, fail: 0, info: 0 };
  private readonly slots: Slot[] = [];
  private readonly keys: string[];
  private readonly zipfCdf: Float64Array | null;
  private readonly mixCdf: [OpFunction, number][];
  private issuing = false;
  private valueNext = 1;
  private processNext: number;
  /** Operations still open, across slots and final reads. */
  private open = 0;
  private onQuiet: (() => void) | null = null;

  constructor(
    private readonly world: WorkloadHost,
    private readonly spec: WorkloadSpec,
    private readonly rng: Rng,
    private readonly nodes: string[],
  ) {
    this.keys = Array.from({ length: spec.keys }, (_, i) => `k${i}`);
    this.zipfCdf = spec.distribution === 'zipfian' ? zipfCdf(spec.keys, spec.zipfTheta) : null;
    const total = Object.values(spec.mix).reduce((a, b) => a + b, 0);
    assert(total > 0, 'workload mix has no weight');
    let acc = 0;
    this.mixCdf = (Object.entries(spec.mix) as [OpFunction, number][]).filter(([, w]) => w > 0).map(([f, w]) => [f, (acc += w / total)]);
    this.processNext = spec.clients;
  }

  get keyNames(): readonly string[] {
    return this.keys;
  }

  /** Starts every client slot; each begins after a small random offset so they do not march in step. */
  start(): void {
    this.issuing = true;
    for (let i = 0; i < this.spec.clients; i++) {
      const { net, clock } = this.world.clientEndpoint(`c${i + 1}`);
      const client = new KvClient(net, clock, {
        nodes: this.rng.shuffled(this.nodes),
        timeoutMs: this.spec.timeoutNs / NS_PER_MS,
        attemptTimeoutMs: Math.max(1, this.spec.timeoutNs / NS_PER_MS / 4),
      });
      const slot: Slot = { index: i, process: i, client, seen: new Map(), busy: false };
      this.slots.push(slot);
      this.world.after(this.rng.int(Math.max(1, this.spec.thinkNs)), `client c${i + 1} start`, () => this.next(slot));
    }
  }

  /** No new operations from now on; those in flight finish (or time out). */
  stopIssuing(): void {
    this.issuing = false;
  }

  /** Calls fn once no operation is open (at once if none is). */
  whenQuiet(fn: () => void): void {
    if (this.open === 0) fn();
    else this.onQuiet = fn;
  }

  private next(slot: Slot): void {
    if (!this.issuing || slot.busy) return;
    if (this.spec.ops !== undefined && this.stats.invoked >= this.spec.ops) {
      this.issuing = false;
      return;
    }
    const { f, key, op, value } = this.generate(slot);
    slot.busy = true;
    this.begin(slot.process, f, key, value, { node: slot.client.id });
    const process = slot.process;
    const extra = f === 'read' && this.spec.reads === 'any' ? { node: this.rng.pick(this.nodes) } : {};
    slot.client.invoke(op, (outcome) => {
      slot.busy = false;
      this.end(process, f, key, value, outcome);
      if (outcome.type === 'ok') this.remember(slot, f, key, value, outcome.value);
      if (outcome.type === 'info') slot.process = this.processNext++;
      this.world.after(this.thinkNs(), `client c${slot.index + 1} next`, () => this.next(slot));
    }, undefined, extra);
  }

  private thinkNs(): number {
    const meanNs = this.spec.rate !== undefined ? (this.spec.clients / this.spec.rate) * 1e9 : this.spec.thinkNs;
    return Math.round(exponential(this.rng.next(), meanNs));
  }

  private generate(slot: Slot): { f: OpFunction; key: string; op: KvOp; value: Json } {
    const u = this.rng.next();
    const f = (this.mixCdf.find(([, c]) => u < c) ?? this.mixCdf[this.mixCdf.length - 1])?.[0] as OpFunction;
    const key = this.pickKey();
    switch (f) {
      case 'read':
        return { f, key, op: { f: 'read', key }, value: null };
      case 'write': {
        const v = this.valueNext++;
        return { f, key, op: { f: 'write', key, value: v }, value: v };
      }
      case 'cas': {
        const expected = slot.seen.get(key) ?? this.rng.int(Math.max(1, this.valueNext));
        const v = this.valueNext++;
        return { f, key, op: { f: 'cas', key, expected, value: v }, value: [expected, v] };
      }
      case 'delete':
        return { f, key, op: { f: 'delete', key }, value: null };
      case 'append': {
        const token = `a${this.valueNext++};`;
        return { f, key, op: { f: 'append', key, value: token }, value: token };
      }
    }
  }

  private remember(slot: Slot, f: OpFunction, key: string, arg: Json, result: Json): void {
    if (f === 'read') slot.seen.set(key, result);
    else if (f === 'write') slot.seen.set(key, arg);
    else if (f === 'cas') slot.seen.set(key, (arg as Json[])[1] as Json);
    else if (f === 'delete') slot.seen.delete(key);
  }

  private pickKey(): string {
    if (this.zipfCdf === null) return this.keys[this.rng.int(this.keys.length)] as string;
    const u = this.rng.next();
    let lo = 0;
    let hi = this.zipfCdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.zipfCdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return this.keys[lo] as string;
  }

  private begin(process: number, f: OpFunction, key: string, value: Json, extra: Record<string, unknown>): void {
    this.open++;
    this.stats.invoked++;
    this.record({ process, type: 'invoke', f, key, value, time: this.world.nowNs, ...extra });
  }

  private end(process: number, f: OpFunction, key: string, arg: Json, outcome: Outcome, extra: Record<string, unknown> = {}): void {
    this.open--;
    this.stats[outcome.type]++;
    // An ok read reports what it read; other operations echo their argument.
    const value = outcome.type === 'ok' && f === 'read' ? outcome.value : arg;
    const detail = outcome.type === 'ok' ? { node: outcome.node } : outcome.type === 'fail' ? { node: outcome.node, error: outcome.code } : { error: outcome.reason };
    this.record({ process, type: outcome.type, f, key, value, time: this.world.nowNs, ...detail, ...extra });
    if (this.open === 0 && this.onQuiet !== null) {
      const fn = this.onQuiet;
      this.onQuiet = null;
      fn();
    }
  }

  private record(ev: HistoryEvent): void {
    this.history.push(ev);
    this.world.recordOp(ev);
  }

  /**
   * After the faults heal: reads every key, retrying until it succeeds or the deadline passes.
   * Their results are the final state the lost-write check compares against; whether they all
   * succeed in time is the liveness check. Calls done with the keys that never answered.
   */
  finalReads(deadlineNs: number, done: (unanswered: string[]) => void): void {
    const { net, clock } = this.world.clientEndpoint('final');
    const client = new KvClient(net, clock, { nodes: this.nodes, timeoutMs: this.spec.timeoutNs / NS_PER_MS, attemptTimeoutMs: Math.max(1, this.spec.timeoutNs / NS_PER_MS / 4) });
    const unanswered: string[] = [];
    let remaining = this.keys.length;
    const settle = (key: string, answered: boolean) => {
      if (!answered) unanswered.push(key);
      if (--remaining === 0) done(unanswered.sort());
    };
    const readKey = (key: string) => {
      const process = this.processNext++;
      this.begin(process, 'read', key, null, { final: true });
      client.invoke({ f: 'read', key }, (outcome) => {
        this.end(process, 'read', key, null, outcome, { final: true });
        if (outcome.type === 'ok') settle(key, true);
        else if (this.world.nowNs < deadlineNs) this.world.after(50 * NS_PER_MS, `final read ${key}`, () => readKey(key));
        else settle(key, false);
      });
    };
    for (const key of this.keys) readKey(key);
  }
}

/** Cumulative probabilities of a Zipf distribution over n ranks with exponent theta. */
function zipfCdf(n: number, theta: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += 1 / detPow(i + 1, theta);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += 1 / detPow(i + 1, theta) / sum;
    cdf[i] = acc;
  }
  cdf[n - 1] = 1;
  return cdf;
}
