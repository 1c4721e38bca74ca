/**
 * The explanation's claims, checked against the brute force: the set it names is not linearizable
 * with every other operation weakened to info; without any one of its operations it is; and the
 * history is linearizable up to the failing line and not after it.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import { makeBudget } from '../../src/check/budget.js';
import { checkHistory, historyFromEvents, renderResult, type History, type KeyResult, type Operation } from '../../src/check/index.js';
import { KeyIndex } from '../../src/check/key-history.js';
import { searchLinearization } from '../../src/check/search.js';
import { syntheticHistory, type SyntheticOptions } from './synthetic.js';
import { randomHistory } from './arbitraries.js';
import { bruteForceLinearizable, weakenedHistory } from './brute-force.js';

test('the explanation of a violation is a minimal non-linearizable set, and its prefix is the shortest', () => {
  let explained = 0;
  fc.assert(
    fc.property(randomHistory({ opsMax: 8, processes: 4, keys: ['x', 'y'] }), (events) => {
      const history = historyFromEvents(events);
      const result = checkHistory(history, { model: 'kv' });
      for (const key of result.keys) {
        const e = key.explanation;
        assert.ok(e !== undefined, 'every failing key of a small history is explained');
        assert.ok(e.minimal, 'a small history is explained within budget');
        assert.ok(e.prefixShortest, 'and its shortest failing prefix is established');
        explained++;
        const keyHistory = { ...history, ops: history.ops.filter((op) => op.key === key.key) };
        const all = new Set(keyHistory.ops.map((op) => op.id));
        const kept = new Set(e.ops.map((op) => op.id));
        assert.not.ok(bruteForceLinearizable(weakenedHistory(keyHistory, kept, e.failingEvent + 1)));
        for (const op of e.ops) {
          const without = new Set([...kept].filter((id) => id !== op.id));
          assert.ok(bruteForceLinearizable(weakenedHistory(keyHistory, without, e.failingEvent + 1)), `op ${op.id} is needed`);
        }
        assert.ok(bruteForceLinearizable(weakenedHistory(keyHistory, all, e.failingEvent)), 'linearizable before the failing event');
        assert.not.ok(bruteForceLinearizable(weakenedHistory(keyHistory, all, e.failingEvent + 1)));
      }
    }),
    { numRuns: 1500 },
  );
  assert.ok(explained > 300, `only ${explained} violations were explained`);
});


/**
 * The explanation's claims re-checked by searches of their own, for histories too long to brute
 * force: the named set fails with every other op weakened; without any one of its ops it does not;
 * and the history before the failing event is linearizable.
 */
function verifyExplanation(history: History, key: KeyResult): Operation[] {
  const e = key.explanation;
  assert.ok(e !== undefined, `key ${key.key} is explained`);
  assert.ok(e.minimal, `the explanation of ${key.key} is minimal`);
  assert.ok(e.prefixShortest, `the explanation of ${key.key} pins the shortest failing prefix`);
  const index = new KeyIndex(key.key, history.ops.filter((op) => op.key === key.key));
  const verdict = (options: Parameters<KeyIndex['compile']>[0]): string =>
    searchLinearization(index.compile(options), makeBudget(20_000_000)).verdict;
  const keep = e.ops.map((op) => index.localOf(op.id));
  const cutEvent = e.failingEvent + 1;
  assert.is(verdict({ keep, cutEvent }), 'violation', 'the named operations cannot be ordered');
  for (const i of keep) assert.is(verdict({ keep: keep.filter((j) => j !== i), cutEvent }), 'ok', `op ${i} is needed`);
  assert.is(verdict({ cutEvent: e.failingEvent }), 'ok', 'linearizable before the failing event');
  return e.ops.slice();
}

/** The history's failing keys, each explained and verified. */
function explainAll(options: SyntheticOptions, seed: string): { history: History; explained: Operation[][] } {
  const history = historyFromEvents(syntheticHistory(options, new SeededRng(seed)), seed);
  const result = checkHistory(history, { model: 'kv', stepsMax: 50_000_000, explainKeysMax: 1_000 });
  assert.is(result.verdict, 'violation', renderResult(result));
  return { history, explained: result.keys.map((k) => verifyExplanation(history, k)) };
}

