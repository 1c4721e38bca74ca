import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HistoryError } from '../../../src/check/parse.js';
import { checkTransactions, CONSISTENCY_MODELS, type AnomalyClass, type Consistency } from '../../../src/check/txn/index.js';
import { show } from '../../../src/check/txn/infer.js';
import { renderTxnResult } from '../../../src/check/txn/render.js';
import { Build } from './build.js';

// One hand-built history per anomaly class, each checked against every consistency model: the
// class must be found, named, and fail exactly the models that forbid it (the table in
// src/check/HISTORY.md). `passes` lists the models under which the history is valid.

interface Case {
  name: string;
  history: Build;
  finds: AnomalyClass;
  passes: Consistency[];
  /** Words the explanation must hold. */
  says?: string[];
}

const concurrent = (a: Build, ops1: Parameters<Build['invoke']>[1], ops2: Parameters<Build['invoke']>[1]) =>
  a.invoke(1, ops1).invoke(2, ops2).ok(1).ok(2);

const CASES: Case[] = [
  {
    name: 'G0: two transactions append to x and y in opposite orders',
    history: concurrent(new Build(), [['append', 'x', 1], ['append', 'y', 1]], [['append', 'x', 2], ['append', 'y', 2]])
      .txn(3, [['r', 'x', [1, 2]], ['r', 'y', [2, 1]]]),
    finds: 'G0',
    passes: [],
    says: ['ww→', 'T1 appended 2 right after it'],
  },
  {
    name: 'G1a: a committed read of an aborted append',
    history: new Build().invoke(1, [['append', 'x', 1]]).fail(1).txn(2, [['r', 'x', [1]]]),
    finds: 'G1a',
    passes: [],
    says: ['aborted'],
  },
  {
    name: 'G1b: a read of an intermediate version (list)',
    history: new Build().invoke(1, [['append', 'x', 1], ['append', 'x', 2]]).invoke(2, [['r', 'x', null]])
      .ok(2, [['r', 'x', [1]]]).ok(1),
    finds: 'G1b',
    passes: [],
    says: ['intermediate version'],
  },
  {
    name: 'G1b: a read of an intermediate version (register)',
    history: new Build().invoke(1, [['w', 'x', 1], ['w', 'x', 2]]).invoke(2, [['r', 'x', null]])
      .ok(2, [['r', 'x', 1]]).ok(1),
    finds: 'G1b',
    passes: [],
  },
  {
    name: 'G1c: each transaction reads the other\'s append',
    history: concurrent(new Build(), [['append', 'x', 1], ['r', 'y', [2]]], [['append', 'y', 2], ['r', 'x', [1]]]),
    finds: 'G1c',
    passes: [],
    says: ['wr→', 'whose last element 2 T1 appended'],
  },
  {
    name: 'G-single: read skew, x before T0\'s append and y after it',
    history: new Build().invoke(2, [['r', 'x', null], ['r', 'y', null]]).txn(1, [['append', 'x', 1], ['append', 'y', 1]])
      .ok(2, [['r', 'x', []], ['r', 'y', [1]]]).txn(3, [['r', 'x', [1]]]),
    finds: 'G-single',
    passes: ['read-committed'],
    says: ['T0 read x=[] and T1 appended 1 to x first, which T0 did not see, so T0 rw→ T1'],
  },
  {
    name: 'G-single on registers: x from T0, y still absent',
    history: new Build().invoke(2, [['r', 'x', null], ['r', 'y', null]]).txn(1, [['w', 'x', 1], ['w', 'y', 1]])
      .ok(2, [['r', 'x', 1], ['r', 'y', null]]),
    finds: 'G-single',
    passes: ['read-committed'],
    says: ['read y as absent'],
  },
  {
    name: 'G2-item: write skew on lists',
    history: concurrent(new Build(), [['r', 'x', []], ['r', 'y', []], ['append', 'x', 1]], [['r', 'x', []], ['r', 'y', []], ['append', 'y', 2]])
      .txn(3, [['r', 'x', [1]], ['r', 'y', [2]]]),
    finds: 'G2-item',
    passes: ['snapshot-isolation', 'read-committed'],
  },
  {
    name: 'G2-item: write skew on registers',
    history: concurrent(new Build(), [['r', 'x', null], ['r', 'y', null], ['w', 'x', 1]], [['r', 'x', null], ['r', 'y', null], ['w', 'y', 2]]),
    finds: 'G2-item',
    passes: ['snapshot-isolation', 'read-committed'],
  },
  {
    name: 'lost update on a register (both read 1 and wrote x)',
    history: new Build().txn(1, [['w', 'x', 1]])
      .invoke(2, [['r', 'x', 1], ['w', 'x', 2]]).invoke(3, [['r', 'x', 1], ['w', 'x', 3]]).ok(2).ok(3),
    finds: 'lost-update',
    passes: ['read-committed'],
  },
  {
    name: 'lost update on a list is G-single too (the order of appends is known)',
    history: new Build().invoke(2, [['r', 'x', []], ['append', 'x', 2]]).invoke(3, [['r', 'x', []], ['append', 'x', 3]]).ok(2).ok(3)
      .txn(4, [['r', 'x', [2, 3]]]),
    finds: 'G-single',
    passes: ['read-committed'],
  },
  {
    name: 'G-single-realtime: a stale read after the append completed',
    history: new Build().txn(1, [['append', 'x', 1]]).txn(2, [['r', 'x', []]]).txn(3, [['r', 'x', [1]]]),
    finds: 'G-single-realtime',
    passes: ['serializable', 'snapshot-isolation', 'read-committed'],
    says: ['completed (line 2) before T1 was invoked (line 3)'],
  },
  {
    name: 'G1c-realtime: T1 reads T0\'s append, yet completes before T0 is invoked',
    history: new Build().invoke(1, [['r', 'x', null]]).ok(1, [['r', 'x', [1]]]).txn(2, [['append', 'x', 1]]),
    finds: 'G1c-realtime',
    passes: ['serializable', 'snapshot-isolation', 'read-committed'],
  },
  {
    name: 'lost append: acknowledged, then missing from a later read',
    history: new Build().txn(1, [['append', 'x', 1]]).txn(2, [['append', 'x', 2]]).txn(3, [['r', 'x', [2]]]),
    finds: 'lost-append',
    passes: ['serializable', 'snapshot-isolation', 'read-committed'],
    says: ['without it'],
  },
  {
    name: 'internal: a read that forgets the transaction\'s own append',
    history: new Build().txn(1, [['r', 'x', []], ['append', 'x', 1], ['r', 'x', []]]),
    finds: 'internal',
    passes: [],
  },
  {
    name: 'internal: a register read that forgets the transaction\'s own write',
    history: new Build().txn(1, [['w', 'x', 1], ['r', 'x', null]]),
    finds: 'internal',
    passes: [],
  },
  {
    name: 'fuzzy read: another transaction\'s append shows up between two reads (read committed allows it)',
    history: new Build().invoke(1, [['r', 'x', null], ['r', 'x', null]]).txn(2, [['append', 'x', 1]]).ok(1, [['r', 'x', []], ['r', 'x', [1]]]),
    finds: 'fuzzy-read',
    passes: ['read-committed'],
    says: ['T0 (line 4) read x=[] and later x=[1]: someone else\'s appends showed up between its reads'],
  },
  {
    name: 'fuzzy read on a register, after its own append elsewhere',
    history: new Build().invoke(1, [['r', 'x', null], ['append', 'y', 5], ['r', 'x', null]]).txn(2, [['w', 'x', 1]])
      .ok(1, [['r', 'x', null], ['append', 'y', 5], ['r', 'x', 1]]),
    finds: 'fuzzy-read',
    passes: ['read-committed'],
  },
  {
    name: 'incompatible order: [1, 2] and [2]',
    history: concurrent(new Build(), [['append', 'x', 1]], [['append', 'x', 2]]).txn(3, [['r', 'x', [1, 2]]]).txn(4, [['r', 'x', [2]]]),
    finds: 'incompatible-order',
    passes: [],
  },
  {
    name: 'garbage: a list element nobody appended',
    history: new Build().txn(1, [['r', 'x', [9]]]),
    finds: 'garbage-read',
    passes: [],
  },
  {
    name: 'garbage: a register value nobody wrote',
    history: new Build().txn(1, [['w', 'x', 1]]).txn(2, [['r', 'x', 7]]),
    finds: 'garbage-read',
    passes: [],
  },
  {
    name: 'duplicate append: one value twice in a list',
    history: new Build().txn(1, [['append', 'x', 1]]).txn(2, [['r', 'x', [1, 1]]]),
    finds: 'duplicate-append',
    passes: [],
  },
  {
    name: 'a serial history is every model',
    history: new Build().txn(1, [['append', 'x', 1], ['r', 'y', []]]).txn(2, [['r', 'x', [1]], ['append', 'y', 2]])
      .txn(3, [['r', 'x', [1]], ['r', 'y', [2]], ['w', 'z', 'a']]).txn(1, [['r', 'z', 'a'], ['w', 'z', 'b']]),
    finds: 'G0',
    passes: [...CONSISTENCY_MODELS],
  },
];

