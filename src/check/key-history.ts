import { assert } from '../util/assert.js';
import type { Json } from './history.js';
import { Cell, OP_APPEND, OP_CAS, OP_KIND_OF, OP_READ, OP_WRITE } from './model.js';
import type { Operation } from './operation.js';
import { dropUnseenOnAppendKey, producerFacts, reduceCompiled, type CompiledOps, type ProducerFacts } from './reduce.js';
import { ValueTable } from './values.js';

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
  /** Entries in event order: i for the call of op i, ~i (negative) for the return of an ok op i. */
  readonly entries: Int32Array;
  readonly okCount: number;
  readonly cell: Cell;
  /** Info operations left out by reduce.ts. */
  readonly droppedInfo: number;
  /** What the search's pruning rules 3 and 4 know, or null when they are off (reduce.ts). */
  readonly facts: ProducerFacts | null;
}

export interface CompileOptions {
  /** Operation ids (Operation.id) to treat as info whatever they ended with (explanations). */
  readonly weakened?: ReadonlySet<number>;
  /** Keep only events before this event position: the history's prefix, open ops become info. */
  readonly cutEvent?: number;
  /** Drop info operations by reduce.ts rule 1 (default true). */
  readonly dropUnobserved?: boolean;
  /** Merge unobserved values by rule 2 (default true); explanations turn it off to show values. */
  readonly mergeUnobserved?: boolean;
  /** Let the search prune by rules 3 and 4 (default true); off, its dead ends read naturally. */
  readonly pruneSearch?: boolean;
}

/** What status an op has in the (possibly cut and weakened) history, or null if it is left out. */
function effectiveStatus(op: Operation, options: CompileOptions): 'ok' | 'info' | null {
  const cut = options.cutEvent ?? Number.MAX_SAFE_INTEGER;
  if (op.callEvent >= cut) return null;
  const completed = op.returnEvent >= 0 && op.returnEvent < cut;
  if (!completed || op.status === 'info' || options.weakened?.has(op.id)) return op.f === 'read' ? null : 'info';
  return op.status === 'ok' ? 'ok' : null;
}

/** REQUIRES: keyOps all of one key, in invoke order. */
export function compileKey(key: string, keyOps: readonly Operation[], options: CompileOptions = {}): KeyHistory {
  const kept: Operation[] = [];
  const okFlags: number[] = [];
  for (const op of keyOps) {
    assert(op.key === key, () => `op ${op.id} of key ${op.key} compiled under key ${key}`);
    const status = effectiveStatus(op, options);
    if (status === null) continue;
    kept.push(op);
    okFlags.push(status === 'ok' ? 1 : 0);
  }
  const values = new ValueTable();
  const compiled = compileOps(kept, okFlags, values);
  const hasAppend = compiled.kind.includes(OP_APPEND);
  let droppedInfo = 0;
  if (options.dropUnobserved !== false) {
    droppedInfo = hasAppend ? dropUnseenOnAppendKey(compiled, values)
      : reduceCompiled(compiled, values.size, options.mergeUnobserved !== false);
  }
  return finishKey(key, kept, compiled, droppedInfo, values, !hasAppend && options.pruneSearch !== false);
}

function compileOps(ops: readonly Operation[], okFlags: readonly number[], values: ValueTable): CompiledOps {
  const n = ops.length;
  const out: CompiledOps = {
    kind: new Uint8Array(n),
    argA: new Int32Array(n),
    argB: new Int32Array(n),
    isOk: Uint8Array.from(okFlags),
    dropped: new Uint8Array(n),
  };
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Operation;
    const kind = OP_KIND_OF[op.f];
    out.kind[i] = kind;
    if (kind === OP_READ) out.argA[i] = values.intern(op.output);
    else if (kind === OP_WRITE) out.argA[i] = values.intern(op.input);
    else if (kind === OP_APPEND) out.argA[i] = values.internString(op.input as string);
    else if (kind === OP_CAS) {
      const [expected, next] = op.input as [Json, Json];
      out.argA[i] = values.intern(expected);
      out.argB[i] = values.intern(next);
    }
  }
  return out;
}

/** Leaves out the dropped ops and lays out the entries in event order. */
function finishKey(key: string, all: Operation[], c: CompiledOps, droppedInfo: number, values: ValueTable,
  prune: boolean): KeyHistory {
  const keep: number[] = [];
  for (let i = 0; i < all.length; i++) if (c.dropped[i] === 0) keep.push(i);
  const pick = <T extends Uint8Array | Int32Array>(from: T, make: (n: number) => T): T => {
    const to = make(keep.length);
    keep.forEach((src, dst) => (to[dst] = from[src] as number));
    return to;
  };
  const ops = keep.map((i) => all[i] as Operation);
  const isOk = pick(c.isOk, (n) => new Uint8Array(n));
  const kind = pick(c.kind, (n) => new Uint8Array(n));
  const argA = pick(c.argA, (n) => new Int32Array(n));
  const argB = pick(c.argB, (n) => new Int32Array(n));
  const facts = prune ? producerFacts(kind, argA, argB, isOk, values.size) : null;
  return {
    key,
    ops,
    kind,
    argA,
    argB,
    isOk,
    facts,
    entries: layEntries(ops, isOk),
    okCount: isOk.reduce((sum, x) => sum + x, 0),
    cell: new Cell(values),
    droppedInfo,
  };
}

/**
 * Calls are already in event order (ops are in invoke order); returns are sorted by their event
 * position with a packed numeric sort, then both are merged.
 */
function layEntries(ops: readonly Operation[], isOk: Uint8Array): Int32Array {
  const scale = 2 ** 25;
  assert(ops.length < scale, `a key with ${ops.length} operations is over the limit of ${scale}`);
  const returns: number[] = [];
  for (let i = 0; i < ops.length; i++) if (isOk[i] === 1) returns.push((ops[i] as Operation).returnEvent * scale + i);
  const sorted = Float64Array.from(returns).sort();
  const entries = new Int32Array(ops.length + sorted.length);
  let call = 0;
  let ret = 0;
  for (let e = 0; e < entries.length; e++) {
    const retPacked = ret < sorted.length ? (sorted[ret] as number) : Infinity;
    const retPosition = Math.floor(retPacked / scale);
    if (call < ops.length && (ops[call] as Operation).callEvent < retPosition) entries[e] = call++;
    else entries[e] = ~(retPacked - retPosition * scale), ret++;
  }
  return entries;
}
