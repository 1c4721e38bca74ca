import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { describeShrink, minimalYaml, shrinkScenario } from '../../../sim/shrink.js';
import type { BugName } from '../../../src/node/bugs.js';
import { CAUGHT_WITHIN } from '../bugs/cases.js';

/**
 * kv-lab shrink on every bug switch: the first failing seed of scenarios/bugs/<bug>.yaml (as
 * test/sim/bugs finds it) is shrunk; the minimal scenario, read back from the minimal.yaml text,
 * must still fail the same check, with fewer faults and operations, in at most `faultsMax` faults.
 * The switches are split over six files (shrink-*.test.ts) so that each stays under a minute.
 */
export interface ShrinkCase {
  bug: BugName;
  /** Faults the minimal scenario may keep (the target: 3). */
  faultsMax: number;
  /** Other seeds a change may move to (kv-lab shrink --seeds-per-step). */
  seedsPerStep?: number;
  runsMax?: number;
  /** The scenario, when not scenarios/bugs/<bug>.yaml (a bug switch under shards, say): its text and a name for it. */
  scenario?: { text: string; file: string; seedsMax: number };
  /** What the case is called when its bug has another case already. */
  name?: string;
}

const dir = join(import.meta.dirname, '..', '..', '..', 'scenarios', 'bugs');

export function shrinkSuite(name: string, cases: readonly ShrinkCase[]): void {
  const S = suite(`kv-lab shrink on bug switches (${name})`);
  for (const c of cases) {
    S(`${c.name ?? c.bug}: shrunk to ≤ ${c.faultsMax} faults, still failing the same check`, () => {
      const file = c.scenario?.file ?? join(dir, `${c.bug}.yaml`);
      const scenario = parseScenario(c.scenario?.text ?? readFileSync(file, 'utf8'), file);
      const seedsMax = c.scenario?.seedsMax ?? CAUGHT_WITHIN[c.bug].seeds;
      let seed = -1;
      for (let s = 1; s <= seedsMax && seed < 0; s++) if (!runScenario(scenario, { seed: s, outDir: null }).summary.passed) seed = s;
      assert.ok(seed > 0, `${c.bug} not caught within ${seedsMax} seeds`);
      const r = shrinkScenario(scenario, { seed, runsMax: c.runsMax ?? 300, seedsPerStep: c.seedsPerStep ?? 0 });
      console.log(`  ${c.name ?? c.bug} seed ${seed}, ${r.check}: ${describeShrink(r.original.size, r.minimal.size)} (${r.runs} runs)`);
      const text = minimalYaml(r, file);
      const minimal = parseScenario(text, 'minimal.yaml');
      const again = runScenario(minimal, { seed: minimal.seeds.first, outDir: null }).summary;
      assert.is(again.checks[r.check as keyof typeof again.checks]?.verdict, 'fail', `minimal.yaml no longer fails ${r.check}:\n${text}`);
      // The same run the shrinker kept, but for its name (the first line of the trace names it).
      const same = runScenario({ ...minimal, name: r.original.scenario.name }, { seed: minimal.seeds.first, outDir: null }).summary;
      assert.is(same.digest, r.minimal.digest, 'minimal.yaml replays the run the shrinker kept');
      assert.ok(r.minimal.size.faults <= c.faultsMax, `${r.minimal.size.faults} faults left:\n${text}`);
      assert.ok(r.minimal.size.faults < r.original.size.faults || r.original.size.faults === 0 || r.minimal.size.durationNs < r.original.size.durationNs, 'smaller');
      assert.ok(r.minimal.size.ops < r.original.size.ops, `${r.minimal.size.ops} operations of ${r.original.size.ops}`);
      assert.equal(minimal.bugs, [c.bug], 'the bug is still switched on');
    });
  }
  S.run();
}
