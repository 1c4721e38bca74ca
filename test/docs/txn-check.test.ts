import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's "Checking transactions": each command as a user types it, held to its claim
// (readme.ts says how claims are read).

test('README: Checking transactions', () => {
  runSections('README.md', SECTIONS['txn-check.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
