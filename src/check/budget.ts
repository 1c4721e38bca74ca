/**
 * How much work a check may do. Steps are counted, so a step budget gives the same verdict on
 * every machine; `deadline` is the caller's clock (the CLI's --timeout), asked every
 * DEADLINE_POLL_STEPS steps. Either running out gives verdict `unknown`, never a false `ok`.
 * One Budget is shared by every key of a check.
 */
export interface Budget {
  stepsLeft: number;
  readonly deadline: (() => boolean) | undefined;
  /** Why the budget ran out, once it has. */
  exhausted: 'steps' | 'deadline' | 'memory' | null;
}

export const DEADLINE_POLL_STEPS = 1024;

export function makeBudget(stepsMax = Number.POSITIVE_INFINITY, deadline?: () => boolean): Budget {
  return { stepsLeft: stepsMax, deadline, exhausted: null };
}

/**
 * Runs `work` on at most `stepsMax` of the parent's steps and charges what it used back: a probe
 * that explodes then costs its cap, not the whole budget. A deadline that fires inside is the
 * parent's too; a sub-budget that merely ran out of its own steps leaves the parent untouched.
 */
export function withSteps<T>(parent: Budget, stepsMax: number, work: (budget: Budget) => T): T {
  // Whole steps: a share of a budget (stepsMax / 2) must not make step counts fractional.
  const stepsLeft = Math.floor(Math.min(stepsMax, parent.stepsLeft));
  const sub: Budget = { stepsLeft, deadline: parent.deadline, exhausted: null };
  try {
    return work(sub);
  } finally {
    // An unbounded parent stays unbounded (and ∞ − ∞ would make it NaN).
    if (Number.isFinite(stepsLeft)) parent.stepsLeft -= stepsLeft - Math.max(0, sub.stepsLeft);
    if (sub.exhausted === 'deadline') parent.exhausted = 'deadline';
    else if (parent.stepsLeft <= 0) parent.exhausted = 'steps';
  }
}
