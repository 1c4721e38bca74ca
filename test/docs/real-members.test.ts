import { test } from 'uvu';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { runSections, SECTIONS } from './readme.js';

// README.md's growing and shrinking, command by command, as written: up, a key, `cluster
// add-node` (n4 caught up and a voter), `member list`, the key read through n4, `cluster
// remove-node n1`, the refusal to go below three voters, down. Its directory and ports
// (/tmp/kv-lab-grow, base port 8200) are apart from the other README tests', so they can run at
// once; if they are taken, the test says so and leaves them alone. Whatever fails, the cluster is
// stopped.

const DIR = '/tmp/kv-lab-grow';
const PORTS = [8200, 8201, 8202, 8203, 3201, 3202, 3203, 3204, 9201, 9202, 9203, 9204];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

test('README: Growing and shrinking a cluster', async () => {
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
    runSections('README.md', SECTIONS['real-members.test.ts']?.sections ?? [], (l) => console.log(l), [`npx kv-lab cluster down --dir ${DIR}`]);
  } finally {
    rmSync(DIR, { recursive: true, force: true });
  }
});

test.run();
