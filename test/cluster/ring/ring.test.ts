/**
 * The ring's promises: the same members give the same placement in any order; a join moves keys
 * only to the new member and a leave only the leaving member's keys (consistency, for any number
 * of probes); preference lists hold distinct members and spread over zones first; weights and
 * vnodes give the balance the README states; bounded loads never exceed their caps; a movement
 * plan turns the old holders into the new ones.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { movementPlan } from '../../../src/cluster/ring/movement.js';
import { assignBoundedLoads, KeySet, loadStats, movedFraction, primaryOwners } from '../../../src/cluster/ring/placement.js';
import { Ring, keyProbes, type RingMember } from '../../../src/cluster/ring/ring.js';

const named = (n: number, prefix = 'n'): RingMember[] => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i + 1}` }));
const idsOf = (ring: Ring, owners: Int32Array) => Array.from(owners, (i) => ring.memberAt(i));

test('bad rings are refused with what is wrong', () => {
  assert.throws(() => Ring.build(named(3), { vnodes: 0 }), /vnodes must be an integer in \[1, 4096\], got 0/);
  assert.throws(() => Ring.build(named(3), { probes: 17 }), /probes must be an integer/);
  assert.throws(() => Ring.build([{ id: 'a' }, { id: 'a' }]), /member a appears twice/);
  assert.throws(() => Ring.build([{ id: 'a b' }]), /member id "a b" is not/);
  assert.throws(() => Ring.build([{ id: 'a', weight: 0 }]), /weight must be in \(0, 100\]/);
  assert.throws(() => Ring.build(named(3000), { vnodes: 4096 }), /tokens in all/);
});

test('the same members in any order give the same ring; a different member set does not', () => {
  const keys = KeySet.numbered(2000, 3);
  const a = Ring.build(named(7));
  const b = Ring.build(named(7).reverse());
  assert.is(a.describe(), b.describe());
  assert.equal(idsOf(a, primaryOwners(a, keys)), idsOf(b, primaryOwners(b, keys)));
  assert.is.not(a.describe(), Ring.build(named(6)).describe());
  // Pinned placements: a change to the hash, the token names or the probe rule shows up here.
  assert.equal(['k1', 'k2', 'user:42', 'ü'].map((k) => a.owner(k)), ['n1', 'n6', 'n4', 'n2']);
});

test('consistency: a join moves keys only to the new member, a leave only the leaver\'s keys (any probes)', () => {
  const keys = KeySet.numbered(3000, 4);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (n, vnodes, probes, salt) => {
      const base = named(n, `m${salt % 97}-`);
      const ring = Ring.build(base, { vnodes, probes });
      const owners = idsOf(ring, primaryOwners(ring, keys));
      const joined = Ring.build([...base, { id: 'newcomer' }], { vnodes, probes });
      idsOf(joined, primaryOwners(joined, keys)).forEach((o, i) => {
        if (o !== owners[i]) assert.is(o, 'newcomer', `key ${i} moved from ${owners[i]} to ${o}, not to the newcomer`);
      });
      if (n > 1) {
        const leaver = base[salt % n]!.id;
        const left = Ring.build(base.filter((m) => m.id !== leaver), { vnodes, probes });
        idsOf(left, primaryOwners(left, keys)).forEach((o, i) => {
          if (o !== owners[i]) assert.is(owners[i], leaver, `key ${i} moved from ${owners[i]}, which did not leave`);
        });
      }
    }),
    { numRuns: 60 },
  );
});

test('preference lists: distinct members, min(n, members) long, starting at the owner', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 6 }), fc.string({ maxLength: 12 }), (members, n, key) => {
      const ring = Ring.build(named(members), { vnodes: 16 });
      const list = ring.preferenceList(key, n);
      assert.is(list.length, Math.min(n, members));
      assert.is(new Set(list).size, list.length);
      assert.is(list[0], ring.owner(key));
    }),
    { numRuns: 200 },
  );
});

test('zone-aware preference lists use every zone before repeating one', () => {
  const members: RingMember[] = [];
  for (const zone of ['a', 'b', 'c']) for (let i = 1; i <= 4; i++) members.push({ id: `${zone}${i}`, zone });
  const ring = Ring.build(members, { vnodes: 32 });
  let differs = 0;
  for (let k = 0; k < 300; k++) {
    const key = `key-${k}`;
    const three = ring.preferenceList(key, 3, true);
    assert.equal(new Set(three.map((id) => id[0])).size, 3, `${key}: ${three.join(',')}`);
    const five = ring.preferenceList(key, 5, true);
    assert.equal(five.slice(0, 3), three);
    assert.is(new Set(five).size, 5);
    if (new Set(ring.preferenceList(key, 3).map((id) => id[0])).size < 3) differs++;
  }
  assert.ok(differs > 0, 'without zones some lists repeat a zone (else this test proves nothing)');
});

test('balance: 10 members × 256 vnodes within 5% (3 probes), weights give proportional shares', () => {
  const keys = KeySet.numbered(200_000, 3);
  const ring = Ring.build(named(10));
  const stats = loadStats(ring, primaryOwners(ring, keys));
  assert.ok(stats.stdOverMean <= 0.05, `std/mean ${stats.stdOverMean}`);
  assert.ok(stats.maxOverMean <= 1.08, `max/mean ${stats.maxOverMean}`);
  const weighted = Ring.build([...named(4), { id: 'big', weight: 2 }]);
  const counts = loadStats(weighted, primaryOwners(weighted, keys)).counts;
  const big = counts[weighted.indexOf('big')!]!;
  const others = counts.reduce((a, b) => a + b, 0) - big;
  assert.ok(Math.abs(big / (others / 4) - 2) < 0.15, `weight 2 got ${big} keys against ${others / 4} per weight-1 member`);
});

test('bounded loads: no member above ceil((1+ε) × its share); unchanged units stay put', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 32 }), fc.constantFrom(0.01, 0.05, 0.25), fc.integer({ min: 1, max: 3000 }), (n, vnodes, eps, count) => {
      const keys = KeySet.numbered(count, 3);
      const ring = Ring.build(named(n), { vnodes });
      const owners = assignBoundedLoads(ring, keys, eps);
      const stats = loadStats(ring, owners);
      for (const c of stats.counts) assert.ok(c <= Math.ceil(((1 + eps) * count) / n), `load ${c} over the cap for ${count} keys on ${n}`);
    }),
    { numRuns: 80 },
  );
  // With a loose ε nothing reaches its cap and bounded loads is the plain ring.
  const keys = KeySet.numbered(5000, 3);
  const ring = Ring.build(named(5));
  assert.equal(Array.from(assignBoundedLoads(ring, keys, 5)), Array.from(primaryOwners(ring, keys)));
});

test('bounded loads at 16 vnodes cut max/mean to 1+ε where the plain ring is far above it', () => {
  const keys = KeySet.numbered(100_000, 3);
  const ring = Ring.build(named(10), { vnodes: 16 });
  const plain = loadStats(ring, primaryOwners(ring, keys)).maxOverMean;
  const bounded = loadStats(ring, assignBoundedLoads(ring, keys, 0.05)).maxOverMean;
  assert.ok(plain > 1.1, `plain max/mean ${plain}`);
  assert.ok(bounded <= 1.05 + 1e-9, `bounded max/mean ${bounded}`);
});

test('moved fraction on a join and a leave is within 1.1× of the optimum at 10 × 256', () => {
  const keys = KeySet.numbered(100_000, 3);
  const ring = Ring.build(named(10));
  const owners = primaryOwners(ring, keys);
  const joined = Ring.build(named(11));
  const left = Ring.build(named(9));
  assert.ok(movedFraction(ring, owners, joined, primaryOwners(joined, keys)) <= 1.1 / 11);
  assert.ok(movedFraction(ring, owners, left, primaryOwners(left, keys)) <= 1.1 / 10);
});

test('a movement plan copies each unit to its new holders from an old holder, then drops the old', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (nBefore, nAfter, replicas, salt) => {
      const before = Ring.build(named(nBefore, 'x'), { vnodes: 8 });
      // Overlapping member sets: some stay, some leave, some join.
      const after = Ring.build(named(nAfter, 'x').map((m, i) => (i % 3 === salt % 3 ? { id: `y${i}` } : m)), { vnodes: 8 });
      const units = Array.from({ length: 50 }, (_, i) => `unit-${salt}-${i}`);
      const plan = movementPlan(before, after, units, replicas);
      const holders = new Map(units.map((u) => [u, new Set(before.preferenceList(u, replicas))]));
      for (const t of plan.transfers) {
        if (!t.sourceGone) {
          assert.ok(holders.get(t.unit)!.has(t.from), `${t.unit}: copied from ${t.from}, which does not hold it`);
          assert.ok(after.indexOf(t.from) !== undefined, `${t.unit}: source ${t.from} is not in the new ring`);
        }
        holders.get(t.unit)!.add(t.to);
      }
      for (const d of plan.drops) holders.get(d.unit)!.delete(d.member);
      for (const u of units) assert.equal([...holders.get(u)!].sort(), after.preferenceList(u, replicas).sort(), u);
    }),
    { numRuns: 150 },
  );
});

test('keyProbes hashes a key once per probe with seeds 0, 1, …', () => {
  const p = keyProbes('k', 3);
  assert.is(p.length, 3);
  assert.is.not(p[0], p[1]);
});

test.run();
