import { withSteps, type Budget } from './budget.js';
import type { Json } from './history.js';
import type { KeyIndex } from './key-history.js';
import { OP_CAS, OP_READ } from './model.js';
import type { Operation } from './operation.js';
import { leftValue } from './reduce.js';
import { endEvent, failingWindow, positionAtOrAfter, Prober, refuteNear, WINDOW_SIZES, type FailingSet } from './refute.js';
import { searchLinearization, type SearchVerdict } from './search.js';
import { UNOBSERVED } from './values.js';

/**
 * Why a key is not linearizable, as the smallest set of operations that is already not
 * linearizable. "Smallest" needs care: simply deleting operations is no good (a read without the
 * write it read from is trivially wrong, and says nothing). Instead the other operations are
 * *weakened*: treated as info — they may have taken effect at any time after their invoke, or
 * never. Weakening only adds freedom, so "still not linearizable" is monotone in the set of
 * operations kept as they are, and that makes a minimal set well defined (refute.ts probes such
 * sets cheaply):
 *
 * 1. Prefixes are monotone too (a linearizable history's every prefix is linearizable, with the
 *    operations open at the cut counting as info), so there is a shortest failing prefix; its last
 *    event completes an op r. Weakening r gives the prefix before, which is linearizable, so r is
 *    in every failing set of that prefix. Finding the prefix: the check's search proved the
 *    prefix before its frontier linearizable (it reached it); failing windows (refute.ts) prove
 *    where it fails at the latest; windows narrow that down by bisection, and one search seeded
 *    with the check's deepest order proves the prefix just before linearizable. Only when that
 *    does not settle it are whole prefixes searched.
 * 2. Starting from S = {r} and candidates U (a failing set of the prefix, most relevant first),
 *    while S alone is linearizable: find the shortest U[0..i] with S ∪ U[0..i] failing (galloping,
 *    then bisecting), add U[i] to S, keep U[0..i) as the candidates. Each added op is necessary
 *    (without it, S lies inside a set that was found linearizable), so the result is minimal:
 *    dropping any one op from it makes the rest linearizable. It costs O(|S| log |U|) probes
 *    (the "progression" way to a minimal set over a monotone predicate: J. Marques-Silva,
 *    M. Janota, A. Belov, "Minimal Sets over Monotone Predicates in Boolean Formulae", CAV 2013).
 *    S ∪ U always fails (it is the last set found failing), so the largest probe is never needed.
 *
 * A probe that runs out of steps decides nothing: the search goes on as if it had not failed, and
 * the result says `minimal: false`; the set named is still one proven to fail.
 */
export interface Explanation {
  readonly key: string;
  /** The operations that cannot be ordered, in invoke order. */
  readonly ops: readonly Operation[];
  /** Operations of unknown outcome the final search still had to consider. */
  readonly context: readonly Operation[];
  /** Whether minimality was established; false when a budget ran out first. */
  readonly minimal: boolean;
  /** The key's history fails by this event (its completion of one of `ops`) and its source line. */
  readonly failingEvent: number;
  readonly failingLine: number;
  /**
   * Whether the history before failingEvent is known to be linearizable, making it the shortest
   * failing prefix. When not (a budget ran out), linearizableBeforeLine is the latest line known.
   */
  readonly prefixShortest: boolean;
  readonly linearizableBeforeLine: number;
  /** The deepest order the search found for `ops`, the state after it, and the op it stuck on. */
  readonly order: readonly Operation[];
  readonly stateAfter: Json;
  /** Whether that state is one no read or cas looks at (merged by the search: stateAfter is null then). */
  readonly stateUnobserved: boolean;
  readonly stuck: Operation | null;
}

/** What the check's search already learned about the key. */
export interface ExplainHints {
  /** The latest completion the search got stuck at: the prefix before it is linearizable (-1: none). */
  readonly frontierEvent: number;
  /** The search's deepest partial linearization (KeyIndex local indices): a seed for proving prefixes. */
  readonly deepestOrder: readonly number[];
  /** The failing set the check's refutation found, if that is how it decided. */
  readonly failing: FailingSet | null;
}

/** REQUIRES: the key `index` holds is not linearizable. */
export function explainViolation(index: KeyIndex, budget: Budget, hints: ExplainHints): Explanation {
  const prober = new Prober(index, budget);
  const prefix = new PrefixFinder(prober, hints).find();
  const found = minimise(prober, prefix);
  return describe(index, found.ops, prefix, found.exact, budget);
}

interface Prefix {
  /** byReturn position of the last completion of the failing prefix found. */
  readonly at: number;
  /** Whether it is the shortest: the prefix before it is known to be linearizable. */
  readonly exact: boolean;
  /** byReturn position before which the history is known linearizable. */
  readonly linearizableBelow: number;
  /** A failing set within the prefix, or null: all of the prefix is what is known to fail. */
  readonly failing: FailingSet | null;
}

