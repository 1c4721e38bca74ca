import { assert } from '../util/assert.js';
import { LockManager, type Grant, type LockMode } from '../txn/lock-manager.js';
import { overlayValue, type BufferedWrite, type TxnLimits } from '../txn/txn-table.js';
import { TXN_INTENTS_END, TXN_INTENTS_START, TXN_KEY_INTENT_START, dataKey, dbEnd, txnGuardLock } from './keyspace.js';
import { parseStored, type KvView } from './kv-state.js';
import type { ReadOp, Request, Result, TxnWriteOp } from './protocol.js';
import type { Reply } from './replica.js';
import { intentOn, readIntent, shardTxnRecord, type Intent } from './shard-txn-apply.js';
import type { ShardTxnEnv } from './shard-txn.js';
import { abortedResult } from './txn-apply.js';
import { rangeWithWrites, type TxnHost } from './txn-service.js';

/**
 * The participant side of two-phase commit across shards (src/txn/README.md), at the leader of
 * each shard a transaction touches: strict two-phase locking over a lock table of the leader's
 * term (src/txn/lock-manager.ts, wound-wait on the coordinator's BEGIN time), writes buffered in
 * memory until PREPARE, which makes them and the locks durable as an intent in the shard's Raft
 * log (shard-txn-apply.ts). After a leader change the lock table is gone but the intents are not:
 * a read or write that meets another transaction's intent aborts (`conflict`), and a prepare
 * that meets one votes no at apply. An intent left unresolved (its coordinator silent) is asked
 * about at its home shard — never decided here (2PC's rule: a participant that voted yes is
 * bound by the coordinator's decision; the home's record gives it, or the home writes abort).
 */

/** What the coordinator sends a participant. */
export type ParticipantRequest =
  | { f: 'op'; txn: string; home: number; ts: number; db: string; n: number; op: ReadOp | TxnWriteOp }
  | { f: 'prepare'; txn: string }
  | { f: 'resolve'; txn: string; commit: boolean };

interface PTxn {
  id: string;
  home: number;
  db: string;
  state: 'active' | 'preparing' | 'prepared';
  writes: BufferedWrite[];
  /** The last operation number seen from the coordinator, its answer once known, and who waits for it. */
  n: number;
  result: Result | null;
  reply: Reply | null;
  onGrant: (() => void) | null;
  waitSinceMs: number;
  lastSeenMs: number;
  preparedMs: number;
  prepareReplies: Reply[];
}

interface PTable {
  shard: number;
  term: number;
  host: TxnHost;
  locks: LockManager;
  txns: Map<string, PTxn>;
  tsNext: number;
  /** Intents found in the state, and since when (monotonic ms): asked about once old enough. */
  seen: Map<string, number>;
  asking: Set<string>;
  /**
   * Transactions resolved or aborted under this leadership, oldest first (bounded), and why: a
   * later operation of one is answered with that reason, so that a transaction wounded here
   * between its operations hears `wounded` (which clients retry), not a bare refusal.
   */
  endedSet: Map<string, string>;
}

/**
 * A single-key operation outside transactions that meets a key a prepared transaction holds waits
 * this long at most, looking again every PLAIN_POLL_MS, before it is refused (`unavailable`, which
 * clients retry). Long enough for an unhurried 2PC to resolve (two round trips and two log
 * appends, well under 100 ms in the lab); a stuck one is recovered after RECOVER_AFTER_MS.
 */
const PLAIN_WAIT_MS = 1000;
const PLAIN_POLL_MS = 10;

/** An intent is asked about at its home after this long without a decision. */
export const RECOVER_AFTER_MS = 1000;
/** An active transaction whose coordinator has said nothing for this long is aborted here. */
export const PARTICIPANT_IDLE_MS = 3000;
/** Ended transactions a table remembers, to refuse their late operations. */
const ENDED_KEPT = 10_000;
/** Intents looked at per shard and sweep. */
const INTENTS_PER_SWEEP = 256;

export class Participants {
  private readonly tables = new Map<number, PTable>();

  constructor(
    private readonly env: ShardTxnEnv,
    private readonly limits: TxnLimits,
    /** Asks a transaction's home for its decision: ok with 'committed', 'aborted' or 'pending'. */
    private readonly ask: (home: number, txn: string, done: (r: Result) => void) => void,
  ) {}

