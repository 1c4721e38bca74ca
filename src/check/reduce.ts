import { OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import { ABSENT, UNOBSERVED } from './values.js';

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
