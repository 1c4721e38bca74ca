import type { Json } from '../util/json.js';
import type { Clock } from '../env/clock.js';
import type { KvOp, ReadOp, TxnWriteOp } from '../node/protocol.js';
import type { Outcome } from './client.js';

/**
 * `client.transaction(async (tx) => …)`: an interactive transaction with retries. The function
 * runs between BEGIN and COMMIT; when the cluster aborts the transaction for a reason a retry can
 * cure (a conflict: wounded by an older transaction, a lock wait or the transaction's timeout, a
 * leader change), the whole function runs again in a new transaction after a back-off that doubles
 * each time. Any other failure rolls back and is thrown. So the function must be safe to run
 * more than once, and should do nothing outside the transaction but compute.
 */

/** A transaction as the function sees it; every call runs inside it, in order. */
export interface Transaction {
  readonly id: string;
  /** The value (null when absent), the transaction's own writes included. */
  get(key: string): Promise<Json>;
  put(key: string, value: Json): Promise<void>;
  delete(key: string): Promise<void>;
  append(key: string, value: string): Promise<void>;
  /** Entries in [start, end) (end null: to the last key), at most limit. */
  range(start: string, end: string | null, limit?: number): Promise<[string, Json][]>;
}

export interface TransactionOptions {
  /** Runs of the function at most (default 8). */
  attempts?: number;
  /** First back-off; doubled after each abort (default 20 ms, at most 2 s). */
  backoffMs?: number;
}

/** The transaction failed for good: `code` and `message` as the node said them. */
export class TransactionError extends Error {
  override name = 'TransactionError';
  constructor(
    readonly code: string,
    message: string,
    /** The commit's outcome is unknown (it may have applied): do not assume either way. */
    readonly unknown = false,
  ) {
    super(message);
  }
}

/** Aborts a retry may cure: the first word of an `aborted` message. */
export const RETRYABLE_ABORTS: ReadonlySet<string> = new Set(['wounded', 'conflict', 'lock_timeout', 'timeout', 'leader_changed', 'unknown']);

/** Back-off never exceeds this. */
const BACKOFF_MAX_MS = 2000;

/** Runs fn in a transaction over `call` (one operation → its outcome), retrying on conflicts. */
export async function runTransaction<T>(call: (op: KvOp) => Promise<Outcome>, clock: Clock, fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 8;
  let backoffMs = options.backoffMs ?? 20;
  let previous: string | null = null;
  for (let attempt = 1; ; attempt++) {
    // A retry names the aborted attempt, whose age it keeps at the leader (wound-wait).
    const begun = await call(previous === null ? { f: 'txn.begin' } : { f: 'txn.begin', retryOf: previous });
    if (begun.type !== 'ok' || typeof begun.value !== 'string') throw failure(begun, 'BEGIN');
    const id = begun.value;
    previous = id;
    try {
      const value = await fn(handle(call, id));
      const committed = await call({ f: 'txn.commit', txn: id });
      if (committed.type === 'ok') return value;
      throw failure(committed, 'COMMIT');
    } catch (err) {
      const retry = err instanceof TransactionError && err.code === 'aborted' && RETRYABLE_ABORTS.has(err.message.split(' ')[0] as string);
      if (!(err instanceof TransactionError && err.unknown)) await call({ f: 'txn.rollback', txn: id }).catch(() => undefined);
      if (!retry || attempt >= attempts) throw err;
    }
    await new Promise<void>((resolve) => clock.timer(backoffMs, resolve));
    backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
  }
}

function handle(call: (op: KvOp) => Promise<Outcome>, id: string): Transaction {
  const run = async (op: ReadOp | TxnWriteOp): Promise<Outcome & { type: 'ok' }> => {
    const o = await call({ f: 'txn.op', txn: id, op });
    if (o.type !== 'ok') throw failure(o, op.f);
    return o;
  };
  return {
    id,
    get: async (key) => (await run({ f: 'read', key })).value,
    put: async (key, value) => void (await run({ f: 'write', key, value })),
    delete: async (key) => void (await run({ f: 'delete', key })),
    append: async (key, value) => void (await run({ f: 'append', key, value })),
    range: async (start, end, limit = 100) => (await run({ f: 'range', start, end, limit, reverse: false })).entries ?? [],
  };
}

function failure(o: Outcome, what: string): TransactionError {
  if (o.type === 'info') return new TransactionError('timeout', `${what}: outcome unknown: ${o.reason}`, true);
  if (o.type === 'fail') return new TransactionError(o.code, o.message);
  return new TransactionError('internal', `${what}: an unexpected answer`);
}
