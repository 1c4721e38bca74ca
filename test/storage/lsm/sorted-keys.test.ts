import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SortedKeys } from '../../../src/storage/lsm/sorted-keys.js';
import { compareBytes } from '../../../src/storage/util/bytes.js';

// Keys over a tiny alphabet with zero bytes and a shared prefix: the 4-byte words tie often, and a
// key and the same key with zeros appended give the same word.
const part = fc.uint8Array({ maxLength: 7 }).map((b) => b.map((x) => [0, 1, 2, 255][x & 3] as number));
const withPrefix = (prefix: readonly number[]) => (p: Uint8Array) => Uint8Array.from([...prefix, ...p]);

test('lowerBound is the first key >= the probe, for any keys and probes', () => {
  fc.assert(
    fc.property(fc.array(part, { maxLength: 80 }), fc.array(part, { maxLength: 40 }), fc.constantFrom([], [7], [7, 7, 7, 7, 7, 7, 7, 7, 7]), (raw, probes, prefix) => {
      const keys = [...new Map(raw.map(withPrefix(prefix)).map((k) => [k.join(','), k])).values()].sort(compareBytes);
      const s = new SortedKeys(keys);
      assert.is(s.length, keys.length);
      keys.forEach((k, i) => {
        assert.equal([...s.key(i)], [...k]);
        assert.is(s.lowerBound(k), i, 'a key finds itself');
      });
      for (const probe of [...probes.map(withPrefix(prefix)), ...probes, new Uint8Array(0), Uint8Array.from([255, 255])]) {
        const want = keys.findIndex((k) => compareBytes(k, probe) >= 0);
        assert.is(s.lowerBound(probe), want < 0 ? keys.length : want, `probe ${probe.join(',')}`);
      }
    }),
    { numRuns: 500 },
  );
});

test('keys out of order are refused', () => {
  assert.throws(() => new SortedKeys([Uint8Array.of(2), Uint8Array.of(1)]), /strictly increasing/);
  assert.throws(() => new SortedKeys([Uint8Array.of(1), Uint8Array.of(1)]), /strictly increasing/);
});

test.run();
