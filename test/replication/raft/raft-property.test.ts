/**
 * Random schedules of faults against a cluster of pure nodes, the safety observers checking
 * every step, and liveness once the faults heal. fast-check prints the seed and path of a
 * failure; rerun it with { seed, path } in fc.assert's parameters.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { actionArb, assertProperty, optionsArb, runSchedule, type ScheduleOutcome } from './schedule.js';

const RUNS = Number(process.env.RAFT_PROPERTY_RUNS ?? 1000);

test('safety holds and the cluster recovers under random faults (3 and 5 nodes)', () => {
  const outcomes: ScheduleOutcome[] = [];
  assertProperty(
    fc.property(
      fc.constantFrom(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3', 'n4', 'n5']),
      optionsArb(),
      fc.array(actionArb(), { minLength: 200, maxLength: 800 }),
      fc.nat(),
      (voters, options, actions, seed) => {
        outcomes.push(runSchedule(voters, options, actions, `p${seed}`));
      },
    ),
    { numRuns: RUNS },
  );
  // The property is not vacuous: the schedules elect leaders, commit, and answer reads.
  const elected = outcomes.filter((o) => o.leadersElected >= 2).length;
  const committed = outcomes.filter((o) => o.highestCommitted >= 5).length;
  const reads = outcomes.reduce((n, o) => n + o.readsAnswered, 0);
  assert.ok(elected > RUNS / 4, `only ${elected} runs elected two leaders or more`);
  assert.ok(committed > RUNS / 2, `only ${committed} runs committed 5 entries`);
  assert.ok(reads > RUNS / 2, `only ${reads} reads answered`);
  for (const type of ['MsgSnap', 'MsgTimeoutNow', 'MsgPreVote', 'MsgVote']) {
    const runs = outcomes.filter((o) => (o.delivered.get(type) ?? 0) > 0).length;
    assert.ok(runs > RUNS / 20, `only ${runs} runs delivered a ${type}`);
  }
});

test('lease reads stay linearizable while every clock ticks at the same rate', () => {
  assertProperty(
    fc.property(
      fc.constantFrom(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3', 'n4', 'n5']),
      optionsArb({}, true),
      fc.array(actionArb({ lockstepTicks: true }), { minLength: 200, maxLength: 800 }),
      fc.nat(),
      (voters, options, actions, seed) => {
        runSchedule(voters, options, actions, `l${seed}`);
      },
    ),
    { numRuns: Math.ceil(RUNS / 2) },
  );
});

test('safety holds through membership changes (learners added, promoted, nodes removed) under faults', () => {
  const shape = { joiners: ['n4', 'n5'], confChangeWeight: 4 };
  let changes = 0;
  assertProperty(
    fc.property(optionsArb(), fc.array(actionArb(shape), { minLength: 200, maxLength: 800 }), fc.nat(), (options, actions, seed) => {
      const out = runSchedule(['n1', 'n2', 'n3'], options, actions, `m${seed}`, true, shape);
      if (out.membershipChanges > 0) changes += 1;
    }),
    { numRuns: Math.ceil(RUNS / 2) },
  );
  assert.ok(changes > RUNS / 8, `only ${changes} runs changed the membership`);
});

test.run();
