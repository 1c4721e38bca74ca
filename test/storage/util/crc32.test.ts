import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { crc32, crc32Js } from '../../../src/storage/util/crc32.js';

const enc = (s: string) => new TextEncoder().encode(s);

test('CRC-32 of the standard check string is 0xCBF43926, natively and in JavaScript', () => {
  assert.is(crc32(enc('123456789')), 0xcbf43926);
  assert.is(crc32Js(enc('123456789')), 0xcbf43926);
  assert.is(crc32(new Uint8Array(0)), 0);
  assert.is(crc32Js(new Uint8Array(0)), 0);
});

test('the native and the JavaScript CRC-32 agree on any bytes and any range', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
      const start = data.length === 0 ? 0 : a % data.length;
      const end = start + (data.length === 0 ? 0 : b % (data.length - start + 1));
      assert.is(crc32(data, start, end), crc32Js(data, start, end));
      assert.is(crc32(data, start, end), crc32Js(data.slice(start, end)));
    }),
  );
});

test('every single flipped bit of a 4 KiB block changes its CRC-32', () => {
  const block = new Uint8Array(4101).map((_, i) => (i * 2654435761) >>> 24);
  const want = crc32(block);
  for (let bit = 0; bit < block.length * 8; bit += 13) {
    block[bit >> 3] = (block[bit >> 3] as number) ^ (1 << (bit & 7));
    assert.ok(crc32(block) !== want, `bit ${bit}`);
    block[bit >> 3] = (block[bit >> 3] as number) ^ (1 << (bit & 7));
  }
});

test.run();
