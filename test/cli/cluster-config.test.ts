import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../host/helpers.js';
import { authConfigFor, basePortRange, crossCheck, defaultPorts, firstMembersOf, loadClusterConfig, renderClusterConfig, serveNodeOptions, tokenSecretFor, type ClusterConfig } from '../../src/cli/cluster-config.js';
import { UsageError } from '../../src/cli/errors.js';
import { clusterName } from '../../src/cli/cluster.js';

// The cluster file: what cluster up writes reads back the same; defaults follow the seeds' ports;
// cross-field mistakes are caught.

const C = suite('cluster file');
const dir = tempDir('cluster-config');

C('cluster up names a cluster after its directory, validly', () => {
  assert.is(clusterName('/x/.kv-lab/cluster'), 'local');
  assert.is(clusterName('/x/my cluster!'), 'my-cluster-');
  assert.is(clusterName('/x/shop_2'), 'shop_2');
  assert.is(clusterName('/x/...'), 'local');
});

C('the default ports are the seeds\' (8000, 3001, 9001 for n1) and shift with the base', () => {
  assert.equal(defaultPorts(8000, 1), { httpPort: 8000, tcpPort: 3001, peerPort: 9001 });
  assert.equal(defaultPorts(8000, 3), { httpPort: 8002, tcpPort: 3003, peerPort: 9003 });
  assert.equal(defaultPorts(20000, 2), { httpPort: 20001, tcpPort: 15002, peerPort: 21002 });
  const r = basePortRange(3);
  assert.ok(defaultPorts(r.min, 1).tcpPort > 1024 && defaultPorts(r.max, 3).peerPort <= 65535);
});

C('a rendered file loads back to the same configuration', () => {
  const config: ClusterConfig = {
    file: join(dir, 'cluster.yaml'),
    name: 'demo',
    replication: 'raft',
    engine: 'memory',
    secretFile: join(dir, 'cluster.secret'),
    auth: { admin: 'root', adminHash: 'scrypt$16384$8$1$c2FsdA==$a2V5', tokenTtlMs: 3_600_000 },
    nodes: [1, 2, 3].map((i) => ({ id: `n${i}`, host: '127.0.0.1', ...defaultPorts(8000, i), dataDir: join(dir, 'data', `n${i}`) })),
  };
  const text = renderClusterConfig(config);
  assert.match(text, /secretFile: cluster\.secret/, 'paths are written relative');
  assert.match(text, /dataDir: data\/n1/);
  writeFileSync(config.file, text);
  assert.equal(loadClusterConfig(config.file), config);
  writeFileSync(config.file, renderClusterConfig({ ...config, auth: null }));
  assert.is(loadClusterConfig(config.file).auth, null);
  const primary = { ...config, replication: 'primary', primary: { leader: 'n2', shipIntervalMs: 20 } };
  writeFileSync(config.file, renderClusterConfig(primary));
  assert.equal(loadClusterConfig(config.file), primary);
  writeFileSync(config.file, renderClusterConfig({ ...config, replication: 'primary' }).replace('replication: primary', 'replication: primary\nprimary: { leader: n9 }'));
  assert.throws(() => loadClusterConfig(config.file), (e: unknown) => e instanceof UsageError && /primary\.leader: n9 is not one of the nodes \(n1, n2, n3\)/.test(e.message));
});

C('cross-field mistakes are listed together', () => {
  const node = (id: string, p: number, d: string) => ({ id, host: 'h', httpPort: p, tcpPort: p + 1, peerPort: p + 2, dataDir: d });
  const errors = crossCheck({ name: 'x', replication: 'none', engine: 'memory', secretFile: 's', auth: null, nodes: [node('a', 1, '/d'), node('a', 2, '/d')] });
  assert.equal(errors, [
    'nodes: id a appears twice',
    'nodes: a.httpPort h:2 is also a.tcpPort',
    'nodes: a.tcpPort h:3 is also a.peerPort',
    'nodes: a.dataDir /d is another node\'s too',
    'replication none serves exactly one node; this file has 2 (use replication: raft)',
  ]);
  writeFileSync(join(dir, 'bad.yaml'), 'secretFile: s\nauth: none\nreplication: raft\nengine: memory\nnodes:\n  - { id: n1, httpPort: 0, tcpPort: 2, peerPort: 3, dataDir: a }\n');
  assert.throws(() => loadClusterConfig(join(dir, 'bad.yaml')), (e: unknown) => e instanceof UsageError && /bad\.yaml:6:\d+: nodes\[0\]\.httpPort: must be at least 1, got 0/.test(e.message));
});

