import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, kvLab, serve, tempDir, type Served } from '../host/helpers.js';
import { runInProcess } from './in-process.js';
import { saveConnection } from '../../src/cli/connection.js';
import { verifyPassword } from '../../src/node/auth.js';

// The CLI's administrative commands against one `kv-lab serve` process with authentication:
// databases, users and permissions, status/health/ping, hash-password, and usage mistakes
// (exit 2). client-commands.test.ts covers connect and the key commands.

const K = suite('kv-lab admin commands');

const work = tempDir('cli-admin');
const env = { KV_LAB_CONNECTION: join(work, 'connection.json') };
let node: Served;
let port = 0;

K.before(async () => {
  const dataDir = join(work, 'n1');
  node = serve(['--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0']);
  port = (await node.ready()).http;
  saveConnection({ urls: [`http://127.0.0.1:${port}`], username: 'admin', password: readFileSync(join(dataDir, 'admin.password'), 'utf8').trim(), database: '' }, env.KV_LAB_CONNECTION);
  await runInProcess(['put', 'nickname', 'ninja'], env);
});

K.after(() => node?.kill());

const cli = (...args: string[]) => runInProcess(args, env);

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
  assert.match(status.stdout, /^n1  leader  term 0  leader n1  members n1  commit \d+  applied \d+  replication none  engine lsm\n$/);
  assert.is(JSON.parse((await cli('status', '--json')).stdout).id, 'n1');
  const health = await cli('health');
  assert.equal([health.code, health.stdout], [0, `http://127.0.0.1:${port}  ok  n1 leader  leader n1\n`]);
  const bad = await cli('health', '--url', `http://127.0.0.1:${port},http://127.0.0.1:${await freePort()}`, '--json');
  assert.is(bad.code, 1);
  assert.equal(bad.stdout.trim().split('\n').map((l) => JSON.parse(l).healthy), [true, false]);
  const ping = await cli('ping', '--count', '2');
  assert.match(ping.stdout, new RegExp(`^(pong from http://127\\.0\\.0\\.1:${port} in \\d+\\.\\d\\d ms\\n){2}$`));
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
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.not.match(r.stderr, /\n\s+at /);
  }
  writeFileSync(env.KV_LAB_CONNECTION, '{broken');
  const damaged = await cli('get', 'k');
  assert.equal(damaged.code, 2);
  assert.match(damaged.stderr, /the saved connection .* is not JSON; run kv-lab connect again/);
});

K('hash-password hashes stdin (a real process) or a file, with a fresh salt each time', async () => {
  const a = await kvLab(['hash-password'], env, 'correct horse\n');
  assert.is(a.code, 0, a.stderr);
  assert.ok(verifyPassword('correct horse', a.stdout.trim()));
  assert.not.ok(verifyPassword('correct horsf', a.stdout.trim()));
  const file = join(work, 'pw.txt');
  writeFileSync(file, 'correct horse\n');
  const b = await cli('hash-password', '--password-file', file);
  assert.ok(verifyPassword('correct horse', b.stdout.trim()));
  assert.is.not(a.stdout, b.stdout, 'salted');
  writeFileSync(file, 'short\n');
  assert.is((await cli('hash-password', '--password-file', file)).code, 2);
});

K.run();
