import { createHash } from 'node:crypto';
import type { Clock } from '../env/clock.js';
import type { Logger } from '../env/log.js';
import type { BugName } from '../node/bugs.js';
import type { NodeStatus, Reply } from '../node/node.js';
import {
  DB_NAME,
  KEY_BYTES_MAX,
  VALUE_BYTES_MAX,
  isReadOnly,
  validateOp,
  type KvOp,
  type Request,
  type Result,
} from '../node/protocol.js';
import { assert } from '../util/assert.js';
import type { KvClient, Outcome } from '../client/client.js';
import { Counter, Histogram, type Labels } from './metrics.js';
import type { ShardMap } from '../cluster/placement/shard-map.js';
import { mergeBatch, mergeRanges, splitBatch } from './shard-scatter.js';

/**
 * The gateway: how the HTTP and TCP front ends of one process reach the cluster.
 *
 * Every request goes to the local node first, in-process through `submit` (no network hop, which
 * is most of a single node's throughput). When the local node cannot order it (`not_leader`, a
 * follower under Raft) the gateway forwards it to the leader the answer named, through a KvClient
 * over the peer port — the same client, retries and leader discovery as every other client — and
 * carries the user's token along, so the leader checks permissions itself.
 *
 * Idempotence: the gateway is one client of its node, named afresh at every start (a name reused
 * after a restart would collide with the session the node kept of the previous life). Its
 * sequence numbers and `ackSeq` follow the request protocol, so the node's session table stays
 * small. A request the node has not answered within requestTimeoutMs is answered `timeout` (the
 * outcome is unknown: it may still be applied).
 */

/** The slice of KvNode the gateway uses: its request entry point and its status. */
export interface LocalNode {
  submit(req: Request, reply: Reply): void;
  /** A read's answer when the node can give it at once, else null (KvNode.readNow). */
  readNow?(req: Request): Result | null;
  status(): NodeStatus;
  /** A sharded cluster's placement (ranges and batches are split by shard); null or absent: one group. */
  shardMap?(): ShardMap | null;
  /**
   * The principal a forwarded request carries in place of the client's token (KvNode.principalFor);
   * absent: the token is forwarded as it is (tests' stand-in nodes).
   */
  principalFor?(token: string | undefined): { ok: true; principal: { user: string; epoch: number } } | { ok: false; result: Result };
}

export type FrontEnd = 'http' | 'tcp';

export interface GatewayOptions {
  node: LocalNode;
  /** This gateway's client name at its node; unique per process start. */
  clientId: string;
  /**
   * Client to the other members for forwarding, whose address is clientId (requests keep their
   * client and seq when forwarded); null in a one-node cluster.
   */
  forward: KvClient | null;
  clock: Clock;
  log: Logger;
  /** false: the cluster runs without authentication (`--insecure`); credentials are ignored. */
  authEnabled: boolean;
  requestTimeoutMs?: number;
  /** How long a login made for HTTP Basic credentials is reused. */
  basicCacheTtlMs?: number;
  /** Known-bug switches of the front door (src/node/bugs.ts). */
  bugs?: ReadonlySet<BugName>;
}

/** Operations waiting for an answer at once; beyond it the gateway answers `unavailable`. */
export const GATEWAY_IN_FLIGHT_MAX = 20_000;
/** Distinct Basic credentials whose tokens are remembered. */
export const BASIC_CACHE_ENTRIES_MAX = 1024;

interface InFlight {
  startNs: number;
  api: FrontEnd;
  /** The operation's name, for the statistics. */
  f: string;
  /** The front end's callback (through finish, which counts the answer). */
  done: (r: Result) => void;
  finished: boolean;
  /** Handed to the forwarding client, whose deadline now applies. */
  forwarded: boolean;
  /** One shard's part of a split request: counted once, as the whole (scatter). */
  part?: true;
}

interface OpStats {
  latency: Histogram;
  outcomes: Map<string, Counter>;
}

interface CachedLogin {
  token: string;
  expiresMs: number;
}

/** Whether a key is over the limit; measures UTF-8 only when the length alone cannot tell. */
function keyTooLong(k: unknown): boolean {
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  return typeof k === 'string' && k.length * 3 > KEY_BYTES_MAX && Buffer.byteLength(k, 'utf8') > KEY_BYTES_MAX;
}

function valueTooBig(v: unknown): boolean {
  if (v === undefined) return false;
  // A short string's JSON form (quotes, escapes of at most 6 bytes per unit) cannot exceed the limit.
  if (typeof v === 'string' && v.length * 6 + 2 <= VALUE_BYTES_MAX) return false;
  return Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8') > VALUE_BYTES_MAX;
}

