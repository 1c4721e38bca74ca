import { assert } from '../util/assert.js';
import { makeBudget, withSteps, type Budget } from './budget.js';
import { explainViolation, type ExplainHints, type Explanation } from './explain.js';
import { KeyIndex } from './key-history.js';
import { OP_FUNCTIONS } from './history.js';
import { kvModel } from './kv-model.js';
import type { Model, ModelName } from './model.js';
import type { History, Operation } from './operation.js';
import { HistoryError } from './parse.js';
import { partitionByKey } from './partition.js';
import { registerModel } from './register-model.js';
import { Prober, refuteNear, type FailingSet } from './refute.js';
import { refuteByReads } from './refute-reads.js';
import { searchLinearization, searchSteps, type SearchOutcome, type SearchVerdict, type StallHook } from './search.js';

/**
 * The linearizability check of a whole history, in two phases so that an explanation never holds
 * the verdict hostage:
 * 1. Deciding. Each key is searched on its own (P-compositionality, partition.ts); the searches
 *    run interleaved, a slice of steps each in turn, so that one hard key does not keep the others
 *    waiting. With `firstViolation` the phase stops at the first key proven not linearizable: the
 *    verdict is then decided, whatever the other keys hold. (Porcupine does the same: its first
 *    failing partition kills the others.) Without it, every key is decided.
 * 2. Explaining, within a budget of its own relative to what deciding cost: the smallest failing
 *    set of the failing keys (explain.ts), then, when deciding stopped early, the keys left
 *    undecided, which may fail too. What the budget did not cover is reported as such.
 * Synchronous and deterministic: the same history and options give the same result, unless the
 * caller's deadlines fire.
 */
export type Verdict = SearchVerdict;

export interface CheckOptions {
  readonly model: ModelName;
  /** Search steps for deciding the whole history; running out gives `unknown` (deterministically). */
  readonly stepsMax?: number;
  /** The caller's clock for deciding: returns true once time is up (the CLI's --timeout). */
  readonly deadline?: () => boolean;
  /** Stop deciding at the first key that is not linearizable (the CLI does; default false). */
  readonly firstViolation?: boolean;
  /** Whether to explain at all (default true; the CLI's --no-explain). */
  readonly explain?: boolean;
  /**
   * Steps for the explaining phase as a whole. Default: EXPLAIN_STEPS_FACTOR × the steps deciding
   * took, and at least EXPLAIN_STEPS_MIN.
   */
  readonly explainStepsMax?: number;
  /** The caller's clock for explaining (the CLI's --explain-budget). */
  readonly explainDeadline?: () => boolean;
  /** How many failing keys get a minimal explanation (default 3); the others get the verdict. */
  readonly explainKeysMax?: number;
  /** Memoised configurations per key (default memo.ts's CONFIGS_MAX_DEFAULT). */
  readonly configsMax?: number;
  /** Explain only these keys (parallel.ts chooses them across workers); default: the first explainKeysMax failing keys. */
  readonly explainOnly?: readonly string[];
}

/**
 * The explaining phase's default budget: ten times what the verdict cost, so that explaining a
 * hard history may take longer than deciding it but never without bound; at least enough for
 * the probes of a short explanation (a few hundred probes of a few thousand steps each).
 */
export const EXPLAIN_STEPS_FACTOR = 10;
export const EXPLAIN_STEPS_MIN = 2_000_000;

/** Why a key's verdict is `unknown`: a budget ran out, or (`skipped`) deciding stopped at another key's violation. */
export type UnknownReason = 'steps' | 'deadline' | 'memory' | 'skipped';

export interface KeyResult {
  readonly key: string;
  readonly verdict: Verdict;
  /** Operations on the key, of every status. */
  readonly opCount: number;
  readonly steps: number;
  readonly unknownReason?: UnknownReason;
  readonly explanation?: Explanation;
  /** For a violation without explanation: why (too many failing keys, the budget ran out, explaining was off). */
  readonly unexplained?: 'keys-max' | 'budget' | 'off';
  /** For a violation: the longest partial linearization of the whole key (Operation ids). */
  readonly longestOrder?: readonly number[];
}

export interface LinearizabilityResult {
  readonly source: string;
  readonly model: ModelName;
  readonly verdict: Verdict;
  readonly opCount: number;
  readonly keyCount: number;
  /** Steps of both phases. */
  readonly steps: number;
  /** Steps the verdict took (phase 1). */
  readonly verdictSteps: number;
  /** The explaining phase: its steps, its budget, and whether it stopped before doing everything. */
  readonly explaining: { readonly steps: number; readonly stepsMax: number; readonly stoppedEarly: boolean } | null;
  /** The keys whose verdict is not `ok`, in order of first appearance. */
  readonly keys: readonly KeyResult[];
}

