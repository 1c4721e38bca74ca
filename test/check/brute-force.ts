/**
 * The reference the checker is tested against: it enumerates every order of every subset of the
 * operations that respects real time (ok ops all present, info ops optional, failed ops absent),
 * applying a plain map model written here from the HISTORY.md rules, independently of src/check
 * (no interning, no key split, no memo, no reductions). Exponential: for histories of ≤ 8 ops.
 */
import type { Json } from '../../src/util/json.js';
import type { History, Operation } from '../../src/check/operation.js';

export const BRUTE_FORCE_OPS_MAX = 9;

function text(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(text).join(',') + ']';
  return '{' + Object.keys(value).sort().map((k) => JSON.stringify(k) + ':' + text(value[k] as Json)).join(',') + '}';
}

/** The state after op in `state`, or undefined when the op cannot take effect there. */
function apply(state: Map<string, Json>, op: Operation): Map<string, Json> | undefined {
  const current = state.get(op.key) ?? null;
  const next = new Map(state);
  switch (op.f) {
    case 'read':
      // An info read (no result) is always allowed and changes nothing.
      return op.status !== 'ok' || text(current) === text(op.output) ? state : undefined;
    case 'write':
      next.set(op.key, op.input);
      return next;
    case 'cas': {
      const [expected, replacement] = op.input as [Json, Json];
      if (text(current) !== text(expected)) return undefined;
      next.set(op.key, replacement);
      return next;
    }
    case 'delete':
      next.set(op.key, null);
      return next;
    case 'append':
      if (current !== null && typeof current !== 'string') return undefined;
      next.set(op.key, (current ?? '') + (op.input as string));
      return next;
  }
}

/** Whether some legal sequential order exists; `ops` may be any list of operations of a history. */
export function bruteForceLinearizable(ops: readonly Operation[]): boolean {
  const live = ops.filter((op) => op.status !== 'fail');
  if (live.length > BRUTE_FORCE_OPS_MAX) throw new Error(`brute force over ${live.length} ops is too slow`);
  const okOps = live.filter((op) => op.status === 'ok');
  // a must come before b when a is ok and completed before b was invoked.
  const mustPrecede = (a: Operation, b: Operation): boolean =>
    a.status === 'ok' && a.returnEvent >= 0 && a.returnEvent < b.callEvent;
  const used = new Set<Operation>();
  const search = (state: Map<string, Json>): boolean => {
    if (okOps.every((op) => used.has(op))) return true;
    for (const op of live) {
      if (used.has(op)) continue;
      if (live.some((a) => a !== op && !used.has(a) && mustPrecede(a, op))) continue;
      const after = apply(state, op);
      if (after === undefined) continue;
      used.add(op);
      const found = search(after);
      used.delete(op);
      if (found) return true;
    }
    return false;
  };
  return search(new Map());
}

/**
 * The history the explanation claims about: cut after event `cutEvent - 1` (ops open there become
 * info; ops invoked later vanish) and every op not in `keep` weakened to info.
 */
export function weakenedHistory(history: History, keep: ReadonlySet<number>, cutEvent: number): Operation[] {
  const out: Operation[] = [];
  for (const op of history.ops) {
    if (op.callEvent >= cutEvent) continue;
    const completed = op.returnEvent >= 0 && op.returnEvent < cutEvent;
    const status = !completed || !keep.has(op.id) ? 'info' : op.status;
    out.push({ ...op, status, returnEvent: status === 'info' ? -1 : op.returnEvent });
  }
  return out;
}
