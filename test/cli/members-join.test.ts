import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { freeBasePort, kvLab, serve, tempDir, killClusterProcesses, type Served } from '../host/helpers.js';
import { runInProcess } from './in-process.js';

// The hand-made path the README and `serve --help` describe: a node started by hand with
// `serve --join <a member's peer port> --secret-file <the cluster's>` meets the cluster by gossip
// and waits; `kv-lab member add <id> <its peer host:port>` adds it (it catches up and is promoted),
// `kv-lab member remove <id>` takes it out again, and the cluster keeps serving throughout.

const J = suite('serve --join, then member add and member remove');

const work = tempDir('members-join');
const dir = join(work, 'c');
const env = { KV_LAB_CONNECTION: join(work, 'connection.json') };
let joiner: Served | null = null;

process.on('exit', () => {
  joiner?.kill();
  killClusterProcesses(dir);
});
J.after(async () => {
  joiner?.kill();
  await kvLab(['cluster', 'down', '--dir', dir], env).catch(() => undefined);
  killClusterProcesses(dir);
});

async function waitFor<T>(what: string, limitMs: number, probe: () => Promise<T | null>): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

J('a node started with --join is added with member add, catches up, and is removed with member remove', async () => {
  const base = await freeBasePort(4);
  const up = await kvLab(['cluster', 'up', '--nodes', '3', '--insecure', '--dir', dir, '--base-port', String(base)], env, undefined, 60_000);
  assert.is(up.code, 0, up.stderr + up.stdout);
  assert.is((await runInProcess(['put', 'k', 'before-n4'], env)).code, 0);
  const peer = `127.0.0.1:${base + 1004}`;
  joiner = serve(['--id', 'n4', '--data-dir', join(work, 'n4'), '--http-port', String(base + 3), '--tcp-port', String(base - 5000 + 4), '--peer-port', String(base + 1004), '--join', `127.0.0.1:${base + 1001}`, '--secret-file', join(dir, 'cluster.secret'), '--insecure']);
  await joiner.ports();
  // It has met the cluster once the leader's gossip knows it: member add says so until then.
  const added = await waitFor('member add n4', 20_000, async () => {
    const r = await runInProcess(['member', 'add', 'n4', peer], env);
    if (r.code === 1 && /has not met the cluster/.test(r.stderr)) return null;
    return r;
  });
  assert.is(added.code, 0, added.stderr);
  assert.match(added.stdout, /n4 added as a learner \(voters n\d, n\d, n\d; learners n4\)/);
  await waitFor('n4 promoted', 20_000, async () => {
    const r = await runInProcess(['member', 'list', '--json', '--url', `http://127.0.0.1:${base},http://127.0.0.1:${base + 3}`], env);
    const rows = (JSON.parse(r.stdout) as { members: { id: string; role: string | null }[] }).members;
    return rows.find((m) => m.id === 'n4')?.role === 'follower' ? rows : null; // not 'joining': it holds a configuration naming it
  });
  // It holds what was written before it came: its applied index reaches the leader's commit.
  const status = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { role: string; commitIndex: number; appliedIndex: number; leader: string };
  const leaderPort = base + Number((await status(base)).leader.slice(1)) - 1;
  const commit = (await status(leaderPort)).commitIndex;
  await waitFor('n4 applied the leader\'s commit', 20_000, async () => ((await status(base + 3)).appliedIndex >= commit ? true : null));
  const read = await runInProcess(['get', 'k'], env);
  assert.is(read.stdout.trim(), 'before-n4', read.stderr);
  // Its front door serves clients too: what it cannot order goes to the leader it learned by
  // gossip. (Before: it knew no member but itself and answered not_leader.)
  const viaN4 = ['--url', `http://127.0.0.1:${base + 3}`];
  const put = await runInProcess(['put', 'k', 'via-n4', ...viaN4], env);
  assert.is(put.code, 0, put.stderr + put.stdout);
  const back = await runInProcess(['get', 'k', ...viaN4], env);
  assert.is(back.stdout.trim(), 'via-n4', back.stderr);
  const removed = await runInProcess(['member', 'remove', 'n4'], env);
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /n4 removed \(voters n1, n2, n3\); its process still runs/);
  joiner.kill('SIGTERM');
  assert.is((await runInProcess(['put', 'k', 'after-n4'], env)).code, 0);
});

J.run();
