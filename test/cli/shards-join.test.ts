import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeBasePort, kvLab, nc, serve, tempDir, killClusterProcesses, type Served } from '../host/helpers.js';

// A node that meets a running sharded cluster by gossip alone (issue 20): three real nodes of 8
// shards with authentication; a fourth started with `serve --shards 8 --join <n1's peer port>`,
// the cluster's secret and its admin hash, and no cluster file. It asks the members it meets to
// add it, shard 0's leader writes the next member set, and replicas move to it; it then answers
// for keys written before it came, with a token issued by another node. A joiner of another
// layout is refused by the members and stops, saying why.

const J = suite('serve --shards --join');

const work = tempDir('shards-join');
const dir = join(work, 'c');
const env = { KV_LAB_CONNECTION: join(work, 'connection.json') };
const joiners: Served[] = [];
let base = 0;

process.on('exit', () => {
  for (const j of joiners) j.kill();
  killClusterProcesses(dir);
});
J.after(async () => {
  for (const j of joiners) j.kill();
  await kvLab(['cluster', 'down', '--dir', dir], env).catch(() => undefined);
  killClusterProcesses(dir);
});

async function waitFor<T>(what: string, limitMs: number, probe: () => Promise<T | null>): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Status {
  shards: { epoch: number; members: string[]; hosted: { shard: number; role: string }[] };
}

J('a node started with --shards --join becomes a member and receives replicas; tokens of the cluster work at it', async () => {
  base = await freeBasePort(5);
  const up = await kvLab(['cluster', 'up', '--nodes', '3', '--shards', '8', '--dir', dir, '--base-port', String(base)], env, undefined, 60_000);
  assert.is(up.code, 0, up.stderr + up.stdout);
  const password = readFileSync(join(dir, 'admin.password'), 'utf8').trim();
  const auth = `AUTH admin ${password}\n`;
  const puts = await nc(base - 5000 + 1, auth + 'PUT a 1\nPUT m 2\nPUT x 3\n', 20_000);
  assert.equal(puts.trim().split('\n'), ['OK', 'OK', 'OK', 'OK']);
  // The cluster's admin hash, as the cluster file holds it: the root user is checked against it on every node.
  const hash = /adminHash: (\S+)/.exec(readFileSync(join(dir, 'cluster.yaml'), 'utf8'))?.[1];
  assert.ok(hash !== undefined, 'cluster.yaml holds the admin hash');
  writeFileSync(join(work, 'admin.hash'), hash + '\n', { mode: 0o600 });
  const n4 = serve(['--id', 'n4', '--data-dir', join(work, 'n4'), '--http-port', String(base + 3), '--tcp-port', String(base - 5000 + 4), '--peer-port', String(base + 1004), '--shards', '8', '--join', `127.0.0.1:${base + 1001}`, '--secret-file', join(dir, 'cluster.secret'), '--admin-hash-file', join(work, 'admin.hash')]);
  joiners.push(n4);
  await n4.ports();
  const status = await waitFor('n4 is a member holding voting replicas', 40_000, async () => {
    const s = (await (await fetch(`http://127.0.0.1:${base + 3}/status`)).json()) as Status;
    return s.shards.members.includes('n4') && s.shards.hosted.length > 0 && s.shards.hosted.every((h) => h.role === 'leader' || h.role === 'follower') ? s : null;
  });
  assert.ok(status.shards.epoch >= 1, 'a member set after the founding one');
  // The members agree: n1 knows the same member set.
  const n1 = (await (await fetch(`http://127.0.0.1:${base}/status`)).json()) as Status;
  assert.equal(n1.shards.members, ['n1', 'n2', 'n3', 'n4']);
  // A token from n2 works at n4, and n4 answers for keys written before it came.
  const login = (await (await fetch(`http://127.0.0.1:${base + 1}/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password }) })).json()) as { token: string };
  const read = (await (await fetch(`http://127.0.0.1:${base + 3}/key/m`, { headers: { authorization: `Bearer ${login.token}` } })).json()) as { value?: string };
  assert.is(read.value, '2');
  assert.is((await nc(base - 5000 + 4, auth + 'RANGE a z\n', 20_000)).trim(), 'OK\nENTRIES 3 a 1 m 2 x 3');
  assert.is((await nc(base - 5000 + 4, 'READ a\n', 20_000)).trim().split(' ')[0], 'ERR', 'no credentials, no answer');
});

J('a joiner of another layout is refused and stops, saying why', async () => {
  const b = base;
  const r = await kvLab(['serve', '--id', 'n5', '--data-dir', join(work, 'n5'), '--http-port', String(b + 4), '--tcp-port', String(b - 5000 + 5), '--peer-port', String(b + 1005), '--shards', '4', '--join', `127.0.0.1:${b + 1001}`, '--secret-file', join(dir, 'cluster.secret'), '--insecure'], env, undefined, 30_000);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr + r.stdout, /refused to take this node into the cluster: this cluster has 8 shards of 3 replicas; n5 was started with --shards 4 --replicas 3/);
});

J.run();
