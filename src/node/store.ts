import type { Engine } from '../storage/engine.js';
import { compareKeys } from '../storage/keys.js';
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
    // Ask the engine for enough to cover keys the overlay deletes, then merge the overlay in.
    const merged = new Map<string, string>();
    for (const [k, v] of this.engine.scan(start, end, limit + this.overlay.size, reverse)) merged.set(k, v);
    for (const [k, o] of this.overlay) {
      if (compareKeys(k, start) < 0 || (end !== null && compareKeys(k, end) >= 0)) continue;
      if (o.value === null) merged.delete(k);
      else merged.set(k, o.value);
    }
    const keys = [...merged.keys()].sort(compareKeys);
    if (reverse) keys.reverse();
    return keys.slice(0, limit).map((k) => [k, merged.get(k) as string]);
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
