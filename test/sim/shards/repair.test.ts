/**
 * Protocol-aware recovery on a sharded node (issue 23): each group repairs its own rotten engine
 * and snapshot files (src/node/engine-repair.ts), where one rotten table used to stop the whole
 * node at every start. scenarios/shards/rot.yaml rots them on one node after another.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';

const path = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'shards', 'rot.yaml');
const rot = parseScenario(readFileSync(path, 'utf8'), path);

test('shards/rot: every rotten shard is repaired, every node runs at the end, nothing is lost', () => {
  assert.ok(rot.checks.includes('repairs'), 'a sharded scenario runs the repairs check by default');
  const { summary } = runScenario(rot, { seed: 4, outDir: null });
  for (const name of ['convergence', 'lost-writes', 'liveness', 'raft-safety', 'repairs', 'placement'] as const) {
    assert.is(summary.checks[name]?.verdict, 'pass', `${name}: ${summary.checks[name]?.summary}`);
  }
  // Repairs from the group happened, per shard (the local snapshot and log refill most quarantined engines).
  const details = summary.checks.repairs?.details as { needed: number; repaired: number } | undefined;
  assert.ok((details?.repaired ?? 0) >= 1, `repairs: ${summary.checks.repairs?.summary}`);
});

test('shards/rot seed 9: a rotten table that only the convergence check\'s scan meets fails its group, not the simulator', () => {
  // The check read a shard's whole state while a compaction's output had rotted unseen: the
  // StorageCorruptionError went up through the run as an internal error. Now the group fails as
  // on any read (its marker, the node stops, the next start repairs the shard).
  const { summary } = runScenario({ ...rot, checks: ['convergence', 'repairs'] }, { seed: 9, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
  assert.is(summary.checks.repairs?.verdict, 'pass', summary.checks.repairs?.summary);
});

test('shards/rot seed 21: a rotten table met by a group\'s first reads stops the node for a repair, not the shard for ever', () => {
  // RaftReplica's constructor read the applied index from a rotten table; the exception vanished
  // into the engine's open callback and shard 1 of n1 never started again (liveness, convergence).
  const { summary } = runScenario({ ...rot, checks: ['convergence', 'liveness', 'placement'] }, { seed: 21, outDir: null });
  for (const name of ['convergence', 'liveness', 'placement'] as const) assert.is(summary.checks[name]?.verdict, 'pass', `${name}: ${summary.checks[name]?.summary}`);
});

test.run();