function sizeProblem(o: Record<string, unknown>): Result | null {
  if (keyTooLong(o.key) || keyTooLong(o.start) || keyTooLong(o.end)) return { ok: false, code: 'too_large', message: `key is longer than ${KEY_BYTES_MAX} bytes` };
  if (valueTooBig(o.value) || valueTooBig(o.expected)) return { ok: false, code: 'too_large', message: `value is larger than ${VALUE_BYTES_MAX} bytes` };
  return null;
}

/** Front-end limits on sizes: a too-large key or value is `too_large` (HTTP 413), not a 400. */
export function checkSizes(op: KvOp): Result | null {
  // A transaction's operation carries its key and value one level down.
  if (op.f === 'txn.op' && typeof op.op === 'object' && op.op !== null) return sizeProblem(op.op as unknown as Record<string, unknown>);
  if ((op.f === 'batch' || op.f === 'txn.oneshot') && Array.isArray(op.ops)) {
    for (const sub of op.ops) {
      const r = sizeProblem(sub as unknown as Record<string, unknown>);
      if (r !== null) return r;
    }
    return null;
  }
  return sizeProblem(op as unknown as Record<string, unknown>);
}

export class Gateway {
  private seqNext = 1;
  /** No request below this seq is in flight (lowestPending moves it up). */
  private low = 1;
  /** The seq of the outermost request inside node.submit (0: none); not yet in inFlight. */
  private submitting = 0;
  /** Local requests by seq, in seq order (Map keeps insertion order). */
  private readonly inFlight = new Map<number, InFlight>();
  private readonly requestTimeoutMs: number;
  private readonly basicTtlMs: number;
  private readonly basicCache = new Map<string, CachedLogin>();
  private readonly loginsInProgress = new Map<string, ((r: Result) => void)[]>();
  private sweepTimer: { cancel(): void } | null = null;
  /** No new requests (shutting down); requests in progress still complete or time out. */
  private closed = false;
  private sweeping = true;

  /**
   * Counters and latencies by front end and operation, in nested maps: looked up twice per
   * request, so without building a label string each time. Bounded: both keys come from closed
   * sets (two front ends, the protocol's operations, its error codes).
   */
  private readonly stats = new Map<FrontEnd, Map<string, OpStats>>();
  /** Open batches (beginBatch); the outermost one times the reads answered inside it. */
  private batchDepth = 0;
  private batchStartNs = 0;
  /** The latencies those reads are still to get: their statistics, in runs of the same one. */
  private readonly batchStats: OpStats[] = [];
  private readonly batchRuns: number[] = [];
  readonly forwarded = new Counter();

  constructor(private readonly options: GatewayOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.basicTtlMs = options.basicCacheTtlMs ?? 5 * 60_000;
    this.scheduleSweep();
  }

  get authEnabled(): boolean {
    return this.options.authEnabled;
  }

  /** Requests in progress (local and forwarded). */
  get pending(): number {
    return this.inFlight.size;
  }

  status(): NodeStatus {
    return this.options.node.status();
  }

  /**
   * Runs one operation for a front end and calls done exactly once. The operation need not be
   * validated: bad input is answered `bad_request` or `too_large` here, before the node sees it.
   */
  execute(api: FrontEnd, op: KvOp, db: string, token: string | null, done: (r: Result) => void): void {
    // One record per request, and no closure for the answer: this runs for every command.
    const entry: InFlight = { startNs: this.options.clock.monotonicNs(), api, f: op.f, done, finished: false, forwarded: false };
    const problem = this.check(op, db);
    if (problem !== null) {
      this.finish(entry, problem);
      return;
    }
    if (op.f === 'auth.login' && !this.options.authEnabled) {
      // Without authentication there is nothing to log in to; say so instead of pretending.
      this.finish(entry, { ok: true, value: null });
      return;
    }
    if (this.closed || this.pending >= GATEWAY_IN_FLIGHT_MAX) {
      this.finish(entry, { ok: false, code: 'unavailable', message: this.closed ? 'node is shutting down' : 'too many requests in flight' });
      return;
    }
    const shards = this.options.node.shardMap?.() ?? null;
    if (shards !== null && shards.shards > 1 && (op.f === 'range' || op.f === 'batch')) this.scatter(op, db, this.options.authEnabled ? token : null, entry, shards);
    else if (shards !== null && shards.shards > 1 && (op.f === 'db.create' || op.f === 'db.delete')) this.scatterDatabase(op, db, this.options.authEnabled ? token : null, entry, shards);
    else this.local(op, db, this.options.authEnabled ? token : null, entry);
  }

