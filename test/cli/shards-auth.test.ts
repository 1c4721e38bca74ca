import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeBasePort, kvLab, nc, tempDir, killClusterProcesses } from '../host/helpers.js';

// Authentication on a sharded cluster of real processes (issue 20): four nodes of 8 shards, so
// that one node holds no replica of shard 0 (the catalog's group) and checks logins and tokens
// against its copy. A user made through one node logs in at every node; its token works wherever
// a request lands (forwarded to each key's shard leader with the principal, not the token); a
// new password revokes the old token at every node; a deleted user's token stops everywhere.

const A = suite('kv-lab cluster up --shards with authentication');

const work = tempDir('shards-auth');
const dir = join(work, 'c');
const env = { KV_LAB_CONNECTION: join(work, 'connection.json') };
let base = 0;

process.on('exit', () => killClusterProcesses(dir));
A.after(async () => {
  await kvLab(['cluster', 'down', '--dir', dir], env).catch(() => undefined);
  killClusterProcesses(dir);
});

const http = (i: number) => `http://127.0.0.1:${base + i - 1}`;

async function call(i: number, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(http(i) + path, { method, headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function login(i: number, username: string, password: string): Promise<string> {
  const r = await until(() => call(i, 'POST', '/auth/login', null, { username, password }), (x) => x.status === 200);
  assert.is(r.status, 200, `login of ${username} at n${i}: ${JSON.stringify(r.json)}`);
  return r.json.token as string;
}

/** Retries a call while its answer is not yet the wanted one (a catalog push on its way), for at most 5 s. */
async function until<T>(f: () => Promise<T>, ok: (t: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  let last = await f();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await f();
  }
  return last;
}

A('users, tokens and revocation hold at every node, shard 0\'s replicas or not', async () => {
  base = await freeBasePort(4);
  const up = await kvLab(['cluster', 'up', '--nodes', '4', '--shards', '8', '--dir', dir, '--base-port', String(base)], env, undefined, 60_000);
  assert.is(up.code, 0, up.stderr + up.stdout);
  assert.match(up.stdout, /authentication on/);
  assert.match(up.stdout, new RegExp(`admin password \\(printed once; saved in ${join(dir, 'admin.password').replace(/[.]/g, '\\.')}, mode 600\\)`));
  const root = await login(4, 'admin', readFileSync(join(dir, 'admin.password'), 'utf8').trim());
  assert.is((await call(1, 'PUT', '/db/shop', root)).json.ok, true);
  assert.is((await call(2, 'PUT', '/users/ann', root, { password: 'ann-pw-1' })).json.ok, true);
  assert.is((await call(3, 'POST', '/users/ann/grants', root, { db: 'shop', perms: ['read', 'write'] })).json.ok, true);
  const tokens = await Promise.all([1, 2, 3, 4].map((i) => login(i, 'ann', 'ann-pw-1')));
  // Every node, every key: each write lands on its shard's leader, mostly through a forward.
  for (let k = 0; k < 16; k++) {
    const i = (k % 4) + 1;
    const w = await call(i, 'PUT', `/db/shop/kv/k${k}`, tokens[i - 1] as string, { value: k });
    assert.is(w.json.ok, true, `write k${k} through n${i}: ${JSON.stringify(w.json)}`);
  }
  for (let k = 0; k < 16; k++) assert.is((await call(((k + 2) % 4) + 1, 'GET', `/db/shop/kv/k${k}`, tokens[0] as string)).json.value, k);
  assert.is((await call(4, 'PUT', '/kv/x', tokens[3] as string, { value: 1 })).status, 403, 'no grant on the default database');
  const line = await nc(base - 5000 + 2, 'AUTH ann ann-pw-1\nUSE shop\nREAD k3\n', 10_000);
  assert.is(line.trim(), 'OK\nOK\nJSON 3');
  // A new password: the old tokens stop at every node once the catalog reaches it.
  assert.is((await call(1, 'PUT', '/users/ann', root, { password: 'ann-pw-2' })).json.ok, true);
  for (const i of [1, 2, 3, 4]) {
    const r = await until(() => call(i, 'GET', '/db/shop/kv/k1', tokens[i - 1] as string), (x) => x.status === 401);
    assert.is(r.status, 401, `the old token at n${i}: ${JSON.stringify(r.json)}`);
  }
  const fresh = await login(3, 'ann', 'ann-pw-2');
  for (const i of [1, 2, 3, 4]) assert.is((await call(i, 'GET', '/db/shop/kv/k1', fresh)).json.value, 1, `the new token at n${i}`);
  assert.is((await call(2, 'DELETE', '/users/ann', root)).json.ok, true);
  for (const i of [1, 2, 3, 4]) assert.is((await until(() => call(i, 'GET', '/db/shop/kv/k1', fresh), (x) => x.status === 401)).status, 401, `a deleted user's token at n${i}`);
});

A.run();
