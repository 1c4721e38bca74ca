import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  FIRST,
  FULL,
  framedSize,
  frameRecord,
  HEADER_BYTES,
  LAST,
  MIDDLE,
  scanRecords,
} from '../../../src/storage/wal/record-format.js';
import { ByteWriter } from '../../../src/storage/util/bytes.js';

const Format = suite('wal record format');

function payload(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return p;
}

function frameAll(payloads: Uint8Array[], blockBytes: number): Uint8Array {
  const out = new ByteWriter();
  let pos = 0;
  for (const p of payloads) pos = frameRecord(out, p, pos, blockBytes);
  assert.is(pos, out.length);
  return out.copy();
}

function scanAll(data: Uint8Array, blockBytes: number) {
  const got: { payload: Uint8Array; offset: number }[] = [];
  const result = scanRecords(data, blockBytes, (p, offset) => got.push({ payload: p.slice(), offset }));
  return { got, result };
}

Format('a record that fits its block is one FULL fragment', () => {
  const data = frameAll([payload(10, 1)], 64);
  assert.is(data.length, HEADER_BYTES + 10);
  assert.is(data[6], FULL);
});

Format('a record longer than a block is split FIRST, MIDDLE, LAST at block boundaries', () => {
  const blockBytes = 32;
  const p = payload(60, 2); // 25 bytes per fragment fit in a 32-byte block
  const data = frameAll([p], blockBytes);
  const types = [data[6], data[32 + 6], data[64 + 6]];
  assert.equal(types, [FIRST, MIDDLE, LAST]);
  assert.is(data.length, 64 + HEADER_BYTES + 10);
  const { got, result } = scanAll(data, blockBytes);
  assert.is(result.bad, null);
  assert.equal(got.map((g) => g.payload), [p]);
});

Format('fewer than a header of bytes left in a block are zero padding, skipped by the reader', () => {
  const blockBytes = 32;
  const a = payload(20, 3); // 27 bytes: 5 left, less than a header
  const b = payload(4, 4);
  const data = frameAll([a, b], blockBytes);
  assert.equal([...data.subarray(27, 32)], [0, 0, 0, 0, 0]);
  assert.is(data[32 + 6], FULL);
  const { got } = scanAll(data, blockBytes);
  assert.equal(got.map((g) => g.offset), [0, 32]);
});

Format('an empty record is a header alone and reads back empty', () => {
  const data = frameAll([new Uint8Array(0), payload(3, 1)], 64);
  const { got, result } = scanAll(data, 64);
  assert.is(result.bad, null);
  assert.equal(got.map((g) => g.payload.length), [0, 3]);
});

Format('framing round-trips and framedSize predicts the bytes, for any sizes and block size', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(300), { maxLength: 20 }), fc.integer({ min: 32, max: 128 }), (sizes, blockBytes) => {
      const ps = sizes.map((n, i) => payload(n, i));
      const out = new ByteWriter();
      let pos = 0;
      for (const p of ps) {
        const predicted = framedSize(p.length, pos, blockBytes);
        const next = frameRecord(out, p, pos, blockBytes);
        assert.is(next - pos, predicted);
        pos = next;
      }
      const { got, result } = scanAll(out.copy(), blockBytes);
      assert.is(result.bad, null);
      assert.is(result.validEnd, out.length);
      assert.equal(got.map((g) => g.payload), ps);
    }),
  );
});

Format('a file cut anywhere reads as a prefix of its records and reports an incomplete tail', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(100), { minLength: 1, maxLength: 8 }), fc.integer({ min: 32, max: 64 }), fc.nat(), (sizes, blockBytes, cutSeed) => {
      const ps = sizes.map((n, i) => payload(n, i));
      const data = frameAll(ps, blockBytes);
      const cut = cutSeed % (data.length + 1);
      const { got, result } = scanAll(data.subarray(0, cut), blockBytes);
      assert.equal(got.map((g) => g.payload), ps.slice(0, got.length));
      assert.ok(result.validEnd <= cut);
      if (result.bad !== null) {
        // A cut through a header whose first bytes happen to be zero reads as zeroed: also a tail.
        assert.ok(result.bad.kind === 'incomplete' || result.bad.kind === 'zeroed', `a cut is a torn tail, got ${result.bad.kind}`);
        assert.not.ok(result.bad.validAfter);
      }
    }),
  );
});

