import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freeBasePort, kvLab, nc, tempDir } from '../host/helpers.js';
import { runInProcess } from './in-process.js';

// `kv-lab cluster up/down/status` in a temporary directory on free ports: a 3-node Raft cluster
// reached through the saved CLI connection, curl-style HTTP and nc-style TCP on different nodes
// (followers forward to the leader), restart from disk, and an --insecure node on which the
// seeds' commands work exactly as written.

const C = suite('kv-lab cluster');

const work = tempDir('cluster');
const env = { KV_LAB_CONNECTION: join(work, 'connection.json') };
const dirs: string[] = [];

function killLeftovers(dir: string): void {
  const run = join(dir, 'run');
  if (!existsSync(run)) return;
  for (const f of readdirSync(run)) {
    const pid = Number(readFileSync(join(run, f), 'utf8'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

process.on('exit', () => dirs.forEach(killLeftovers));

C.after(async () => {
  for (const dir of dirs) await runInProcess(['cluster', 'down', '--dir', dir], env).catch(() => undefined);
  dirs.forEach(killLeftovers);
});

let dir = '';
let base = 0;
let password = '';

C('up --nodes 3 starts a Raft cluster, prints how to reach it, and saves the password and connection mode 600', async () => {
  dir = join(work, 'three');
  dirs.push(dir);
  base = await freeBasePort(3);
  const r = await kvLab(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base)], env);
  assert.is(r.code, 0, r.stderr + r.stdout);
  password = readFileSync(join(dir, 'admin.password'), 'utf8').trim();
  assert.ok(r.stdout.includes(password), 'the password is printed once');
  for (let i = 1; i <= 3; i++) assert.match(r.stdout, new RegExp(`n${i}  pid \\d+  http://127\\.0\\.0\\.1:${base + i - 1}  tcp 127\\.0\\.0\\.1:${base - 5000 + i}  peer 127\\.0\\.0\\.1:${base + 1000 + i}`));
  for (const f of ['admin.password', 'cluster.secret', 'cluster.yaml']) assert.is(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  assert.is(statSync(env.KV_LAB_CONNECTION).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, 'cluster.yaml'), 'utf8'), /replication: raft/);
  // What it tells a newcomer to type must work after `npm install` (kv-lab is not on PATH then).
  assert.match(r.stdout, /npx kv-lab put nickname codejitsu && npx kv-lab get nickname/);
  assert.match(r.stdout, /stop: npx kv-lab cluster down --dir /);
});

C('status --json shows every node healthy, one leader, the same term', async () => {
  const r = await runInProcess(['cluster', 'status', '--dir', dir, '--json'], env);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const nodes = JSON.parse(r.stdout) as { id: string; pid: number; role: string; term: number; leader: string; health: string }[];
  assert.equal(nodes.map((n) => n.id), ['n1', 'n2', 'n3']);
  assert.ok(nodes.every((n) => n.health === 'ok' && n.pid > 0), r.stdout);
  assert.is(nodes.filter((n) => n.role === 'leader').length, 1);
  assert.is(new Set(nodes.map((n) => n.leader)).size, 1, 'every node names the same leader');
  const table = await runInProcess(['cluster', 'status', '--dir', dir], env);
  assert.match(table.stdout, /ID\s+PID\s+HTTP\s+TCP\s+PEER\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+HEALTH/);
});

C('the CLI uses the saved connection: put on the cluster, get it back', async () => {
  const put = await runInProcess(['put', 'nickname', 'codejitsu'], env);
  assert.is(put.code, 0, put.stderr);
  const get = await kvLab(['get', 'nickname'], env);
  assert.equal([get.code, get.stdout], [0, 'codejitsu\n'], get.stderr);
});

C('HTTP on one node and TCP on another: followers forward to the leader', async () => {
  const auth = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` };
  for (let i = 0; i < 3; i++) {
    const put = await fetch(`http://127.0.0.1:${base + i}/key/k${i}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ value: `v${i}` }) });
    assert.is(put.status, 200, await put.text());
    const get = await fetch(`http://127.0.0.1:${base + ((i + 1) % 3)}/key/k${i}`, { headers: auth });
    assert.equal(await get.json(), { ok: true, key: `k${i}`, value: `v${i}` });
  }
  const stranger = await fetch(`http://127.0.0.1:${base + 1}/key/k0`);
  assert.is(stranger.status, 401);
  assert.is(await nc(base - 5000 + 1, `AUTH admin ${password}\nPUT nickname tcp-jitsu\n`), 'OK\nOK\n');
  assert.is(await nc(base - 5000 + 2, `AUTH admin ${password}\nREAD nickname\n`), 'OK\nVALUE tcp-jitsu\n');
  assert.is(await nc(base - 5000 + 3, 'READ nickname\n'), 'ERR unauthorized authentication required: log in first\n');
});