export const MODELS: Readonly<Record<ModelName, Model>> = { kv: kvModel, register: registerModel };

/** Bad input for the chosen model (a delete in a register history) is an error naming the line. */
export function checkModelFunctions(history: History, model: Model): void {
  // Parsing admits only OP_FUNCTIONS: a model defining them all has nothing to refuse.
  if (OP_FUNCTIONS.every((f) => model.functions.includes(f))) return;
  for (const op of history.ops) {
    if (!model.functions.includes(op.f)) {
      throw new HistoryError(history.source, op.callLine,
        `${op.f} is not an operation of ${model.describe}; check this history with --model kv`);
    }
  }
}

export function checkHistory(history: History, options: CheckOptions): LinearizabilityResult {
  return explainDecision(decideHistory(history, options), options);
}

/** A violation anywhere is definite; otherwise any unknown key makes the whole unknown. */
export function combineVerdicts(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('violation')) return 'violation';
  return verdicts.includes('unknown') ? 'unknown' : 'ok';
}

/** One key as deciding left it: decided, or (deciding stopped early) a search to resume. */
export interface KeyDecision {
  readonly key: string;
  readonly ops: readonly Operation[];
  /** Null while undecided. */
  result: KeyResult | null;
  /** What explaining needs, for a violation. */
  explainHints: { readonly index: KeyIndex; readonly hints: ExplainHints } | null;
  /** The search, while undecided. */
  run: Generator<void, KeyDecided, void> | null;
}

interface KeyDecided {
  readonly result: KeyResult;
  readonly explainHints: KeyDecision['explainHints'];
}

/** Phase 1's outcome: the verdict, and every key as it stands. */
export interface Decision {
  readonly source: string;
  readonly model: ModelName;
  readonly verdict: Verdict;
  readonly opCount: number;
  readonly keyCount: number;
  readonly steps: number;
  /** In order of first appearance. */
  readonly keys: readonly KeyDecision[];
  /** The budget the undecided searches draw on: explaining refills it to resume them. */
  readonly budget: SwitchableBudget;
}

/**
 * A budget whose steps and deadline the explaining phase can replace: a paused search holds on
 * to the budget object it started with.
 */
interface SwitchableBudget extends Budget {
  clock: (() => boolean) | undefined;
}

/**
 * Ops whose KeyIndex the read test hands on to the key's search; past it the search builds the
 * index again (an index holds a few dozen bytes per op; all keys' at once could be the whole history).
 */
const KEPT_INDEX_OPS_MAX = 1 << 20;

/** Steps a key's search runs before the next key's turn; a multiple of DEADLINE_POLL_STEPS. */
export const SLICE_STEPS = 16 * 1024;

