import { assert } from '../util/assert.js';
import { withSteps, type Budget } from './budget.js';
import { RECORDED_OK, type KeyHistory, type KeyIndex } from './key-history.js';
import { OP_CAS, OP_READ } from './model.js';
import { searchLinearization, type SearchOutcome, type SearchVerdict } from './search.js';

/**
 * Cheap proofs that a key is not linearizable. Weakening an operation (treating it as info: it may
 * take effect at any time after its invoke, or never) only adds freedom, so if a few operations
 * kept as recorded, with every other one weakened, cannot be linearized, neither can the history.
 * Such a probe keeps few ops as they are and reduce.ts drops most of the weakened ones, so it is a
 * small search; proving the whole history wrong instead means exhausting every order of it.
 *
 * A probe's answer does not depend on where the history is cut, as long as the cut comes after
 * every kept op's completion: a weakened op invoked later can only take effect after the kept ops
 * have all taken effect (each before its completion), when the search is already done. So a probe
 * cuts right after its latest kept completion, leaving out everything later.
 *
 * Which few ops? Violations are local in time: a *window* is the latest k completions up to some
 * point, plus, for each read or cas among them, the latest ok write or cas that left the value it
 * saw and the latest ok cas that took that value away ("where its value came from and where it
 * went": a stale read needs the old write however long ago it was, or the cas that consumed it).
 * With fifty clients the latest hundred completions are mostly reads of other values, each a
 * constraint the probe must satisfy, so reaching a relevant op through value links keeps probes
 * small where reaching it through time would not.
 */
export interface FailingSet {
  /** KeyIndex local indices, ascending. */
  readonly ops: readonly number[];
  /** The latest completion event among them: the history is known to fail by this event. */
  readonly event: number;
}

/**
 * A probe may use the larger of PROBE_STEPS_MIN, this many steps per entry of its compiled
 * history, and 1/PROBE_BUDGET_SHARE of what is left: one pathological probe cannot spend the
 * whole budget, and a probe runs out only when the budget is running low, so `minimal: false`
 * means the budget really was too small.
 */
const PROBE_STEPS_PER_ENTRY = 256;
const PROBE_STEPS_MIN = 100_000;
const PROBE_BUDGET_SHARE = 8;
/** How far back a window looks for the producer of a value among that value's producers. */
const PRODUCER_SCAN_MAX = 64;
/** A window reaches at most this many completions past the point it refutes from (2^10). */
const REACH_LOG_MAX = 10;
/** Window sizes an explanation tries at one completion before giving up on windows there. */
export const WINDOW_SIZES = [4, 16, 64, 256] as const;
/** Window sizes the stall refutation tries at each end: far smaller than the history. */
const REFUTE_WINDOW_SIZES = [8, 64, 512] as const;

/** Probes of one key within one budget; counts the ones that ran out of steps. */
export class Prober {
  undecided = 0;
  probes = 0;

  constructor(readonly index: KeyIndex, readonly budget: Budget) {}

  /** Whether the ops `keep` (local indices) kept as recorded, every other op weakened, can be linearized. */
  probe(keep: readonly number[]): SearchVerdict {
    assert(keep.length > 0, 'a probe keeps at least one op');
    let last = -1;
    for (const i of keep) last = Math.max(last, this.index.returnEvent[i] as number);
    assert(last >= 0, 'a probe keeps completed ops only');
    return this.search(this.index.compile({ keep, cutEvent: last + 1 })).verdict;
  }

  /** A search of a history compiled from the index, within a cap proportional to its size. */
  search(history: KeyHistory, seed?: readonly number[]): SearchOutcome {
    const cap = Math.max(PROBE_STEPS_MIN, PROBE_STEPS_PER_ENTRY * history.entries.length,
      this.budget.stepsLeft / PROBE_BUDGET_SHARE);
    const outcome = withSteps(this.budget, cap, (budget) => searchLinearization(history, budget, { seed }));
    this.probes++;
    if (outcome.verdict === 'unknown') this.undecided++;
    return outcome;
  }

