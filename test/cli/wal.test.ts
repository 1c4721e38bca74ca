import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walDumpCommand } from '../../src/cli/wal.js';
import { RealClock } from '../../src/env/real/clock.js';
import { RealDisk } from '../../src/env/real/disk.js';
import { silentLogger } from '../../src/env/log.js';
import { encodeBatch } from '../../src/storage/batch.js';
import type { Engine } from '../../src/storage/engine.js';
import { FSYNC_ALWAYS } from '../../src/storage/fsync-policy.js';
import { openEngine } from '../../src/storage/index.js';
import { ByteWriter } from '../../src/storage/util/bytes.js';
import { segmentName } from '../../src/storage/wal/segments.js';
import { Wal, WAL_DEFAULTS } from '../../src/storage/wal/wal.js';

const Dump = suite('kv-lab wal dump');

async function dump(dir: string, flags = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await walDumpCommand(dir, flags, (l) => out.push(l), (l) => err.push(l));
  return { code, records: out.map((l) => JSON.parse(l) as Record<string, unknown>), err: err.join('\n') };
}

async function writeWal(dir: string, blockBytes: number): Promise<void> {
  const deps = { disk: new RealDisk(dir), clock: new RealClock(), log: silentLogger };
  const wal = await new Promise<Wal>((res, rej) =>
    Wal.open(deps, { dir: '', fsync: FSYNC_ALWAYS, ...WAL_DEFAULTS, blockBytes, fromLsn: 1 }, () => {}, (e, w) => (e ? rej(e) : res(w as Wal))),
  );
  const b = new ByteWriter();
  encodeBatch([['k1', 'v1'], ['gone', null]], b);
  wal.append(1, b.copy());
  wal.append(17, new TextEncoder().encode('raft entry'));
  await new Promise<void>((res, rej) => wal.close((e) => (e ? rej(e) : res())));
}

Dump('prints each record as a JSON line, decoding key-value batches', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-wal-'));
  try {
    await writeWal(dir, 64);
    const r = await dump(dir, { blockBytes: '64' });
    assert.is(r.code, 0);
    assert.equal(r.records.map((x) => [x.lsn, x.type, x.kind]), [[1, 1, 'kv-batch'], [2, 17, 'unknown']]);
    assert.equal(r.records[0]?.ops, [['k1', 'v1'], ['gone', null]]);
    assert.is(Buffer.from(r.records[1]?.data as string, 'base64').toString(), 'raft entry');
    assert.match(r.err, /2 records, LSN 1\.\.2/);
    const from = await dump(dir, { blockBytes: '64', from: '2' });
    assert.equal(from.records.map((x) => x.lsn), [2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Dump('reports a torn tail without cutting it off', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-wal-'));
  try {
    await writeWal(dir, 64);
    const seg = join(dir, segmentName(1));
    const bytes = readFileSync(seg);
    writeFileSync(seg, bytes.subarray(0, bytes.length - 3));
    const r = await dump(dir, { blockBytes: '64' });
    assert.is(r.code, 0);
    assert.is(r.records.length, 1);
    assert.match(r.err, /torn tail in .*0+1\.wal at offset \d+/);
    assert.is(readFileSync(seg).length, bytes.length - 3, 'the dump changed nothing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Dump('tells a rotten last record, written whole, from a torn tail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-wal-'));
  try {
    await writeWal(dir, 64);
    const seg = join(dir, segmentName(1));
    const bytes = readFileSync(seg);
    const rotten = Buffer.from(bytes);
    rotten[rotten.length - 2] = (rotten[rotten.length - 2] as number) ^ 0x10;
    writeFileSync(seg, rotten);
    const r = await dump(dir, { blockBytes: '64' });
    assert.is(r.code, 0);
    assert.is(r.records.length, 1);
    assert.match(r.err, /rotten last record in .*0+1\.wal at offset \d+: \d+ bytes \(checksum: fragment checksum mismatch\), written whole, so not a torn write/);
    assert.not.match(r.err, /torn tail in/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Dump('an engine directory: finds wal/ and the block size in the manifest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-wal-'));
  try {
    const deps = { disk: new RealDisk(dir), clock: new RealClock(), log: silentLogger };
    const engine = await new Promise<Engine>((res, rej) => openEngine('lsm', deps, 'db', { lsm: { walBlockBytes: 128 } }, (e, x) => (e ? rej(e) : res(x as Engine))));
    await new Promise<void>((res, rej) => engine.write([['a', 'x'.repeat(300)]], (e) => (e ? rej(e) : res())));
    await new Promise<void>((res) => engine.close(() => res()));
    const r = await dump(join(dir, 'db'));
    assert.is(r.code, 0);
    assert.equal(r.records[0]?.ops, [['a', 'x'.repeat(300)]]);
    assert.match(r.err, /block size 128/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Dump('corruption exits 1 naming the file and offset; bad arguments exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-wal-'));
  try {
    await writeWal(dir, 64);
    const seg = join(dir, segmentName(1));
    const bytes = readFileSync(seg);
    bytes[10] = (bytes[10] as number) ^ 1; // inside the first record, with the second after it
    writeFileSync(seg, bytes);
    const r = await dump(dir, { blockBytes: '64' });
    assert.is(r.code, 1);
    assert.match(r.err, /corruption in 0+1\.wal at offset 0/);
    assert.is((await dump(join(dir, 'missing'))).code, 2);
    assert.is((await dump(dir, { limit: 'x' })).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Dump('the kv-lab binary has the command: `kv-lab wal dump <dir>` as the storage README shows it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-wal-'));
  try {
    await writeWal(dir, 64);
    const root = join(import.meta.dirname, '..', '..');
    const r = spawnSync(process.execPath, [join(root, 'bin', 'kv-lab.js'), 'wal', 'dump', dir, '--block-bytes', '64'], { encoding: 'utf8', env: { ...process.env, KV_LAB_FROM_SOURCE: '1' }, timeout: 60_000 });
    assert.is(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { lsn: number }).lsn), [1, 2]);
    assert.match(r.stderr, /2 records, LSN 1\.\.2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Dump.run();