export function decideHistory(history: History, options: CheckOptions): Decision {
  const model = MODELS[options.model];
  assert(model !== undefined, () => `unknown model ${String(options.model)}`);
  checkModelFunctions(history, model);
  // A finite budget even when unbounded, so that what deciding spent is known.
  const stepsMax = Math.min(options.stepsMax ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const budget: SwitchableBudget = { stepsLeft: stepsMax, exhausted: null,
    clock: options.deadline, deadline: () => budget.clock?.() === true };
  const keys: KeyDecision[] = [];
  for (const [key, ops] of partitionByKey(history.ops)) keys.push({ key, ops, result: null, explainHints: null, run: null });
  // Before any search, every key's reads are tested for a place they cannot have (refute-reads.ts):
  // a violation found that way costs no search, and with firstViolation decides at once.
  let indexedOps = 0;
  let refuted = false;
  for (const k of keys) {
    // The caller's clock is asked before each key's test too: a deadline already up (a cancelled
    // check) gives unknown even when every search would be shorter than DEADLINE_POLL_STEPS.
    if (!refuted && budget.exhausted === null && budget.deadline?.() === true) budget.exhausted = 'deadline';
    if (refuted || budget.exhausted !== null) {
      k.run = decideKey(k.key, k.ops, null, budget, options);
      continue;
    }
    const index = new KeyIndex(k.key, k.ops);
    const failing = refuteByReads(index);
    if (failing !== null) {
      k.result = { key: k.key, verdict: 'violation', opCount: k.ops.length, steps: 0 };
      k.explainHints = { index, hints: { frontierEvent: -1, deepestOrder: [], failing } };
      refuted = options.firstViolation === true;
      continue;
    }
    // The index is kept for the search unless holding every key's at once would cost too much memory.
    indexedOps += k.ops.length;
    k.run = decideKey(k.key, k.ops, indexedOps <= KEPT_INDEX_OPS_MAX ? index : null, budget, options);
  }
  if (!refuted) runInterleaved(keys, options.firstViolation === true);
  // Every step counts, those of the searches left paused too: they are what the verdict cost.
  const steps = stepsMax - budget.stepsLeft;
  assert(keys.every((k) => (k.result?.steps ?? 0) <= steps), () => `a key counted more steps than deciding spent (${keys.map((k) => k.result?.steps).join(',')} > ${steps})`);
  return {
    source: history.source,
    model: model.name,
    verdict: combineVerdicts(keys.map((k) => k.result?.verdict ?? 'unknown')),
    opCount: history.ops.length,
    keyCount: keys.length,
    steps,
    keys,
    budget,
  };
}

/**
 * Runs the undecided keys' searches a slice each in turn, in order of first appearance, until all
 * are decided, or (firstViolation) one is found not linearizable. Deterministic: a search pauses
 * after a fixed number of steps, never on a clock.
 */
function runInterleaved(keys: readonly KeyDecision[], firstViolation: boolean): boolean {
  let pending = keys.filter((k) => k.run !== null);
  while (pending.length > 0) {
    const still: KeyDecision[] = [];
    for (const k of pending) {
      const next = (k.run as Generator<void, KeyDecided, void>).next();
      if (next.done !== true) {
        still.push(k);
        continue;
      }
      k.run = null;
      k.result = next.value.result;
      k.explainHints = next.value.explainHints;
      if (firstViolation && k.result.verdict === 'violation') return true;
    }
    pending = still;
  }
  return false;
}

/**
 * When the search has not got further for this many steps, it tries to refute the key near where
 * it is stuck (search.ts StallHook); the wait doubles after each attempt that finds nothing, and
 * an attempt may spend 1/REFUTE_SHARE of the steps the search spent stalled. On a linearizable
 * history every attempt is wasted, so this bounds the waste to a fraction of the search's work.
 */
const STALL_STEPS_FIRST = 100_000;
const REFUTE_SHARE = 2;

/** Phase 1 for one key: its search, pausing every SLICE_STEPS. */
function* decideKey(key: string, keyOps: readonly Operation[], indexed: KeyIndex | null, budget: Budget, options: CheckOptions):
  Generator<void, KeyDecided, void> {
  const unknown = (reason: UnknownReason, steps: number): KeyDecided =>
    ({ result: { key, verdict: 'unknown', opCount: keyOps.length, steps, unknownReason: reason }, explainHints: null });
  if (budget.exhausted !== null) return unknown(budget.exhausted, 0);
  const index = indexed ?? new KeyIndex(key, keyOps);
  const compiled = index.compile();
  let failing: FailingSet | null = null;
  let refuteSteps = 0;
  const stall: StallHook = {
    stepsFirst: STALL_STEPS_FIRST,
    refute: (frontierEvent, stepsMax) => {
      failing = withSteps(budget, Math.floor(stepsMax / REFUTE_SHARE), (b) => {
        const before = b.stepsLeft;
        try {
          return refuteNear(new Prober(index, b), frontierEvent);
        } finally {
          refuteSteps += before - Math.max(0, b.stepsLeft);
        }
      });
      return failing !== null;
    },
  };
  const outcome: SearchOutcome = yield* searchSteps(compiled, budget,
    { configsMax: options.configsMax, stall, sliceSteps: SLICE_STEPS });
  const steps = outcome.steps + refuteSteps;
  if (outcome.verdict === 'unknown') return unknown(budget.exhausted ?? 'steps', steps);
  const base = { key, verdict: outcome.verdict, opCount: keyOps.length, steps };
  if (outcome.verdict === 'ok') return { result: base, explainHints: null };
  const longestOrder = outcome.order.map((i) => (compiled.ops[i] as Operation).id);
  const deepestOrder = outcome.order.map((i) => compiled.indexOf[i] as number);
  const hints: ExplainHints = { frontierEvent: outcome.frontierEvent, deepestOrder, failing };
  return { result: { ...base, longestOrder }, explainHints: { index, hints } };
}

/**
 * Phase 2: explain the failing keys (up to explainKeysMax), then resume the keys deciding left
 * undecided, all within the explaining budget; the result says what it did not get to.
 */
export function explainDecision(decision: Decision, options: CheckOptions): LinearizabilityResult {
  const explaining = options.explain !== false && decision.verdict === 'violation';
  const stepsMax = Math.min(Number.MAX_SAFE_INTEGER,
    options.explainStepsMax ?? Math.max(EXPLAIN_STEPS_MIN, EXPLAIN_STEPS_FACTOR * decision.steps));
  const budget = makeBudget(stepsMax, options.explainDeadline);
  const keysMax = options.explainKeysMax ?? 3;
  let explained = 0;
  let stoppedEarly = false;
  const explainKey = (k: KeyDecision): void => {
    const r = k.result as KeyResult;
    if (r.verdict !== 'violation' || r.explanation !== undefined || r.unexplained !== undefined) return;
    if (!explaining || k.explainHints === null) {
      k.result = { ...r, unexplained: 'off' };
    } else if (explained >= keysMax || (options.explainOnly !== undefined && !options.explainOnly.includes(k.key))) {
      k.result = { ...r, unexplained: 'keys-max' };
    } else if (spent(budget)) {
      k.result = { ...r, unexplained: 'budget' };
      stoppedEarly = true;
    } else {
      explained++;
      const { index, hints } = k.explainHints;
      const explanation = explainViolation(index, budget, hints.frontierEvent < 0 && hints.failing !== null
        ? searchedHints(index, hints.failing, budget) : hints);
      if (!explanation.minimal || !explanation.prefixShortest) stoppedEarly ||= spent(budget);
      k.result = { ...r, explanation };
    }
    k.explainHints = null; // the KeyIndex is no longer needed: let it go
  };
  for (const k of decision.keys) if (k.result !== null) explainKey(k);
  const undecided = decision.keys.filter((k) => k.run !== null);
  if (undecided.length > 0 && !resumeUndecided(decision, budget, explaining, explainKey)) stoppedEarly = true;
  for (const k of undecided) {
    // Not decided, or not by the verdict's own budget: the verdict did not need these keys.
    if (k.result === null || k.result.verdict === 'unknown') {
      k.result = { key: k.key, verdict: 'unknown', opCount: k.ops.length, steps: k.result?.steps ?? 0, unknownReason: 'skipped' };
    }
    k.run = null;
  }
  const results = decision.keys.map((k) => k.result as KeyResult);
  const explainSteps = stepsMax - budget.stepsLeft;
  return {
    source: decision.source,
    model: decision.model,
    verdict: combineVerdicts(results.map((r) => r.verdict)),
    opCount: decision.opCount,
    keyCount: decision.keyCount,
    steps: decision.steps + explainSteps,
    verdictSteps: decision.steps,
    explaining: explaining ? { steps: explainSteps, stepsMax, stoppedEarly } : null,
    keys: results.filter((r) => r.verdict !== 'ok'),
  };
}

/**
 * The keys deciding stopped before, resumed on what is left of the explaining budget: their
 * searches go on from where they paused (every key is decided, or the budget runs out). Returns
 * whether all were decided.
 */
function resumeUndecided(decision: Decision, budget: Budget, explaining: boolean, explainKey: (k: KeyDecision) => void): boolean {
  if (!explaining || spent(budget)) return false;
  const shared = decision.budget;
  shared.stepsLeft = budget.stepsLeft;
  shared.exhausted = null;
  shared.clock = budget.deadline;
  const before = shared.stepsLeft;
  runInterleaved(decision.keys, false);
  budget.stepsLeft -= before - shared.stepsLeft;
  if (shared.exhausted !== null) budget.exhausted = shared.exhausted;
  for (const k of decision.keys) if (k.result !== null) explainKey(k);
  return decision.keys.every((k) => k.run === null && k.result !== null && k.result.verdict !== 'unknown');
}

/**
 * A key the read test refuted was never searched, and explaining needs what a search learns: how
 * far the history is linearizable (the frontier: the prefix before it is, proven) and the order
 * that got there (the seed that makes proving prefixes cheap). Without them the explanation
 * searches whole prefixes from nothing, seconds on a million ops. So the prefix up to the refuted
 * read is searched here, on half of what is left of the explaining budget, until its frontier
 * stalls; what it found is kept even when it ran out (the frontier it reached is proven all the
 * same).
 */
function searchedHints(index: KeyIndex, failing: FailingSet, budget: Budget): ExplainHints {
  const compiled = index.compile({ cutEvent: failing.event + 1 });
  // Once the frontier stops moving for as long as deciding would wait before refuting, more
  // search only proves the violation again: the stall hook ends it there.
  const stall: StallHook = { stepsFirst: STALL_STEPS_FIRST, refute: () => true };
  const outcome = withSteps(budget, budget.stepsLeft / 2, (b) => searchLinearization(compiled, b, { stall }));
  if (outcome.verdict === 'ok') return { frontierEvent: -1, deepestOrder: [], failing }; // cannot be: the set fails there
  return { frontierEvent: outcome.frontierEvent, deepestOrder: outcome.order.map((i) => compiled.indexOf[i] as number), failing };
}

function spent(budget: Budget): boolean {
  if (budget.exhausted === null && budget.deadline?.() === true) budget.exhausted = 'deadline';
  return budget.exhausted !== null || budget.stepsLeft <= 0;
}

/** Steps spent from a budget that started with `stepsMax` (0 for an unbounded one). */
function finiteSpent(stepsMax: number, budget: Budget): number {
  return Number.isFinite(stepsMax) ? stepsMax - Math.max(0, budget.stepsLeft) : 0;
}