/** Step 1 of the file comment. Positions are byReturn positions: one per completion. */
class PrefixFinder {
  private readonly index: KeyIndex;
  private readonly hinted: FailingSet | null;
  /** The best known partial order (KeyIndex local indices); grows as prefixes are proven linearizable. */
  private seed: readonly number[];
  /** The prefix before this position is linearizable (proven). */
  private okBelow: number;
  /** False once a search ran out of steps: the prefix found may then not be the shortest. */
  private decided = true;

  constructor(private readonly prober: Prober, hints: ExplainHints) {
    this.index = prober.index;
    this.hinted = hints.failing;
    this.seed = hints.deepestOrder;
    this.okBelow = hints.frontierEvent < 0 ? 0 : positionAtOrAfter(this.index, hints.frontierEvent);
  }

  find(): Prefix {
    const last = this.index.byReturn.length - 1;
    // An upper bound with a failing set: the check's, else windows near the frontier, else all.
    const failing = this.hinted ?? refuteNear(this.prober, endEvent(this.index, Math.min(this.okBelow, last)));
    let fails = failing === null ? last : positionAtOrAfter(this.index, failing.event);
    let set = failing;
    // Narrow it with windows: each failing window is a proof; a window that does not fail proves
    // nothing, so this bisection only moves the upper bound.
    for (let lo = this.okBelow; lo < fails && !this.prober.spent;) {
      const mid = (lo + fails) >>> 1;
      const w = failingWindow(this.prober, mid, WINDOW_SIZES);
      if (w === null) lo = mid + 1;
      else [fails, set] = [mid, w];
    }
    if (fails === this.okBelow) return this.result(fails, set);
    // Is the prefix before `fails` linearizable? Usually a short search from the check's order.
    const before = this.linearizable(fails - 1);
    if (before === 'ok') this.okBelow = fails;
    if (before !== 'violation') return this.result(fails, set);
    // The windows missed an earlier violation: bisect with whole prefixes (rare, and costly).
    fails -= 1;
    set = null;
    while (this.okBelow < fails && this.decided) {
      const mid = (this.okBelow + fails) >>> 1;
      const w = failingWindow(this.prober, mid, WINDOW_SIZES);
      const verdict = w !== null ? 'violation' : this.linearizable(mid);
      if (verdict === 'ok') this.okBelow = mid + 1;
      else if (verdict === 'violation') [fails, set] = [mid, w];
    }
    return this.result(fails, set);
  }

  private result(at: number, failing: FailingSet | null): Prefix {
    return { at, exact: this.decided && this.okBelow === at, linearizableBelow: this.okBelow, failing };
  }

  /**
   * Whether the prefix through byReturn position `at` is linearizable, searching all of it. The
   * best order known is a seed: success proves the prefix linearizable, failure only that this
   * order does not extend. The check's deepest order is a dead end by construction (that is where
   * its search got stuck), so the seed is cut back further and further (its last 16, 256, 4096
   * ops left to the search) before the prefix is searched plainly.
   */
  private linearizable(at: number): SearchVerdict {
    const history = this.index.compile({ cutEvent: endEvent(this.index, at) + 1 });
    const position = new Int32Array(this.index.n).fill(-1);
    history.indexOf.forEach((i, j) => (position[i] = j));
    const seed: number[] = [];
    for (const i of this.seed) {
      if ((position[i] as number) < 0) break;
      seed.push(position[i] as number);
    }
    const lengths = [...new Set([seed.length, ...SEED_CUTBACKS.map((back) => Math.max(0, seed.length - back))])];
    let verdict: SearchVerdict = 'unknown';
    for (const length of lengths) {
      const outcome = this.prober.search(history, seed.slice(0, length));
      verdict = outcome.verdict;
      if (verdict === 'ok') this.seed = outcome.order.map((j) => history.indexOf[j] as number);
      // A seeded search that gives up has only exhausted the orders starting with its seed.
      if (verdict !== 'unknown' || outcome.seeded === 0 || this.prober.spent) break;
    }
    if (verdict === 'unknown') this.decided = false;
    return verdict;
  }
}

/** How many ops of the seed the successive searches leave to the search; the last is a plain search. */
const SEED_CUTBACKS = [16, 256, 4096, Number.POSITIVE_INFINITY] as const;

interface Minimised {
  readonly ops: number[];
  /** Minimality established (every probe answered). */
  readonly exact: boolean;
}

