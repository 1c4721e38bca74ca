import { assert } from '../../util/assert.js';
import { detLn } from '../../util/detmath.js';

/**
 * The few logarithms the protocol's timings need (SWIM scales timeouts and retransmissions with
 * log N), from +, −, ×, ÷ only (src/util/detmath.ts): Math.log may differ in the last bit between
 * platforms, and one bit in a timeout changes a simulated run.
 */

/** Natural logarithm. REQUIRES: x > 0 and finite. */
export function ln(x: number): number {
  assert(x > 0 && Number.isFinite(x), () => `ln: ${x} is not a positive finite number`);
  return detLn(x);
}

const LN10 = ln(10);

export function log10(x: number): number {
  return ln(x) / LN10;
}

/** ceil(log10(n)) for an integer n >= 1, exactly (the number of decimal digits of n - 1). */
export function ceilLog10(n: number): number {
  assert(Number.isInteger(n) && n >= 1, () => `ceilLog10 needs an integer >= 1, got ${n}`);
  let k = 0;
  for (let p = 1; p < n; p *= 10) k++;
  return k;
}

/** ceil(log2(n)) for an integer n >= 1, exactly. */
export function ceilLog2(n: number): number {
  assert(Number.isInteger(n) && n >= 1, () => `ceilLog2 needs an integer >= 1, got ${n}`);
  let k = 0;
  for (let p = 1; p < n; p *= 2) k++;
  return k;
}
