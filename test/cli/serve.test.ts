import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { kvLab, root, serve, Served, tempDir } from '../host/helpers.js';
import { runInProcess } from './in-process.js';
import { parsePeers, parsePort, parsePrimary } from '../../src/cli/serve.js';
import { UsageError } from '../../src/cli/errors.js';

// `kv-lab serve` refuses bad flags and files with exit code 2 and a message that says what is
// wrong; a port in use is a start failure (exit 1). The pure flag parsers are checked directly.

const F = suite('serve flags');

F('--peers, ports and the primary mode\'s flags parse or say what is wrong', () => {
  assert.equal([...parsePeers('n2=10.0.0.2:9002, n3=[::1]:9003')], [['n2', { host: '10.0.0.2', port: 9002 }], ['n3', { host: '::1', port: 9003 }]]);
  assert.equal([...parsePeers('')], []);
  const err = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.instance(e, UsageError);
      return (e as Error).message;
    }
    assert.unreachable('no error');
    return '';
  };
  assert.match(err(() => parsePeers('n2=host')), /expected id=host:port, got "n2=host"/);
  assert.match(err(() => parsePeers('n2=h:1,n2=h:2')), /n2 is listed twice/);
  assert.match(err(() => parsePeers('bad id=h:1')), /not a node id/);
  assert.match(err(() => parsePeers('n2=h:0')), /port number 1-65535/);
  assert.is(parsePort('0', '--http-port'), 0);
  assert.match(err(() => parsePort('65536', '--http-port')), /--http-port expects a port number 0-65535, got "65536"/);
  assert.match(err(() => parsePort('80a', '--tcp-port')), /--tcp-port/);
  assert.equal(parsePrimary({}), undefined);
  assert.equal(parsePrimary({ role: 'leader' }), { role: 'leader', leader: null });
  assert.equal(parsePrimary({ role: 'follower', leaderHost: 'h', leaderPort: '9001' }), { role: 'follower', leader: { host: 'h', port: 9001 } });
  assert.match(err(() => parsePrimary({ role: 'follower', leaderHost: 'h' })), /needs --leader-host and --leader-port/);
  assert.match(err(() => parsePrimary({ role: 'boss' })), /--role expects leader or follower/);
  assert.match(err(() => parsePrimary({ leaderPort: '1' })), /go with --role follower/);
  assert.match(err(() => parsePrimary({ role: 'leader', leaderHost: 'h' })), /a leader takes no --leader-host/);
});

const P = suite('serve refuses bad input');

const work = tempDir('serve-flags');
const valid = join(work, 'cluster.yaml');
writeFileSync(join(work, 'cluster.secret'), 'x'.repeat(40), { mode: 0o600 });
writeFileSync(valid, 'secretFile: cluster.secret\nauth: none\nreplication: none\nnodes:\n  - { id: n1, httpPort: 18000, tcpPort: 13001, peerPort: 19001, dataDir: data/n1 }\n');

