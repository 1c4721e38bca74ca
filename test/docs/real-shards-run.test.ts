import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's sharded cluster in the lab's hands: `kv-lab run scenarios/real/shards-kill-leader.yaml
// --real` (real processes, kill -9 of the node leading the most shards). Apart from
// real-shards.test.ts, which runs the section's cluster commands, so that each file stays short.
test('README: A sharded cluster for real, run by the lab', () => {
  const own = SECTIONS['real-shards-run.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands);
});

test.run();
