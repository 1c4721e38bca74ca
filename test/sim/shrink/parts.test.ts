import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { describeShrink, faultOccurrences, occurrencesOf, withDuration } from '../../../sim/shrink.js';

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

P.run();
