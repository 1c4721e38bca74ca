import { assert } from '../../util/assert.js';
import type { Index } from './types.js';

/**
 * The appends a leader has sent to one follower and not yet seen acknowledged: flow control for
 * the replicate state (progress.ts). Each send records the last position it carried and its size;
 * an acknowledgement of position i frees every send up to i. The leader sends no more while
 * either limit is reached. (After etcd's tracker/inflights.go.)
 *
 * A ring buffer of at most countMax slots: entry k of the window is at (start + k) % countMax.
 */
export class Inflights {
  private readonly indexes: Index[];
  private readonly sizes: number[];
  private start = 0;
  private n = 0;
  private totalBytes = 0;

  constructor(
    readonly countMax: number,
    readonly bytesMax: number,
  ) {
    assert(Number.isInteger(countMax) && countMax >= 1, 'inflight count limit must be a positive integer');
    assert(bytesMax >= 1, 'inflight byte limit must be positive');
    this.indexes = new Array<Index>(countMax).fill(0);
    this.sizes = new Array<number>(countMax).fill(0);
  }

  get count(): number {
    return this.n;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  full(): boolean {
    return this.n >= this.countMax || this.totalBytes >= this.bytesMax;
  }

  /** REQUIRES: !full(), and index greater than every recorded one. */
  add(index: Index, bytes: number): void {
    assert(!this.full(), 'adding to full inflights');
    if (this.n > 0) {
      const last = this.indexes[(this.start + this.n - 1) % this.countMax] as Index;
      assert(index > last, () => `inflight ${index} is not after ${last}`);
    }
    const slot = (this.start + this.n) % this.countMax;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.n += 1;
    this.totalBytes += bytes;
  }

  /** Frees every send whose last position is <= index. */
  freeLE(index: Index): void {
    while (this.n > 0 && (this.indexes[this.start] as Index) <= index) {
      this.totalBytes -= this.sizes[this.start] as number;
      this.start = (this.start + 1) % this.countMax;
      this.n -= 1;
    }
    if (this.n === 0) this.start = 0;
  }

  /** Frees the oldest send (see Raft.handleHeartbeatResponse for why). */
  freeFirstOne(): void {
    if (this.n === 0) return;
    this.freeLE(this.indexes[this.start] as Index);
  }

  reset(): void {
    this.start = 0;
    this.n = 0;
    this.totalBytes = 0;
  }
}
