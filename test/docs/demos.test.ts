import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's demos of the lab, the first one (the second: demos-2.test.ts; the rest: demos-anomalies.test.ts): each prints
// what the README says it shows.
test("README: the lab's demos", () => {
  const own = SECTIONS['demos.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands);
});

test.run();
