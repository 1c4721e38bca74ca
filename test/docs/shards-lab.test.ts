import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's "Shards (Multi-Raft)": a node joining a sharded cluster under load, one seed. (The
// whole folder, one seed each, took 66 s in CI once the moves came: over a file's minute.)
test('README: Shards (Multi-Raft)', () => {
  runSections('README.md', SECTIONS['shards-lab.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
