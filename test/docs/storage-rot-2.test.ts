import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's "When a disk rots", its last commands: the sharded node's shared log rotting, and
// cross-shard transactions over rotting engines (storage-rot.test.ts runs the first ones).
test('README: When a disk rots, the shared log and transactions', () => {
  const own = SECTIONS['storage-rot-2.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands);
});

test.run();
