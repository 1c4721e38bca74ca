import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's benchmark commands, exactly as written, as smoke runs: KV_LAB_BENCH_SMOKE=1 cuts
// every size, duration and seed count to the least that runs each case once (bench/args.ts), so
// each command parses its flags and goes through every case's path in seconds instead of minutes.
// What this checks is that the commands work; their figures are measured by running them without
// the variable, as the README says. The list is split over benchmarks-1..6 (test/docs/readme.ts
// says which lines each runs) so that each file stays under a minute.

test('README: Benchmarks, as smoke runs (4 of 6)', () => {
  const own = SECTIONS['benchmarks-4.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands, { KV_LAB_BENCH_SMOKE: '1' });
});

test.run();
