import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { KvError } from '../../src/client/remote.js';
import { connectKv, discoverNodes, HttpKvClient } from '../../src/host/connect.js';
import { startNodeHost, type HostSpec, type MemberAddress, type NodeHost } from '../../src/host/node-host.js';
import { KvHttpError } from '../../src/client/http-client.js';
import { silentLogger } from '../../src/env/log.js';
import { hashPassword } from '../../src/node/auth.js';
import { authConfigFor } from '../../src/cli/cluster-config.js';
import { freePort, tempDir } from './helpers.js';

// The exported clients against node hosts started in this process: connectKv over the TCP client
// ports (login, leader discovery, a leader that stops), HttpKvClient against a follower (which
// forwards), and discoverNodes.

const work = tempDir('remote');
const SECRET = 'remote-test-cluster-secret';
const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 };
const auth = authConfigFor({ admin: 'admin', adminHash: hashPassword('admin-password', new Uint8Array(16).fill(1), cheap), tokenTtlMs: 3_600_000 }, SECRET);

async function cluster(ids: string[]): Promise<{ hosts: NodeHost[]; addresses: Record<string, MemberAddress> }> {
  const addresses: Record<string, MemberAddress> = {};
  for (const id of ids) addresses[id] = { host: '127.0.0.1', httpPort: await freePort(), tcpPort: await freePort(), peerPort: await freePort() };
  const hosts = await Promise.all(
    ids.map((id) => {
      const a = addresses[id] as MemberAddress;
      const spec: HostSpec = {
        id,
        dataDir: join(work, `${ids.length}-${id}`),
        bindHost: '127.0.0.1',
        httpPort: a.httpPort,
        tcpPort: a.tcpPort,
        peerPort: a.peerPort,
        members: ids,
        peers: new Map(ids.filter((o) => o !== id).map((o) => [o, { host: '127.0.0.1', port: (addresses[o] as MemberAddress).peerPort }])),
        replication: ids.length === 1 ? 'none' : 'raft',
        engine: 'memory',
        secret: SECRET,
        auth,
        addresses,
        log: silentLogger,
        version: 'test',
      };
      return startNodeHost(spec);
    }),
  );
  return { hosts, addresses };
}

const clientPorts = (addresses: Record<string, MemberAddress>) => Object.fromEntries(Object.entries(addresses).map(([id, a]) => [id, `127.0.0.1:${a.tcpPort}`]));

async function leaderOf(hosts: NodeHost[]): Promise<NodeHost> {
  for (let i = 0; i < 200; i++) {
    const leader = hosts.find((h) => h.node.status().role === 'leader');
    if (leader !== undefined && hosts.every((h) => h.node.status().leader === leader.spec.id || h.node.status().role === 'stopped')) return leader;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no leader');
}

const R = suite('clients against real hosts');

R('one node: login is required, a wrong password is a definite unauthorized, then every helper works', async () => {
  const { hosts, addresses } = await cluster(['n1']);
  try {
    const nodes = clientPorts(addresses);
    await connectKv({ nodes, username: 'admin', password: 'wrong' }).then(
      () => assert.unreachable('logged in with a wrong password'),
      (e: unknown) => assert.ok(e instanceof KvError && e.code === 'unauthorized' && e.definite),
    );
    const anonymous = await connectKv({ nodes, timeoutMs: 2000 });
    await anonymous.get('k').then(
      () => assert.unreachable('read without a token'),
      (e: unknown) => assert.ok(e instanceof KvError && e.code === 'unauthorized'),
    );
    anonymous.close();
    const kv = await connectKv({ nodes, username: 'admin', password: 'admin-password' });
    await kv.put('nickname', 'codejitsu');
    assert.is(await kv.get('nickname'), 'codejitsu');
    assert.is(await kv.get('absent'), null);
    await kv.cas('nickname', 'codejitsu', 'ninja');
    await kv.cas('nickname', 'codejitsu', 'x').then(
      () => assert.unreachable('cas on a stale value'),
      (e: unknown) => assert.ok(e instanceof KvError && e.code === 'cas_mismatch' && e.definite),
    );
    await kv.append('log', 'a');
    await kv.append('log', 'b');
    await kv.batch([{ f: 'write', key: 'b1', value: 1 }, { f: 'write', key: 'b2', value: 2 }]);
    assert.equal(await kv.range('b', 'c'), [['b1', 1], ['b2', 2]]);
    await kv.delete('b1');
    await kv.createDatabase('shop');
    assert.equal(await kv.listDatabases(), ['', 'shop']);
    assert.is(await kv.get('log'), 'ab');
    kv.close();
    await discoverNodes(`http://127.0.0.1:${addresses.n1?.httpPort}`).then((found) => assert.equal(found, nodes));
  } finally {
    await Promise.all(hosts.map((h) => h.shutdown()));
  }
});

R('three Raft nodes: the client finds the leader, followers forward HTTP, and a stopped leader is replaced', async () => {
  const { hosts, addresses } = await cluster(['n1', 'n2', 'n3']);
  try {
    const leader = await leaderOf(hosts);
    const follower = hosts.find((h) => h !== leader) as NodeHost;
    // The client is told only the followers first: not_leader hints lead it to the leader.
    const nodes = clientPorts(addresses);
    const ordered = Object.fromEntries([...Object.entries(nodes).filter(([id]) => id !== leader.spec.id), [leader.spec.id, nodes[leader.spec.id] as string]]);
    const kv = await connectKv({ nodes: ordered, username: 'admin', password: 'admin-password', timeoutMs: 10_000, attemptTimeoutMs: 500 });
    await kv.put('k', 'v1');
    assert.is(await kv.get('k'), 'v1');
    const http = new HttpKvClient({ urls: [`http://127.0.0.1:${follower.httpPort}`], username: 'admin', password: 'admin-password' });
    await http.put('via-follower', 1);
    assert.is(await http.get('via-follower'), 1);
    assert.ok(follower.gateway.forwarded.value >= 2, 'the follower forwarded both');
    await http.cas('via-follower', 7, 8).then(
      () => assert.unreachable('cas on a stale value'),
      (e: unknown) => assert.ok(e instanceof KvHttpError && e.code === 'cas_mismatch' && e.status === 409),
    );
    await leader.shutdown();
    await kv.put('k', 'v2');
    assert.is(await kv.get('k'), 'v2');
    const next = await leaderOf(hosts.filter((h) => h !== leader));
    assert.is.not(next.spec.id, leader.spec.id);
    kv.close();
  } finally {
    await Promise.all(hosts.map((h) => h.shutdown()));
  }
});

R.run();
