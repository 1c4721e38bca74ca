import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JsonLineLogger } from '../../src/env/real/log.js';
import { RotatingLogFile } from '../../src/host/log-file.js';
import { freePort, kvLab, serve, tempDir as hostTempDir } from './helpers.js';

// A node's log file rotates by size (issue 16, item 10): however much a node is made to log, its
// logs take at most (keep + 1) × maxBytes, the newest lines are in the file itself, and no line
// is split across files.

const R = suite('rotating log file');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kv-lab-log-'));
}

R('rotates at maxBytes, keeps `keep` old files, newest first, lines whole', () => {
  const dir = tempDir();
  const file = path.join(dir, 'n1.log');
  const out = new RotatingLogFile(file, { maxBytes: 4096, keep: 3 });
  const log = new JsonLineLogger({ node: 'n1', out, wallMs: () => 0 });
  for (let i = 0; i < 1000; i++) log.log('warn', 'line.denied', { i, remote: '127.0.0.1:5555' });
  out.close();
  const files = fs.readdirSync(dir).sort();
  assert.equal(files, ['n1.log', 'n1.log.1', 'n1.log.2', 'n1.log.3']);
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.ok(Buffer.byteLength(text) <= 4096, `${f}: ${Buffer.byteLength(text)} bytes`);
    assert.ok(text.endsWith('\n') && text.split('\n').slice(0, -1).every((l) => (JSON.parse(l) as { event: string }).event === 'line.denied'), `${f} holds whole lines`);
    assert.is(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600);
  }
  const last = (f: string) => (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').pop() as string) as { i: number }).i;
  assert.is(last('n1.log'), 999, 'the newest line is in the file itself');
  assert.ok(last('n1.log.1') < last('n1.log') && last('n1.log.2') < last('n1.log.1') && last('n1.log.3') < last('n1.log.2'), '.1 is the newest rotated file');
  assert.ok(out.rotations > 3);
  fs.rmSync(dir, { recursive: true });
});

R('appends to an existing file and counts it towards the size; keep 0 starts the file again', () => {
  const dir = tempDir();
  const file = path.join(dir, 'n1.log');
  fs.writeFileSync(file, 'x'.repeat(3000) + '\n');
  const out = new RotatingLogFile(file, { maxBytes: 4096, keep: 0 });
  out.write('y'.repeat(2000) + '\n');
  out.close();
  assert.equal(fs.readdirSync(dir), ['n1.log']);
  assert.is(fs.readFileSync(file, 'utf8'), 'y'.repeat(2000) + '\n');
  fs.rmSync(dir, { recursive: true });
});

R('a failed write drops the line and says so later, without throwing', () => {
  const dir = tempDir();
  const file = path.join(dir, 'n1.log');
  const out = new RotatingLogFile(file, { maxBytes: 4096, keep: 1 });
  // The directory vanishes: rotation cannot rename into it.
  out.write('a'.repeat(4000) + '\n');
  fs.rmSync(dir, { recursive: true });
  out.write('b'.repeat(200) + '\n');
  assert.is(out.dropped, 1);
  fs.mkdirSync(dir);
  out.write('c\n');
  out.close();
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /"event":"log.dropped","lines":1/);
  assert.ok(text.endsWith('c\n'));
  fs.rmSync(dir, { recursive: true });
});

R('kv-lab serve --log-file: the node logs there, not on stderr; bad sizes are usage errors', async () => {
  const dir = hostTempDir('log-file');
  const file = path.join(dir, 'n1.log');
  const [httpPort, tcpPort, peerPort] = [await freePort(), await freePort(), await freePort()];
  const node = serve(['--id', 'n1', '--data-dir', path.join(dir, 'n1'), '--insecure', '--http-port', String(httpPort), '--tcp-port', String(tcpPort), '--peer-port', String(peerPort), '--log-file', file, '--log-max-mb', '1', '--log-keep', '2']);
  try {
    for (let i = 0; i < 200 && !(fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('"node.ready"')); i++) await new Promise((r) => setTimeout(r, 100));
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.ok(lines.some((l) => (JSON.parse(l) as { event: string }).event === 'serve.listening'), lines.join('\n'));
    assert.is(node.events.length, 0, 'nothing of the log on stderr');
    assert.is(fs.statSync(file).mode & 0o777, 0o600);
  } finally {
    node.kill();
  }
  const bad = await kvLab(['serve', '--id', 'n1', '--data-dir', path.join(dir, 'n2'), '--insecure', '--log-file', file, '--log-max-mb', 'lots']);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--log-max-mb expects a whole number of MiB from 1, got "lots"/);
  const keep = await kvLab(['serve', '--id', 'n1', '--data-dir', path.join(dir, 'n2'), '--insecure', '--log-file', path.join(dir, 'missing', 'x.log')]);
  assert.is(keep.code, 2, keep.stderr);
  assert.match(keep.stderr, /--log-file .*missing.*x\.log: ENOENT/);
});

R.run();
