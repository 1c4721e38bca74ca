import type { Json } from '../util/json.js';
import type { Clock, Timer } from '../env/clock.js';
import type { Net } from '../env/net.js';
import { assert } from '../util/assert.js';
import { runTransaction, type Transaction, type TransactionOptions } from './transaction.js';
import { decodeMessage, encodeMessage, isDefinite, isReadOnly, singleKey, type ErrorCode, type KvOp, type Request, type Result } from '../node/protocol.js';
import { ShardKeyspace, SHARDS_MAX } from '../cluster/placement/shard-map.js';

/**
 * The kv-lab client, written against the Net and Clock seams so that the very same code serves a
 * real program (over TCP) and the simulator's workload.
 *
 * It finds the leader by following `not_leader` hints, retries a request on another node after an
 * attempt times out, and keeps the request's seq across retries so the cluster applies it once.
 * On a sharded cluster it keeps a routing table: the first `not_leader` tells it the shard count,
 * from which it computes each key's shard (ShardKeyspace), and each shard's leader is cached from
 * the answers — refreshed by the next `not_leader`, dropped when an attempt there goes unanswered.
 * The outcome it reports is honest about uncertainty: `fail` only when no attempt can have taken
 * effect, `info` when one might have.
 */

export type Outcome =
  /** next: a range cut short by its byte bound continues there (Result.next). */
  | { type: 'ok'; value: Json; entries?: [string, Json][]; next?: string; node: string }
  | { type: 'fail'; code: ErrorCode; message: string; node: string }
  | { type: 'info'; reason: string };

export interface ClientOptions {
  /** Nodes to try, in order of preference. */
  nodes: string[];
  /** The whole operation's deadline. */
  timeoutMs: number;
  /** How long one attempt may take before the client tries another node. */
  attemptTimeoutMs: number;
  /** Pause before retrying after an `unavailable` answer. */
  retryBackoffMs: number;
  /** Database for requests that do not name one. */
  db: string;
}

/** Per-operation choices that differ from the client's defaults. */
export interface InvokeOptions {
  /** Bearer token for this operation only (a front end forwarding many users' requests). */
  token?: string | null;
  /** Node to try first, e.g. the leader a `not_leader` answer named. */
  node?: string;
}

export const DEFAULT_CLIENT_OPTIONS: Omit<ClientOptions, 'nodes'> = {
  timeoutMs: 5_000,
  attemptTimeoutMs: 1_000,
  retryBackoffMs: 50,
  db: '',
};

/** Attempts per operation, whatever the deadline: a bound on retry storms. */
export const ATTEMPTS_MAX = 32;

interface Pending {
  seq: number;
  request: Request;
  done: (o: Outcome) => void;
  /** Index into nodes of the current target, or a node named by a leader hint. */
  target: string;
  attempts: number;
  /** An earlier attempt went unanswered: it may still take effect. */
  uncertain: boolean;
  /** The latest attempt is sent and not yet answered. */
  inFlight: boolean;
  attemptTimer: Timer | null;
  deadlineTimer: Timer;
  /** Numbered by another component (resume): its ackSeq is that component's, kept as given. */
  resumed: boolean;
}

export class KvClient {
  private seqNext = 1;
  private readonly pending = new Map<number, Pending>();
  private leaderHint: string | null = null;
  /** A sharded cluster's keyspace (from a not_leader naming the shard count); null: one group, or not yet known. */
  private keyspace: ShardKeyspace | null = null;
  /** The routing table: each shard's leader as last seen. */
  private readonly shardLeaders = new Map<number, string>();
  private nodeCursor = 0;
  private options: ClientOptions;
  private closed = false;
  private token: string | null = null;

  constructor(
    private readonly net: Net,
    private readonly clock: Clock,
    options: Partial<ClientOptions> & { nodes: string[] },
  ) {
    this.options = { ...DEFAULT_CLIENT_OPTIONS, ...options };
    assert(this.options.nodes.length > 0, 'KvClient needs at least one node');
    net.onReceive((from, frame) => this.receive(from, frame));
  }

  /**
   * Adds a node to try (one met after start: a member gossip made known). The list only grows: a
   * node that left is skipped by the attempts that time out on it, as a crashed one is.
   */
  addNode(id: string): void {
    assert(id.length > 0, 'addNode: an empty node id');
    if (!this.options.nodes.includes(id)) this.options.nodes = [...this.options.nodes, id];
  }

  /** Attaches a bearer token (from auth.login) to every later request; null removes it. */
  setToken(token: string | null): void {
    this.token = token;
  }

  /** This client's id: its network address. */
  get id(): string {
    return this.net.self;
  }

