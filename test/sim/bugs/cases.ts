import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { BUGS, type BugName } from '../../../src/node/bugs.js';

// A checker that cannot fail proves nothing. For every known-bug switch, its shipped scenario
// (scenarios/bugs/<bug>.yaml) must make a check fail within the stated number of seeds, and the
// seed that failed must fail again, identically, when run on its own — the command the run prints.

// The cases are split across files (raft.test.ts, clients.test.ts, txn.test.ts) so that each file stays under
// a minute; every switch in src/node/bugs.ts must be in exactly one of them (checked below).

const dir = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'bugs');

/** Which test file runs a bug switch's check (test/sim/bugs/*.test.ts, test/txn/bugs-2pc-*.test.ts). */
type BugGroup = 'raft' | 'clients' | 'txn' | 'txn2pc-prepare' | 'txn2pc-decision' | 'txn2pc-single-key' | 'shards';

/** Seeds within which each bug must be caught, and the checks expected to catch it. */
export const CAUGHT_WITHIN: Record<BugName, { seeds: number; by: string[]; group: BugGroup }> = {
  'ack-before-commit': { seeds: 5, by: ['linearizable', 'lost-writes'], group: 'clients' },
  'duplicate-apply': { seeds: 5, by: ['linearizable'], group: 'clients' },
  'ack-before-fsync': { seeds: 5, by: ['lost-writes', 'linearizable'], group: 'clients' },
  'read-without-read-index': { seeds: 5, by: ['linearizable'], group: 'clients' },
  'gateway-ack-on-forward': { seeds: 3, by: ['linearizable', 'lost-writes'], group: 'clients' },
  'skip-log-fsync': { seeds: 10, by: ['raft-safety', 'assertions', 'linearizable', 'lost-writes', 'convergence'], group: 'raft' },
  'vote-without-persist': { seeds: 30, by: ['raft-safety'], group: 'raft' },
  'commit-previous-term': { seeds: 60, by: ['raft-safety'], group: 'raft' },
  // Judged by the isolation check (src/check/txn, strict serializable) of every transactional run.
  'txn-release-locks-before-commit': { seeds: 5, by: ['isolation'], group: 'txn' },
  'txn-read-uncommitted': { seeds: 5, by: ['isolation'], group: 'txn' },
  // Two-phase commit across shards (src/node/shard-txn*.ts): test/txn/bugs-2pc-*.test.ts.
  'txn-prepare-not-durable': { seeds: 10, by: ['isolation'], group: 'txn2pc-prepare' },
  'txn-coordinator-forgets-decision': { seeds: 10, by: ['isolation'], group: 'txn2pc-decision' },
  'txn-single-key-unordered': { seeds: 3, by: ['isolation'], group: 'txn2pc-single-key' },
  // Judged by the moves check: a shard's committed membership never has fewer than R voters.
  'move-remove-early': { seeds: 3, by: ['moves'], group: 'shards' },
};

/** Registers the checks of one group of bug switches and runs them. */
export function bugSuite(group: BugGroup): void {
const B = suite(`known bugs are caught (${group})`);
const cases = (Object.entries(CAUGHT_WITHIN) as [BugName, { seeds: number; by: string[]; group: string }][]).filter(([, c]) => c.group === group);

B('every bug switch has a stated bound', () => {
  assert.equal(Object.keys(CAUGHT_WITHIN).sort(), Object.keys(BUGS).sort());
});

for (const [bug, { seeds, by }] of cases) {
  B(`${bug}: caught within ${seeds} seeds, and the failing seed reproduces`, () => {
    const file = join(dir, `${bug}.yaml`);
    const scenario = parseScenario(readFileSync(file, 'utf8'), file);
    assert.equal(scenario.bugs, [bug], 'the scenario switches on exactly this bug');
    let failing: { seed: number; digest: string; failed: string[] } | null = null;
    for (let seed = 1; seed <= seeds && failing === null; seed++) {
      const { summary } = runScenario(scenario, { seed, outDir: null });
      const failed = Object.entries(summary.checks).filter(([, c]) => c.verdict === 'fail').map(([n]) => n);
      if (!summary.passed) failing = { seed, digest: summary.digest, failed };
    }
    assert.ok(failing !== null, `${bug} was not caught in ${seeds} seeds`);
    assert.ok(failing.failed.some((c) => by.includes(c)), `${bug} was caught by ${failing.failed.join(', ')}, expected one of ${by.join(', ')}`);
    const again = runScenario(scenario, { seed: failing.seed, outDir: null }).summary;
    assert.not.ok(again.passed);
    assert.is(again.digest, failing.digest, 'the printed seed replays the same run');
    assert.is(again.reproduce, `npx kv-lab run ${file} --seed ${failing.seed}`);
  });
}

B('without the bug, the same scenarios pass on their first seeds', () => {
  for (const [bug] of cases) {
    const file = join(dir, `${bug}.yaml`);
    const scenario = { ...parseScenario(readFileSync(file, 'utf8'), file), bugs: [] };
    for (let seed = 1; seed <= 2; seed++) {
      const { summary } = runScenario(scenario, { seed, outDir: null });
      const failed = Object.entries(summary.checks).filter(([, c]) => c.verdict !== 'pass').map(([n, c]) => `${n}: ${c.summary}`);
      assert.ok(summary.passed, `${bug} scenario without the bug failed seed ${seed}:\n${failed.join('\n')}`);
    }
  }
});

B.run();
}
