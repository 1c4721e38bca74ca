import { readHistoryText, type HistoryFormat } from './formats.js';
import { decideHistory, explainDecision, type CheckOptions, type LinearizabilityResult, type Verdict } from './linearizability.js';
import type { ModelName } from './model.js';
import type { History } from './operation.js';
import { HistoryError, refuseTransactions } from './parse.js';
import { renderHtmlSection } from './render-html.js';

/**
 * One file of `kv-lab check`, from its text to its verdict and explanation, announcing the
 * verdict as soon as it is known (file-worker.ts posts these messages to the CLI).
 */
export interface FileTask {
  /** The file's place in the command's list: results are printed in that order. */
  readonly index: number;
  readonly source: string;
  readonly text: string;
  readonly format: HistoryFormat | 'auto';
  readonly model: ModelName;
  readonly explain: boolean;
  /** Render this file's section of the HTML page too. */
  readonly html: boolean;
  /** Shared flags the CLI sets: [0] = 1 ends deciding (--timeout), [1] = 1 ends explaining. */
  readonly cancel: Int32Array;
}

export type FileMessage =
  | { readonly type: 'decided'; readonly index: number; readonly verdict: Verdict; readonly opCount: number; readonly keyCount: number; readonly steps: number }
  | { readonly type: 'done'; readonly index: number; readonly result: LinearizabilityResult; readonly html: string | null }
  | { readonly type: 'invalid'; readonly index: number; readonly message: string };

export function checkFile(task: FileTask, post: (message: FileMessage) => void): void {
  try {
    const history = readHistoryText(task.text, task.source, task.format);
    refuseTransactions(history);
    const keyCount = new Set(history.ops.map((op) => op.key)).size;
    const { result, html } = checkParsed(history, task, (verdict, steps) =>
      post({ type: 'decided', index: task.index, verdict, opCount: history.ops.length, keyCount, steps }));
    post({ type: 'done', index: task.index, result, html });
  } catch (e) {
    // Bad input (a malformed line, a delete in a register history) is the user's; anything else is a bug.
    if (!(e instanceof HistoryError)) throw e;
    post({ type: 'invalid', index: task.index, message: e.message });
  }
}

/**
 * Deadlines the caller reads from a clock itself, for a check running in the caller's own thread
 * (where a timer cannot set the shared flags during a synchronous search).
 */
export interface Clocks {
  readonly deadline?: () => boolean;
  readonly explainDeadline?: () => boolean;
}

/** Decides (stopping at the first failing key), reports the verdict, then explains. Throws HistoryError on bad input. */
export function checkParsed(history: History, task: Omit<FileTask, 'text' | 'format' | 'source'> & Clocks,
  decided: (verdict: Verdict, steps: number) => void): { result: LinearizabilityResult; html: string | null } {
  const cancel = task.cancel;
  const options: CheckOptions = {
    model: task.model,
    firstViolation: true,
    explain: task.explain,
    deadline: task.deadline ?? (() => Atomics.load(cancel, 0) === 1),
    explainDeadline: task.explainDeadline ?? (() => Atomics.load(cancel, 1) === 1),
  };
  const decision = decideHistory(history, options);
  decided(decision.verdict, decision.steps);
  const result = explainDecision(decision, options);
  return { result, html: task.html ? renderHtmlSection({ history, result }, task.index) : null };
}
