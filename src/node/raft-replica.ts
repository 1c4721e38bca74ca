import type { Env } from '../env/env.js';
import { entryDigest } from '../replication/raft/digest.js';
import { makeMembership } from '../replication/raft/membership.js';
import { raftOptions } from '../replication/raft/options.js';
import type { Entry, Index, ReadState, Snapshot, SoftState } from '../replication/raft/types.js';
import { decodeRaftFrame, RaftRuntime, type RaftStateMachine } from '../replication/raft-runtime/runtime.js';
import { SCAN_LIMIT_MAX } from '../storage/engine.js';
import { assert } from '../util/assert.js';
import type { BugName } from './bugs.js';
import { executeRead, executeWrite, type StorageWrite } from './kv-state.js';
import { isReadOnly, type Request, type Result } from './protocol.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import type { NodeStore } from './store.js';

/**
 * Replication `raft`: every write goes through the Raft log and is answered once committed and
 * applied; every read goes through ReadIndex (the leader confirms it still leads, then answers
 * from state at least as new as its commit index). Followers refuse with the leader's name, and
 * the client goes there.
 *
 * The state machine keeps its applied index in the store, in the same atomic batch as the
 * entries' writes (one batch per Ready), so after a restart a durable engine says exactly which entries it already holds.
 */

export interface RaftReplicaConfig {
  members: string[];
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEntries: number;
  keepEntries: number;
  leaseReads: boolean;
  maxMsgBytes: number;
  preVote: boolean;
  checkQuorum: boolean;
  bugs: ReadonlySet<BugName>;
  /** Original member of a new cluster (false: joins later and receives the log). */
  original: boolean;
  onApply?: (node: string, index: number, term: number, digest: string) => void;
}

/**
 * Defaults for a served node. snapshotEntries: a snapshot encodes the whole state, so taking one
 * every 10,000 entries cost a busy node (10k writes/s) 6-8% of its CPU; etcd settled on 100,000
 * (its --snapshot-count) for the same reason. The price is the log kept in memory and replayed at
 * a restart: about 35 MB for 100,000 small writes. The simulator has its own (sim/scenario.ts).
 */
export const DEFAULT_RAFT_REPLICA = { tickMs: 20, electionTicks: 10, heartbeatTicks: 1, snapshotEntries: 100_000, keepEntries: 1_000, leaseReads: false, maxMsgBytes: 64 * 1024, preVote: true, checkQuorum: true } as const;

/** The state machine's own record of the last applied log position. */
const APPLIED_KEY = '\x01a';

interface PendingWrite {
  term: number;
  reply: Reply | null;
}

interface PendingRead {
  req: Request;
  reply: Reply;
  /** Known once the ReadState arrives. */
  index: Index | null;
}

