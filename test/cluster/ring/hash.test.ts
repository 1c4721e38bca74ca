/**
 * MurmurHash3_x86_32 against its published test vectors and SMHasher's verification value: the
 * ring's placement is a wire format, so the hash must be exactly the reference, everywhere.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hashText, murmur3 } from '../../../src/cluster/ring/hash.js';

const bytes = (...b: number[]) => new Uint8Array(b);

test('published test vectors', () => {
  const cases: [Uint8Array | string, number, number][] = [
    ['', 0, 0x00000000],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    [bytes(0, 0, 0, 0), 0, 0x2362f9de],
    [bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
    [bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
    [bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['abc', 0, 0xb3dd93fa],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ];
  for (const [input, seed, want] of cases) {
    const got = typeof input === 'string' ? hashText(input, seed) : murmur3(input, seed);
    assert.is(got, want, `${JSON.stringify(typeof input === 'string' ? input : [...input])} seed ${seed}`);
  }
});

test("SMHasher's verification value 0xB0F57EE3 (keys 0..255 bytes, seed 256 - length)", () => {
  const key = new Uint8Array(256);
  const hashes = new Uint8Array(1024);
  for (let i = 0; i < 256; i++) {
    key[i] = i;
    const h = murmur3(key.subarray(0, i), 256 - i);
    new DataView(hashes.buffer).setUint32(i * 4, h, true);
  }
  assert.is(murmur3(hashes, 0), 0xb0f57ee3);
});

test('hashText is murmur3 of the UTF-8 bytes, short or long, ASCII or not', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 600 }), fc.nat(), (text, seed) => {
      assert.is(hashText(text, seed), murmur3(new TextEncoder().encode(text), seed));
    }),
    { numRuns: 500 },
  );
});

test('bad seeds are refused', () => {
  assert.throws(() => murmur3(bytes(1), -1), /seed must be a uint32/);
  assert.throws(() => murmur3(bytes(1), 2 ** 32), /seed must be a uint32/);
});

test.run();
