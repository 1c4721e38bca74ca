import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { CAUGHT_WITHIN } from './cases.js';
import { anomalies, txnFacts, type TxnFacts } from '../txn/facts.js';

// The transaction bug switches (group `txn` of cases.ts) produce histories no serializable
// execution explains, within their stated seed bound; without the switch the same scenario's
// first seed shows none. The isolation checker (src/check/txn) will judge these histories once
// it runs in every run; until then the anomalies are read off the history directly
// (test/sim/txn/facts.ts): a lost update (two committed transactions read the same list and both
// append to it), an aborted read, incompatible reads.

const B = suite('transaction bug switches leave anomalies in the history');
const dir = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'bugs');

/** The kind of anomaly each switch must show in particular. */
const SHOWS: Record<string, keyof Pick<TxnFacts, 'lostUpdates' | 'abortedReads'>> = {
  'txn-release-locks-before-commit': 'lostUpdates',
  'txn-read-uncommitted': 'abortedReads',
};

for (const [bug, { seeds }] of Object.entries(CAUGHT_WITHIN).filter(([, c]) => c.group === 'txn')) {
  B(`${bug}: ${SHOWS[bug]} within ${seeds} seeds; no anomaly without the bug`, () => {
    const file = join(dir, `${bug}.yaml`);
    const scenario = parseScenario(readFileSync(file, 'utf8'), file);
    assert.equal(scenario.bugs, [bug]);
    const kind = SHOWS[bug];
    assert.ok(kind !== undefined, `${bug}: say which anomaly it shows`);
    let found: TxnFacts | null = null;
    for (let seed = 1; seed <= seeds && found === null; seed++) {
      const facts = txnFacts(runScenario(scenario, { seed, outDir: null, skipChecks: true }).history);
      if (facts[kind].length > 0) found = facts;
    }
    assert.ok(found !== null, `${bug}: no ${kind} in ${seeds} seeds`);
    if (kind === 'lostUpdates') assert.match(found.lostUpdates[0] as string, /both read \[.*\] and both appended/);
    const clean = txnFacts(runScenario({ ...scenario, bugs: [] }, { seed: 1, outDir: null, skipChecks: true }).history);
    assert.equal(anomalies(clean), [], `${bug} scenario without the bug`);
    assert.ok(clean.committed > 100, `only ${clean.committed} transactions committed`);
  });
}

B.run();
