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
