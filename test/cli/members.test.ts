import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freeBasePort, kvLab, tempDir, killClusterProcesses } from '../host/helpers.js';
import { runInProcess } from './in-process.js';

// Growing and shrinking a real cluster (issue 16 item 4; serve --help promised `kv-lab member
// add`, which did not exist): `cluster add-node` starts n4 from cluster.yaml (marked joined), it
// meets the others by gossip, is added as a learner through the client's member.add, catches up
// and is promoted; `member list` shows it; the CLI's checks refuse what would be a mistake
// (already a member, unknown id, no admin rights, too few voters left); `cluster remove-node`
// removes from Raft first, then stops the process. With authentication, as a user runs it.

const M = suite('kv-lab member / cluster add-node and remove-node');

const work = tempDir('members');
const dir = join(work, 'c');
const env = { KV_LAB_CONNECTION: join(work, 'connection.json') };
/** cluster commands start and stop processes: run as the binary. */
const cli = (args: string[], timeoutMs = 30_000) => kvLab(args, env, undefined, timeoutMs);
/** Client commands (member, put, get, user): in this process, to keep the file fast. */
const client = (args: string[]) => runInProcess(args, env);
let base = 0;

process.on('exit', () => killClusterProcesses(dir));
M.after(async () => {
  await cli(['cluster', 'down', '--dir', dir]).catch(() => undefined);
  killClusterProcesses(dir);
});

interface Row {
  id: string;
  role: string | null;
  gossip: string | null;
  peer: string | null;
}

async function list(): Promise<{ leader: string; members: Row[] }> {
  const r = await client(['member', 'list', '--json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { leader: string; members: Row[] };
}

M('cluster add-node: a fourth node joins, catches up and is promoted; cluster.yaml lists it as joined', async () => {
  base = await freeBasePort(5);
  const up = await cli(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base)], 60_000);
  assert.is(up.code, 0, up.stderr + up.stdout);
  assert.is((await client(['put', 'before', 'the-add'])).code, 0);
  const add = await cli(['cluster', 'add-node', '--dir', dir], 60_000);
  assert.is(add.code, 0, add.stderr + add.stdout);
  assert.match(add.stdout, `started n4 (pid`);
  assert.match(add.stdout, /n4 caught up in \d+\.\d s and is a voter; peak RSS n4 \d+ MB, leader n\d \d+ MB/);
  const yaml = readFileSync(join(dir, 'cluster.yaml'), 'utf8');
  assert.match(yaml, new RegExp(`- id: n4\\n(.*\\n){4}\\s+dataDir: data/n4\\n\\s+joined: true`));
  const l = await list();
  assert.equal(l.members.map((m) => [m.id, m.gossip]), [['n1', 'alive'], ['n2', 'alive'], ['n3', 'alive'], ['n4', 'alive']]);
  assert.equal(l.members.find((m) => m.id === 'n4')?.peer, `127.0.0.1:${base + 1004}`);
  assert.ok(['follower', 'leader'].includes(String(l.members.find((m) => m.id === 'n4')?.role)));
  // The saved connection learnt n4: reads through it alone see what was written before the add.
  const get = await client(['get', 'before', '--url', `http://127.0.0.1:${base + 3}`]);
  assert.is(get.stdout.trim(), 'the-add', get.stderr);
  assert.match(JSON.parse(readFileSync(env.KV_LAB_CONNECTION, 'utf8')).urls.join(','), `:${base + 3}`);
});

M('member add and remove refuse mistakes with the reason, and need admin rights', async () => {
  const again = await client(['member', 'add', 'n2', `127.0.0.1:${base + 1002}`]);
  assert.is(again.code, 1);
  assert.match(again.stderr, 'n2 is already a member (members: n1, n2, n3, n4)');
  const stranger = await client(['member', 'add', 'n9', `127.0.0.1:${base + 1009}`]);
  assert.is(stranger.code, 1);
  assert.match(stranger.stderr, 'n9 has not met the cluster: start it first with kv-lab serve');
  const unknown = await client(['member', 'remove', 'n9']);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, 'n9 is not a member (members: n1, n2, n3, n4)');
  const bad = await client(['member', 'add', 'N9', 'nohost']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, 'a member id has a lowercase letter');
  assert.is((await client(['user', 'add', 'bob', '--new-password', 'bob-password'])).code, 0);
  assert.is((await client(['user', 'grant', 'bob', '', 'read,write'])).code, 0);
  // Through a follower's URL only: the client finds the leader, which refuses bob.
  const bob = await client(['member', 'remove', 'n4', '--url', `http://127.0.0.1:${base}`, '--username', 'bob', '--password', 'bob-password']);
  assert.is(bob.code, 1);
  assert.match(bob.stderr, 'forbidden: user bob lacks admin permission');
  assert.match(bob.stderr, 'membership changes need admin rights');
  assert.is((await list()).members.length, 4);
});

M('cluster remove-node: out of Raft first, then the process stops; refuses to go below three voters', async () => {
  const r = await client(['cluster', 'remove-node', 'n2', '--dir', dir]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, 'n2 removed from Raft (voters n1, n3, n4)');
  assert.match(r.stdout, /n2 stopped and dropped from cluster\.yaml in [\d.]+ s; its data is in .*removed\/n2-\d+/);
  assert.not.match(readFileSync(join(dir, 'cluster.yaml'), 'utf8'), 'id: n2');
  assert.ok(!existsSync(join(dir, 'run', 'n2.pid')));
  assert.equal(readdirSync(join(dir, 'removed')).map((n) => n.replace(/-\d+$/, '')), ['n2']);
  const l = await list();
  assert.equal(l.members.map((m) => m.id), ['n1', 'n3', 'n4']);
  const refused = await client(['cluster', 'remove-node', 'n1', '--dir', dir]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, 'removing n1 leaves 2 voters, which cannot survive the loss of one (3 can); pass --force');
  const none = await client(['cluster', 'remove-node', 'n7', '--dir', dir]);
  assert.is(none.code, 2);
  assert.match(none.stderr, 'no node "n7" in');
  // Once in CI (two files at a time, under c8) this put ended with exit 3, its outcome unknown
  // after 10 s; it passed in every run alone. The message keeps what the client said.
  const after = await client(['put', 'after', 'the-remove']);
  assert.is(after.code, 0, `put after remove-node: exit ${after.code}\n${after.stderr}${after.stdout}`);
});

M.run();
