import type { ShardMap } from '../cluster/placement/shard-map.js';
import type { Clock, Timer } from '../env/clock.js';
import type { Logger } from '../env/log.js';
import { TXN_LIMITS, type TxnLimits } from '../txn/txn-table.js';
import { assert } from '../util/assert.js';
import type { Json } from '../util/json.js';
import type { BugName } from './bugs.js';
import type { ReadOp, Request, Result, TxnOp, TxnWriteOp } from './protocol.js';
import type { Reply } from './replica.js';
import { recordResult, shardTxnRecord } from './shard-txn-apply.js';
import { Participants, type ParticipantRequest } from './shard-txn-participant.js';
import { mergeRanges } from './range-merge.js';
import { abortedResult, readTxnRecord } from './txn-apply.js';
import type { TxnHost } from './txn-service.js';

/**
 * Interactive transactions on a sharded cluster: two-phase commit across the shards' Raft groups
 * (src/txn/README.md has the design and its sources). This file is the coordinator and the
 * node-to-node calls; shard-txn-participant.ts the participants; shard-txn-apply.ts the entries.
 *
 * BEGIN picks a home shard this node leads; the id `<home>.<term>.<counter>` names it, so every
 * node can route the transaction's later commands there (a non-leader refers them, as it does any
 * request). The home leader runs the transaction: each read or write goes to the leader of the
 * key's shard (a participant), which locks and buffers; COMMIT sends PREPARE to every participant,
 * and on unanimous yes appends the decision to the home shard's log (the transaction record, as
 * CockroachDB keeps it in one range) before it answers the client; then tells the participants.
 * The coordinator's memory is a cache: a new home leader answers from the record, and a
 * transaction with no record and no live coordinator is aborted by writing the record (first
 * decision wins, shard-txn-apply.ts).
 */

export interface ShardTxnEnv {
  id: string;
  clock: Clock;
  log: Logger;
  bugs: ReadonlySet<BugName>;
  /** The shard map of the current member set (it changes as nodes join and leave). */
  map: () => ShardMap;
  send(to: string, message: StxnMessage): void;
  /** A hosted, started shard's group, or null. */
  group(shard: number): TxnHost | null;
  hosted(): number[];
}

export type StxnMessage =
  | { kind: 'stxn'; t: 'req'; rid: number; shard: number; body: ParticipantRequest | { f: 'query'; txn: string } }
  | { kind: 'stxn'; t: 'res'; rid: number; result: Result };

/** One attempt of a call waits this long for its answer before trying another replica. */
const ATTEMPT_MS = 250;
/** Pause before following a referral, so a stale one does not spin. */
const REFERRAL_PAUSE_MS = 20;
const OP_BUDGET_MS = 1000;
const PREPARE_BUDGET_MS = 1000;
/**
 * A resolve is told once (one attempt): the participants' recovery (ask the home's record) is
 * the path that must be right, so it is the path that runs whenever a message is lost, not a
 * rarity a retry loop hides. The cost: a lost resolve holds the intent's keys a second longer.
 */
const RESOLVE_BUDGET_MS = ATTEMPT_MS;
const SWEEP_MS = 200;
/** Shards one transaction may touch. */
const PARTS_MAX = 64;
/** Calls in flight from one node at most (each waits a bounded time). */
const CALLS_MAX = 100_000;

interface Call {
  shard: number;
  body: ParticipantRequest | { f: 'query'; txn: string };
  done: (r: Result) => void;
  deadlineMs: number;
  timer: Timer | null;
}

interface CTxn {
  id: string;
  db: string;
  ts: number;
  state: 'active' | 'committing';
  parts: Map<number, { n: number; wrote: boolean }>;
  busy: boolean;
  deadlineMs: number;
  waiters: Reply[];
  lastRequest: string | null;
  lastResult: Result | null;
}

interface CTable {
  shard: number;
  term: number;
  host: TxnHost;
  counter: number;
  txns: Map<string, CTxn>;
  /** Finished here: the answer a resent COMMIT gets (bounded, oldest forgotten). */
  finished: Map<string, Result>;
}

export class ShardTxn {
  private readonly participants: Participants;
  private readonly tables = new Map<number, CTable>();
  private readonly calls = new Map<number, Call>();
  private readonly leaders = new Map<number, string>();
  /** Transactions coordinated here that aborted, and their BEGIN times: a retry naming one takes its age (bounded, oldest forgotten). */
  private readonly aborted = new Map<string, number>();
  private rid = 0;
  private homeNext = 0;
  private sweepTimer: Timer | null = null;
  private stopped = false;

