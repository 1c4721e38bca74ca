import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ShardMap } from '../../../src/cluster/placement/shard-map.js';
import { describeProgress, nodeShardView, placementProgress, type NodeShardView } from '../../../src/cluster/placement/progress.js';

// What `cluster add-node` / `remove-node` wait on: every shard's replicas voting exactly where the
// newest member set's placement wants them. Built from the placement itself, then disturbed.

const o = { shards: 8, replicas: 3 };

/** Every node's view when the cluster sits on the placement of `members` at `epoch`. */
function settled(members: string[], epoch: number): NodeShardView[] {
  const map = ShardMap.build(members, o);
  return members.map((id) => ({ id, epoch, members, hosted: map.shardsOf(id).map((shard) => ({ shard, role: map.preferredLeader(shard) === id ? 'leader' : 'follower' })) }));
}

test('a cluster on its placement is settled; an empty report is no report', () => {
  const p = placementProgress(settled(['n1', 'n2', 'n3', 'n4'], 1), o);
  assert.ok(p !== null);
  assert.is(p.epoch, 1);
  assert.equal(p.moving, []);
  assert.equal(p.behind, []);
  assert.is(describeProgress(p), 'every shard is on the placement of epoch 1');
  assert.is(placementProgress([{ id: 'n1', epoch: null, members: [], hosted: [] }], o), null);
});

test('a joiner: the newest epoch wins; a learner, a missing replica and an old one still to remove are moving', () => {
  const before = settled(['n1', 'n2', 'n3'], 0);
  const after = ShardMap.build(['n1', 'n2', 'n3', 'n4'], o);
  const mine = after.shardsOf('n4');
  assert.ok(mine.length >= 2, 'the joiner is given shards');
  const [learning, absent] = mine as [number, number];
  // n1 learned epoch 1; n2, n3 not yet. n4 is a learner of one shard and lacks another.
  const views: NodeShardView[] = [
    { ...before[0]!, epoch: 1, members: ['n1', 'n2', 'n3', 'n4'] },
    before[1]!,
    before[2]!,
    { id: 'n4', epoch: 1, members: ['n1', 'n2', 'n3', 'n4'], hosted: mine.filter((s) => s !== absent).map((shard) => ({ shard, role: shard === learning ? 'learner' : 'follower' })) },
  ];
  const p = placementProgress(views, o);
  assert.ok(p !== null);
  assert.is(p.epoch, 1);
  assert.equal(p.behind, ['n2', 'n3']);
  const l = p.moving.find((m) => m.shard === learning);
  assert.ok(l !== undefined && l.missing.includes('n4'), 'a learner is not yet a voter');
  const a = p.moving.find((m) => m.shard === absent);
  assert.ok(a !== undefined && a.missing.includes('n4'));
  // The old holders of n4's shards still host them: extra until removed.
  assert.ok(p.moving.some((m) => m.extra.length > 0));
  assert.match(describeProgress(p), /^n2, n3 have not yet learned epoch 1; \d+ shards moving \(s\d+ /);
});

test('a leaver outside the member set is waited for until it hosts nothing, never for its epoch', () => {
  const members = ['n2', 'n3', 'n4'];
  const views = settled(members, 2);
  const leaver: NodeShardView = { id: 'n1', epoch: 1, members: ['n1', 'n2', 'n3', 'n4'], hosted: [{ shard: 5, role: 'follower' }] };
  const p = placementProgress([...views, leaver], o);
  assert.ok(p !== null);
  assert.equal(p.behind, [], 'a node out of the set need not learn it');
  assert.equal(p.moving.map((m) => [m.shard, m.extra]), [[5, ['n1']]]);
  const done = placementProgress([...views, { ...leaver, hosted: [] }], o);
  assert.equal(done?.moving, []);
});

test('a wanted replica on a node that does not answer is unknown, so the shard is not called settled', () => {
  const views = settled(['n1', 'n2', 'n3'], 0);
  const p = placementProgress([views[0]!, views[1]!, { id: 'n3', epoch: null, members: [], hosted: [] }], o);
  assert.ok(p !== null);
  assert.is(p.moving.length, 8, 'with 3 replicas on 3 nodes, n3 holds every shard');
  assert.ok(p.moving.every((m) => m.unknown.includes('n3') && m.missing.length === 0));
  assert.match(describeProgress(p), /\?n3/);
});

test('a node\'s view from its /status shards field: what is well formed is kept, anything else is a node that did not answer', () => {
  const good = { epoch: 3, members: ['n1', 'n2'], hosted: [{ shard: 0, role: 'leader', term: 4 }, { shard: 1, role: 'follower' }], count: 2 };
  assert.equal(nodeShardView('n1', good), { id: 'n1', epoch: 3, members: ['n1', 'n2'], hosted: [{ shard: 0, role: 'leader' }, { shard: 1, role: 'follower' }] });
  for (const bad of [undefined, null, 'shards', [], { epoch: '3', members: [], hosted: [] }, { epoch: 1.5, members: [], hosted: [] }, { epoch: 1, members: {}, hosted: [] }, { epoch: 1, members: [] }]) {
    assert.equal(nodeShardView('n2', bad), { id: 'n2', epoch: null, members: [], hosted: [] }, JSON.stringify(bad));
  }
  // Entries of the wrong shape are left out, not passed on to the placement's arithmetic.
  assert.equal(nodeShardView('n3', { epoch: 1, members: ['n1', 7], hosted: [{ shard: 'x', role: 'leader' }, null, { shard: 2, role: 'learner' }] }).hosted, [{ shard: 2, role: 'learner' }]);
  assert.equal(nodeShardView('n3', { epoch: 1, members: ['n1', 7], hosted: [] }).members, ['n1']);
});

test.run();
