import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, kvLab, serve, tempDir, type Served } from '../api/helpers.js';
import { prefixEnd } from '../../src/cli/client-commands.js';
import { verifyPassword } from '../../src/node/auth.js';

// The CLI as a client of one `kv-lab serve` process with authentication: connect (saved mode
// 600), key commands, databases, users and permissions, status/health/ping, and exit codes
// (0 done, 1 refused or failed, 2 bad usage).

const K = suite('kv-lab client commands');

const work = tempDir('cli');
const env = { KV_LAB_CONNECTION: join(work, 'conn', 'connection.json') };
let node: Served;
let port = 0;
let passwordFile = '';

K.before(async () => {
  const dataDir = join(work, 'n1');
  node = serve(['--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0']);
  port = (await node.ports()).http;
  passwordFile = join(dataDir, 'admin.password');
});

K.after(() => node?.kill());

const cli = (...args: string[]) => kvLab(args, env);

K('connect checks the credentials before saving them, mode 600', async () => {
  const wrong = await cli('connect', '--port', String(port), '--username', 'admin', '--password', 'not-it');
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /cannot connect: unauthorized: wrong user name or password/);
  const refused = await cli('connect', '--port', '1', '--username', 'admin', '--password', 'x');
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /cannot connect: unreachable/);
  const ok = await cli('connect', '--port', String(port), '--username', 'admin', '--password-file', passwordFile);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`connected to http://127\\.0\\.0\\.1:${port} as admin; saved in`));
  assert.is(statSync(env.KV_LAB_CONNECTION).mode & 0o777, 0o600);
  assert.is(statSync(join(work, 'conn')).mode & 0o777, 0o700);
  assert.not.ok(readFileSync(env.KV_LAB_CONNECTION, 'utf8').includes(readFileSync(passwordFile, 'utf8').trim()), 'a password file is saved by path');
});

K('put, get, cas, delete, scan', async () => {
  assert.equal(await cli('put', 'nickname', 'codejitsu').then((r) => [r.code, r.stdout]), [0, 'OK\n']);
  assert.equal(await cli('get', 'nickname').then((r) => [r.code, r.stdout]), [0, 'codejitsu\n']);
  assert.equal(await cli('put', 'n', '{"a":1}', '--json').then((r) => r.code), 0);
  assert.equal(await cli('get', 'n').then((r) => r.stdout), '{"a":1}\n');
  assert.equal(await cli('get', 'nickname', '--json').then((r) => r.stdout), '"codejitsu"\n');
  const mismatch = await cli('cas', 'nickname', 'wrong', 'x');
  assert.equal([mismatch.code, mismatch.stderr], [1, 'kv-lab: cas_mismatch: expected "wrong", found "codejitsu"\n']);
  assert.is((await cli('cas', 'nickname', 'codejitsu', 'ninja')).code, 0);
  assert.is((await cli('cas', 'fresh', 'null', '"made"', '--json')).code, 0, 'null expects absent');
  assert.is((await cli('delete', 'n')).code, 0);
  const missing = await cli('get', 'n');
  assert.equal([missing.code, missing.stdout, missing.stderr], [1, '', 'kv-lab: no key "n"\n']);
  for (const k of ['user:1', 'user:2', 'usera', 'v']) await cli('put', k, k.toUpperCase());
  assert.equal((await cli('scan', '--prefix', 'user:')).stdout, 'user:1\tUSER:1\nuser:2\tUSER:2\n');
  assert.equal((await cli('scan', '--start', 'user:2', '--limit', '2')).stdout, 'user:2\tUSER:2\nusera\tUSERA\n');
  assert.equal((await cli('scan', '--prefix', 'user', '--reverse', '--json', '--limit', '1')).stdout, '{"key":"usera","value":"USERA"}\n');
});

K('databases: create, list, use (saved), delete', async () => {
  assert.is((await cli('db', 'create', 'shop')).stdout, 'created database shop\n');
  const again = await cli('db', 'create', 'shop');
  assert.equal([again.code, again.stderr], [1, 'kv-lab: already_exists: database shop exists\n']);
  assert.is((await cli('db', 'list')).stdout, '""\nshop\n');
  assert.is((await cli('db', 'use', 'nope')).code, 1);
  assert.match((await cli('db', 'use', 'shop')).stdout, /using database shop/);
  await cli('put', 'item', 'in-shop');
  assert.is((await cli('get', 'item')).stdout, 'in-shop\n');
  assert.is((await cli('get', 'item', '--db', '')).code, 1, '--db overrides the saved database');
  assert.match((await cli('db', 'use', '')).stdout, /using the default database/);
  assert.is((await cli('db', 'delete', 'shop')).stdout, 'deleted database shop and its 1 key\n');
});

