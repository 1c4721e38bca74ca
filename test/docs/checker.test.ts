import { test } from 'uvu';
import { rmSync } from 'node:fs';
import { runSections, SECTIONS } from './readme.js';

// README.md's "The checker": a run recorded, its history checked with a timeline written, and the
// Jepsen etcd text logs checked (three of them are not linearizable: exit 1), as a user types them.
test('README: The checker', () => {
  try {
    runSections('README.md', SECTIONS['checker.test.ts']?.sections ?? [], (l) => console.log(l));
  } finally {
    rmSync('/tmp/kv-lab-check-demo', { recursive: true, force: true });
  }
});

test.run();
