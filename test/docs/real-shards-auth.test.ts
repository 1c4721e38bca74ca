import { test } from 'uvu';
import { runRealClusterSection } from './readme.js';

// README.md's sharded cluster with authentication, command by command, as written: five nodes of
// 16 shards without --insecure (the admin password printed and saved), a login and a write on the
// line protocol, a token from one node's HTTP port used at another's, a database, a user and a
// grant through the CLI, the user's write and its refusal where it has no grant, down. Its
// directory and ports (/tmp/kv-lab-shards-auth, base port 8600) are apart from the other
// real-cluster tests'; if they are taken, the test says so and leaves them alone. Whatever
// fails, the cluster is stopped.

const DIR = '/tmp/kv-lab-shards-auth';
const PORTS = [8600, 8601, 8602, 8603, 8604, 3601, 3602, 3603, 3604, 3605, 9601, 9602, 9603, 9604, 9605];

test('README: Authentication on a sharded cluster', () => runRealClusterSection('real-shards-auth.test.ts', DIR, PORTS));

test.run();
