import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';

test('the same seed gives the same stream', () => {
  const a = new SeededRng('42');
  const b = new SeededRng('42');
  for (let i = 0; i < 100; i++) assert.is(a.next(), b.next());
});

test('another seed gives another stream', () => {
  const a = new SeededRng('42');
  const b = new SeededRng('43');
  const same = Array.from({ length: 20 }, () => a.next() === b.next()).filter(Boolean).length;
  assert.ok(same < 2);
});

test('fork depends on the seed and label, not on how much the parent has drawn', () => {
  const a = new SeededRng('7');
  const b = new SeededRng('7');
  b.next();
  b.next();
  assert.is(a.fork('net').next(), b.fork('net').next());
  assert.is.not(a.fork('net').next(), a.fork('disk').next());
});

test('int, between and pick stay in range', () => {
  const r = new SeededRng('range');
  for (let i = 0; i < 1000; i++) {
    const n = r.int(7);
    assert.ok(n >= 0 && n < 7 && Number.isInteger(n));
    const m = r.between(-3, 3);
    assert.ok(m >= -3 && m <= 3);
  }
  assert.throws(() => r.int(0), /maxExclusive/);
  assert.throws(() => r.pick([]), /empty/);
});

test.run();
