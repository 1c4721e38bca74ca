import { test } from 'uvu';
import { runRealClusterSection } from './readme.js';

// README.md's sharded cluster, command by command, as written: `cluster up --nodes 5 --shards 64`,
// a key written through node 1's line port and read through node 5's and node 3's HTTP port, a
// RANGE merged across shards, status per node and per shard, down. Its directory and ports
// (/tmp/kv-lab-shards, base port 8100) are apart from real-cluster.test.ts's, so both can run at
// once; if they are taken, the test says so and leaves them alone. Whatever fails, the cluster is stopped.

const DIR = '/tmp/kv-lab-shards';
const PORTS = [8100, 8101, 8102, 8103, 8104, 3101, 3102, 3103, 3104, 3105, 9101, 9102, 9103, 9104, 9105];

test('README: A sharded cluster for real', () => runRealClusterSection('real-shards.test.ts', DIR, PORTS));

test.run();
