import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FrameError, FrameReader } from '../../src/wire/frames.js';

// Length-prefixed frames: the same frames however the stream is cut, a length over the limit
// refused as soon as its four bytes arrive, and nothing buffered beyond one frame.

function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}

test('frames come out whole and in order, however the bytes are cut (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (payloads, cuts) => {
      const reader = new FrameReader(1000);
      const got: Buffer[] = [];
      for (const piece of cut(Buffer.concat(payloads.map((p) => encodeFrame(p))), cuts)) got.push(...reader.push(piece));
      assert.equal(got.map((b) => [...b]), payloads.map((p) => [...p]));
      assert.is(reader.pendingBytes, 0);
    }),
    { numRuns: 500 },
  );
});

test('a length over the limit is refused at its header, before the body is buffered', () => {
  const reader = new FrameReader(100);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(101);
  assert.throws(() => reader.push(header), (e: unknown) => e instanceof FrameError && /101 bytes exceeds the limit of 100/.test(e.message));
  const split = new FrameReader(100);
  split.push(Buffer.from([0, 0]));
  assert.throws(() => split.push(Buffer.from([0xff, 0xff])), (e: unknown) => e instanceof FrameError);
});

test('a frame trickled a byte at a time stays one buffer per chunk, joined once (no quadratic copies)', () => {
  const reader = new FrameReader(1 << 20);
  const frame = encodeFrame(Buffer.alloc(200_000, 7));
  let frames: Buffer[] = [];
  for (let i = 0; i < frame.length; i += 3) frames = frames.concat(reader.push(frame.subarray(i, Math.min(frame.length, i + 3))));
  assert.is(frames.length, 1);
  assert.is(frames[0]?.length, 200_000);
});

test.run();
