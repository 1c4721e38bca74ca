import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { StorageCorruptionError } from '../../../src/storage/errors.js';
import { ByteWriter, compareBytes, writeU32 } from '../../../src/storage/util/bytes.js';
import { crc32c } from '../../../src/storage/util/crc32c.js';
import { FOOTER_BYTES, FORMAT_VERSION_CRC32C } from '../../../src/storage/lsm/table-format.js';
import { BlockCache } from '../../../src/storage/lsm/block-cache.js';
import { BlockBuilder, blockGet, DecodedBlock, foundKind, foundValueEnd, foundValueStart, KIND_DELETE, KIND_PUT, restartArrayOffset } from '../../../src/storage/lsm/block-format.js';
import { BloomBuilder, bloomHash } from '../../../src/storage/lsm/bloom.js';
import { Table, type TableHit } from '../../../src/storage/lsm/table.js';
import { TableBuilder } from '../../../src/storage/lsm/table-builder.js';
import { TableImages } from '../../../src/storage/lsm/table-images.js';
import { SimEnv } from '../sim-env.js';

const T = suite('sstable');

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

type Entry = [key: string, value: string | null];

function sortedEntries(keys: string[]): Entry[] {
  const uniq = [...new Set(keys)].map(enc).sort(compareBytes).map(dec);
  return uniq.map((k, i) => [k, i % 5 === 3 ? null : `value-of-${k}-${'x'.repeat(i % 13)}`]);
}

function buildTable(env: SimEnv, path: string, entries: Entry[], blockBytes = 128, restartInterval = 4) {
  const file = env.deps.disk.open(path, 'create-new');
  const b = new TableBuilder(file, { blockBytes, restartInterval, bloomBitsPerKey: 10 });
  for (const [k, v] of entries) b.add(enc(k), v === null ? KIND_DELETE : KIND_PUT, v === null ? new Uint8Array(0) : enc(v));
  const built = b.finish();
  file.close();
  return built;
}

T('a block stores keys prefix-compressed with restart points, and finds each of them', () => {
  const b = new BlockBuilder(3);
  const keys = ['apple', 'applesauce', 'applet', 'apply', 'banana', 'band', 'bandana'];
  keys.forEach((k, i) => b.add(enc(k), KIND_PUT, enc(`v${i}`)));
  const block = b.finish().slice();
  const restartsAt = restartArrayOffset(block);
  assert.is((block.length - 4 - restartsAt) / 4, 3, 'a restart point every 3 entries');
  // "applesauce" after "apple" stores only "sauce".
  assert.ok(block.length < keys.join('').length + 7 * 5 + 16, 'shared prefixes are not stored twice');
  keys.forEach((k, i) => {
    assert.ok(blockGet(block, restartsAt, enc(k)), k);
    assert.is(foundKind, KIND_PUT);
    assert.is(dec(block.subarray(foundValueStart, foundValueEnd)), `v${i}`);
  });
  for (const absent of ['', 'a', 'applea', 'azz', 'bandanas', 'zzz']) assert.not.ok(blockGet(block, restartsAt, enc(absent)), absent);
  assert.equal(new DecodedBlock(block).keys.map(dec), keys);
});

T('blockGet finds exactly the keys of a block, whatever their shared prefixes and restart points', () => {
  const keyArb = fc.uint8Array({ maxLength: 5 }).map((b) => b.map((x) => [0, 1, 2, 255][x & 3] as number));
  fc.assert(
    fc.property(fc.array(keyArb, { minLength: 1, maxLength: 60 }), fc.array(keyArb, { maxLength: 30 }), fc.integer({ min: 1, max: 5 }), (raw, probes, restart) => {
      const keys = [...new Map(raw.map((k) => [k.join(','), k])).values()].sort(compareBytes);
      const b = new BlockBuilder(restart);
      keys.forEach((k, i) => b.add(k, KIND_PUT, enc(`v${i}`)));
      const block = b.finish().slice();
      const restartsAt = restartArrayOffset(block);
      keys.forEach((k, i) => {
        assert.ok(blockGet(block, restartsAt, k), `key ${k.join(',')}`);
        assert.is(dec(block.subarray(foundValueStart, foundValueEnd)), `v${i}`);
      });
      for (const probe of probes) {
        const present = keys.some((k) => compareBytes(k, probe) === 0);
        assert.is(blockGet(block, restartsAt, probe), present, `probe ${probe.join(',')}`);
      }
    }),
    { numRuns: 400 },
  );
});

