import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkTransactions } from '../../../src/check/txn/index.js';
import { SeededRng } from '../../../src/env/rng.js';
import { ELLE_SHAPE, syntheticTxnHistory } from './synthetic.js';

// The histories bench:txn times: strictly serializable as generated (each transaction takes
// effect at one instant inside its interval), and not once stale reads are injected.

for (const seed of ['a', 'b']) {
  test(`seed ${seed}: 3,000 generated transactions are strictly serializable; with stale reads they are not`, () => {
    const clean = checkTransactions(syntheticTxnHistory({ ...ELLE_SHAPE, txns: 3_000, anomalies: 0 }, new SeededRng(seed)));
    assert.is(clean.valid, true, JSON.stringify(clean.counts));
    assert.ok(clean.failCount > 0 && clean.infoCount > 0 && clean.keyCount > 10);
    const stale = checkTransactions(syntheticTxnHistory({ ...ELLE_SHAPE, txns: 3_000, anomalies: 5 }, new SeededRng(seed)));
    assert.is(stale.valid, false);
  });
}

test.run();
