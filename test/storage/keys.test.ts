import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { compareKeys } from '../../src/storage/keys.js';

const Keys = suite('keys');

/** The order the engines promise: memcmp of the UTF-8 encodings. */
function byteOrder(a: string, b: string): number {
  return Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

// Units near the places where `<` and code point order part: ASCII, the last units below the
// surrogates, both surrogate halves (as pairs: keys are well-formed), and E000..FFFF.
const unit = fc.oneof(
  fc.constantFrom('a', 'b', '\x00', '\x7f', '\u07ff', '\ud7ff', '\ue000', '\uffff', '\uf8ff'),
  fc.constantFrom('\ud800\udc00', '\udbff\udfff', '\ud83d\ude00'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
);
const key = fc.string({ unit, maxLength: 6 });

Keys('compareKeys orders well-formed strings as their UTF-8 bytes, with and without a shared prefix', () => {
  fc.assert(
    fc.property(key, key, fc.string({ maxLength: 30 }), (a, b, prefix) => {
      assert.is(Math.sign(compareKeys(a, b)), byteOrder(a, b));
      assert.is(Math.sign(compareKeys(prefix + a, prefix + b)), byteOrder(a, b));
    }),
    { numRuns: 2000 },
  );
});

Keys('compareKeys.forKey(k) orders k against any key as compareKeys does, either way round', () => {
  const forKey = compareKeys.forKey as (k: string) => (a: string, b: string) => number;
  fc.assert(
    fc.property(key, key, fc.string({ maxLength: 8 }), (a, b, prefix) => {
      const k = prefix + a;
      const other = prefix + b;
      assert.is(Math.sign(forKey(k)(other, k)), byteOrder(other, k));
      assert.is(Math.sign(forKey(k)(k, other)), byteOrder(k, other));
    }),
    { numRuns: 2000 },
  );
  // The native order is wrong exactly where both sides hold high units: forKey must not use it then.
  assert.ok(forKey('\ue000')('\ud800\udc00', '\ue000') > 0);
  assert.ok(forKey('\ud800\udc00')('\ue000', '\ud800\udc00') < 0);
});

Keys('a surrogate pair sorts after U+E000..U+FFFF, which `<` gets wrong', () => {
  assert.ok('\ud800\udc00' < '\ue000'); // UTF-16 order
  assert.ok(compareKeys('\ud800\udc00', '\ue000') > 0); // code point order: U+10000 > U+E000
  assert.ok(compareKeys('k\uffff', 'k\ud83d\ude00') < 0);
  assert.is(compareKeys('same\ud83d\ude00', 'same\ud83d\ude00'), 0);
  assert.ok(compareKeys('ab', 'abc') < 0);
  assert.ok(compareKeys('\x01r\x00gw-n1\x00000002', '\x01r\x00gw-n1\x00000010') < 0);
});

Keys.run();
