import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import { checkHistory, historyFromEvents } from '../../src/check/index.js';
import { checkHistoryParallel } from '../../src/check/parallel.js';
import { syntheticHistory } from './synthetic.js';

test('worker threads give the same result as the in-process check', async () => {
  for (const corrupt of [false, true]) {
    const events = syntheticHistory({ ops: 5_000, keys: 20, processes: 20, infoFraction: 0.1,
      mix: { read: 50, write: 30, cas: 20 }, corrupt }, new SeededRng(`parallel/${corrupt}`));
    const history = historyFromEvents(events, 'h');
    const inline = checkHistory(history, { model: 'kv' });
    const parallel = await checkHistoryParallel(history, { model: 'kv', workers: 2 });
    assert.is(parallel.verdict, corrupt ? 'violation' : 'ok');
    assert.equal(parallel, inline);
  }
});

test('a cancel flag set before the check gives unknown', async () => {
  const events = syntheticHistory({ ops: 3_000, keys: 3, processes: 30, infoFraction: 0.2,
    mix: { read: 50, write: 30, cas: 20 }, corrupt: false }, new SeededRng('cancel'));
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(cancel, 0, 1);
  const result = await checkHistoryParallel(historyFromEvents(events), { model: 'kv', workers: 2, cancel });
  assert.is(result.verdict, 'unknown');
});

test.run();
