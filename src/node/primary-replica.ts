import type { Env } from '../env/env.js';
import { LogShipping, type ShippingMessage } from '../replication/primary/shipping.js';
import type { BugName } from './bugs.js';
import { PRIMARY_APPLIED_KEY } from './keyspace.js';
import { executeRead, executeWrite } from './kv-state.js';
import { isReadOnly, loggedRequestJson, requestFromLog, type Request, type Result } from './protocol.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import type { NodeStore } from './store.js';

/**
 * Replication `primary`: the seed projects' leader→follower log shipping (see
 * src/replication/primary/shipping.ts for the design and what it gives up). The leader answers a
 * write once its own log has it; followers get it later. Every node answers reads from its own
 * state. Writes sent to a follower are refused with the leader's name.
 */
export interface PrimaryConfig {
  members: string[];
  /** The leader the cluster starts with (an operator may promote another later). */
  leader: string;
  shipIntervalMs: number;
  bugs: ReadonlySet<BugName>;
}

/** The state machine's record of the last command it applied, in the same batch as the command. */
const APPLIED_KEY = PRIMARY_APPLIED_KEY;

export class PrimaryReplica implements Replica {
  private shipping: LogShipping | null = null;
  private applied: number;
  /** Results of the leader's own commands, by sequence number, until their log record is durable. */
  private readonly results = new Map<number, Result>();
  private stopped = false;

  constructor(
    private readonly env: Env,
    private readonly store: NodeStore,
    private readonly config: PrimaryConfig,
    private readonly onFatal: (err: Error) => void,
    onStarted: (err: Error | null) => void,
  ) {
    const raw = store.view.get(APPLIED_KEY);
    this.applied = raw === undefined ? 0 : Number(raw);
    LogShipping.start(
      env,
      { dir: 'primary', shipIntervalMs: config.shipIntervalMs, batchRecordsMax: 1000 },
      config.members,
      config.leader,
      {
        apply: (seq, data) => this.apply(seq, data),
        onRole: (role, leader, epoch) => env.log.log('info', 'primary.role', { role, leader, epoch }),
        onFatal: (err) => this.onFatal(err),
      },
      (err, s) => {
        if (err === null && s !== undefined) this.shipping = s;
        onStarted(err);
      },
    );
  }

  private apply(seq: number, data: Uint8Array): void {
    // After a restart the log replays commands a durable engine already holds.
    if (seq <= this.applied) return;
    this.applied = seq;
    const req = requestFromLog(JSON.parse(new TextDecoder().decode(data)));
    const { result, writes } = executeWrite(this.store.view, req, { duplicateApply: this.config.bugs.has('duplicate-apply') });
    writes.push([APPLIED_KEY, String(seq)]);
    this.store.apply(writes, (err) => {
      if (err !== null) this.onFatal(err);
    });
    if (this.shipping?.role === 'leader' || this.shipping === null) this.results.set(seq, result);
  }

  submit(req: Request, reply: Reply): void {
    const s = this.shipping;
    if (s === null || this.stopped) {
      reply({ ok: false, code: 'unavailable', message: 'the node is starting or stopped' });
      return;
    }
    if (req.op.f === 'member.add' || req.op.f === 'member.remove') {
      reply({ ok: false, code: 'bad_request', message: `${req.op.f} needs replication raft` });
      return;
    }
    if (req.op.f === 'node.promote') {
      // The operator's failover: this node leads a new epoch, whatever it has or lacks.
      s.promote();
      reply({ ok: true, value: { leader: this.env.id, epoch: s.epoch } });
      return;
    }
    if (isReadOnly(req.op)) {
      // Any node answers from what it has applied: the seeds' design, and its stale reads.
      reply(executeRead(this.store.view, req.db, req.op as Parameters<typeof executeRead>[2]));
      return;
    }
    if (s.role !== 'leader') {
      reply({ ok: false, code: 'not_leader', message: s.leader === null ? 'no leader known' : `the leader is ${s.leader}`, ...(s.leader !== null ? { leader: s.leader } : {}) });
      return;
    }
    s.append(new TextEncoder().encode(loggedRequestJson(req)), (err, seq) => {
      const result = this.results.get(seq);
      this.results.delete(seq);
      if (err !== null) reply({ ok: false, code: 'internal', message: `log write failed: ${err.message}` });
      else reply(result ?? { ok: false, code: 'internal', message: 'no result recorded' });
    });
  }

  receivePeer(from: string, body: Record<string, unknown>): void {
    if (this.shipping === null || this.stopped) return;
    if (body.kind === 'ship' || body.kind === 'catchup') this.shipping.receive(from, body as unknown as ShippingMessage);
    else this.env.log.log('warn', 'primary.unexpected_message', { from, kind: String(body.kind) });
  }

  inFlight(): number {
    return this.results.size;
  }

  status(): ReplicaStatus {
    const s = this.shipping;
    return {
      role: this.stopped || s === null ? 'stopped' : s.role,
      term: s?.epoch ?? 0,
      leader: s?.leader ?? null,
      members: this.config.members,
      commitIndex: s?.lastSeq ?? 0,
      appliedIndex: this.applied,
      inFlight: this.results.size,
    };
  }

  stop(): void {
    this.stopped = true;
    this.shipping?.stop();
  }
}
