import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { historyFromEvents } from '../../../src/check/parse.js';
import { checkTransactions } from '../../../src/check/txn/index.js';
import { bruteForceSerializable, smallHistory, smallRegisterHistory } from './brute-force.js';

// The checker against the oracle that tries every order (brute-force.ts) on small random
// list-append histories: it must find a violation exactly when no order works — serializable
// without real time, strict serializable with it. fast-check prints the seed and the history of
// a disagreement (FC_SEED replays it).

for (const [consistency, strict] of [['serializable', false], ['strict-serializable', true]] as const) {
  test(`${consistency}: the checker agrees with every order tried`, () => {
    let violations = 0;
    let runs = 0;
    fc.assert(
      fc.property(smallHistory(), (events) => {
        const history = historyFromEvents(events, 'random');
        const expected = bruteForceSerializable(history.txns ?? [], strict);
        const result = checkTransactions(history, { consistency });
        runs++;
        if (!expected) violations++;
        assert.is(result.verdict, expected ? 'ok' : 'violation', `${events.map((e) => JSON.stringify(e)).join('\n')}\n${JSON.stringify(result.counts)}`);
      }),
      { numRuns: 3000 },
    );
    // The generator must make both kinds, or agreeing proves little.
    console.log(`${consistency}: ${violations} of ${runs} random histories not ${consistency}`);
    assert.ok(violations > runs / 10 && violations < runs * 0.9, `${violations} of ${runs} histories not ${consistency}`);
  });
}

// Registers: the version order is known only in part, so the checker may miss a violation, but
// every violation it reports must be real (the oracle confirms it), and it must find some.
for (const [consistency, strict] of [['serializable', false], ['strict-serializable', true]] as const) {
  test(`registers, ${consistency}: every violation the checker reports is one`, () => {
    let oracle = 0;
    let found = 0;
    fc.assert(
      fc.property(smallRegisterHistory(), (events) => {
        const history = historyFromEvents(events, 'random');
        const expected = bruteForceSerializable(history.txns ?? [], strict);
        const result = checkTransactions(history, { consistency });
        if (!expected) oracle++;
        if (result.verdict === 'violation') found++;
        if (result.verdict === 'violation') assert.not.ok(expected, `${events.map((e) => JSON.stringify(e)).join('\n')}\n${JSON.stringify(result.counts)}`);
      }),
      { numRuns: 2000 },
    );
    console.log(`registers, ${consistency}: ${found} of ${oracle} violations found`);
    assert.ok(found > oracle / 2, `only ${found} of ${oracle} violations found`);
  });
}

test.run();
