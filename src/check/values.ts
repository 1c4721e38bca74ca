import { assert } from '../util/assert.js';
import type { Json } from './history.js';
import { canonicalJson } from './json.js';

/**
 * Interned values: the search compares and hashes model states millions of times, so each
 * distinct value gets a small integer once (its canonical JSON is computed once, not per step).
 * Id 0 is "absent", which is also how null reads: a read of null means the key holds nothing.
 */
export const ABSENT = 0;

/**
 * Every value no operation ever compares against (no read returns it, no cas expects it) is
 * mapped to this one id when a key has no appends: the model cannot tell such states apart, so
 * merging them shrinks the search without changing its answer (see reduce.ts).
 */
export const UNOBSERVED = 1;

/** Ids must fit 26 bits so that (state, argument) pairs pack into one exact double. */
export const VALUE_IDS_MAX = 1 << 26;

export class ValueTable {
  private readonly byCanonical = new Map<string, number>();
  private readonly byString = new Map<string, number>();
  /**
   * Finite numbers by themselves: one per canonical text, as two distinct doubles print
   * differently and Map identifies 0 with -0 as JSON does. It spares a string and its hash per
   * intern, most of what interning a register history cost.
   */
  private byNumber: Map<number, number> | null = null;
  private readonly values: Json[] = [null, null];

  constructor() {
    this.byCanonical.set('null', ABSENT);
  }

  intern(value: Json): number {
    if (typeof value === 'string') return this.internString(value);
    if (value === null) return ABSENT;
    if (typeof value === 'number' && Number.isFinite(value)) {
      this.byNumber ??= new Map();
      let id = this.byNumber.get(value);
      if (id === undefined) {
        id = this.add(value);
        this.byNumber.set(value, id);
      }
      return id;
    }
    const text = canonicalJson(value);
    let id = this.byCanonical.get(text);
    if (id === undefined) {
      id = this.add(value);
      this.byCanonical.set(text, id);
    }
    return id;
  }

  internString(value: string): number {
    let id = this.byString.get(value);
    if (id === undefined) {
      id = this.add(value);
      this.byString.set(value, id);
    }
    return id;
  }

  /** The value behind an id; UNOBSERVED has none and shows as null. */
  value(id: number): Json {
    // Tested before assert is called: a closure per call costs the search (this is its hot path).
    if (!(id >= 0 && id < this.values.length)) assert(false, `value id ${id} out of range`);
    return this.values[id] as Json;
  }

  get size(): number {
    return this.values.length;
  }

  private add(value: Json): number {
    const id = this.values.length;
    assert(id < VALUE_IDS_MAX, `more than ${VALUE_IDS_MAX} distinct values on one key`);
    this.values.push(value);
    return id;
  }
}
