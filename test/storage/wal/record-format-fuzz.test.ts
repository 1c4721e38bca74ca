import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BLOCK_BYTES_MIN, frameRecord, scanRecords } from '../../../src/storage/wal/record-format.js';
import { ByteWriter } from '../../../src/storage/util/bytes.js';

// The WAL's record format over arbitrary bytes (issue 16, fuzzing; the format belongs to
// src/storage, this file only reads it): scanRecords never throws, reports a bad tail inside the
// file, hands out no more payload than the file holds, and from a damaged log only records that
// were written, in order — a prefix of them up to the damage.

const blockBytes = fc.integer({ min: BLOCK_BYTES_MIN, max: 256 });

test('arbitrary bytes: no exception, a bad tail inside the file, payloads bounded by the file (fast-check)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1200 }), blockBytes, (data, bb) => {
      let total = 0;
      const r = scanRecords(data, bb, (p, offset) => {
        assert.ok(offset >= 0 && offset < data.length);
        total += p.length;
      });
      assert.ok(total <= data.length, `${total} bytes of payload from ${data.length}`);
      assert.ok(r.validEnd >= 0 && r.validEnd <= data.length);
      if (r.bad !== null) assert.ok(r.bad.offset >= 0 && r.bad.offset <= data.length && r.bad.fragmentOffset <= data.length);
    }),
  );
});

test('a written log with bytes flipped, cut or appended gives back a prefix of what was written (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }),
      blockBytes,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.nat(),
      fc.uint8Array({ maxLength: 20 }),
      (payloads, bb, flips, cut, tail) => {
        const out = new ByteWriter();
        let pos = 0;
        for (const p of payloads) pos = frameRecord(out, p, pos, bb);
        const data = Uint8Array.from(out.buf.subarray(0, out.length));
        for (const [at, v] of flips) data[at % data.length] = v;
        const damaged = Uint8Array.of(...data.subarray(0, cut % 2 === 0 ? data.length : cut % (data.length + 1)), ...tail);
        const got: number[][] = [];
        scanRecords(damaged, bb, (p) => got.push([...p]));
        assert.ok(got.length <= payloads.length);
        // A checksum over each fragment: what comes back was written, in order (a 32-bit
        // collision is possible in principle and not in a test of this size).
        got.forEach((p, i) => assert.equal(p, [...(payloads[i] as Uint8Array)], `record ${i}`));
      },
    ),
  );
});

test.run();
