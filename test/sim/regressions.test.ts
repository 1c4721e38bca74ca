import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../sim/runner.js';
import { parseScenario, type Scenario, type WorkloadProtocol } from '../../sim/scenario.js';

// Seeds a swarm found failing, each kept as a fixed run that must pass now (and did not before
// the fix its test names).

function shipped(file: string, protocol?: WorkloadProtocol): Scenario {
  const path = join(import.meta.dirname, '..', '..', 'scenarios', file);
  const s = parseScenario(readFileSync(path, 'utf8'), path);
  return protocol === undefined ? s : { ...s, workload: { ...s.workload, protocol } };
}

test('raft/tiny-bitcask seed 9 over line: a restarted node does not snapshot past what its Raft core applied', () => {
  // `npm run swarm -- --protocol line` found n5 crash-looping on "snapshot at 2408 is past the
  // applied index 2407": its Bitcask state machine had applied an entry whose commit the core had
  // not learnt again after the restart, and a tiny snapshot threshold asked for a snapshot at once.
  const { summary } = runScenario(shipped('raft/tiny-bitcask.yaml', 'line'), { seed: 9, outDir: null });
  assert.is(summary.checks.assertions?.verdict, 'pass', summary.checks.assertions?.summary);
  assert.ok(summary.passed, JSON.stringify(Object.fromEntries(Object.entries(summary.checks).map(([k, c]) => [k, c?.verdict]))));
});

test('raft/overtaken seed 58: convergence waits for every Raft log to be applied before its power cycle', () => {
  // A swarm of 200 seeds found "after a power cycle of every node, the replicas agree on a state
  // other than the one they held" at 1872 → 1874: the replicas agreed at 1872 while a front door's
  // retry of a cas sat at 1873 on the leader's log, appended and not yet committed; after the
  // power cycle the new leader committed it. That is Raft doing its job, not a divergence.
  const s = { ...shipped('raft/overtaken.yaml'), checks: ['convergence' as const] };
  const { summary } = runScenario(s, { seed: 58, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
});

test('shards/grow-shrink seed 15: a leader that restarted answers a departed node asking whether its stale replica may go', () => {
  // A 200-seed sweep found shard 3 with a fourth replica on n9 at the end (convergence, placement):
  // n9 left the member set while its removal from shard 3 was in flight; shard 3's leader, n1,
  // restarted knowing only the new member set, so it refused n9's shard.gc as from no member, and
  // n9's stale replica ran on, pre-campaigning forever.
  const s = { ...shipped('shards/grow-shrink.yaml'), checks: ['convergence' as const, 'placement' as const] };
  const { summary } = runScenario(s, { seed: 15, outDir: null });
  assert.is(summary.checks.placement?.verdict, 'pass', summary.checks.placement?.summary);
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
});

test('shards/partitions seed 79: per-shard convergence waits for every log to be applied before the power cycle', () => {
  // A 200-seed sweep failed convergence: shard 5's three replicas agreed at position 555 while
  // entry 556 sat unapplied in two of their logs; after the power cycle the new leader committed
  // it (as Raft must) and the state moved on, which the check took for a divergence.
  const s = { ...shipped('shards/partitions.yaml'), checks: ['convergence' as const] };
  const { summary } = runScenario(s, { seed: 79, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
});

/** A rot scenario as the 200-seed sweep ran it, before its corruptions waited for the other members' repairs. */
function asSwept(s: Scenario): Scenario {
  return {
    ...s,
    faults: s.faults.map((f) => {
      if (f.kind !== 'corrupt') return f;
      const { whileOthersWhole: _, ...struck } = f;
      return struck;
    }),
  };
}

test('raft/rot-lsm seed 80: members held from campaigning by their repairs still let the others elect a leader', () => {
  // A 200-seed sweep: n1 lost its state machine, n3 its log's tail, then n2 its state machine,
  // one after another; n1, held from campaigning, kept its old leader's lease alive and ignored
  // every candidate, no leader came for 4 s, and the last intact state machine rotted meanwhile.
  // As the sweep ran it: every corruption struck on time, whether or not another member waited
  // for its repair (the scenario now waits: whileOthersWhole).
  const s = { ...asSwept(shipped('raft/rot-lsm.yaml')), checks: ['liveness' as const, 'repairs' as const] };
  const { summary } = runScenario(s, { seed: 80, outDir: null });
  assert.is(summary.checks.liveness?.verdict, 'pass', summary.checks.liveness?.summary);
  assert.is(summary.checks.repairs?.verdict, 'pass', summary.checks.repairs?.summary);
});

test('raft/rot-bitcask seed 1: a rotten length field in the last block of the log is corruption, not a torn tail', () => {
  // A 200-seed sweep: n1's log rotted in its active segment, shorter than a block; the bad record
  // was taken for a torn write and the acknowledged records after it dropped in silence, and n1
  // died on its leader's commit index, past its log's end.
  const s = { ...asSwept(shipped('raft/rot-bitcask.yaml')), checks: ['assertions' as const, 'lost-writes' as const] };
  const { summary } = runScenario(s, { seed: 1, outDir: null });
  assert.is(summary.checks.assertions?.verdict, 'pass', summary.checks.assertions?.summary);
  assert.is(summary.checks['lost-writes']?.verdict, 'pass', summary.checks['lost-writes']?.summary);
});

test('raft/rot-bitcask seed 18: a state machine found behind its log\'s compaction point is repaired, not refused at every start', () => {
  // A 200-seed sweep: n3's bitcask lost its last batch to rot that read as a torn write, came back
  // below the index its log was compacted against, and n3 refused to start until the end.
  const s = { ...asSwept(shipped('raft/rot-bitcask.yaml')), checks: ['convergence' as const, 'repairs' as const] };
  const { summary } = runScenario(s, { seed: 18, outDir: null });
  assert.is(summary.checks.convergence?.verdict, 'pass', summary.checks.convergence?.summary);
  assert.is(summary.checks.repairs?.verdict, 'pass', summary.checks.repairs?.summary);
});

test('raft/rot-bitcask seed 114: a log segment whose name a failed directory fsync dropped is not resumed as it is', () => {
  // A 200-seed sweep: a rotation created n3's next log segment and the directory fsync after it
  // failed; n3 restarted, resumed in that empty segment, installed a snapshot and acknowledged
  // entries into it, and a power loss took the segment (its name was never durable): n3 came back
  // with its log at 372 and its bitcask at 669, and stopped on "commit 680 is past the last index".
  const s = { ...shipped('raft/rot-bitcask.yaml'), checks: ['assertions' as const, 'raft-safety' as const] };
  const { summary } = runScenario(s, { seed: 114, outDir: null });
  assert.is(summary.checks.assertions?.verdict, 'pass', summary.checks.assertions?.summary);
  assert.is(summary.checks['raft-safety']?.verdict, 'pass', summary.checks['raft-safety']?.summary);
});

test.run();
