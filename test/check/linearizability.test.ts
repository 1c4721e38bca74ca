/**
 * The checker against the brute-force reference, on thousands of random histories. Each property
 * prints its seed and path on failure (fc.assert); a seed that once failed becomes a case below.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HistoryEvent, OpFunction } from '../../src/check/history.js';
import { checkHistory, checkLinearizable, historyFromEvents } from '../../src/check/index.js';
import { makeBudget } from '../../src/check/budget.js';
import { compileKey, KeyIndex } from '../../src/check/key-history.js';
import { searchLinearization } from '../../src/check/search.js';
import { corruptedHistory, randomHistory, sequentialHistory } from './arbitraries.js';
import { bruteForceLinearizable } from './brute-force.js';

const KEYS = ['x', 'y'];

function brute(events: HistoryEvent[]): 'ok' | 'violation' {
  return bruteForceLinearizable(historyFromEvents(events).ops) ? 'ok' : 'violation';
}

test('agrees with the brute force on random small concurrent histories (kv model)', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 7, processes: 4, keys: KEYS }), (events) => {
      assert.is(checkLinearizable(events, { model: 'kv' }).verdict, brute(events));
    }),
    { numRuns: 4000 },
  );
});

test('agrees with the brute force on random single-register histories with high concurrency', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 8, processes: 6, keys: ['r'], functions: ['read', 'write', 'cas'] }), (events) => {
      assert.is(checkLinearizable(events, { model: 'register' }).verdict, brute(events));
    }),
    { numRuns: 3000 },
  );
});

test('a history made by a sequential execution seen through overlap windows is linearizable', () => {
  fc.assert(
    fc.property(sequentialHistory({ opsMax: 60, keys: ['x', 'y', 'z'] }), (events) => {
      const result = checkLinearizable(events, { model: 'kv' });
      assert.is(result.verdict, 'ok', JSON.stringify(result.keys));
    }),
    { numRuns: 1500 },
  );
});

test('the same on one hot key with appends and reads (the append-key rules apply)', () => {
  fc.assert(
    fc.property(sequentialHistory({ opsMax: 40, keys: ['x'], functions: ['read', 'append'] }), (events) => {
      assert.is(checkLinearizable(events, { model: 'kv' }).verdict, 'ok');
    }),
    { numRuns: 500 },
  );
});

test('a single corrupted result is rejected exactly when the brute force rejects it', () => {
  fc.assert(
    fc.property(corruptedHistory({ opsMax: 7, keys: ['x'] }), (events) => {
      assert.is(checkLinearizable(events, { model: 'kv' }).verdict, brute(events));
    }),
    { numRuns: 3000 },
  );
});

test('an exhausted budget gives unknown, never a wrong verdict', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 7, processes: 4, keys: KEYS }), fc.nat(40), (events, stepsMax) => {
      const verdict = checkLinearizable(events, { model: 'kv', stepsMax }).verdict;
      assert.ok(verdict === 'unknown' || verdict === brute(events), `${verdict} with ${stepsMax} steps`);
    }),
    { numRuns: 2000 },
  );
});

test('the reductions and pruning rules never change a verdict, on histories too big to brute-force', () => {
  const plain = { dropUnobserved: false, mergeUnobserved: false, pruneSearch: false } as const;
  fc.assert(
    fc.property(
      fc.oneof(
        randomHistory({ opsMax: 14, processes: 6, keys: ['x'], functions: ['read', 'write', 'cas'] }),
        randomHistory({ opsMax: 14, processes: 6, keys: ['x'] }),
        corruptedHistory({ opsMax: 30, keys: ['x'] }),
      ),
      (events) => {
        const ops = historyFromEvents(events).ops;
        const reduced = searchLinearization(compileKey('x', ops), makeBudget()).verdict;
        const unreduced = searchLinearization(compileKey('x', ops, plain), makeBudget()).verdict;
        assert.is(reduced, unreduced);
      },
    ),
    { numRuns: 1500 },
  );
});

test('the reductions never change a verdict on the sub-histories explanations probe (cut, most ops weakened)', () => {
  const plain = { dropUnobserved: false, mergeUnobserved: false, pruneSearch: false } as const;
  fc.assert(
    fc.property(
      fc.oneof(
        randomHistory({ opsMax: 14, processes: 6, keys: ['x'], functions: ['read', 'write', 'cas'] }),
        randomHistory({ opsMax: 14, processes: 6, keys: ['x'] }),
        corruptedHistory({ opsMax: 30, keys: ['x'] }),
      ),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.nat(),
      (events, picks, cutPick) => {
        const ops = historyFromEvents(events).ops;
        if (ops.length === 0) return;
        const index = new KeyIndex('x', ops);
        const keep = picks.map((p) => p % ops.length);
        const cutEvent = cutPick % (2 * ops.length + 1);
        const reduced = searchLinearization(index.compile({ keep, cutEvent }), makeBudget()).verdict;
        const unreduced = searchLinearization(index.compile({ keep, cutEvent, ...plain }), makeBudget()).verdict;
        assert.is(reduced, unreduced);
      },
    ),
    { numRuns: 2000 },
  );
});

// The append-key rules 6 and 7 (search.ts) and the deadline order of candidates are what make
// stuck ops cheap; these histories have appends, resets and ops whose windows reach the end.
const STUCK_APPENDS = { keys: ['x'], functions: ['read', 'append', 'write', 'cas', 'delete'] as OpFunction[], stuckMax: 3 };

test('histories with stuck ops, appends and resets: the verdict is the brute force\'s', () => {
  fc.assert(
    fc.property(fc.oneof(corruptedHistory({ opsMax: 8, ...STUCK_APPENDS }), sequentialHistory({ opsMax: 8, ...STUCK_APPENDS })),
      (events) => {
        assert.is(checkLinearizable(events, { model: 'kv' }).verdict, brute(events));
      }),
    { numRuns: 3000 },
  );
});

test('the same on longer histories: the rules and reductions never change the plain search\'s verdict', () => {
  const plain = { dropUnobserved: false, mergeUnobserved: false, pruneSearch: false } as const;
  fc.assert(
    fc.property(fc.oneof(corruptedHistory({ opsMax: 24, ...STUCK_APPENDS, stuckMax: 6 }),
      randomHistory({ opsMax: 16, processes: 8, keys: ['x'], functions: ['read', 'append', 'write'] })), (events) => {
      const ops = historyFromEvents(events).ops;
      const reduced = searchLinearization(compileKey('x', ops), makeBudget()).verdict;
      const unreduced = searchLinearization(compileKey('x', ops, plain), makeBudget()).verdict;
      assert.is(reduced, unreduced);
    }),
    { numRuns: 1500 },
  );
});

test('stopping at the first failing key gives the same verdict, and the same failing keys once explaining resumed the rest', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 9, processes: 4, keys: ['x', 'y', 'z'] }), (events) => {
      const all = checkLinearizable(events, { model: 'kv' });
      const first = checkLinearizable(events, { model: 'kv', firstViolation: true });
      assert.is(first.verdict, all.verdict);
      assert.is(first.verdict, brute(events));
      assert.equal(first.keys.map((k) => [k.key, k.verdict]), all.keys.map((k) => [k.key, k.verdict]));
    }),
    { numRuns: 1500 },
  );
});

test('the check is deterministic: the same history gives the same result', () => {
  fc.assert(
    fc.property(randomHistory({ opsMax: 12, processes: 4, keys: KEYS }), (events) => {
      const a = checkHistory(historyFromEvents(events), { model: 'kv' });
      const b = checkHistory(historyFromEvents(events), { model: 'kv' });
      assert.equal(a, b);
    }),
    { numRuns: 300 },
  );
});

test.run();
