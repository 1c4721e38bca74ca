import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's "When a disk rots": the lab's rot scenario on the seed the README names.
test('README: When a disk rots', () => {
  runSections('README.md', SECTIONS['storage-rot.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