  /**
   * A range or a batch on a sharded cluster: one request per shard, each down the ordinary path
   * (the local node, forwarded to the shard's leader if need be), merged by shard-scatter.ts.
   */
  private scatter(op: Extract<KvOp, { f: 'range' } | { f: 'batch' }>, db: string, token: string | null, entry: InFlight, map: ShardMap): void {
    // A range names its shard in the request (its keys do not say); a batch's keys do.
    const parts: { op: KvOp; shard: number; named: boolean; lastIndex: number }[] =
      op.f === 'range' ? Array.from({ length: map.shards }, (_, shard) => ({ op, shard, named: true, lastIndex: 0 })) : splitBatch(map, db, op.ops).map((p) => ({ op: { f: 'batch', ops: p.ops }, shard: p.shard, named: false, lastIndex: p.lastIndex }));
    if (parts.length === 0) return this.local(op, db, token, entry);
    const results: (Result | null)[] = parts.map(() => null);
    let waiting = parts.length;
    parts.forEach((p, i) => {
      const sub: InFlight = { startNs: entry.startNs, api: entry.api, f: entry.f, finished: false, forwarded: false, part: true, done: (r) => {
        assert(results[i] === null, 'a shard part answered twice');
        results[i] = r;
        if (--waiting > 0) return;
        const all = results as Result[];
        this.finish(entry, op.f === 'range' ? mergeRanges(op, all) : mergeBatch(parts.map((q, j) => ({ shard: q.shard, lastIndex: q.lastIndex, result: all[j] as Result }))));
      } };
      this.local(p.op, db, token, sub, p.named ? p.shard : undefined);
    });
  }

  /**
   * db.create / db.delete on a sharded cluster. Every shard keeps the database's record (a shard's
   * state machine refuses keys of a database it does not know) and the database's keys lie in
   * every shard. Created in shard 0 first — the catalog's shard (src/node/shard-catalog.ts), whose
   * answer says whether it existed — then in every other shard at once; deleted from the other
   * shards first and from shard 0 last, so the catalog lists a database as long as any shard may
   * hold its keys. Not atomic across shards: a part that fails makes the answer that failure, and
   * the same command again completes the rest (`already_exists` from another shard on a create,
   * `no_such_db` on a delete, count as done).
   */
  private scatterDatabase(op: Extract<KvOp, { f: 'db.create' } | { f: 'db.delete' }>, db: string, token: string | null, entry: InFlight, map: ShardMap): void {
    assert(map.shards > 1, 'scatterDatabase: a sharded cluster');
    const part = (shard: number, done: (r: Result) => void) => {
      this.local(op, db, token, { startNs: entry.startNs, api: entry.api, f: entry.f, finished: false, forwarded: false, part: true, done }, shard);
    };
    const harmless = op.f === 'db.create' ? 'already_exists' : 'no_such_db';
    const others = (then: (failure: Result | null, keys: number) => void) => {
      let waiting = map.shards - 1;
      let failure: Result | null = null;
      let keys = 0;
      for (let shard = 1; shard < map.shards; shard++)
        part(shard, (r) => {
          if (r.ok && typeof r.value === 'number') keys += r.value;
          if (!r.ok && r.code !== harmless && failure === null) failure = { ok: false, code: r.code, message: `shard ${shard}: ${r.message} (the database is on some shards only: run the same command again)` };
          if (--waiting === 0) then(failure, keys);
        });
    };
    if (op.f === 'db.create') {
      part(0, (first) => {
        if (!first.ok && first.code !== 'already_exists') return this.finish(entry, first);
        others((failure) => this.finish(entry, failure ?? first));
      });
      return;
    }
    others((failure, keys) => {
      if (failure !== null) return this.finish(entry, failure);
      part(0, (last) => this.finish(entry, last.ok && typeof last.value === 'number' ? { ok: true, value: last.value + keys } : last));
    });
  }