C('up on a running cluster is refused; down stops every node; up again resumes from disk', async () => {
  const again = await runInProcess(['cluster', 'up', '--dir', dir], env);
  assert.is(again.code, 2);
  assert.match(again.stderr, /already running/);
  const pids = (JSON.parse((await runInProcess(['cluster', 'status', '--dir', dir, '--json'], env)).stdout) as { pid: number }[]).map((n) => n.pid);
  const down = await runInProcess(['cluster', 'down', '--dir', dir], env);
  assert.is(down.code, 0, down.stderr);
  assert.match(down.stdout, /n1 \(pid \d+\) stopped\nn2 \(pid \d+\) stopped\nn3 \(pid \d+\) stopped/);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'the process is gone');
  const status = await runInProcess(['cluster', 'status', '--dir', dir, '--json'], env);
  assert.is(status.code, 1, 'status of a stopped cluster fails');
  assert.ok((JSON.parse(status.stdout) as { health: string }[]).every((n) => n.health === 'down'));
  const mixed = await runInProcess(['cluster', 'up', '--dir', dir, '--nodes', '5'], env);
  assert.is(mixed.code, 2);
  assert.match(mixed.stderr, /already holds a cluster.*drop --nodes/);
  // Flags that say what cluster.yaml says change nothing: the README's `up --nodes 3` works again.
  const up = await kvLab(['cluster', 'up', '--dir', dir, '--nodes', '3', '--base-port', String(base)], env);
  assert.is(up.code, 0, up.stderr);
  assert.not.ok(up.stdout.includes(password), 'the password is not printed again');
  const get = await runInProcess(['get', 'nickname'], env);
  assert.equal([get.code, get.stdout], [0, 'tcp-jitsu\n'], get.stderr);
  assert.is((await runInProcess(['cluster', 'down', '--dir', dir], env)).code, 0);
});

C('--insecure: the seeds\' curl and nc commands work as written', async () => {
  const insecure = join(work, 'insecure');
  dirs.push(insecure);
  const b = await freeBasePort(1);
  const r = await kvLab(['cluster', 'up', '--nodes', '1', '--insecure', '--dir', insecure, '--base-port', String(b), '--no-connect'], env);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /NO authentication/);
  assert.match(r.stdout, new RegExp(`echo "PUT nickname codejitsu" \\| nc -N localhost ${b - 4999}`));
  assert.not.ok(existsSync(join(insecure, 'admin.password')));
  const put = await fetch(`http://localhost:${b}/key/k`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"value":"v"}' });
  assert.equal(await put.json(), { ok: true, key: 'k' });
  assert.equal(await (await fetch(`http://localhost:${b}/key/k`)).json(), { ok: true, key: 'k', value: 'v' });
  assert.is(await nc(b - 4999, 'PUT nickname codejitsu\n'), 'OK\n');
  assert.is(await nc(b - 4999, 'READ nickname\n'), 'VALUE codejitsu\n');
  assert.is((await runInProcess(['cluster', 'down', '--dir', insecure], env)).code, 0);
});

C('bad input: exit 2 and one clear line, never a stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['cluster', 'up', '--nodes', '0', '--dir', join(work, 'x')], /--nodes expects an integer in 1\.\.64/],
    [['cluster', 'up', '--nodes', 'three', '--dir', join(work, 'x')], /--nodes expects an integer/],
    [['cluster', 'up', '--base-port', '80', '--dir', join(work, 'x')], /--base-port expects an integer in 6024\.\./],
    [['cluster', 'up', '--nodes', '2', '--replication', 'none', '--dir', join(work, 'x')], /replication none runs exactly one node/],
    [['cluster', 'up', '--engine', 'papyrus', '--dir', join(work, 'x')], /--engine expects/],
    [['cluster', 'down', '--dir', join(work, 'nothing')], /no cluster in .*nothing/],
    [['cluster', 'status', '--dir', join(work, 'nothing')], /no cluster in .*nothing/],
    [['cluster', 'sideways'], /unknown command 'sideways'/],
  ];
  for (const [args, message] of cases) {
    // In this process: each is refused before anything starts.
    const r = await runInProcess(args, env);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

C.run();
