/**
 * Seeds of scenarios/shards/rot.yaml that its 200-seed sweep found failing, each a fixed run that
 * must pass now (repair.test.ts has the first ones; two files keep each under a minute).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';

const path = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'shards', 'rot.yaml');
const rot = parseScenario(readFileSync(path, 'utf8'), path);

test('shards/rot seed 83: a shard that opens late after a restart still has its log (the shared log kept it)', () => {
  // A collection of the shared log, run while n3's shard 2 waited to open, dropped its log base;
  // n3 then failed at every start ("append at 526 leaves a gap after 0").
  const { summary } = runScenario({ ...rot, checks: ['convergence', 'placement'] }, { seed: 83, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
  assert.is(summary.checks.placement?.verdict, 'pass', summary.checks.placement?.summary);
  assert.ok(!summary.nodeExits.some((e) => /leaves a gap/.test(e.reason)), 'no start failed on a log without its base');
});

test('shards/rot seed 85: a rotten table under the member-set read of a move timer fails the group, not the process', () => {
  const { summary } = runScenario({ ...rot, checks: ['assertions', 'convergence'] }, { seed: 85, outDir: null });
  assert.is(summary.checks.assertions?.verdict, 'pass', summary.checks.assertions?.summary);
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
});

test('shards/rot seed 183: a rotten table under the check for intents of a plain request fails the group, not the process', () => {
  const { summary } = runScenario({ ...rot, checks: ['assertions'] }, { seed: 183, outDir: null });
  assert.is(summary.checks.assertions?.verdict, 'pass', summary.checks.assertions?.summary);
});

test('shards/rot seed 194: a snapshot the state machine already holds is not installed again (a crash part way left half a state)', () => {
  // A repair installed snapshot 660 from the leader; then the core received the same snapshot and
  // installed it again, clearing the state first under the applied index 660; the convergence
  // check's power cycle cut that install short, and n3 came back at 660 with 16 keys of 160.
  const { summary } = runScenario({ ...rot, checks: ['convergence'] }, { seed: 194, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
});

test.run();
