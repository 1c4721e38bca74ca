import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineClient, nc, serve, tempDir, type Served } from './helpers.js';

// One `kv-lab serve` process with authentication, on loopback with free ports: the HTTP API as
// curl would use it, the line protocol as nc would, strangers refused (and logged), metrics and
// OpenAPI, then SIGTERM and a restart on the same data directory.

const S = suite('kv-lab serve (one node, authentication on)');

let node: Served;
let base = '';
let tcp = 0;
let password = '';
let dataDir = '';
let adminAuth = '';

S.before(async () => {
  dataDir = join(tempDir('serve'), 'n1');
  node = serve(['--id', 'n1', '--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0']);
  const ports = await node.ready();
  base = `http://127.0.0.1:${ports.http}`;
  tcp = ports.tcp;
  password = readFileSync(join(dataDir, 'admin.password'), 'utf8').trim();
  adminAuth = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
});

S.after(() => node?.kill());

async function http(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : { text }, headers: res.headers };
}

const admin = (method: string, path: string, body?: unknown) => http(method, path, body, { authorization: adminAuth });

S('the first start generated an admin password, mode 600, and said how to log in', () => {
  assert.is(statSync(join(dataDir, 'admin.password')).mode & 0o777, 0o600);
  assert.match(node.stderrText, /first start: no admin password was configured/);
  assert.match(node.stderrText, /kv-lab connect --host 127\.0\.0\.1 --port \d+ --username admin --password-file /);
  assert.not.match(node.stderrText, new RegExp(password), 'the password itself is never logged');
});

