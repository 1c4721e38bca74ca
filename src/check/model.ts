import type { OpFunction } from './history.js';
import { ABSENT, type ValueTable } from './values.js';

/**
 * A sequential specification, as the linearizability checker needs it: per key (P-compositionality,
 * Herlihy & Wing 1990: a history of independent objects is linearizable iff each object's
 * sub-history is), a cell whose state is an interned value id and whose operations are compiled
 * to small integers (kind, argument A, argument B) so that a step is a few comparisons.
 */
export interface Model {
  readonly name: ModelName;
  /** One sentence for explanations: what the checked object is. */
  readonly describe: string;
  /** The functions this model defines; any other in a history is bad input. */
  readonly functions: readonly OpFunction[];
}

export type ModelName = 'kv' | 'register';

export const OP_READ = 0;
export const OP_WRITE = 1;
export const OP_CAS = 2;
export const OP_DELETE = 3;
export const OP_APPEND = 4;
export type OpKind = typeof OP_READ | typeof OP_WRITE | typeof OP_CAS | typeof OP_DELETE | typeof OP_APPEND;

/** What step returns when an operation cannot take effect in a state. */
export const ILLEGAL = -1;

export const OP_KIND_OF: Readonly<Record<OpFunction, OpKind>> = {
  read: OP_READ,
  write: OP_WRITE,
  cas: OP_CAS,
  delete: OP_DELETE,
  append: OP_APPEND,
};

/** Appending packs (state, suffix) into one exact double key; both ids are below 2^26. */
const APPEND_KEY_SCALE = 2 ** 26;
/** Cached append results per key; past this the cache is dropped and refilled (bounded memory). */
const APPEND_CACHE_MAX = 1 << 20;

/**
 * The sequential cell every model is made of:
 * - read → v: legal only when the state is v (null reads an absent key);
 * - write v: the state becomes v (writing null is deleting);
 * - cas [e, n]: legal only when the state is e; the state becomes n (ok = compared equal, applied);
 * - delete: the state becomes absent;
 * - append s: the state must be a string or absent; it becomes state + s (absent + s = s).
 *   Appending to a non-string value cannot take effect, so an ok append there is a violation.
 */
export class Cell {
  private readonly appendResults = new Map<number, number>();

  constructor(readonly values: ValueTable) {}

  step(state: number, kind: number, a: number, b: number): number {
    switch (kind) {
      case OP_READ:
        return state === a ? state : ILLEGAL;
      case OP_WRITE:
        return a;
      case OP_CAS:
        return state === a ? b : ILLEGAL;
      case OP_DELETE:
        return ABSENT;
      default:
        return this.append(state, a);
    }
  }

  private append(state: number, suffix: number): number {
    const key = state * APPEND_KEY_SCALE + suffix;
    const cached = this.appendResults.get(key);
    if (cached !== undefined) return cached;
    const current = state === ABSENT ? '' : this.values.value(state);
    const tail = this.values.value(suffix);
    let result = ILLEGAL;
    if (typeof current === 'string' && typeof tail === 'string') result = this.values.internString(current + tail);
    if (this.appendResults.size >= APPEND_CACHE_MAX) this.appendResults.clear();
    this.appendResults.set(key, result);
    return result;
  }
}
