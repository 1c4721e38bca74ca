/**
 * The cheap proofs of violation and the two search options built for them, against the brute
 * force: a probe's verdict, the claim that cutting after the latest kept completion changes
 * nothing, refutation when the search stalls, and seeded searches.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeBudget } from '../../src/check/budget.js';
import { historyFromEvents, type History } from '../../src/check/index.js';
import { KeyIndex } from '../../src/check/key-history.js';
import { Prober, refuteNear, windowAt, type FailingSet } from '../../src/check/refute.js';
import { searchLinearization } from '../../src/check/search.js';
import { randomHistory } from './arbitraries.js';
import { bruteForceLinearizable, weakenedHistory } from './brute-force.js';

const oneKey = (events: Parameters<typeof historyFromEvents>[0]): { history: History; index: KeyIndex } => {
  const history = historyFromEvents(events);
  return { history, index: new KeyIndex('x', history.ops) };
};

/** Brute force on the history with only `keep` (local indices) kept as recorded, cut at `cutEvent`. */
function bruteKeeping(history: History, index: KeyIndex, keep: readonly number[], cutEvent: number): boolean {
  const ids = new Set(keep.map((i) => index.ops[i]!.id));
  return bruteForceLinearizable(weakenedHistory(history, ids, cutEvent));
}

test('a probe agrees with the brute force, and cutting right after its latest kept completion changes nothing', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 8, processes: 4, keys: ['x'] }), fc.nat(), fc.nat(8), (events, at, size) => {
      const { history, index } = oneKey(events);
      if (index.byReturn.length === 0) return;
      const keep = windowAt(index, at % index.byReturn.length, size + 1);
      const verdict = new Prober(index, makeBudget()).probe(keep);
      const last = Math.max(...keep.map((i) => index.returnEvent[i]!));
      const brute = bruteKeeping(history, index, keep, last + 1);
      assert.is(verdict, brute ? 'ok' : 'violation');
      assert.is(bruteKeeping(history, index, keep, Number.MAX_SAFE_INTEGER), brute, 'the cut does not matter');
    }),
    { numRuns: 2000 },
  );
});

test('a search that tries to refute at every step gives the brute-force verdict, and what it refutes with fails', () => {
  let refuted = 0;
  fc.assert(
    fc.property(randomHistory({ opsMax: 8, processes: 4, keys: ['x'] }), (events) => {
      const { history, index } = oneKey(events);
      let failing: FailingSet | null = null;
      const stall = {
        stepsFirst: 1,
        refute: (frontierEvent: number): boolean => {
          failing = refuteNear(new Prober(index, makeBudget()), frontierEvent);
          return failing !== null;
        },
      };
      const outcome = searchLinearization(index.compile(), makeBudget(), { stall });
      const brute = bruteForceLinearizable(history.ops);
      assert.is(outcome.verdict, brute ? 'ok' : 'violation');
      if (!outcome.refuted) return;
      refuted++;
      const set = failing as FailingSet | null;
      assert.ok(set !== null);
      assert.not.ok(bruteKeeping(history, index, set.ops, set.event + 1), 'the refuting set is not linearizable');
    }),
    { numRuns: 2000 },
  );
  assert.ok(refuted > 100, `only ${refuted} histories were refuted by the stall hook`);
});

test('a seeded search only answers ok when there is a linearization, and never claims a violation', () => {
  let seededOk = 0;
  fc.assert(
    fc.property(randomHistory({ opsMax: 8, processes: 4, keys: ['x'] }), fc.array(fc.nat(), { maxLength: 8 }), (events, picks) => {
      const { history, index } = oneKey(events);
      const compiled = index.compile();
      if (compiled.ops.length === 0) return;
      const seed = picks.map((p) => p % compiled.ops.length);
      const outcome = searchLinearization(compiled, makeBudget(), { seed });
      const brute = bruteForceLinearizable(history.ops);
      if (outcome.verdict === 'ok') assert.ok(brute, 'a seeded linearization is a linearization');
      if (outcome.verdict === 'violation') assert.is(outcome.seeded, 0, 'only an unseeded search proves a violation');
      if (outcome.verdict === 'violation') assert.not.ok(brute);
      if (outcome.seeded > 0 && outcome.verdict === 'ok') seededOk++;
    }),
    { numRuns: 2000 },
  );
  assert.ok(seededOk > 50, `only ${seededOk} seeded searches succeeded`);
});

test.run();