  handle(shard: number, host: TxnHost, body: ParticipantRequest, reply: Reply): void {
    const t = this.table(shard, host);
    if (t === null) return reply(host.notLeader());
    switch (body.f) {
      case 'op':
        return this.op(t, body, reply);
      case 'prepare':
        return this.prepare(t, body.txn, reply);
      case 'resolve':
        return this.resolve(t, body.txn, body.commit, reply);
    }
  }

  /** The shard's table of this leadership, or null when this node does not lead it. */
  private table(shard: number, host: TxnHost): PTable | null {
    const term = host.leaderTerm();
    let t = this.tables.get(shard);
    if (t !== undefined && (term === null || t.term !== term || t.host !== host)) {
      this.drop(t);
      t = undefined;
    }
    if (term === null) return null;
    if (t === undefined) this.tables.set(shard, (t = { shard, term, host, locks: new LockManager(), txns: new Map(), tsNext: 0, seen: new Map(), asking: new Set(), endedSet: new Map() }));
    return t;
  }

  /** Leadership lost: active transactions abort; prepared ones live on as intents in the log. */
  private drop(t: PTable): void {
    this.tables.delete(t.shard);
    for (const p of [...t.txns.values()]) {
      const reply = p.reply;
      p.reply = null;
      p.onGrant = null;
      reply?.(abortedResult('leader_changed', `shard ${t.shard}'s leader changed; its locks are gone`));
      // A preparing one is answered by its prepare entry's fate (propose's callback).
    }
    t.txns.clear();
  }

  // ---- single-key operations outside transactions ----

  /**
   * A read or write outside any transaction, at the leader of its shard (ShardedReplica.submit),
   * ordered against this shard's transactions; run(reply) hands it to the shard's replica. The
   * one-group service pins such a write (txn-service.ts's pinWrite); here the same, plus what two-
   * phase commit adds: a transaction that has voted holds its keys until the decision reaches
   * this shard, so the operation first waits while one of its keys is under an intent or an X
   * lock of a transaction that is preparing or prepared (a write there would slip between the
   * transaction's reads and its commit; a read would miss a write that may already be committed —
   * its client told OK). Then it pins its key (X for a write, and IX on the database's guard
   * against transactional ranges; S for a read) until its answer: no conflicting lock is granted
   * meanwhile, and the active transactions holding one are wounded, the single operation being
   * the oldest of all, as on one group. An active transaction may already be past its lock point
   * (every operation done, PREPARE on its way), so a read must not go around its X lock either.
   * An S lock of a preparing transaction is passed: its lock point is behind it, and the write
   * is ordered after its reads. What the leader's memory cannot see (an intent whose prepare
   * entry of an earlier term it has not applied yet) the replicas refuse at apply (kv-state.ts).
   */
  plain(shard: number, host: TxnHost, req: Request, reply: Reply, run: (reply: Reply) => void): void {
    const pins = plainPins(req);
    if (pins === null || this.env.bugs.has('txn-single-key-unordered')) return run(reply);
    const deadlineMs = this.env.clock.monotonicMs() + PLAIN_WAIT_MS;
    const attempt = (): void => {
      const t = this.table(shard, host);
      if (t === null) return run(reply); // not the leader: the replica refers it
      const holder = this.blocker(t, req.db, pins.covers);
      if (holder !== null) {
        if (this.env.clock.monotonicMs() >= deadlineMs) return reply({ ok: false, code: 'unavailable', message: `${holder}: retry once it is resolved` });
        this.env.clock.timer(PLAIN_POLL_MS, attempt);
        return;
      }
      for (const [k, m] of pins.locks) {
        for (const w of t.locks.pin(k, m)) {
          const o = t.txns.get(w);
          if (o !== undefined && o.state === 'active') this.abort(t, o, 'conflict', `a single-key operation needed a key it had locked at shard ${t.shard}`);
        }
      }
      let done = false;
      run((r) => {
        assert(!done, 'a pinned single-key operation answered twice');
        done = true;
        if (this.tables.get(t.shard) === t) for (const [k, m] of pins.locks) this.granted(t, t.locks.unpin(k, m));
        reply(r);
      });
    };
    attempt();
  }

