import type { GroupLog } from '../replication/raft-runtime/shared-log.js';
import type { Env } from '../env/env.js';
import { entryDigest } from '../replication/raft/digest.js';
import { makeMembership } from '../replication/raft/membership.js';
import { raftOptions } from '../replication/raft/options.js';
import type { Entry, Index, ReadState, SnapshotMeta, SoftState } from '../replication/raft/types.js';
import type { ProposeResult, TransferResult } from '../replication/raft/results.js';
import type { ConfChange } from '../replication/raft/confchange.js';
import { decodeRaftFrame, RaftRuntime, type RaftRuntimeHooks, type RaftStateMachine, type RecoveryStatus, type SnapshotInstaller, type SnapshotSource } from '../replication/raft-runtime/runtime.js';
import { StorageCorruptionError } from '../storage/errors.js';
import { assert } from '../util/assert.js';
import { failpoint } from '../util/failpoints.js';
import type { BugName } from './bugs.js';
import { keyAfter, NODE_LOCAL_KEYS, RAFT_APPLIED_KEY } from './keyspace.js';
import type { RaftTuning } from './raft-tuning.js';
import { executeRead, executeWrite, executeWriteOnce, type KvView, type StorageWrite } from './kv-state.js';
import { decodeLogEntry, encodeLogRecord, logEntryText, type LogRecord } from './log-records.js';
import { isReadOnly, isTxnOp, type Request, type Result } from './protocol.js';
import { executeTxnApply, isTxnApply } from './txn-apply.js';
import { TxnService, type TxnHost } from './txn-service.js';
import { executeShardTxn, isShardTxnRecord } from './shard-txn-apply.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import { decodeStateBlock, StateSnapshotSource } from './state-snapshot.js';
import type { NodeStore } from './store.js';
import { RAFT_DIR } from './data-dir.js';
import { dropFailedRead, guardReads, readGuardedClock, replicaFailed } from './engine-repair.js';

/**
 * Replication `raft`: every write goes through the Raft log and is answered once committed and
 * applied; every read goes through ReadIndex (the leader confirms it still leads, then answers
 * from state at least as new as its commit index). Followers refuse with the leader's name, and
 * the client goes there.
 *
 * The state machine keeps its applied index in the store, in the same atomic batch as the
 * entries' writes (one batch per Ready), so after a restart a durable engine says exactly which entries it already holds.
 */

export interface RaftReplicaConfig extends RaftTuning {
  members: string[];
  bugs: ReadonlySet<BugName>;
  /** Original member of a new cluster (false: joins later and receives the log). */
  original: boolean;
  onApply?: (node: string, index: number, term: number, digest: string, data: Uint8Array | null) => void;
  /** Below this much free disk space the node takes no new entries from a leader (RaftRuntimeOptions). */
  diskReserveBytes?: number;
  /** The group's part of its node's shared Raft log (a sharded node's; RaftRuntimeOptions.sharedLog). */
  sharedLog?: GroupLog;
  /** Repairs of the state machine from the group (RaftRuntimeHooks.onRepair), for the lab's repair check. */
  onRepair?: RaftRuntimeHooks['onRepair'];
}

/** The state machine's own record of the last applied log position. */
const APPLIED_KEY = RAFT_APPLIED_KEY;
assert(NODE_LOCAL_KEYS.has(APPLIED_KEY), 'the applied key is node-local');
/** Keys deleted per batch while a snapshot replaces the state. */
const RESTORE_PAGE = 1024;

interface PendingWrite {
  term: number;
  /** The proposer's answer, for an entry of one request (or a membership change). */
  reply: Reply | null;
  /** For an entry that carries a batch of requests: their answers, in the batch's order. */
  replies?: Reply[];
}

/**
 * Requests a leader packs into one log entry. Writes gathered until the runtime's next Ready
 * (from every client and gateway; while the previous Ready's entries are being fsynced, that is
 * everything arriving meanwhile) share an entry: one proposal, one entry to encode, ship, log and
 * apply instead of one each, as TiKV batches commands into one entry. Each request keeps its own
 * session and result. Bounded so an entry stays well under a message (maxMsgBytes).
 */
export const PROPOSAL_BATCH_MAX = 128;
export const PROPOSAL_BATCH_BYTES = 32 * 1024;

interface Proposal {
  /** The request as a log record (log-records.ts). */
  record: string;
  reply: Reply;
}

