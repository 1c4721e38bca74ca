import type { Clock, Timer } from '../env/clock.js';
import type { Logger } from '../env/log.js';
import { LockManager, type Grant, type LockMode } from '../txn/lock-manager.js';
import { overlayValue, TXN_LIMITS, TxnTable, type BufferedWrite, type Txn, type TxnLimits } from '../txn/txn-table.js';
import { assert } from '../util/assert.js';
import type { Json } from '../util/json.js';
import type { BugName } from './bugs.js';
import { dataKey, txnGuardLock } from './keyspace.js';
import { executeRange, parseStored, type KvView } from './kv-state.js';
import type { KvOp, ReadOp, Request, Result, TxnOp, TxnWriteOp } from './protocol.js';
import type { Reply } from './replica.js';
import { abortedResult, readTxnRecord, txnCommitRecord } from './txn-apply.js';

/**
 * Interactive transactions at a Raft group's leader: strict two-phase locking over the lock
 * table (src/txn/lock-manager.ts, wound-wait), buffered writes, and one commit entry per
 * transaction (txn-apply.ts). The lock and transaction tables live in the leader's memory only:
 * a leader that stops leading aborts every active transaction (its locks are gone), and a
 * transaction's commit entry applies only in the term its locks were taken in.
 *
 * - A read takes S on its key (a range takes S on its database's guard), then confirms
 *   leadership with a ReadIndex, as a linearizable read does, and reads the committed state with
 *   the transaction's own writes laid over it.
 * - A write takes X on its key and IX on the guard, and is buffered.
 * - COMMIT proposes the commit entry and answers when it is applied; only then are the locks
 *   released (strict 2PL). A transaction that wrote nothing commits at once.
 * - A single-key write outside any transaction pins its key from proposal to apply
 *   (LockManager.pin), so a transaction never reads around it, and wounds transactions holding
 *   locks it conflicts with.
 *
 * One operation of a transaction at a time: a second one while the first waits is refused.
 */

/** What the service needs from its replica. */
export interface TxnHost {
  clock: Clock;
  log: Logger;
  bugs: ReadonlySet<BugName>;
  view(): KvView;
  /** The current term if this node leads, else null. */
  leaderTerm(): number | null;
  /** The refusal a non-leader gives (not_leader with the leader's name). */
  notLeader(): Result;
  /**
   * Confirms leadership (ReadIndex) and waits until the state is at least that new, and at
   * least as new as minIndex.
   */
  readBarrier(then: () => void, refused: (r: Result) => void, minIndex: number): void;
  /** Proposes the writes gathered so far and returns the log's last index: every write proposed until now is at or below it. */
  fenceIndex(): number;
  /** Proposes a log record; reply gets the result of applying it (or why it was not). */
  propose(record: string, reply: Reply): void;
}

/** How often open transactions are checked against their deadlines. */
const SWEEP_MS = 100;

interface Live {
  txn: Txn;
  /** The answer of the operation in progress (busy), if any. */
  reply: Reply | null;
  /** Waiting for a lock: what to do once granted, and since when (monotonic ms). */
  onGrant: (() => void) | null;
  waitSinceMs: number;
  /**
   * The last operation a resending client (not `once`) ran, by `client/seq`, and its answer: a
   * retry of it (KvClient resends after an attempt times out) gets the answer again instead of
   * buffering an append twice.
   */
  lastRequest: string | null;
  lastResult: Result | null;
}

export class TxnService {
  private table: TxnTable | null = null;
  private locks: LockManager | null = null;
  private readonly live = new Map<string, Live>();
  private sweepTimer: Timer | null = null;
  private stopped = false;
  /**
   * Single-key writes are pinned only while a transaction is open: with none open they cost
   * nothing. A BEGIN that finds none open takes the log's last index as the fence (after
   * proposing what was gathered), and every transactional read waits until the state reaches
   * the fence, so the writes that went unpinned are never read around either.
   */
  private fence = 0;

  constructor(
    private readonly host: TxnHost,
    private readonly limits: TxnLimits = TXN_LIMITS,
  ) {}

  /** Leadership began (term) or ended (null): a new term starts empty tables; losing it aborts every active transaction. */
  leadership(term: number | null): void {
    if (this.table !== null && this.table.term === term) return;
    this.dropTables('leader_changed', term === null ? 'this node stopped leading; its locks are gone' : `a new term ${term} began`);
    if (term !== null) {
      this.table = new TxnTable(term, this.limits);
      this.locks = new LockManager();
    }
  }

