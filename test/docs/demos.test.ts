import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's demos of the lab: each prints what the README says it shows.
test("README: the lab's demos", () => {
  runSections('README.md', SECTIONS['demos.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