S('strangers are refused with 401 and logged; a wrong password too', async () => {
  const r = await http('GET', '/kv/x');
  assert.is(r.status, 401);
  assert.equal([r.body.ok, r.body.code], [false, 'unauthorized']);
  assert.match(r.headers.get('www-authenticate') ?? '', /Bearer/);
  const wrong = await http('GET', '/kv/x', undefined, { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` });
  assert.is(wrong.status, 401);
  const garbage = await http('GET', '/kv/x', undefined, { authorization: 'Token abc' });
  assert.is(garbage.status, 401);
  assert.match(String(garbage.body.message), /malformed Authorization header/);
  await node.event('http.denied');
  assert.ok(node.events.some((e) => e.event === 'auth.denied' && e.op === 'auth.login'), 'the failed login is logged by the node');
});

S('the seeds\' curl usage: PUT /key/k with {"value"}, GET /key/k, /kv alias, DELETE', async () => {
  assert.equal((await admin('PUT', '/key/k', { value: 'v' })).body, { ok: true, key: 'k' });
  assert.equal((await admin('GET', '/key/k')).body, { ok: true, key: 'k', value: 'v' });
  assert.equal((await admin('GET', '/kv/k')).body, { ok: true, key: 'k', value: 'v' });
  assert.equal((await admin('PUT', '/kv/obj', { value: { a: [1, null] } })).status, 200);
  assert.equal((await admin('GET', '/kv/obj')).body.value, { a: [1, null] });
  assert.is((await admin('DELETE', '/kv/k')).status, 200);
  const gone = await admin('GET', '/kv/k');
  assert.equal([gone.status, gone.body.code], [404, 'not_found']);
  const raw = await http('PUT', '/kv/raw', 'just bytes', { authorization: adminAuth, 'content-type': 'application/octet-stream' });
  assert.is(raw.status, 200);
  assert.is((await admin('GET', '/kv/raw')).body.value, 'just bytes');
});

S('keys with slashes, spaces and Unicode travel percent-encoded', async () => {
  const key = 'a/b c/é🙂';
  assert.is((await admin('PUT', `/kv/${encodeURIComponent(key)}`, { value: 1 })).status, 200);
  assert.equal((await admin('GET', `/kv/${encodeURIComponent(key)}`)).body, { ok: true, key, value: 1 });
  assert.is((await admin('GET', '/kv/%E0%A4%A')).status, 400, 'malformed percent-encoding');
});

S('cas answers 409 on a mismatch; append; batch is atomic; range pages', async () => {
  await admin('PUT', '/kv/c', { value: 1 });
  const miss = await admin('POST', '/kv/c/cas', { expected: 2, value: 3 });
  assert.equal([miss.status, miss.body.code], [409, 'cas_mismatch']);
  assert.equal((await admin('POST', '/kv/c/cas', { expected: 1, value: 3 })).body, { ok: true, key: 'c', value: 3 });
  assert.is((await admin('POST', '/kv/fresh/cas', { expected: null, value: 'new' })).status, 200, 'null expects absent');
  await admin('POST', '/kv/s/append', { value: 'ab' });
  await admin('POST', '/kv/s/append', { value: 'cd' });
  assert.is((await admin('GET', '/kv/s')).body.value, 'abcd');
  const failing = await admin('POST', '/batch', { ops: [{ op: 'put', key: 'b1', value: 1 }, { op: 'cas', key: 'c', expected: 99, value: 0 }] });
  assert.is(failing.status, 409);
  assert.is((await admin('GET', '/kv/b1')).status, 404, 'nothing of a failed batch is applied');
  assert.equal((await admin('POST', '/batch', { ops: [{ op: 'put', key: 'b1', value: 1 }, { op: 'put', key: 'b2', value: 2 }, { op: 'delete', key: 'c' }] })).body, { ok: true, count: 3 });
  const page = await admin('GET', '/kv?start=b&end=c&limit=1');
  assert.equal(page.body.entries, [{ key: 'b1', value: 1 }]);
  assert.is(page.body.next, 'b1\u0000');
  const rest = await admin('GET', `/kv?start=${encodeURIComponent(String(page.body.next))}&end=c&limit=10`);
  assert.equal(rest.body.entries, [{ key: 'b2', value: 2 }]);
  assert.is(rest.body.next, undefined);
  const rev = await admin('GET', '/kv?start=b&end=c&reverse=true');
  assert.equal((rev.body.entries as { key: string }[]).map((e) => e.key), ['b2', 'b1']);
});

S('bad requests get JSON errors with the right status, never a stack trace', async () => {
  const cases: [string, string, unknown, number, RegExp][] = [
    ['PUT', '/kv/k', '{"value":', 400, /not JSON/],
    ['PUT', '/kv/k', { nothing: 1 }, 400, /no "value"/],
    ['PUT', '/kv/k', [1, 2], 400, /JSON object/],
    ['POST', '/kv/k/cas', { value: 1 }, 400, /no "expected"/],
    ['POST', '/batch', { ops: [] }, 400, /1\.\.10000/],
    ['POST', '/batch', { ops: [{ op: 'explode', key: 'k' }] }, 400, /ops\[0\]/],
    ['GET', '/kv?limit=0', undefined, 400, /limit must be an integer/],
    ['GET', '/kv?reverse=maybe', undefined, 400, /reverse must be true or false/],
    ['PUT', `/kv/${'k'.repeat(1100)}`, { value: 1 }, 413, /key is longer than 1024 bytes/],
    ['PUT', '/kv/big', { value: 'x'.repeat(1024 * 1024 + 10) }, 413, /value is larger than/],
    ['GET', '/nowhere', undefined, 404, /no route GET \/nowhere/],
    ['PATCH', '/kv/k', undefined, 405, /use GET, PUT, DELETE/],
    ['GET', '/db/bad$name/kv/k', undefined, 400, /database name/],
    ['GET', '/db/missing/kv/k', undefined, 404, /no database/],
  ];
  for (const [method, path, body, status, message] of cases) {
    const r = await admin(method, path, body);
    assert.is(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.is(r.body.ok, false);
    assert.match(String(r.body.message), message, `${method} ${path}`);
    assert.not.match(String(r.body.message), /\n\s+at /, 'no stack trace');
  }
  const huge = await fetch(`${base}/batch`, { method: 'POST', headers: { authorization: adminAuth, 'content-type': 'application/json' }, body: 'x'.repeat(9 * 1024 * 1024) });
  assert.is(huge.status, 413);
});

S('tokens from /auth/login; databases and per-database permissions (403 and logged)', async () => {
  const login = await http('POST', '/auth/login', { username: 'admin', password });
  assert.is(login.status, 200);
  const token = String(login.body.token);
  const bearer = { authorization: `Bearer ${token}` };
  assert.is((await http('PUT', '/db/shop', undefined, bearer)).status, 201);
  assert.is((await http('PUT', '/db/shop', undefined, bearer)).status, 409);
  assert.equal((await http('GET', '/db', undefined, bearer)).body.databases, ['', 'shop']);
  assert.is((await http('PUT', '/users/ann', { password: 'ann-password' }, bearer)).status, 200);
  assert.is((await http('PUT', '/users/bob', { password: 'short' }, bearer)).status, 400, 'a password under 8 characters');
  assert.is((await http('POST', '/users/ann/grants', { db: 'shop', perms: ['read'] }, bearer)).status, 200);
  const users = (await http('GET', '/users', undefined, bearer)).body.users as { name: string; grants: unknown }[];
  assert.equal(users, [{ name: 'ann', grants: { shop: ['read'] } }]);
  assert.not.match(JSON.stringify(users), /scrypt|ann-password/, 'no hash or password is listed');
  assert.is((await http('PUT', '/db/shop/kv/item', { value: 5 }, bearer)).status, 200);
  const ann = { authorization: `Basic ${Buffer.from('ann:ann-password').toString('base64')}` };
  assert.equal((await http('GET', '/db/shop/kv/item', undefined, ann)).body.value, 5);
  const denied = await http('PUT', '/db/shop/kv/item', { value: 6 }, ann);
  assert.equal([denied.status, denied.body.code], [403, 'forbidden']);
  assert.is((await http('GET', '/kv/s', undefined, ann)).status, 403, 'no grant on the default database');
  await node.event('http.denied');
  assert.ok(node.events.some((e) => e.event === 'http.denied' && e.code === 'forbidden'));
  assert.equal((await http('DELETE', '/db/shop', undefined, bearer)).body, { ok: true, db: 'shop', keysDeleted: 1 });
  assert.is((await http('DELETE', '/users/ann', undefined, bearer)).status, 200);
});

S('the line protocol as nc uses it: one connection per command, replies before the close', async () => {
  assert.is(await nc(tcp, 'PUT nickname codejitsu\n'), 'ERR unauthorized authentication required: log in first\n');
  assert.is(await nc(tcp, `AUTH admin ${password}\nPUT nickname codejitsu\n`), 'OK\nOK\n');
  assert.is(await nc(tcp, `AUTH admin ${password}\nREAD nickname\n`), 'OK\nVALUE codejitsu\n');
  assert.is(await nc(tcp, `AUTH admin ${password}\r\nGET nickname`), 'OK\r\nVALUE codejitsu\n'.replace('\r', ''), 'CRLF lines and a last line without newline');
  assert.is(await nc(tcp, 'AUTH admin wrong\nPING\n'), 'ERR unauthorized wrong user name or password\nPONG\n');
  await node.event('line.denied');
});

S('the line protocol keeps a connection usable after errors, and replies in order when pipelined', async () => {
  const c = await LineClient.connect(tcp);
  try {
    assert.is(await c.command(`AUTH admin "${password}"`), 'OK');
    assert.is(await c.command('BOGUS stuff'), 'ERR bad_request unknown command BOGUS; commands: PUT GET DELETE CAS APPEND BATCHPUT RANGE BEGIN COMMIT ROLLBACK USE AUTH PING QUIT (READ and DEL are aliases)');
    assert.is(await c.command('PUT "unterminated'), 'ERR bad_request unterminated quoted token starting at column 5');
    assert.is(await c.command('PUT "two words" "a \\"quoted\\" value"'), 'OK');
    assert.is(await c.command('GET "two words"'), 'VALUE "a \\"quoted\\" value"');
    assert.is(await c.command('GET obj'), 'JSON "{\\"a\\":[1,null]}"');
    assert.is(await c.command('GET nothing-here'), 'NIL');
    assert.is(await c.command('CAS nickname wrong x'), 'ERR cas_mismatch expected "wrong", found "codejitsu"');
    assert.is(await c.command('USE no$such'), 'ERR bad_request a database name has 1-64 letters, digits, _ and -; USE "" selects the default');
    assert.is(await c.command('USE nosuch'), 'OK');
    assert.is(await c.command('GET k'), 'ERR no_such_db no database "nosuch"');
    assert.is(await c.command('USE ""'), 'OK');
    c.send(Buffer.from([0x47, 0x45, 0x54, 0x20, 0xff, 0xfe, 0x0a])); // GET <invalid UTF-8>
    assert.equal(await c.read(1), ['ERR bad_request the line is not valid UTF-8']);
    c.send('x'.repeat(5 * 1024 * 1024) + '\nPING\n');
    assert.equal(await c.read(2), ['ERR too_large line longer than 4194304 bytes; skipped', 'PONG']);
    const n = 200;
    let pipeline = '';
    for (let i = 0; i < n; i++) pipeline += `PUT p${i} v${i}\nGET p${i}\n`;
    c.send(pipeline);
    const replies = await c.read(2 * n);
    for (let i = 0; i < n; i++) assert.equal([replies[2 * i], replies[2 * i + 1]], ['OK', `VALUE v${i}`], `pipelined pair ${i}`);
    assert.is(await c.command('BATCHPUT r1 1 r2 "2 2" r3 3'), 'OK');
    assert.is(await c.command('RANGE r ra'), 'ENTRIES 3 r1 1 r2 "2 2" r3 3');
    assert.is(await c.command('RANGE r ra 1'), 'ENTRIES 1 r1 1');
    assert.is(await c.command('APPEND r1 +'), 'OK');
    assert.is(await c.command('DEL r3'), 'OK');
    assert.is(await c.command('RANGE r ra'), 'ENTRIES 2 r1 1+ r2 "2 2"');
    assert.is(await c.command('QUIT'), 'OK');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(c.closed, 'QUIT closes the connection');
  } finally {
    c.close();
  }
});

S('/health, /status, /metrics and /openapi.json need no credentials', async () => {
  const health = await http('GET', '/health');
  assert.equal([health.status, health.body.role, health.body.leader], [200, 'leader', 'n1']);
  const status = await http('GET', '/status');
  assert.equal([status.body.id, status.body.replication, status.body.members], ['n1', 'none', ['n1']]);
  assert.ok(Number(status.body.appliedIndex) > 0);
  const metrics = await fetch(`${base}/metrics`);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  for (const name of ['kvlab_requests_total{api="http",op="write",outcome="ok"}', 'kvlab_requests_total{api="tcp",op="write",outcome="ok"}', 'kvlab_request_duration_seconds_bucket{api="tcp",op="read",le="+Inf"}', 'kvlab_raft_term ', 'kvlab_raft_commit_index ', 'kvlab_node_counters_requests_total ', 'kvlab_storage_used_bytes ', 'kvlab_http_responses_total{status="401"}']) {
    assert.ok(text.includes(name), `metrics has ${name}`);
  }
  for (const line of text.trimEnd().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+(Inf)?)$/, `a Prometheus line: ${line}`);
  // The engine's own figures, added up over the node's engines (one here): memory, disk, writes, background work.
  const storage = status.body.storage as { engines: number; writes: number; memoryBytes: number };
  assert.is(storage.engines, 1);
  assert.ok(storage.writes > 0 && storage.memoryBytes > 0, `status.storage: ${JSON.stringify(storage)}`);
  const writes = /^kvlab_node_storage_writes_total (\d+)$/m.exec(text);
  assert.ok(writes !== null && Number(writes[1]) > 0, 'metrics has kvlab_node_storage_writes_total, a counter');
  for (const name of ['kvlab_node_storage_memory_bytes ', 'kvlab_node_storage_disk_bytes ', 'kvlab_node_storage_cache_hits_total ', 'kvlab_node_storage_compactions_total ', 'kvlab_node_storage_failed ']) assert.ok(text.includes(name), `metrics has ${name}`);
  const doc = (await http('GET', '/openapi.json')).body as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.is(doc.openapi, '3.1.0');
  for (const path of ['/kv/{key}', '/key/{key}', '/db/{db}/kv/{key}', '/kv/{key}/cas', '/kv', '/batch', '/health', '/status', '/metrics', '/auth/login']) assert.ok(doc.paths[path], `documented: ${path}`);
});

S('SIGTERM stops in order (exit 0); a restart finds its data directory and admin again', async () => {
  node.kill('SIGTERM');
  const exit = await node.exited;
  assert.equal(exit, { code: 0, signal: null }, node.stderrText.slice(-2000));
  for (const line of node.stderrText.trimEnd().split('\n')) assert.ok(line.startsWith('{') && JSON.parse(line), `stderr is JSON lines only: ${line}`);
  const names = node.events.map((e) => e.event);
  assert.ok(names.indexOf('serve.stopping') < names.indexOf('serve.stopped'), 'stopping, then stopped');
  node = serve(['--id', 'n1', '--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0']);
  const ports = await node.ready();
  base = `http://127.0.0.1:${ports.http}`;
  assert.not.match(node.stderrText, /first start/, 'the admin of the first start is kept');
  assert.is((await admin('GET', '/health')).status, 200);
  assert.is((await admin('PUT', '/kv/after-restart', { value: 1 })).status, 200, 'the same password still works');
});

S('a second node on the same data directory is refused', async () => {
  const second = serve(['--id', 'n1', '--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0']);
  const exit = await second.exited;
  assert.is(exit.code, 1);
  assert.match(second.stderrText, /data directory .* is in use by process \d+/);
});

S.run();