interface PendingRead {
  /** null: a transaction's read barrier, which runs `then` instead of answering. */
  req: Request | null;
  then?: () => void;
  /** A transaction's read: the state must also reach this index (TxnService's fence). */
  minIndex?: Index;
  reply: Reply;
  /** Known once the ReadState arrives. */
  index: Index | null;
}

export class RaftReplica implements Replica, RaftStateMachine {
  private runtime: RaftRuntime | null = null;
  private applied: Index;
  private readonly pendingWrites = new Map<Index, PendingWrite>();
  /** Requests waiting in pendingWrites (an entry may carry many). */
  private writesAwaiting = 0;
  /** Writes gathered for the next proposal. */
  private batch: Proposal[] = [];
  private batchBytes = 0;
  private readonly pendingReads = new Map<string, PendingRead>();
  private readCounter = 0;
  private stopped = false;
  /** Learners this node, as leader, added and should promote once they have caught up. */
  private readonly toPromote = new Set<string>();
  private soft: SoftState = { leader: null, role: 'follower' };
  private restoringTo: Index | null = null;
  /** Interactive transactions: lock and transaction tables while this node leads (txn-service.ts). */
  private readonly txns: TxnService;
  /** The same access to this group for a sharded node's cross-shard transactions (shard-txn.ts). */
  readonly txnHost: TxnHost;
  /**
   * The store as transactions read it: a read that meets a rotten engine file fails this replica
   * on the spot, as a rotten read in apply does, before the error unwinds to the transaction
   * code's entry point, which drops it (engine-repair.ts, guardReads).
   */
  private readonly txnView: KvView = {
    get: (key) => this.readOrFail(() => this.store.view.get(key)),
    scan: (start, end, limit, reverse) => this.readOrFail(() => this.store.view.scan(start, end, limit, reverse)),
  };

  constructor(
    private readonly env: Env,
    private readonly store: NodeStore,
    private readonly config: RaftReplicaConfig,
    private readonly onFatal: (err: Error) => void,
    onStarted: (err: Error | null) => void,
  ) {
    const raw = store.view.get(APPLIED_KEY);
    this.applied = raw === undefined ? 0 : Number(raw);
    const bugs = config.bugs;
    this.txnHost = {
      // Its timers (the transactions' sweep) drop a read error this replica failed on (txnView).
      clock: readGuardedClock(env.clock),
      log: env.log,
      bugs,
      view: () => this.txnView,
      leaderTerm: () => (this.soft.role === 'leader' && this.runtime !== null && !this.stopped ? this.runtime.raft.hardState().term : null),
      notLeader: () => refusal('notLeader', this.soft.leader, ''),
      readBarrier: (then, refused, minIndex) => this.readBarrier(then, refused, minIndex),
      fenceIndex: () => {
        this.proposeBatch();
        return this.runtime?.raft.lastIndex() ?? 0;
      },
      propose: (record, reply) => this.proposeRecord(record, reply),
    };
    this.txns = new TxnService(this.txnHost);
    RaftRuntime.start(
      env,
      {
        bootstrap: config.original ? makeMembership(config.members) : null,
        raft: raftOptions({
          electionTicks: config.electionTicks,
          heartbeatTicks: config.heartbeatTicks,
          readOnly: config.leaseReads ? 'leaseBased' : 'safe',
          maxMsgBytes: config.maxMsgBytes,
          preVote: config.preVote,
          checkQuorum: config.checkQuorum,
          appendBeforePersist: config.appendBeforePersist,
          bugs: {
            commitPreviousTermByCount: bugs.has('commit-previous-term'),
            voteWithoutPersist: bugs.has('vote-without-persist'),
            readWithoutReadIndex: bugs.has('read-without-read-index'),
          },
        }),
        tickMs: config.tickMs,
        snapshotEntries: config.snapshotEntries,
        snapshotBytes: config.snapshotBytes,
        keepEntries: config.keepEntries,
        keepBytes: config.keepBytes,
        logSegmentBytes: config.logSegmentBytes,
        logBlockBytes: config.logBlockBytes,
        skipLogFsync: bugs.has('skip-log-fsync'),
        hardStateCopies: config.hardStateCopies,
        dir: RAFT_DIR,
        transfer: { chunkBytes: config.snapshotChunkBytes, windowChunks: config.snapshotWindowChunks, timeoutMs: config.snapshotTimeoutMs, syncBytes: config.snapshotSyncBytes },
        snapshotYieldMs: config.snapshotYieldMs,
        ...(config.diskReserveBytes !== undefined ? { diskReserveBytes: config.diskReserveBytes } : {}),
        ...(config.sharedLog !== undefined ? { sharedLog: config.sharedLog } : {}),
      },
      this,
      {
        onSoftState: (s) => this.softStateChanged(s),
        onReadStates: (rs) => this.readStates(rs),
        onApplied: () => {
          this.store.flush();
          this.serveReads();
          this.promoteLearners();
        },
        onFatal: (err) => this.fatal(err),
        ...(config.onRepair !== undefined ? { onRepair: config.onRepair } : {}),
      },
      (err, rt) => {
        if (err === null && rt !== undefined) this.runtime = rt;
        onStarted(err);
      },
    );
  }

