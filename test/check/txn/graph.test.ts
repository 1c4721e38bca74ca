import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EdgeBuilder, PathFinder, stronglyConnected } from '../../../src/check/txn/graph.js';
import { RW, WR, WW } from '../../../src/check/txn/models.js';

// The graph's walks are iterative: a ring of 200,000 transactions (deeper than any call stack)
// is one component, and the shortest path around it is found edge by edge.

test('Tarjan: a ring of 200,000 nodes is one component; a chain of them is none', () => {
  const n = 200_000;
  const ring = new EdgeBuilder();
  for (let i = 0; i < n; i++) ring.add(i, (i + 1) % n, WW, 0);
  const g = ring.build(n);
  const { component, members } = stronglyConnected(g, WW);
  assert.is(members.length, 1);
  assert.is(members[0]?.length, n);
  assert.is(component[n - 1], 0);
  const path = new PathFinder(g, component).path(1, 0, WW, Number.MAX_SAFE_INTEGER);
  assert.is(path?.length, n - 1);
  const chain = new EdgeBuilder();
  for (let i = 0; i + 1 < n; i++) chain.add(i, i + 1, WW, 0);
  assert.is(stronglyConnected(chain.build(n), WW).members.length, 0);
});

test('components follow the kinds asked for; the path finder takes the shortest way', () => {
  const b = new EdgeBuilder();
  // 0 → 1 → 2 → 0 by ww and wr; 2 → 3 by rw and 3 → 0 by rw; a shortcut 0 → 2.
  b.add(0, 1, WW, 0);
  b.add(1, 2, WR, 0);
  b.add(2, 0, WW, 0);
  b.add(2, 3, RW, 0);
  b.add(3, 0, RW, 0);
  b.add(0, 2, WW, 0);
  b.add(4, 4, WW, 0); // a self edge is dropped: no transaction depends on itself
  const g = b.build(5);
  assert.equal(stronglyConnected(g, WW).members, [[0, 2]]);
  assert.equal(stronglyConnected(g, WW | WR).members, [[0, 1, 2]]);
  assert.equal(stronglyConnected(g, WW | WR | RW).members, [[0, 1, 2, 3]]);
  const { component } = stronglyConnected(g, WW | WR | RW);
  const finder = new PathFinder(g, component);
  const path = finder.path(0, 3, WW | WR | RW, 1000) as number[];
  assert.equal(path.map((e) => g.dst[e]), [2, 3]);
  assert.equal(path.map((e) => finder.sourceOf(e)), [0, 2]);
  assert.is(finder.path(0, 3, WW | WR, 1000), null);
});

test.run();