export class RaftReplica implements Replica, RaftStateMachine {
  private runtime: RaftRuntime | null = null;
  private applied: Index;
  private readonly pendingWrites = new Map<Index, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private readCounter = 0;
  private stopped = false;
  /** Learners this node, as leader, added and should promote once they have caught up. */
  private readonly toPromote = new Set<string>();
  private soft: SoftState = { leader: null, role: 'follower' };

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
          bugs: {
            commitPreviousTermByCount: bugs.has('commit-previous-term'),
            voteWithoutPersist: bugs.has('vote-without-persist'),
            readWithoutReadIndex: bugs.has('read-without-read-index'),
          },
        }),
        tickMs: config.tickMs,
        snapshotEntries: config.snapshotEntries,
        keepEntries: config.keepEntries,
        skipLogFsync: bugs.has('skip-log-fsync'),
        dir: 'raft',
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
    if (isReadOnly(req.op)) this.read(rt, req, reply);
    else this.write(rt, req, reply);
  }

  private write(rt: RaftRuntime, req: Request, reply: Reply): void {
    if (req.op.f === 'member.add' || req.op.f === 'member.remove') return this.changeMembership(rt, req.op.f, req.op.node, reply);
    if (req.op.f === 'node.promote') {
      reply({ ok: false, code: 'bad_request', message: 'Raft elects its leaders; to move leadership, stop the leader or use a transfer' });
      return;
    }
    const r = rt.raft.propose(utf8Encoder.encode(JSON.stringify(req)));
    if (!r.ok) {
      reply(refusal(r.reason, 'leader' in r ? r.leader : null, 'detail' in r ? r.detail : ''));
      return;
    }
    if (this.config.bugs.has('ack-before-commit')) {
      // The bug: answer with what applying it now would give, before a majority has it.
      reply(executeWrite(this.store.view, req, { duplicateApply: this.config.bugs.has('duplicate-apply') }).result);
      this.pendingWrites.set(r.index, { term: r.term, reply: null });
    } else this.pendingWrites.set(r.index, { term: r.term, reply });
    rt.drive();
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
    this.pendingWrites.set(r.index, { term: r.term, reply });
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
      if (p !== undefined) p.index = rs.index;
    }
    this.serveReads();
  }

  private serveReads(): void {
    for (const [ctx, p] of this.pendingReads) {
      if (p.index === null || p.index > this.applied) continue;
      this.pendingReads.delete(ctx);
      p.reply(executeRead(this.store.view, p.req.db, p.req.op as Parameters<typeof executeRead>[2]));
    }
  }

  private softStateChanged(s: SoftState): void {
    this.soft = s;
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
    const m = decodeRaftFrame(body);
    if (m === null) {
      this.env.log.log('warn', 'raft.bad_message', { from });
      return;
    }
    this.runtime.receive(from, m);
  }

  // ---- the state machine (RaftStateMachine) ----

  appliedIndex(): Index {
    return this.applied;
  }

  apply(entry: Entry): void {
    assert(entry.index === this.applied + 1, () => `apply ${entry.index} after ${this.applied}`);
    this.applied = entry.index;
    // One engine batch per Ready (flushed in onApplied): the entries' applied-index and session
    // rewrites collapse, and the engine logs one record instead of one per entry.
    this.store.hold();
    this.config.onApply?.(this.env.id, entry.index, entry.term, entryDigest(entry));
    const pending = this.pendingWrites.get(entry.index);
    if (pending !== undefined) this.pendingWrites.delete(entry.index);
    if (entry.type !== 'normal' || entry.data.length === 0) {
      this.persist([[APPLIED_KEY, String(entry.index)]]);
      if (pending?.reply) {
        // A membership change of ours, committed; or our proposal was overwritten by a new leader.
        if (entry.type === 'config' && pending.term === entry.term) {
          const m = this.runtime?.raft.membership();
          pending.reply({ ok: true, value: m ? { voters: [...m.voters], learners: [...m.learners] } : null });
        } else pending.reply({ ok: false, code: 'unavailable', message: 'leadership changed before the write committed' });
      }
      return;
    }
    // Parsed from the entry's bytes even on the leader that proposed it: every replica applies the
    // same bytes the same way (an object kept from the proposal could hold what JSON does not
    // round-trip, such as a number too large for it).
    const req = JSON.parse(utf8Decoder.decode(entry.data)) as Request;
    const { result, writes } = executeWrite(this.store.view, req, { duplicateApply: this.config.bugs.has('duplicate-apply') });
    writes.push([APPLIED_KEY, String(entry.index)]);
    this.persist(writes);
    if (pending?.reply) {
      if (pending.term === entry.term) pending.reply(result);
      else pending.reply({ ok: false, code: 'unavailable', message: 'leadership changed before the write committed' });
    }
  }

  private persist(writes: StorageWrite[]): void {
    // The Raft log is what makes an entry durable; the store may lag behind it, and after a crash
    // the log replays what the store lost (its applied index says where to start).
    this.store.apply(writes, (err) => {
      if (err !== null) this.fatal(err);
    });
  }

  encodeSnapshot(): Uint8Array {
    const entries: [string, string][] = [];
    let start = '';
    for (;;) {
      const page = this.store.view.scan(start, null, SCAN_LIMIT_MAX, false);
      for (const kv of page) if (kv[0] !== APPLIED_KEY) entries.push(kv);
      if (page.length < SCAN_LIMIT_MAX) break;
      start = (page[page.length - 1] as [string, string])[0] + '\x00';
    }
    return new TextEncoder().encode(JSON.stringify(entries));
  }

  restore(snapshot: Snapshot): void {
    const writes: StorageWrite[] = [];
    let start = '';
    for (;;) {
      const page = this.store.view.scan(start, null, SCAN_LIMIT_MAX, false);
      for (const [k] of page) writes.push([k, null]);
      if (page.length < SCAN_LIMIT_MAX) break;
      start = (page[page.length - 1] as [string, string])[0] + '\x00';
    }
    if (snapshot.data.length > 0) {
      for (const kv of JSON.parse(new TextDecoder().decode(snapshot.data)) as [string, string][]) writes.push(kv);
    }
    writes.push([APPLIED_KEY, String(snapshot.meta.index)]);
    this.persist(writes);
    this.applied = snapshot.meta.index;
    // Proposals at or below the snapshot can no longer be matched to their entries.
    for (const [index, p] of this.pendingWrites) {
      if (index > snapshot.meta.index) continue;
      this.pendingWrites.delete(index);
      p.reply?.({ ok: false, code: 'timeout', message: 'outcome unknown: the log was replaced by a snapshot' });
    }
  }

  // ---- lifecycle ----

  private fatal(err: Error): void {
    if (this.stopped) return;
    this.env.log.log('error', 'raft.fatal', { error: err.message });
    this.onFatal(err);
  }

  inFlight(): number {
    return this.pendingWrites.size + this.pendingReads.size;
  }

  status(): ReplicaStatus {
    const rt = this.runtime;
    if (rt === null || this.stopped) {
      return { role: 'stopped', term: 0, leader: null, members: this.config.members, commitIndex: 0, appliedIndex: this.applied, inFlight: 0 };
    }
    const m = rt.raft.membership();
    const role = this.soft.role === 'leader' ? 'leader' : this.soft.role === 'follower' ? (m.learners.includes(this.env.id) ? 'learner' : 'follower') : 'candidate';
    return {
      role,
      term: rt.raft.hardState().term,
      leader: this.soft.leader,
      members: [...m.voters, ...m.learners],
      commitIndex: rt.raft.commitIndex(),
      appliedIndex: this.applied,
      inFlight: this.pendingWrites.size + this.pendingReads.size,
    };
  }

  /** The core, for the simulator's safety observers. */
  get raftNode() {
    return this.runtime?.raft ?? null;
  }

  stop(): void {
    this.stopped = true;
    this.runtime?.stop();
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

function refusal(reason: string, leader: string | null, detail: string): Result {
  if (reason === 'notLeader') {
    return { ok: false, code: 'not_leader', message: leader === null ? 'no leader known yet' : `the leader is ${leader}`, ...(leader !== null ? { leader } : {}) };
  }
  return { ok: false, code: 'unavailable', message: `${reason}${detail ? `: ${detail}` : ''}` };
}
