import { OP_APPEND, OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import { ABSENT, UNOBSERVED, type ValueTable } from './values.js';

/**
 * Sound shrinking of one key's compiled history before the search. Call a value *observed* when
 * some operation compares the state with it: an ok read that returned it, or a cas (ok or info)
 * that expects it. On a key without appends (an append builds on whatever the state is, so there
 * every value counts), two rules hold:
 *
 * 1. An info write, cas or delete that produces an unobserved value can be dropped. In any legal
 *    linearization, the operation right after it cannot be a read or cas (they would need the
 *    unobserved value), so it is a write, a delete, or nothing: removing the info operation changes
 *    no state any other operation sees, and an info operation is allowed not to happen. Dropping
 *    an info cas removes an observer of its expected value, so the rule runs to a fixpoint.
 * 2. All unobserved values other than absent can be merged into one state, UNOBSERVED: no
 *    operation's legality depends on which of them the state holds, so the merged states behave
 *    the same in every future (they are bisimilar), and the search sees fewer distinct states.
 *
 * Reads whose outcome is unknown have no effect and were already left out by the caller.
 */
export interface CompiledOps {
  kind: Uint8Array;
  argA: Int32Array;
  argB: Int32Array;
  isOk: Uint8Array;
  /** Set to 1 for operations this pass drops. */
  dropped: Uint8Array;
}

/** Applies rule 1 and, when `merge`, rule 2, in place; returns how many info operations were dropped. */
export function reduceCompiled(ops: CompiledOps, valueCount: number, merge: boolean): number {
  const n = ops.kind.length;
  const observed = new Int32Array(valueCount);
  for (let i = 0; i < n; i++) {
    const k = ops.kind[i] as number;
    if ((k === OP_READ && ops.isOk[i] === 1) || k === OP_CAS) observed[ops.argA[i] as number]! += 1;
  }
  const droppedCount = dropUnobservedInfo(ops, observed);
  if (!merge) return droppedCount;
  for (let i = 0; i < n; i++) {
    if (ops.dropped[i] === 1) continue;
    const k = ops.kind[i] as number;
    if (k === OP_WRITE && isMergeable(ops.argA[i] as number, observed)) ops.argA[i] = UNOBSERVED;
    if (k === OP_CAS && isMergeable(ops.argB[i] as number, observed)) ops.argB[i] = UNOBSERVED;
  }
  return droppedCount;
}

function isMergeable(value: number, observed: Int32Array): boolean {
  return value !== ABSENT && observed[value] === 0;
}

/** The value an effectful operation leaves, or -1 for reads. */
function produced(ops: CompiledOps, i: number): number {
  switch (ops.kind[i]) {
    case OP_WRITE:
      return ops.argA[i] as number;
    case OP_CAS:
      return ops.argB[i] as number;
    case OP_DELETE:
      return ABSENT;
    default:
      return -1;
  }
}

function dropUnobservedInfo(ops: CompiledOps, observed: Int32Array): number {
  const producers = new Map<number, number[]>();
  for (let i = 0; i < ops.kind.length; i++) {
    const v = produced(ops, i);
    if (ops.isOk[i] === 1 || v < 0) continue;
    const list = producers.get(v);
    if (list === undefined) producers.set(v, [i]);
    else list.push(i);
  }
  const work: number[] = [];
  for (const v of producers.keys()) if (observed[v] === 0) work.push(v);
  let count = 0;
  for (let v = work.pop(); v !== undefined; v = work.pop()) {
    for (const i of producers.get(v) ?? []) {
      if (ops.dropped[i] === 1) continue;
      ops.dropped[i] = 1;
      count++;
      if (ops.kind[i] !== OP_CAS) continue;
      const expected = ops.argA[i] as number;
      observed[expected]! -= 1;
      if (observed[expected] === 0 && producers.has(expected)) work.push(expected);
    }
  }
  return count;
}

/**
 * Facts about who produces and who looks at each value, on a key without appends, that let the
 * search prune dead ends early (search.ts rules 3 and 4).
 */
export interface ProducerFacts {
  /**
   * Per op, 1 when it must be followed at once by an operation that looks at the value it left
   * (a read of it or a cas expecting it):
   * - an info write, cas or delete: if what follows does not look at its value, it is a write, a
   *   delete or nothing, and the info operation can be left out (it need not happen at all);
   * - an ok write or cas that is the only producer of its value v, when an ok read or ok cas looks
   *   at v: that observer is in every linearization, after the producer, and nothing between them
   *   can change the state (no one else produces v), so the operation right after the producer
   *   looks at v.
   */
  readonly lookedAt: Uint8Array;
  /** Per value, 1 when one thing alone can produce it: one op, or for absent the initial state. */
  readonly uniqueProducer: Uint8Array;
  /** Per value, how many ok reads and ok cas ops look at it. */
  readonly okObservers: Int32Array;
}

export function producerFacts(kind: Uint8Array, argA: Int32Array, argB: Int32Array, isOk: Uint8Array,
  valueCount: number): ProducerFacts {
  const n = kind.length;
  const producers = new Int32Array(valueCount);
  producers[ABSENT] = 1; // the initial state
  const okObservers = new Int32Array(valueCount);
  const producedBy = (i: number): number =>
    kind[i] === OP_WRITE ? (argA[i] as number) : kind[i] === OP_CAS ? (argB[i] as number) : kind[i] === OP_DELETE ? ABSENT : -1;
  for (let i = 0; i < n; i++) {
    const v = producedBy(i);
    if (v >= 0) producers[v]! += 1;
    if (isOk[i] === 1 && (kind[i] === OP_READ || kind[i] === OP_CAS)) okObservers[argA[i] as number]! += 1;
  }
  const uniqueProducer = producers.map((count, v) => (count === 1 && v !== UNOBSERVED ? 1 : 0));
  const lookedAt = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = producedBy(i);
    if (v < 0) continue;
    const uniqueAndSeen = v !== ABSENT && uniqueProducer[v] === 1 && (okObservers[v] as number) > 0;
    lookedAt[i] = isOk[i] === 0 || uniqueAndSeen ? 1 : 0;
  }
  return { lookedAt, uniqueProducer: Uint8Array.from(uniqueProducer), okObservers };
}

