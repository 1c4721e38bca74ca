import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { scenarioYaml } from '../../../sim/scenario-text.js';
import { chainOf, describeShrink, faultOccurrences, kindsOf, occurrencesOf, withDuration } from '../../../sim/shrink.js';

/**
 * The shrinker's moves that claim to change nothing or exactly one thing: repeated faults written
 * out one by one are the same run (same digest), and a shorter run drops the faults past its end.
 */
const P = suite('shrink: its moves');
const root = join(import.meta.dirname, '..', '..', '..');

const REPEATS = parseScenario(`name: repeats
description: repeated faults, one ending early
duration: 2s
cluster: { nodes: 3, replication: raft }
workload: { clients: 2, keys: 2 }
faults:
  - { at: 100ms, every: 150ms, for: 20ms, kind: crash, node: leader }
  - { at: 110ms, every: 230ms, until: 1s, for: 8ms, kind: pause, node: random }
  - { at: 1500ms, for: 100ms, kind: partition, shape: halves }
`, 'repeats.yaml');

P('repeated faults written out one by one are the same run, on any seed', () => {
  const expanded = { ...REPEATS, faults: REPEATS.faults.flatMap((f) => occurrencesOf(f, REPEATS.durationNs)) };
  assert.is(expanded.faults.length, faultOccurrences(REPEATS));
  // 100, 250, …, 1900: 13 crashes; 110, 340, 570, 800: 4 pauses (until 1 s); one partition.
  assert.is(expanded.faults.length, 13 + 4 + 1);
  assert.ok(expanded.faults.every((f) => f.everyNs === undefined && f.untilNs === undefined));
  for (const seed of [1, 2]) {
    const a = runScenario(REPEATS, { seed, outDir: null, skipChecks: true }).summary.digest;
    const b = runScenario(expanded, { seed, outDir: null, skipChecks: true }).summary.digest;
    assert.is(b, a, `seed ${seed}`);
  }
  const bug = join(root, 'scenarios', 'bugs', 'vote-without-persist.yaml');
  const s = parseScenario(readFileSync(bug, 'utf8'), bug);
  const e = { ...s, faults: s.faults.flatMap((f) => occurrencesOf(f, s.durationNs)) };
  assert.is(runScenario(e, { seed: 3, outDir: null, skipChecks: true }).summary.digest, runScenario(s, { seed: 3, outDir: null, skipChecks: true }).summary.digest);
});

P('a shorter run keeps the faults before its end; a repeat ends with it', () => {
  const s = withDuration(REPEATS, 1_200_000_000);
  assert.ok(s !== null);
  assert.is(s.durationNs, 1.2e9);
  assert.equal(s.faults.map((f) => f.kind), ['crash', 'pause']);
  assert.is(s.faults[1]?.untilNs, 1e9, 'an until: before the end stays');
  assert.is(withDuration(REPEATS, 2e9), null, 'not shorter: no candidate');
  assert.is(faultOccurrences(s), 8 + 4);
});

P('what was removed, in the words the command prints', () => {
  const a = { faults: 20, durationNs: 12e9, clients: 8, keys: 16, ops: 9800 };
  const b = { faults: 2, durationNs: 3e9, clients: 2, keys: 1, ops: 41 };
  assert.is(describeShrink(a, b), '20 faults → 2, 12s → 3s, 8 clients → 2, 16 keys → 1, 9,800 ops → 41');
});

P('a fault tied to an election starts that long after the next one, and its file says so', () => {
  const s = parseScenario(`name: tied
description: a leader cut off, then the next one crashed 2.5 ms after its election
duration: 1s
cluster: { nodes: 3, replication: raft, raft: { tick: 5ms, electionTicks: 5, preVote: false, checkQuorum: false } }
workload: { clients: 1, keys: 1 }
faults:
  - { at: 300ms, for: 100ms, kind: partition-one-way, from: [leader], to: [others] }
  - { at: 301ms, afterElection: 2500us, for: 50ms, kind: crash, node: leader }
`, 'tied.yaml');
  assert.is(s.faults[1]?.afterElectionNs, 2.5e6);
  assert.equal(parseScenario(scenarioYaml(s), 'again.yaml').faults.map((f) => f.afterElectionNs), [undefined, 2.5e6]);
  let due: { fault: { kind: string }; atNs: number; skipped: boolean }[] = [];
  const r = runScenario(s, { seed: 1, outDir: null, record: true, skipChecks: true, inspect: (_w, n) => (due = n.due) });
  const elections = (r.recorded?.roles ?? []).filter((x) => x.role === 'leader' && x.atNs > 300e6).map((x) => x.atNs);
  assert.ok(elections.length > 0, 'the cut-off leader is replaced');
  const crash = due.find((d) => d.fault.kind === 'crash');
  assert.is(crash?.atNs, (elections[0] as number) + 2.5e6, 'the crash comes 2.5 ms after the first election after it was armed');
  assert.is(crash?.skipped, false);
  // The crash took the newly elected leader, not the one cut off at 300ms.
  const elected = r.recorded?.roles.find((x) => x.role === 'leader' && x.atNs === elections[0])?.node;
  assert.ok(r.recorded?.bands.some((b) => b.label === `crash ${elected}` && b.startNs === crash?.atNs), `crash ${elected}`);
});

P('the faults of a chain grouped by what they do to whom, their timing aside, the most frequent first', () => {
  const s = parseScenario(`name: kinds
description: leaders cut off and crashed, one follower paused
duration: 1s
cluster: { nodes: 3, replication: raft }
workload: { clients: 1, keys: 1 }
faults:
  - { at: 0ms, afterElection: 1ms, for: 15ms, kind: partition-one-way, from: [leader], to: [others] }
  - { at: 0ms, afterElection: 10ms, for: 10ms, kind: crash, node: leader }
  - { at: 100ms, afterElection: 2ms, for: 30ms, kind: partition-one-way, from: [leader], to: [others] }
  - { at: 200ms, for: 5ms, kind: pause, node: n2 }
  - { at: 300ms, afterElection: 3ms, for: 15ms, kind: partition-one-way, from: [n1], to: [others] }
`, 'kinds.yaml');
  // As the run saw them: n1 was elected at 50 ms and 320 ms, n3 at 150 ms.
  const due = s.faults.map((fault, i) => ({ fault, atNs: [51, 60, 152, 200, 323][i]! * 1e6 }));
  const chain = chainOf(due, [50e6, 150e6, 320e6], ['n1', 'n3', 'n1']);
  assert.ok(chain !== null);
  // The last fault named n1, the leader its election made: it is a leader cut off like the others.
  const groups = kindsOf(chain).map((g) => g.map((l) => `${l.fault.kind} ${l.afterNs / 1e6}ms`));
  assert.equal(groups, [['partition-one-way 1ms', 'partition-one-way 2ms', 'partition-one-way 3ms'], ['crash 10ms'], ['pause 50ms']]);
});

P.run();
