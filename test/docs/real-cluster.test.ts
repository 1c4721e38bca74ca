import { test } from 'uvu';
import { join } from 'node:path';
import { root, runRealClusterSection } from './readme.js';

// README.md's real cluster, command by command, as written: up, the CLI, status, down, the seeds'
// curl and nc commands on an --insecure cluster. Whatever fails, every cluster it started is
// stopped. The commands use the README's own directories (.kv-lab/…) and ports (8000…, 3001…,
// 9001…): if a developer's cluster is there, the test leaves it alone and says so.

const PORTS = [8000, 8001, 8002, 3001, 3002, 3003, 9001, 9002, 9003];

test('README: Run a real cluster', () => runRealClusterSection('real-cluster.test.ts', join(root, '.kv-lab'), PORTS, ['npx kv-lab cluster down', 'npx kv-lab cluster down --dir .kv-lab/open']));

test.run();
