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
  forced: Int32Array;
  private count = 0;
  private table: Int32Array;
  /** sameSet's scratch, made on the first hash match (most small keys never have one). */
  private marks: Uint8Array | null = null;
  private touched: Int32Array | null = null;

  constructor(
    private readonly opCount: number,
    initialState: number,
    readonly configsMax = CONFIGS_MAX_DEFAULT,
  ) {
    // A linearizable key is searched in about as many configurations as it has ops; starting at
    // 1024 for each of a thousand small keys was most of their search's cost (zeroed arrays).
    let capacity = 64;
    while (capacity < Math.min(1024, opCount * 2)) capacity *= 2;
    [this.parent, this.op, this.state, this.hashA, this.hashB, this.depth, this.forced] = columns(capacity, null);
    this.table = new Int32Array(capacity * 2);
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
    [this.parent, this.op, this.state, this.hashA, this.hashB, this.depth, this.forced] =
      columns(capacity, [this.parent, this.op, this.state, this.hashA, this.hashB, this.depth, this.forced]);
  }

  /** Whether set(from) ∪ {op} equals set(other); both have the same size (checked by the caller). */
  private sameSet(from: number, op: number, other: number): boolean {
    const marks = (this.marks ??= new Uint8Array(this.opCount));
    this.differing = 0;
    this.touchedCount = 0;
    this.toggle(marks, op);
    this.toggle(marks, this.op[other] as number);
    let a = from;
    let b = this.parent[other] as number;
    while (a !== b) {
      this.toggle(marks, this.op[a] as number);
      this.toggle(marks, this.op[b] as number);
      a = this.parent[a] as number;
      b = this.parent[b] as number;
    }
    const touched = this.touched as Int32Array;
    for (let i = 0; i < this.touchedCount; i++) marks[touched[i] as number] = 0;
    return this.differing === 0;
  }

  // sameSet's walk state: fields and a method rather than a closure made per comparison.
  private differing = 0;
  private touchedCount = 0;

  private toggle(marks: Uint8Array, x: number): void {
    const now = (marks[x] as number) ^ 1;
    marks[x] = now;
    this.differing += now === 1 ? 1 : -1;
    let touched = (this.touched ??= new Int32Array(64));
    if (this.touchedCount === touched.length) {
      const bigger = new Int32Array(touched.length * 2);
      bigger.set(touched);
      this.touched = touched = bigger;
    }
    touched[this.touchedCount++] = x;
  }

  /** The operations of a configuration's set, in the order the search linearized them. */
  path(config: number): number[] {
    const order: number[] = [];
    for (let c = config; c !== ROOT; c = this.parent[c] as number) order.push(this.op[c] as number);
    return order.reverse();
  }
}

/**
 * The configuration columns for `capacity` configurations, in one buffer (a memo per key of a
 * thousand-key history made seven buffers each), with `old`'s contents copied in.
 */
function columns(capacity: number, old: Columns | null): Columns {
  const words = new Int32Array(7 * capacity);
  const column = (c: number): Int32Array => {
    const view = words.subarray(c * capacity, (c + 1) * capacity);
    if (old !== null) view.set(old[c] as Int32Array);
    return view;
  };
  return [column(0), column(1), column(2), column(3), column(4), column(5), column(6)];
}

/** parent, op, state, hashA, hashB, depth, forced. */
type Columns = [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];

/**
 * Zobrist keys of ops 0..n-1 (two independent 32-bit ones, never 0), the same for every search:
 * made once up to ZOBRIST_SHARED_MAX ops and shared, since a thousand small keys each hashing
 * their ops again was a cost of its own; larger keys get their own.
 */
export function zobristKeys(n: number): { readonly a: Int32Array; readonly b: Int32Array } {
  if (n > ZOBRIST_SHARED_MAX) return makeZobrist(n);
  if (shared.a.length < n) shared = makeZobrist(Math.max(n, 2 * shared.a.length));
  return shared;
}

const ZOBRIST_SHARED_MAX = 1 << 16;
let shared = makeZobrist(1024);

function makeZobrist(n: number): { a: Int32Array; b: Int32Array } {
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = mix(i * 2 + 1) || 1;
    b[i] = mix(~i * 0x2545f491) || 1;
  }
  return { a, b };
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}