  /** What a single-key operation (or a shard's part of a plain range) must wait for first (a description), or null. */
  private blocker(t: PTable, db: string, covers: PlainPins['covers']): string | null {
    const view = t.host.view();
    if (typeof covers === 'string') {
      const intent = intentOn(view, db, covers);
      if (intent !== null) return `${JSON.stringify(covers)} is held by prepared transaction ${intent}`;
      for (const h of t.locks.holders(dataKey(db, covers))) if (h.committing && h.mode === 'X') return `${JSON.stringify(covers)} is held by transaction ${h.txn}, which is committing`;
      return null;
    }
    if (Array.isArray(covers)) {
      for (const k of covers) {
        const why = this.blocker(t, db, k);
        if (why !== null) return why;
      }
      return null;
    }
    const { start, end } = covers;
    const hit = intentIn(view, db, start, end);
    if (hit !== null) return `${JSON.stringify(hit.key)} is held by prepared transaction ${hit.txn}`;
    // A committing transaction's X locks here are the keys it wrote here.
    for (const p of t.txns.values()) {
      if (p.state === 'active' || p.db !== db) continue;
      const k = p.writes.find((w) => w.key >= start && (end === null || w.key < end));
      if (k !== undefined) return `${JSON.stringify(k.key)} is held by transaction ${p.id}, which is committing`;
    }
    return null;
  }

  // ---- operations ----

  private op(t: PTable, body: Extract<ParticipantRequest, { f: 'op' }>, reply: Reply): void {
    let p = t.txns.get(body.txn);
    if (p === undefined) {
      // A late or duplicated operation of a transaction already ended here must not lock again.
      const why = t.endedSet.get(body.txn);
      if (why !== undefined) return reply(abortedResult(why, `transaction ${body.txn} has ended at shard ${t.shard}`));
      if (body.n !== 1) return reply(abortedResult('leader_changed', `shard ${t.shard} holds no transaction ${body.txn}: its leader changed or it was aborted here`));
      if (t.txns.size >= this.limits.openMax) return reply({ ok: false, code: 'unavailable', message: `too many open transactions at shard ${t.shard}` });
      p = { id: body.txn, home: body.home, db: body.db, state: 'active', writes: [], n: 0, result: null, reply: null, onGrant: null, waitSinceMs: 0, lastSeenMs: 0, preparedMs: 0, prepareReplies: [] };
      t.txns.set(p.id, p);
      // Wound-wait ages by the coordinator's BEGIN time, made unique here; equal times order
      // by arrival, which can differ between shards: a rare cross-shard wait cycle then ends by
      // lock timeout (liveness only, never safety).
      t.locks.begin(p.id, body.ts * 1024 + (t.tsNext++ % 1024));
    }
    if (p.state !== 'active') return reply(abortedResult('failed', `transaction ${p.id} is ${p.state} at shard ${t.shard}`));
    p.lastSeenMs = this.env.clock.monotonicMs();
    if (body.n === p.n) {
      // A resend of the operation in progress or just answered.
      if (p.result !== null) return reply(p.result);
      p.reply = reply;
      return;
    }
    if (body.n !== p.n + 1 || p.reply !== null || p.onGrant !== null) return reply(this.abort(t, p, 'failed', `operation ${body.n} out of order at shard ${t.shard}`));
    p.n = body.n;
    p.result = null;
    p.reply = reply;
    const op = body.op;
    const live = p;
    if (op.f === 'range') {
      // The part of the range this shard holds (keys are hashed: every shard may hold some), under
      // S on the database's guard, as on one group (txn-service.ts): no transaction writes in
      // this database here (IX) until it ends, and a single-key write wounds it (a pin).
      return this.lock(t, p, txnGuardLock(p.db), 'S', () =>
        t.host.readBarrier(
          () => {
            if (t.txns.get(live.id) !== live || live.state !== 'active') return;
            const view = t.host.view();
            const holder = intentIn(view, live.db, op.start, op.end);
            if (holder !== null) return void this.abort(t, live, 'conflict', `the range holds ${JSON.stringify(holder.key)}, held by prepared transaction ${holder.txn}`);
            this.finish(live, rangeWithWrites(view, live.db, live.writes, op));
          },
          () => {
            if (t.txns.get(live.id) === live) this.abort(t, live, 'leader_changed', 'leadership could not be confirmed for a range');
          },
          0,
        ),
      );
    }
    const key = dataKey(p.db, op.key);
    if (op.f === 'read') {
      return this.lock(t, p, key, 'S', () =>
        t.host.readBarrier(
          () => {
            if (t.txns.get(live.id) !== live || live.state !== 'active') return;
            const view = t.host.view();
            const holder = intentOn(view, live.db, op.key);
            if (holder !== null && holder !== live.id) return void this.abort(t, live, 'conflict', `${JSON.stringify(op.key)} is held by prepared transaction ${holder}`);
            const committed = parseStored(view.get(key));
            const v = overlayValue(committed, live.writes, op.key);
            this.finish(live, { ok: true, value: v === undefined ? committed : v });
          },
          () => {
            if (t.txns.get(live.id) === live) this.abort(t, live, 'leader_changed', 'leadership could not be confirmed for a read');
          },
          0,
        ),
      );
    }
    const holder = intentOn(t.host.view(), p.db, op.key);
    if (holder !== null && holder !== p.id) return void this.abort(t, p, 'conflict', `${JSON.stringify(op.key)} is held by prepared transaction ${holder}`);
    // IX on the guard first, as on one group: a write here conflicts with this shard's part of
    // another transaction's range.
    this.lock(t, p, txnGuardLock(p.db), 'IX', () => this.lock(t, live, key, 'X', () => {
      if (op.f === 'append') {
        const v = overlayValue(parseStored(t.host.view().get(key)), live.writes, op.key);
        if (v === undefined || (v !== null && typeof v !== 'string')) return this.finish(live, { ok: false, code: 'type_error', message: `cannot append to a ${Array.isArray(v) ? 'list' : typeof v}` });
      }
      live.writes.push(op.f === 'write' ? { f: 'write', key: op.key, value: op.value } : op.f === 'delete' ? { f: 'delete', key: op.key } : { f: 'append', key: op.key, value: op.value });
      this.finish(live, { ok: true, value: op.f === 'delete' ? null : op.value });
    }));
  }

