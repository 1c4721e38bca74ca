import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { describeShrink, minimalYaml, shrinkScenario } from '../../../sim/shrink.js';

/**
 * Figure 8 (bugs/commit-previous-term) from a recorded intermediate step of its shrink
 * (figure8-chain.yaml: its header says how it was made), so that the suite shrinks it in seconds.
 * The minimal scenario must fail raft-safety again, and pass with the bug switched off: what it
 * keeps is the bug's schedule, not a schedule that breaks any Raft.
 *
 * Its 8 faults go to 6 on their own seed (ddmin, merges, plainer parameters); then the plainer
 * chain (canonicalChain in sim/shrink.ts) keeps only the three leaders cut off — 41 µs, 0.67 ms
 * and 15.4 ms after three successive elections — each for 8 election timeouts, on the next seed
 * (26): 3 faults, measured at run 263 on this tree. Without the seed free to move it stops at 5.
 */
const F = suite('kv-lab shrink: Figure 8 from its chain of elections');
const file = join(import.meta.dirname, 'figure8-chain.yaml');
/** Enough for the plainer chain to be kept (run 263) and the duration cut after it. */
const RUNS_MAX = 280;

F('figure8-chain.yaml shrinks to ≤ 3 faults that fail raft-safety, and pass without the bug', () => {
  const scenario = parseScenario(readFileSync(file, 'utf8'), file);
  const seed = scenario.seeds.first;
  const keptAt: string[] = [];
  const r = shrinkScenario(scenario, { seed, runsMax: RUNS_MAX, seedsPerStep: 16, onRun: (e) => e.kept && keptAt.push(`${e.runs}: ${e.change}`) });
  console.log(`  figure8-chain seed ${seed}, ${r.check}: ${describeShrink(r.original.size, r.minimal.size)} (${r.runs} runs)`);
  assert.is(r.check, 'raft-safety');
  const text = minimalYaml(r, file);
  const minimal = parseScenario(text, 'minimal.yaml');
  assert.ok(minimal.faults.some((f) => f.afterElectionNs !== undefined), 'faults tied to elections');
  const again = runScenario(minimal, { seed: minimal.seeds.first, outDir: null }).summary;
  assert.is(again.checks['raft-safety']?.verdict, 'fail', `minimal.yaml no longer fails raft-safety:\n${text}`);
  const fixed = runScenario({ ...minimal, bugs: [] }, { seed: minimal.seeds.first, outDir: null }).summary;
  assert.is(fixed.checks['raft-safety']?.verdict, 'pass', `minimal.yaml fails without the bug:\n${text}`);
  assert.ok(r.minimal.size.faults <= 3, `${r.minimal.size.faults} faults left:\n${text}`);
  assert.ok(r.minimal.size.faults < r.original.size.faults, 'fewer faults');
  // Deterministic: the same input shrinks by the same changes at the same runs (the first 40,
  // to keep the file short: the moves after them are the same code on the same scenarios).
  const again40: string[] = [];
  shrinkScenario(scenario, { seed, runsMax: 40, seedsPerStep: 16, onRun: (e) => e.kept && again40.push(`${e.runs}: ${e.change}`) });
  assert.ok(again40.length > 0, 'something was kept in 40 runs');
  assert.equal(again40, keptAt.filter((k) => Number(k.split(':')[0]) <= 40));
});

F.run();
