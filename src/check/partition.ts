import type { Operation } from './operation.js';

/**
 * P-compositionality (Herlihy & Wing; Horn & Kroening, "Faster linearizability checking via
 * P-compositionality", 2015): operations on different keys never constrain each other in a map,
 * so each key's sub-history is checked on its own — many small searches instead of one whose
 * configurations multiply across keys. Keys come out in order of first appearance, so the split
 * (and everything after it) is deterministic.
 */
export function partitionByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  return byKey;
}
