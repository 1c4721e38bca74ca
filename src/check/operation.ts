import type { Json, MicroOp, OpFunction } from './history.js';

/**
 * How an operation ended. `ok`: it took effect, between its invoke and its completion. `fail`: it
 * certainly did not take effect. `info`: unknown — it may take effect at any point after its
 * invoke, or never; an operation still open at the end of the history counts as `info` too.
 */
export type OpStatus = 'ok' | 'fail' | 'info';

/**
 * One operation: an invoke event paired with its completion. Checkers work on operations, not on
 * events; event positions keep the real-time order (the history's line order is its truth).
 */
export interface Operation {
  /** Index in invoke order over the whole history: ops[i].id === i. */
  readonly id: number;
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  /** The invoke's value: null for read and delete, [expected, new] for cas, the suffix for append. */
  readonly input: Json;
  /** For an ok read, what was read (null = absent); null otherwise. */
  readonly output: Json;
  readonly status: OpStatus;
  /** Position of the invoke among the history's events, from 0. */
  readonly callEvent: number;
  /** Position of the completion event; -1 when the history ends with the operation open. */
  readonly returnEvent: number;
  /** 1-based line numbers in the source (for in-memory histories: index + 1); 0 = none. */
  readonly callLine: number;
  readonly returnLine: number;
  /** The events' `time` fields (nanoseconds) when the recorder gave them. */
  readonly callTimeNs: number | undefined;
  readonly returnTimeNs: number | undefined;
}

/** A validated history: its operations in invoke order and where it came from. */
export interface History {
  /** A file name, or a label for an in-memory history; error messages start with it. */
  readonly source: string;
  readonly ops: readonly Operation[];
  readonly eventCount: number;
  /** Whether every event carried a `time`, so that pictures can use a real time axis. */
  readonly timed: boolean;
  /**
   * The transactions (`"f": "txn"`), in invoke order; absent or empty when there are none. The
   * linearizability checkers read `ops` only; src/check/txn reads these.
   */
  readonly txns?: readonly TxnOperation[];
}

/** One transaction: its invoke paired with its completion, as an Operation is. */
export interface TxnOperation {
  /** Index in invoke order among the transactions: txns[i].id === i. */
  readonly id: number;
  readonly process: number;
  /** The invoke's micro-operations (reads carry null). */
  readonly input: readonly MicroOp[];
  /** For an ok transaction, its micro-operations with what each read saw; null otherwise. */
  readonly output: readonly MicroOp[] | null;
  readonly status: OpStatus;
  readonly callEvent: number;
  readonly returnEvent: number;
  readonly callLine: number;
  readonly returnLine: number;
  readonly callTimeNs: number | undefined;
  readonly returnTimeNs: number | undefined;
}

/** "p3 write 5", "p1 read → 7", "p2 cas 1→2 (info)": how explanations name an operation. */
export function describeOp(op: Operation, show: (v: Json) => string): string {
  const status = op.status === 'ok' ? '' : op.status === 'info' ? ' (outcome unknown)' : ' (failed)';
  return `p${op.process} ${describeCall(op, show)}${status}`;
}

function describeCall(op: Operation, show: (v: Json) => string): string {
  switch (op.f) {
    case 'read':
      return op.status === 'ok' ? `read → ${show(op.output)}` : 'read';
    case 'write':
      return `write ${show(op.input)}`;
    case 'cas': {
      const [expected, next] = op.input as [Json, Json];
      return `cas ${show(expected)}→${show(next)}`;
    }
    case 'delete':
      return 'delete';
    case 'append':
      return `append ${show(op.input)}`;
  }
}
