import type { Env } from '../env/env.js';
import { assert } from '../util/assert.js';
import { executeRead, executeWrite } from './kv-state.js';
import { isReadOnly, type Request, type Result } from './protocol.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import type { NodeStore } from './store.js';

/** Reads answered but held back until the writes they saw are durable. */
interface HeldRead {
  durableSeqNeeded: number;
  reply: Reply;
  result: Result;
}

/**
 * Replication `none`: one server. It applies each write to its store at once (so later writes
 * build on it) and answers when the store says it is durable; it answers a read only once every
 * write the read could see is durable, so no client ever sees a value that a crash could still
 * take back.
 */
export class SingleReplica implements Replica {
  private appliedSeq = 0;
  private durableSeq = 0;
  private readonly heldReads: HeldRead[] = [];
  private writesInFlight = 0;
  private stopped = false;

  constructor(
    private readonly env: Env,
    private readonly store: NodeStore,
    private readonly duplicateApply: boolean,
    private readonly onFatal: (err: Error) => void,
  ) {}

  submit(req: Request, reply: Reply): void {
    if (req.op.f === 'member.add' || req.op.f === 'member.remove' || req.op.f === 'node.promote') {
      reply({ ok: false, code: 'bad_request', message: `${req.op.f} needs replicas (this node serves alone)` });
      return;
    }
    if (isReadOnly(req.op)) this.read(req, reply);
    else this.write(req, reply);
  }

  receivePeer(from: string, body: Record<string, unknown>): void {
    this.env.log.log('warn', 'node.unexpected_message', { from, kind: String(body.kind) });
  }

  private read(req: Request, reply: Reply): void {
    const now = this.readNow(req);
    if (now !== null) reply(now);
    else this.heldReads.push({ durableSeqNeeded: this.appliedSeq, reply, result: this.execute(req) });
  }

  /** A read sees only durable writes: at once unless a write it would see is still being synced. */
  readNow(req: Request): Result | null {
    return this.durableSeq >= this.appliedSeq ? this.execute(req) : null;
  }

  private execute(req: Request): Result {
    return executeRead(this.store.view, req.db, req.op as Parameters<typeof executeRead>[2]);
  }

  private write(req: Request, reply: Reply): void {
    const { result, writes } = executeWrite(this.store.view, req, { duplicateApply: this.duplicateApply });
    if (writes.length === 0) {
      reply(result);
      return;
    }
    const seq = ++this.appliedSeq;
    this.writesInFlight++;
    this.store.apply(writes, (err) => {
      this.writesInFlight--;
      if (this.stopped) return;
      if (err !== null) {
        // The store could not make the write durable: its outcome is unknown to the client, and
        // this node must not go on as if it were stored. Stop serving.
        reply({ ok: false, code: 'internal', message: `storage failed: ${err.message}` });
        this.onFatal(err);
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

  inFlight(): number {
    return this.writesInFlight;
  }

  status(): ReplicaStatus {
    return {
      role: this.stopped ? 'stopped' : 'leader',
      term: 0,
      leader: this.stopped ? null : this.env.id,
      members: [this.env.id],
      commitIndex: this.durableSeq,
      appliedIndex: this.appliedSeq,
      inFlight: this.writesInFlight,
    };
  }

  stop(): void {
    this.stopped = true;
  }
}