/** Two ops: an acknowledged effect, and a later op that cannot have come after it (the store forgot it). */
function assertForgotten(ops: Operation[]): void {
  assert.is(ops.length, 2, ops.map((op) => `${op.f} ${op.status}`).join(', '));
  const [first, second] = ops as [Operation, Operation];
  assert.ok(first.returnEvent < second.callEvent, 'the first completed before the second began');
  assert.ok(first.status === 'ok' && second.status === 'ok');
}

// The simulator's crash scenario in small: a single in-memory node loses everything half-way.
// Before KeyIndex's closure, such a key's explanation searched the orders of a hundred weakened
// writes and ran out of budget, naming thousands of operations and `minimal: false`.
const CRASH: SyntheticOptions = { ops: 4_000, keys: 8, processes: 4, infoFraction: 0.01,
  mix: { read: 40, write: 40, cas: 10, append: 10 }, corrupt: false, crashes: [0.5] };

test('a crash that empties the store: every failing key is explained by a forgotten effect and what saw it gone', () => {
  let keys = 0;
  let readsOfNothing = 0;
  for (const seed of ['crash/1', 'crash/2', 'crash/3']) {
    for (const ops of explainAll(CRASH, seed).explained) {
      assertForgotten(ops);
      keys++;
      // The scenario's own shape: an acknowledged write, then a read of null (the mix has no deletes).
      if (ops[1]?.f === 'read' && ops[1].output === null) readsOfNothing++;
    }
  }
  assert.ok(keys >= 10, `only ${keys} keys failed`);
  assert.ok(readsOfNothing >= 1, 'some key is explained by a read of null after an acknowledged write');
});

// restart-storm in small: five crashes, appends building on values that vanish.
const STORM: SyntheticOptions = { ops: 4_000, keys: 4, processes: 4, infoFraction: 0.01,
  mix: { read: 50, write: 30, append: 20 }, corrupt: false, crashes: [0.15, 0.3, 0.45, 0.6, 0.75] };

test('a restart storm: the first loss on each key is explained by two operations', () => {
  let keys = 0;
  for (const seed of ['storm/1', 'storm/2']) {
    for (const ops of explainAll(STORM, seed).explained) {
      assertForgotten(ops);
      keys++;
    }
  }
  assert.is(keys, 8);
});

test('a stale read in a long single-key history: the old write, the overwrite, the read', () => {
  const options: SyntheticOptions = { ops: 10_000, keys: 1, processes: 20, infoFraction: 0.1,
    mix: { read: 50, write: 30, cas: 20 }, corrupt: true };
  const { explained } = explainAll(options, 'stale/1');
  assert.is(explained.length, 1);
  const [w, overwrite, read] = explained[0] as [Operation, Operation, Operation];
  assert.is(explained[0]?.length, 3);
  assert.is(read.f, 'read');
  assert.equal(read.output, w.input);
  assert.ok(w.returnEvent < overwrite.callEvent && overwrite.returnEvent < read.callEvent, 'W < W\' < read in real time');
});

test('fifty clients, a third of them timing out: a stale read is explained by the cas that consumed its value', () => {
  // bench:check's smallest single-key stale read. Windows of the latest completions alone reach
  // the cas only at hundreds of reads, each a probe of its own; the value links reach it at once.
  const options: SyntheticOptions = { ops: 1_000, keys: 1, processes: 50, infoFraction: 0.3,
    mix: { read: 50, write: 30, cas: 20 }, corrupt: true };
  const { explained } = explainAll(options, 'bench/1000 ops, 1 keys, stale read/0');
  const [cas, read] = explained[0] as [Operation, Operation];
  assert.is(explained[0]?.length, 2);
  assert.is(cas.f, 'cas');
  assert.is(read.f, 'read');
  assert.equal((cas.input as unknown[])[0], read.output);
  assert.ok(cas.returnEvent < read.callEvent);
});

test.run();
