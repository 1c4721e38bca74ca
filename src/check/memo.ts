import { assert } from '../util/assert.js';

/**
 * Lowe's memoisation for the Wing–Gong search (G. Lowe, "Testing for linearizability", 2017): a
 * configuration is (set of linearized operations, model state); reaching one a second time can
 * only repeat work already done, so the search skips it.
 *
 * Storing the set is the cost that decides whether a million operations fit in memory. Porcupine
 * copies a bitset per configuration (n/8 bytes each); here a configuration is a node of the search
 * tree — its parent configuration plus the one operation it added — so it costs 24 bytes whatever
 * n is, and the node chain from the root spells out the set. The current search path is itself a
 * chain of nodes, so the same arrays are the search stack.
 *
 * Lookups go by two independent 32-bit Zobrist hashes of the set and the state; on a hash match
 * the two sets are compared exactly, by walking both chains back to their common ancestor (sets
 * that differ only by recent choices share all older nodes, so the walk is short). A collision
 * therefore costs time, never a wrong answer.
 */
export const ROOT = 0;

/** Upper bound on stored configurations (24 bytes + 8 of table each): about 0.5 GiB. */
export const CONFIGS_MAX_DEFAULT = 16_000_000;

export class ConfigMemo {
  parent: Int32Array;
  op: Int32Array;
  state: Int32Array;
  hashA: Int32Array;
  hashB: Int32Array;
  depth: Int32Array;
  /** Per configuration, not part of its identity: 1 when the search reached it by a forced move. */
  forced: Uint8Array;
  private count = 0;
  private table: Int32Array;
  private readonly marks: Uint8Array;
  private touched: Int32Array;

  constructor(
    opCount: number,
    initialState: number,
    readonly configsMax = CONFIGS_MAX_DEFAULT,
  ) {
    // A linearizable key is searched in about as many configurations as it has ops; starting at
    // 1024 for each of a thousand small keys was most of their search's cost (zeroed arrays).
    let capacity = 64;
    while (capacity < Math.min(1024, opCount * 2)) capacity *= 2;
    this.parent = new Int32Array(capacity);
    this.op = new Int32Array(capacity);
    this.state = new Int32Array(capacity);
    this.hashA = new Int32Array(capacity);
    this.hashB = new Int32Array(capacity);
    this.depth = new Int32Array(capacity);
    this.forced = new Uint8Array(capacity);
    this.table = new Int32Array(capacity * 2);
    this.marks = new Uint8Array(opCount);
    this.touched = new Int32Array(64);
    this.add(-1, -1, initialState, 0, 0, 0);
  }

  get size(): number {
    return this.count;
  }

  /**
   * The configuration (set of `from` ∪ {op}, state): its new id if it was not known, -1 if it
   * was, -2 if the memo is full. REQUIRES: op is not in the set of `from`.
   */
  insert(from: number, op: number, state: number, hashA: number, hashB: number): number {
    const mask = this.table.length - 1;
    const depth = (this.depth[from] as number) + 1;
    for (let slot = mix(hashA ^ Math.imul(state, 0x27d4eb2d)) & mask; ; slot = (slot + 1) & mask) {
      const stored = (this.table[slot] as number) - 1;
      if (stored < 0) break;
      if (this.hashA[stored] === hashA && this.hashB[stored] === hashB && this.state[stored] === state &&
        this.depth[stored] === depth && this.sameSet(from, op, stored)) {
        return -1;
      }
    }
    if (this.count >= this.configsMax) return -2;
    return this.add(from, op, state, hashA, hashB, depth);
  }

  private add(from: number, op: number, state: number, hashA: number, hashB: number, depth: number): number {
    if (this.count === this.parent.length) this.grow();
    const id = this.count++;
    this.parent[id] = from;
    this.op[id] = op;
    this.state[id] = state;
    this.hashA[id] = hashA;
    this.hashB[id] = hashB;
    this.depth[id] = depth;
    this.forced[id] = 0;
    if (this.count * 2 > this.table.length) this.rehash();
    else this.place(id);
    return id;
  }

  private place(id: number): void {
    const mask = this.table.length - 1;
    let slot = mix((this.hashA[id] as number) ^ Math.imul(this.state[id] as number, 0x27d4eb2d)) & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = id + 1;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    for (let id = 0; id < this.count; id++) this.place(id);
  }

  private grow(): void {
    const capacity = Math.min(this.parent.length * 2, this.configsMax + 1);
    assert(capacity > this.parent.length, 'config memo cannot grow past configsMax');
    const widen = (a: Int32Array): Int32Array => {
      const b = new Int32Array(capacity);
      b.set(a);
      return b;
    };
    this.parent = widen(this.parent);
    this.op = widen(this.op);
    this.state = widen(this.state);
    this.hashA = widen(this.hashA);
    this.hashB = widen(this.hashB);
    this.depth = widen(this.depth);
    const forced = new Uint8Array(capacity);
    forced.set(this.forced);
    this.forced = forced;
  }

  /** Whether set(from) ∪ {op} equals set(other); both have the same size (checked by the caller). */
  private sameSet(from: number, op: number, other: number): boolean {
    let differing = 0;
    let touchedCount = 0;
    const toggle = (x: number): void => {
      const now = (this.marks[x] as number) ^ 1;
      this.marks[x] = now;
      differing += now === 1 ? 1 : -1;
      if (touchedCount === this.touched.length) {
        const bigger = new Int32Array(this.touched.length * 2);
        bigger.set(this.touched);
        this.touched = bigger;
      }
      this.touched[touchedCount++] = x;
    };
    toggle(op);
    toggle(this.op[other] as number);
    let a = from;
    let b = this.parent[other] as number;
    while (a !== b) {
      toggle(this.op[a] as number);
      toggle(this.op[b] as number);
      a = this.parent[a] as number;
      b = this.parent[b] as number;
    }
    for (let i = 0; i < touchedCount; i++) this.marks[this.touched[i] as number] = 0;
    return differing === 0;
  }

  /** The operations of a configuration's set, in the order the search linearized them. */
  path(config: number): number[] {
    const order: number[] = [];
    for (let c = config; c !== ROOT; c = this.parent[c] as number) order.push(this.op[c] as number);
    return order.reverse();
  }
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}
