import { assert } from '../util/assert.js';

/**
 * The lock table of strict two-phase locking, held in memory by a Raft group's leader. Pure: no
 * clock, no IO; the transaction service (src/node/txn-service.ts) asks and acts on the answers.
 *
 * Modes: S (shared, a read), X (exclusive, a write), IX (intention to write somewhere under a
 * guard: every transactional write takes IX on its database's guard, every transactional range
 * read takes S on it, so a range never misses a row a concurrent transaction inserts — the
 * coarsest predicate lock, after Gray's hierarchical locking). S/S and IX/IX are compatible.
 *
 * Deadlocks are prevented by wound-wait (Rosenkrantz, Stearns & Lewis, 1978). Every transaction
 * has a timestamp (its BEGIN order; smaller is older). A request that conflicts with a holder:
 *   - an older requester wounds (aborts) the younger holder, then waits for it to let go;
 *   - a younger requester waits for the older holder.
 * So every wait is from a younger transaction to an older one, or to one that is committing
 * (its commit entry is in the Raft log: it cannot be aborted, and it waits for nothing but the
 * log), or to a pinned key (a single-key write in flight, same). A cycle of waits would need an
 * edge from older to younger: there is none, and no wait-for graph is needed to find one.
 * Why wound-wait rather than wait-die: the oldest live transaction is never aborted by a
 * conflict and never waits for anyone who could wait in turn, so it always makes progress (no
 * livelock of the oldest), and a young transaction that meets an old one waits instead of
 * restarting at once, which under the lab's contended zipfian keys wastes fewer round trips.
 *
 * Waiters on a key are served oldest first, and a new request is not granted past an older
 * conflicting waiter, so a stream of young readers cannot starve an old writer.
 *
 * Pins: a single-key write (outside any transaction) pins its key (X) and its database's guard
 * (IX) from its proposal until its entry is applied. A pin never waits — the log orders it after
 * every commit entry already proposed — but no lock conflicting with it is granted until it goes,
 * so a transaction never reads around a write that is committed but not yet applied. Pinning
 * wounds active transactions that hold a conflicting lock: a single write is the oldest of all.
 */

export type LockMode = 'S' | 'X' | 'IX';

export function compatible(a: LockMode, b: LockMode): boolean {
  return (a === 'S' && b === 'S') || (a === 'IX' && b === 'IX');
}

/** A lock that went to a waiting transaction (the service resumes its operation). */
export interface Grant {
  txn: string;
  key: string;
  mode: LockMode;
}

export interface AcquireResult {
  granted: boolean;
  /** Younger holders the request wounded: the caller aborts them (release), which may grant this request. */
  wounded: string[];
}

interface TxnLocks {
  ts: number;
  /** Committing: its commit entry is proposed; it cannot be wounded. */
  committing: boolean;
  /** key → strongest mode held (X over S; IX is only ever taken on guards). */
  held: Map<string, LockMode>;
  waiting: { key: string; mode: LockMode } | null;
}

interface KeyLocks {
  holders: Map<string, LockMode>;
  /** Oldest first. */
  waiters: { txn: string; mode: LockMode; ts: number }[];
  pins: { X: number; IX: number; S: number };
}

/** Locks held and awaited at once by one transaction at most (the service bounds keys per txn lower). */
export const LOCKS_PER_TXN_MAX = 100_000;

export class LockManager {
  private readonly txns = new Map<string, TxnLocks>();
  private readonly keys = new Map<string, KeyLocks>();

  /** A transaction enters the table with its timestamp (unique; smaller is older). */
  begin(txn: string, ts: number): void {
    assert(!this.txns.has(txn), () => `lock manager: ${txn} began twice`);
    this.txns.set(txn, { ts, committing: false, held: new Map(), waiting: null });
  }

  has(txn: string): boolean {
    return this.txns.has(txn);
  }

