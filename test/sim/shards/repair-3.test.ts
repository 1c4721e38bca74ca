/**
 * Seeds that failed once shards kept their engines across restarts (log mode applied-index: a
 * shard's engine is its state, and a rotten one is refilled from the group's leader), each a fixed
 * run that must pass now. repair.test.ts and repair-2.test.ts have the earlier ones.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario, type Scenario } from '../../../sim/scenario.js';

function scenario(...parts: string[]): Scenario {
  const path = join(import.meta.dirname, '..', '..', '..', 'scenarios', ...parts);
  return parseScenario(readFileSync(path, 'utf8'), path);
}
const rot = scenario('shards', 'rot.yaml');

test('shards/rot seed 11: rot nobody has read yet keeps the next corrupt fault off that group\'s other copies', () => {
  // A table of shard 3 rotted on n1 and was not read again; later faults rotted shard 3 on n2 and
  // n3, so no copy of the group's state was whole and none could repair the others.
  const { summary } = runScenario({ ...rot, checks: ['convergence', 'repairs'] }, { seed: 11, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
  assert.is(summary.checks.repairs?.verdict, 'pass', summary.checks.repairs?.summary);
});

test('shards/rot seed 32: a snapshot resent while the first copy is handed over is not received again under its name', () => {
  // The repair installed the first copy and removed the file; the second, handed to the core,
  // named a file that was gone ("installing snapshot 293 whose file is missing").
  const { summary } = runScenario({ ...rot, checks: ['assertions'] }, { seed: 32, outDir: null });
  assert.is(summary.checks.assertions?.verdict, 'pass', summary.checks.assertions?.summary);
});

test('shards/rot seed 58: a repair asks the new leader when the old one stopped sending its snapshot', () => {
  // The leader stepped down two chunks into the repairing snapshot; its partial file kept n2 from
  // asking anyone else for the two minutes a partial file is kept.
  const { summary } = runScenario({ ...rot, checks: ['convergence', 'repairs'] }, { seed: 58, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
  assert.is(summary.checks.repairs?.verdict, 'pass', summary.checks.repairs?.summary);
});

test('raft/rot-lsm seed 178: the convergence check waits for a repair to end, which is once its state is durable', () => {
  const { summary } = runScenario({ ...scenario('raft', 'rot-lsm.yaml'), checks: ['convergence', 'repairs'] }, { seed: 178, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
  assert.is(summary.checks.repairs?.verdict, 'pass', summary.checks.repairs?.summary);
});

test.run();
