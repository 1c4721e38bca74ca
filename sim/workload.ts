import { KvClient, type Outcome } from '../src/client/client.js';
import { HttpKvClient } from '../src/client/http-client.js';
import { LineKvClient } from '../src/client/line-client.js';
import { StreamNet } from '../src/client/stream-net.js';
import type { Dialer } from '../src/env/stream.js';
import type { HistoryEvent, Json, OpFunction } from '../src/check/history.js';
import type { Rng } from '../src/env/rng.js';
import type { KvOp } from '../src/node/protocol.js';
import { assert } from '../src/util/assert.js';
import { detPow, exponential } from '../src/util/detmath.js';
import { NS_PER_MS } from './scheduler.js';
import type { Workload as WorkloadSpec, WorkloadProtocol } from './scenario.js';
import type { Clock } from '../src/env/clock.js';
import type { Net } from '../src/env/net.js';
import { TxnGenerator, type MicroOp, type TxnEnd } from './txn-workload.js';

/**
 * Where a workload runs: the simulated world, or real processes on loopback (`kv-lab run
 * --real`). Both give clients a Net and a Clock, and a time line for the history.
 */
export interface WorkloadHost {
  /** Nanoseconds since the run began, for history events. */
  readonly nowNs: number;
  after(delayNs: number, label: string, fn: () => void): void;
  clientEndpoint(address: string): { net: Net; clock: Clock; dial: Dialer };
  /** Every history event, as it happens (the simulator traces it). */
  recordOp(ev: HistoryEvent): void;
}

/**
 * Simulated clients. Each client slot runs one operation at a time through a real client and
 * records it in the history: an invoke when it starts, ok/fail/info when it ends. After an info
 * (outcome unknown) the slot continues as a new process, as Jepsen does, so that a process never
 * has two operations open.
 *
 * The client is the scenario's protocol's: LineKvClient or HttpKvClient over connections to a
 * node's front door (the history is recorded from the bytes they read back), or KvClient sending
 * the request protocol's frames to the same port (StreamNet, as connectKv does).
 *
 * Written values are unique (a counter), so any value read names the one operation that wrote it.
 * Over the line protocol, which stores strings, they are written as strings (`w17;`).
 */

/** What a slot runs its operations through. */
interface OpClient {
  readonly id: string;
  /** `node`: the node to send this operation to (reads `any`), else the client's choice. */
  invoke(op: KvOp, done: (o: Outcome) => void, node?: string): void;
}

/** KvClient as an OpClient. */
class NativeClient implements OpClient {
  constructor(private readonly client: KvClient) {}
  get id(): string {
    return this.client.id;
  }
  invoke(op: KvOp, done: (o: Outcome) => void, node?: string): void {
    this.client.invoke(op, done, undefined, node !== undefined ? { node } : {});
  }
}

/**
 * A client that keeps one connection per node it talks to, and sticks to one node (its home)
 * until an operation there ends without an answer — then, as a client library with a list of
 * nodes would, it moves to another node at random. Nothing is retried: the line protocol and
 * HTTP carry no request id, so a retry could apply a write twice.
 */
class FrontDoorClient implements OpClient {
  private home: string;
  private readonly byNode = new Map<string, { invoke(op: KvOp, done: (o: Outcome) => void): void }>();

  constructor(
    readonly id: string,
    private readonly protocol: 'line' | 'http',
    private readonly nodes: string[],
    private readonly endpoint: { clock: Clock; dial: Dialer },
    private readonly rng: Rng,
    private readonly timeoutMs: number,
  ) {
    assert(nodes.length > 0, 'a client needs nodes');
    this.home = rng.pick(nodes);
  }

  invoke(op: KvOp, done: (o: Outcome) => void, node?: string): void {
    const target = node ?? this.home;
    this.client(target).invoke(op, (o) => {
      const unanswered = o.type === 'info' || (o.type === 'fail' && (o.code === 'unavailable' || o.code === 'timeout'));
      if (unanswered && target === this.home && this.nodes.length > 1) this.home = this.rng.pick(this.nodes.filter((n) => n !== target));
      done(o);
    });
  }

