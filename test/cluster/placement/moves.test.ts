/**
 * Moving a shard's replicas (src/cluster/placement/moves.ts) and the member set it follows
 * (members.ts): a simulated group driven by nextMoveStep alone reaches any wanted replica set
 * without ever having fewer than R voters, one change at a time; the member set refuses changes
 * that leave no placement.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { changeMembers, decodeMemberSet, encodeMemberSet, initialMemberSet } from '../../../src/cluster/placement/members.js';
import { nextMoveStep, replicasToMove, type GroupView } from '../../../src/cluster/placement/moves.js';
import { ShardMap } from '../../../src/cluster/placement/shard-map.js';

/** A group as its leader sees it, every follower caught up unless listed as behind. */
function view(self: string, voters: string[], learners: string[] = [], behind: string[] = []): GroupView {
  const match = new Map([...voters, ...learners].filter((n) => n !== self).map((n) => [n, behind.includes(n) ? 3 : 10]));
  return { self, voters: [...voters].sort(), learners: [...learners].sort(), match, commit: 10, lastIndex: 10, confPending: false };
}

test('a join: add the learner, wait for it, promote, then remove the replica nobody wants', () => {
  const target = ['a', 'b', 'd'];
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'c']), target, { canStart: true }), { kind: 'add-learner', node: 'd' });
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'c']), target, { canStart: false }).kind, 'none', 'the rate limit holds the move back');
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'c'], ['d'], ['d']), target, { canStart: true }).kind, 'none', 'a learner catching up blocks the rest');
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'c'], ['d']), target, { canStart: true }), { kind: 'promote', node: 'd' });
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'c', 'd']), target, { canStart: true }), { kind: 'remove', node: 'c' });
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'd']), target, { canStart: true }).kind, 'none');
  assert.equal(nextMoveStep({ ...view('a', ['a', 'b', 'c']), confPending: true }, target, { canStart: true }).kind, 'none', 'one change at a time');
});

test('a leader that is leaving hands leadership to a caught-up wanted voter before anything is removed', () => {
  assert.equal(nextMoveStep(view('c', ['a', 'b', 'c', 'd'], [], ['a']), ['a', 'b', 'd'], { canStart: true }), { kind: 'transfer', to: 'b' });
  assert.equal(nextMoveStep(view('c', ['a', 'b', 'c'], ['x']), ['a', 'b', 'd'], { canStart: true }), { kind: 'remove', node: 'x' }, 'an unwanted learner goes first');
});

test('the bug switch removes the leaving replica before its replacement exists', () => {
  assert.equal(nextMoveStep(view('a', ['a', 'b', 'c']), ['a', 'b', 'd'], { canStart: true, removeEarly: true }), { kind: 'remove', node: 'c' });
});

test('driven step by step to any target, a group never has fewer than R voters and ends on the target', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
  fc.assert(
    fc.property(fc.shuffledSubarray(nodes, { minLength: 3, maxLength: 3 }), fc.shuffledSubarray(nodes, { minLength: 3, maxLength: 3 }), fc.nat(), (start, target, pick) => {
      let voters = [...start].sort();
      let learners: string[] = [];
      let leader = start[pick % 3] as string;
      for (let i = 0; i < 40; i++) {
        const step = nextMoveStep(view(leader, voters, learners), target, { canStart: true });
        if (step.kind === 'none') break;
        if (step.kind === 'add-learner') learners = [...learners, step.node].sort();
        if (step.kind === 'promote') {
          learners = learners.filter((n) => n !== step.node);
          voters = [...voters, step.node].sort();
        }
        if (step.kind === 'remove') {
          voters = voters.filter((n) => n !== step.node);
          learners = learners.filter((n) => n !== step.node);
        }
        if (step.kind === 'transfer') leader = step.to;
        assert.ok(voters.length >= 3, `${voters.length} voters after ${JSON.stringify(step)}`);
        assert.ok(voters.includes(leader), 'the leader votes');
      }
      assert.equal(voters, [...target].sort());
      assert.equal(learners, []);
    }),
  );
});

test('the member set: join and remove bump the epoch; repeats change nothing; no placement, no change', () => {
  const o = { shards: 8, replicas: 3 };
  const m0 = initialMemberSet(['n3', 'n1', 'n2', 'n4']);
  assert.equal(m0, { epoch: 0, members: ['n1', 'n2', 'n3', 'n4'] });
  const j = changeMembers(m0, { type: 'join', node: 'n5' }, o);
  assert.ok(j.ok && j.changed && j.next.epoch === 1 && j.next.members.join() === 'n1,n2,n3,n4,n5');
  assert.ok(j.ok && !(changeMembers(j.next, { type: 'join', node: 'n5' }, o) as { changed: boolean }).changed, 'joining a member again changes nothing');
  const r = changeMembers(m0, { type: 'remove', node: 'n2' }, o);
  assert.ok(r.ok && r.next.members.join() === 'n1,n3,n4');
  const none = changeMembers(r.ok ? r.next : m0, { type: 'remove', node: 'n1' }, o);
  assert.equal(none.ok, false);
  assert.match((none as { error: string }).error, /without n1: replicas \(3\) is more than the 2 nodes/);
  assert.equal(changeMembers(m0, { type: 'join', node: 'N!' }, o).ok, false);
  assert.equal(decodeMemberSet(encodeMemberSet(j.ok ? j.next : m0)), j.ok ? j.next : m0);
  assert.throws(() => decodeMemberSet('{"epoch":1,"members":["b","a"]}'), /not sorted/);
  assert.throws(() => decodeMemberSet('nope'), /not JSON/);
});

test('replicasToMove counts the replicas a new placement creates', () => {
  const o = { shards: 16, replicas: 3 };
  const five = ShardMap.build(['n1', 'n2', 'n3', 'n4', 'n5'], o);
  const six = ShardMap.build(['n1', 'n2', 'n3', 'n4', 'n5', 'n6'], o);
  assert.is(replicasToMove(five, five), 0);
  const moved = replicasToMove(five, six);
  // Every replica n6 holds is new; replicas that merely shuffle among the old nodes count too.
  assert.ok(moved >= six.shardsOf('n6').length && six.shardsOf('n6').length > 0, `${moved} moved, n6 holds ${six.shardsOf('n6').length}`);
  assert.ok(replicasToMove(six, five) >= six.shardsOf('n6').length, 'n6 leaving re-creates at least its replicas');
});

test.run();
