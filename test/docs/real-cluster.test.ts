import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's real cluster, command by command: up, the CLI, status, down, the seeds' curl and
// nc commands on an --insecure cluster. Whatever fails, every cluster it started is stopped.
test('README: Run a real cluster', () => {
  runSections('README.md', SECTIONS['real-cluster.test.ts']?.sections ?? [], (l) => console.log(l), [
    'npx kv-lab cluster down',
    'npx kv-lab cluster down --dir .kv-lab/open',
  ]);
});

test.run();
