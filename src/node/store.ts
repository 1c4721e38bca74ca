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
