import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BTree, type BTreeView } from '../../../src/storage/util/btree.js';
import { compareKeys } from '../../../src/storage/keys.js';

const BTree_ = suite('btree');

type Op = { t: 'set'; k: string; v: number } | { t: 'del'; k: string } | { t: 'freeze' };

const key = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), maxLength: 3 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('set' as const), k: key, v: fc.integer() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('del' as const), k: key }) },
  { weight: 1, arbitrary: fc.constant({ t: 'freeze' as const }) },
);

function entriesOf(view: BTreeView<string, number>): [string, number][] {
  const out: [string, number][] = [];
  const c = view.cursor();
  for (c.seekFirst(); c.valid(); c.next()) out.push([c.key(), c.value()]);
  return out;
}

function sortedModel(m: Map<string, number>): [string, number][] {
  return [...m.entries()].sort((a, b) => compareKeys(a[0], b[0]));
}

BTree_('matches a sorted map through sets, deletes and snapshots, with every invariant kept', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(4, 5, 8), (ops, fanout) => {
      const tree = new BTree<string, number>(compareKeys, { leafMax: fanout, branchMax: fanout });
      const model = new Map<string, number>();
      const snaps: { view: BTreeView<string, number>; expected: [string, number][] }[] = [];
      for (const o of ops) {
        if (o.t === 'set') assert.is(tree.set(o.k, o.v), model.get(o.k)), model.set(o.k, o.v);
        else if (o.t === 'del') assert.is(tree.delete(o.k), model.get(o.k)), model.delete(o.k);
        else snaps.push({ view: tree.freeze(), expected: sortedModel(model) });
        tree.checkInvariants();
        assert.is(tree.size, model.size);
      }
      assert.equal(entriesOf(tree), sortedModel(model));
      for (const s of snaps) assert.equal(entriesOf(s.view), s.expected, 'a snapshot never changes');
    }),
  );
});

BTree_('cursor seeks land on the first key >= target and the last key < target, both ways', () => {
  fc.assert(
    fc.property(fc.uniqueArray(key, { maxLength: 80 }), key, (keys, target) => {
      const tree = new BTree<string, number>(compareKeys, { leafMax: 4, branchMax: 4 });
      keys.forEach((k, i) => tree.set(k, i));
      const sorted = [...keys].sort(compareKeys);
      const c = tree.cursor();
      c.seekGE(target);
      const ge = sorted.filter((k) => compareKeys(k, target) >= 0);
      const walked: string[] = [];
      for (; c.valid(); c.next()) walked.push(c.key());
      assert.equal(walked, ge);
      c.seekLT(target);
      const lt = sorted.filter((k) => compareKeys(k, target) < 0).reverse();
      const back: string[] = [];
      for (; c.valid(); c.prev()) back.push(c.key());
      assert.equal(back, lt);
      c.seekLast();
      assert.is(c.valid() ? c.key() : undefined, sorted[sorted.length - 1]);
    }),
  );
});

BTree_('sets, gets, deletes and seeks keep UTF-8 byte order with characters where `<` disagrees', () => {
  // Keys mixing ASCII, U+E000..U+FFFF and surrogate pairs: a search for an ASCII key takes the
  // comparator's native shortcut, a search for the others does not, and both must agree.
  const unit = fc.constantFrom('a', 'z', '\ue000', '\uffff', '\ud800\udc00', '\ud83d\ude00');
  const wideKey = fc.string({ unit, maxLength: 4 });
  const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), wideKey), { maxLength: 200 }), wideKey, (ops, target) => {
      const tree = new BTree<string, number>(compareKeys, { leafMax: 4, branchMax: 4 });
      const model = new Map<string, number>();
      ops.forEach(([del, k], i) => {
        if (del) assert.is(tree.delete(k), model.get(k)), model.delete(k);
        else assert.is(tree.set(k, i), model.get(k)), model.set(k, i);
      });
      tree.checkInvariants();
      const sorted = [...model.keys()].sort(byteOrder);
      assert.equal(entriesOf(tree).map(([k]) => k), sorted);
      for (const k of sorted) assert.is(tree.get(k), model.get(k));
      assert.is(tree.get(target), model.get(target));
      const c = tree.cursor();
      c.seekGE(target);
      assert.is(c.valid() ? c.key() : undefined, sorted.find((k) => byteOrder(k, target) >= 0));
      c.seekLT(target);
      assert.is(c.valid() ? c.key() : undefined, sorted.filter((k) => byteOrder(k, target) < 0).pop());
    }),
    { numRuns: 300 },
  );
});

BTree_('deleting everything leaves an empty, valid tree', () => {
  const tree = new BTree<string, number>(compareKeys, { leafMax: 4, branchMax: 4 });
  const keys = Array.from({ length: 500 }, (_, i) => `k${String(i).padStart(4, '0')}`);
  keys.forEach((k, i) => tree.set(k, i));
  const frozen = tree.freeze();
  for (const k of keys.slice().reverse()) tree.delete(k);
  tree.checkInvariants();
  assert.is(tree.size, 0);
  const c = tree.cursor();
  c.seekFirst();
  assert.not.ok(c.valid());
  assert.is(entriesOf(frozen).length, 500, 'the snapshot kept all 500');
});

BTree_.run();
