import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageOptionsError } from '../../../src/storage/errors.js';
import { FSYNC_ALWAYS, FSYNC_NEVER } from '../../../src/storage/fsync-policy.js';
import { LsmEngine } from '../../../src/storage/lsm/lsm.js';
import { Harness, SMALL } from '../harness.js';

// Behaviour specific to the LSM tree: flushes and compactions happen and keep the levels in
// shape, tombstones go only where nothing older can reappear, snapshots pin their files, the
// write throttle works, and the figures /metrics exports add up.

const L = suite('lsm');

const lsm = (h: Harness) => h.engine as LsmEngine;

function fill(h: Harness, n: number, prefix = 'k', valueBytes = 40): void {
  for (let i = 0; i < n; i++) assert.is(h.write([[`${prefix}${String((i * 7919) % n).padStart(5, '0')}`, 'v'.repeat(valueBytes)]]), null);
}

L('writes flow from memtable to level 0 to deeper levels; every level past 0 stays disjoint', () => {
  const h = new Harness('lsm', 'levels');
  fill(h, 2000);
  h.env.run(2000);
  const s = h.engine.stats();
  assert.ok(s.flushes > 10, `flushes ${s.flushes}`);
  assert.ok(s.compactions > 5, `compactions ${s.compactions}`);
  assert.ok(s.levels.slice(2).some((l) => l.files > 0), `data reached level 2: ${JSON.stringify(s.levels)}`);
  assert.ok((s.levels[0]?.files ?? 0) < (SMALL.lsm?.l0CompactionTrigger ?? 0) + 1, 'level 0 was compacted down');
  assert.is(h.all().length, 2000);
});

L('point reads of keys of changing lengths (the reused lookup view) find exactly their own keys', () => {
  const h = new Harness('lsm', 'key-lengths');
  // Keys that are prefixes of one another, and one longer than the lookup buffer's first size.
  const keys = ['k', 'k1', 'k12', 'k123', `k${'x'.repeat(300)}`, 'k1234', 'é', 'éé'];
  for (const k of keys) assert.is(h.write([[k, `v-${k}`]]), null);
  fill(h, 1500, 'z');
  h.env.run(2000);
  assert.ok(h.engine.stats().flushes > 0, 'the keys are in tables');
  for (let round = 0; round < 3; round++) {
    for (const k of round === 1 ? [...keys].reverse() : keys) assert.is(h.engine.get(k), `v-${k}`, k);
    for (const k of ['k0', 'k12x', 'k1235', `k${'x'.repeat(299)}`, 'e']) assert.is(h.engine.get(k), undefined, k);
  }
});

L('tombstones are dropped once no deeper level holds their key, and deleted keys stay deleted', () => {
  const h = new Harness('lsm', 'tombstones');
  fill(h, 600, 'a');
  h.env.run(2000);
  for (let i = 0; i < 600; i += 2) assert.is(h.write([[`a${String(i).padStart(5, '0')}`, null]]), null);
  // More data behind the deletes pushes them down through every level.
  fill(h, 3000, 'b');
  h.env.run(5000);
  const dropped = h.env.logs.filter((l) => l.event === 'storage.lsm.compacted').reduce((n, l) => n + (l.fields?.tombstonesDropped as number), 0);
  assert.ok(dropped > 0, 'compactions dropped tombstones');
  for (let i = 0; i < 600; i++) assert.is(h.engine.get(`a${String(i).padStart(5, '0')}`), i % 2 === 0 ? undefined : 'v'.repeat(40));
  assert.is(h.engine.scan('a', 'b', 10_000, false).length, 300);
});

