import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { FRAME_JSON_DEPTH_MAX, JsonParseError, parseJson } from '../../src/util/json-parse.js';
import { jsonNestingExceeds } from '../../src/util/json.js';

// JSON from outside, parsed with a bound on its depth (issue 16, item 1).

/** The nesting of a parsed value, by recursion (fine for the small values generated here). */
function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce((m: number, c) => Math.max(m, depthOf(c)), 0);
}

/** Strings full of what fools a naive bracket count: brackets, quotes, backslashes. */
const tricky = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', ' ', '\u2028'), maxLength: 12 });
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.integer(), tricky, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(tricky, tie('v'), { maxKeys: 3 })),
})).v;

test('the depth found on the text is the depth of the value, whatever its strings hold (fast-check)', () => {
  fc.assert(
    fc.property(value, (v) => {
      const text = JSON.stringify(v);
      const depth = depthOf(v);
      assert.not.ok(jsonNestingExceeds(text, depth));
      if (depth > 0) assert.ok(jsonNestingExceeds(text, depth - 1));
      assert.is(JSON.stringify(parseJson(text, 'test', depth)), text);
    }),
  );
});

test('any text: parseJson returns what JSON.parse does, or throws JsonParseError, and never builds deeper than its bound (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', ':', ',', '1', 'a'), maxLength: 300 }), fc.string({ maxLength: 100 })), fc.integer({ min: 0, max: 8 }), (text, bound) => {
      try {
        const v = parseJson(text, 'fuzz', bound);
        assert.ok(depthOf(v) <= bound, 'within its bound');
        assert.is(JSON.stringify(v), JSON.stringify(JSON.parse(text)));
      } catch (err) {
        assert.ok(err instanceof JsonParseError, String(err));
      }
    }),
  );
});

test('a value nested 100,000 deep is refused before anything is built', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  assert.throws(() => parseJson(deep, 'frame from x'), (e: unknown) => e instanceof JsonParseError && e.reason === 'depth' && new RegExp(`frame from x: JSON nested deeper than ${FRAME_JSON_DEPTH_MAX}`).test(e.message));
  assert.equal(parseJson('['.repeat(FRAME_JSON_DEPTH_MAX) + ']'.repeat(FRAME_JSON_DEPTH_MAX), 'ok') !== null, true);
  assert.throws(() => parseJson('{"a":', 'cut'), (e: unknown) => e instanceof JsonParseError && e.reason === 'syntax');
});

test.run();
