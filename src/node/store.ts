import { SCAN_LIMIT_MAX, type Engine, type ReadView } from '../storage/engine.js';
import { compareKeys } from '../storage/keys.js';
import { assert } from '../util/assert.js';
import type { KvView, StorageWrite } from './kv-state.js';

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
  close(): void;
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

  constructor(readonly engine: Engine) {}

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
    this.engine.write(writes, (err) => {
      for (const [k] of writes) if (this.overlay.get(k)?.seq === seq) this.overlay.delete(k);
      for (const d of done) d(err);
    });
  }

  close(): void {
    this.flush();
    this.engine.close(() => {});
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
