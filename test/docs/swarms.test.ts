import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// scenarios/README.md's swarms, shards, merge, --explore and shrink, as the README shows them.
test('scenarios/README.md: swarms, shards and shrinking', () => {
  runSections('scenarios/README.md', SECTIONS['swarms.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
