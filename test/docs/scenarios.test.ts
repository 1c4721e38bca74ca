import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// scenarios/README.md's commands.
test('scenarios/README.md: running scenarios', () => {
  runSections('scenarios/README.md', SECTIONS['scenarios.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