  invoke(op: KvOp, done: (o: Outcome) => void, db: string = this.options.db, extra: InvokeOptions = {}): void {
    assert(!this.closed, 'KvClient is closed');
    const seq = this.seqNext++;
    const token = extra.token !== undefined ? extra.token : this.token;
    const request: Request = { kind: 'req', client: this.net.self, seq, ackSeq: this.ackSeq(seq), db, op, ...(token !== null ? { token } : {}) };
    const p: Pending = {
      seq,
      request,
      done,
      target: extra.node ?? this.firstTarget(request),
      attempts: 0,
      uncertain: false,
      inFlight: false,
      attemptTimer: null,
      deadlineTimer: this.clock.timer(this.options.timeoutMs, () => this.giveUp(p, 'timeout')),
      resumed: false,
    };
    this.pending.set(seq, p);
    this.attempt(p);
  }

  /**
   * Takes over a request that another component numbered and already tried — a front end that
   * submitted it to its own node in-process and was told `not_leader` or `unavailable` — and
   * retries it over the network with the same client and seq. Both answers say the first attempt
   * was not applied (protocol.ts: definite failures), which is what lets that attempt go without
   * a session (`once`); the retries here keep the client and seq, so the cluster applies them at
   * most once among themselves. `uncertain`: report a final failure as an unknown outcome anyway
   * (the conservative reading of `unavailable`).
   * REQUIRES: request.client is this client's address, and this client's invoke() is not used
   * (the other component owns the seq space).
   */
  resume(request: Request, done: (o: Outcome) => void, extra: { node?: string; uncertain?: boolean } = {}): void {
    assert(!this.closed, 'KvClient is closed');
    assert(request.client === this.net.self, () => `resume: request of ${request.client} on client ${this.net.self}`);
    assert(!this.pending.has(request.seq), () => `resume: seq ${request.seq} is already in progress`);
    const p: Pending = {
      seq: request.seq,
      request,
      done,
      target: extra.node ?? this.firstTarget(request),
      attempts: 0,
      uncertain: extra.uncertain ?? false,
      inFlight: false,
      attemptTimer: null,
      deadlineTimer: this.clock.timer(this.options.timeoutMs, () => this.giveUp(p, 'timeout')),
      resumed: true,
    };
    this.pending.set(p.seq, p);
    this.attempt(p);
  }

  /** Promise form, for real programs (the simulator uses the callback form). */
  call(op: KvOp, db?: string, extra?: InvokeOptions): Promise<Outcome> {
    return new Promise((resolve) => this.invoke(op, resolve, db, extra));
  }

  /**
   * Runs fn in an interactive transaction, retrying it with back-off when the cluster aborts it
   * for a conflict (transaction.ts): `await client.transaction(async (tx) => tx.put('a', await tx.get('b')))`.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions & { db?: string } = {}): Promise<T> {
    return runTransaction((op) => this.call(op, options.db), this.clock, fn, options);
  }

  /** Operations started and not yet ended. */
  get pendingCount(): number {
    return this.pending.size;
  }

  close(): void {
    this.closed = true;
    for (const p of [...this.pending.values()]) this.giveUp(p, 'client closed');
    this.net.close();
  }

  private ackSeq(nextSeq: number): number {
    let low = nextSeq;
    for (const s of this.pending.keys()) if (s < low) low = s;
    return low;
  }

  /** Shards known: the key's shard leader from the routing table, else any node (it refers us on). */
  private firstTarget(request: Request): string {
    const shard = this.shardOf(request);
    if (shard === null) return this.leaderHint ?? this.nextNode();
    return this.shardLeaders.get(shard) ?? this.nextNode();
  }

  /** The request's shard, when the cluster is known to be sharded and the request has one; else null. */
  private shardOf(request: Request): number | null {
    if (this.keyspace === null) return null;
    const op = request.op;
    const key = singleKey(op);
    if (key !== null) return this.keyspace.shardOf(request.db, key);
    switch (op.f) {
      case 'batch':
        return op.ops.length > 0 ? this.keyspace.shardOf(request.db, (op.ops[0] as { key: string }).key) : null;
      case 'range':
        return request.shard !== undefined && request.shard < this.keyspace.shards ? request.shard : null;
      default:
        // Transactions go to their coordinator, administration to whoever refers it on.
        return null;
    }
  }

