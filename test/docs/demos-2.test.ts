import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's demos of the lab, the second one (demos.test.ts runs the first; one file took 82 s
// in CI): it prints what the README says it shows.
test("README: the lab's demos", () => {
  const own = SECTIONS['demos-2.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands);
});

test.run();