C('a sharded file keeps its founding members apart from the nodes running now', () => {
  const nodes = [1, 2, 4].map((i) => ({ id: `n${i}`, host: '127.0.0.1', ...defaultPorts(8000, i), dataDir: join(dir, 'data', `n${i}`) }));
  const config: ClusterConfig = {
    file: join(dir, 'sharded.yaml'),
    name: 'grown',
    replication: 'raft',
    engine: 'lsm',
    shards: { count: 8, replicas: 3 },
    // n3 was removed, n4 added: epoch 0 is still n1, n2, n3.
    firstMembers: ['n1', 'n2', 'n3'],
    secretFile: join(dir, 'cluster.secret'),
    auth: null,
    nodes: [nodes[0]!, nodes[1]!, { ...nodes[2]!, joined: true }],
  };
  writeFileSync(config.file, renderClusterConfig(config));
  assert.equal(loadClusterConfig(config.file), config);
  assert.equal(firstMembersOf(config), ['n1', 'n2', 'n3']);
  assert.equal(firstMembersOf({ ...config, firstMembers: undefined }), ['n1', 'n2'], 'without the field: the nodes not marked joined');
  const errors = crossCheck({ ...config, firstMembers: ['n1', 'n1'], nodes: [nodes[0]!, nodes[1]!, nodes[2]!] });
  assert.equal(errors, [
    'firstMembers: an id appears twice (n1, n1)',
    'nodes: n2 is neither one of firstMembers (n1, n1) nor marked joined: true',
    'nodes: n4 is neither one of firstMembers (n1, n1) nor marked joined: true',
    'replicas: 3 replicas per shard need 3 nodes; the cluster has 2 first members (a shard\'s replicas are on distinct nodes)',
  ]);
  assert.equal(crossCheck({ ...config, shards: undefined }), ['firstMembers: only for a sharded cluster (shards: 2 or more)']);
});

C('the token key is derived from the cluster secret, apart from it, and the same on every node', () => {
  const a = tokenSecretFor('secret-one-secret-one');
  assert.is(a, tokenSecretFor('secret-one-secret-one'));
  assert.is.not(a, tokenSecretFor('secret-two-secret-two'));
  assert.not.ok(a.includes('secret'));
  assert.equal(authConfigFor({ admin: 'root', adminHash: 'h', tokenTtlMs: 5 }, 'secret-one-secret-one'), { tokenSecret: a, root: { name: 'root', hash: 'h' }, tokenTtlMs: 5 });
  assert.is(authConfigFor(null, 'x'), null);
});

C('nodes kv-lab starts get a smaller young generation when replicated, unless one is given', () => {
  assert.equal(serveNodeOptions('raft', ['--import', 'tsx'], ''), ['--import', 'tsx', '--max-semi-space-size=4']);
  assert.equal(serveNodeOptions('primary', [], ''), ['--max-semi-space-size=4']);
  assert.equal(serveNodeOptions('none', ['--import', 'tsx'], ''), ['--import', 'tsx'], 'a single node keeps the default');
  assert.equal(serveNodeOptions('raft', ['--max-semi-space-size=16'], ''), ['--max-semi-space-size=16'], 'the caller\'s own flag wins');
  assert.equal(serveNodeOptions('raft', [], '--max-old-space-size=512 --max-semi-space-size=8'), [], 'and so does NODE_OPTIONS (inherited)');
});

C.run();
