import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { CAUGHT_WITHIN } from './cases.js';
import { anomalies, txnFacts } from '../txn/facts.js';

// The transaction bug switches (group `txn` of cases.ts) produce histories no serializable
// execution explains, within their stated seed bound; without the switch the same scenario's
// first seed shows none. The isolation checker (src/check/txn) will judge these histories once
// it runs in every run; until then the anomalies are read off the history directly
// (test/sim/txn/facts.ts): a lost update (two committed transactions read the same list and both
// append to it), an aborted read, incompatible reads.

const B = suite('transaction bug switches leave anomalies in the history');
const dir = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'bugs');

for (const [bug, { seeds }] of Object.entries(CAUGHT_WITHIN).filter(([, c]) => c.group === 'txn')) {
  B(`${bug}: an anomaly within ${seeds} seeds; none without the bug`, () => {
    const file = join(dir, `${bug}.yaml`);
    const scenario = parseScenario(readFileSync(file, 'utf8'), file);
    assert.equal(scenario.bugs, [bug]);
    let found: string[] = [];
    for (let seed = 1; seed <= seeds && found.length === 0; seed++) found = anomalies(txnFacts(runScenario(scenario, { seed, outDir: null, skipChecks: true }).history));
    assert.ok(found.length > 0, `${bug}: no anomaly in ${seeds} seeds`);
    const clean = txnFacts(runScenario({ ...scenario, bugs: [] }, { seed: 1, outDir: null, skipChecks: true }).history);
    assert.equal(anomalies(clean), [], `${bug} scenario without the bug`);
    assert.ok(clean.committed > 100, `only ${clean.committed} transactions committed`);
  });
}

B('release-locks-before-commit shows a lost update in particular', () => {
  const file = join(dir, 'txn-release-locks-before-commit.yaml');
  const facts = txnFacts(runScenario(parseScenario(readFileSync(file, 'utf8'), file), { seed: 1, outDir: null, skipChecks: true }).history);
  assert.ok(facts.lostUpdates.length > 0, JSON.stringify(facts).slice(0, 300));
  assert.match(facts.lostUpdates[0] as string, /both read \[.*\] and both appended/);
});

B('read-uncommitted shows an aborted read in particular', () => {
  const file = join(dir, 'txn-read-uncommitted.yaml');
  const facts = txnFacts(runScenario(parseScenario(readFileSync(file, 'utf8'), file), { seed: 1, outDir: null, skipChecks: true }).history);
  assert.ok(facts.abortedReads.length > 0, JSON.stringify(facts).slice(0, 300));
});

B.run();
