// Runs scenarios over a range of seeds for scripts/mutate.mjs, inside a scratch copy of the tree:
// seed 1 of every scenario, then seed 2 of every scenario, and so on, stopping at the first run
// that fails. Prints one JSON line: {"caught": bool, "scenario", "seed", "failed": [checks], "runs"}.
//
// Usage (from the tree's root): node --import tsx .mutate-scenarios.ts A..B file.yaml …
import { readFileSync } from 'node:fs';
import { runScenario } from './sim/runner.js';
import { parseScenario } from './sim/scenario.js';

const [range, ...files] = process.argv.slice(2);
const m = /^(\d+)\.\.(\d+)$/.exec(range ?? '');
if (m === null || files.length === 0) {
  console.error('usage: .mutate-scenarios.ts A..B file.yaml …');
  process.exit(2);
}
const [first, last] = [Number(m[1]), Number(m[2])];
const scenarios = files.map((f) => parseScenario(readFileSync(f, 'utf8'), f));
let runs = 0;
for (let seed = first; seed <= last; seed++) {
  for (const s of scenarios) {
    runs++;
    let failed: string[];
    try {
      const { summary } = runScenario(s, { seed, outDir: null });
      if (summary.passed) continue;
      failed = Object.entries(summary.checks)
        .filter(([, c]) => (c.expected === 'fail' ? c.verdict !== 'fail' : c.verdict !== 'pass' && c.verdict !== 'skipped'))
        .map(([name]) => name);
    } catch (err) {
      // The simulator itself stopped (an exception outside any node): the mutant broke the run.
      failed = [`crashed: ${(err as Error).message.split('\n')[0]}`];
    }
    console.log(JSON.stringify({ caught: true, scenario: s.file, seed, failed, runs }));
    process.exit(0);
  }
}
console.log(JSON.stringify({ caught: false, runs }));
