import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detExp, detLn, detPow, exponential } from '../../src/util/detmath.js';

test('detLn agrees with Math.log to within a few ulps', () => {
  for (const x of [1e-300, 1e-10, 0.001, 0.5, 0.7071, 1, 1.0000001, 2, Math.E, 10, 12345.678, 1e10, 1e300]) {
    const rel = Math.abs(detLn(x) - Math.log(x)) / Math.max(1e-300, Math.abs(Math.log(x)));
    assert.ok(x === 1 ? detLn(x) === 0 : rel < 1e-14, `ln(${x}): ${detLn(x)} vs ${Math.log(x)}`);
  }
  assert.throws(() => detLn(0), /positive/);
  assert.throws(() => detLn(-1), /positive/);
});

test('detExp and detPow agree with Math to within a few ulps', () => {
  for (const x of [-700, -20, -1, -1e-9, 0, 0.5, 1, 3.3, 50, 700]) {
    const rel = Math.abs(detExp(x) - Math.exp(x)) / Math.exp(x);
    assert.ok(rel < 1e-13, `exp(${x}): ${detExp(x)} vs ${Math.exp(x)}`);
  }
  assert.ok(Math.abs(detPow(1000, 0.99) - Math.pow(1000, 0.99)) / Math.pow(1000, 0.99) < 1e-13);
});

test('exponential draws have the requested mean', () => {
  let sum = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) sum += exponential((i + 0.5) / n, 3);
  assert.ok(Math.abs(sum / n - 3) < 0.01, `mean ${sum / n}`);
});

test.run();