  private finish(p: PTxn, r: Result): void {
    p.result = r;
    const reply = p.reply;
    p.reply = null;
    reply?.(r);
  }

  private lock(t: PTable, p: PTxn, key: string, mode: LockMode, next: () => void): void {
    const r = t.locks.acquire(p.id, key, mode);
    if (!r.granted) {
      p.onGrant = next;
      p.waitSinceMs = this.env.clock.monotonicMs();
    }
    for (const w of r.wounded) {
      const o = t.txns.get(w);
      if (o !== undefined && o.state === 'active') this.abort(t, o, 'wounded', `an older transaction (${p.id}) needed a lock it held at shard ${t.shard}`);
    }
    if (r.granted && t.txns.get(p.id) === p) next();
  }

  private granted(t: PTable, grants: Grant[]): void {
    for (const g of grants) {
      const p = t.txns.get(g.txn);
      const resume = p?.onGrant ?? null;
      if (p === undefined || resume === null) continue;
      p.onGrant = null;
      resume();
    }
  }

  /** Ends a transaction here: its locks go, its operation in progress is answered; returns the answer. */
  private abort(t: PTable, p: PTxn, reason: string, detail: string): Result {
    const result = abortedResult(reason, `transaction ${p.id}: ${detail}`);
    this.ended(t, p.id, reason);
    this.release(t, p);
    const reply = p.reply;
    p.reply = null;
    p.onGrant = null;
    p.result = result;
    reply?.(result);
    for (const r of p.prepareReplies.splice(0)) r(result);
    return result;
  }

  private ended(t: PTable, txn: string, reason: string): void {
    t.endedSet.delete(txn);
    t.endedSet.set(txn, reason);
    if (t.endedSet.size > ENDED_KEPT) t.endedSet.delete(t.endedSet.keys().next().value as string);
  }

  private release(t: PTable, p: PTxn): void {
    if (t.txns.get(p.id) !== p) return;
    t.txns.delete(p.id);
    this.granted(t, t.locks.release(p.id));
  }

  // ---- two-phase commit ----

