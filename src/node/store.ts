import type { Env } from '../env/env.js';
import { SCAN_LIMIT_MAX, type Engine, type ReadView } from '../storage/engine.js';
import { openEngine, type EngineKind, type EngineOptions } from '../storage/index.js';
import { compareKeys } from '../storage/keys.js';
import { assert } from '../util/assert.js';
import type { KvView, StorageWrite } from './kv-state.js';
import { ENGINE_DIR } from './data-dir.js';
import { RAFT_APPLIED_KEY } from './keyspace.js';

/**
 * Where a node keeps its applied state: a view the state machine reads, and durable application
 * of writes. `apply` makes the writes visible to `view` at once and calls done when they are as
 * durable as the store promises (an engine with fsync `never`: at once).
 */
export interface NodeStore {
  readonly view: KvView;
  apply(writes: StorageWrite[], done: (err: Error | null) => void): void;
  /**
   * Until flush(), applies are visible at once but reach the engine together, as one batch in
   * which a key written several times is written once. For a caller that applies many small
   * batches back to back (Raft applying one Ready's entries: each rewrites the applied index and
   * usually a session) this is one WAL record instead of one per entry.
   */
  hold(): void;
  flush(): void;
  /**
   * The state as it is now, which later applies do not change (a storage snapshot with the
   * writes not yet in the engine laid over it), to be read while applies go on. Release it.
   */
  frozenView(): FrozenView;
  /**
   * The Raft applied index (the value of RAFT_APPLIED_KEY) of the newest state a restart would
   * find, or null if the store keeps nothing durable the Raft log may be compacted against (the
   * memory engine; a store not opened for it). Never goes back.
   */
  durableAppliedIndex(): number | null;
  /** Makes every apply so far durable (an engine flush); durableAppliedIndex() then covers them. */
  sync(done: (err: Error | null) => void): void;
  /** done (optional): once the engine is closed and writes nothing more. */
  close(done?: (err: Error | null) => void): void;
}

export interface FrozenView {
  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][];
  release(): void;
}

/**
 * A NodeStore over a storage engine. Writes are visible to the state machine at once, through an
 * overlay of writes the engine has not acknowledged yet: under fsync `always` an engine shows a
 * write only once it is durable, but the next request must already build on it (two appends in
 * one group commit must both count). The node answers clients only after `done`, so no client
 * sees what the overlay holds before the engine has made it durable.
 */
export class EngineStore implements NodeStore, KvView {
  /** Writes handed to the engine and not yet acknowledged: key → latest value and its write number. */
  private readonly overlay = new Map<string, { value: string | null; seq: number }>();
  private seq = 0;
  /** While held: the writes collected for the engine, and who waits for them. */
  private held: { seq: number; writes: Map<string, string | null>; done: ((err: Error | null) => void)[] } | null = null;
  /**
   * Tracking what is durable (durableAppliedIndex): the writes that set RAFT_APPLIED_KEY and are
   * not known durable yet, by write number, oldest first; the applied index known durable; and
   * the last write number the engine acknowledged (acknowledgements come in order).
   */
  private readonly marks: { seq: number; applied: number }[] = [];
  private durableApplied: number | null;
  private ackedSeq = 0;

  /**
   * durable: the engine's state outlives the process (lsm, bitcask), so the Raft log may be
   * compacted against it. In the engine's log mode `applied-index` every write carries the
   * store's write number as its index, and the engine says which are in its flushed tables; in
   * mode `wal` a sync (engine.flush) makes the writes acknowledged before it durable.
   */
  constructor(
    readonly engine: Engine,
    options: { durable?: boolean } = {},
  ) {
    // The write numbers continue those of the engine's last run: its indexes must keep growing.
    this.seq = engine.appliedIndex();
    this.ackedSeq = this.seq;
    const raw = options.durable === true && engine.kind !== 'memory' ? engine.get(RAFT_APPLIED_KEY) : null;
    // After an open the engine's whole state is durable (log mode applied-index: its tables; wal:
    // the open made what it recovered durable).
    this.durableApplied = raw === null ? null : raw === undefined ? 0 : Number(raw);
  }