  /** Serves a transaction operation; calls reply exactly once. */
  submit(req: Request, reply: Reply): void {
    const op = req.op as TxnOp;
    const term = this.host.leaderTerm();
    if (this.stopped || term === null) return reply(this.host.notLeader());
    this.leadership(term);
    switch (op.f) {
      case 'txn.begin':
        return reply(this.begin(req.db, op.retryOf));
      case 'txn.op': {
        const l = this.live.get(op.txn);
        if (l === undefined || req.once === true) return this.run(req.db, op.txn, op.op, reply);
        const name = `${req.client}/${req.seq}`;
        if (l.lastRequest === name && l.lastResult !== null) return reply(l.lastResult);
        return this.run(req.db, op.txn, op.op, (r) => {
          l.lastRequest = name;
          l.lastResult = r;
          reply(r);
        });
      }
      case 'txn.commit':
        return this.commit(req.db, op.txn, reply);
      case 'txn.rollback':
        return this.rollback(op.txn, reply);
      case 'txn.oneshot':
        return this.oneshot(req.db, op.ops, reply);
    }
  }

  /**
   * For a single-key write this leader is about to propose: pins its keys and wounds the active
   * transactions in its way; the returned reply unpins them when the write's entry is applied
   * (or refused). Admin writes that delete a database abort its transactions.
   */
  pinWrite(req: Request, reply: Reply): Reply {
    const locks = this.locks;
    if (locks === null || this.live.size === 0 || this.host.leaderTerm() === null) return reply;
    const keys = writtenKeys(req.op, req.db);
    if (keys === null) return reply;
    if (keys === 'db') {
      for (const l of [...this.live.values()]) if (l.txn.db === (req.op as { name: string }).name) this.abort(l.txn.id, 'no_such_db', 'its database is being deleted');
      return reply;
    }
    const pins: [string, LockMode][] = [...keys.map((k): [string, LockMode] => [k, 'X']), [txnGuardLock(req.db), 'IX']];
    for (const [k, m] of pins) for (const id of locks.pin(k, m)) this.abort(id, 'conflict', 'a single-key write needed a key it had locked');
    let done = false;
    return (result) => {
      assert(!done, 'a pinned write answered twice');
      done = true;
      if (this.locks === locks) for (const [k, m] of pins) this.granted(locks.unpin(k, m));
      reply(result);
    };
  }

  stop(): void {
    this.stopped = true;
    this.dropTables('leader_changed', 'the node is stopping');
  }

  /** Open transactions (status, tests). */
  get openCount(): number {
    return this.live.size;
  }

  // ---- operations ----

  private begin(db: string, retryOf?: string): Result {
    const table = this.table as TxnTable;
    if (this.live.size === 0) this.fence = this.host.fenceIndex();
    const txn = table.begin(db, this.host.clock.monotonicMs(), retryOf);
    if (txn === null) return { ok: false, code: 'unavailable', message: `too many open transactions (${this.limits.openMax}) at this leader: retry later` };
    (this.locks as LockManager).begin(txn.id, txn.ts);
    this.live.set(txn.id, { txn, reply: null, onGrant: null, waitSinceMs: 0, lastRequest: null, lastResult: null });
    this.armSweep();
    return { ok: true, value: txn.id };
  }

  /** The live transaction for an operation, or the answer that refuses it. */
  private usable(db: string, id: string): Live | Result {
    const l = this.live.get(id);
    if (l === undefined) return this.gone(id);
    if (l.txn.db !== db) return { ok: false, code: 'bad_request', message: `transaction ${id} was begun in database ${JSON.stringify(l.txn.db)}, not ${JSON.stringify(db)}` };
    if (l.txn.state !== 'active') return { ok: false, code: 'bad_request', message: `transaction ${id} is ${l.txn.state}` };
    if (l.txn.busy) return { ok: false, code: 'bad_request', message: `transaction ${id} has an operation in progress: one at a time` };
    return l;
  }

  /** The answer for a transaction not open here. */
  private gone(id: string): Result {
    const known = this.table?.outcome(id);
    if (known?.state === 'aborted') return abortedResult(known.reason ?? 'aborted', `transaction ${id} was aborted`);
    if (known?.state === 'committed') return { ok: false, code: 'bad_request', message: `transaction ${id} has committed` };
    return abortedResult('unknown', `no open transaction ${id} at this leader: a leader change, a timeout or a rollback ended it, or it never began`);
  }