  private prepare(t: PTable, txn: string, reply: Reply): void {
    const p = t.txns.get(txn);
    if (p === undefined) {
      // Not in this leadership's memory: prepared under an earlier one (its intent is in the
      // state once every earlier entry is applied, which the barrier waits for), or never. The
      // vote is the intent's alone; a no names why it ended here if this leadership ended it
      // (wounded between its operations, say), rather than a leader change that did not happen.
      return t.host.readBarrier(() => reply(readIntent(t.host.view(), txn) !== null ? { ok: true, value: 'prepared' } : abortedResult(t.endedSet.get(txn) ?? 'leader_changed', `shard ${t.shard} holds no transaction ${txn}`)), reply, 0);
    }
    if (p.state === 'prepared') return reply({ ok: true, value: 'prepared' });
    if (p.state === 'preparing') return void p.prepareReplies.push(reply);
    if (p.reply !== null || p.onGrant !== null) return reply(this.abort(t, p, 'failed', 'PREPARE arrived while an operation was in progress'));
    p.state = 'preparing';
    p.prepareReplies.push(reply);
    t.locks.markCommitting(p.id);
    if (p.writes.length === 0) {
      // Read only here: nothing to make durable, but the reads were checked under this
      // leadership's locks, so it must still lead (ReadIndex) when it votes yes. Its locks may
      // go then: every lock of the transaction, on every shard, is held now (2PL's lock point).
      return t.host.readBarrier(
        () => {
          if (t.txns.get(p.id) !== p) return;
          this.release(t, p);
          for (const r of p.prepareReplies.splice(0)) r({ ok: true, value: 'prepared' });
        },
        () => {
          if (t.txns.get(p.id) === p) this.abort(t, p, 'leader_changed', 'leadership could not be confirmed for the vote');
        },
        0,
      );
    }
    if (this.env.bugs.has('txn-prepare-not-durable')) {
      // The bug: a yes vote from memory. A leader change now forgets the locks and the writes.
      p.state = 'prepared';
      p.preparedMs = this.env.clock.monotonicMs();
      for (const r of p.prepareReplies.splice(0)) r({ ok: true, value: 'prepared' });
      return;
    }
    t.host.propose(shardTxnRecord(p.db, { f: 'stxn.prepare', txn: p.id, term: t.term, home: p.home, writes: p.writes }), (r) => {
      if (r.ok) {
        p.state = 'prepared';
        p.preparedMs = this.env.clock.monotonicMs();
        for (const w of p.prepareReplies.splice(0)) w({ ok: true, value: 'prepared' });
        return;
      }
      const no = r.code === 'aborted' ? r : abortedResult('leader_changed', `the prepare entry was not applied: ${r.message}`);
      if (t.txns.get(p.id) === p) this.abort(t, p, 'failed', 'its prepare entry was refused');
      for (const w of p.prepareReplies.splice(0)) w(no);
    });
  }

  private resolve(t: PTable, txn: string, commit: boolean, reply: Reply): void {
    const found = t.txns.get(txn);
    // Its coordinator ended it: a later operation of it is a stray, refused for good.
    this.ended(t, txn, 'failed');
    if (found !== undefined && found.state === 'active') {
      // Aborted, or (a commit) a stale operation that arrived after a leader change re-created
      // it here: either way its locks go; a commit's writes are in an intent of an earlier term.
      this.abort(t, found, 'rolled_back', 'its coordinator ended it');
      if (!commit && readIntent(t.host.view(), txn) === null) return reply({ ok: true, value: 'aborted' });
    }
    const p = t.txns.get(txn);
    const records: string[] = [];
    if (p !== undefined && p.state === 'prepared' && commit && this.env.bugs.has('txn-prepare-not-durable')) {
      // The bug's other half: the writes reach the log only now, from this leader's memory.
      records.push(shardTxnRecord(p.db, { f: 'stxn.prepare', txn, term: t.term, home: p.home, writes: p.writes }));
    }
    records.push(shardTxnRecord(p?.db ?? '', { f: 'stxn.resolve', txn, commit }));
    let left = records.length;
    let last: Result = { ok: true, value: null };
    for (const rec of records) {
      t.host.propose(rec, (r) => {
        last = r;
        if (--left > 0) return;
        if (p !== undefined && r.ok && t.txns.get(txn) === p) this.release(t, p);
        reply(last);
      });
    }
  }

  // ---- the sweep: deadlines, and intents whose coordinator went silent ----