  /**
   * execute() for a read the local node can answer at once: the same checks, the same answer,
   * counted the same way, returned instead of called back; or null, and then nothing happened and
   * the caller goes through execute(). A front end that holds replies in order (the line protocol)
   * can then write the answer straight away. Pipelined GETs of a single node are mostly this
   * path: without the request record, the callbacks through node and replica and the front end's
   * reply slot, and timed per batch (beginBatch), a GET took a quarter less user CPU (1.16-1.49
   * against 1.54-2.07 µs; server and load generator pinned to one core each, -P 16, 50 connections).
   */
  readNow(api: FrontEnd, op: KvOp, db: string, token: string | null): Result | null {
    const node = this.options.node;
    if (node.readNow === undefined || this.closed || (op.f !== 'read' && op.f !== 'range')) return null;
    const startNs = this.batchDepth > 0 ? 0 : this.options.clock.monotonicNs();
    if (this.check(op, db) !== null) return null;
    // A seq of its own, as every request has (logs, a reused node's sessions): never recorded,
    // since a read leaves no result behind.
    const request: Request = { kind: 'req', client: this.options.clientId, seq: this.seqNext, ackSeq: this.lowestPending(), db, op, once: true };
    if (this.options.authEnabled && token !== null) request.token = token;
    const result = node.readNow(request);
    if (result === null) return null;
    this.seqNext++;
    if (this.batchDepth === 0) this.count(api, op.f, startNs, result);
    else {
      const stats = this.opStats(api, op.f);
      this.countOutcome(stats, result);
      const last = this.batchStats.length - 1;
      if (last >= 0 && this.batchStats[last] === stats) this.batchRuns[last] = (this.batchRuns[last] as number) + 1;
      else {
        this.batchStats.push(stats);
        this.batchRuns.push(1);
      }
    }
    return result;
  }

  /**
   * Opens a batch: a front end about to run a chunk of pipelined commands. The reads readNow
   * answers until the matching endBatch are timed together, from here to there: the time they
   * spent in this process, the commands before them in the chunk included (what the client waits
   * for, more than a read's own execution). Two clock reads per chunk instead of two per read,
   * which at -P 16 were a tenth of a GET's CPU. Batches nest; the outermost one counts.
   */
  beginBatch(): void {
    if (this.batchDepth++ === 0) this.batchStartNs = this.options.clock.monotonicNs();
  }

  endBatch(): void {
    assert(this.batchDepth > 0, 'Gateway.endBatch without beginBatch');
    if (--this.batchDepth > 0 || this.batchStats.length === 0) return;
    const seconds = (this.options.clock.monotonicNs() - this.batchStartNs) / 1e9;
    for (let i = 0; i < this.batchStats.length; i++) (this.batchStats[i] as OpStats).latency.observe(seconds, this.batchRuns[i] as number);
    this.batchStats.length = 0;
    this.batchRuns.length = 0;
  }

  /** Counts the answer (latency, outcome) and hands it to the front end. */
  private finish(entry: InFlight, r: Result): void {
    if (entry.part !== true) this.count(entry.api, entry.f, entry.startNs, r);
    entry.done(r);
  }

  private count(api: FrontEnd, f: string, startNs: number, r: Result): void {
    const stats = this.opStats(api, f);
    stats.latency.observe((this.options.clock.monotonicNs() - startNs) / 1e9);
    this.countOutcome(stats, r);
  }

  private countOutcome(stats: OpStats, r: Result): void {
    const outcome = r.ok ? 'ok' : r.code;
    let counter = stats.outcomes.get(outcome);
    if (counter === undefined) stats.outcomes.set(outcome, (counter = new Counter()));
    counter.inc();
  }

  private opStats(api: FrontEnd, op: string): OpStats {
    let byOp = this.stats.get(api);
    if (byOp === undefined) this.stats.set(api, (byOp = new Map()));
    let stats = byOp.get(op);
    if (stats === undefined) {
      assert(byOp.size < 100, 'more operation kinds than the protocol has');
      byOp.set(op, (stats = { latency: new Histogram(), outcomes: new Map() }));
    }
    return stats;
  }

  /** Requests answered, by front end, operation and outcome (for /metrics). */
  requestCounts(): { labels: Labels; value: number }[] {
    const out: { labels: Labels; value: number }[] = [];
    for (const [api, byOp] of this.stats) for (const [op, s] of byOp) for (const [outcome, c] of s.outcomes) out.push({ labels: { api, op, outcome }, value: c.value });
    return out;
  }

  /** Latency histograms, by front end and operation (for /metrics). */
  latencies(): { labels: Labels; value: Histogram }[] {
    const out: { labels: Labels; value: Histogram }[] = [];
    for (const [api, byOp] of this.stats) for (const [op, s] of byOp) out.push({ labels: { api, op }, value: s.latency });
    return out;
  }

