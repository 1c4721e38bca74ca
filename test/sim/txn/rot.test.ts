/**
 * Transactions over rotting engines (issue 23): scenarios/txn/rot.yaml (one group) and
 * scenarios/txn/cross-shard-rot.yaml (4 shards). A rotten table met by a transaction's read fails
 * that replica as a rotten read in apply does (RaftReplica's txnView, src/node/engine-repair.ts);
 * the node stops and its next start repairs the engine from the group. Each seed here ended with a
 * node process dying on the exception before its fix.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario, type Scenario } from '../../../sim/scenario.js';

function load(name: string): Scenario {
  const path = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'txn', name);
  return parseScenario(readFileSync(path, 'utf8'), path);
}

function passes(s: Scenario, seed: number): void {
  const { summary } = runScenario(s, { seed, outDir: null });
  for (const name of s.checks) assert.is(summary.checks[name]?.verdict, 'pass', `seed ${seed} ${name}: ${summary.checks[name]?.summary}`);
}

const rot = load('rot.yaml');
const crossShard = load('cross-shard-rot.yaml');

test('txn/rot seed 14: a node stopping for a rotten table aborts its transactions without resuming the ones waiting for their locks', () => {
  // TxnService.dropTables aborted one transaction at a time; each abort released its locks,
  // which granted them to a waiting PUT and ran it, and its read met the rotten table again.
  passes(rot, 14);
});

test('txn/rot seed 25: a compaction\'s sync waits for the writes stalled in the LSM instead of asking again until the stack overflows', () => {
  passes(rot, 25);
});

test('txn/cross-shard-rot seed 3: a participant\'s sweep that scans its intents over a rotten table fails that group, not the process', () => {
  passes(crossShard, 3);
});

test('txn/cross-shard-rot seed 67: an LSM that fails inside its own stall check (a rotten table under a compaction) answers its queued writes, and its write queue is not read past', () => {
  passes(crossShard, 67);
});

test.run();
