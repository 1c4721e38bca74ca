import { assert } from '../util/assert.js';
import type { ValueTable } from './values.js';

/**
 * Which strings some operation could still see grow into: the prefixes of the strings the ok
 * reads returned and the cas ops expect (search.ts rule 5). On a key with appends a state only
 * grows until a write, delete or cas replaces it, so a state that is a prefix of no observed
 * string can never be seen, nor can anything built on it by appends.
 *
 * The test is a binary search over the observed strings in code-unit order: the strings starting
 * with s, if any, form a run that begins at the first string not below s. Each state is tested
 * once per compiled history (the search meets the same state ids again and again); the cache is
 * bounded by the number of states the search creates, which its step budget bounds.
 */
export class ObservedPrefixes {
  private readonly sorted: readonly string[];
  private readonly known = new Map<number, boolean>();

  /** `observed`: value ids the compiled history's ok reads return and its cas ops expect. */
  constructor(private readonly values: ValueTable, observed: Iterable<number>) {
    const strings = new Set<string>();
    for (const id of observed) {
      const value = values.value(id);
      if (typeof value === 'string') strings.add(value);
    }
    this.sorted = [...strings].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Whether some read or cas could see `state` or what appends build on it: true for any value
   * that is not a string (only exact observers see those, and the rules leave them alone).
   */
  mayBeSeen(state: number): boolean {
    const cached = this.known.get(state);
    if (cached !== undefined) return cached;
    if (typeof this.values.value(state) !== 'string') {
      this.known.set(state, true);
      return true;
    }
    return this.has(state);
  }

  /** Whether the string value `state` is a prefix of an observed string. */
  has(state: number): boolean {
    const cached = this.known.get(state);
    if (cached !== undefined) return cached;
    const s = this.values.value(state);
    assert(typeof s === 'string', () => `prefix test of a state that is not a string (value id ${state})`);
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] as string) < s) lo = mid + 1;
      else hi = mid;
    }
    const found = lo < this.sorted.length && (this.sorted[lo] as string).startsWith(s);
    this.known.set(state, found);
    return found;
  }
}
