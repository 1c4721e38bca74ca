import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { freeBasePort, kvLab, serve, tempDir, type Served, killClusterProcesses } from '../host/helpers.js';

// Gossip between real processes (issue 19, item 4): the members of a `cluster up` gossip over
// their peer ports; a fourth node started with --join meets them all within seconds, and after
// kill -9 every member declares it dead. `kv-lab cluster members` shows one node's view.

const G = suite('gossip between real nodes');

const work = tempDir('gossip');
const dir = join(work, 'c');
let base = 0;
let joiner: Served | null = null;

function killLeftovers(): void {
  joiner?.proc.kill('SIGKILL');
  killClusterProcesses(dir);
}
process.on('exit', killLeftovers);
G.after(async () => {
  await kvLab(['cluster', 'down', '--dir', dir]).catch(() => undefined);
  killLeftovers();
});

interface Member {
  id: string;
  state: string;
  incarnation: number;
  addresses: Record<string, string>;
  lastContactMs: number | null;
}

async function view(httpPort: number): Promise<Member[]> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/status`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { gossip: Member[] }).gossip;
}

/** Polls every member's view until `ok` holds for all three, or fails after limitMs with the views. */
async function until(ok: (m: Member | undefined) => boolean, what: string, limitMs: number): Promise<number> {
  const start = Date.now();
  let last: string[] = [];
  while (Date.now() - start < limitMs) {
    const views = await Promise.all([0, 1, 2].map((i) => view(base + i).catch(() => [] as Member[])));
    if (views.every((v) => ok(v.find((m) => m.id === 'n4')))) return Date.now() - start;
    last = views.map((v, i) => `n${i + 1}: ${JSON.stringify(v.map((m) => `${m.id}=${m.state}`))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${limitMs} ms\n${last.join('\n')}`);
}

G('the members of a cluster gossip: each sees the three alive, with their peer addresses', async () => {
  base = await freeBasePort(4);
  const up = await kvLab(['cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base), '--no-connect'], {}, undefined, 60_000);
  assert.is(up.code, 0, up.stderr + up.stdout);
  const r = await kvLab(['cluster', 'members', '--dir', dir, '--json']);
  assert.is(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { view: string; members: Member[] };
  assert.equal(v.members.map((m) => [m.id, m.state, m.addresses.peer]), [1, 2, 3].map((i) => [`n${i}`, 'alive', `127.0.0.1:${base + 1000 + i}`]));
});

G('a node started with --join appears alive on every member, and is declared dead after kill -9', async () => {
  joiner = serve(['--id', 'n4', '--data-dir', join(work, 'n4'), '--http-port', String(base + 3), '--tcp-port', String(base - 5000 + 4), '--peer-port', String(base + 1004), '--join', `127.0.0.1:${base + 1001}`, '--secret-file', join(dir, 'cluster.secret'), '--insecure']);
  const joinedMs = await until((m) => m?.state === 'alive', 'n4 alive at every member', 30_000);
  const r = await kvLab(['cluster', 'members', '--dir', dir, '--node', 'n3']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /members of cluster c as n3 sees them/);
  assert.match(r.stdout, new RegExp(`n4 +alive +0 +- +127\\.0\\.0\\.1:${base + 1004} +[0-9.]+ s ago`));
  joiner.proc.kill('SIGKILL');
  // memberlist's LAN profile: a probe a second, a suspicion of 4 s that Lifeguard starts longer
  // and shortens as other members confirm it.
  const deadMs = await until((m) => m?.state === 'dead', 'n4 dead at every member', 40_000);
  console.log(`  n4 alive everywhere ${joinedMs} ms after its start; dead everywhere ${deadMs} ms after kill -9`);
});

G('bad gossip flags are refused with the reason', async () => {
  const d = join(work, 'bad');
  for (const [args, message] of [
    [['--join', 'nohost'], /--join: expected host:port, got "nohost"/],
    [['--join', '127.0.0.1:99999'], /--join 127\.0\.0\.1:99999 expects a port number/],
    [['--join', '127.0.0.1:9001', '--no-gossip'], /--join meets the cluster by gossip; drop --no-gossip/],
    [['--join', '127.0.0.1:9001', '--replication', 'none'], /--join adds a node to a Raft cluster/],
    [['--zone', 'a b'], /--zone expects/],
  ] as [string[], RegExp][]) {
    const r = await kvLab(['serve', '--data-dir', d, '--insecure', ...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const m = await kvLab(['cluster', 'members', '--dir', dir, '--node', 'n9']);
  assert.is(m.code, 2);
  assert.match(m.stderr, /--node: no member "n9"/);
});

G.run();
