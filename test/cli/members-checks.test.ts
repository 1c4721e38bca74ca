import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addProblem, memberRows, removeProblem, unchangeable, type Survey } from '../../src/cli/members.js';
import { loadClusterConfig, renderClusterConfig } from '../../src/cli/cluster-config.js';
import { tempDir } from '../host/helpers.js';
import { runInProcess } from './in-process.js';

// The checks `kv-lab member` and `cluster add-node/remove-node` make before a membership change,
// case by case on surveys built here (no cluster needed), and the refusals of a sharded cluster:
// its nodes' /status (served by a stand-in) and its cluster.yaml.

const C = suite('member checks');

function surveyOf(members: Record<string, { role: string | null; gossip?: string; peer?: string }>, extra: Partial<Survey> = {}): Survey {
  const ids = Object.keys(members);
  return {
    views: ids.filter((id) => members[id]?.role !== null).map((id) => ({ url: `http://${id}`, id, status: { id, role: members[id]?.role, members: ids } })),
    leader: ids.find((id) => members[id]?.role === 'leader') ?? null,
    term: 3,
    members: ids,
    tcp: new Map(ids.map((id) => [id, `${id}:3001`])),
    http: new Map(ids.map((id) => [id, `http://${id}`])),
    gossip: new Map(ids.map((id) => [id, { state: members[id]?.gossip ?? 'alive', peer: members[id]?.peer ?? `${id}:9001` }])),
    shards: null,
    ...extra,
  };
}

C('add: refused for a member, a node gossip does not know or knows dead, another address, or no gossip', () => {
  const s = surveyOf({ n1: { role: 'leader' }, n2: { role: 'follower' }, n3: { role: 'follower' } });
  assert.match(addProblem(s, 'n2', 'n2:9001') ?? '', 'n2 is already a member (members: n1, n2, n3)');
  assert.match(addProblem(s, 'n4', 'h:9004') ?? '', 'n4 has not met the cluster: start it first');
  s.gossip?.set('n4', { state: 'dead', peer: 'h:9004' });
  assert.match(addProblem(s, 'n4', 'h:9004') ?? '', 'n4 has not met the cluster (gossip says dead)');
  s.gossip?.set('n4', { state: 'alive', peer: 'h:9004' });
  assert.match(addProblem(s, 'n4', 'h:9005') ?? '', 'the cluster knows n4 at peer address h:9004, not h:9005');
  assert.is(addProblem(s, 'n4', 'h:9004'), null);
  assert.match(addProblem({ ...s, gossip: null }, 'n4', 'h:9004') ?? '', 'runs no gossip');
});

C('remove: an unknown id, the last voter, and a removal that leaves no live majority', () => {
  const s = surveyOf({ n1: { role: 'leader' }, n2: { role: 'follower' }, n3: { role: 'follower', gossip: 'dead' }, n4: { role: 'follower', gossip: 'suspect' } });
  const rows = memberRows(s);
  assert.match(removeProblem(s, 'n9', rows).problem ?? '', 'n9 is not a member (members: n1, n2, n3, n4)');
  // n1..n4, n3 dead and n4 suspect: without n2 the voters n1, n3, n4 need 2 alive, and 1 is.
  assert.match(removeProblem(s, 'n2', rows).quorum ?? '', 'removing n2 would lose quorum: the voters left (n1, n3, n4) need 2 alive to commit, and 1 are (n1)');
  // Without n3 (dead), the voters n1, n2, n4 have two alive: a majority.
  assert.equal(removeProblem(s, 'n3', rows), { problem: null, quorum: null });
  const one = surveyOf({ n1: { role: 'leader' } });
  assert.match(removeProblem(one, 'n1', memberRows(one)).problem ?? '', 'n1 is the last voter');
  // A learner does not vote: removing it never costs a quorum.
  const withLearner = surveyOf({ n1: { role: 'leader' }, n2: { role: 'follower', gossip: 'dead' }, n3: { role: 'learner' } });
  assert.equal(removeProblem(withLearner, 'n3', memberRows(withLearner)), { problem: null, quorum: null });
  // A node added a moment ago says `follower` of no one until its configuration reaches it.
  const fresh = surveyOf({ n1: { role: 'leader' }, n2: { role: 'follower' } });
  fresh.views.push({ url: 'http://n3', id: 'n3', status: { id: 'n3', role: 'follower', members: [] } });
  fresh.members.push('n3');
  assert.equal(memberRows(fresh).map((r) => r.role), ['leader', 'follower', 'joining']);
});