for (const c of CASES) {
  test(c.name, () => {
    for (const consistency of CONSISTENCY_MODELS) {
      const result = checkTransactions(c.history.events, { consistency });
      const text = renderTxnResult(result);
      const valid = c.passes.includes(consistency);
      assert.is(result.valid, valid, `${consistency}:\n${text}`);
      if (!valid) {
        assert.ok(result.forbiddenFound.includes(c.finds), `${consistency} should find ${c.finds}:\n${text}`);
        for (const words of c.says ?? []) assert.ok(text.includes(words), `the explanation should say "${words}":\n${text}`);
      }
    }
  });
}

test('a key both appended and written, and a value written twice, are bad input naming the line', () => {
  const mixed = new Build().txn(1, [['append', 'x', 1]]).txn(2, [['w', 'x', 2]]);
  assert.throws(() => checkTransactions(mixed.events), (e: unknown) => e instanceof HistoryError && /history:3: key "x" is written here but appended to at line 1/.test(e.message));
  const twice = new Build().txn(1, [['append', 'x', 1]]).txn(2, [['append', 'x', 1]]);
  assert.throws(() => checkTransactions(twice.events), (e: unknown) => e instanceof HistoryError && /history:3: appends 1 to key "x" again \(also at line 1\)/.test(e.message));
});

