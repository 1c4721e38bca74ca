import { test } from 'uvu';
import { rmSync } from 'node:fs';
import { runSections, SECTIONS } from './readme.js';

// README.md's "Shards (Multi-Raft)": the sharded scenarios, one seed each, through `kv-lab swarm`.
test('README: Shards (Multi-Raft)', () => {
  try {
    runSections('README.md', SECTIONS['shards-lab.test.ts']?.sections ?? [], (l) => console.log(l));
  } finally {
    rmSync('/tmp/kv-lab-shards-swarm', { recursive: true, force: true });
  }
});

test.run();
