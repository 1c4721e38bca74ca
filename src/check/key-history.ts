import { assert } from '../util/assert.js';
import type { Json } from './history.js';
import { Cell, OP_APPEND, OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import type { Operation } from './operation.js';
import { appendClosure, appendKeyFacts, mergeUnobserved, producerFacts, registerClosure, type Closure, type OpTable,
  type ProducerFacts } from './reduce.js';
import { ABSENT, UNOBSERVED, ValueTable } from './values.js';

/**
 * One key's history, compiled for the search: operations as typed arrays of (kind, argument A,
 * argument B) over interned values, and the call/return entries in real-time order. Local indices
 * (0..ops.length-1) are positions in `ops`, which keeps invoke order.
 */
export interface KeyHistory {
  readonly key: string;
  readonly ops: readonly Operation[];
  readonly kind: Uint8Array;
  readonly argA: Int32Array;
  readonly argB: Int32Array;
  /** 1 when the operation must be linearized (ok), 0 when it may be or not (info). */
  readonly isOk: Uint8Array;
  /**
   * Per op, its invoke and completion events (Operation.callEvent, returnEvent), copied out so
   * that laying out entries and ranking candidates read arrays, not an object per op scattered
   * across the heap (a cache miss each, on a key of a large history).
   */
  readonly callEvent: Int32Array;
  readonly returnEvent: Int32Array;
  /** Entries in event order: i for the call of op i, ~i (negative) for the return of an ok op i. */
  readonly entries: Int32Array;
  readonly okCount: number;
  /** Steps the model; states are value ids of this compiled history (see valueOf). */
  readonly cell: Cell;
  /** The value a state id stands for (UNOBSERVED shows as null). */
  readonly valueOf: (state: number) => Json;
  /** Per op, its local index in the KeyIndex it was compiled from. */
  readonly indexOf: Int32Array;
  /** What the search's pruning rules 3 and 4 know, or null when they are off (reduce.ts). */
  readonly facts: ProducerFacts | null;
}

/**
 * Which sub-history of the key to compile. Explanations ask for many: a prefix (cut), with most
 * operations *weakened* — treated as info whatever they ended with.
 */
export interface CompileOptions {
  /** Operation ids (Operation.id) to treat as info whatever they ended with. */
  readonly weakened?: ReadonlySet<number>;
  /** The other way round: only these ops (KeyIndex local indices) keep their outcome. */
  readonly keep?: readonly number[];
  /** Keep only events before this event position: the history's prefix, open ops become info. */
  readonly cutEvent?: number;
  /** Drop info operations by reduce.ts rule 1 (default true). */
  readonly dropUnobserved?: boolean;
  /** Merge unobserved values by rule 2 (default true); explanations turn it off to show values. */
  readonly mergeUnobserved?: boolean;
  /** Let the search prune by rules 3 and 4 (default true); off, its dead ends read naturally. */
  readonly pruneSearch?: boolean;
}

/** KeyIndex.recorded: how each op ended in the history. */
export const RECORDED_FAIL = 0;
export const RECORDED_OK = 1;
export const RECORDED_INFO = 2;

const STATUS_NONE = 0;
const STATUS_OK = 1;
const STATUS_INFO = 2;

/**
 * A key interned once (values, kinds, events) with an index of who produces each value, from
 * which any sub-history compiles in time proportional to what it keeps: an explanation probes
 * dozens of sub-histories of one key, and interning a million operations for each was most of
 * its cost.
 */
export class KeyIndex implements OpTable {
  readonly n: number;
  readonly values = new ValueTable();
  readonly cell = new Cell(this.values);
  readonly kind: Uint8Array;
  readonly argA: Int32Array;
  readonly argB: Int32Array;
  readonly recorded: Uint8Array;
  readonly callEvent: Int32Array;
  /** Completion event; -1 when the history ends with the op open. */
  readonly returnEvent: Int32Array;
  readonly producerStart: Int32Array;
  readonly producerOps: Int32Array;
  /** The first append's invoke event, or +∞: a prefix before it is a register's history. */
  readonly firstAppendCall: number;
  /** Scratch for renumbering values per compiled history: -1 everywhere between uses. */
  private renumber = new Int32Array(0);

  /** REQUIRES: keyOps all of one key, in invoke order. */
  constructor(readonly key: string, readonly ops: readonly Operation[]) {
    const n = ops.length;
    this.n = n;
    // One buffer for the six columns: a thousand small keys allocated six thousand buffers, each
    // a backing store for the collector to track (views of one buffer are plain heap objects).
    const words = new Int32Array(4 * n + 2 * ((n + 3) >> 2));
    this.argA = words.subarray(0, n);
    this.argB = words.subarray(n, 2 * n);
    this.callEvent = words.subarray(2 * n, 3 * n);
    this.returnEvent = words.subarray(3 * n, 4 * n);
    this.kind = new Uint8Array(words.buffer, 16 * n, n);
    this.recorded = new Uint8Array(words.buffer, 16 * n + 4 * ((n + 3) >> 2), n);
    let firstAppendCall = Number.POSITIVE_INFINITY;
    let previousId = -1;
    const { kind, argA, argB, recorded, callEvent, returnEvent, values } = this;
    for (let i = 0; i < n; i++) {
      const op = ops[i] as Operation;
      // Tested before assert is called: a message closure per op cost more than the rest of the loop.
      if (op.key !== key) assert(false, `op ${op.id} of key ${op.key} compiled under key ${key}`);
      if (op.id <= previousId) assert(false, 'a key\'s ops must be in invoke order');
      previousId = op.id;
      // A switch on f, not a table lookup by it (a keyed load by string was a third of this loop),
      // and the cas pair read by index, not destructured (an iterator per op before V8 optimises).
      switch (op.f) {
        case 'read':
          kind[i] = OP_READ;
          argA[i] = values.intern(op.output);
          break;
        case 'write':
          kind[i] = OP_WRITE;
          argA[i] = values.intern(op.input);
          break;
        case 'cas': {
          const pair = op.input as [Json, Json];
          kind[i] = OP_CAS;
          argA[i] = values.intern(pair[0]);
          argB[i] = values.intern(pair[1]);
          break;
        }
        case 'delete':
          kind[i] = OP_DELETE;
          break;
        case 'append':
          kind[i] = OP_APPEND;
          argA[i] = values.internString(op.input as string);
          if (op.callEvent < firstAppendCall) firstAppendCall = op.callEvent;
          break;
      }
      const status = op.status;
      recorded[i] = status === 'ok' ? RECORDED_OK : status === 'fail' ? RECORDED_FAIL : RECORDED_INFO;
      callEvent[i] = op.callEvent;
      returnEvent[i] = op.returnEvent;
    }
    this.firstAppendCall = firstAppendCall;
    [this.producerStart, this.producerOps] = this.indexBy(-1);
  }

  // Only refutation and explanations need these two: a key that checks out never builds them.
  private casIndex: [Int32Array, Int32Array] | null = null;
  private completions: Int32Array | null = null;

  /** Cas ops expecting value v: casOps[casStart[v] .. casStart[v + 1]), in invoke order. */
  get casStart(): Int32Array {
    return this.indexCas()[0];
  }

  get casOps(): Int32Array {
    return this.indexCas()[1];
  }

  private indexCas(): [Int32Array, Int32Array] {
    this.casIndex ??= this.indexBy(OP_CAS);
    return this.casIndex;
  }

  /** Local indices of the ok and failed ops by completion event: what explanations choose from. */
  get byReturn(): Int32Array {
    this.completions ??= this.sortByReturn();
    return this.completions;
  }

  /**
   * Counting sort of the ops by a value they have, keeping invoke order within a value: by -1,
   * the value each leaves (leftValue: writes, cas and deletes); by OP_CAS, the value each cas
   * expects. `start` (values + 1 entries) and the ops share one buffer. The value is worked out
   * inline in both passes over the ops, not by a call per op and pass: this runs once per key,
   * mostly before V8 has compiled anything, where a call per op was most of its cost.
   */
  private indexBy(by: number): [Int32Array, Int32Array] {
    const size = this.values.size;
    const { n, kind, argA, argB } = this;
    // Room for every op, as how many are indexed is known only after counting (a pass fewer; the
    // unused tail costs 4 bytes per read or append).
    const words = new Int32Array(size + 1 + n);
    const start = words.subarray(0, size + 1);
    let indexed = 0;
    for (let i = 0; i < n; i++) {
      const k = kind[i] as number;
      const v = k === OP_CAS ? (by === OP_CAS ? argA[i] : argB[i]) as number : by === OP_CAS ? -1
        : k === OP_WRITE ? argA[i] as number : k === OP_DELETE ? ABSENT : -1;
      if (v >= 0) {
        start[v + 1]! += 1;
        indexed++;
      }
    }
    const ops = words.subarray(size + 1, size + 1 + indexed);
    for (let v = 0; v < size; v++) start[v + 1]! += start[v] as number;
    // Filled back to front (each value's run from its end), so no copy of `start` is needed.
    for (let i = n - 1; i >= 0; i--) {
      const k = kind[i] as number;
      const v = k === OP_CAS ? (by === OP_CAS ? argA[i] : argB[i]) as number : by === OP_CAS ? -1
        : k === OP_WRITE ? argA[i] as number : k === OP_DELETE ? ABSENT : -1;
      if (v >= 0) ops[--start[v + 1]!] = i;
    }
    // Each start[v + 1] now holds the start of v's run: shift them back into place.
    for (let v = 0; v < size; v++) start[v] = start[v + 1] as number;
    start[size] = indexed;
    return [start, ops];
  }

  private sortByReturn(): Int32Array {
    const done: number[] = [];
    for (let i = 0; i < this.n; i++) if ((this.returnEvent[i] as number) >= 0 && this.recorded[i] !== RECORDED_INFO) done.push(i);
    return Int32Array.from(done).sort((a, b) => (this.returnEvent[a] as number) - (this.returnEvent[b] as number));
  }

  /** The local index of the op with this Operation.id, or -1. */
  localOf(id: number): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = (this.ops[mid] as Operation).id;
      if (at === id) return mid;
      if (at < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Compiles the sub-history `options` describe (all of it by default). */
  compile(options: CompileOptions = {}): KeyHistory {
    const selection = new Selection(this, options);
    const cut = selection.cut;
    const okOps: number[] = [];
    if (options.keep !== undefined) {
      const keep = options.keep.slice().sort((a, b) => a - b);
      for (let j = 0; j < keep.length; j++) {
        const i = keep[j] as number;
        if (!(i >= 0 && i < this.n)) assert(false, `kept op ${i} is not one of the key's ${this.n}`);
        if (keep[j - 1] !== i && selection.status(i) === STATUS_OK) okOps.push(i);
      }
    } else {
      for (let i = 0; i < this.n && (this.callEvent[i] as number) < cut; i++) if (selection.status(i) === STATUS_OK) okOps.push(i);
    }
    const { info, closure } = this.chooseInfo(okOps, selection, options.dropUnobserved !== false);
    return this.lay(okOps, info, selection, closure, options);
  }

  /** Which info ops the compiled history keeps (reduce.ts rule 1), and what they observe. */
  private chooseInfo(okOps: readonly number[], selection: Selection, drop: boolean): { info: number[]; closure: Closure | null } {
    const cut = selection.cut;
    if (!drop) return { info: selection.allInfo(), closure: null };
    if (this.firstAppendCall >= cut) {
      const closure = registerClosure(this, okOps, selection, cut);
      return { info: closure.info, closure };
    }
    const info = appendClosure(this, okOps, selection.allInfo());
    if (this.anyAppend(okOps) || this.anyAppend(info)) return { info, closure: null };
    // No append is left: what remains is a register's history, and its rules apply to it.
    const kept = new Set(info);
    const closure = registerClosure(this, okOps, { isInfo: (i) => kept.has(i) }, cut);
    return { info: closure.info, closure };
  }

  private anyAppend(ops: readonly number[]): boolean {
    for (const i of ops) if (this.kind[i] === OP_APPEND) return true;
    return false;
  }

  /**
   * Copies the chosen ops out (merging unobserved values), lays out their entries, finds the
   * facts. Without appends, values are renumbered densely (absent and UNOBSERVED keep their ids),
   * so that the search's per-value arrays are the size of what was compiled, not of the key.
   * The compiled columns share one buffer (one per compiled history, not six).
   */
  private lay(okOps: readonly number[], info: readonly number[], selection: Selection, closure: Closure | null,
    options: CompileOptions): KeyHistory {
    const m = okOps.length + info.length;
    const okCount = okOps.length;
    const entryCount = m + okCount;
    const wordCount = 5 * m + entryCount;
    const words = new Int32Array(wordCount + ((2 * m + 3) >> 2));
    const argA = words.subarray(0, m);
    const argB = words.subarray(m, 2 * m);
    const indexOf = words.subarray(2 * m, 3 * m);
    const callEvent = words.subarray(3 * m, 4 * m);
    const returnEvent = words.subarray(4 * m, 5 * m);
    const entries = words.subarray(5 * m, wordCount);
    const kind = new Uint8Array(words.buffer, 4 * wordCount, m);
    const isOk = new Uint8Array(words.buffer, 4 * wordCount + m, m);
    // The chosen ops in invoke order: ok and info ops are disjoint (their statuses differ).
    indexOf.set(okOps);
    indexOf.set(info, okCount);
    indexOf.sort();
    const ops: Operation[] = new Array<Operation>(m);
    let oks = 0;
    for (let j = 0; j < m; j++) {
      const i = indexOf[j] as number;
      kind[j] = this.kind[i] as number;
      argA[j] = this.argA[i] as number;
      argB[j] = this.argB[i] as number;
      callEvent[j] = this.callEvent[i] as number;
      returnEvent[j] = this.returnEvent[i] as number;
      const ok = selection.status(i) === STATUS_OK ? 1 : 0;
      isOk[j] = ok;
      oks += ok;
      ops[j] = this.ops[i] as Operation;
    }
    assert(oks === okCount, 'the compiled ok ops are the ones chosen');
    if (closure !== null && options.mergeUnobserved !== false) mergeUnobserved(kind, argA, argB, closure.observed);
    const register = !kind.includes(OP_APPEND);
    let renumbered: number[] | null = null;
    let valueCount = this.values.size;
    if (register) {
      renumbered = this.renumberValues(kind, argA, argB);
      valueCount = renumbered.length;
    }
    const prune = options.pruneSearch !== false;
    const facts = !prune ? null : register ? producerFacts(kind, argA, argB, isOk, valueCount) : appendKeyFacts(kind, argA, isOk, this.values);
    layEntries(callEvent, returnEvent, isOk, entries);
    return {
      key: this.key,
      ops,
      kind,
      argA,
      argB,
      isOk,
      callEvent,
      returnEvent,
      facts,
      entries,
      okCount,
      cell: this.cell,
      valueOf: valueNames(this.values, renumbered),
      indexOf,
    };
  }

  /** Rewrites the arguments to dense ids in place; returns the key's id of each dense id. */
  private renumberValues(kind: Uint8Array, argA: Int32Array, argB: Int32Array): number[] {
    if (this.renumber.length < this.values.size) this.renumber = new Int32Array(this.values.size).fill(-1);
    const dense = this.renumber;
    const ids = [ABSENT, UNOBSERVED];
    dense[ABSENT] = ABSENT;
    dense[UNOBSERVED] = UNOBSERVED;
    for (let j = 0; j < kind.length; j++) {
      const a = argA[j] as number;
      if ((dense[a] as number) < 0) dense[a] = ids.push(a) - 1;
      argA[j] = dense[a] as number;
      if (kind[j] !== OP_CAS) continue;
      const b = argB[j] as number;
      if ((dense[b] as number) < 0) dense[b] = ids.push(b) - 1;
      argB[j] = dense[b] as number;
    }
    for (const v of ids) dense[v] = -1;
    return ids;
  }
}

/**
 * Which ops a compiled history keeps and with what outcome (CompileOptions), asked per op: an
 * explanation's probe keeps a few ops of a long key, and asking only about those keeps it cheap.
 */
class Selection {
  readonly cut: number;
  private readonly keepSet: ReadonlySet<number> | null;
  private readonly weakened: ReadonlySet<number> | undefined;

  constructor(private readonly index: KeyIndex, options: CompileOptions) {
    this.cut = options.cutEvent ?? Number.MAX_SAFE_INTEGER;
    this.keepSet = options.keep === undefined ? null : new Set(options.keep);
    this.weakened = options.weakened;
  }

  status(i: number): number {
    const index = this.index;
    if ((index.callEvent[i] as number) >= this.cut) return STATUS_NONE;
    const ret = index.returnEvent[i] as number;
    const completed = ret >= 0 && ret < this.cut;
    const kept = this.keepSet !== null ? this.keepSet.has(i)
      : this.weakened === undefined || !this.weakened.has((index.ops[i] as Operation).id);
    if (!completed || index.recorded[i] === RECORDED_INFO || !kept) return index.kind[i] === OP_READ ? STATUS_NONE : STATUS_INFO;
    return index.recorded[i] === RECORDED_OK ? STATUS_OK : STATUS_NONE;
  }

  isInfo(i: number): boolean {
    return this.status(i) === STATUS_INFO;
  }

  /** Every op of unknown outcome in the compiled history, in invoke order. */
  allInfo(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.index.n && (this.index.callEvent[i] as number) < this.cut; i++) if (this.isInfo(i)) out.push(i);
    return out;
  }
}

/** KeyHistory.valueOf: a compiled history's state ids back to values (through the dense renumbering, if any). */
function valueNames(values: ValueTable, ids: readonly number[] | null): (state: number) => Json {
  return ids === null ? (state) => values.value(state) : (state) => values.value(ids[state] as number);
}

/** Compiles one key's history, or the sub-history `options` describe. REQUIRES: keyOps in invoke order. */
export function compileKey(key: string, keyOps: readonly Operation[], options: CompileOptions = {}): KeyHistory {
  return new KeyIndex(key, keyOps).compile(options);
}

/**
 * Calls are already in event order (ops are in invoke order); returns are sorted by their event
 * position with a packed numeric sort, then both are merged into `entries` (ops + ok ops long).
 */
function layEntries(callEvent: Int32Array, returnEvent: Int32Array, isOk: Uint8Array, entries: Int32Array): void {
  const n = callEvent.length;
  const scale = 2 ** 25;
  assert(n < scale, `a key with ${n} operations is over the limit of ${scale}`);
  const sorted = new Float64Array(entries.length - n);
  let count = 0;
  for (let i = 0; i < n; i++) if (isOk[i] === 1) sorted[count++] = (returnEvent[i] as number) * scale + i;
  assert(count === sorted.length, 'one return entry per ok op');
  sorted.sort();
  let call = 0;
  let ret = 0;
  for (let e = 0; e < entries.length; e++) {
    const retPacked = ret < sorted.length ? (sorted[ret] as number) : Infinity;
    const retPosition = Math.floor(retPacked / scale);
    if (call < n && (callEvent[call] as number) < retPosition) entries[e] = call++;
    else entries[e] = ~(retPacked - retPosition * scale), ret++;
  }
}