  constructor(
    private readonly env: ShardTxnEnv,
    private readonly limits: TxnLimits = TXN_LIMITS,
  ) {
    this.participants = new Participants(env, limits, (home, txn, done) => this.call(home, { f: 'query', txn }, OP_BUDGET_MS, done));
    this.armSweep();
  }

  // ---- client requests ----

  /** Serves a transaction request that reached this node; calls reply exactly once. */
  submit(req: Request, reply: Reply): void {
    if (this.stopped) return reply({ ok: false, code: 'unavailable', message: 'the node is stopped' });
    const op = req.op as TxnOp;
    if (op.f === 'txn.begin') return this.begin(req.db, op.retryOf, reply);
    if (op.f === 'txn.oneshot') return this.oneshot(req, op.ops, reply);
    const home = homeOf(op.txn);
    if (home === null || home >= this.env.map().shards) return reply({ ok: false, code: 'bad_request', message: `${JSON.stringify(op.txn)} is not a transaction id of this cluster of ${this.env.map().shards} shards (BEGIN answers <home shard>.<term>.<counter>)` });
    const t = this.ctable(home);
    if (t === null) return reply(this.notLeader(home));
    switch (op.f) {
      case 'txn.op':
        return this.op(t, req, op.txn, op.op, reply);
      case 'txn.commit':
        return this.commit(t, op.txn, reply);
      case 'txn.rollback':
        return this.rollback(t, op.txn, reply);
    }
  }

  /**
   * retryOf: an aborted transaction this one retries; it takes that one's BEGIN time (its age in
   * wound-wait), once, as on one group (txn-table.ts), so that a retried transaction ages until it
   * is the oldest and is no longer wounded. Remembered by the node that coordinated it: a retry
   * that BEGINs elsewhere starts young, as on one group after a leader change.
   */
  private begin(db: string, retryOf: string | undefined, reply: Reply): void {
    // A home this node leads, in turn: no forwarding, and the homes spread over the leaders.
    const hosted = this.env.hosted();
    for (let i = 0; i < hosted.length; i++) {
      const shard = hosted[(this.homeNext + i) % hosted.length] as number;
      const t = this.ctable(shard);
      if (t === null) continue;
      this.homeNext = (this.homeNext + i + 1) % hosted.length;
      if (t.txns.size >= this.limits.openMax) return reply({ ok: false, code: 'unavailable', message: `too many open transactions (${this.limits.openMax}) at this leader: retry later` });
      const id = `${shard}.${t.term}.${++t.counter}`;
      const now = this.env.clock.monotonicMs();
      const inherited = retryOf === undefined ? undefined : this.aborted.get(retryOf);
      if (inherited !== undefined) this.aborted.delete(retryOf as string);
      t.txns.set(id, { id, db, ts: inherited ?? Math.floor(this.env.clock.wallMs()), state: 'active', parts: new Map(), busy: false, deadlineMs: now + this.limits.timeoutMs, waiters: [], lastRequest: null, lastResult: null });
      return reply({ ok: true, value: id });
    }
    // This node leads no shard: refer to a leader another group of it knows, or to a replica.
    for (const s of hosted) {
      const r = this.env.group(s)?.notLeader();
      if (r !== undefined && !r.ok && r.leader !== undefined) return reply(r);
    }
    reply(this.notLeader(this.homeNext++ % this.env.map().shards));
  }