  private run(db: string, id: string, op: ReadOp | TxnWriteOp, reply: Reply): void {
    const l = this.usable(db, id);
    if (!('txn' in l)) return reply(l);
    const t = l.txn;
    const size = opBytes(op);
    if (t.ops + 1 > this.limits.opsMax) return reply(this.abort(id, 'too_large', `a transaction runs at most ${this.limits.opsMax} operations`));
    if (t.bytes + size > this.limits.bytesMax) return reply(this.abort(id, 'too_large', `a transaction reads and writes at most ${this.limits.bytesMax} bytes of keys and values`));
    t.ops++;
    t.bytes += size;
    t.busy = true;
    l.reply = reply;
    const guard = txnGuardLock(db);
    switch (op.f) {
      case 'read':
        if (this.host.bugs.has('txn-read-uncommitted')) return this.afterBarrier(l, () => this.readValue(t, op.key, true));
        return this.lock(l, [[dataKey(db, op.key), 'S']], () => this.afterBarrier(l, () => this.readValue(t, op.key, false)));
      case 'range':
        return this.lock(l, [[guard, 'S']], () => this.afterBarrier(l, () => this.readRange(t, op)));
      default:
        return this.lock(l, [[guard, 'IX'], [dataKey(db, op.key), 'X']], () => this.finishOp(l, this.buffer(t, op)));
    }
  }

  /** Takes the locks in order, then runs next; aborts the transaction if it is wounded meanwhile. */
  private lock(l: Live, wanted: [string, LockMode][], next: () => void): void {
    const locks = this.locks as LockManager;
    const step = (i: number): void => {
      if (i === wanted.length) return next();
      const [key, mode] = wanted[i] as [string, LockMode];
      const r = locks.acquire(l.txn.id, key, mode);
      if (!r.granted) {
        l.onGrant = () => step(i + 1);
        l.waitSinceMs = this.host.clock.monotonicMs();
      }
      for (const w of r.wounded) this.abort(w, 'wounded', `an older transaction (${l.txn.id}) needed a lock it held`);
      if (r.granted && this.live.get(l.txn.id) === l && l.txn.state === 'active') step(i + 1);
    };
    step(0);
  }

  /** Locks granted to waiters: resume their operations. */
  private granted(grants: Grant[]): void {
    for (const g of grants) {
      const l = this.live.get(g.txn);
      const resume = l?.onGrant ?? null;
      if (l === undefined || resume === null) continue;
      l.onGrant = null;
      resume();
    }
  }

  private afterBarrier(l: Live, then: () => Result): void {
    this.host.readBarrier(
      () => {
        if (this.live.get(l.txn.id) !== l || l.txn.state !== 'active') return; // aborted meanwhile (answered then)
        this.finishOp(l, then());
      },
      () => {
        if (this.live.get(l.txn.id) === l) this.abort(l.txn.id, 'leader_changed', 'leadership could not be confirmed for a read');
      },
      this.fence,
    );
  }

  private finishOp(l: Live, result: Result): void {
    const reply = l.reply;
    l.reply = null;
    l.txn.busy = false;
    reply?.(result);
  }

  private readValue(t: Txn, key: string, uncommitted: boolean): Result {
    const committed = parseStored(this.host.view().get(dataKey(t.db, key)));
    let writes: readonly BufferedWrite[] = t.writes;
    if (uncommitted) {
      // The txn-read-uncommitted bug: other transactions' buffered writes show through.
      writes = [...[...this.live.values()].filter((o) => o.txn !== t && o.txn.db === t.db).flatMap((o) => o.txn.writes), ...t.writes];
    }
    const v = overlayValue(committed, writes, key);
    return { ok: true, value: v === undefined ? committed : v };
  }

  private readRange(t: Txn, op: Extract<ReadOp, { f: 'range' }>): Result {
    return rangeWithWrites(this.host.view(), t.db, t.writes, op);
  }

  /** Buffers a write (X lock held); an append to a value that is not a string is refused, the transaction goes on. */
  private buffer(t: Txn, op: TxnWriteOp): Result {
    if (op.f === 'append') {
      const v = overlayValue(parseStored(this.host.view().get(dataKey(t.db, op.key))), t.writes, op.key);
      if (v === undefined || (v !== null && typeof v !== 'string')) return { ok: false, code: 'type_error', message: `cannot append to a ${Array.isArray(v) ? 'list' : typeof v}` };
    }
    t.writes.push(op.f === 'write' ? { f: 'write', key: op.key, value: op.value } : op.f === 'delete' ? { f: 'delete', key: op.key } : { f: 'append', key: op.key, value: op.value });
    return { ok: true, value: op.f === 'delete' ? null : op.value };
  }

