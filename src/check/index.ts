/**
 * The checkers' public face. The simulator calls checkLinearizable in-process on its in-memory
 * history; the CLI parses files with parseHistoryLines and calls checkHistory (or the worker-pool
 * variant for large histories).
 */
import type { HistoryEvent } from './history.js';
import { checkHistory, type CheckOptions, type LinearizabilityResult } from './linearizability.js';
import { historyFromEvents } from './parse.js';

export type { HistoryEvent, EventType, OpFunction, Json } from './history.js';
export type { Operation, OpStatus, History } from './operation.js';
export type { Explanation } from './explain.js';
export type { ModelName } from './model.js';
export type { CheckOptions, KeyResult, LinearizabilityResult, Verdict } from './linearizability.js';
export { checkHistory, combineVerdicts, MODELS } from './linearizability.js';
export { HistoryError, HistoryBuilder, parseHistoryLines, historyFromEvents, eventsOf, refuseTransactions } from './parse.js';
export { renderResult, renderExplanation, renderKeyResult } from './render-text.js';

/**
 * Validates an in-memory history and checks it. Throws HistoryError (naming the event as line
 * index + 1) when the events are malformed — for the simulator that is a bug in its recorder.
 */
export function checkLinearizable(
  events: readonly HistoryEvent[],
  options: CheckOptions & { source?: string },
): LinearizabilityResult {
  return checkHistory(historyFromEvents(events, options.source ?? 'history'), options);
}

/** Isolation anomalies in transactional histories (src/check/txn): what the runner calls on a run's history. */
export { checkTransactions } from './txn/index.js';
export type { TxnCheckOptions, TxnCheckResult, TxnAnomaly, Consistency, AnomalyClass } from './txn/index.js';
export type { TxnEvent, MicroOp, MicroOpFunction } from './history.js';
export type { TxnOperation } from './operation.js';
export { renderTxnResult, renderTxnHtmlSection, renderTxnHtmlPage } from './txn/render.js';
