import { test } from 'uvu';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { root, runSections, SECTIONS } from './readme.js';

// README.md's real cluster, command by command, as written: up, the CLI, status, down, the seeds'
// curl and nc commands on an --insecure cluster. Whatever fails, every cluster it started is
// stopped. The commands use the README's own directories (.kv-lab/…) and ports (8000…, 3001…,
// 9001…): if a developer's cluster is there, the test leaves it alone and says so.

const PORTS = [8000, 8001, 8002, 3001, 3002, 3003, 9001, 9002, 9003];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

test('README: Run a real cluster', async () => {
  const state = join(root, '.kv-lab');
  if (existsSync(state)) {
    console.log(`skipped: ${state} exists (a cluster of yours); the README's commands would act on it`);
    return;
  }
  const busy = [];
  for (const p of PORTS) if (!(await portFree(p))) busy.push(p);
  if (busy.length > 0) {
    console.log(`skipped: ports ${busy.join(', ')} are in use; the README's commands need them`);
    return;
  }
  try {
    runSections('README.md', SECTIONS['real-cluster.test.ts']?.sections ?? [], (l) => console.log(l), ['npx kv-lab cluster down', 'npx kv-lab cluster down --dir .kv-lab/open']);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test.run();