Format('a flipped bit is a checksum error; valid data after it is found at the next block', () => {
  const blockBytes = 32;
  const ps = [payload(20, 1), payload(20, 2), payload(20, 3)];
  const data = frameAll(ps, blockBytes);
  data[HEADER_BYTES + 3] = (data[HEADER_BYTES + 3] as number) ^ 0x10;
  const { got, result } = scanAll(data, blockBytes);
  assert.is(got.length, 0);
  assert.is(result.bad?.kind, 'checksum');
  assert.is(result.bad?.offset, 0);
  assert.ok(result.bad?.validAfter, 'the records in later blocks verify');
});

Format('a rotten length in a log shorter than a block: the records after it are still found, so it is corruption, not a torn tail', () => {
  // raft/rot-bitcask seed 1: a bit flipped in a length field hid where the next fragment started,
  // no block boundary followed in so short a log, and acknowledged records were dropped as a tail.
  const blockBytes = 1024;
  const ps = [payload(20, 1), payload(20, 2), payload(20, 3)];
  for (const [flip, kind] of [[0x01, 'checksum'], [0x80, 'checksum'], [0x04, 'malformed']] as const) {
    const data = frameAll(ps, blockBytes);
    // The length is bytes 4-5 of the header, little-endian: 0x04 on the high byte makes it cross the block.
    const at = flip === 0x04 ? 5 : 4;
    data[at] = (data[at] as number) ^ flip;
    const { got, result } = scanAll(data, blockBytes);
    assert.is(got.length, 0);
    assert.is(result.bad?.kind, kind, `flip ${flip}`);
    assert.ok(result.bad?.validAfter, `flip ${flip}: the two records after it verify`);
  }
  // The last record rotten, nothing valid after it: a whole fragment failing its checksum, which
  // a crash does not leave (tailMayBeRot).
  const data = frameAll(ps, blockBytes);
  data[data.length - 1] = (data[data.length - 1] as number) ^ 0x01;
  const { result } = scanAll(data, blockBytes);
  assert.is(result.bad?.kind, 'checksum');
  assert.not.ok(result.bad?.validAfter);
});

Format('the last record with any one bit of its length flipped is rot, never a torn write', () => {
  // A flip that makes the length claim bytes past the end of the file looked exactly like a write
  // cut short ('incomplete'), and a synced record was dropped as a torn tail. With the flip undone
  // the fragment verifies, which a cut write does only by chance.
  const blockBytes = 1024;
  const ps = [payload(20, 1), payload(20, 2), payload(300, 3)];
  const last = 2 * (HEADER_BYTES + 20);
  for (let bit = 0; bit < 16; bit++) {
    const data = frameAll(ps, blockBytes);
    data[last + 4 + (bit >> 3)] = (data[last + 4 + (bit >> 3)] as number) ^ (1 << (bit & 7));
    const { got, result } = scanAll(data, blockBytes);
    assert.is(got.length, 2, `bit ${bit}: the records before it are read`);
    assert.is(result.bad?.offset, last);
    assert.ok(result.bad?.kind === 'checksum' || result.bad?.kind === 'malformed', `bit ${bit}: ${result.bad?.kind} (${result.bad?.detail})`);
    const up = (300 ^ (1 << bit)) > 300 && HEADER_BYTES + (300 ^ (1 << bit)) <= blockBytes - last;
    if (up) assert.match(result.bad?.detail ?? '', /length field rotten: it claims \d+ bytes past the end of the file, and 300 verify/);
  }
  // Cut short instead, at any point of its payload, it stays a torn write.
  const whole = frameAll(ps, blockBytes);
  for (let cut = last + HEADER_BYTES; cut < whole.length; cut++) {
    assert.is(scanAll(whole.subarray(0, cut), blockBytes).result.bad?.kind, 'incomplete', `cut at ${cut}`);
  }
});

Format('a zeroed gap (a lost write before a kept one) reads as zeroed', () => {
  const blockBytes = 64;
  const ps = [payload(10, 1), payload(10, 2), payload(10, 3)];
  const data = frameAll(ps, blockBytes);
  data.fill(0, 17, 34);
  const { got, result } = scanAll(data, blockBytes);
  assert.is(got.length, 1);
  assert.is(result.bad?.kind, 'zeroed');
  assert.is(result.bad?.offset, 17);
});

Format('fragments out of sequence are malformed', () => {
  const blockBytes = 32;
  const data = frameAll([payload(60, 1)], blockBytes);
  // Drop the FIRST fragment's block: the file starts with a MIDDLE.
  const { result } = scanAll(data.subarray(32), blockBytes);
  assert.is(result.bad?.kind, 'malformed');
});

Format.run();
