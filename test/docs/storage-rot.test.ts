import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's "When a disk rots": the lab's rot scenarios on the seeds the README names, the
// single group's and the first sharded one here, the rest in storage-rot-2.test.ts (each file
// stays well under a minute).
test('README: When a disk rots', () => {
  const own = SECTIONS['storage-rot.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands);
});

test.run();