P('every mistake is refused (exit 2) with one clear message', async () => {
  const dataDir = join(work, 'd');
  const bad = (name: string, text: string) => {
    const file = join(work, name);
    writeFileSync(file, text);
    return file;
  };
  const cases: [string[], RegExp][] = [
    [[], /give --data-dir/],
    [['--data-dir', dataDir, '--http-port', '99999'], /--http-port expects a port number 0-65535, got "99999"/],
    [['--data-dir', dataDir, '--peers', 'n2=nohost'], /--peers: expected id=host:port/],
    [['--data-dir', dataDir, '--peers', 'n2=127.0.0.1:9002'], /needs the cluster secret every member shares: --secret-file/],
    [['--data-dir', dataDir, '--role', 'follower'], /--role follower needs --leader-host and --leader-port/],
    [['--data-dir', dataDir, '--role', 'leader', '--replication', 'raft'], /--role is for the primary mode; --replication is raft/],
    [['--data-dir', dataDir, '--replication', 'primary'], /--replication primary needs --role leader/],
    [['--data-dir', dataDir, '--replication', 'gossip'], /--replication expects none, raft, primary; got "gossip"/],
    [['--data-dir', dataDir, '--engine', 'papyrus'], /--engine expects .* got "papyrus"/],
    [['--data-dir', dataDir, '--log-level', 'loud'], /--log-level expects debug, info, warn, error/],
    [['--data-dir', dataDir, '--id', 'no spaces'], /--id expects 1-32 letters/],
    [['--data-dir', dataDir, '--admin-hash-file', join(work, 'none.hash')], /no such admin hash file/],
    [['--data-dir', dataDir, '--admin-hash-file', bad('plain.hash', 'not a hash')], /does not hold an scrypt hash/],
    [['--data-dir', dataDir, '--secret-file', bad('short.secret', 'abc')], /must hold at least 16 characters/],
    [['--config', join(work, 'missing.yaml'), '--node', 'n1'], /no such cluster file/],
    [['--config', valid], /--config needs --node: one of n1/],
    [['--config', valid, '--node', 'n9'], /--node n9 is not in .*: its nodes are n1/],
    [['--config', valid, '--node', 'n1', '--http-port', '1'], /with --config, the cluster file says everything; drop --http-port/],
    [['--node', 'n1'], /--node picks a member of a cluster file/],
    [['--config', bad('typo.yaml', 'secretFile: s\nauth: none\nnodez: []\n'), '--node', 'n1'], /typo\.yaml:3:1: nodez: unknown field/],
    [['--config', bad('ports.yaml', 'secretFile: cluster.secret\nauth: none\nnodes:\n  - { id: n1, httpPort: 1, tcpPort: 1, peerPort: 2, dataDir: a }\n  - { id: n1, httpPort: 3, tcpPort: 4, peerPort: 5, dataDir: a }\n'), '--node', 'n1'], /^(?=[\s\S]*id n1 appears twice)(?=[\s\S]*n1\.tcpPort 127\.0\.0\.1:1 is also n1\.httpPort)(?=[\s\S]*dataDir .* is another node's too)/],
    [['--config', bad('auth.yaml', 'secretFile: cluster.secret\nauth: { admin: root }\nnodes:\n  - { id: n1, httpPort: 1, tcpPort: 2, peerPort: 3, dataDir: a }\n'), '--node', 'n1'], /auth\.adminHash: required field is missing/],
    [['--config', bad('yaml.yaml', 'nodes: [\n'), '--node', 'n1'], /YAML syntax/],
  ];
  // In this process (each is refused before anything starts); the binary's own exit code is
  // checked by the next test.
  for (const [args, message] of cases) {
    const r = await runInProcess(['serve', ...args]);
    assert.is(r.code, 2, `serve ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, `serve ${args.join(' ')}`);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

P('the binary itself: bad flags exit 2 with one line on stderr', async () => {
  const r = await kvLab(['serve', '--data-dir', join(work, 'd'), '--http-port', 'eighty']);
  assert.equal([r.code, r.stderr], [2, 'kv-lab: --http-port expects a port number 0-65535, got "eighty"\n']);
});

P('a port in use is a start failure (exit 1) that names the port', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const node = serve(['--data-dir', join(work, 'busy'), '--insecure', '--http-port', String(port), '--tcp-port', '0', '--peer-port', '0']);
    const exit = await node.exited;
    assert.is(exit.code, 1, node.stderrText);
    assert.match(node.stderrText, new RegExp(`HTTP port ${port} is already in use`));
    assert.ok(node.events.some((e) => e.event === 'serve.start_failed'), 'logged as a JSON line too');
  } finally {
    blocker.close();
  }
});

P('a cluster file runs its node, and --insecure flags say so on stderr', async () => {
  const node = serve(['--data-dir', join(work, 'open'), '--insecure', '--http-port', '0', '--tcp-port', '0', '--peer-port', '0']);
  try {
    await node.ports();
    assert.match(node.stderrText, /running without authentication \(--insecure\)/);
    const start = await node.event('serve.start');
    assert.equal([start.auth, start.replication, start.engine], [false, 'none', 'lsm']);
    assert.match(String(start.rngSeed), /^[0-9a-f]{32}$/, 'the OS-drawn seed is logged');
  } finally {
    node.kill();
  }
});

P('KV_LAB_WATCH_PID: a node stops in order when the process that owns it is gone', async () => {
  const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  const node = new Served(
    spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--data-dir', join(work, 'owned'), '--insecure', '--http-port', '0', '--tcp-port', '0', '--peer-port', '0'], {
      cwd: root,
      env: { ...process.env, KV_LAB_WATCH_PID: String(owner.pid) },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  try {
    await node.ports();
    owner.kill('SIGKILL');
    const exit = await node.exited;
    assert.is(exit.code, 0, node.stderrText);
    assert.ok(node.events.some((e) => e.event === 'serve.signal' && e.signal === `owner ${owner.pid} exited`));
  } finally {
    owner.kill('SIGKILL');
    node.kill();
  }
});

F.run();
P.run();
