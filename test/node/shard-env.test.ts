/**
 * The shard envelope (src/node/shard-env.ts): a group's frame crosses the network whole, with its
 * shard id, whatever its own first byte; anything too short to be an envelope is refused as such.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SHARD_FRAME, SHARD_HEADER_BYTES, unwrapShardFrame, wrapShardFrame } from '../../src/node/shard-env.js';
import { GOSSIP_MAGIC } from '../../src/cluster/gossip/codec.js';
import { RAFT_BINARY_FRAME, RAFT_COMPACT_FRAME } from '../../src/replication/raft-runtime/codec.js';
import { SNAPSHOT_CHUNK_FRAME } from '../../src/replication/raft-runtime/snapshot-transfer.js';
import { SHARD_BATCH_FRAME } from '../../src/node/shard-outbox.js';

test('the envelope byte is none of the other frames\' first bytes (nor JSON\'s "{")', () => {
  for (const b of [GOSSIP_MAGIC, RAFT_BINARY_FRAME, RAFT_COMPACT_FRAME, SNAPSHOT_CHUNK_FRAME, '{'.charCodeAt(0)]) {
    assert.is.not(SHARD_FRAME, b);
    assert.is.not(SHARD_BATCH_FRAME, b);
  }
  assert.is.not(SHARD_FRAME, SHARD_BATCH_FRAME);
});

test('wrap then unwrap gives back the shard and the very frame', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.uint8Array({ minLength: 1, maxLength: 300 }), (shard, frame) => {
      const w = wrapShardFrame(shard, frame);
      assert.is(w[0], SHARD_FRAME);
      assert.is(w.length, frame.length + SHARD_HEADER_BYTES);
      const u = unwrapShardFrame(w);
      assert.ok(u !== null);
      assert.is(u.shard, shard);
      assert.equal([...u.inner], [...frame]);
    }),
  );
});

test('frames too short to hold a group\'s frame, or of another kind, are not envelopes', () => {
  for (let n = 0; n <= SHARD_HEADER_BYTES; n++) assert.is(unwrapShardFrame(new Uint8Array(n).fill(SHARD_FRAME)), null, `${n} bytes`);
  assert.is(unwrapShardFrame(new Uint8Array([0x7b, 0, 0, 0, 1, 0x7b])), null);
  assert.throws(() => wrapShardFrame(-1, new Uint8Array(1)), /bad shard id/);
});

test.run();
