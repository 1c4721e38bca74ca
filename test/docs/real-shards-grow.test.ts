import { test } from 'uvu';
import { runRealClusterSection } from './readme.js';

// README.md's sharded cluster growing and shrinking, command by command, as written: three nodes
// of 8 shards, keys written, `cluster add-node` (n4 gets its replicas by moves), a RANGE read
// through n4, `remove-node n1` (its replicas moved off, then stopped), status, a refused removal
// below the replica count, down. Its directory and ports (/tmp/kv-lab-shards-grow, base port
// 8400) are apart from the other real-cluster tests', so they can run at once; if they are taken,
// the test says so and leaves them alone. Whatever fails, the cluster is stopped.

const DIR = '/tmp/kv-lab-shards-grow';
const PORTS = [8400, 8401, 8402, 8403, 3401, 3402, 3403, 3404, 9401, 9402, 9403, 9404];

test('README: Growing and shrinking a sharded cluster', () => runRealClusterSection('real-shards-grow.test.ts', DIR, PORTS));

test.run();
