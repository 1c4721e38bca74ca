import { test } from 'uvu';
import { runRealClusterSection } from './readme.js';

// README.md's node that joins a sharded cluster by gossip, command by command, as written: three
// nodes of 8 shards, keys written, a fourth started by hand with `serve --shards 8 --join`, waited
// for until it is in the member set, a RANGE through it, the fourth stopped by hand, down. Its
// directory and ports (/tmp/kv-lab-shards-join, base port 8500) are apart from the other
// real-cluster tests'; if they are taken, the test says so and leaves them alone. Whatever fails,
// the cluster and the fourth node are stopped.

const DIR = '/tmp/kv-lab-shards-join';
const PORTS = [8500, 8501, 8502, 8503, 3501, 3502, 3503, 3504, 9501, 9502, 9503, 9504];

test('README: A node that joins a sharded cluster by gossip', () => runRealClusterSection('real-shards-join.test.ts', DIR, PORTS, [`kill $(cat ${DIR}/n4/kv-lab.pid)`, `npx kv-lab cluster down --dir ${DIR}`]));

test.run();
