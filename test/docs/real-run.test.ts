import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's kv-lab run --real: real processes, kill -9 of the leader.
test('README: the lab against real processes', () => {
  runSections('README.md', SECTIONS['real-run.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
