import type { Json } from '../util/json.js';

/**
 * The history format shared by the simulator, real clients and the checkers (see HISTORY.md).
 * One event per line, in real-time order: an `invoke` when an operation starts, then `ok`, `fail`
 * or `info` when it ends.
 */

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/** The history's values are JSON (src/util/json.ts); re-exported for the history's readers. */
export type { Json };

export type OpFunction = 'read' | 'write' | 'cas' | 'delete' | 'append';

export const OP_FUNCTIONS: readonly OpFunction[] = ['read', 'write', 'cas', 'delete', 'append'];

export interface HistoryEvent {
  process: number;
  type: EventType;
  f: OpFunction;
  key: string;
  /**
   * invoke: the argument (null for read and delete, [expected, new] for cas, the suffix for
   * append); ok: the result for read (null = absent), the argument echoed otherwise.
   */
  value: Json;
  /** Nanoseconds on the recorder's clock; optional. */
  time?: number;
  /** Free-form details a recorder may add (node contacted, error text); checkers ignore them. */
  [extra: string]: unknown;
}

/**
 * Transactions (HISTORY.md, "Transactions"): `"f": "txn"`, no `key`, and `value` a list of
 * micro-operations `[f, key, value]`. The invoke carries each read's value as null; the ok
 * carries what each read saw (a list for a list-append key, a value for a register key).
 */
export type MicroOpFunction = 'r' | 'w' | 'append';

export const MICRO_OP_FUNCTIONS: readonly MicroOpFunction[] = ['r', 'w', 'append'];

export type MicroOp = readonly [MicroOpFunction, string, Json];

export interface TxnEvent {
  process: number;
  type: EventType;
  f: 'txn';
  value: MicroOp[];
  time?: number;
  [extra: string]: unknown;
}
