/**
 * Coalesced messages (src/node/shard-outbox.ts): the groups' frames to one node in one turn leave
 * as one message and arrive whole and in order; a malformed batch from a peer is refused with
 * the reason, never thrown.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock } from '../../src/env/clock.js';
import type { Net } from '../../src/env/net.js';
import { wrapShardFrame } from '../../src/node/shard-env.js';
import { BATCH_BYTES_MAX, decodeShardFrames, SHARD_BATCH_FRAME, ShardOutbox } from '../../src/node/shard-outbox.js';

function harness() {
  const sent: { to: string; frame: Uint8Array }[] = [];
  const deferred: (() => void)[] = [];
  const net: Net = { self: 'n1', send: (to, frame) => void sent.push({ to, frame }), onReceive: () => {}, close: () => {} };
  const clock: Clock = { monotonicNs: () => 0, monotonicMs: () => 0, wallMs: () => 0, timer: () => ({ cancel() {} }), defer: (fn) => void deferred.push(fn) };
  const turnEnds = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  return { sent, outbox: new ShardOutbox(net, clock), turnEnds };
}

test('one message per destination per turn, carrying every frame in order', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ to: fc.constantFrom('n2', 'n3', 'n4'), shard: fc.integer({ min: 0, max: 1000 }), frame: fc.uint8Array({ minLength: 1, maxLength: 50 }) }), { minLength: 1, maxLength: 60 }), (frames) => {
      const { sent, outbox, turnEnds } = harness();
      for (const f of frames) outbox.send(f.to, f.shard, f.frame);
      assert.is(sent.length, 0, 'nothing leaves before the turn ends');
      turnEnds();
      const tos = [...new Set(frames.map((f) => f.to))];
      assert.equal(sent.map((m) => m.to).sort(), tos.sort(), 'one message per destination');
      for (const m of sent) {
        const got = decodeShardFrames(m.frame);
        assert.ok(typeof got !== 'string', String(got));
        const want = frames.filter((f) => f.to === m.to);
        assert.equal(got.map((g) => [g.shard, [...g.inner]]), want.map((f) => [f.shard, [...f.frame]]));
      }
    }),
  );
});

test('a lone frame leaves in its plain envelope; a queue past the byte bound leaves at once', () => {
  const { sent, outbox, turnEnds } = harness();
  outbox.send('n2', 7, new Uint8Array([1, 2, 3]));
  turnEnds();
  assert.equal([...(sent[0]?.frame ?? [])], [...wrapShardFrame(7, new Uint8Array([1, 2, 3]))]);
  outbox.send('n3', 1, new Uint8Array(BATCH_BYTES_MAX / 2));
  outbox.send('n3', 2, new Uint8Array(BATCH_BYTES_MAX / 2));
  assert.is(sent.length, 2, 'flushed without waiting for the turn');
  outbox.close();
  outbox.send('n3', 1, new Uint8Array(1));
  turnEnds();
  assert.is(sent.length, 2, 'nothing leaves a closed outbox');
});

test('malformed batches are refused with the reason', () => {
  const batch = (count: number, ...items: number[][]) => {
    const body = items.flat();
    const out = new Uint8Array(5 + body.length);
    out[0] = SHARD_BATCH_FRAME;
    new DataView(out.buffer).setUint32(1, count);
    out.set(body, 5);
    return out;
  };
  const item = (shard: number, len: number, bytes: number) => [0, 0, 0, shard, 0, 0, 0, len, ...new Array<number>(bytes).fill(9)];
  assert.match(String(decodeShardFrames(batch(0))), /a batch of 0 frames/);
  assert.match(String(decodeShardFrames(batch(1_000_000))), /a batch of 1000000 frames/);
  assert.match(String(decodeShardFrames(batch(2, item(1, 2, 2)))), /frame 1 of 2: its header runs past the end/);
  assert.match(String(decodeShardFrames(batch(1, item(1, 9, 2)))), /length 9 does not fit/);
  assert.match(String(decodeShardFrames(batch(1, item(1, 0, 0)))), /length 0 does not fit/);
  assert.match(String(decodeShardFrames(batch(1, item(1, 2, 3)))), /1 bytes after the last batch frame/);
  assert.match(String(decodeShardFrames(new Uint8Array([0x7b]))), /not a shard frame/);
  const ok = decodeShardFrames(batch(2, item(4, 1, 1), item(5, 2, 2)));
  assert.equal(typeof ok === 'string' ? ok : ok.map((g) => [g.shard, g.inner.length]), [[4, 1], [5, 2]]);
});

test.run();