/** Work bound for dropUnseenOnAppendKey: info ops × characters of the texts searched. */
const UNSEEN_WORK_MAX = 2e9;

/**
 * Rule 1 for keys with appends, where a state can be built on rather than just compared: an info
 * append, write or cas can be dropped when nothing could ever see what it left.
 * - An append of suffix s, or a write or cas leaving a string s: until a write, delete or cas
 *   replaces the value, every state contains s (appends only extend). If s occurs in no ok read's
 *   result and no cas's expected value, no ok read and no cas can come in that stretch — only
 *   appends, legal on any string, then a write or delete, legal anywhere — so leaving the info op
 *   out keeps every operation legal. (A chance match of s inside a longer text only keeps an op.)
 *   One exception: leaving out a write or cas of a string s makes the appends of that stretch
 *   build on the state before it, and if that state can be a value that is not a string, an ok
 *   append there becomes illegal (ok write 5, info write "zz", ok append "a" is linearizable only
 *   through "zz"). So on a key where some write or cas leaves a non-string value and some append
 *   is ok, info writes and cas leaving strings (or absent: writing null) are kept.
 * - A write or cas leaving a value that is not a string: an append after it cannot take effect,
 *   so the same holds when no ok read returned the value and no cas expects it.
 * Info deletes are kept: an append after a delete starts from empty, which others may see.
 */
export function dropUnseenOnAppendKey(ops: CompiledOps, values: ValueTable): number {
  const texts: string[] = [];
  const seenIds = new Set<number>();
  const candidates: number[] = [];
  let okAppend = false;
  let nonString = false;
  for (let i = 0; i < ops.kind.length; i++) {
    const k = ops.kind[i];
    if ((k === OP_READ && ops.isOk[i] === 1) || k === OP_CAS) {
      const id = ops.argA[i] as number;
      seenIds.add(id);
      const seen = values.value(id);
      if (typeof seen === 'string') texts.push(seen);
    }
    if (k === OP_APPEND && ops.isOk[i] === 1) okAppend = true;
    const left = k === OP_WRITE ? (ops.argA[i] as number) : k === OP_CAS ? (ops.argB[i] as number) : ABSENT;
    if (left !== ABSENT && typeof values.value(left) !== 'string') nonString = true;
    if (ops.isOk[i] === 0 && (k === OP_APPEND || k === OP_WRITE || k === OP_CAS)) candidates.push(i);
  }
  const keepStrings = okAppend && nonString;
  const haystack = texts.join('\u0000');
  if (haystack.length * candidates.length > UNSEEN_WORK_MAX) return 0;
  let count = 0;
  for (const i of candidates) {
    const left = ops.kind[i] === OP_CAS ? (ops.argB[i] as number) : (ops.argA[i] as number);
    const value = values.value(left);
    // Absent counts as a string here: an append builds on it.
    if (keepStrings && ops.kind[i] !== OP_APPEND && (typeof value === 'string' || left === ABSENT)) continue;
    const seen = typeof value === 'string' ? value.includes('\u0000') || haystack.includes(value) : seenIds.has(left);
    if (seen) continue;
    ops.dropped[i] = 1;
    count++;
  }
  return count;
}
