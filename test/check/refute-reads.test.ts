/**
 * The read test (src/check/refute-reads.ts) decides violations without a search, so a wrong
 * refutation would be a fast wrong answer: every refutation is checked against the brute force,
 * and so is its proof (the ops it keeps, every other op weakened to info, still fail).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import type { HistoryEvent, OpFunction } from '../../src/check/history.js';
import { historyFromEvents } from '../../src/check/index.js';
import { decideHistory } from '../../src/check/linearizability.js';
import { KeyIndex } from '../../src/check/key-history.js';
import { partitionByKey } from '../../src/check/partition.js';
import { refuteByReads } from '../../src/check/refute-reads.js';
import { corruptedHistory, randomHistory, sequentialHistory } from './arbitraries.js';
import { bruteForceLinearizable, weakenedHistory } from './brute-force.js';
import { labKvHistory } from './lab-kv.js';
import { syntheticHistory } from './synthetic.js';

const STUCK_APPENDS = { keys: ['x'], functions: ['read', 'append', 'write', 'cas', 'delete'] as OpFunction[], stuckMax: 3 };

/** Checks every refutation of the history's keys; returns how many keys were refuted. */
function refutationsHold(events: HistoryEvent[]): number {
  const history = historyFromEvents(events);
  let refuted = 0;
  for (const [key, ops] of partitionByKey(history.ops)) {
    const index = new KeyIndex(key, ops);
    const proof = refuteByReads(index);
    if (proof === null) continue;
    refuted++;
    assert.not.ok(bruteForceLinearizable(ops), `key ${key} refuted but linearizable`);
    const kept = new Set(proof.ops.map((i) => (ops[i] as { id: number }).id));
    assert.not.ok(bruteForceLinearizable(weakenedHistory({ ...history, ops }, kept, proof.event + 1)),
      `the proof ${[...kept].join(',')} of key ${key} does not fail on its own`);
  }
  return refuted;
}

test('a refutation is always a violation, and its proof fails on its own (brute force)', () => {
  let refuted = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        randomHistory({ opsMax: 7, processes: 4, keys: ['x', 'y'] }),
        randomHistory({ opsMax: 8, processes: 6, keys: ['r'], functions: ['read', 'write', 'cas'] }),
        corruptedHistory({ opsMax: 8, keys: ['x'] }),
        corruptedHistory({ opsMax: 8, ...STUCK_APPENDS }),
        sequentialHistory({ opsMax: 8, ...STUCK_APPENDS }),
      ),
      (events) => {
        refuted += refutationsHold(events);
      },
    ),
    { numRuns: 4000 },
  );
  // The property is only worth something if the test fires often.
  assert.ok(refuted > 400, `only ${refuted} refutations`);
});

test('a linearizable history is never refuted', () => {
  fc.assert(
    fc.property(sequentialHistory({ opsMax: 60, keys: ['x', 'y', 'z'] }), (events) => {
      const history = historyFromEvents(events);
      for (const [key, ops] of partitionByKey(history.ops)) assert.is(refuteByReads(new KeyIndex(key, ops)), null, key);
    }),
    { numRuns: 500 },
  );
});

test('MIT 6.824\'s bad histories (a late read of "" after appends) are refuted with no search step', () => {
  for (const lostReplies of ['stuck', 'info'] as const) {
    for (let seed = 0; seed < 3; seed++) {
      const options = { ops: 2_000, clients: 50, keys: 10, lostFraction: lostReplies === 'stuck' ? 0.02 : 0.3, lostReplies };
      const bad = decideHistory(historyFromEvents(labKvHistory({ ...options, violation: true }, new SeededRng(`rr/${seed}`))),
        { model: 'kv', firstViolation: true });
      assert.is(bad.verdict, 'violation');
      assert.is(bad.steps, 0, `${lostReplies}/${seed}: decided by the read test`);
      const good = historyFromEvents(labKvHistory({ ...options, violation: false }, new SeededRng(`rr/${seed}`)));
      for (const [key, ops] of partitionByKey(good.ops)) assert.is(refuteByReads(new KeyIndex(key, ops)), null, key);
    }
  }
});

test('the simulator\'s crashes (a value gone, seen by a later read or cas) are refuted with no search step', () => {
  for (const crashes of [[0.5], [0.15, 0.3, 0.45, 0.6, 0.75]]) {
    const events = syntheticHistory({ ops: 4_000, keys: 4, processes: 4, infoFraction: 0.01,
      mix: { read: 40, write: 40, cas: 10, append: 10 }, corrupt: false, crashes }, new SeededRng(`rr/crash/${crashes.length}`));
    const decision = decideHistory(historyFromEvents(events), { model: 'kv', firstViolation: true });
    assert.is(decision.verdict, 'violation');
    assert.is(decision.steps, 0);
  }
});

test.run();