  // ---- requests ----

  submit(req: Request, reply: Reply): void {
    const rt = this.runtime;
    if (rt === null || this.stopped) {
      reply({ ok: false, code: 'unavailable', message: 'the node is starting or stopped' });
      return;
    }
    // A rotten table under a transaction's read failed this replica (txnView): no answer, the node stops.
    if (isTxnOp(req.op)) guardReads(() => this.txns.submit(req, reply));
    else if (isReadOnly(req.op)) this.read(rt, req, reply);
    else this.write(rt, req, reply);
  }

  /** A transaction's commit entry (or any record this leader makes itself), gathered like a client's write. */
  private proposeRecord(record: string, reply: Reply): void {
    const rt = this.runtime;
    if (rt === null || this.stopped || this.soft.role !== 'leader') {
      reply(refusal('notLeader', this.soft.leader, ''));
      return;
    }
    this.batch.push({ record, reply });
    this.batchBytes += record.length;
    if (this.batch.length >= PROPOSAL_BATCH_MAX || this.batchBytes >= PROPOSAL_BATCH_BYTES) this.proposeBatch();
    rt.drive();
  }

  /** ReadIndex for a transaction's read: then runs once the state is as new as the confirmed commit index. */
  private readBarrier(then: () => void, refused: Reply, minIndex: Index): void {
    const rt = this.runtime;
    if (rt === null || this.stopped) {
      refused({ ok: false, code: 'unavailable', message: 'the node is starting or stopped' });
      return;
    }
    const ctx = `${this.env.id}.${++this.readCounter}`;
    const r = rt.raft.readIndex(ctx);
    if (!r.ok) {
      refused(refusal(r.reason, 'leader' in r ? r.leader : null, 'detail' in r ? r.detail : ''));
      return;
    }
    this.pendingReads.set(ctx, { req: null, then, reply: refused, index: null, minIndex });
    rt.drive();
  }

  private write(rt: RaftRuntime, req: Request, reply: Reply): void {
    if (req.op.f === 'member.add' || req.op.f === 'member.remove') return this.changeMembership(rt, req.op.f, req.op.node, reply);
    if (req.op.f === 'node.promote') {
      reply({ ok: false, code: 'bad_request', message: 'Raft elects its leaders; to move leadership, stop the leader or use a transfer' });
      return;
    }
    if (this.soft.role === 'leader' && rt.logBacklogged()) {
      reply({ ok: false, code: 'unavailable', message: 'the log is waiting for a snapshot to be written: retry shortly' });
      return;
    }
    const record = encodeLogRecord(req);
    if (this.soft.role === 'leader' && !this.config.bugs.has('ack-before-commit')) {
      // Pinned against transactions until applied (txn-service.ts).
      reply = this.txns.pinWrite(req, reply);
      this.batch.push({ record, reply });
      this.batchBytes += record.length;
      if (this.batch.length >= PROPOSAL_BATCH_MAX || this.batchBytes >= PROPOSAL_BATCH_BYTES) this.proposeBatch();
      rt.drive();
      return;
    }
    // Not the leader (the core refuses at once, naming the leader), or the bug below.
    const r = rt.raft.propose(utf8Encoder.encode(logEntryText([record])));
    if (!r.ok) {
      reply(refusal(r.reason, 'leader' in r ? r.leader : null, 'detail' in r ? r.detail : ''));
      return;
    }
    if (this.config.bugs.has('ack-before-commit')) {
      // The bug: answer with what applying it now would give, before a majority has it.
      reply(executeWrite(this.store.view, req, { duplicateApply: this.config.bugs.has('duplicate-apply') }).result);
      this.setPending(r.index, { term: r.term, reply: null });
    } else this.setPending(r.index, { term: r.term, reply });
    rt.drive();
  }

