import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, FrameError } from '../../../src/env/real/net.js';

// The peer port's frame decoder over arbitrary bytes in arbitrary chunks (issue 16, fuzzing):
// it throws nothing but FrameError, hands out only frames within its limit, and holds less than
// one frame's worth (its limit and its length prefix) between chunks.

const chunked = (bytes: Uint8Array, cuts: number[]): Buffer[] => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(at, p)));
    at = p;
  }
  return out;
};

test('arbitrary bytes: only FrameError, frames within the limit, memory bounded by the limit (fast-check)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 0, max: 64 }), (bytes, cuts, limit) => {
      const d = new FrameDecoder(limit);
      let out = 0;
      try {
        for (const chunk of chunked(bytes, cuts)) {
          for (const f of d.push(chunk)) {
            assert.ok(f.length <= limit, `a frame of ${f.length} over the limit ${limit}`);
            out += 4 + f.length;
          }
          assert.ok(d.pendingBytes < limit + 4, `holds ${d.pendingBytes}`);
        }
      } catch (err) {
        assert.ok(err instanceof FrameError, String(err));
      }
      assert.ok(out + d.pendingBytes <= bytes.length, 'nothing made up');
    }),
  );
});

test('well-formed streams decode to what was framed, however they are cut (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
      const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
      const d = new FrameDecoder(100);
      const got: Buffer[] = [];
      for (const chunk of chunked(stream, cuts)) got.push(...d.push(chunk));
      assert.equal(got.map((b) => [...b]), frames.map((f) => [...f]));
      assert.is(d.pendingBytes, 0);
    }),
  );
});

test.run();
