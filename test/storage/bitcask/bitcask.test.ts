import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BitcaskEngine } from '../../../src/storage/bitcask/bitcask.js';
import { StorageCorruptionError } from '../../../src/storage/errors.js';
import { Harness } from '../harness.js';

// Behaviour specific to Bitcask: hint files for a fast start, merges that reclaim dead bytes
// without disturbing snapshots, checksummed reads.

const B = suite('bitcask');

const bc = (h: Harness) => h.engine as BitcaskEngine;

function fill(h: Harness, keys: number, rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < keys; i++) assert.is(h.write([[`key${String(i).padStart(3, '0')}`, `round${r}-${'v'.repeat(20)}`]]), null);
  }
}

B('closed data files get hint files, and a restart reads the hints instead of the data', () => {
  const h = new Harness('bitcask', 'hints', {}, undefined, { bitcask: { fileBytesMax: 512, mergeDeadRatio: 1, mergeDeadBytesMin: 1 << 30 } });
  fill(h, 40, 1);
  h.env.run(500);
  assert.ok(h.env.disk.paths().some((p) => p.endsWith('.hint')), 'hints were written');
  assert.is(h.close(), null);
  assert.is(h.open(), null);
  assert.ok(bc(h).recovery.hintsUsed > 0, 'the restart used them');
  assert.is(h.all().length, 40);
});

B('a damaged hint is rejected and its data file scanned instead; nothing is lost', () => {
  const h = new Harness('bitcask', 'badhint', {}, undefined, { bitcask: { fileBytesMax: 512, mergeDeadRatio: 1, mergeDeadBytesMin: 1 << 30 } });
  fill(h, 40, 1);
  h.env.run(500);
  const before = h.all();
  assert.is(h.close(), null);
  const flipped = h.env.disk.corrupt('.hint');
  assert.ok(flipped !== null);
  assert.is(h.open(), null);
  assert.is(bc(h).recovery.hintsRejected.length, 1);
  assert.is(bc(h).recovery.hintsRejected[0]?.path, flipped.path);
  assert.equal(h.all(), before);
});

B('merges reclaim overwritten values and keep every live one', () => {
  const h = new Harness('bitcask', 'merge', {}, undefined, { bitcask: { fileBytesMax: 1024, mergeDeadRatio: 0.5, mergeDeadBytesMin: 0 } });
  fill(h, 30, 20);
  h.env.run(2000);
  const s = h.engine.stats();
  assert.ok(s.compactions > 0, 'merged');
  const live = 30 * (6 + 26 + 13 + 25);
  assert.ok(s.diskBytes < live * 4, `disk ${s.diskBytes} bytes for about ${live} live`);
  assert.equal(h.all().map(([, v]) => v.slice(0, 7)), Array(30).fill('round19'));
  assert.is(h.close(), null);
  assert.is(h.open(), null);
  assert.equal(h.all().map(([, v]) => v.slice(0, 7)), Array(30).fill('round19'), 'and after a restart');
});

B('a snapshot taken before a merge keeps reading the merged-away files until released', () => {
  const h = new Harness('bitcask', 'snapmerge', {}, undefined, { bitcask: { fileBytesMax: 512, mergeDeadRatio: 0.3, mergeDeadBytesMin: 0 } });
  fill(h, 10, 2);
  const snap = h.engine.snapshot();
  const seen = snap.scan('', null, 100, false);
  fill(h, 10, 10);
  h.env.run(2000);
  assert.ok(h.engine.stats().compactions > 0);
  assert.equal(snap.scan('', null, 100, false), seen, 'the snapshot still reads its values');
  const filesWithSnapshot = h.env.disk.paths().filter((p) => p.endsWith('.data')).length;
  snap.release();
  fill(h, 10, 1);
  h.env.run(2000);
  assert.ok(h.env.disk.paths().filter((p) => p.endsWith('.data')).length <= filesWithSnapshot);
});

B('a read of a damaged entry fails naming the file and offset', () => {
  const h = new Harness('bitcask', 'flipread', {}, undefined, { bitcask: { fileBytesMax: 1 << 20 } });
  assert.is(h.write([['a', 'x'.repeat(100)]]), null);
  const f = h.env.deps.disk.open('db/000001.data', 'write');
  const b = f.read(60, 1);
  f.writeAt(60, new Uint8Array([(b[0] as number) ^ 1]));
  assert.throws(() => h.engine.get('a'), (e: unknown) => e instanceof StorageCorruptionError && e.path === 'db/000001.data' && e.offset === 25);
});

B('the keydir holds every key in memory: the estimate grows with the key count', () => {
  const h = new Harness('bitcask', 'memory');
  const m0 = h.engine.stats().memoryBytes;
  for (let i = 0; i < 100; i++) assert.is(h.write([[`some-longer-key-${i}`, 'v']]), null);
  const m1 = h.engine.stats().memoryBytes;
  assert.ok(m1 - m0 >= 100 * 100, `about a hundred bytes per key, got ${(m1 - m0) / 100}`);
  for (let i = 0; i < 100; i++) assert.is(h.write([[`some-longer-key-${i}`, null]]), null);
  assert.is(h.engine.stats().memoryBytes, m0, 'deleted keys leave the keydir');
});

B.run();