  /**
   * Whether the budget (not just one probe's cap) is spent. It asks the deadline too: a search
   * polls it only every DEADLINE_POLL_STEPS steps, and most probes are shorter than that.
   */
  get spent(): boolean {
    if (this.budget.exhausted === null && this.budget.deadline?.() === true) this.budget.exhausted = 'deadline';
    return this.budget.exhausted !== null || this.budget.stepsLeft <= 0;
  }
}

/** The byReturn position of the first completion at or after `event` (ends.length if none). */
export function positionAtOrAfter(index: KeyIndex, event: number): number {
  const ends = index.byReturn;
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((index.returnEvent[ends[mid] as number] as number) < event) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The completion event at byReturn position `at`. */
export function endEvent(index: KeyIndex, at: number): number {
  return index.returnEvent[index.byReturn[at] as number] as number;
}

/**
 * The window of `size` latest completions up to byReturn position `at`, with where the values
 * they saw came from and went.
 */
export function windowAt(index: KeyIndex, at: number, size: number): number[] {
  const end = endEvent(index, at);
  const chosen = new Set<number>();
  for (let p = at; p >= 0 && p > at - size; p--) chosen.add(index.byReturn[p] as number);
  for (const i of [...chosen]) {
    if (index.kind[i] !== OP_READ && index.kind[i] !== OP_CAS) continue;
    const value = index.argA[i] as number;
    const before = index.returnEvent[i] as number;
    for (const [start, ops] of [[index.producerStart, index.producerOps], [index.casStart, index.casOps]] as const) {
      const found = latestOkWith(index, start, ops, value, before, end);
      if (found >= 0) chosen.add(found);
    }
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * From a value index (producers, or cas ops by expected value): the latest ok op with `value`
 * invoked before `before` and completed by `end`, or -1.
 */
function latestOkWith(index: KeyIndex, start: Int32Array, ops: Int32Array, value: number, before: number, end: number): number {
  if (value + 1 >= start.length) return -1;
  const first = start[value] as number;
  let lo = first;
  let hi = start[value + 1] as number;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((index.callEvent[ops[mid] as number] as number) < before) lo = mid + 1;
    else hi = mid;
  }
  for (let j = lo - 1; j >= first && j >= lo - PRODUCER_SCAN_MAX; j--) {
    const p = ops[j] as number;
    const ret = index.returnEvent[p] as number;
    if (index.recorded[p] === RECORDED_OK && ret >= 0 && ret <= end) return p;
  }
  return -1;
}

/** The first of the window `sizes` at position `at` that fails, or null. */
export function failingWindow(prober: Prober, at: number, sizes: readonly number[]): FailingSet | null {
  for (const size of sizes) {
    if (prober.spent) return null;
    const keep = windowAt(prober.index, at, size);
    if (prober.probe(keep) === 'violation') return { ops: keep, event: endEvent(prober.index, at) };
    if (size > at) return null; // the window already held every completion up to `at`
  }
  return null;
}

/**
 * A failing window near `fromEvent` (where a search got stuck): windows ending 1, 2, 4, … 2^10
 * completions past it, small ones first at each end. A window holding every completion up to its
 * end would be a search of the whole prefix, the very search this is meant to spare, so windows
 * stay below REFUTE_WINDOW_MAX and below the number of completions they could hold.
 */
export function refuteNear(prober: Prober, fromEvent: number): FailingSet | null {
  const ends = prober.index.byReturn.length;
  const from = Math.min(positionAtOrAfter(prober.index, Math.max(0, fromEvent)), ends - 1);
  if (from < 0) return null;
  for (let j = 0; j <= REACH_LOG_MAX; j++) {
    const at = Math.min(from + 2 ** j - 1, ends - 1);
    const sizes = REFUTE_WINDOW_SIZES.filter((size, k) => k === 0 || size <= at);
    const found = failingWindow(prober, at, sizes);
    if (found !== null || at === ends - 1 || prober.spent) return found;
  }
  return null;
}
