import { assert } from '../util/assert.js';
import { makeBudget, withSteps, type Budget } from './budget.js';
import { EXPLAIN_STEPS_MAX_DEFAULT, explainViolation, type Explanation } from './explain.js';
import { KeyIndex } from './key-history.js';
import { kvModel } from './kv-model.js';
import type { Model, ModelName } from './model.js';
import type { History, Operation } from './operation.js';
import { HistoryError } from './parse.js';
import { partitionByKey } from './partition.js';
import { registerModel } from './register-model.js';
import { Prober, refuteNear, type FailingSet } from './refute.js';
import { searchLinearization, type SearchVerdict, type StallHook } from './search.js';

/**
 * The linearizability check of a whole history: split by key, search each key, explain the keys
 * that fail. Synchronous and deterministic: the same history and options give the same result,
 * unless the caller's `deadline` fires.
 */
export type Verdict = SearchVerdict;

export interface CheckOptions {
  readonly model: ModelName;
  /** Search steps for the whole history; running out gives `unknown` (deterministically). */
  readonly stepsMax?: number;
  /** The caller's clock: returns true once time is up (the CLI's --timeout). */
  readonly deadline?: () => boolean;
  /** Steps for explaining each failing key (default EXPLAIN_STEPS_MAX_DEFAULT). */
  readonly explainStepsMax?: number;
  /** How many failing keys get a minimal explanation (default 3); the others get the verdict. */
  readonly explainKeysMax?: number;
  /** Memoised configurations per key (default memo.ts's CONFIGS_MAX_DEFAULT). */
  readonly configsMax?: number;
}

export interface KeyResult {
  readonly key: string;
  readonly verdict: Verdict;
  /** Operations on the key, of every status. */
  readonly opCount: number;
  readonly steps: number;
  /** For `unknown`: which budget ran out. */
  readonly unknownReason?: 'steps' | 'deadline' | 'memory';
  readonly explanation?: Explanation;
  /** For a violation: the longest partial linearization of the whole key (Operation ids). */
  readonly longestOrder?: readonly number[];
}

export interface LinearizabilityResult {
  readonly source: string;
  readonly model: ModelName;
  readonly verdict: Verdict;
  readonly opCount: number;
  readonly keyCount: number;
  readonly steps: number;
  /** The keys whose verdict is not `ok`, in order of first appearance. */
  readonly keys: readonly KeyResult[];
}

export const MODELS: Readonly<Record<ModelName, Model>> = { kv: kvModel, register: registerModel };

/** Bad input for the chosen model (a delete in a register history) is an error naming the line. */
export function checkModelFunctions(history: History, model: Model): void {
  for (const op of history.ops) {
    if (!model.functions.includes(op.f)) {
      throw new HistoryError(history.source, op.callLine,
        `${op.f} is not an operation of ${model.describe}; check this history with --model kv`);
    }
  }
}

export function checkHistory(history: History, options: CheckOptions): LinearizabilityResult {
  const model = MODELS[options.model];
  assert(model !== undefined, () => `unknown model ${String(options.model)}`);
  checkModelFunctions(history, model);
  const budget = makeBudget(options.stepsMax, options.deadline);
  const results: KeyResult[] = [];
  let steps = 0;
  let explained = 0;
  const byKey = partitionByKey(history.ops);
  for (const [key, keyOps] of byKey) {
    const result = checkKey(key, keyOps, budget, options, explained < (options.explainKeysMax ?? 3));
    steps += result.steps;
    if (result.explanation !== undefined) explained++;
    if (result.verdict !== 'ok') results.push(result);
  }
  return {
    source: history.source,
    model: model.name,
    verdict: combineVerdicts(results.map((r) => r.verdict)),
    opCount: history.ops.length,
    keyCount: byKey.size,
    steps,
    keys: results,
  };
}

/** A violation anywhere is definite; otherwise any unknown key makes the whole unknown. */
export function combineVerdicts(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('violation')) return 'violation';
  return verdicts.includes('unknown') ? 'unknown' : 'ok';
}

/**
 * When the search has not got further for this many steps, it tries to refute the key near where
 * it is stuck (search.ts StallHook); the wait doubles after each attempt that finds nothing, and
 * an attempt may spend 1/REFUTE_SHARE of the steps the search spent stalled. On a linearizable
 * history every attempt is wasted, so this bounds the waste to a fraction of the search's work.
 */
const STALL_STEPS_FIRST = 100_000;
const REFUTE_SHARE = 2;

export function checkKey(key: string, keyOps: readonly Operation[], budget: Budget, options: CheckOptions,
  explain: boolean): KeyResult {
  if (budget.exhausted !== null) {
    return { key, verdict: 'unknown', opCount: keyOps.length, steps: 0, unknownReason: budget.exhausted };
  }
  const index = new KeyIndex(key, keyOps);
  const compiled = index.compile();
  let failing: FailingSet | null = null;
  let refuteSteps = 0;
  const stall: StallHook = {
    stepsFirst: STALL_STEPS_FIRST,
    refute: (frontierEvent, stepsMax) => {
      failing = withSteps(budget, stepsMax / REFUTE_SHARE, (b) => {
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
  const outcome = searchLinearization(compiled, budget, { configsMax: options.configsMax, stall });
  const base = { key, verdict: outcome.verdict, opCount: keyOps.length, steps: outcome.steps + refuteSteps };
  if (outcome.verdict === 'unknown') return { ...base, unknownReason: budget.exhausted ?? 'steps' };
  if (outcome.verdict === 'ok') return base;
  const longestOrder = outcome.order.map((i) => (compiled.ops[i] as Operation).id);
  if (!explain) return { ...base, longestOrder };
  const explainBudget = makeBudget(options.explainStepsMax ?? EXPLAIN_STEPS_MAX_DEFAULT, options.deadline);
  const deepestOrder = outcome.order.map((i) => compiled.indexOf[i] as number);
  const hints = { frontierEvent: outcome.frontierEvent, deepestOrder, failing };
  return { ...base, longestOrder, explanation: explainViolation(index, explainBudget, hints) };
}