  /** Its commit entry is proposed: it can no longer be wounded, and it takes no new locks. */
  markCommitting(txn: string): void {
    const t = this.txn(txn);
    assert(t.waiting === null, () => `lock manager: ${txn} commits while waiting for a lock`);
    t.committing = true;
  }

  /** The mode txn holds on key, or null. */
  holding(txn: string, key: string): LockMode | null {
    return this.txns.get(txn)?.held.get(key) ?? null;
  }

  waitingFor(txn: string): { key: string; mode: LockMode } | null {
    return this.txns.get(txn)?.waiting ?? null;
  }

  /** Transactions in the table. */
  get size(): number {
    return this.txns.size;
  }

  /**
   * Asks for a lock. Granted at once, or queued (the transaction waits; one wait at a time).
   * A transaction that holds X, or the mode asked for, already has it.
   */
  acquire(txn: string, key: string, mode: LockMode): AcquireResult {
    const t = this.txn(txn);
    assert(!t.committing, () => `lock manager: ${txn} asks for a lock while committing`);
    assert(t.waiting === null, () => `lock manager: ${txn} asks for a lock while waiting for one`);
    const have = t.held.get(key);
    if (have === mode || have === 'X') return { granted: true, wounded: [] };
    assert(t.held.size < LOCKS_PER_TXN_MAX, () => `lock manager: ${txn} holds ${LOCKS_PER_TXN_MAX} locks`);
    const k = this.keyLocks(key);
    const wounded: string[] = [];
    for (const [other, m] of k.holders) {
      if (other === txn || compatible(m, mode)) continue;
      const o = this.txn(other);
      if (o.ts > t.ts && !o.committing) wounded.push(other);
    }
    if (this.grantable(k, txn, mode, t.ts)) {
      this.grant(t, k, txn, key, mode);
      return { granted: true, wounded };
    }
    t.waiting = { key, mode };
    const at = k.waiters.findIndex((w) => w.ts > t.ts);
    k.waiters.splice(at < 0 ? k.waiters.length : at, 0, { txn, mode, ts: t.ts });
    return { granted: false, wounded };
  }

  /**
   * Ends a transaction in the table (commit applied, abort, rollback): every lock it holds goes,
   * its wait is withdrawn, and the waiters that can now go are granted (returned, oldest first
   * per key). Unknown transactions are ignored (released twice: the second does nothing).
   */
  release(txn: string): Grant[] {
    const t = this.txns.get(txn);
    if (t === undefined) return [];
    this.txns.delete(txn);
    const touched: string[] = [];
    if (t.waiting !== null) {
      const k = this.keys.get(t.waiting.key) as KeyLocks;
      k.waiters = k.waiters.filter((w) => w.txn !== txn);
      touched.push(t.waiting.key);
    }
    for (const key of t.held.keys()) {
      (this.keys.get(key) as KeyLocks).holders.delete(txn);
      touched.push(key);
    }
    return this.wake(touched);
  }

  /**
   * Pins key in mode for a single-key write in flight: never waits, blocks conflicting grants
   * until unpinned, and returns the active transactions holding a conflicting lock (the caller
   * aborts them: their reads would be overtaken by this write).
   */
  pin(key: string, mode: LockMode): string[] {
    const k = this.keyLocks(key);
    k.pins[mode]++;
    const wounded: string[] = [];
    for (const [other, m] of k.holders) if (!compatible(m, mode) && !this.txn(other).committing) wounded.push(other);
    return wounded;
  }

  unpin(key: string, mode: LockMode): Grant[] {
    const k = this.keys.get(key);
    assert(k !== undefined && k.pins[mode] > 0, () => `lock manager: unpin of ${JSON.stringify(key)} not pinned ${mode}`);
    k.pins[mode]--;
    return this.wake([key]);
  }

  /** Who holds key, in which mode, and whether each is committing (a single-key operation outside transactions asks, shard-txn-participant.ts). */
  holders(key: string): { txn: string; mode: LockMode; committing: boolean }[] {
    const k = this.keys.get(key);
    if (k === undefined) return [];
    return [...k.holders].map(([txn, mode]) => ({ txn, mode, committing: this.txn(txn).committing }));
  }

