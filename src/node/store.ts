import type { Engine } from '../storage/engine.js';
import { compareKeys } from '../storage/keys.js';
import type { KvView, StorageWrite } from './kv-state.js';

/**
 * Where a node keeps its applied state: a view the state machine reads, and durable application
 * of writes. `apply` makes the writes visible to `view` at once and calls done when they are as
 * durable as the store promises (a memory store: never, so at once).
 */
export interface NodeStore {
  readonly view: KvView;
  apply(writes: StorageWrite[], done: (err: Error | null) => void): void;
  close(): void;
}

/** An ordered in-memory store: the first subject's storage; a crash loses it all. */
export class MemoryStore implements NodeStore, KvView {
  private readonly map = new Map<string, string>();
  /** Keys in order, rebuilt lazily on the first scan after a change. */
  private sorted: string[] | null = [];

  get view(): KvView {
    return this;
  }

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    if (this.sorted === null) this.sorted = [...this.map.keys()].sort();
    const keys = this.sorted;
    let lo = lowerBound(keys, start);
    const hi = end === null ? keys.length : lowerBound(keys, end);
    const out: [string, string][] = [];
    if (!reverse) {
      for (; lo < hi && out.length < limit; lo++) out.push([keys[lo] as string, this.map.get(keys[lo] as string) as string]);
    } else {
      for (let i = hi - 1; i >= lo && out.length < limit; i--) out.push([keys[i] as string, this.map.get(keys[i] as string) as string]);
    }
    return out;
  }

  apply(writes: StorageWrite[], done: (err: Error | null) => void): void {
    for (const [k, v] of writes) {
      if (v === null) {
        if (this.map.delete(k)) this.sorted = null;
      } else {
        if (!this.map.has(k)) this.sorted = null;
        this.map.set(k, v);
      }
    }
    done(null);
  }

  close(): void {}
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
    const seq = ++this.seq;
    for (const [k, v] of writes) this.overlay.set(k, { value: v, seq });
    this.engine.write(writes, (err) => {
      for (const [k] of writes) if (this.overlay.get(k)?.seq === seq) this.overlay.delete(k);
      done(err);
    });
  }

  close(): void {
    this.engine.close(() => {});
  }
}