L('a snapshot keeps reading the files it saw while compaction replaces them', () => {
  const h = new Harness('lsm', 'snapshot');
  fill(h, 500, 'a');
  h.env.run(1000);
  const snap = h.engine.snapshot();
  const before = snap.scan('', null, 10_000, false);
  fill(h, 1500, 'b');
  for (let i = 0; i < 500; i += 3) assert.is(h.write([[`a${String(i).padStart(5, '0')}`, null]]), null);
  h.env.run(3000);
  assert.ok(h.engine.stats().compactions > 5);
  assert.equal(snap.scan('', null, 10_000, false), before, 'the snapshot did not change');
  assert.is(snap.get('a00003'), 'v'.repeat(40));
  assert.is(h.engine.get('a00003'), undefined);
  const diskWithSnapshot = h.engine.stats().diskBytes;
  snap.release();
  h.env.run(100);
  fill(h, 50, 'c');
  h.env.run(3000);
  assert.ok(h.env.disk.paths().every((p) => !p.endsWith('.sst') || h.engine.stats().levels.some((l) => l.files > 0)));
  assert.ok(diskWithSnapshot > 0);
});

L('writes wait while level 0 is over its stop trigger; reads go on; the backlog drains', () => {
  const h = new Harness('lsm', 'throttle');
  const acked: number[] = [];
  for (let i = 0; i < 400; i++) h.engine.write([[`t${String(i).padStart(4, '0')}`, 'x'.repeat(60)]], (err) => err === null && acked.push(i));
  // Reads are served at once while writes are still queued behind the backlog.
  assert.is(h.engine.get('t0000'), undefined);
  h.env.until(() => acked.length === 400, 600_000);
  assert.equal(acked, Array.from({ length: 400 }, (_, i) => i), 'acknowledged in order');
  assert.ok(h.engine.stats().writeStalls > 0, 'some writes had to wait');
  assert.is(h.all().length, 400);
});

L('stats: write amplification counts the WAL, flushes and compactions; the cache is used', () => {
  // Without table images, which would take these small tables whole after a few misses.
  const h = new Harness('lsm', 'stats', {}, FSYNC_ALWAYS, { ...SMALL, lsm: { ...SMALL.lsm, tableImageBytes: 0 } });
  fill(h, 1000);
  h.env.run(2000);
  for (let i = 0; i < 1000; i += 7) {
    const k = `k${String(i).padStart(5, '0')}`;
    assert.is(h.engine.get(k), 'v'.repeat(40));
    assert.is(h.engine.get(k), 'v'.repeat(40), 'again, from the cache');
  }
  const s = h.engine.stats();
  assert.ok(s.writeAmplification > 2, `write amplification ${s.writeAmplification}`);
  assert.ok(s.diskBytesWritten > s.userBytesWritten);
  assert.ok(s.cacheHits > 0 && s.cacheMisses > 0);
  assert.ok(s.diskBytes > 0 && s.compactionBytesWritten > 0 && s.compactionBytesRead > 0);
  assert.ok(lsm(h).bloomStats().bloomNegatives > 0, 'filters saved block reads');
  assert.is(s.failure, null);
  assert.equal(lsm(h).imageStats(), { imaged: 0, bytes: 0, reads: 0 });
});

L('table images: tables that miss often are read whole and serve reads past the block cache; the budget is kept', () => {
  const budget = 8 * 4096;
  const h = new Harness('lsm', 'images', {}, FSYNC_ALWAYS, { ...SMALL, lsm: { ...SMALL.lsm, tableImageBytes: budget } });
  fill(h, 1000);
  h.env.run(2000);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 1000; i += 3) assert.is(h.engine.get(`k${String(i).padStart(5, '0')}`), 'v'.repeat(40));
  }
  const im = lsm(h).imageStats();
  assert.ok(im.imaged > 0 && im.reads > 0, `images ${JSON.stringify(im)}`);
  assert.ok(im.bytes > 0 && im.bytes <= budget, `image bytes ${im.bytes} within ${budget}`);
  // The engine's memory counts what its images and block cache hold, not only the memtables.
  const st = lsm(h).stats();
  assert.ok(st.memoryBytes >= im.bytes + st.cacheBytes, `memoryBytes ${st.memoryBytes} holds images ${im.bytes} and cache ${st.cacheBytes}`);
  assert.ok(lsm(h).stats().levels.reduce((n, l) => n + l.files, 0) > 8, 'more tables than the budget holds (4 KiB each)');
  // Compactions close imaged tables and give their bytes back.
  fill(h, 1000);
  h.env.run(5000);
  assert.ok(lsm(h).imageStats().bytes <= budget);
  assert.is(h.all().length, 1000);
});