  sweep(group: (shard: number) => TxnHost | null): void {
    const now = this.env.clock.monotonicMs();
    // Every shard this node leads, not only those with a table: a new leader that no transaction
    // has reached yet must still find the intents its predecessors left.
    for (const shard of this.env.hosted()) {
      const host = group(shard);
      const t = host === null ? null : this.table(shard, host);
      if (t === null) {
        const stale = this.tables.get(shard);
        if (stale !== undefined) this.drop(stale);
        continue;
      }
      for (const p of [...t.txns.values()]) {
        // (The txn-prepare-not-durable bug: a yes vote held in memory only, with nothing in the
        // log to recover it from, is dropped like an idle transaction.)
        if (p.state === 'prepared' && this.env.bugs.has('txn-prepare-not-durable') && now - p.preparedMs >= PARTICIPANT_IDLE_MS) this.release(t, p);
        if (p.state !== 'active') continue;
        if (p.onGrant !== null && now - p.waitSinceMs >= this.limits.lockWaitMs) this.abort(t, p, 'lock_timeout', `waited ${this.limits.lockWaitMs} ms for a lock at shard ${t.shard}`);
        else if (p.reply === null && now - p.lastSeenMs >= PARTICIPANT_IDLE_MS) this.abort(t, p, 'timeout', `no word from its coordinator for ${PARTICIPANT_IDLE_MS} ms`);
      }
      this.recover(t, now);
    }
  }

  /** Asks the home of every intent that has waited long enough for its decision, and applies it. */
  private recover(t: PTable, now: number): void {
    const found = new Set<string>();
    for (const [k, raw] of t.host.view().scan(TXN_INTENTS_START, TXN_INTENTS_END, INTENTS_PER_SWEEP, false)) {
      const txn = k.slice(TXN_INTENTS_START.length);
      found.add(txn);
      const since = t.seen.get(txn);
      if (since === undefined) t.seen.set(txn, now);
      if (since === undefined || now - since < RECOVER_AFTER_MS || t.asking.has(txn)) continue;
      const p = t.txns.get(txn);
      if (p !== undefined && now - p.preparedMs < RECOVER_AFTER_MS) continue;
      const intent = JSON.parse(raw) as Intent;
      t.asking.add(txn);
      this.env.log.log('info', 'stxn.ask', { shard: t.shard, txn, home: intent.home });
      this.ask(intent.home, txn, (r) => {
        t.asking.delete(txn);
        if (this.tables.get(t.shard) !== t) return;
        if (!r.ok || (r.value !== 'committed' && r.value !== 'aborted')) {
          t.seen.set(txn, this.env.clock.monotonicMs()); // pending, or the home unreachable: ask again later
          return;
        }
        this.env.log.log('info', 'stxn.recover', { shard: t.shard, txn, decision: r.value });
        this.resolve(t, txn, r.value === 'committed', () => {});
      });
    }
    for (const txn of [...t.seen.keys()]) if (!found.has(txn)) t.seen.delete(txn);
  }

  /** Open participant transactions (status, tests). */
  get openCount(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.txns.size;
    return n;
  }

  stop(): void {
    for (const t of [...this.tables.values()]) this.drop(t);
  }
}

/**
 * What a single-key operation outside transactions pins at its shard's leader (lock names and
 * modes) and what it covers (a key, keys, or a range of its database); null for one that touches
 * no key (admin operations).
 */
interface PlainPins {
  locks: [string, LockMode][];
  covers: string | string[] | { start: string; end: string | null };
}

function plainPins(req: Request): PlainPins | null {
  const op = req.op;
  const guard = txnGuardLock(req.db);
  switch (op.f) {
    case 'read':
      return { locks: [[dataKey(req.db, op.key), 'S']], covers: op.key };
    case 'range':
      // One shard's part of a gateway's range: S on the guard, as a transaction's range takes.
      return { locks: [[guard, 'S']], covers: { start: op.start, end: op.end } };
    case 'write':
    case 'cas':
    case 'delete':
    case 'append':
      return { locks: [[guard, 'IX'], [dataKey(req.db, op.key), 'X']], covers: op.key };
    case 'batch': {
      const keys = [...new Set(op.ops.map((o) => o.key))];
      return { locks: [[guard, 'IX'], ...keys.map((k): [string, LockMode] => [dataKey(req.db, k), 'X'])], covers: keys };
    }
    default:
      return null;
  }
}

/** A key in [start, end) of db that a prepared transaction's intent holds here, and which, or null. */
function intentIn(view: KvView, db: string, start: string, end: string | null): { key: string; txn: string } | null {
  const from = TXN_KEY_INTENT_START + dataKey(db, start);
  const to = TXN_KEY_INTENT_START + (end === null ? dbEnd(db) : dataKey(db, end));
  const [hit] = view.scan(from, to, 1, false);
  return hit === undefined ? null : { key: hit[0].slice(TXN_KEY_INTENT_START.length + dataKey(db, '').length), txn: hit[1] };
}
