import { test } from 'uvu';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { runSections, SECTIONS } from './readme.js';

// README.md's sharded cluster, command by command, as written: `cluster up --nodes 5 --shards 64`,
// a key written through node 1's line port and read through node 5's and node 3's HTTP port, a
// RANGE merged across shards, status per node and per shard, down. Its directory and ports
// (/tmp/kv-lab-shards, base port 8100) are apart from real-cluster.test.ts's, so both can run at
// once; if they are taken, the test says so and leaves them alone. Whatever fails, the cluster is stopped.

const DIR = '/tmp/kv-lab-shards';
const PORTS = [8100, 8101, 8102, 8103, 8104, 3101, 3102, 3103, 3104, 3105, 9101, 9102, 9103, 9104, 9105];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

test('README: A sharded cluster for real', async () => {
  if (existsSync(DIR)) {
    console.log(`skipped: ${DIR} exists (a cluster of yours?); the README's commands would act on it`);
    return;
  }
  const busy = [];
  for (const p of PORTS) if (!(await portFree(p))) busy.push(p);
  if (busy.length > 0) {
    console.log(`skipped: ports ${busy.join(', ')} are in use; the README's commands need them`);
    return;
  }
  try {
    const own = SECTIONS['real-shards.test.ts'];
    runSections('README.md', own?.sections ?? [], (l) => console.log(l), [`npx kv-lab cluster down --dir ${DIR}`], own?.commands);
  } finally {
    rmSync(DIR, { recursive: true, force: true });
  }
});

test.run();
