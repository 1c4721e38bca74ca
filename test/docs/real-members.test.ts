import { test } from 'uvu';
import { runRealClusterSection } from './readme.js';

// README.md's growing and shrinking, command by command, as written: up, a key, `cluster
// add-node` (n4 caught up and a voter), `member list`, the key read through n4, `cluster
// remove-node n1`, the refusal to go below three voters, down. Its directory and ports
// (/tmp/kv-lab-grow, base port 8200) are apart from the other README tests', so they can run at
// once; if they are taken, the test says so and leaves them alone. Whatever fails, the cluster is
// stopped.

const DIR = '/tmp/kv-lab-grow';
const PORTS = [8200, 8201, 8202, 8203, 3201, 3202, 3203, 3204, 9201, 9202, 9203, 9204];

test('README: Growing and shrinking a cluster', () => runRealClusterSection('real-members.test.ts', DIR, PORTS));

test.run();