  private op(t: CTable, req: Request, id: string, op: ReadOp | TxnWriteOp, reply: Reply): void {
    const c = t.txns.get(id);
    if (c === undefined) return reply(this.gone(t, id));
    if (c.db !== req.db) return reply({ ok: false, code: 'bad_request', message: `transaction ${id} was begun in database ${JSON.stringify(c.db)}, not ${JSON.stringify(req.db)}` });
    const name = req.once === true ? null : `${req.client}/${req.seq}`;
    if (name !== null && c.lastRequest === name && c.lastResult !== null) return reply(c.lastResult);
    if (c.state !== 'active') return reply({ ok: false, code: 'bad_request', message: `transaction ${id} is ${c.state}` });
    if (c.busy) return reply({ ok: false, code: 'bad_request', message: `transaction ${id} has an operation in progress: one at a time` });
    // A key's shard; a range's keys are hashed over every shard, so a range asks them all (each
    // locks its part as one group would, shard-txn-participant.ts) and merges their answers.
    const shards = op.f === 'range' ? [...Array(this.env.map().shards).keys()] : [this.env.map().shardOf(c.db, op.key)];
    const ps: { n: number; wrote: boolean }[] = [];
    for (const shard of shards) {
      let part = c.parts.get(shard);
      if (part === undefined) {
        if (c.parts.size >= PARTS_MAX) return reply(this.abort(t, c, 'too_large', `a transaction touches at most ${PARTS_MAX} shards`));
        c.parts.set(shard, (part = { n: 0, wrote: false }));
      }
      ps.push(part);
    }
    c.busy = true;
    const results: (Result | null)[] = shards.map(() => null);
    let waiting = shards.length;
    const answered = (): void => {
      c.busy = false;
      if (t.txns.get(id) !== c || c.state !== 'active') return reply(results.find((r) => r !== null && !r.ok) ?? abortedResult('failed', `transaction ${id} ended meanwhile`));
      for (const [i, r] of (results as Result[]).entries()) {
        if (!r.ok && (r.code === 'aborted' || r.code === 'timeout' || r.code === 'unavailable' || r.code === 'not_leader')) {
          const reason = r.code === 'aborted' ? (r.message.split(' ')[0] as string) : 'leader_changed';
          return reply(this.abort(t, c, reason, `shard ${shards[i]}: ${r.message}`));
        }
      }
      const r = op.f === 'range' ? mergeRanges(op, results as Result[]) : (results[0] as Result);
      if (r.ok && op.f !== 'read' && op.f !== 'range') (ps[0] as { wrote: boolean }).wrote = true;
      if (name !== null) {
        c.lastRequest = name;
        c.lastResult = r;
      }
      reply(r);
    };
    shards.forEach((shard, i) => {
      const p = ps[i] as { n: number };
      p.n++;
      this.call(shard, { f: 'op', txn: id, home: t.shard, ts: c.ts, db: c.db, n: p.n, op }, OP_BUDGET_MS, (r) => {
        results[i] = r;
        if (--waiting === 0) answered();
      });
    });
  }

  private commit(t: CTable, id: string, reply: Reply): void {
    const c = t.txns.get(id);
    if (c === undefined) {
      const known = t.finished.get(id);
      if (known !== undefined) return reply(known);
      // (The bug: a resent COMMIT is answered from this leader's memory alone, like a participant.)
      if (this.env.bugs.has('txn-coordinator-forgets-decision')) return reply(abortedResult('unknown', `no transaction ${id} at this leader`));
      // Not in this leader's memory: the record says, once every earlier entry is applied.
      return t.host.readBarrier(
        () => {
          const rec = readTxnRecord(t.host.view(), id);
          if (rec !== null) return reply(recordResult(id, rec));
          this.decide(t, id, false, 'unknown', reply);
        },
        reply,
        0,
      );
    }
    if (c.state === 'committing') return void c.waiters.push(reply);
    if (c.busy) return reply({ ok: false, code: 'bad_request', message: `transaction ${id} has an operation in progress` });
    c.state = 'committing';
    c.waiters.push(reply);
    const parts = [...c.parts.entries()];
    if (parts.length === 0) return this.finish(t, c, { ok: true, value: null });
    const votes: (Result | null)[] = parts.map(() => null);
    let waiting = parts.length;
    parts.forEach(([shard], i) =>
      this.call(shard, { f: 'prepare', txn: id }, PREPARE_BUDGET_MS, (r) => {
        votes[i] = r;
        if (--waiting === 0) this.decideVotes(t, c, parts, votes as Result[]);
      }),
    );
  }

  private decideVotes(t: CTable, c: CTxn, parts: [number, { n: number; wrote: boolean }][], votes: Result[]): void {
    const no = votes.find((v) => !v.ok);
    const wrote = parts.some(([, p]) => p.wrote);
    if (no === undefined && !wrote) return this.finish(t, c, { ok: true, value: null });
    if (no !== undefined) {
      const reason = !no.ok && no.code === 'aborted' ? (no.message.split(' ')[0] as string) : 'leader_changed';
      const answer = abortedResult(reason, `transaction ${c.id}: a participant voted no: ${!no.ok ? no.message : ''}`);
      // Abort is presumed without a record, but writing it answers the participants' questions at once.
      this.decide(t, c.id, false, reason, () => {});
      this.finish(t, c, answer);
      return this.resolveAll(c, false);
    }
    this.decide(t, c.id, true, null, (r) => {
      if (r.ok) {
        this.finish(t, c, r);
        return this.resolveAll(c, true);
      }
      if (r.code === 'aborted') {
        this.finish(t, c, r);
        return this.resolveAll(c, false);
      }
      // The decision's entry may or may not apply (a leader change): the outcome is unknown to
      // this coordinator; the record will say, and the participants will ask for it.
      this.finish(t, c, { ok: false, code: 'timeout', message: `transaction ${c.id}: its decision was not confirmed (${r.message}); COMMIT again to learn the outcome` });
    });
  }