  private commit(db: string, id: string, reply: Reply): void {
    const l = this.live.get(id);
    if (l === undefined) {
      if (this.table?.outcome(id)?.state === 'committed') return reply({ ok: true, value: null });
      // Not in memory: its commit entry may have been proposed by an earlier leader. After a
      // ReadIndex every such entry is applied or gone for good, and the record tells which.
      return this.host.readBarrier(
        () => {
          const rec = readTxnRecord(this.host.view(), id);
          if (rec === null) reply(this.gone(id));
          else if (rec.status === 'committed') reply({ ok: true, value: null });
          else reply(abortedResult(rec.reason ?? 'aborted', `transaction ${id} was aborted`));
        },
        reply,
        0,
      );
    }
    const u = this.usable(db, id);
    if (!('txn' in u)) return reply(u);
    const t = l.txn;
    const table = this.table as TxnTable;
    const locks = this.locks as LockManager;
    if (t.writes.length === 0) {
      // Read only: every read was checked against this leadership under locks still held.
      t.state = 'committing';
      table.finish(id, 'committed', null);
      this.release(l);
      return reply({ ok: true, value: null });
    }
    t.state = 'committing';
    t.busy = true;
    locks.markCommitting(id);
    const record = txnCommitRecord(t.db, { f: 'txn.apply', txn: id, term: t.term, writes: t.writes });
    if (this.host.bugs.has('txn-release-locks-before-commit')) this.granted(locks.release(id)); // the bug: before the entry is applied
    this.host.propose(record, (result) => {
      if (this.table === table && this.live.get(id) === l) {
        table.finish(id, result.ok ? 'committed' : 'aborted', result.ok ? null : reasonOf(result));
        this.release(l);
      }
      reply(commitAnswer(result));
    });
  }

  private rollback(id: string, reply: Reply): void {
    const l = this.live.get(id);
    if (l === undefined) {
      const known = this.table?.outcome(id);
      if (known?.state === 'committed') return reply({ ok: false, code: 'bad_request', message: `transaction ${id} has committed` });
      return reply({ ok: true, value: null }); // already ended: rolling back again changes nothing
    }
    if (l.txn.state !== 'active') return reply({ ok: false, code: 'bad_request', message: `transaction ${id} is ${l.txn.state}` });
    this.abort(id, 'rolled_back', 'by ROLLBACK');
    reply({ ok: true, value: null });
  }

  /** A list of reads and writes as one transaction: begin, each in order, commit. */
  private oneshot(db: string, ops: (ReadOp | TxnWriteOp)[], reply: Reply): void {
    const begun = this.begin(db);
    if (!begun.ok) return reply(begun);
    const id = begun.value as string;
    const values: Json[] = [];
    const step = (i: number): void => {
      if (i === ops.length) {
        return this.commit(db, id, (r) => reply(r.ok ? { ok: true, value: values } : r));
      }
      this.run(db, id, ops[i] as ReadOp | TxnWriteOp, (r) => {
        if (!r.ok) {
          if (this.live.has(id)) this.abort(id, 'failed', `operation ${i} failed`);
          return reply(r.code === 'aborted' ? r : { ...r, message: `ops[${i}]: ${r.message}` });
        }
        const op = ops[i] as ReadOp | TxnWriteOp;
        values.push(op.f === 'range' ? ((r.entries ?? []) as unknown as Json) : op.f === 'read' ? r.value : null);
        step(i + 1);
      });
    };
    step(0);
  }

  // ---- ending transactions ----

  /** Aborts an open, active transaction; answers its operation in progress; returns the abort's answer. */
  private abort(id: string, reason: string, detail: string): Result {
    const result = abortedResult(reason, `transaction ${id}: ${detail}`);
    const l = this.live.get(id);
    if (l === undefined || l.txn.state !== 'active') return result;
    (this.table as TxnTable).finish(id, 'aborted', reason);
    const pending = l.reply;
    l.reply = null;
    l.onGrant = null;
    this.release(l);
    this.host.log.log('info', 'txn.abort', { txn: id, reason });
    pending?.(result);
    return result;
  }

  private release(l: Live): void {
    this.live.delete(l.txn.id);
    const locks = this.locks;
    if (locks !== null) this.granted(locks.release(l.txn.id));
  }