/** Step 2 of the file comment. */
function minimise(prober: Prober, prefix: Prefix): Minimised {
  const index = prober.index;
  const chosen = prefix.exact ? [index.byReturn[prefix.at] as number] : [];
  const undecidedBefore = prober.undecided;
  let pool = (prefix.failing?.ops ?? [...index.byReturn.subarray(0, prefix.at + 1)]).filter((i) => !chosen.includes(i));
  let complete = true;
  for (;;) {
    // Invariant: chosen ∪ pool was found to fail (or is the failing prefix itself).
    if (chosen.length > 0 && prober.probe(chosen) === 'violation') break;
    if (pool.length === 0 || prober.spent) {
      complete = pool.length === 0;
      chosen.push(...pool);
      break;
    }
    pool = byRelevance(index, chosen, pool);
    const i = shortestFailingPoolPrefix(prober, chosen, pool);
    chosen.push(pool[i] as number);
    pool = pool.slice(0, i);
  }
  return { ops: chosen.sort((a, b) => a - b), exact: complete && prober.undecided === undecidedBefore };
}

/**
 * The candidates that could explain what the chosen ops saw first (the ok writes and cas ops
 * leaving a value a chosen read or cas looks at), then the rest; latest completion first in each:
 * the ops that explain a violation are usually close to where it shows.
 */
function byRelevance(index: KeyIndex, chosen: readonly number[], pool: readonly number[]): number[] {
  const seen = new Set<number>();
  for (const i of chosen) if (index.kind[i] === OP_READ || index.kind[i] === OP_CAS) seen.add(index.argA[i] as number);
  const tier = (i: number): number =>
    seen.has(leftValue(index.kind[i] as number, index.argA[i] as number, index.argB[i] as number)) ? 0 : 1;
  const ret = (i: number): number => index.returnEvent[i] as number;
  return pool.slice().sort((a, b) => tier(a) - tier(b) || ret(b) - ret(a));
}

/**
 * The smallest i with chosen ∪ pool[0..i] failing, knowing the whole pool fails: galloping (sizes
 * 1, 2, 4, …) then bisecting, so that the probes stay about as small as the answer — a probe
 * keeping few ops as they are is cheap, one keeping most of a long history and failing is the
 * expensive kind. A probe that runs out of steps counts as not failing.
 */
function shortestFailingPoolPrefix(prober: Prober, chosen: readonly number[], pool: readonly number[]): number {
  const fails = (i: number): boolean => prober.probe(chosen.concat(pool.slice(0, i + 1))) === 'violation';
  let lo = 0;
  let hi = pool.length - 1;
  // Out of budget, the answer is hi unproven; the probe that ran out was counted as undecided.
  for (let size = 1; lo + size - 1 < hi && !prober.spent; size *= 2) {
    const i = lo + size - 1;
    if (fails(i)) {
      hi = i;
      break;
    }
    lo = i + 1;
  }
  while (lo < hi && !prober.spent) {
    const mid = (lo + hi) >>> 1;
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  return hi;
}

/**
 * Steps for the searches whose order an explanation shows; they only illustrate, they prove nothing
 * new. The plain one reads best but may be hopeless (a long text read with the appends that built
 * it weakened), so it gets the smaller share.
 */
const DESCRIBE_PLAIN_STEPS_MAX = 100_000;
const DESCRIBE_STEPS_MAX = 1_000_000;

function describe(index: KeyIndex, chosen: readonly number[], prefix: Prefix, minimal: boolean, budget: Budget): Explanation {
  let failingEvent = -1;
  for (const i of chosen) failingEvent = Math.max(failingEvent, index.returnEvent[i] as number);
  const keep = { keep: chosen, cutEvent: failingEvent + 1 };
  // Unmerged and unpruned, the search's dead ends read naturally; pruned, it is surer to finish.
  let compiled = index.compile({ ...keep, mergeUnobserved: false, pruneSearch: false });
  let outcome = withSteps(budget, DESCRIBE_PLAIN_STEPS_MAX, (b) => searchLinearization(compiled, b));
  if (outcome.verdict !== 'violation') {
    compiled = index.compile(keep);
    outcome = withSteps(budget, DESCRIBE_STEPS_MAX, (b) => searchLinearization(compiled, b));
  }
  const ops = chosen.map((i) => index.ops[i] as Operation);
  const chosenIds = new Set(ops.map((op) => op.id));
  const failing = ops.find((op) => op.returnEvent === failingEvent);
  const below = prefix.linearizableBelow < index.byReturn.length ? index.ops[index.byReturn[prefix.linearizableBelow] as number] : undefined;
  return {
    key: index.key,
    ops,
    context: compiled.ops.filter((op) => !chosenIds.has(op.id)),
    minimal,
    failingEvent,
    failingLine: failing?.returnLine ?? 0,
    prefixShortest: prefix.exact && failingEvent === endEvent(index, prefix.at),
    linearizableBeforeLine: below?.returnLine ?? 0,
    order: outcome.order.map((i) => compiled.ops[i] as Operation),
    stateAfter: compiled.valueOf(outcome.state),
    stateUnobserved: outcome.state === UNOBSERVED,
    stuck: outcome.stuckOp >= 0 ? (compiled.ops[outcome.stuckOp] as Operation) : null,
  };
}