T('a table returns every entry, tombstones included, and nothing else', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ minLength: 0, maxLength: 8 }), { minLength: 1, maxLength: 200 }), fc.constantFrom(64, 128, 512), fc.integer({ min: 1, max: 8 }), (keys, blockBytes, restart) => {
      const env = new SimEnv('table');
      const entries = sortedEntries(keys);
      const built = buildTable(env, 't.sst', entries, blockBytes, restart);
      assert.is(built.entries, entries.length);
      const cache = new BlockCache(1 << 20);
      const t = Table.open(env.deps.disk, 't.sst', 1, cache, { bloomChecks: 0, bloomNegatives: 0 });
      const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
      for (const [k, v] of entries) {
        const r = t.get(enc(k), bloomHash(enc(k)), hit);
        assert.ok(r !== null, `entry ${JSON.stringify(k)} found`);
        assert.is(r.deleted, v === null);
        if (v !== null) assert.is(dec(r.value), v);
      }
      const present = new Set(entries.map(([k]) => k));
      for (const extra of ['~', '\u0000x', 'zz-absent']) if (!present.has(extra)) assert.is(t.get(enc(extra), bloomHash(enc(extra)), hit), null);
      // Forward and backward iteration see the entries in order.
      const it = t.iterator(true);
      const fwd: string[] = [];
      for (it.seekFirst(); it.valid(); it.next()) fwd.push(it.keyString());
      assert.equal(fwd, entries.map(([k]) => k));
      const back: string[] = [];
      for (it.seekLast(); it.valid(); it.prev()) back.push(it.keyString());
      assert.equal(back, fwd.slice().reverse());
      const mid = entries[entries.length >> 1]?.[0] as string;
      it.seekGE(enc(mid));
      assert.is(it.keyString(), mid);
      it.seekLT(enc(mid));
      assert.is(it.valid() ? it.keyString() : null, entries[(entries.length >> 1) - 1]?.[0] ?? null);
      it.close();
      t.close();
    }),
    { numRuns: 60 },
  );
});

T('point reads and seeks find the right block among keys with long shared prefixes and zero bytes', () => {
  // Index keys that share a prefix and differ only past it, or only by trailing zero bytes, make
  // the index search's 4-byte words tie: the search must fall back to the keys.
  const part = fc.string({ unit: fc.constantFrom('\u0000', 'a', 'b', '\u00ff'), maxLength: 6 });
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 150 }), fc.array(part, { maxLength: 40 }), fc.constantFrom('', 'p', 'prefix-0000000'), (keys, probes, shared) => {
      const env = new SimEnv('index-words');
      const entries = sortedEntries(keys.map((k) => shared + k));
      buildTable(env, 't.sst', entries, 64, 2);
      const t = Table.open(env.deps.disk, 't.sst', 1, new BlockCache(1 << 20), { bloomChecks: 0, bloomNegatives: 0 });
      const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
      const byKey = new Map(entries);
      const sortedKeys = entries.map(([k]) => enc(k));
      const it = t.iterator(true);
      for (const probe of [...probes.map((p) => shared + p), ...probes, '', '\uffff']) {
        const pb = enc(probe);
        const r = t.get(pb, bloomHash(pb), hit);
        assert.is(r !== null, byKey.has(probe), `get ${JSON.stringify(probe)}`);
        it.seekGE(pb);
        const want = sortedKeys.find((k) => compareBytes(k, pb) >= 0);
        assert.is(it.valid() ? it.keyString() : null, want === undefined ? null : dec(want), `seekGE ${JSON.stringify(probe)}`);
      }
      it.close();
      t.close();
    }),
    { numRuns: 150 },
  );
});