test('reports are bounded: many cycles of a class are counted, a few explained', () => {
  const b = new Build();
  for (let i = 0; i < 40; i++) {
    const [x, y] = [`x${i}`, `y${i}`];
    b.invoke(1, [['r', x, []], ['r', y, []], ['append', x, 1]]).invoke(2, [['r', x, []], ['r', y, []], ['append', y, 2]]).ok(1).ok(2);
  }
  const result = checkTransactions(b.events, { consistency: 'serializable', cyclesPerClassMax: 5 });
  assert.is(result.counts['G2-item'], 40);
  assert.is(result.anomalies.filter((a) => a.class === 'G2-item').length, 5);
});

test('a cycle through 1,000 transactions is found and explained in part', () => {
  // A ring of wr edges: T(i) reads what T(i-1) appended to its key; the first reads the last's.
  const n = 1_000;
  const b = new Build();
  for (let i = 0; i < n; i++) b.invoke(i + 1, [['append', `k${i}`, i], ['r', `k${(i + n - 1) % n}`, [(i + n - 1) % n]]]);
  for (let i = 0; i < n; i++) b.ok(i + 1);
  const result = checkTransactions(b.events, { consistency: 'read-committed' });
  const g1c = result.anomalies.find((a) => a.class === 'G1c');
  assert.is(g1c?.cycleLength, n);
  assert.is(g1c?.cycle?.length, 32);
  assert.match(renderTxnResult(result), /… \(968 more edges back to T\d+\)/);
});

test('the runner\'s call: a run\'s events, single-key operations among them, checked for their transactions', () => {
  const events = [
    { process: 9, type: 'invoke', f: 'write', key: 'k', value: 1 },
    ...new Build().txn(1, [['append', 'x', 1]]).txn(2, [['r', 'x', []]]).events,
    { process: 9, type: 'ok', f: 'write', key: 'k', value: 1 },
  ];
  const result = checkTransactions(events, { consistency: 'strict-serializable' });
  assert.equal([result.valid, result.txnCount, result.forbiddenFound], [false, 2, ['lost-append', 'G-single-realtime']]);
  assert.is(checkTransactions(events, { consistency: 'serializable' }).valid, true);
  // A malformed event is the recorder's bug: a HistoryError naming it (as line index + 1).
  assert.throws(() => checkTransactions([{ process: 1, type: 'invoke', f: 'txn', value: [['r', 'x']] }], { source: 'run' }),
    (e: unknown) => e instanceof HistoryError && /^run:1: micro-operation 0/.test(e.message));
});

test('a long list is shown by its end, where list-append anomalies are', () => {
  const list = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.is(show(list), '[…189 more, 190,191,192,193,194,195,196,197,198,199,200]');
  assert.is(show([1, 2, 3]), '[1,2,3]');
});

test('a search cut short by its budget says unknown, not valid', () => {
  const n = 1_000;
  const b = new Build();
  for (let i = 0; i < n; i++) b.invoke(i + 1, [['append', `k${i}`, i], ['r', `k${(i + n - 1) % n}`, [(i + n - 1) % n]]]);
  for (let i = 0; i < n; i++) b.ok(i + 1);
  const result = checkTransactions(b.events, { consistency: 'read-committed', searchStepsMax: 100 });
  assert.is(result.valid, 'unknown');
  assert.match(result.notes.join('\n'), /the cycle search stopped after \d+ steps: G1c not ruled out/);
});

test('an info transaction whose append was seen took effect; one never seen may not have', () => {
  const seen = new Build().invoke(1, [['append', 'x', 1], ['append', 'y', 1]]).info(1).txn(2, [['r', 'x', [1]], ['r', 'y', []]]);
  assert.ok(checkTransactions(seen.events, { consistency: 'serializable' }).forbiddenFound.includes('G-single'));
  const unseen = new Build().invoke(1, [['append', 'x', 1], ['append', 'y', 1]]).info(1).txn(2, [['r', 'x', []], ['r', 'y', []]]);
  assert.is(checkTransactions(unseen.events).valid, true);
});

test.run();