  /** Checks the table's invariants (tests, and the service after every change in debug runs). */
  checkInvariants(): void {
    for (const [key, k] of this.keys) {
      const holders = [...k.holders];
      for (let i = 0; i < holders.length; i++) {
        for (let j = i + 1; j < holders.length; j++) {
          const [a, ma] = holders[i] as [string, LockMode];
          const [b, mb] = holders[j] as [string, LockMode];
          assert(compatible(ma, mb), () => `lock manager: ${a} (${ma}) and ${b} (${mb}) both hold ${JSON.stringify(key)}`);
        }
        const [a, ma] = holders[i] as [string, LockMode];
        assert(this.txns.get(a)?.held.get(key) === ma, () => `lock manager: ${a} is a holder of ${JSON.stringify(key)} it does not list`);
      }
      for (let i = 1; i < k.waiters.length; i++) assert((k.waiters[i - 1] as { ts: number }).ts < (k.waiters[i] as { ts: number }).ts, 'lock manager: waiters out of age order');
    }
  }

  private txn(id: string): TxnLocks {
    const t = this.txns.get(id);
    assert(t !== undefined, () => `lock manager: unknown transaction ${id}`);
    return t;
  }

  private keyLocks(key: string): KeyLocks {
    let k = this.keys.get(key);
    if (k === undefined) this.keys.set(key, (k = { holders: new Map(), waiters: [], pins: { X: 0, IX: 0, S: 0 } }));
    return k;
  }

  /** No conflicting pin, holder, or older waiter. */
  private grantable(k: KeyLocks, txn: string, mode: LockMode, ts: number): boolean {
    for (const m of ['S', 'X', 'IX'] as const) if (k.pins[m] > 0 && !compatible(m, mode)) return false;
    for (const [other, m] of k.holders) if (other !== txn && !compatible(m, mode)) return false;
    for (const w of k.waiters) {
      if (w.ts >= ts) break;
      if (!compatible(w.mode, mode)) return false;
    }
    return true;
  }

  private grant(t: TxnLocks, k: KeyLocks, txn: string, key: string, mode: LockMode): void {
    const have = t.held.get(key);
    // S then IX cannot happen on one key (IX is only taken on guards, which nobody locks X), but
    // keep the stronger of the two all the same.
    const next: LockMode = have === undefined ? mode : mode === 'X' || have === 'X' ? 'X' : have === mode ? mode : 'X';
    t.held.set(key, next);
    k.holders.set(txn, next);
  }

  private wake(keys: string[]): Grant[] {
    const grants: Grant[] = [];
    for (const key of keys) {
      const k = this.keys.get(key);
      if (k === undefined) continue;
      let i = 0;
      while (i < k.waiters.length) {
        const w = k.waiters[i] as { txn: string; mode: LockMode; ts: number };
        // Granted only past no older conflicting waiter (those still in the list before it).
        if (!this.grantableAt(k, w, i)) {
          i++;
          continue;
        }
        k.waiters.splice(i, 1);
        const t = this.txn(w.txn);
        t.waiting = null;
        this.grant(t, k, w.txn, key, w.mode);
        grants.push({ txn: w.txn, key, mode: w.mode });
      }
      if (k.holders.size === 0 && k.waiters.length === 0 && k.pins.X + k.pins.IX + k.pins.S === 0) this.keys.delete(key);
    }
    return grants;
  }

  private grantableAt(k: KeyLocks, w: { txn: string; mode: LockMode }, index: number): boolean {
    for (const m of ['S', 'X', 'IX'] as const) if (k.pins[m] > 0 && !compatible(m, w.mode)) return false;
    for (const [other, m] of k.holders) if (other !== w.txn && !compatible(m, w.mode)) return false;
    for (let j = 0; j < index; j++) if (!compatible((k.waiters[j] as { mode: LockMode }).mode, w.mode)) return false;
    return true;
  }
}