  /** Proposes the gathered writes as one entry of their records, in order. */
  private proposeBatch(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    const rt = this.runtime;
    if (rt === null || this.stopped) {
      for (const p of batch) p.reply({ ok: false, code: 'unavailable', message: 'the node is starting or stopped' });
      return;
    }
    const only = batch.length === 1 ? (batch[0] as Proposal) : null;
    const r = rt.raft.propose(utf8Encoder.encode(logEntryText(batch.map((p) => p.record))));
    if (!r.ok) {
      for (const p of batch) p.reply(refusal(r.reason, 'leader' in r ? r.leader : null, 'detail' in r ? r.detail : ''));
      return;
    }
    if (only !== null) this.setPending(r.index, { term: r.term, reply: only.reply });
    else this.setPending(r.index, { term: r.term, reply: null, replies: batch.map((p) => p.reply) });
    failpoint('raft.proposed');
  }

  beforeReady(): void {
    this.proposeBatch();
  }

  hasGathered(): boolean {
    return this.batch.length > 0;
  }

  private setPending(index: Index, p: PendingWrite): void {
    this.pendingWrites.set(index, p);
    this.writesAwaiting += p.replies?.length ?? 1;
  }

  private takePending(index: Index): PendingWrite | undefined {
    const p = this.pendingWrites.get(index);
    if (p !== undefined) {
      this.pendingWrites.delete(index);
      this.writesAwaiting -= p.replies?.length ?? 1;
    }
    return p;
  }

  /**
   * One server at a time: an added node becomes a learner (it receives the log without voting),
   * and the leader promotes it once it holds every committed entry (promoteLearners). Answered when
   * the config entry is applied. Asking for what already holds answers at once: a retry is harmless.
   */
  private changeMembership(rt: RaftRuntime, f: 'member.add' | 'member.remove', node: string, reply: Reply): void {
    const m = rt.raft.membership();
    const member = m.voters.includes(node) || m.learners.includes(node);
    if (rt.raft.softState().role === 'leader' && (f === 'member.add') === member) {
      reply({ ok: true, value: { voters: [...m.voters], learners: [...m.learners] } });
      return;
    }
    const r = rt.raft.proposeConfChange(f === 'member.add' ? { type: 'addLearner', node } : { type: 'removeNode', node });
    if (!r.ok) {
      reply(refusal(r.reason, 'leader' in r ? r.leader : null, 'detail' in r ? r.detail : ''));
      return;
    }
    if (f === 'member.add') this.toPromote.add(node);
    this.setPending(r.index, { term: r.term, reply });
    rt.drive();
  }

  /** The leader promotes learners it added once they have caught up (the core refuses before). */
  private promoteLearners(): void {
    const rt = this.runtime;
    if (rt === null || this.toPromote.size === 0 || rt.raft.softState().role !== 'leader') return;
    const learners = rt.raft.membership().learners;
    for (const node of [...this.toPromote]) {
      if (!learners.includes(node)) {
        if (rt.raft.membership().voters.includes(node)) this.toPromote.delete(node);
        continue;
      }
      const r = rt.raft.proposeConfChange({ type: 'promoteLearner', node });
      if (r.ok) {
        this.env.log.log('info', 'raft.promote', { learner: node, index: r.index });
        rt.drive();
      }
      return; // one change at a time
    }
  }

  private read(rt: RaftRuntime, req: Request, reply: Reply): void {
    const ctx = `${this.env.id}.${++this.readCounter}`;
    const r = rt.raft.readIndex(ctx);
    if (!r.ok) {
      reply(refusal(r.reason, 'leader' in r ? r.leader : null, 'detail' in r ? r.detail : ''));
      return;
    }
    this.pendingReads.set(ctx, { req, reply, index: null });
    rt.drive();
  }

