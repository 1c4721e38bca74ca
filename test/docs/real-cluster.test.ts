import { test } from 'uvu';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { realClusterBlocked, root, runSections, SECTIONS } from './readme.js';

// README.md's real cluster, command by command, as written: up, the CLI, status, down, the seeds'
// curl and nc commands on an --insecure cluster. Whatever fails, every cluster it started is
// stopped. The commands use the README's own directories (.kv-lab/…) and ports (8000…, 3001…,
// 9001…): if a developer's cluster is there, the test leaves it alone and says so.

const PORTS = [8000, 8001, 8002, 3001, 3002, 3003, 9001, 9002, 9003];

test('README: Run a real cluster', async () => {
  const state = join(root, '.kv-lab');
  const blocked = await realClusterBlocked(state, PORTS);
  if (blocked !== null) {
    console.log(`skipped: ${blocked}`);
    return;
  }
  try {
    runSections('README.md', SECTIONS['real-cluster.test.ts']?.sections ?? [], (l) => console.log(l), ['npx kv-lab cluster down', 'npx kv-lab cluster down --dir .kv-lab/open']);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test.run();