T('a flipped bit anywhere in a table is reported with the file and the block offset (read by block or imaged)', () => {
  for (const imaged of [false, true]) {
    const env = new SimEnv('flip');
    const entries = sortedEntries(Array.from({ length: 300 }, (_, i) => `key${i}`));
    const built = buildTable(env, 't.sst', entries);
    let detected = 0;
    for (let offset = 0; offset < built.sizeBytes; offset += 7) {
      const f = env.deps.disk.open('t.sst', 'write');
      const orig = f.read(offset, 1)[0] as number;
      f.writeAt(offset, new Uint8Array([orig ^ 0x04]));
      const images = new TableImages(imaged ? 1 << 20 : 0);
      try {
        // Imaged: the iterator's misses fill the cache, and the table is imaged after a few.
        const t = Table.open(env.deps.disk, 't.sst', 1, new BlockCache(0), { bloomChecks: 0, bloomNegatives: 0 }, imaged ? images : null);
        const it = t.iterator(imaged);
        for (it.seekFirst(); it.valid(); it.next());
        it.close();
        t.close();
        assert.unreachable(`flip at ${offset} went unnoticed`);
      } catch (err) {
        assert.instance(err, StorageCorruptionError, String(err));
        const c = err as StorageCorruptionError;
        assert.is(c.path, 't.sst');
        assert.ok(c.offset <= offset, `reported offset ${c.offset} is at or before the flipped byte ${offset}`);
        detected++;
      }
      // Past the first blocks (read one by one until an eighth of them missed), before the index.
      if (imaged && offset > built.sizeBytes / 4 && offset < built.sizeBytes / 2) assert.is(images.imaged, 1, `the table was imaged before the flip at ${offset} was found`);
      f.writeAt(offset, new Uint8Array([orig]));
      f.close();
    }
    assert.ok(detected > 100);
  }
});

T('a table is imaged once its misses reach an eighth of its blocks, within the budget, and serves every entry from there', () => {
  const env = new SimEnv('image');
  const entries = sortedEntries(Array.from({ length: 400 }, (_, i) => `key${String(i).padStart(4, '0')}`));
  const built = buildTable(env, 't.sst', entries);
  const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  const getAll = (t: Table) => {
    for (const [k, v] of entries) {
      const r = t.get(enc(k), bloomHash(enc(k)), hit);
      assert.ok(r !== null && r.deleted === (v === null) && (v === null || dec(r.value) === v), `get ${k}`);
    }
  };
  // A budget smaller than the table: no image, reads go through the block cache.
  const small = new TableImages(built.sizeBytes / 2);
  const cache0 = new BlockCache(1 << 20);
  const t0 = Table.open(env.deps.disk, 't.sst', 1, cache0, { bloomChecks: 0, bloomNegatives: 0 }, small);
  getAll(t0);
  assert.is(small.imaged, 0);
  assert.is(small.bytes, 0);
  assert.is(cache0.entries, t0.blockCount);
  t0.close();

  const images = new TableImages(1 << 20);
  const cache = new BlockCache(1 << 20);
  const t = Table.open(env.deps.disk, 't.sst', 1, cache, { bloomChecks: 0, bloomNegatives: 0 }, images);
  assert.ok(t.blockCount >= 40, `${t.blockCount} blocks`);
  const k = enc(entries[0]?.[0] as string);
  t.get(k, bloomHash(k), hit);
  assert.is(images.imaged, 0, 'one miss does not image a table');
  getAll(t);
  assert.is(images.imaged, 1);
  assert.ok(images.bytes >= built.sizeBytes / 2 && images.bytes <= built.sizeBytes + 4096, `image of ${images.bytes} bytes`);
  const imageBytes = images.bytes;
  assert.is(cache.misses, Math.ceil(t.blockCount / 8), 'misses until the table was imaged, none after');
  assert.is(cache.entries, 0, 'the imaged table left the block cache');
  const reads = images.reads;
  getAll(t);
  assert.is(images.reads, reads + entries.length);
  // An iterator reads the image too.
  const it = t.iterator(true);
  let n = 0;
  for (it.seekFirst(); it.valid(); it.next()) n++;
  assert.is(n, entries.length);
  t.close();
  assert.is(images.bytes, imageBytes, 'a table held by an iterator keeps its image');
  it.close();
  assert.is(images.bytes, 0, 'closing the table gives the image back');
  // The next table reuses the buffer.
  const t2 = Table.open(env.deps.disk, 't.sst', 2, cache, { bloomChecks: 0, bloomNegatives: 0 }, images);
  getAll(t2);
  assert.is(images.imaged, 2);
  t2.close();
});

T('a disk without readInto (the simulated one) gets no images', () => {
  const env = new SimEnv('no-image', {}, false);
  const entries = sortedEntries(Array.from({ length: 400 }, (_, i) => `key${i}`));
  buildTable(env, 't.sst', entries);
  const images = new TableImages(1 << 20);
  const t = Table.open(env.deps.disk, 't.sst', 1, new BlockCache(1 << 20), { bloomChecks: 0, bloomNegatives: 0 }, images);
  const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  for (const [k] of entries) t.get(enc(k), bloomHash(enc(k)), hit);
  assert.is(images.imaged, 0);
  t.close();
});