  /** The tables are gone (leadership lost or changed): active transactions abort; committing ones await their entry. */
  private dropTables(reason: string, detail: string): void {
    const table = this.table;
    if (table === null) return;
    // The locks go first, so that aborting one transaction grants nothing to another: a grant
    // resumes a waiting operation, which would read the store of a leader that is stepping down
    // or of a node that is stopping (seen: a stop for a rotten table resumed a waiting PUT whose
    // read met the same table, and the exception ended the process). Each is aborted below.
    this.locks = null;
    for (const l of [...this.live.values()]) {
      if (l.txn.state !== 'active') continue;
      this.abort(l.txn.id, reason, detail);
    }
    // Committing ones stay in `live` under the old table: their answers come with their entries
    // (commit's callback checks the table is still theirs), and their locks die with the table.
    for (const l of [...this.live.values()]) this.live.delete(l.txn.id);
    this.table = null;
    this.locks = null;
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
  }

  /** One timer while transactions are open: deadlines and lock waits. */
  private armSweep(): void {
    if (this.sweepTimer !== null || this.stopped) return;
    this.sweepTimer = this.host.clock.timer(SWEEP_MS, () => {
      this.sweepTimer = null;
      const now = this.host.clock.monotonicMs();
      for (const l of [...this.live.values()]) {
        if (l.txn.state !== 'active') continue;
        if (l.txn.deadlineMs <= now) this.abort(l.txn.id, 'timeout', `open longer than ${this.limits.timeoutMs} ms`);
        else if (l.onGrant !== null && now - l.waitSinceMs >= this.limits.lockWaitMs) this.abort(l.txn.id, 'lock_timeout', `waited ${this.limits.lockWaitMs} ms for a lock`);
      }
      if (this.live.size > 0) this.armSweep();
    });
  }
}

/**
 * A range as a transaction sees it: the committed state with its own buffered writes laid over
 * (here, and at each shard's participant of a cross-shard transaction, shard-txn-participant.ts).
 */
export function rangeWithWrites(view: KvView, db: string, writes: readonly BufferedWrite[], op: Extract<ReadOp, { f: 'range' }>): Result {
  const mine = [...new Set(writes.map((w) => w.key))].filter((k) => k >= op.start && (op.end === null || k < op.end));
  const base = executeRange(view, db, { ...op, limit: Math.min(op.limit + mine.length, op.limit * 2 + 1) }, 4 * 1024 * 1024);
  if (!base.ok) return base;
  const merged = new Map<string, Json>((base.entries ?? []).map(([k, v]) => [k, v]));
  for (const k of mine) {
    const v = overlayValue(merged.get(k) ?? parseStored(view.get(dataKey(db, k))), writes, k);
    if (v === null || v === undefined) merged.delete(k);
    else merged.set(k, v);
  }
  const keys = [...merged.keys()].sort();
  if (op.reverse) keys.reverse();
  const entries = keys.slice(0, op.limit).map((k): [string, Json] => [k, merged.get(k) as Json]);
  return { ok: true, value: entries.length, entries };
}

/** The keys a write request changes; 'db' for a database deletion; null for none. */
function writtenKeys(op: KvOp, db: string): string[] | 'db' | null {
  switch (op.f) {
    case 'write':
    case 'cas':
    case 'delete':
    case 'append':
      return [dataKey(db, op.key)];
    case 'batch':
      return op.ops.map((o) => dataKey(db, o.key));
    case 'db.delete':
      return 'db';
    default:
      return null;
  }
}

function opBytes(op: ReadOp | TxnWriteOp): number {
  switch (op.f) {
    case 'read':
    case 'delete':
      return op.key.length;
    case 'range':
      return op.start.length + (op.end?.length ?? 0);
    case 'write':
      return op.key.length + JSON.stringify(op.value).length;
    case 'append':
      return op.key.length + op.value.length;
  }
}

function reasonOf(r: Extract<Result, { ok: false }>): string {
  return r.code === 'aborted' ? (r.message.split(' ')[0] as string) : 'leader_changed';
}

/**
 * What COMMIT answers for the result of its entry: applied (ok, or aborted by the term check);
 * refused or overwritten by a new leader (not applied: a definite abort); or unknown (timeout,
 * the log replaced by a snapshot) — then the client must ask again (COMMIT is idempotent).
 */
function commitAnswer(r: Result): Result {
  if (r.ok || r.code === 'aborted') return r;
  if (r.code === 'not_leader' || r.code === 'unavailable') return abortedResult('leader_changed', `the commit entry was not committed: ${r.message}`);
  return r;
}
