/**
 * A check that cannot fail proves nothing: with shards on, a known-bug switch (src/node/bugs.ts)
 * must still be caught, and the same run without it must pass.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { SHARDED_READ_BUG } from './read-bug.js';

const buggy = SHARDED_READ_BUG;

test('a known bug is still caught with shards on: read-without-read-index fails linearizability', () => {
  const s = parseScenario(buggy, 'shards-bug.yaml');
  const { summary } = runScenario(s, { seed: 1, outDir: null });
  assert.is(summary.checks.linearizable?.verdict, 'fail', summary.checks.linearizable?.summary);
  // Without the bug, the same run passes: the failure is the bug's.
  const clean = runScenario({ ...s, bugs: [] }, { seed: 1, outDir: null }).summary;
  assert.is(clean.checks.linearizable?.verdict, 'pass', clean.checks.linearizable?.summary);
  assert.ok(clean.passed, JSON.stringify(clean.checks, null, 1));
});

test.run();
