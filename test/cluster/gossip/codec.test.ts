/**
 * The gossip wire format: every well-formed message survives encode → decode unchanged, and no
 * input at all — random bytes, truncations, flipped bits, oversized frames — makes decode throw:
 * it answers with a reason, which the node counts.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMessage, encodeMessage, GOSSIP_MAGIC, messageSize, validateMeta } from '../../../src/cluster/gossip/codec.js';
import { DEFAULT_GOSSIP_OPTIONS } from '../../../src/cluster/gossip/options.js';
import { EMPTY_META } from '../../../src/cluster/gossip/types.js';
import { messageArb } from './arbitraries.js';

const limits = { ...DEFAULT_GOSSIP_OPTIONS, packetBytesMax: 65_536 };

test('encode then decode gives the message back, and messageSize is the frame length', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const frame = encodeMessage(m);
      assert.is(frame.length, messageSize(m));
      assert.is(frame[0], GOSSIP_MAGIC);
      const r = decodeMessage(frame, limits);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      if (r.ok) assert.equal(r.message, structuredClone(m));
    }),
    { numRuns: 1000 },
  );
});

test('random bytes, truncations and bit flips are refused with a reason, never thrown', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const r = decodeMessage(bytes, limits);
      if (!r.ok) assert.type(r.reason, 'string');
    }),
    { numRuns: 2000 },
  );
  let refused = 0;
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.nat(7), (m, at, bit) => {
      const frame = encodeMessage(m);
      const cut = frame.subarray(0, at % frame.length);
      const r1 = decodeMessage(cut, limits);
      assert.not.ok(r1.ok, 'a truncated frame was accepted');
      const flipped = frame.slice();
      flipped[at % frame.length] = (flipped[at % frame.length] as number) ^ (1 << bit);
      const r2 = decodeMessage(flipped, limits);
      if (!r2.ok) refused++;
    }),
    { numRuns: 1000 },
  );
  assert.ok(refused > 100, `only ${refused} flipped frames were refused: the checks are too lax`);
});

test('specific malformations name what is wrong', () => {
  const ok = encodeMessage({ type: 'ping', seq: 7, source: 'n1', target: 'n2', updates: [] });
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array([0x7b, 1, 1]), /not a gossip frame/],
    [Uint8Array.from([GOSSIP_MAGIC, 9, 1]), /gossip version 9/],
    [Uint8Array.from([GOSSIP_MAGIC, 1, 42, 0, 0]), /unknown message type 42/],
    [Uint8Array.from([...ok, 0]), /1 bytes after the end/],
    [Uint8Array.from([GOSSIP_MAGIC, 1, 5, 3, 0x61, 0x20, 0x62, 0]), /source "a b" is not a member id/],
    [Uint8Array.from([GOSSIP_MAGIC, 1, 5, 2, 0x6e, 0x01, 0]), /not printable ASCII/],
    [Uint8Array.from([GOSSIP_MAGIC, 1, 5, 2, 0x6e, 0x31, 1, 9, 2, 0x6e, 0x32, 0, 0, 0, 0]), /unknown update kind 9/],
  ];
  for (const [frame, reason] of cases) {
    const r = decodeMessage(frame, limits);
    assert.not.ok(r.ok);
    if (!r.ok) assert.match(r.reason, reason);
  }
});

test('size limits: packets above packetBytesMax, states above stateBytesMax, members above membersMax', () => {
  const big = encodeMessage({ type: 'gossip', source: 'n1', updates: Array.from({ length: 40 }, (_, i) => ({ kind: 'alive' as const, id: `member-${i}`, incarnation: i, meta: { ...EMPTY_META, zone: 'z'.repeat(40) } })) });
  const r = decodeMessage(big, DEFAULT_GOSSIP_OPTIONS);
  assert.ok(!r.ok && r.oversized, 'a 1400+ byte gossip frame is oversized');
  const state = encodeMessage({ type: 'push-pull', source: 'n1', join: true, reply: false, members: Array.from({ length: 20 }, (_, i) => ({ id: `m${i}`, incarnation: 0, state: 'alive' as const, meta: EMPTY_META })) });
  assert.ok(decodeMessage(state, DEFAULT_GOSSIP_OPTIONS).ok, 'push-pull may exceed the packet limit');
  const few = decodeMessage(state, { ...DEFAULT_GOSSIP_OPTIONS, membersMax: 10 });
  assert.ok(!few.ok && /20 members \(at most 10\)/.test(few.reason));
  const huge = decodeMessage(new Uint8Array(DEFAULT_GOSSIP_OPTIONS.stateBytesMax + 1), DEFAULT_GOSSIP_OPTIONS);
  assert.ok(!huge.ok && huge.oversized);
});

test('metadata validation', () => {
  assert.is(validateMeta(EMPTY_META), null);
  assert.match(validateMeta({ ...EMPTY_META, zone: 'é' }) ?? '', /zone must be/);
  assert.match(validateMeta({ ...EMPTY_META, weight: 0 }) ?? '', /weight must be/);
  assert.match(validateMeta({ ...EMPTY_META, addresses: [['peer', 'a:1'], ['http', 'a:2']] }) ?? '', /sorted/);
  assert.match(validateMeta({ ...EMPTY_META, addresses: [['Peer', 'a:1']] }) ?? '', /address name "Peer"/);
});

test.run();