  /** Appends the decision to the home shard's log; reply gets the decision that holds (the first). */
  private decide(t: CTable, id: string, commit: boolean, reason: string | null, reply: Reply): void {
    t.host.propose(shardTxnRecord('', { f: 'stxn.decide', txn: id, commit, ...(reason !== null ? { reason } : {}) }), reply);
  }

  private resolveAll(c: CTxn, commit: boolean): void {
    for (const [shard, p] of c.parts) if (!commit || p.wrote) this.call(shard, { f: 'resolve', txn: c.id, commit }, RESOLVE_BUDGET_MS, () => {});
  }

  private rollback(t: CTable, id: string, reply: Reply): void {
    const c = t.txns.get(id);
    if (c === undefined) {
      const known = t.finished.get(id);
      if (known?.ok === true) return reply({ ok: false, code: 'bad_request', message: `transaction ${id} has committed` });
      return reply({ ok: true, value: null });
    }
    if (c.state !== 'active') return reply({ ok: false, code: 'bad_request', message: `transaction ${id} is ${c.state}` });
    this.abort(t, c, 'rolled_back', 'by ROLLBACK');
    reply({ ok: true, value: null });
  }

  /** Aborts an active transaction (nothing prepared yet: no record needed) and tells its participants. */
  private abort(t: CTable, c: CTxn, reason: string, detail: string): Result {
    const result = abortedResult(reason, `transaction ${c.id}: ${detail}`);
    assert(c.state === 'active', () => `abort of ${c.id} while ${c.state}`);
    this.finish(t, c, result);
    this.resolveAll(c, false);
    return result;
  }

  private finish(t: CTable, c: CTxn, r: Result): void {
    if (t.txns.get(c.id) === c) t.txns.delete(c.id);
    if (!r.ok && r.code === 'aborted') {
      this.aborted.set(c.id, c.ts);
      if (this.aborted.size > this.limits.finishedKept) this.aborted.delete(this.aborted.keys().next().value as string);
    }
    if (r.ok || r.code === 'aborted') {
      t.finished.set(c.id, r);
      if (t.finished.size > this.limits.finishedKept) t.finished.delete(t.finished.keys().next().value as string);
    }
    for (const w of c.waiters.splice(0)) w(r);
  }

  private gone(t: CTable, id: string): Result {
    const known = t.finished.get(id);
    if (known !== undefined && !known.ok) return known;
    if (known !== undefined) return { ok: false, code: 'bad_request', message: `transaction ${id} has committed` };
    return abortedResult('unknown', `no open transaction ${id} at this leader: a leader change, a timeout or a rollback ended it, or it never began`);
  }

  /** A list of reads and writes as one transaction: begin, each in order, commit. */
  private oneshot(req: Request, ops: (ReadOp | TxnWriteOp)[], reply: Reply): void {
    this.begin(req.db, undefined, (begun) => {
      if (!begun.ok) return reply(begun);
      const id = begun.value as string;
      const t = this.ctable(homeOf(id) as number);
      if (t === null) return reply(abortedResult('leader_changed', 'leadership changed'));
      const values: Json[] = [];
      const step = (i: number): void => {
        if (i === ops.length) return this.commit(t, id, (r) => reply(r.ok ? { ok: true, value: values } : r));
        this.op(t, { ...req, once: true }, id, ops[i] as ReadOp | TxnWriteOp, (r) => {
          if (!r.ok) {
            const c = t.txns.get(id);
            if (c !== undefined && c.state === 'active') this.abort(t, c, 'failed', `operation ${i} failed`);
            return reply(r.code === 'aborted' ? r : { ...r, message: `ops[${i}]: ${r.message}` });
          }
          const f = (ops[i] as ReadOp | TxnWriteOp).f;
          values.push(f === 'range' ? ((r.entries ?? []) as unknown as Json) : f === 'read' ? r.value : null);
          step(i + 1);
        });
      };
      step(0);
    });
  }

