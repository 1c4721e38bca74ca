import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectKv } from '../../src/host/connect.js';
import { startNodeHost, type HostSpec, type MemberAddress, type NodeHost } from '../../src/host/node-host.js';
import { silentLogger } from '../../src/env/log.js';
import { freePort, tempDir } from './helpers.js';

// Protocol-aware recovery in the real world: a Raft member whose engine files rot while it is
// down does not exit at every start (as `kv-lab serve` did: "corruption in kv/CURRENT at offset
// 0"): it quarantines them, starts empty, and is refilled from the group — real files, real
// sockets, three node hosts in this process.

const work = tempDir('repair');
const SECRET = 'repair-test-cluster-secret';
const ids = ['n1', 'n2', 'n3'];

async function addresses(): Promise<Record<string, MemberAddress>> {
  const out: Record<string, MemberAddress> = {};
  for (const id of ids) out[id] = { host: '127.0.0.1', httpPort: await freePort(), tcpPort: await freePort(), peerPort: await freePort() };
  return out;
}

function spec(id: string, a: Record<string, MemberAddress>, fatal: string[]): HostSpec {
  const me = a[id] as MemberAddress;
  return {
    id,
    dataDir: join(work, id),
    bindHost: '127.0.0.1',
    httpPort: me.httpPort,
    tcpPort: me.tcpPort,
    peerPort: me.peerPort,
    members: ids,
    peers: new Map(ids.filter((o) => o !== id).map((o) => [o, { host: '127.0.0.1', port: (a[o] as MemberAddress).peerPort }])),
    replication: 'raft',
    engine: 'lsm',
    secret: SECRET,
    auth: null,
    addresses: a,
    log: silentLogger,
    version: 'test',
    onFatal: (reason) => fatal.push(`${id}: ${reason}`),
  };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const R = suite('a member with rotten engine files');

R('quarantines them, starts, and holds the group\'s state again', async () => {
  const a = await addresses();
  const fatal: string[] = [];
  const hosts = new Map<string, NodeHost>();
  for (const id of ids) hosts.set(id, await startNodeHost(spec(id, a, fatal)));
  try {
    const nodes = Object.fromEntries(ids.map((id) => [id, `127.0.0.1:${(a[id] as MemberAddress).tcpPort}`]));
    const kv = await connectKv({ nodes, timeoutMs: 10_000 });
    for (let i = 0; i < 50; i++) await kv.put(`k${i}`, `v${i}`);
    const victim = [...hosts.values()].find((h) => h.node.status().role === 'follower') as NodeHost;
    const id = victim.spec.id;
    await until('the follower applied every write', () => victim.node.stateDigest().digest === (hosts.get(ids.find((x) => hosts.get(x)?.node.status().role === 'leader') as string) as NodeHost).node.stateDigest().digest);
    await victim.shutdown();
    hosts.delete(id);
    // A failing sector under the engine's CURRENT file.
    writeFileSync(join(work, id, 'kv', 'CURRENT'), Buffer.from([0xff, 0xfe, 0x00, 0x41]));
    for (let i = 50; i < 60; i++) await kv.put(`k${i}`, `v${i}`);
    const again = await startNodeHost(spec(id, a, fatal));
    hosts.set(id, again);
    const leader = () => [...hosts.values()].find((h) => h.node.status().role === 'leader');
    await until(`${id} holds the group's state again`, () => {
      const l = leader();
      return l !== undefined && again.node.status().role === 'follower' && again.node.stateDigest().digest === l.node.stateDigest().digest;
    });
    assert.equal(fatal, [], 'no node stopped');
    const sets = readdirSync(join(work, id, 'quarantine'));
    assert.equal(sets, ['1-engine']);
    assert.ok(existsSync(join(work, id, 'quarantine', '1-engine', 'kv', 'CURRENT')), 'the rotten file is kept for inspection');
    assert.is(await kv.get('k55'), 'v55');
    kv.close();
  } finally {
    for (const h of hosts.values()) await h.shutdown();
  }
});

R.run();
