import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, kvLab, serve, tempDir, type Served } from '../host/helpers.js';
import { runInProcess } from './in-process.js';
import { prefixEnd } from '../../src/cli/client-commands.js';

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
  port = (await node.ready()).http;
  passwordFile = join(dataDir, 'admin.password');
});

K.after(() => node?.kill());

const cli = (...args: string[]) => runInProcess(args, env);

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

K('a second URL takes over when the first cannot be reached', async () => {
  const closed = await freePort();
  const r = await cli('get', 'nickname', '--url', `http://127.0.0.1:${closed},http://127.0.0.1:${port}`);
  assert.equal([r.code, r.stdout], [0, 'ninja\n'], r.stderr);
  const none = await cli('get', 'nickname', '--url', `http://127.0.0.1:${closed}`);
  assert.equal(none.code, 1);
  assert.match(none.stderr, new RegExp(`kv-lab: unreachable: cannot reach http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`));
});

K('prefixEnd bounds a prefix scan', () => {
  assert.is(prefixEnd('user:'), 'user;');
  assert.is(prefixEnd('a\u{10FFFF}'), 'b');
  assert.is(prefixEnd('\u{10FFFF}'), undefined);
  assert.is(prefixEnd('\uD7FF'), '\uE000', 'skips the surrogate block');
  assert.is(prefixEnd(''), undefined);
});

K.run();
