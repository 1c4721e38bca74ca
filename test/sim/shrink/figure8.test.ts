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
 * The bound is 5, not the 3: measured on this tree, the shrinker takes these 8 faults to
 * 5 in 120 runs (four leaders deposed just after their election, the first one cut off and then
 * crashed); with the seed free (--seeds-per-step 16: 2,827 runs; 48: 5,387 runs) it gets no
 * further. Three faults can fail raft-safety — leaders cut off 41 µs, 0.67 ms and 15.4 ms after
 * three successive elections, for 20, 60 and 120 ms, on seed 38 (there as a matchIndex violation;
 * it passes without the bug) — but no move of the shrinker has found such a schedule. The bound
 * holds what the shrinker reaches, so that a regression fails here.
 */
const F = suite('kv-lab shrink: Figure 8 from its chain of elections');
const file = join(import.meta.dirname, 'figure8-chain.yaml');

F('figure8-chain.yaml shrinks to ≤ 5 faults that fail raft-safety, and pass without the bug', () => {
  const scenario = parseScenario(readFileSync(file, 'utf8'), file);
  const seed = scenario.seeds.first;
  const keptAt: string[] = [];
  const r = shrinkScenario(scenario, { seed, runsMax: 120, onRun: (e) => e.kept && keptAt.push(`${e.runs}: ${e.change}`) });
  console.log(`  figure8-chain seed ${seed}, ${r.check}: ${describeShrink(r.original.size, r.minimal.size)} (${r.runs} runs)`);
  assert.is(r.check, 'raft-safety');
  const text = minimalYaml(r, file);
  const minimal = parseScenario(text, 'minimal.yaml');
  assert.ok(minimal.faults.some((f) => f.afterElectionNs !== undefined), 'faults tied to elections');
  const again = runScenario(minimal, { seed: minimal.seeds.first, outDir: null }).summary;
  assert.is(again.checks['raft-safety']?.verdict, 'fail', `minimal.yaml no longer fails raft-safety:\n${text}`);
  const fixed = runScenario({ ...minimal, bugs: [] }, { seed: minimal.seeds.first, outDir: null }).summary;
  assert.is(fixed.checks['raft-safety']?.verdict, 'pass', `minimal.yaml fails without the bug:\n${text}`);
  assert.ok(r.minimal.size.faults <= 5, `${r.minimal.size.faults} faults left:\n${text}`);
  assert.ok(r.minimal.size.faults < r.original.size.faults, 'fewer faults');
  // Deterministic: the same input shrinks by the same changes at the same runs (the first 40,
  // to keep the file short: the moves after them are the same code on the same scenarios).
  const again40: string[] = [];
  shrinkScenario(scenario, { seed, runsMax: 40, onRun: (e) => e.kept && again40.push(`${e.runs}: ${e.change}`) });
  assert.ok(again40.length > 0, 'something was kept in 40 runs');
  assert.equal(again40, keptAt.filter((k) => Number(k.split(':')[0]) <= 40));
});

F.run();
