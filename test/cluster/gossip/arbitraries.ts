/** fast-check generators of well-formed gossip values. */
import fc from 'fast-check';
import type { GossipMessage, MemberMeta, MemberSnapshot, Update } from '../../../src/cluster/gossip/types.js';

const idChars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-';
export const memberIdArb = fc
  .tuple(fc.constantFrom(...'abcnXYZ019'.split('')), fc.string({ unit: fc.constantFrom(...idChars.split('')), maxLength: 20 }))
  .map(([a, b]) => a + b);
const printableArb = (max: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const metaArb: fc.Arbitrary<MemberMeta> = fc.record({
  zone: printableArb(12),
  version: printableArb(12),
  weight: fc.integer({ min: 1, max: 10_000 }),
  addresses: fc
    .uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_-]{0,6}$/), printableArb(20).filter((s) => s.length > 0)), { maxLength: 4, selector: ([n]) => n })
    .map((pairs) => pairs.sort((a, b) => (a[0] < b[0] ? -1 : 1)) as (readonly [string, string])[]),
});

export const updateArb: fc.Arbitrary<Update> = fc.oneof(
  fc.record({ kind: fc.constant('alive' as const), id: memberIdArb, incarnation: u32, meta: metaArb }),
  fc.record({ kind: fc.constant('suspect' as const), id: memberIdArb, incarnation: u32, from: memberIdArb }),
  fc.record({ kind: fc.constant('dead' as const), id: memberIdArb, incarnation: u32, from: memberIdArb, left: fc.boolean() }),
);

const updatesArb = fc.array(updateArb, { maxLength: 6 });
const snapshotArb: fc.Arbitrary<MemberSnapshot> = fc.record({ id: memberIdArb, incarnation: u32, state: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const), meta: metaArb });

export const messageArb: fc.Arbitrary<GossipMessage> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seq: u32, source: memberIdArb, target: memberIdArb, updates: updatesArb }),
  fc.record({ type: fc.constant('ack' as const), seq: u32, source: memberIdArb, updates: updatesArb }),
  fc.record({ type: fc.constant('ping-req' as const), seq: u32, source: memberIdArb, target: memberIdArb, wantNack: fc.boolean(), updates: updatesArb }),
  fc.record({ type: fc.constant('nack' as const), seq: u32, source: memberIdArb, updates: updatesArb }),
  fc.record({ type: fc.constant('gossip' as const), source: memberIdArb, updates: updatesArb }),
  fc.record({
    type: fc.constant('push-pull' as const), source: memberIdArb, join: fc.boolean(), reply: fc.boolean(),
    members: fc.uniqueArray(snapshotArb, { maxLength: 8, selector: (s) => s.id }),
  }),
);