T('reads use the block cache; a warm read does not touch the file', () => {
  const env = new SimEnv('cache');
  const entries = sortedEntries(Array.from({ length: 100 }, (_, i) => `key${i}`));
  buildTable(env, 't.sst', entries);
  const cache = new BlockCache(1 << 20);
  const t = Table.open(env.deps.disk, 't.sst', 1, cache, { bloomChecks: 0, bloomNegatives: 0 });
  const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  const k = enc('key42');
  t.get(k, bloomHash(k), hit);
  assert.is(cache.misses, 1);
  t.get(k, bloomHash(k), hit);
  assert.is(cache.hits, 1);
  assert.ok(cache.bytes > 0 && cache.bytes <= 256);
});

T('the block cache keeps to its byte budget; a block hit since the hand passed stays (CLOCK)', () => {
  const c = new BlockCache(100);
  const t = { cacheSlots: new Int32Array(5) };
  c.put(t, 1, new Uint8Array(40), false);
  c.put(t, 2, new Uint8Array(40), false);
  c.get(t, 1);
  c.put(t, 3, new Uint8Array(40), false);
  assert.ok(c.bytes <= 100);
  assert.is(c.get(t, 2), undefined, 'the block never hit went');
  assert.is(c.entries, 2, 'the block hit stayed');
  // The hand cleared 1's bit on its way: without another hit, 1 goes before 3 (which was hit).
  c.get(t, 3);
  c.put(t, 4, new Uint8Array(40), false);
  assert.is(c.entries, 2);
  assert.ok(c.get(t, 3) !== undefined && c.get(t, 4) !== undefined);
  assert.is(c.get(t, 1), undefined);
  assert.equal([...t.cacheSlots].map((s) => s > 0), [false, false, false, true, true]);
  c.forget(t);
  assert.is(c.entries, 0);
  assert.is(c.bytes, 0);
  assert.equal([...t.cacheSlots], [0, 0, 0, 0, 0]);
});

T('reads that do not fill the cache (compaction) leave its figures and contents alone', () => {
  const env = new SimEnv('peek');
  const entries = sortedEntries(Array.from({ length: 100 }, (_, i) => `key${i}`));
  buildTable(env, 't.sst', entries);
  const cache = new BlockCache(1 << 20);
  const t = Table.open(env.deps.disk, 't.sst', 1, cache, { bloomChecks: 0, bloomNegatives: 0 });
  const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  const k = enc('key42');
  t.get(k, bloomHash(k), hit);
  assert.is(cache.misses, 1);
  const it = t.iterator(false);
  let n = 0;
  for (it.seekFirst(); it.valid(); it.next()) n++;
  it.close();
  assert.is(n, entries.length);
  assert.is(cache.misses, 1, 'no misses counted');
  assert.is(cache.hits, 0, 'no hits counted');
  assert.is(cache.entries, 1, 'nothing added');
});

T('a table that closes drops its blocks from the cache', () => {
  const env = new SimEnv('forget');
  const entries = sortedEntries(Array.from({ length: 100 }, (_, i) => `key${i}`));
  buildTable(env, 't.sst', entries);
  const cache = new BlockCache(1 << 20);
  const t = Table.open(env.deps.disk, 't.sst', 1, cache, { bloomChecks: 0, bloomNegatives: 0 });
  const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  for (const [k] of entries) t.get(enc(k), bloomHash(enc(k)), hit);
  assert.is(cache.entries, t.blockCount);
  t.close();
  assert.is(cache.entries, 0);
  assert.is(cache.bytes, 0);
});

