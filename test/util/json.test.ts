import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jsonNestingExceeds } from '../../src/util/json.js';

// The depth check that runs before any JSON from outside is parsed: it must agree with the depth
// of the parsed value, strings included (brackets in them do not nest), and never recurse itself.

function depth(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth));
  if (typeof v === 'object' && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depth));
  return 0;
}

test('agrees with the depth of the parsed value (fast-check)', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 9 }), (v, max) => {
      const text = JSON.stringify(v);
      assert.is(jsonNestingExceeds(text, max), depth(v) > max, text);
    }),
    { numRuns: 1000 },
  );
});

test('brackets inside strings, escaped quotes included, do not count', () => {
  assert.is(jsonNestingExceeds(JSON.stringify({ a: '[[[[{{{{"\\\\"' }), 1), false);
  assert.is(jsonNestingExceeds('"\\"[[[["', 0), false);
});

test('a 1,000,000-deep array is refused without a stack overflow', () => {
  const n = 1_000_000;
  assert.is(jsonNestingExceeds('['.repeat(n) + ']'.repeat(n)), true);
});

test.run();