  /**
   * A single-key operation outside transactions for a shard this node holds a replica of:
   * ordered against the shard's transactions at its leader (Participants.plain), then run(reply).
   */
  plain(shard: number, req: Request, reply: Reply, run: (reply: Reply) => void): void {
    const host = this.env.group(shard);
    if (this.stopped || host === null || host.leaderTerm() === null) return run(reply);
    this.participants.plain(shard, host, req, reply, run);
  }

  // ---- the home's answers to participants ----

  /** A participant asks for a decision: 'committed', 'aborted' or 'pending' (the coordinator is at work). */
  private query(t: CTable, txn: string, reply: Reply): void {
    if (t.txns.has(txn)) return reply({ ok: true, value: 'pending' });
    const known = t.finished.get(txn);
    if (known !== undefined) return reply({ ok: true, value: known.ok ? 'committed' : 'aborted' });
    // The bug: what this leader does not remember, it calls aborted, without reading its log.
    if (this.env.bugs.has('txn-coordinator-forgets-decision')) return reply({ ok: true, value: 'aborted' });
    t.host.readBarrier(
      () => {
        const rec = readTxnRecord(t.host.view(), txn);
        if (rec !== null) return reply({ ok: true, value: rec.status });
        // No record and no coordinator at work in this leadership: nobody can commit it any
        // more, so abort it for good — by the record, so that a late decision cannot differ.
        this.decide(t, txn, false, 'coordinator_lost', (r) => reply(r.ok ? { ok: true, value: 'committed' } : r.code === 'aborted' ? { ok: true, value: 'aborted' } : r));
      },
      reply,
      0,
    );
  }

  // ---- node-to-node calls ----

  /** A frame of this protocol from a peer (ShardedReplica.receivePeer). */
  receive(from: string, m: Record<string, unknown>): void {
    if (this.stopped) return;
    if (m.t === 'res' && typeof m.rid === 'number' && typeof m.result === 'object' && m.result !== null) return this.answered(from, m.rid, m.result as Result);
    if (m.t !== 'req' || typeof m.rid !== 'number' || typeof m.shard !== 'number' || typeof m.body !== 'object' || m.body === null) return this.env.log.log('warn', 'stxn.bad_message', { from });
    const rid = m.rid;
    const f = (m.body as { f?: unknown }).f;
    if (f !== 'op' && f !== 'prepare' && f !== 'resolve' && f !== 'query') return this.env.log.log('warn', 'stxn.bad_message', { from, f: String(f) });
    this.serve(m.shard, m.body as Call['body'], (result) => {
      if (!this.stopped) this.env.send(from, { kind: 'stxn', t: 'res', rid, result });
    });
  }

  private serve(shard: number, body: ParticipantRequest | { f: 'query'; txn: string }, reply: Reply): void {
    if (!Number.isSafeInteger(shard) || shard < 0 || shard >= this.env.map().shards || typeof body.txn !== 'string') return reply({ ok: false, code: 'bad_request', message: 'a malformed transaction message' });
    const host = this.env.group(shard);
    if (host === null || host.leaderTerm() === null) return reply(host?.notLeader() ?? this.notLeader(shard));
    if (body.f === 'query') {
      const t = this.ctable(shard);
      return t === null ? reply(host.notLeader()) : this.query(t, body.txn, reply);
    }
    this.participants.handle(shard, host, body, reply);
  }

  /** Calls shard's leader (wherever it is), following referrals and trying replicas until budgetMs. */
  private call(shard: number, body: Call['body'], budgetMs: number, done: (r: Result) => void): void {
    if (this.calls.size >= CALLS_MAX) return done({ ok: false, code: 'unavailable', message: 'too many transaction calls in flight' });
    this.attempt({ shard, body, done, deadlineMs: this.env.clock.monotonicMs() + budgetMs, timer: null });
  }

