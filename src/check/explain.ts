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
 *    operations open at the cut counting as info), so a search over the key's completion events
 *    finds the shortest failing prefix. Its last event completes the operation r that
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
export const EXPLAIN_STEPS_MAX_DEFAULT = 50_000_000;

type Probe = (options: CompileOptions) => SearchVerdict;

/**
 * REQUIRES: keyOps (one key, invoke order) is not linearizable. `frontierHint` is the check's
 * SearchOutcome.frontierEvent, a lower bound of the shortest failing prefix's end (the search
 * reached it, so the prefix before it is linearizable), and usually close to it.
 *
 * Proving a long prefix wrong by searching it whole is the expensive kind of search (it must be
 * exhausted), so whether a prefix fails is decided by the minimisation's own probes instead: they
 * keep only the latest few operations as they are and weaken the rest, which the reductions then
 * mostly drop. Their first failing probe proves the prefix fails; if none fails, the last probe
 * kept everything and found a linearization, which is quick.
 */
export function explainViolation(key: string, keyOps: readonly Operation[], budget: Budget,
  frontierHint = -1): Explanation {
  const probe: Probe = (options) => searchLinearization(compileKey(key, keyOps, options), budget).verdict;
  const ends = keyOps
    .filter((op) => op.returnEvent >= 0 && op.status !== 'info')
    .map((op) => op.returnEvent)
    .sort((a, b) => a - b);
  const prefix = shortestFailingPrefix(ends, Math.max(0, ends.findIndex((e) => e >= frontierHint)),
    (event) => minimiseAt(keyOps, event, probe, true).verdict);
  const found = minimiseAt(keyOps, prefix.event, probe, false);
  return describe(key, keyOps, found.ops, prefix.event, prefix.exact && found.exact);
}

/**
 * The first completion event at which the key's prefix fails, searching up from ends[from]
 * (galloping, then bisecting); the whole key is known to fail. `exact` false if a probe gave up.
 */
function shortestFailingPrefix(ends: readonly number[], from: number,
  failsAt: (event: number) => SearchVerdict): { event: number; exact: boolean } {
  let lo = from;
  let hi = ends.length - 1;
  for (let size = 1; lo < hi; size *= 2) {
    const i = Math.min(lo + size - 1, hi);
    const verdict = failsAt(ends[i] as number);
    if (verdict === 'unknown') return { event: ends[hi] as number, exact: false };
    if (verdict === 'violation') {
      hi = i;
      break;
    }
    lo = i + 1;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const verdict = failsAt(ends[mid] as number);
    if (verdict === 'unknown') return { event: ends[hi] as number, exact: false };
    if (verdict === 'violation') hi = mid;
    else lo = mid + 1;
  }
  return { event: ends[hi] as number, exact: true };
}

/** The ok and fail ops completed by `event` (inclusive): the ones a minimal set is chosen from. */
function completedBy(keyOps: readonly Operation[], event: number): Operation[] {
  return keyOps.filter((op) => op.returnEvent >= 0 && op.returnEvent <= event && op.status !== 'info');
}

function weakenAllBut(keep: readonly Operation[], all: readonly Operation[]): Set<number> {
  const kept = new Set(keep.map((op) => op.id));
  return new Set(all.filter((op) => !kept.has(op.id)).map((op) => op.id));
}

interface Minimised {
  readonly ops: Operation[];
  /** Minimality established (every probe answered). */
  readonly exact: boolean;
  /** violation: `ops` fail; ok: even all ops of the prefix do not; unknown: the budget ran out. */
  readonly verdict: SearchVerdict;
}

/**
 * Step 2 of the file comment, for the prefix ending at `event` (the op completed there is r).
 * With `decideOnly`, stops at the first failing set: enough to know the prefix fails.
 */
function minimiseAt(keyOps: readonly Operation[], event: number, probe: Probe, decideOnly: boolean): Minimised {
  const all = completedBy(keyOps, event);
  const last = all.find((op) => op.returnEvent === event);
  if (last === undefined) return { ops: all, exact: false, verdict: 'unknown' };
  const fails = (keep: readonly Operation[]): SearchVerdict =>
    probe({ cutEvent: event + 1, weakened: weakenAllBut(keep, all) });
  const chosen = [last];
  // Latest first: the ops that explain a violation are usually close to where it shows.
  let pool = all.filter((op) => op !== last).sort((a, b) => b.returnEvent - a.returnEvent);
  for (;;) {
    const verdict = fails(chosen);
    if (verdict === 'violation') return { ops: chosen, exact: true, verdict };
    if (verdict === 'unknown') return { ops: chosen.concat(pool), exact: false, verdict };
    const next = shortestFailingPoolPrefix(chosen, pool, fails, decideOnly ? DECIDE_WINDOW_MAX : pool.length);
    if (next.verdict !== 'violation') return { ops: chosen.concat(pool), exact: false, verdict: next.verdict };
    if (decideOnly) return { ops: chosen.concat(pool.slice(0, next.index + 1)), exact: false, verdict: 'violation' };
    chosen.push(pool[next.index] as Operation);
    pool = pool.slice(0, next.index);
  }
}

/**
 * When only deciding whether a prefix fails, windows up to this many latest ops are tried before
 * keeping everything: violations are usually local, and larger windows cost as much as the whole.
 */
const DECIDE_WINDOW_MAX = 256;

/**
 * The smallest i with chosen ∪ pool[0..i] failing: galloping (sizes 1, 2, 4, …) then bisecting,
 * so that the probes stay about as small as the answer — a probe keeping few ops as they are is
 * cheap, one keeping most of a long history and failing is the expensive kind.
 */
function shortestFailingPoolPrefix(chosen: readonly Operation[], pool: readonly Operation[],
  fails: (keep: readonly Operation[]) => SearchVerdict, gallopMax: number): { index: number; verdict: SearchVerdict } {
  const test = (i: number): SearchVerdict => fails(chosen.concat(pool.slice(0, i + 1)));
  let lo = 0;
  let hi = -1;
  for (let size = 1; hi < 0; size *= 2) {
    if (lo >= pool.length) return { index: -1, verdict: 'ok' };
    // Past gallopMax, the next probe keeps everything: one search that is quick when it succeeds.
    const i = lo + size - 1 >= gallopMax ? pool.length - 1 : Math.min(lo + size - 1, pool.length - 1);
    const verdict = test(i);
    if (verdict === 'unknown') return { index: -1, verdict };
    if (verdict === 'violation') hi = i;
    else lo = i + 1;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const verdict = test(mid);
    if (verdict === 'unknown') return { index: -1, verdict };
    if (verdict === 'violation') hi = mid;
    else lo = mid + 1;
  }
  return { index: hi, verdict: 'violation' };
}

function describe(
  key: string,
  keyOps: readonly Operation[],
  chosen: readonly Operation[],
  failingEvent: number,
  minimal: boolean,
): Explanation {
  const options: CompileOptions = {
    cutEvent: failingEvent + 1,
    weakened: weakenAllBut(chosen, completedBy(keyOps, failingEvent)),
    mergeUnobserved: false,
    pruneSearch: false,
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