  /** Promise form of execute, for callers that prefer it (tests, the CLI's in-process use). */
  run(api: FrontEnd, op: KvOp, db: string, token: string | null): Promise<Result> {
    return new Promise((resolve) => this.execute(api, op, db, token, resolve));
  }

  private check(op: KvOp, db: string): Result | null {
    if (db !== '' && !DB_NAME.test(db)) return { ok: false, code: 'bad_request', message: 'database name must be 1-64 letters, digits, _ and -' };
    const sizes = checkSizes(op);
    if (sizes !== null) return sizes;
    const invalid = validateOp(op, 'op');
    return invalid === null ? null : { ok: false, code: 'bad_request', message: invalid };
  }

  private local(op: KvOp, db: string, token: string | null, entry: InFlight, shard?: number): void {
    // The lowest seq in flight, this request's own included: it takes seqNext, not yet in the map.
    const ackSeq = this.lowestPending();
    const seq = this.seqNext++;
    // `once`: this in-process attempt is never resent. Its only retry (forward, below) follows an
    // answer that says it was not applied, and goes without the flag, so the leader keeps that
    // retry's result for the forwarding client's own resends.
    const request: Request = { kind: 'req', client: this.options.clientId, seq, ackSeq, db, op, once: true };
    if (token !== null) request.token = token; // (a spread of a conditional object costs a copy per request)
    if (shard !== undefined) request.shard = shard;
    const outermost = this.submitting === 0;
    if (outermost) this.submitting = seq;
    try {
      this.options.node.submit(request, (result) => {
        if (entry.finished) return; // answered `timeout` already; the late result is dropped
        if (!result.ok && (result.code === 'not_leader' || result.code === 'unavailable') && this.options.forward !== null) {
          this.forward(request, entry, result.code === 'unavailable', result.leader);
          return;
        }
        entry.finished = true;
        this.inFlight.delete(seq);
        this.finish(entry, result);
      });
    } finally {
      if (outermost) this.submitting = 0;
    }
    // Into the map only when not answered during submit (a read usually is). A map emptied by a
    // delete shrinks, and V8 reallocates its table each time: set-then-delete per read was a
    // quarter of a pipelined GET's time. A forwarded request is not finished, so it goes in.
    // (A request started from inside this submit's callback goes in first, though it started a
    // moment later. The timeout sweep walks in map order and stops at the first request too young
    // to time out, so it may reach this one a sweep late: at most one sweep period.)
    if (!entry.finished) this.inFlight.set(seq, entry);
  }

  private lowestPending(): number {
    // Not inFlight.keys().next(): a Map keeps deleted entries as holes until it shrinks, and
    // answers leave in seq order, so the first live key sat behind up to hundreds of holes
    // (0.4 µs a request, 8% of a pipelined GET). `low` only moves forward: O(1) amortized.
    // Below the bound every seq is in the map or answered. seqNext is the next request; a request
    // still inside submit (a front end may start another from its callback) is in neither.
    const bound = this.submitting !== 0 ? this.submitting : this.seqNext;
    while (this.low < bound && !this.inFlight.has(this.low)) this.low++;
    return this.low;
  }

  /**
   * Retries a request the local node could not order on the leader, with the same client and
   * seq (the forwarding client shares the gateway's name), so the cluster applies it at most
   * once. It stays in inFlight meanwhile, which keeps later requests' ackSeq below its seq: the
   * node must not forget its session entry while a retry may still arrive.
   */
  private forward(request: Request, entry: InFlight, uncertain: boolean, leader: string | undefined): void {
    const client = this.options.forward;
    assert(client !== null, 'forward without a client');
    entry.forwarded = true;
    this.forwarded.inc();
    const { once: _once, ...rest } = request;
    let resent: Request = rest;
    if (this.options.authEnabled && this.options.node.principalFor !== undefined) {
      // The leader is told whom the request speaks for, over the peer network, not handed the
      // client's bearer token (auth.ts ForwardedPrincipal); it checks the permission itself.
      const who = this.options.node.principalFor(request.token);
      if (!who.ok) {
        entry.finished = true;
        this.inFlight.delete(request.seq);
        this.finish(entry, who.result);
        return;
      }
      const { token: _token, ...unsigned } = rest;
      resent = { ...unsigned, principal: who.principal };
    }
    if (this.options.bugs?.has('gateway-ack-on-forward') === true && !isReadOnly(request.op)) {
      // Known bug: "forwarded" is taken for "done". The leader may never get it, or refuse it.
      entry.finished = true;
      this.inFlight.delete(request.seq);
      this.finish(entry, { ok: true, value: null });
      client.resume(resent, () => {}, { uncertain, ...(leader !== undefined ? { node: leader } : {}) });
      return;
    }
    client.resume(
      resent,
      (o) => {
        entry.finished = true;
        this.inFlight.delete(request.seq);
        this.finish(entry, outcomeResult(o));
      },
      { uncertain, ...(leader !== undefined ? { node: leader } : {}) },
    );
  }

