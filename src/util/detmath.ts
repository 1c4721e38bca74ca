/**
 * Logarithm and exponential from +, −, × and ÷ alone. IEEE 754 rounds those exactly the same on
 * every machine, while Math.log and Math.exp may differ in the last bit between platforms and
 * engine versions — and one differing bit in a latency draw changes a whole simulated run. The
 * simulator draws its distributions with these, so a seed replays bit for bit anywhere.
 */

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;
const SQRT1_2 = 0.7071067811865476;

/** Natural logarithm. REQUIRES: x > 0 and finite. */
export function detLn(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`detLn: ${x} is not a positive finite number`);
  let k = 0;
  // Scaling by two is exact; bring x into [√½, √2).
  while (x >= SQRT2) {
    x /= 2;
    k++;
  }
  while (x < SQRT1_2) {
    x *= 2;
    k--;
  }
  // ln x = 2·atanh(s) with s = (x−1)/(x+1), |s| < 0.172: the series converges fast.
  const s = (x - 1) / (x + 1);
  const s2 = s * s;
  let term = s;
  let sum = 0;
  for (let n = 1; n < 60; n += 2) {
    sum += term / n;
    term *= s2;
    if (term === 0 || (term < 1e-18 && term > -1e-18)) break;
  }
  return 2 * sum + k * LN2;
}

/** e^x. */
export function detExp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709) return Infinity;
  if (x < -745) return 0;
  const k = Math.round(x / LN2);
  const r = x - k * LN2;
  let term = 1;
  let sum = 1;
  for (let n = 1; n < 40; n++) {
    term = (term * r) / n;
    sum += term;
    if (term < 1e-18 && term > -1e-18) break;
  }
  let scale = 1;
  for (let i = 0; i < Math.abs(k); i++) scale *= 2;
  return k >= 0 ? sum * scale : sum / scale;
}

/** x^y for x > 0. */
export function detPow(x: number, y: number): number {
  return detExp(y * detLn(x));
}

/** An exponentially distributed value with the given mean, from a uniform u in [0, 1). */
export function exponential(u: number, mean: number): number {
  return mean <= 0 ? 0 : -detLn(1 - u) * mean;
}
