import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Disk, DiskFile } from '../../../src/env/disk.js';
import type { Engine, WriteOp } from '../../../src/storage/engine.js';
import { FSYNC_NEVER } from '../../../src/storage/fsync-policy.js';
import { openEngine } from '../../../src/storage/index.js';
import { BlockCache } from '../../../src/storage/lsm/block-cache.js';
import { applyOps, modelScan, SMALL } from '../harness.js';
import { SimEnv } from '../sim-env.js';

// The block cache reuses the buffers of evicted blocks for the next misses, including blocks that
// iterators hold, once they let go. A buffer reused while an iterator still reads it would change
// the iterator's block under it: these tests look for exactly that.

const B = suite('block-cache');

const owner = (blocks: number) => ({ cacheSlots: new Int32Array(blocks) });

B('a block evicted while an iterator holds it is reused only after the iterator releases it', () => {
  const cache = new BlockCache(1000);
  const t = owner(4);
  const held = cache.takeBuffer(600);
  held.fill(7);
  cache.put(t, 0, held.subarray(0, 600), true, true);
  cache.put(t, 1, cache.takeBuffer(600).subarray(0, 600), true); // evicts block 0
  assert.is(t.cacheSlots[0], 0, 'block 0 was evicted');
  const next = cache.takeBuffer(600);
  assert.is.not(next.buffer, held.buffer, 'a held buffer is not handed out');
  cache.release(held.subarray(0, 600));
  assert.is(cache.takeBuffer(600).buffer, held.buffer, 'released, it is reused');
});

B('a block two iterators hold is reused after both release it; one compaction saw is never reused', () => {
  const cache = new BlockCache(1000);
  const t = owner(4);
  const buf = cache.takeBuffer(600);
  const block = buf.subarray(0, 600);
  cache.put(t, 0, block, true, true);
  assert.is(cache.get(t, 0, true), block, 'second holder');
  cache.put(t, 1, cache.takeBuffer(600).subarray(0, 600), true);
  cache.release(block);
  assert.is.not(cache.takeBuffer(600).buffer, buf.buffer, 'one holder left');
  cache.release(block);
  assert.is(cache.takeBuffer(600).buffer, buf.buffer);
  const seen = cache.takeBuffer(600);
  cache.put(t, 2, seen.subarray(0, 600), true);
  cache.peek(t, 2);
  cache.put(t, 3, cache.takeBuffer(600).subarray(0, 600), true);
  assert.is(t.cacheSlots[2], 0);
  assert.is.not(cache.takeBuffer(600).buffer, seen.buffer, 'compaction may still read it');
});

/** The simulated disk with readInto (which the real disk has): the path that reuses buffers. */
function withReadInto(disk: Disk): Disk {
  return new Proxy(disk, {
    get(target, prop, receiver) {
      if (prop !== 'open') return Reflect.get(target, prop, receiver);
      return (path: string, mode: Parameters<Disk['open']>[1]): DiskFile => {
        const file = target.open(path, mode);
        return new Proxy(file, {
          get(f, p, r) {
            if (p === 'readInto') {
              return (offset: number, length: number, into: Uint8Array, at: number) => {
                const got = f.read(offset, length);
                into.set(got, at);
                return got.length;
              };
            }
            const v = Reflect.get(f, p, r);
            return typeof v === 'function' ? v.bind(f) : v;
          },
        });
      };
    },
  });
}

B('scans and point reads through a cache of a few blocks, buffers reused under live iterators, match the model', () => {
  const env = new SimEnv('block-cache-reuse');
  const deps = { ...env.deps, disk: withReadInto(env.deps.disk) };
  const [err, opened] = env.call<[Error | null, Engine?]>((cb) =>
    openEngine('lsm', deps, 'db', { ...SMALL, fsync: FSYNC_NEVER, lsm: { ...SMALL.lsm, blockCacheBytes: 700 } }, cb),
  );
  assert.is(err, null);
  const engine = opened as Engine;
  const model = new Map<string, string>();
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const key = (i: number) => `k${String(i).padStart(4, '0')}`;
  for (let round = 0; round < 6; round++) {
    const ops: WriteOp[] = [];
    for (let i = 0; i < 150; i++) ops.push([key(rnd(600)), rnd(10) === 0 ? null : `v${round}-${i}-${'x'.repeat(rnd(30))}`]);
    for (let i = 0; i < ops.length; i += 10) {
      const batch = ops.slice(i, i + 10);
      const [werr] = env.call<[Error | null]>((cb) => engine.write(batch, cb));
      assert.is(werr, null);
      applyOps(model, batch);
    }
    env.run(500);
    for (let q = 0; q < 40; q++) {
      const start = key(rnd(600));
      const limit = 1 + rnd(80);
      const reverse = rnd(2) === 0;
      assert.equal(engine.scan(start, null, limit, reverse), modelScan(model, start, null, limit, reverse), `scan from ${start}`);
      const k = key(rnd(600));
      assert.is(engine.get(k), model.get(k), `get ${k}`);
    }
  }
  const st = engine.stats();
  assert.ok(st.cacheMisses > 500, `the cache missed often (${st.cacheMisses})`);
  assert.ok(st.levels.filter((l) => l.files > 0).length >= 2, 'reads merge several levels');
});

B.run();
