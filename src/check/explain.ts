import { makeBudget, type Budget } from './budget.js';
import type { Json } from './history.js';
import { compileKey, type CompileOptions } from './key-history.js';
import type { Operation } from './operation.js';
import { searchLinearization, type SearchVerdict } from './search.js';

/**
 * Why a key is not linearizable, as the smallest set of operations that is already not
 * linearizable. "Smallest" needs care: simply deleting operations is no good (a read without the
 * write it read from is trivially wrong, and says nothing). Instead the other operations are
 * *weakened*: treated as info — they may have taken effect at any time after their invoke, or
 * never. Weakening only adds freedom, so "still not linearizable" is monotone in the set of
 * operations kept as they are, and that makes a minimal set well defined and cheap to find:
 *
 * 1. Prefixes are monotone too (a linearizable history's every prefix is linearizable, with the
 *    operations open at the cut counting as info), so a binary search over the key's completion
 *    events finds the shortest failing prefix. Its last event completes the operation r that
 *    cannot be placed; weakening r gives the prefix before, which is linearizable, so r is needed.
 * 2. Starting from S = {r} and candidates U (the ops completed earlier, latest first), while S
 *    alone is linearizable: binary-search the shortest U[0..i] with S ∪ U[0..i] failing, add U[i]
 *    to S, keep U[0..i) as the candidates. Each added op is necessary (without it, S lies inside a
 *    set that was found linearizable), so the result is minimal: dropping any one op from it makes
 *    the rest linearizable. It costs O(|S| log |U|) searches.
 */
export interface Explanation {
  readonly key: string;
  /** The operations that cannot be ordered, in invoke order. */
  readonly ops: readonly Operation[];
  /** Operations of unknown outcome the final search still had to consider. */
  readonly context: readonly Operation[];
  /** Whether minimality was established; false when the budget ran out first. */
  readonly minimal: boolean;
  /** The key's history is linearizable up to (not including) this event; its source line. */
  readonly failingEvent: number;
  readonly failingLine: number;
  /** The deepest order the search found for `ops`, the state after it, and the op it stuck on. */
  readonly order: readonly Operation[];
  readonly stateAfter: Json;
  readonly stuck: Operation | null;
}

/** Default step budget of one explanation, on top of the check's own. */
export const EXPLAIN_STEPS_MAX_DEFAULT = 20_000_000;

type Probe = (options: CompileOptions) => SearchVerdict;

/** REQUIRES: keyOps (one key, invoke order) is not linearizable. */
export function explainViolation(key: string, keyOps: readonly Operation[], budget: Budget): Explanation {
  const probe: Probe = (options) => searchLinearization(compileKey(key, keyOps, options), budget).verdict;
  const ends = keyOps
    .filter((op) => op.returnEvent >= 0 && op.status !== 'info')
    .map((op) => op.returnEvent)
    .sort((a, b) => a - b);
  const prefix = shortestFailingPrefix(ends, probe);
  const cutEvent = prefix.event + 1;
  const inPrefix = keyOps.filter((op) => op.returnEvent >= 0 && op.returnEvent < cutEvent && op.status !== 'info');
  const last = inPrefix.find((op) => op.returnEvent === prefix.event);
  const candidates = inPrefix.filter((op) => op !== last).sort((a, b) => b.returnEvent - a.returnEvent);
  let chosen: Operation[];
  let minimal = prefix.exact;
  if (last === undefined) {
    chosen = inPrefix;
    minimal = false;
  } else {
    const found = minimalSet([last], candidates, inPrefix, cutEvent, probe);
    chosen = found.ops;
    minimal &&= found.exact;
  }
  return describe(key, keyOps, chosen, inPrefix, cutEvent, minimal, prefix.event);
}

function weakenAllBut(keep: readonly Operation[], all: readonly Operation[]): Set<number> {
  const kept = new Set(keep.map((op) => op.id));
  return new Set(all.filter((op) => !kept.has(op.id)).map((op) => op.id));
}

/** The first completion event at which the key's prefix fails; `exact` false if a probe gave up. */
function shortestFailingPrefix(ends: readonly number[], probe: Probe): { event: number; exact: boolean } {
  let lo = 0;
  let hi = ends.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const verdict = probe({ cutEvent: (ends[mid] as number) + 1 });
    if (verdict === 'unknown') return { event: ends[hi] as number, exact: false };
    if (verdict === 'violation') hi = mid;
    else lo = mid + 1;
  }
  return { event: ends[hi] as number, exact: true };
}

function minimalSet(
  start: Operation[],
  candidates: Operation[],
  all: readonly Operation[],
  cutEvent: number,
  probe: Probe,
): { ops: Operation[]; exact: boolean } {
  const fails = (keep: readonly Operation[]): SearchVerdict =>
    probe({ cutEvent, weakened: weakenAllBut(keep, all) });
  const chosen = start.slice();
  let pool = candidates;
  for (;;) {
    const verdict = fails(chosen);
    if (verdict === 'violation') return { ops: chosen, exact: true };
    if (verdict === 'unknown') return { ops: chosen.concat(pool), exact: false };
    // Invariant: chosen ∪ pool fails. Find the shortest pool prefix that keeps it failing.
    let lo = 0;
    let hi = pool.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = fails(chosen.concat(pool.slice(0, mid + 1)));
      if (v === 'unknown') return { ops: chosen.concat(pool), exact: false };
      if (v === 'violation') hi = mid;
      else lo = mid + 1;
    }
    chosen.push(pool[hi] as Operation);
    pool = pool.slice(0, hi);
  }
}

function describe(
  key: string,
  keyOps: readonly Operation[],
  chosen: readonly Operation[],
  inPrefix: readonly Operation[],
  cutEvent: number,
  minimal: boolean,
  failingEvent: number,
): Explanation {
  const options: CompileOptions = {
    cutEvent, weakened: weakenAllBut(chosen, inPrefix), mergeUnobserved: false, pruneSearch: false,
  };
  const compiled = compileKey(key, keyOps, options);
  const outcome = searchLinearization(compiled, makeBudget(1_000_000));
  const chosenIds = new Set(chosen.map((op) => op.id));
  const byId = (a: Operation, b: Operation): number => a.id - b.id;
  const failing = keyOps.find((op) => op.returnEvent === failingEvent);
  return {
    key,
    ops: chosen.slice().sort(byId),
    context: compiled.ops.filter((op) => !chosenIds.has(op.id)).sort(byId),
    minimal: minimal && outcome.verdict === 'violation',
    failingEvent,
    failingLine: failing?.returnLine ?? 0,
    order: outcome.order.map((i) => compiled.ops[i] as Operation),
    stateAfter: compiled.cell.values.value(outcome.state),
    stuck: outcome.stuckOp >= 0 ? (compiled.ops[outcome.stuckOp] as Operation) : null,
  };
}