/** Writes a table of format 1 (CRC-32C checksums, a standard Bloom filter), as older kv-lab did. */
function buildFormat1Table(env: SimEnv, path: string, entries: Entry[]): void {
  const out = new ByteWriter(1 << 16);
  const block = (contents: Uint8Array, type: number) => {
    const at = out.length;
    out.bytes(contents);
    out.u8(type);
    out.u32(crc32c(out.buf, at, at + contents.length + 1));
  };
  const data = new BlockBuilder(4);
  const index = new BlockBuilder(1);
  const bloom = new BloomBuilder(10);
  const handle = new ByteWriter(16);
  entries.forEach(([k, v], i) => {
    data.add(enc(k), v === null ? KIND_DELETE : KIND_PUT, v === null ? new Uint8Array(0) : enc(v));
    bloom.add(bloomHash(enc(k)));
    if (data.sizeEstimate() >= 128 || i === entries.length - 1) {
      const at = out.length;
      const contents = data.finish();
      block(contents, 1);
      handle.reset();
      handle.varint(at);
      handle.varint(contents.length);
      index.add(enc(k), KIND_PUT, handle.written());
      data.reset();
    }
  });
  const filterOffset = out.length;
  const filter = bloom.finish();
  block(filter, 3);
  const indexOffset = out.length;
  const indexBlock = index.finish();
  block(indexBlock, 2);
  const foot = new Uint8Array(FOOTER_BYTES);
  [filterOffset, filter.length, indexOffset, indexBlock.length, entries.length, FORMAT_VERSION_CRC32C].forEach((v, i) => writeU32(foot, 4 * i, v));
  writeU32(foot, 24, crc32c(foot, 0, 24));
  foot.set(enc('kvlabSST'), 28);
  out.bytes(foot);
  const f = env.deps.disk.open(path, 'create-new');
  f.append(out.written());
  f.close();
}

T('a table of format 1 (CRC-32C) is still read, and a flipped bit in it still detected', () => {
  const env = new SimEnv('format1');
  const entries = sortedEntries(Array.from({ length: 300 }, (_, i) => `key${i}`));
  buildFormat1Table(env, 't.sst', entries);
  const t = Table.open(env.deps.disk, 't.sst', 1, new BlockCache(1 << 20), { bloomChecks: 0, bloomNegatives: 0 });
  const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
  for (const [k, v] of entries) {
    const r = t.get(enc(k), bloomHash(enc(k)), hit);
    assert.ok(r !== null && r.deleted === (v === null) && (v === null || dec(r.value) === v), k);
  }
  for (let i = 0; i < 2000; i++) assert.is(t.get(enc(`absent${i}`), bloomHash(enc(`absent${i}`)), hit), null);
  assert.ok(t.stats.bloomNegatives > 1900, `the standard filter answers: ${t.stats.bloomNegatives} of 2000 absent keys filtered`);
  t.close();
  const f = env.deps.disk.open('t.sst', 'write');
  f.writeAt(10, new Uint8Array([(f.read(10, 1)[0] as number) ^ 1]));
  f.close();
  const t2 = Table.open(env.deps.disk, 't.sst', 1, new BlockCache(1 << 20), { bloomChecks: 0, bloomNegatives: 0 });
  assert.throws(() => t2.get(enc(entries[0]?.[0] as string), bloomHash(enc(entries[0]?.[0] as string)), hit), (e: unknown) => e instanceof StorageCorruptionError && /checksum/.test(String(e)));
});

T('a small cache reuses evicted buffers, and never one an iterator still reads (both read paths)', () => {
  for (const readInto of [true, false]) {
    const env = new SimEnv(`reuse-${readInto}`, {}, readInto);
    const entries = sortedEntries(Array.from({ length: 400 }, (_, i) => `key${String(i).padStart(4, '0')}`));
    buildTable(env, 't.sst', entries);
    // Room for about three 128-byte blocks: nearly every read evicts one.
    const cache = new BlockCache(3 * 140);
    const t = Table.open(env.deps.disk, 't.sst', 1, cache, { bloomChecks: 0, bloomNegatives: 0 });
    assert.ok(t.blockCount > 20);
    const it = t.iterator(true);
    it.seekFirst();
    const hit: TableHit = { deleted: false, value: new Uint8Array(0) };
    let seen = 0;
    for (let i = 0; i < entries.length; i++) {
      // Point reads far from the iterator evict its block and recycle buffers under it.
      const [k, v] = entries[(i * 7919) % entries.length] as Entry;
      const r = t.get(enc(k), bloomHash(enc(k)), hit);
      assert.ok(r !== null && r.deleted === (v === null) && (v === null || dec(r.value) === v), `get ${k}`);
      if (it.valid()) {
        const [ek, ev] = entries[seen] as Entry;
        assert.is(it.keyString(), ek, 'the iterator reads its block intact');
        assert.is(it.isDelete() ? null : it.valueString(), ev);
        seen++;
        it.next();
      }
    }
    it.close();
    assert.is(seen, entries.length);
    assert.ok(cache.evictions > 100, `evictions: ${cache.evictions}`);
  }
});

T.run();