  private attempt(c: Call): void {
    if (this.stopped) return c.done({ ok: false, code: 'unavailable', message: 'the node is stopped' });
    if (this.env.clock.monotonicMs() >= c.deadlineMs) return c.done({ ok: false, code: 'timeout', message: `shard ${c.shard}'s leader did not answer in time` });
    const rid = ++this.rid;
    this.calls.set(rid, c);
    c.timer = this.env.clock.timer(ATTEMPT_MS, () => {
      if (this.calls.get(rid) !== c) return;
      this.calls.delete(rid);
      this.rotate(c.shard);
      this.attempt(c);
    });
    const local = this.env.group(c.shard);
    const target = local !== null && local.leaderTerm() !== null ? this.env.id : this.leaders.get(c.shard) ?? this.env.map().preferredLeader(c.shard);
    if (target === this.env.id) {
      // Deferred: an answer never arrives inside the call that asked for it.
      this.env.clock.defer(() => this.serve(c.shard, c.body, (result) => this.env.clock.defer(() => this.answered(this.env.id, rid, result))));
    } else this.env.send(target, { kind: 'stxn', t: 'req', rid, shard: c.shard, body: c.body });
  }

  private answered(from: string, rid: number, r: Result): void {
    const c = this.calls.get(rid);
    if (c === undefined) return; // answered late: that attempt was given up
    this.calls.delete(rid);
    c.timer?.cancel();
    if (!r.ok && (r.code === 'not_leader' || r.code === 'unavailable')) {
      if (r.leader !== undefined && r.leader !== from) this.leaders.set(c.shard, r.leader);
      else this.rotate(c.shard);
      this.env.clock.timer(REFERRAL_PAUSE_MS, () => this.attempt(c));
      return;
    }
    this.leaders.set(c.shard, from);
    c.done(r);
  }

  private rotate(shard: number): void {
    const replicas = this.env.map().replicas(shard);
    const cur = this.leaders.get(shard) ?? this.env.map().preferredLeader(shard);
    this.leaders.set(shard, replicas[(replicas.indexOf(cur) + 1) % replicas.length] as string);
  }

  // ---- tables ----

  /** The coordinator table of a home shard this node leads, or null. */
  private ctable(shard: number): CTable | null {
    const host = this.env.group(shard);
    const term = host?.leaderTerm() ?? null;
    let t = this.tables.get(shard);
    if (t !== undefined && (term === null || t.term !== term || t.host !== host)) {
      this.dropTable(t);
      t = undefined;
    }
    if (host === null || term === null) return null;
    if (t === undefined) this.tables.set(shard, (t = { shard, term, host, counter: 0, txns: new Map(), finished: new Map() }));
    return t;
  }

  /** Leadership of a home lost: active transactions abort; committing ones end with their decision's entry. */
  private dropTable(t: CTable): void {
    this.tables.delete(t.shard);
    for (const c of [...t.txns.values()]) if (c.state === 'active') this.abort(t, c, 'leader_changed', `shard ${t.shard}'s leader changed`);
  }

  private notLeader(shard: number): Result {
    const host = this.env.group(shard);
    if (host !== null) return host.notLeader();
    const replicas = this.env.map().replicas(shard);
    const leader = this.leaders.get(shard) ?? (replicas[0] as string);
    return { ok: false, code: 'not_leader', message: `${this.env.id} holds no replica of shard ${shard}; ${leader} does`, leader };
  }

  private armSweep(): void {
    if (this.stopped) return;
    this.sweepTimer = this.env.clock.timer(SWEEP_MS, () => {
      this.sweepTimer = null;
      if (this.stopped) return;
      const now = this.env.clock.monotonicMs();
      for (const t of [...this.tables.values()]) {
        if (this.ctable(t.shard) !== t) continue;
        for (const c of [...t.txns.values()]) if (c.state === 'active' && !c.busy && c.deadlineMs <= now) this.abort(t, c, 'timeout', `open longer than ${this.limits.timeoutMs} ms`);
      }
      this.participants.sweep((s) => this.env.group(s));
      this.armSweep();
    });
  }

  /** Open transactions here, as coordinator and as participant (status, tests). */
  get openCount(): { coordinating: number; participating: number } {
    let coordinating = 0;
    for (const t of this.tables.values()) coordinating += t.txns.size;
    return { coordinating, participating: this.participants.openCount };
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sweepTimer?.cancel();
    for (const t of [...this.tables.values()]) this.dropTable(t);
    this.participants.stop();
    for (const c of [...this.calls.values()]) c.timer?.cancel();
    this.calls.clear();
  }
}

/** The home shard an id names (`<home>.<term>.<counter>`), or null for an id of one group. */
export function homeOf(id: string): number | null {
  const parts = id.split('.');
  return parts.length === 3 ? Number(parts[0]) : null;
}
