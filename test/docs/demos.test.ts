import { test } from 'uvu';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { root, runSections, SECTIONS } from './readme.js';

// README.md's demos of the lab: each prints what the README says it shows.
test("README: the lab's demos", () => {
  try {
    runSections('README.md', SECTIONS['demos.test.ts']?.sections ?? [], (l) => console.log(l));
  } finally {
    rmSync(join(root, 'timeline.html'), { force: true }); // what the README's check --html writes
  }
});

test.run();
