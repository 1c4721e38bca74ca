import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealDisk } from '../../../src/env/real/disk.js';
import { DiskError } from '../../../src/env/disk.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

test('the real disk honours the Disk contract', async () => {
  const disk = new RealDisk(mkdtempSync(join(tmpdir(), 'kv-lab-disk-')));
  disk.mkdir('wal');
  const f = disk.open('wal/a', 'create');
  f.append(enc.encode('hello'));
  f.writeAt(7, enc.encode('!'));
  assert.is(f.size(), 8);
  assert.equal([...f.read(5, 3)], [0, 0, '!'.charCodeAt(0)]);
  assert.is(f.read(6, 100).length, 2, 'short read at the end');
  const into = new Uint8Array(6).fill(9);
  assert.is(f.readInto?.(0, 5, into, 1), 5);
  assert.is(dec.decode(into.subarray(1)), 'hello');
  assert.is(into[0], 9, 'readInto writes only from its offset');
  assert.is(f.readInto?.(6, 100, new Uint8Array(100), 0), 2, 'short readInto at the end');
  assert.throws(() => f.readInto?.(0, 8, new Uint8Array(4), 0), (e: unknown) => e instanceof DiskError && e.code === 'EINVAL');
  const err = await new Promise<DiskError | null>((r) => f.sync(r));
  assert.is(err, null);
  assert.is(await new Promise<DiskError | null>((r) => disk.syncDir('wal', r)), null);
  f.truncate(5);
  assert.is(dec.decode(disk.readFile('wal/a')), 'hello');
  disk.rename('wal/a', 'wal/b');
  assert.equal(disk.list('wal'), ['b']);
  assert.throws(() => disk.open('wal/a', 'read'), (e: unknown) => e instanceof DiskError && e.code === 'ENOENT');
  assert.throws(() => disk.open('wal/b', 'create-new'), (e: unknown) => e instanceof DiskError && e.code === 'EEXIST');
  assert.throws(() => disk.open('../escape', 'create'), (e: unknown) => e instanceof DiskError && e.code === 'EINVAL');
  const ro = disk.open('wal/b', 'read');
  assert.throws(() => ro.append(enc.encode('x')), /EBADF/);
  ro.close();
  assert.throws(() => ro.read(0, 1), /EBADF/);
  disk.remove('wal/b');
  assert.not.ok(disk.exists('wal/b'));
  assert.ok(disk.usage().usedBytes >= 0);
  f.close();
});

test('files are created 0600 and directories 0700 even in a data directory made 0755, with umask 0 (issue 16, item 11)', () => {
  const root = mkdtempSync(join(tmpdir(), 'kv-lab-disk-'));
  chmodSync(root, 0o755);
  const old = process.umask(0);
  try {
    writeFileSync(join(root, 'old'), 'written by an older build', { mode: 0o644 });
    const disk = new RealDisk(root);
    disk.mkdir('raft/snap');
    for (const mode of ['create', 'create-new', 'truncate'] as const) disk.open(`raft/snap/${mode}`, mode).close();
    disk.open('old', 'write').close();
    const modeOf = (p: string) => statSync(join(root, p)).mode & 0o777;
    assert.equal(['raft', 'raft/snap'].map(modeOf), [0o700, 0o700]);
    assert.equal(['create', 'create-new', 'truncate'].map((m) => modeOf(`raft/snap/${m}`)), [0o600, 0o600, 0o600]);
    assert.is(modeOf('old'), 0o600, 'a world-readable file opened for writing is made private');
    assert.is(modeOf(''), 0o755, 'an existing data directory keeps its mode');
  } finally {
    process.umask(old);
  }
});

test('usage reports the free space of the file system as capacity beyond what is used', () => {
  const root = mkdtempSync(join(tmpdir(), 'kv-lab-disk-'));
  const disk = new RealDisk(root);
  disk.open('a', 'create').append(new Uint8Array(1000));
  const u = disk.usage();
  const s = statfsSync(root);
  assert.is(u.usedBytes, 1000);
  assert.ok(u.capacityBytes !== null);
  // Other processes write too: compare loosely.
  assert.ok(Math.abs((u.capacityBytes as number) - u.usedBytes - s.bavail * s.bsize) < 64 * 1024 * 1024);
});

test.run();
