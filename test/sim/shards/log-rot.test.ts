/**
 * A sharded node's shared Raft log rots (issue 23): scenarios/shards/log-rot.yaml. The node marks
 * every group it holds, cuts the log at the rot, and each group holds its votes until its leader
 * has sent it an entry of a later term (src/replication/raft-runtime/README.md). Before, a rotten
 * segment of raftlog/ stopped the node at every start.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';

const path = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'shards', 'log-rot.yaml');
const logRot = parseScenario(readFileSync(path, 'utf8'), path);

function passes(seed: number): ReturnType<typeof runScenario> {
  const result = runScenario(logRot, { seed, outDir: null });
  for (const name of logRot.checks) assert.is(result.summary.checks[name]?.verdict, 'pass', `seed ${seed} ${name}: ${result.summary.checks[name]?.summary}`);
  return result;
}

test('shards/log-rot seed 1: a rotten segment of the shared log is cut away and every group is repaired (it stopped the node at every start)', () => {
  const { summary } = passes(1);
  const details = summary.checks.repairs?.details as { needed: number; repaired: number } | undefined;
  assert.ok((details?.repaired ?? 0) >= 4, `the cut held the votes of every group of the node: ${summary.checks.repairs?.summary}`);
});

test('shards/log-rot seed 5: a cut on one member while another was restarting leaves one intact copy, and no election can lose it', () => {
  // n2 restarted after a failed fsync while n1's log was cut: the newest committed entries of
  // shard 0 were on n3 alone. The raft-safety check counted only holders and stopped the run; a
  // member holding its votes through the entry's term protects it as well as a holder does.
  passes(5);
});

test.run();
