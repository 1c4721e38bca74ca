import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { loadClusterConfig, renderClusterConfig } from '../../src/cli/cluster-config.js';
import { UsageError } from '../../src/cli/errors.js';
import { parseTimeout, timeoutsFromFlags, type ServeFlags } from '../../src/cli/serve.js';
import { kvLab, serve, tempDir, type Served } from './helpers.js';

// Slowloris against a real `kv-lab serve` process (issue 16): the timeouts given by flags close
// an idle line connection, a silent one, a line trickled without end, and an HTTP head trickled
// without end — on real sockets and the real clock. The cluster file's `timeouts:` and the flags'
// parsing are checked here too.

const S = suite('client timeouts of a served node');

let node: Served;
let tcp = 0;
let httpPort = 0;

S.before(async () => {
  const dataDir = join(tempDir('timeouts'), 'n1');
  node = serve(['--id', 'n1', '--data-dir', dataDir, '--http-port', '0', '--tcp-port', '0', '--peer-port', '0', '--tcp-idle-timeout', '1500ms', '--tcp-read-timeout', '1s', '--http-header-timeout', '1s']);
  const ports = await node.ready();
  tcp = ports.tcp;
  httpPort = ports.http;
});

S.after(() => node?.kill());

/** A raw connection: what it received, and when it closed (ms after it opened), or null. */
async function open(port: number) {
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
  const openedAt = Date.now();
  const r = { socket: s, text: '', closedAfterMs: null as number | null };
  s.setEncoding('latin1');
  s.on('data', (d: string) => (r.text += d));
  s.on('error', () => {});
  s.on('close', () => (r.closedAfterMs = Date.now() - openedAt));
  return r;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

S('an idle line connection, and one that never sends a byte, are closed after --tcp-idle-timeout', async () => {
  const [idle, silent] = await Promise.all([open(tcp), open(tcp)]);
  idle.socket.write('PING\n');
  await until(() => idle.closedAfterMs !== null && silent.closedAfterMs !== null, 10_000);
  assert.is(idle.text, 'PONG\n');
  assert.ok(idle.closedAfterMs !== null && idle.closedAfterMs >= 1400, `idle closed after ${idle.closedAfterMs} ms`);
  assert.ok(silent.closedAfterMs !== null && silent.closedAfterMs >= 1400, `silent closed after ${silent.closedAfterMs} ms`);
});

S('a line trickled byte by byte is cut off after --tcp-read-timeout with ERR timeout', async () => {
  const c = await open(tcp);
  c.socket.write('PUT k ');
  // A byte every 200 ms: never idle for 1.5 s, but the line never ends.
  const trickle = setInterval(() => c.socket.writable && c.socket.write('x'), 200);
  await until(() => c.closedAfterMs !== null, 10_000);
  clearInterval(trickle);
  assert.match(c.text, /^ERR timeout the line did not arrive whole within 1000 ms/);
  assert.ok(c.closedAfterMs !== null && c.closedAfterMs >= 900, `closed after ${c.closedAfterMs} ms`);
});

S('an HTTP head trickled byte by byte is answered 408 after --http-header-timeout', async () => {
  const c = await open(httpPort);
  c.socket.write('GET /health HTTP/1.1\r\n');
  const trickle = setInterval(() => c.socket.writable && c.socket.write('X'), 200);
  await until(() => c.closedAfterMs !== null, 10_000);
  clearInterval(trickle);
  assert.match(c.text, /^HTTP\/1\.1 408/);
});

S('timeout flags: durations from 100ms to 24h, over the cluster file\'s; anything else exits 2 with the flag named', async () => {
  assert.is(parseTimeout('20s', '--x'), 20_000);
  assert.is(parseTimeout('1.5m', '--x'), 90_000);
  assert.is(parseTimeout('250ms', '--x'), 250);
  for (const bad of ['5', '0s', '50ms', '25h', '-1s', 'soon', '1e3s']) assert.throws(() => parseTimeout(bad, '--x'), (e: unknown) => e instanceof UsageError && /--x expects a duration/.test((e as Error).message), bad);
  assert.equal(timeoutsFromFlags({ tcpIdleTimeout: '10s' } as ServeFlags, { tcpIdleMs: 5000, httpIdleMs: 7000 }), { tcpIdleMs: 10_000, httpIdleMs: 7000 });
  assert.is(timeoutsFromFlags({} as ServeFlags, undefined), undefined);
  const r = await kvLab(['serve', '--data-dir', join(tempDir('timeouts-bad'), 'n1'), '--tcp-idle-timeout', '0']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--tcp-idle-timeout expects a duration/);
});

S('the cluster file\'s timeouts: read, written back, bounded', () => {
  const dir = tempDir('timeouts-config');
  const file = join(dir, 'cluster.yaml');
  const text = (timeouts: string) => `secretFile: s\nauth: none\n${timeouts}nodes:\n  - { id: n1, httpPort: 8000, tcpPort: 3001, peerPort: 9001, dataDir: d }\n`;
  writeFileSync(file, text('timeouts:\n  tcpIdle: 10m\n  httpHeader: 5s\n'));
  const c = loadClusterConfig(file);
  assert.equal(c.timeouts, { tcpIdleMs: 600_000, httpHeadersMs: 5000 });
  writeFileSync(file, renderClusterConfig(c));
  assert.equal(loadClusterConfig(file).timeouts, c.timeouts, 'written back the same');
  writeFileSync(file, text(''));
  assert.is(loadClusterConfig(file).timeouts, undefined, 'optional');
  for (const [bad, message] of [['tcpIdle: 2d', /duration/], ['tcpRead: 10ms', /at least 100 ms/], ['httpIdle: 25h', /at most 24h/], ['idle: 5s', /idle/]] as const) {
    writeFileSync(file, text(`timeouts:\n  ${bad}\n`));
    assert.throws(() => loadClusterConfig(file), (e: unknown) => e instanceof UsageError && message.test((e as Error).message), bad);
  }
});

S.run();