K('users: add (password hashed in the CLI), grant, log in as them, 403, delete', async () => {
  const add = await cli('user', 'add', 'ann', '--new-password', 'ann-secret-1');
  assert.equal([add.code, add.stdout], [0, 'user ann saved\n'], add.stderr);
  const gen = await cli('user', 'add', 'bob');
  const bobPassword = /password \(printed once\): (\S+)/.exec(gen.stdout)?.[1];
  assert.ok(bobPassword !== undefined && bobPassword.length >= 16, gen.stdout);
  assert.is((await cli('db', 'create', 'books')).code, 0);
  assert.match((await cli('user', 'grant', 'ann', 'books', 'read,write')).stdout, /ann: \{"books":\["read","write"\]\}/);
  const badPerm = await cli('user', 'grant', 'ann', 'books', 'read,fly');
  assert.equal([badPerm.code, badPerm.stderr], [2, 'kv-lab: permissions are read, write, admin (comma-separated) or none; got "fly"\n']);
  assert.match((await cli('user', 'list')).stdout, /^ann\t\{"books":\["read","write"\]\}\nbob\t\{\}\n$/);
  const ann = ['--username', 'ann', '--password', 'ann-secret-1'];
  assert.is((await cli('put', 'b', '1', '--db', 'books', ...ann)).code, 0);
  const forbidden = await cli('put', 'b', '1', ...ann);
  assert.equal([forbidden.code, forbidden.stderr], [1, 'kv-lab: forbidden: user ann lacks write permission on the default database\n']);
  assert.is((await cli('user', 'list', ...ann)).code, 1);
  assert.is((await cli('get', 'b', '--db', 'books', '--username', 'bob', '--password', bobPassword as string)).code, 1, 'bob has no grant');
  assert.is((await cli('user', 'delete', 'ann')).code, 0);
  const gone = await cli('get', 'b', '--db', 'books', ...ann);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, /^kv-lab: unauthorized: /, 'a deleted user is refused');
});

K('status, health and ping', async () => {
  const status = await cli('status');
  assert.match(status.stdout, /^n1  leader  term 0  leader n1  members n1  commit \d+  applied \d+  replication none  engine memory\n$/);
  assert.is(JSON.parse((await cli('status', '--json')).stdout).id, 'n1');
  const health = await cli('health');
  assert.equal([health.code, health.stdout], [0, `http://127.0.0.1:${port}  ok  n1 leader  leader n1\n`]);
  const bad = await cli('health', '--url', `http://127.0.0.1:${port},http://127.0.0.1:${await freePort()}`, '--json');
  assert.is(bad.code, 1);
  assert.equal(bad.stdout.trim().split('\n').map((l) => JSON.parse(l).healthy), [true, false]);
  const ping = await cli('ping', '--count', '2');
  assert.match(ping.stdout, new RegExp(`^(pong from http://127\\.0\\.0\\.1:${port} in \\d+\\.\\d\\d ms\\n){2}$`));
});

K('a second URL takes over when the first cannot be reached', async () => {
  const closed = await freePort();
  const r = await cli('get', 'nickname', '--url', `http://127.0.0.1:${closed},http://127.0.0.1:${port}`);
  assert.equal([r.code, r.stdout], [0, 'ninja\n'], r.stderr);
  const none = await cli('get', 'nickname', '--url', `http://127.0.0.1:${closed}`);
  assert.equal(none.code, 1);
  assert.match(none.stderr, new RegExp(`kv-lab: unreachable: cannot reach http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`));
});

K('usage mistakes are exit 2 with one line', async () => {
  const cases: [string[], RegExp][] = [
    [['put', 'k', '{oops', '--json'], /the value is not JSON/],
    [['put', 'k'], /missing required argument 'value'/],
    [['scan', '--limit', '0'], /--limit expects 1-10000/],
    [['scan', '--prefix', 'a', '--start', 'b'], /--prefix, or --start\/--end, not both/],
    [['get', 'k', '--url', 'ftp://x'], /--url expects an http:\/\/ URL/],
    [['get', 'k', '--db', 'bad name'], /--db expects a database name/],
    [['get', 'k', '--timeout', 'soon'], /--timeout expects milliseconds/],
    [['connect', '--port', 'http'], /--port expects a port number/],
    [['connect', '--password', 'x'], /a password goes with --username/],
    [['user', 'add', 'bad name!'], /a user name has 1-64 letters/],
    [['user', 'add', 'carl', '--new-password', 'short'], /at least 8 characters/],
    [['db', 'create', 'no/slash'], /a database name has 1-64 letters/],
    [['ping', '--count', '0'], /--count expects 1-9999/],
  ];
  const results = [];
  for (let i = 0; i < cases.length; i += 4) results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => cli(...args)))));
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i] as Awaited<ReturnType<typeof cli>>;
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.not.match(r.stderr, /\n\s+at /);
  }
  writeFileSync(env.KV_LAB_CONNECTION, '{broken');
  const damaged = await cli('get', 'k');
  assert.equal(damaged.code, 2);
  assert.match(damaged.stderr, /the saved connection .* is not JSON; run kv-lab connect again/);
});

K('hash-password hashes stdin with a fresh salt each time', async () => {
  const a = await kvLab(['hash-password'], env, 'correct horse\n');
  const b = await kvLab(['hash-password'], env, 'correct horse\n');
  assert.is(a.code, 0, a.stderr);
  assert.ok(verifyPassword('correct horse', a.stdout.trim()));
  assert.not.ok(verifyPassword('correct horsf', a.stdout.trim()));
  assert.is.not(a.stdout, b.stdout, 'salted');
  assert.is((await kvLab(['hash-password'], env, 'short\n')).code, 2);
});

K('prefixEnd bounds a prefix scan', () => {
  assert.is(prefixEnd('user:'), 'user;');
  assert.is(prefixEnd('a\u{10FFFF}'), 'b');
  assert.is(prefixEnd('\u{10FFFF}'), undefined);
  assert.is(prefixEnd('\uD7FF'), '\uE000', 'skips the surrogate block');
  assert.is(prefixEnd(''), undefined);
});

K.run();