  /** Answers `timeout` for local requests older than the deadline; one timer for all of them. */
  private scheduleSweep(): void {
    if (!this.sweeping) return;
    const periodMs = Math.max(10, Math.min(1000, this.requestTimeoutMs / 4));
    this.sweepTimer = this.options.clock.timer(periodMs, () => {
      const limitNs = this.options.clock.monotonicNs() - this.requestTimeoutMs * 1e6;
      for (const [seq, e] of this.inFlight) {
        if (e.startNs > limitNs) break; // in seq order, so in start order
        if (e.forwarded) continue; // the forwarding client's deadline applies
        e.finished = true;
        this.inFlight.delete(seq);
        this.finish(e, { ok: false, code: 'timeout', message: `no answer from the node within ${this.requestTimeoutMs} ms; the outcome is unknown` });
      }
      this.scheduleSweep();
    });
  }

  /**
   * The token for HTTP Basic credentials: a login, remembered for a few minutes under a hash of
   * the credentials (never the password itself), so that Basic auth does not cost an scrypt per
   * request. Concurrent first uses of the same credentials share one login.
   */
  basicToken(user: string, password: string, done: (r: Result) => void): void {
    if (!this.options.authEnabled) {
      done({ ok: true, value: null });
      return;
    }
    const key = basicKey(user, password);
    const now = this.options.clock.wallMs();
    const cached = this.basicCache.get(key);
    if (cached !== undefined && cached.expiresMs > now) {
      done({ ok: true, value: cached.token });
      return;
    }
    this.basicCache.delete(key);
    const waiting = this.loginsInProgress.get(key);
    if (waiting !== undefined) {
      waiting.push(done);
      return;
    }
    this.loginsInProgress.set(key, [done]);
    this.execute('http', { f: 'auth.login', user, password }, '', null, (r) => {
      const callbacks = this.loginsInProgress.get(key) ?? [];
      this.loginsInProgress.delete(key);
      if (r.ok && typeof r.value === 'string') {
        if (this.basicCache.size >= BASIC_CACHE_ENTRIES_MAX) this.basicCache.delete(this.basicCache.keys().next().value as string);
        this.basicCache.set(key, { token: r.value, expiresMs: now + this.basicTtlMs });
      }
      for (const cb of callbacks) cb(r);
    });
  }

  /**
   * Forgets the token remembered for these credentials: a request made with it was refused, so
   * the password changed, the user was deleted or the token expired. The next use logs in again,
   * which revokes the old password at once rather than when the cache entry would have expired.
   */
  forgetBasic(user: string, password: string): void {
    this.basicCache.delete(basicKey(user, password));
  }

  /** Stops at once: no new requests, no timers (a host that failed to start). */
  stop(): void {
    this.closed = true;
    this.sweeping = false;
    this.sweepTimer?.cancel();
  }

  /** Stops taking requests; resolves when every request in progress has been answered. */
  drain(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    return new Promise((resolve) => {
      const startMs = this.options.clock.monotonicMs();
      const end = (drained: boolean) => {
        this.sweeping = false;
        this.sweepTimer?.cancel();
        resolve(drained);
      };
      const poll = () => {
        if (this.pending === 0) end(true);
        else if (this.options.clock.monotonicMs() - startMs > timeoutMs) end(false);
        else this.options.clock.timer(10, poll);
      };
      poll();
    });
  }
}

/** The Basic cache's key: a hash of the credentials, never the password itself. */
function basicKey(user: string, password: string): string {
  return createHash('sha256').update(user).update('\0').update(password).digest('hex');
}

/** A client outcome as a node result; an unknown outcome is `timeout` (HTTP 504). */
export function outcomeResult(o: Outcome): Result {
  switch (o.type) {
    case 'ok':
      return { ok: true, value: o.value, ...(o.entries !== undefined ? { entries: o.entries } : {}) };
    case 'fail':
      return { ok: false, code: o.code, message: o.message };
    case 'info':
      return { ok: false, code: 'timeout', message: `outcome unknown: ${o.reason}` };
  }
}