  durableAppliedIndex(): number | null {
    if (this.durableApplied === null) return null;
    if (this.engine.logMode === 'applied-index') this.settleMarks(this.engine.durableAppliedIndex());
    return this.durableApplied;
  }

  sync(done: (err: Error | null) => void): void {
    this.flush();
    const upTo = this.engine.logMode === 'applied-index' ? Infinity : this.ackedSeq;
    this.engine.flush((err) => {
      if (err === null && upTo !== Infinity) this.settleMarks(upTo);
      done(err);
    });
  }

  /** The writes numbered up to `seq` are durable: so is the last applied index among them. */
  private settleMarks(seq: number): void {
    let n = 0;
    while (n < this.marks.length && (this.marks[n] as { seq: number }).seq <= seq) n++;
    if (n === 0) return;
    const last = this.marks[n - 1] as { applied: number };
    this.marks.splice(0, n);
    if (this.durableApplied !== null && last.applied > this.durableApplied) this.durableApplied = last.applied;
  }

  get view(): KvView {
    return this;
  }

  get(key: string): string | undefined {
    const o = this.overlay.get(key);
    if (o !== undefined) return o.value ?? undefined;
    return this.engine.get(key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    if (this.overlay.size === 0) return this.engine.scan(start, end, limit, reverse);
    const inRange: [string, string | null][] = [];
    for (const [k, o] of this.overlay) if (compareKeys(k, start) >= 0 && (end === null || compareKeys(k, end) < 0)) inRange.push([k, o.value]);
    return mergeScan(this.engine, inRange, start, end, limit, reverse);
  }

  frozenView(): FrozenView {
    const snapshot = this.engine.snapshot();
    const overlay: [string, string | null][] = [...this.overlay].map(([k, o]) => [k, o.value]);
    let released = false;
    return {
      scan: (start, end, limit, reverse) => {
        assert(!released, 'a frozen view read after its release');
        const inRange = overlay.filter(([k]) => compareKeys(k, start) >= 0 && (end === null || compareKeys(k, end) < 0));
        return mergeScan(snapshot, inRange, start, end, limit, reverse);
      },
      release: () => {
        if (released) return;
        released = true;
        snapshot.release();
      },
    };
  }

  apply(writes: StorageWrite[], done: (err: Error | null) => void): void {
    if (this.held !== null) {
      for (const [k, v] of writes) {
        this.overlay.set(k, { value: v, seq: this.held.seq });
        this.held.writes.set(k, v);
      }
      this.held.done.push(done);
      return;
    }
    const seq = ++this.seq;
    for (const [k, v] of writes) this.overlay.set(k, { value: v, seq });
    this.write(writes, seq, [done]);
  }

  hold(): void {
    if (this.held !== null) return;
    this.held = { seq: ++this.seq, writes: new Map(), done: [] };
  }

  flush(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    if (held.done.length > 0) this.write([...held.writes], held.seq, held.done);
  }

  private write(writes: StorageWrite[], seq: number, done: ((err: Error | null) => void)[]): void {
    if (this.durableApplied !== null) {
      for (let i = writes.length - 1; i >= 0; i--) {
        const [k, v] = writes[i] as StorageWrite;
        if (k === RAFT_APPLIED_KEY && v !== null) {
          this.marks.push({ seq, applied: Number(v) });
          break;
        }
      }
    }
    const acked = (err: Error | null) => {
      if (err === null) this.ackedSeq = seq;
      for (const [k] of writes) if (this.overlay.get(k)?.seq === seq) this.overlay.delete(k);
      for (const d of done) d(err);
    };
    // Log mode applied-index: the write number is the engine's index (one log, the caller's).
    if (this.engine.logMode === 'applied-index') this.engine.writeApplied(seq, writes, acked);
    else this.engine.write(writes, acked);
  }

  // (An LSM in log mode applied-index flushes its memtable first.)
  close(done?: (err: Error | null) => void): void {
    this.flush();
    this.engine.close((err) => done?.(err));
  }
}

/**
 * A scan of `engine` with the writes of `overlay` (value null: deleted) laid over it: the entries
 * with start <= key < end, ascending or descending, at most limit. The engine is read in pages of
 * at most SCAN_LIMIT_MAX, however many keys the overlay deletes: asking it for limit plus the
 * overlay's size in one call, as this once did, went past the engine's maximum (100,009 > 100,000)
 * while a snapshot read full pages under write load, and every node of a cluster crashed
 * (issue 16, item 3).
 */
export function mergeScan(engine: ReadView, overlay: readonly [string, string | null][], start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
  assert(Number.isSafeInteger(limit) && limit >= 0 && limit <= SCAN_LIMIT_MAX, () => `scan: limit ${limit} outside [0, ${SCAN_LIMIT_MAX}]`);
  const ov = [...overlay].sort((a, b) => (reverse ? compareKeys(b[0], a[0]) : compareKeys(a[0], b[0])));
  const before = (a: string, b: string) => (reverse ? compareKeys(a, b) > 0 : compareKeys(a, b) < 0);
  const out: [string, string][] = [];
  let o = 0;
  // The engine's pages: [lo, hi) shrinks from the front (ascending) or the back (descending).
  let lo = start;
  let hi = end;
  let page: [string, string][] = [];
  let p = 0;
  let engineDone = false;
  while (out.length < limit) {
    if (p === page.length && !engineDone) {
      // Enough to fill what is left even if every overlay entry still ahead deletes one of them.
      const want = Math.min(SCAN_LIMIT_MAX, limit - out.length + (ov.length - o));
      page = engine.scan(lo, hi, want, reverse);
      p = 0;
      engineDone = page.length < want;
      const last = page[page.length - 1];
      if (last !== undefined) {
        if (reverse) hi = last[0];
        else lo = last[0] + '\x00';
      }
    }
    const e = p < page.length ? (page[p] as [string, string]) : undefined;
    const w = o < ov.length ? (ov[o] as [string, string | null]) : undefined;
    if (e === undefined && w === undefined) break;
    if (w !== undefined && (e === undefined || !before(e[0], w[0]))) {
      // The overlay's write decides this key (and hides the engine's entry for it, if any).
      if (e !== undefined && e[0] === w[0]) p++;
      o++;
      if (w[1] !== null) out.push([w[0], w[1]]);
    } else {
      out.push(e as [string, string]);
      p++;
    }
  }
  assert(out.length <= limit, 'mergeScan returned more than its limit');
  return out;
}

/**
 * Opens a node's engine, or one shard's on a sharded node (env is then the shard's). On a Raft
 * member the LSM writes in log mode `applied-index`: no WAL of its own, the Raft log (fsynced per
 * Ready; on a sharded node the log its groups share) is the log, and each flush records the
 * applied index with its table (issue 23: one log per replicated write; etcd's consistent index, TiKV's applied
 * index). A directory an older version wrote with a WAL keeps its mode. Bitcask's data files are
 * its log, so it stays in mode `wal`; the memory engine has nothing to log.
 */
export function openRaftEngine(env: Env, kind: EngineKind, raft: boolean, options: EngineOptions, done: (err: Error | null, engine?: Engine) => void): void {
  const deps = { disk: env.disk, clock: env.clock, log: env.log };
  if (!raft || kind !== 'lsm' || options.logMode !== undefined) return openEngine(kind, deps, ENGINE_DIR, options, done);
  const walDir = `${ENGINE_DIR}/wal`;
  const logMode = env.disk.exists(walDir) ? 'wal' : 'applied-index';
  openEngine(kind, deps, ENGINE_DIR, { ...options, logMode }, done);
}
