import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../sim/runner.js';
import { parseScenario, ScenarioError, type Scenario } from '../../sim/scenario.js';
import { SchemaError } from '../../src/util/schema.js';

// The nodes of the main simulator gossip when a scenario sets cluster.gossip, and the membership
// and ring-balance checks of the pure gossip lab judge them (sim/membership.ts).

const file = join(import.meta.dirname, '..', '..', 'scenarios', 'raft', 'gossip.yaml');
const shipped = () => parseScenario(readFileSync(file, 'utf8'), file);

/** The shipped scenario, shortened to keep this file fast: its crash and its partition. */
function short(): Scenario {
  const s = shipped();
  return { ...s, durationNs: 8e9, faults: s.faults.filter((f) => f.atNs < 8e9) };
}

const G = suite('gossip in the main simulator');

G('raft/gossip: every node sees the others alive after healing, and builds the same ring', () => {
  const { summary } = runScenario(short(), { seed: 1, outDir: null });
  assert.is(summary.checks.membership?.verdict, 'pass', summary.checks.membership?.summary);
  assert.is(summary.checks['ring-balance']?.verdict, 'pass', summary.checks['ring-balance']?.summary);
  assert.ok(summary.passed);
});

G('a member that cannot refute a suspicion stays dead in every view: membership fails', () => {
  const s = short();
  const g = s.cluster.gossip;
  assert.ok(g !== null);
  const buggy: Scenario = { ...s, healNs: 5e9, cluster: { ...s.cluster, gossip: { ...g, bugs: { ...g.bugs, noRefute: true } } } };
  const { summary } = runScenario(buggy, { seed: 1, outDir: null });
  assert.is(summary.checks.membership?.verdict, 'fail');
  assert.match(summary.checks.membership?.summary ?? '', /sees not alive/);
  assert.not.ok(summary.passed);
});

G('without cluster.gossip the nodes send no gossip and the checks are not chosen', () => {
  const s = short();
  const plain: Scenario = { ...s, cluster: { ...s.cluster, gossip: null }, checks: s.checks.filter((c) => c !== 'membership' && c !== 'ring-balance') };
  const { summary } = runScenario({ ...plain, durationNs: 2e9, faults: [] }, { seed: 1, outDir: null });
  assert.is(summary.checks.membership, undefined);
  const text = readFileSync(file, 'utf8').replace(/^  gossip: .*\n/m, '');
  assert.not.ok(parseScenario(text, file).checks.includes('membership'));
});

const bad = (edit: (t: string) => string): string => {
  try {
    parseScenario(edit(readFileSync(file, 'utf8')), file);
  } catch (err) {
    assert.ok(err instanceof ScenarioError || err instanceof SchemaError, String(err));
    return (err as Error).message;
  }
  throw new Error('the scenario was accepted');
};

G('cluster.gossip: an unknown knob, a bad value and a gossip check without gossip are refused by name', () => {
  assert.match(bad((t) => t.replace('probeIntervalMs: 200', 'probeIntervalMillis: 200')), /probeIntervalMillis/);
  assert.match(bad((t) => t.replace('probeTimeoutMs: 100', 'probeTimeoutMs: 5000')), /probeTimeoutMs/);
  assert.match(bad((t) => t.replace(/^  gossip: .*\n/m, '').replace('faults:', 'checks: [membership]\nfaults:')), /membership needs cluster\.gossip/);
});

G.run();