L('group commit under fsync always: 64 concurrent writers share few fsyncs', () => {
  const h = new Harness('lsm', 'group', {}, undefined, { lsm: { ...SMALL.lsm, memtableBytes: 1 << 20, walSegmentBytes: 1 << 20 } });
  const before = h.engine.stats().fsyncs;
  let acked = 0;
  for (let i = 0; i < 64; i++) h.engine.write([[`w${i}`, 'v']], () => acked++);
  h.env.until(() => acked === 64);
  const fsyncs = h.engine.stats().fsyncs - before;
  assert.ok(fsyncs <= 3, `64 writers took ${fsyncs} fsyncs`);
});

L('under fsync always a write is invisible until durable; under never it is visible at once', () => {
  const always = new Harness('lsm', 'vis-always');
  let done = false;
  always.engine.write([['x', '1']], () => (done = true));
  assert.is(always.engine.get('x'), undefined, 'not visible before its fsync');
  always.env.until(() => done);
  assert.is(always.engine.get('x'), '1');
  const never = new Harness('lsm', 'vis-never', {}, FSYNC_NEVER);
  never.engine.write([['x', '1']], () => {});
  assert.is(never.engine.get('x'), '1');
});

L('reopening with another WAL block size is refused (it is part of the format)', () => {
  const h = new Harness('lsm', 'blocksize');
  fill(h, 10);
  assert.is(h.close(), null);
  const [err] = h.env.call<[Error | null]>((cb) => LsmEngine.open(h.env.deps, 'db', { ...SMALL.lsm, walBlockBytes: 128 }, cb));
  assert.instance(err, StorageOptionsError);
  assert.match(String(err), /walBlockBytes 64, not 128/);
});

L('overwrites of a few keys flush the memtable anyway, so the WAL and its replay stay bounded', () => {
  // The memtable keeps one value per key, so 4 keys never fill it; every overwrite still adds a
  // WAL record, and the WAL goes only once a memtable is in a table.
  const h = new Harness('lsm', 'overwrites');
  const keys = ['a', 'b', 'c', 'd'];
  for (let i = 0; i < 3000; i++) assert.is(h.write([[keys[i % 4] as string, `value-${i}`]]), null);
  h.env.run(2000);
  const s = h.engine.stats();
  assert.ok(s.flushes > 10, `flushes ${s.flushes}`);
  const memtableBytes = SMALL.lsm?.memtableBytes ?? 0;
  assert.ok(s.diskBytes < memtableBytes * 40, `disk bytes ${s.diskBytes} for ${s.diskBytesWritten} written`);
  assert.ok(s.diskBytesWritten > memtableBytes * 100, 'the workload wrote far more than stays on disk');
  assert.is(h.crash(), null);
  const opened = h.env.logs.filter((l) => l.event === 'storage.lsm.opened').pop();
  assert.ok((opened?.fields?.walRecords as number) < 200, `replayed ${String(opened?.fields?.walRecords)} WAL records`);
  for (let k = 0; k < 4; k++) assert.is(h.engine.get(keys[k] as string), `value-${2996 + k}`);
});

L('bad options are refused with the option named', () => {
  const h = new Harness('lsm', 'opts');
  const [err] = h.env.call<[Error | null]>((cb) => LsmEngine.open(h.env.deps, 'db2', { memtableBytes: -1 }, cb));
  assert.match(String(err), /memtableBytes must be a number in/);
});

L.run();