  /** Learns from a not_leader that names a shard: the shard count, and that shard's leader. */
  private learnRoute(result: { leader?: string; shard?: number; shards?: number }): void {
    const { shard, shards, leader } = result;
    if (!Number.isInteger(shards) || (shards as number) < 2 || (shards as number) > SHARDS_MAX) return;
    if (this.keyspace?.shards !== shards) {
      // A cluster's shard count never changes; another count means another cluster: start afresh.
      this.keyspace = ShardKeyspace.of(shards as number);
      this.shardLeaders.clear();
    }
    if (leader !== undefined && Number.isInteger(shard) && (shard as number) >= 0 && (shard as number) < (shards as number)) this.shardLeaders.set(shard as number, leader);
  }

  private nextNode(): string {
    const nodes = this.options.nodes;
    const n = nodes[this.nodeCursor % nodes.length] as string;
    this.nodeCursor++;
    return n;
  }

  private attempt(p: Pending): void {
    if (p.attempts >= ATTEMPTS_MAX) {
      this.giveUp(p, `no answer after ${ATTEMPTS_MAX} attempts`);
      return;
    }
    p.attempts++;
    p.inFlight = true;
    p.attemptTimer?.cancel();
    p.attemptTimer = this.clock.timer(this.options.attemptTimeoutMs, () => {
      // Unanswered: the request may yet be applied. Try elsewhere with the same seq.
      p.uncertain = true;
      if (this.leaderHint === p.target) this.leaderHint = null;
      this.forgetRoute(p);
      p.target = this.nextNode();
      this.attempt(p);
    });
    this.net.send(p.target, encodeMessage(p.resumed ? p.request : { ...p.request, ackSeq: this.ackSeq(this.seqNext) }));
  }

  private receive(from: string, frame: Uint8Array): void {
    let m: Record<string, unknown>;
    try {
      m = decodeMessage(frame);
    } catch {
      return; // Not for us or garbled: the attempt timer covers it.
    }
    if (m.kind !== 'res' || typeof m.seq !== 'number') return;
    const p = this.pending.get(m.seq);
    if (p === undefined) return; // A late answer to an operation that already ended.
    const result = m.result as Result;
    if (result.ok) {
      const shard = this.shardOf(p.request);
      if (shard !== null) this.shardLeaders.set(shard, from);
      else this.leaderHint = from;
      this.finish(p, { type: 'ok', value: result.value, ...(result.entries ? { entries: result.entries } : {}), ...(result.next !== undefined ? { next: result.next } : {}), node: from });
      return;
    }
    if (!result.ok && result.code === 'not_leader') this.learnRoute(result);
    this.failed(p, from, result.code, result.message, result.leader);
  }

  /** The routing table's entry for p's shard, when it points where p just went unanswered or was refused. */
  private forgetRoute(p: Pending): void {
    const shard = this.shardOf(p.request);
    if (shard !== null && this.shardLeaders.get(shard) === p.target) this.shardLeaders.delete(shard);
  }

  private failed(p: Pending, from: string, code: ErrorCode, message: string, leader: string | undefined): void {
    if (code === 'not_leader' || code === 'unavailable') {
      // This attempt certainly did nothing; earlier unanswered ones still may have.
      p.attemptTimer?.cancel();
      p.inFlight = false;
      if (code === 'not_leader' && leader !== undefined && leader !== from) {
        if (this.shardOf(p.request) === null) this.leaderHint = leader;
        p.target = leader;
        this.attempt(p);
      } else {
        if (this.leaderHint === from) this.leaderHint = null;
        this.forgetRoute(p);
        p.target = this.nextNode();
        p.attemptTimer = this.clock.timer(this.options.retryBackoffMs, () => this.attempt(p));
      }
      return;
    }
    // An answer from the state machine (cas_mismatch, type_error, ...) is the one application's
    // result, even after retries, thanks to the session table. timeout/internal stay uncertain
    // for writes; a read that failed changed nothing.
    if (isDefinite(code) || isReadOnly(p.request.op)) this.finish(p, { type: 'fail', code, message, node: from });
    else this.finish(p, { type: 'info', reason: `${code}: ${message}` });
  }

  private giveUp(p: Pending, reason: string): void {
    if (!this.pending.has(p.seq)) return;
    if (isReadOnly(p.request.op)) {
      // Reads change nothing, so an unanswered read is a clean failure, not an unknown outcome.
      this.finish(p, { type: 'fail', code: 'timeout', message: reason, node: p.target });
    } else if (p.uncertain || p.inFlight) {
      this.finish(p, { type: 'info', reason });
    } else {
      // Every attempt was refused outright (not_leader, unavailable): nothing can take effect.
      this.finish(p, { type: 'fail', code: 'unavailable', message: reason, node: p.target });
    }
  }

  private finish(p: Pending, outcome: Outcome): void {
    this.pending.delete(p.seq);
    p.attemptTimer?.cancel();
    p.deadlineTimer.cancel();
    p.done(outcome);
  }
}