  private client(node: string): { invoke(op: KvOp, done: (o: Outcome) => void): void } {
    let c = this.byNode.get(node);
    if (c !== undefined) return c;
    const { clock, dial } = this.endpoint;
    c =
      this.protocol === 'line'
        ? new LineKvClient({ address: `${node}:line`, name: node, dial, clock, timeoutMs: this.timeoutMs })
        : new HttpKvClient({ urls: [`http://${node}`], dial: (a) => dial(`${a}:http`), clock, timeoutMs: this.timeoutMs, connectionsMax: 1 });
    this.byNode.set(node, c);
    return c;
  }
}

export interface WorkloadStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
}

interface Slot {
  index: number;
  process: number;
  client: OpClient;
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
  /** Transactional workloads (workload.kind txn-*): null for single-key operations. */
  private readonly txns: TxnGenerator | null;

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
    this.txns = spec.kind === 'kv' ? null : new TxnGenerator(spec.kind, spec.txnLength, spec.txnKeys, rng.fork('txn'), () => this.pickKey(), spec.txnPlain, { share: spec.txnRange, keys: this.keys });
  }

  get keyNames(): readonly string[] {
    return this.keys;
  }

  /** Starts every client slot; each begins after a small random offset so they do not march in step. */
  start(): void {
    this.issuing = true;
    for (let i = 0; i < this.spec.clients; i++) {
      const client = this.client(`c${i + 1}`);
      const slot: Slot = { index: i, process: i, client, seen: new Map(), busy: false };
      this.slots.push(slot);
      this.world.after(this.rng.int(Math.max(1, this.spec.thinkNs)), `client c${i + 1} start`, () => this.next(slot));
    }
  }

  /** A client of the scenario's protocol at this address. */
  private client(address: string, nodes = this.rng.shuffled(this.nodes)): OpClient {
    const endpoint = this.world.clientEndpoint(address);
    const timeoutMs = this.spec.timeoutNs / NS_PER_MS;
    if (this.spec.protocol === 'native') {
      // As connectKv does: frames over connections to the nodes' TCP client ports.
      const net = new StreamNet(address, new Map(this.nodes.map((n) => [n, `${n}:line`])), endpoint.dial);
      const attemptTimeoutMs = this.spec.attemptTimeoutNs !== undefined ? this.spec.attemptTimeoutNs / NS_PER_MS : Math.max(1, timeoutMs / 4);
      return new NativeClient(new KvClient(net, endpoint.clock, { nodes, timeoutMs, attemptTimeoutMs }));
    }
    return new FrontDoorClient(address, this.spec.protocol, nodes, endpoint, this.rng.fork(`client/${address}`), timeoutMs);
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
    if (this.txns !== null) return this.nextTxn(slot, this.txns);
    const { f, key, op, value } = this.generate(slot);
    slot.busy = true;
    this.begin(slot.process, f, key, value, { client: slot.client.id });
    const process = slot.process;
    const node = f === 'read' && this.spec.reads === 'any' ? this.rng.pick(this.nodes) : undefined;
    slot.client.invoke(op, (outcome) => {
      slot.busy = false;
      this.end(process, f, key, value, outcome);
      if (outcome.type === 'ok') this.remember(slot, f, key, value, outcome.value);
      if (outcome.type === 'info') slot.process = this.processNext++;
      this.world.after(this.thinkNs(), `client c${slot.index + 1} next`, () => this.next(slot));
    }, node);
  }

  /** One transaction of a txn-* workload: recorded as one `f: txn` operation (sim/txn-workload.ts). */
  private nextTxn(slot: Slot, gen: TxnGenerator): void {
    const ops = gen.next();
    slot.busy = true;
    const process = slot.process;
    this.txnBegin(process, ops, { client: slot.client.id });
    gen.run(slot.client, ops, (end) => {
      slot.busy = false;
      this.txnEnd(process, end);
      if (end.type === 'info') slot.process = this.processNext++;
      this.world.after(this.thinkNs(), `client c${slot.index + 1} next`, () => this.next(slot));
    });
  }

  private txnBegin(process: number, ops: MicroOp[], extra: Record<string, unknown>): void {
    this.open++;
    this.stats.invoked++;
    this.record(txnEvent({ process, type: 'invoke', f: 'txn', value: ops, time: this.world.nowNs, ...extra }));
  }

  private txnEnd(process: number, end: TxnEnd, extra: Record<string, unknown> = {}): void {
    this.open--;
    this.stats[end.type]++;
    this.record(txnEvent({ process, type: end.type, f: 'txn', value: end.value, time: this.world.nowNs, ...end.detail, ...extra }));
    if (this.open === 0 && this.onQuiet !== null) {
      const fn = this.onQuiet;
      this.onQuiet = null;
      fn();
    }
  }

  private thinkNs(): number {
    const meanNs = this.spec.rate !== undefined ? (this.spec.clients / this.spec.rate) * 1e9 : this.spec.thinkNs;
    return Math.round(exponential(this.rng.next(), meanNs));
  }

  private generate(slot: Slot): { f: OpFunction; key: string; op: KvOp; value: Json } {
    const u = this.rng.next();
    const f = (this.mixCdf.find(([, c]) => u < c) ?? this.mixCdf[this.mixCdf.length - 1])?.[0] as OpFunction;
    const key = this.pickKey();
    // The line protocol stores strings: its clients write every value as one, shaped like the
    // appended tokens (`w17;` beside `a18;`), so that a string built by a write and then appends
    // still splits back into what made it (the lost-write check reads it so).
    const asValue = (n: number): Json => (this.spec.protocol === 'line' ? `w${n};` : n);
    switch (f) {
      case 'read':
        return { f, key, op: { f: 'read', key }, value: null };
      case 'write': {
        const v = asValue(this.valueNext++);
        return { f, key, op: { f: 'write', key, value: v }, value: v };
      }
      case 'cas': {
        const seen = slot.seen.get(key);
        const expected = seen !== undefined && (this.spec.protocol !== 'line' || typeof seen === 'string') ? seen : asValue(this.rng.int(Math.max(1, this.valueNext)));
        const v = asValue(this.valueNext++);
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
    const client = this.client('final', this.nodes);
    if (this.txns !== null) return this.finalTxnReads(client, this.txns, deadlineNs, done);
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

  /** finalReads for transactional workloads: each key read by a read-only transaction, recorded as one. */
  private finalTxnReads(client: OpClient, gen: TxnGenerator, deadlineNs: number, done: (unanswered: string[]) => void): void {
    const unanswered: string[] = [];
    let remaining = this.keys.length;
    const readKey = (key: string) => {
      const process = this.processNext++;
      const ops: MicroOp[] = [['r', key, null]];
      this.txnBegin(process, ops, { final: true });
      gen.run(client, ops, (end) => {
        this.txnEnd(process, end, { final: true });
        if (end.type === 'ok') {
          if (--remaining === 0) done(unanswered.sort());
        } else if (this.world.nowNs < deadlineNs) this.world.after(50 * NS_PER_MS, `final read ${key}`, () => readKey(key));
        else {
          unanswered.push(key);
          if (--remaining === 0) done(unanswered.sort());
        }
      });
    };
    for (const key of this.keys) readKey(key);
  }
}

/**
 * A transaction's history event. HistoryEvent (src/check/history.ts) describes single-key
 * operations; `f: txn` events carry no key and a list of micro-operations as their value
 * (src/check/HISTORY.md), and the per-key checks leave them out (sim/runner.ts).
 */
function txnEvent(e: { process: number; type: HistoryEvent['type']; f: 'txn'; value: MicroOp[]; time: number } & Record<string, unknown>): HistoryEvent {
  return e as unknown as HistoryEvent;
}

/** Cumulative probabilities of a Zipf distribution over n ranks with exponent theta. */
export function zipfCdf(n: number, theta: number): Float64Array {
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