C('a sharded cluster: member add and remove are refused (cluster add-node / remove-node move the shards); list still answers', async () => {
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, id: 'n1', role: 'leader', term: 2, leader: 'n1', members: ['n1', 'n2', 'n3'], addresses: { n1: { host: '127.0.0.1', httpPort: port(), tcpPort: 1, peerPort: 2 } }, shards: { count: 8, replicas: 3, leading: 3, hosted: [] } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = () => (server.address() as { port: number }).port;
  const env = { KV_LAB_CONNECTION: join(tempDir('members-checks'), 'connection.json') };
  try {
    const url = `http://127.0.0.1:${port()}`;
    const add = await runInProcess(['member', 'add', 'n4', '127.0.0.1:9004', '--url', url], env);
    assert.is(add.code, 1);
    assert.match(add.stderr, 'this cluster is sharded (8 shards)');
    assert.match(add.stderr, 'grow or shrink it with kv-lab cluster add-node / remove-node');
    const remove = await runInProcess(['member', 'remove', 'n3', '--url', url], env);
    assert.is(remove.code, 1);
    assert.match(remove.stderr, 'this cluster is sharded');
    const list = await runInProcess(['member', 'list', '--url', url], env);
    assert.is(list.code, 0, list.stderr);
    assert.match(list.stdout, 'sharded: 8 shards');
  } finally {
    server.close();
  }
  assert.match(unchangeable(surveyOf({ n1: { role: 'leader' } }, { tcp: new Map() })) ?? '', 'list no member addresses');
});

C('cluster add-node and remove-node on a sharded cluster nobody answers for: refused before touching anything', async () => {
  const dir = join(tempDir('members-sharded'), 'c');
  mkdirSync(dir, { recursive: true });
  const nodes = [1, 2, 3].map((i) => `  - { id: n${i}, httpPort: ${28000 + i}, tcpPort: ${23000 + i}, peerPort: ${29000 + i}, dataDir: data/n${i} }`).join('\n');
  const text = `replication: raft\nshards: 8\nreplicas: 3\nsecretFile: cluster.secret\nauth: none\nnodes:\n${nodes}\n`;
  writeFileSync(join(dir, 'cluster.yaml'), text);
  const add = await runInProcess(['cluster', 'add-node', '--dir', dir]);
  assert.is(add.code, 1);
  assert.match(add.stderr, 'cluster add-node: no node answered');
  const remove = await runInProcess(['cluster', 'remove-node', 'n2', '--dir', dir]);
  assert.is(remove.code, 1);
  assert.match(remove.stderr, 'cluster remove-node: no node answered');
  assert.is(readFileSync(join(dir, 'cluster.yaml'), 'utf8'), text, 'cluster.yaml is untouched');
  assert.not.ok(existsSync(join(dir, 'data')), 'no node was started');
});

C('cluster.yaml: a node added later is marked joined, and the mark survives a write and a read', () => {
  const dir = join(tempDir('members-yaml'), 'c');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, 'secretFile: cluster.secret\nauth: none\nnodes:\n  - { id: n1, httpPort: 28001, tcpPort: 23001, peerPort: 29001, dataDir: data/n1 }\n  - { id: n2, httpPort: 28002, tcpPort: 23002, peerPort: 29002, dataDir: data/n2, joined: true }\n');
  const c = loadClusterConfig(file);
  assert.equal(c.nodes.map((n) => n.joined === true), [false, true]);
  writeFileSync(file, renderClusterConfig(c));
  assert.equal(loadClusterConfig(file).nodes.map((n) => n.joined === true), [false, true]);
  writeFileSync(file, 'secretFile: s\nauth: none\nnodes:\n  - { id: n1, httpPort: 1, tcpPort: 2, peerPort: 3, dataDir: d, joined: 1 }\n');
  assert.throws(() => loadClusterConfig(file), /joined.*expected true or false/s);
});

C.run();
