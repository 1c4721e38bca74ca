import { assert } from '../../util/assert.js';
import { compareBytes } from '../util/bytes.js';
import type { InternalIterator } from './iterator.js';

/**
 * Merges sources ordered newest first (memtable, immutable memtable, level-0 tables newest first,
 * then levels 1, 2, ...) into one ordered stream with one entry per key: the newest source's. A
 * binary heap orders the sources' current entries by key, ties broken by source age, so the newest
 * source of a key is on top; moving past a key moves every source past it.
 *
 * One direction per positioning: forward after seekFirst/seekGE (next), backward after
 * seekLast/seekLT (prev).
 */
export class MergingIterator implements InternalIterator {
  private heap: number[] = [];
  private forward = true;
  private lastKey = new Uint8Array(64);
  private lastKeyLength = 0;

  constructor(private readonly sources: InternalIterator[]) {}

  private before(a: number, b: number): boolean {
    const c = compareBytes((this.sources[a] as InternalIterator).key(), (this.sources[b] as InternalIterator).key());
    if (c !== 0) return this.forward ? c < 0 : c > 0;
    return a < b;
  }

  private build(): void {
    this.heap = [];
    for (let i = 0; i < this.sources.length; i++) if ((this.sources[i] as InternalIterator).valid()) this.heap.push(i);
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const x = h[i] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.before(h[r] as number, h[l] as number) ? r : l;
      if (!this.before(h[c] as number, x)) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = x;
  }

  private top(): InternalIterator {
    return this.sources[this.heap[0] as number] as InternalIterator;
  }

  valid(): boolean {
    return this.heap.length > 0;
  }

  key(): Uint8Array {
    return this.top().key();
  }

  keyString(): string {
    return this.top().keyString();
  }

  isDelete(): boolean {
    return this.top().isDelete();
  }

  value(): Uint8Array {
    return this.top().value();
  }

  valueString(): string {
    return this.top().valueString();
  }

  seekFirst(): void {
    this.forward = true;
    for (const s of this.sources) s.seekFirst();
    this.build();
  }

  seekLast(): void {
    this.forward = false;
    for (const s of this.sources) s.seekLast();
    this.build();
  }

  seekGE(target: Uint8Array): void {
    this.forward = true;
    for (const s of this.sources) s.seekGE(target);
    this.build();
  }

  seekLT(target: Uint8Array): void {
    this.forward = false;
    for (const s of this.sources) s.seekLT(target);
    this.build();
  }

  next(): void {
    assert(this.forward, 'MergingIterator.next after a backward seek');
    this.advance();
  }

  prev(): void {
    assert(!this.forward, 'MergingIterator.prev after a forward seek');
    this.advance();
  }

  close(): void {
    for (const s of this.sources) s.close();
    this.heap = [];
  }

  /** Moves every source whose current key is the current key one step on. */
  private advance(): void {
    const k = this.top().key();
    if (this.lastKey.length < k.length) this.lastKey = new Uint8Array(k.length * 2);
    this.lastKey.set(k);
    this.lastKeyLength = k.length;
    const last = this.lastKey.subarray(0, this.lastKeyLength);
    while (this.heap.length > 0) {
      const s = this.top();
      if (compareBytes(s.key(), last) !== 0) break;
      if (this.forward) s.next();
      else s.prev();
      if (s.valid()) this.down(0);
      else {
        const tail = this.heap.pop() as number;
        if (this.heap.length > 0) {
          this.heap[0] = tail;
          this.down(0);
        }
      }
    }
  }
}
