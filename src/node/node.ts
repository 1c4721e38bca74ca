import type { Env } from '../env/env.js';
import { assert } from '../util/assert.js';
import { authorize, type AuthConfig } from './auth.js';
import type { BugName } from './bugs.js';
import { executeRead, executeWrite } from './kv-state.js';
import {
  decodeMessage,
  encodeMessage,
  isReadOnly,
  ProtocolError,
  validateRequest,
  type AdminReadOp,
  type ReadOp,
  type Request,
  type Response,
  type Result,
} from './protocol.js';
import { MemoryStore, type NodeStore } from './store.js';

export type ReplicationMode = 'none';
export type EngineKind = 'memory';

export interface NodeConfig {
  /** Every member of the cluster, this node included. */
  members: string[];
  replication: ReplicationMode;
  engine: EngineKind;
  bugs: ReadonlySet<BugName>;
  /** null: no authentication (the simulator; `--insecure` real clusters). */
  auth?: AuthConfig | null;
}

/** What /status, /metrics and `kv-lab cluster status` show of a node. */
export interface NodeStatus {
  id: string;
  replication: ReplicationMode;
  engine: EngineKind;
  /** 'leader' also for a single node; 'stopped' once it stopped serving. */
  role: 'leader' | 'follower' | 'candidate' | 'learner' | 'stopped';
  term: number;
  leader: string | null;
  members: string[];
  commitIndex: number;
  appliedIndex: number;
  /** Requests in progress now. */
  inFlight: number;
  /** Counters since start, for /metrics. */
  counters: { requests: number; writes: number; reads: number; errors: number };
}

/** Where a request's answer goes: back over the network, or to an in-process front end. */
export type Reply = (result: Result) => void;

/** Reads answered but held back until the writes they saw are durable. */
interface HeldRead {
  durableSeqNeeded: number;
  reply: Reply;
  result: Result;
}

/** Requests a node may have in progress at once; beyond it, it answers `unavailable`. */
export const IN_FLIGHT_REQUESTS_MAX = 10_000;

/**
 * One kv-lab node. In replication mode `none` it is a single server: it applies each write to
 * its store at once (so later writes build on it) and answers when the store says it is durable;
 * it answers a read only once every write the read could see is durable, so no client ever sees a
 * value that a crash could still take back.
 */
export class KvNode {
  private readonly store: NodeStore;
  private appliedSeq = 0;
  private durableSeq = 0;
  private readonly heldReads: HeldRead[] = [];
  private inFlight = 0;
  private stopped = false;
  private readonly counters = { requests: 0, writes: 0, reads: 0, errors: 0 };

  constructor(
    private readonly env: Env,
    private readonly config: NodeConfig,
  ) {
    assert(config.members.includes(env.id), () => `node ${env.id} is not among the members ${config.members.join(',')}`);
    assert(config.replication === 'none' && config.members.length === 1, 'replication none serves exactly one node');
    this.store = new MemoryStore();
    env.net.onReceive((from, frame) => this.receive(from, frame));
    env.log.log('info', 'node.start', { id: env.id, replication: config.replication, engine: config.engine });
  }

  status(): NodeStatus {
    return {
      id: this.env.id,
      replication: this.config.replication,
      engine: this.config.engine,
      role: this.stopped ? 'stopped' : 'leader',
      term: 0,
      leader: this.stopped ? null : this.env.id,
      members: [...this.config.members],
      commitIndex: this.durableSeq,
      appliedIndex: this.appliedSeq,
      inFlight: this.inFlight,
      counters: { ...this.counters },
    };
  }

  stop(): void {
    this.stopped = true;
    this.env.net.close();
    this.store.close();
  }

  private receive(from: string, frame: Uint8Array): void {
    if (this.stopped) return;
    let message: ReturnType<typeof decodeMessage>;
    try {
      message = decodeMessage(frame);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.env.log.log('warn', 'node.bad_frame', { from, error: err.message });
      return;
    }
    if (message.kind === 'req') this.request(from, message);
    else this.env.log.log('warn', 'node.unexpected_message', { from, kind: message.kind });
  }

  private request(from: string, m: Record<string, unknown>): void {
    const seq = typeof m.seq === 'number' ? m.seq : -1;
    const reply: Reply = (result) => this.send(from, { kind: 'res', seq, result });
    const problem = validateRequest(m);
    if (problem !== null) {
      reply({ ok: false, code: 'bad_request', message: problem });
      return;
    }
    this.submit(m as unknown as Request, reply);
  }

  /**
   * Handles a validated request and calls reply exactly once. The network path and in-process
   * front ends (HTTP, the TCP line protocol) both come through here.
   */
  submit(req: Request, outerReply: Reply): void {
    this.counters.requests++;
    const reply: Reply = (result) => {
      if (!result.ok) this.counters.errors++;
      outerReply(result);
    };
    if (this.stopped) {
      reply({ ok: false, code: 'unavailable', message: 'node is stopped' });
      return;
    }
    if (this.inFlight >= IN_FLIGHT_REQUESTS_MAX) {
      reply({ ok: false, code: 'unavailable', message: 'too many requests in flight' });
      return;
    }
    const auth = this.config.auth ?? null;
    if (auth !== null) {
      const decision = authorize(auth, this.store.view, req, this.env.clock.wallMs());
      if (!decision.ok) {
        this.env.log.log('warn', 'auth.denied', { client: req.client, op: req.op.f, db: req.db, reason: decision.result.ok ? '' : decision.result.message });
        reply(decision.result);
        return;
      }
      if ('login' in decision) {
        reply(decision.login);
        return;
      }
    }
    if (isReadOnly(req.op)) {
      this.counters.reads++;
      this.read(req, req.op as ReadOp | Exclude<AdminReadOp, { f: 'auth.login' }>, reply);
    } else {
      this.counters.writes++;
      this.write(req, reply);
    }
  }

  private read(req: Request, op: ReadOp | Exclude<AdminReadOp, { f: 'auth.login' }>, reply: Reply): void {
    const result = executeRead(this.store.view, req.db, op);
    if (this.durableSeq >= this.appliedSeq) reply(result);
    else this.heldReads.push({ durableSeqNeeded: this.appliedSeq, reply, result });
  }

  private write(req: Request, reply: Reply): void {
    const { result, writes } = executeWrite(this.store.view, req, { duplicateApply: this.config.bugs.has('duplicate-apply') });
    if (writes.length === 0) {
      reply(result);
      return;
    }
    const seq = ++this.appliedSeq;
    this.inFlight++;
    this.store.apply(writes, (err) => {
      this.inFlight--;
      if (err !== null) {
        // The store could not make the write durable: its outcome is unknown to the client, and
        // this node must not go on as if it were stored. Stop serving.
        this.env.log.log('error', 'node.store_failed', { error: err.message });
        reply({ ok: false, code: 'internal', message: `storage failed: ${err.message}` });
        this.stop();
        return;
      }
      assert(seq === this.durableSeq + 1, () => `store completed write ${seq} out of order (durable ${this.durableSeq})`);
      this.durableSeq = seq;
      reply(result);
      this.releaseReads();
    });
  }

  private releaseReads(): void {
    while (this.heldReads.length > 0 && (this.heldReads[0] as HeldRead).durableSeqNeeded <= this.durableSeq) {
      const held = this.heldReads.shift() as HeldRead;
      held.reply(held.result);
    }
  }

  private send(to: string, response: Response): void {
    if (!this.stopped) this.env.net.send(to, encodeMessage(response));
  }
}

export type { Result };
