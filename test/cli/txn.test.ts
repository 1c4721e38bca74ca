import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nc, serve, tempDir, type Served } from '../host/helpers.js';
import { runInProcess } from './in-process.js';
import { parseTxnScript } from '../../src/cli/txn.js';

// Transactions against one real `kv-lab serve --replication raft` process: `kv-lab txn` over
// HTTP, and BEGIN … COMMIT typed into the line protocol's port as a person would with nc.

const T = suite('kv-lab txn');

const work = tempDir('cli-txn');
const env = { KV_LAB_CONNECTION: join(work, 'conn', 'connection.json') };
let node: Served;
let ports = { http: 0, tcp: 0 };
let passwordFile = '';

T.before(async () => {
  const dataDir = join(work, 'n1');
  node = serve(['--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0', '--replication', 'raft']);
  ports = await node.ready();
  passwordFile = join(dataDir, 'admin.password');
});

T.after(() => node?.kill());

const cli = (...args: string[]) => runInProcess(args, env);

T('a script runs as one transaction and prints each reply, then COMMITTED', async () => {
  const ok = await cli('connect', '--port', String(ports.http), '--username', 'admin', '--password-file', passwordFile);
  assert.is(ok.code, 0, ok.stderr);
  // A one-node Raft group elects itself after an election timeout: wait for its leader.
  for (let i = 0; i < 100 && (await cli('health')).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  const script = join(work, 'move.txt');
  writeFileSync(script, '# a transfer\nPUT a 10\nAPPEND log "a=10 "\nGET a\nGET missing\nRANGE "" ""\n');
  const r = await cli('txn', script);
  assert.equal([r.code, r.stderr], [0, '']);
  assert.is(r.stdout, 'OK\nOK\nVALUE 10\nNIL\nENTRIES 2 a 10 log "a=10 "\nCOMMITTED\n');
  assert.equal(await cli('get', 'log').then((x) => x.stdout), 'a=10 \n');
});

T('bad scripts are refused with the line that is wrong, before anything runs', async () => {
  const bad = join(work, 'bad.txt');
  writeFileSync(bad, 'GET a\nCOMMIT 1.2\n');
  const r = await cli('txn', bad);
  assert.is(r.code, 2);
  assert.match(r.stderr, /bad\.txt:2: COMMIT cannot run inside kv-lab txn/);
  assert.throws(() => parseTxnScript('GET a 1.2', 'x'), /x:1: no transaction ids/);
  assert.throws(() => parseTxnScript('\n# nothing\n', 'x'), /no operations/);
  assert.throws(() => parseTxnScript('PUT a', 'x'), /x:1: PUT takes 2 arguments/);
  assert.throws(() => parseTxnScript('GET a\n'.repeat(1001), 'x'), /more than 1000 operations/);
  const missing = await cli('txn', join(work, 'nope.txt'));
  assert.equal([missing.code, /cannot read/.test(missing.stderr)], [2, true]);
});

T('the line protocol: BEGIN, operations with the id, COMMIT; an unknown id is aborted', async () => {
  const password = (await import('node:fs')).readFileSync(passwordFile, 'utf8').trim();
  const first = await nc(ports.tcp, `AUTH admin ${password}\nBEGIN\n`);
  const id = /TXN (\d+\.\d+)/.exec(first)?.[1];
  assert.ok(id !== undefined, first);
  const out = await nc(ports.tcp, `AUTH admin ${password}\nBEGIN\nPUT x 1 ${id}\nGET x ${id}\nCOMMIT ${id}\nCOMMIT 99.1\nGET x\n`);
  // The id of the first connection's transaction was rolled back when it closed.
  assert.match(out, /^OK\nTXN \d+\.\d+\nERR aborted (unknown|rolled_back) .*\n/);
  const id2 = /TXN (\d+\.\d+)/.exec(out)?.[1] as string;
  const out2 = await nc(ports.tcp, `AUTH admin ${password}\nBEGIN\nPUT x 1 ${id2}\n`);
  assert.match(out2, /ERR aborted/);
  const fresh = await nc(ports.tcp, `AUTH admin ${password}\nBEGIN\n`);
  assert.match(fresh, /^OK\nTXN \d+\.\d+\n$/);
});

T.run();
