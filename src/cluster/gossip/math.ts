import { assert } from '../../util/assert.js';

/**
 * The few logarithms the protocol's timings need (SWIM scales timeouts and retransmissions with
 * log N), from +, −, ×, ÷ only: IEEE 754 rounds those identically everywhere, while Math.log may
 * differ in the last bit between platforms, and one bit in a timeout changes a simulated run.
 * (sim/detmath.ts does the same for the simulator; this copy keeps src/ free of sim/.)
 */

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;
const SQRT1_2 = 0.7071067811865476;

/** Natural logarithm. REQUIRES: x > 0 and finite. */
export function ln(x: number): number {
  assert(x > 0 && Number.isFinite(x), () => `ln: ${x} is not a positive finite number`);
  let k = 0;
  while (x >= SQRT2) {
    x /= 2;
    k++;
  }
  while (x < SQRT1_2) {
    x *= 2;
    k--;
  }
  // ln x = 2·atanh(s), s = (x−1)/(x+1), |s| < 0.172: the odd series converges in a few terms.
  const s = (x - 1) / (x + 1);
  const s2 = s * s;
  let term = s;
  let sum = 0;
  for (let n = 1; n < 60; n += 2) {
    sum += term / n;
    term *= s2;
    if (term < 1e-18 && term > -1e-18) break;
  }
  return 2 * sum + k * LN2;
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