  private readStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const p = this.pendingReads.get(rs.requestCtx);
      if (p !== undefined) p.index = Math.max(rs.index, p.minIndex ?? 0);
    }
    this.serveReads();
  }

  private serveReads(): void {
    for (const [ctx, p] of this.pendingReads) {
      if (p.index === null || p.index > this.applied) continue;
      this.pendingReads.delete(ctx);
      if (p.req === null) {
        // A transaction's read barrier: what it reads goes through txnView, which fails this
        // replica on a rotten table; the error stops here, not in the Raft runtime's callback.
        try {
          p.then?.();
        } catch (err) {
          if (!dropFailedRead(err)) throw err;
          return;
        }
      } else {
        let result: Result;
        try {
          result = executeRead(this.store.view, p.req.db, p.req.op as Parameters<typeof executeRead>[2]);
        } catch (err) {
          if (!(err instanceof StorageCorruptionError)) throw err;
          p.reply({ ok: false, code: 'unavailable', message: `${this.env.id} found its storage corrupt and stops to repair it` });
          return this.fatal(err);
        }
        p.reply(result);
      }
    }
  }

  private softStateChanged(s: SoftState): void {
    this.soft = s;
    this.txns.leadership(s.role === 'leader' && this.runtime !== null ? this.runtime.raft.hardState().term : null);
    if (s.role === 'leader') return;
    // The core drops reads it had not confirmed when leadership goes; tell their clients where to go.
    for (const [ctx, p] of this.pendingReads) {
      if (p.index !== null) continue;
      this.pendingReads.delete(ctx);
      p.reply(refusal('notLeader', s.leader, ''));
    }
  }

  receivePeer(from: string, body: Record<string, unknown>): void {
    if (this.runtime === null || this.stopped) return;
    if (body.kind === 'snapack') return this.runtime.receiveTransfer(from, body);
    if (body.kind === 'repair') return this.runtime.receiveRepair(from, body);
    const m = decodeRaftFrame(body);
    if (m === null) {
      this.env.log.log('warn', 'raft.bad_message', { from });
      return;
    }
    this.runtime.receive(from, m);
  }

  receiveSnapshotChunk(from: string, frame: Uint8Array): void {
    if (this.runtime === null || this.stopped) return;
    this.runtime.receiveTransfer(from, frame);
  }

  // ---- the state machine (RaftStateMachine) ----

  appliedIndex(): Index {
    return this.applied;
  }

  apply(entry: Entry): void {
    if (this.stopped) return;
    try {
      this.applyEntry(entry);
    } catch (err) {
      // An engine file that fails its checks under a read: this member cannot apply on (its
      // answer would be built on bytes it cannot trust). It stops, and its next start
      // quarantines the engine and repairs it from the group (KvNode.failRotten).
      if (!(err instanceof StorageCorruptionError)) throw err;
      this.fatal(err);
    }
  }

  private applyEntry(entry: Entry): void {
    assert(entry.index === this.applied + 1, () => `apply ${entry.index} after ${this.applied}`);
    this.applied = entry.index;
    // One engine batch per Ready (flushed in onApplied): the entries' applied-index and session
    // rewrites collapse, and the engine logs one record instead of one per entry.
    this.store.hold();
    this.config.onApply?.(this.env.id, entry.index, entry.term, entryDigest(entry), entry.type === 'normal' ? entry.data : null);
    const pending = this.takePending(entry.index);
    // Our proposal at this index is this entry only if the terms match (log matching); otherwise
    // a new leader overwrote it and its requests were never applied.
    const ours = pending !== undefined && pending.term === entry.term;
    if (entry.type !== 'normal' || entry.data.length === 0) {
      this.persist([[APPLIED_KEY, String(entry.index)]]);
      if (pending?.reply) {
        // A membership change of ours, committed; or our proposal was overwritten by a new leader.
        if (entry.type === 'config' && ours) {
          const m = this.runtime?.raft.membership();
          pending.reply({ ok: true, value: m ? { voters: [...m.voters], learners: [...m.learners] } : null });
        } else pending.reply(overwritten());
      }
      for (const reply of pending?.replies ?? []) reply(overwritten());
      return;
    }
    // Parsed from the entry's bytes even on the leader that proposed it: every replica applies the
    // same bytes the same way (an object kept from the proposal could hold what JSON does not
    // round-trip, such as a number too large for it).
    const records = decodeLogEntry(utf8Decoder.decode(entry.data));
    const options = { duplicateApply: this.config.bugs.has('duplicate-apply') };
    // The requests in order, each seeing the writes of those before it (the store shows an
    // applied write at once). Ours: the proposer's answers, one per record.
    const replies = !ours ? undefined : pending.replies ?? (pending.reply !== null ? [pending.reply] : undefined);
    for (let i = 0; i < records.length; i++) {
      const rec = records[i] as LogRecord;
      const reply = replies?.[i];
      const { result, writes } =
        rec.kind === 'write-once'
          ? executeWriteOnce(this.store.view, rec.db, rec.key, rec.valueJson, reply !== undefined)
          : isTxnApply(rec.req.op)
            ? executeTxnApply(this.store.view, rec.req.db, rec.req.op, entry.term)
            : isShardTxnRecord(rec.req.op)
              ? executeShardTxn(this.store.view, rec.req.db, rec.req.op, entry.term)
              : executeWrite(this.store.view, rec.req, options);
      this.persist(writes);
      reply?.(result);
    }
    this.persist([[APPLIED_KEY, String(entry.index)]]);
    if (!ours) {
      pending?.reply?.(overwritten());
      for (const reply of pending?.replies ?? []) reply(overwritten());
    }
  }

  private persist(writes: StorageWrite[]): void {
    // The Raft log is what makes an entry durable; the store may lag behind it, and after a crash
    // the log replays what the store lost (its applied index says where to start).
    this.store.apply(writes, (err) => {
      if (err !== null) this.fatal(err);
    });
  }

  durableAppliedIndex(): Index | null {
    return this.store.durableAppliedIndex();
  }

  makeDurable(done: (err: Error | null) => void): void {
    this.store.sync(done);
  }

  snapshotSource(): SnapshotSource {
    // Everything applied so far is in the store (held writes included): the frozen view is the
    // state at appliedIndex(), whatever is applied while the snapshot is being written.
    this.store.flush();
    return new StateSnapshotSource(this.store.frozenView(), NODE_LOCAL_KEYS, this.config.snapshotBlockBytes);
  }

  /**
   * Replaces the state by a snapshot's, in batches: every key goes (a page at a time), then the
   * snapshot's blocks are written as they come, and last the applied index. A crash in between
   * leaves the old applied index with part of the new state; the runtime then installs the
   * snapshot again at the next start (it is durable, and named by the log, before this begins).
   */
  beginRestore(meta: SnapshotMeta, done: (err: Error | null, installer?: SnapshotInstaller) => void): void {
    this.store.flush();
    this.restoringTo = meta.index;
    let start = '';
    const installer: SnapshotInstaller = {
      block: (data, blockDone) => {
        let records: [string, string][];
        try {
          records = decodeStateBlock(data);
        } catch (err) {
          return blockDone(err as Error);
        }
        this.persistThen(records.filter(([k]) => !NODE_LOCAL_KEYS.has(k)), blockDone);
      },
      finish: (finishDone) => this.persistThen([[APPLIED_KEY, String(meta.index)]], (err) => {
        if (err === null) this.restored(meta.index);
        finishDone(err);
      }),
    };
    const clear = () => {
      if (this.stopped) return;
      let page: [string, string][];
      try {
        page = this.store.view.scan(start, null, RESTORE_PAGE, false);
      } catch (err) {
        // A rotten engine file met while clearing: the install fails, and the node stops to
        // quarantine the engine (KvNode.failRotten); nothing is half cleared past a restart.
        return done(err as Error);
      }
      const last = page[page.length - 1];
      if (last !== undefined) start = keyAfter(last[0]);
      const writes: StorageWrite[] = page.filter(([k]) => k !== APPLIED_KEY).map(([k]) => [k, null]);
      this.persistThen(writes, (err) => {
        if (err !== null) return done(err);
        if (page.length < RESTORE_PAGE) return done(null, installer);
        if (this.config.snapshotYieldMs > 0) this.env.clock.timer(this.config.snapshotYieldMs, clear);
        else this.env.clock.defer(clear);
      });
    };
    clear();
  }

  /** The snapshot at `index` is the state now. */
  private restored(index: Index): void {
    this.applied = index;
    this.restoringTo = null;
    // Proposals at or below the snapshot can no longer be matched to their entries.
    for (const i of [...this.pendingWrites.keys()]) {
      if (i > index) continue;
      const p = this.takePending(i) as PendingWrite;
      const unknown: Result = { ok: false, code: 'timeout', message: 'outcome unknown: the log was replaced by a snapshot' };
      p.reply?.(unknown);
      for (const reply of p.replies ?? []) reply(unknown);
    }
  }

  /** The index of a snapshot being installed (the state is then partly old, partly new), or null. */
  get restoring(): Index | null {
    return this.restoringTo;
  }

  /** Where a snapshot this node receives has come to, and whom it sends one to (tests, status). */
  snapshotTransfers(): { receiving: { index: number; have: number; total: number } | null; sending: string[] } {
    return { receiving: this.runtime?.snapshotReceiving() ?? null, sending: this.runtime?.snapshotSending() ?? [] };
  }

  /** What the Raft runtime is doing (RaftRuntime.activity), or null before it runs. */
  activity(): ReturnType<RaftRuntime['activity']> | null {
    return this.runtime?.activity() ?? null;
  }

  /** Applies writes to the store and calls done once they are as durable as applies are. */
  private persistThen(writes: StorageWrite[], done: (err: Error | null) => void): void {
    if (writes.length === 0) return done(null);
    this.store.apply(writes, done);
  }

  // ---- lifecycle ----

  private readOrFail<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof StorageCorruptionError) {
        this.fatal(err);
        replicaFailed(err);
      }
      throw err;
    }
  }

  private fatal(err: Error): void {
    if (this.stopped) return;
    this.env.log.log('error', 'raft.fatal', { error: err.message });
    this.onFatal(err);
  }

  inFlight(): number {
    return this.writesAwaiting + this.batch.length + this.pendingReads.size;
  }

  status(): ReplicaStatus {
    const rt = this.runtime;
    if (rt === null || this.stopped) {
      return { role: 'stopped', term: 0, leader: null, members: this.config.members, commitIndex: 0, appliedIndex: this.applied, inFlight: 0 };
    }
    const m = rt.raft.membership();
    // A follower outside the voters does not vote: a learner, or a replica not yet told its
    // group's configuration (a new shard replica waiting for its first snapshot), which would
    // otherwise pass for a voter in `cluster status` and in add-node's wait.
    const role = this.soft.role === 'leader' ? 'leader' : this.soft.role === 'follower' ? (m.voters.includes(this.env.id) ? 'follower' : 'learner') : 'candidate';
    return {
      role,
      term: rt.raft.hardState().term,
      leader: this.soft.leader,
      members: [...m.voters, ...m.learners],
      commitIndex: rt.raft.commitIndex(),
      appliedIndex: this.applied,
      inFlight: this.inFlight(),
      ...withRecovery(rt.recovery()),
    };
  }

  /**
   * An operator's leadership transfer to `to` (the lab's `transfer` fault; thesis §3.10): the
   * core brings `to` up to date and tells it to campaign. null on a node that is not running.
   */
  transferLeadership(to: string): TransferResult | null {
    const rt = this.runtime;
    if (rt === null || this.stopped) return null;
    const r = rt.raft.transferLeadership(to);
    rt.drive();
    return r;
  }

  /**
   * A membership change this leader decided itself (the shard mover, src/node/shard-mover.ts),
   * proposed and driven; no one waits for its answer. null on a node that is not running.
   */
  proposeConfChange(change: ConfChange): ProposeResult | null {
    const rt = this.runtime;
    if (rt === null || this.stopped) return null;
    const r = rt.raft.proposeConfChange(change);
    if (r.ok) rt.drive();
    return r;
  }

  /** The core, for the simulator's safety observers. */
  get raftNode() {
    return this.runtime?.raft ?? null;
  }

  stop(): void {
    this.stopped = true;
    this.txns.stop();
    this.runtime?.stop();
    // Gathered writes were never proposed: certainly not applied.
    this.proposeBatch();
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

function overwritten(): Result {
  return { ok: false, code: 'unavailable', message: 'leadership changed before the write committed' };
}

function refusal(reason: string, leader: string | null, detail: string): Result {
  if (reason === 'notLeader') {
    return { ok: false, code: 'not_leader', message: leader === null ? 'no leader known yet' : `the leader is ${leader}`, ...(leader !== null ? { leader } : {}) };
  }
  return { ok: false, code: 'unavailable', message: `${reason}${detail ? `: ${detail}` : ''}` };
}

/** A status field only when there is something to say (RaftRuntime.recovery). */
function withRecovery(recovery: RecoveryStatus | null): { recovery?: RecoveryStatus } {
  return recovery === null ? {} : { recovery };
}
