import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Json } from '../../src/util/json.js';
import { executeRead, executeWrite, type KvView, type StorageWrite } from '../../src/node/kv-state.js';
import type { Request } from '../../src/node/protocol.js';
import { EngineStore } from '../../src/node/store.js';
import { MemoryEngine } from '../../src/storage/memory.js';
import { SCAN_LIMIT_MAX } from '../../src/storage/engine.js';

// The store's overlay lets the state machine build on writes the engine has not acknowledged;
// hold/flush turns many applies into one engine batch.

/** A memory engine whose writes wait until release(), to look at the store in between. */
function slowEngine() {
  const engine = new MemoryEngine();
  const batches: StorageWrite[][] = [];
  const waiting: (() => void)[] = [];
  const write = engine.write.bind(engine);
  engine.write = (writes: StorageWrite[], done: (err: Error | null) => void) => {
    batches.push(writes.map(([k, v]) => [k, v]));
    waiting.push(() => write(writes, done));
  };
  const release = () => waiting.splice(0).forEach((w) => w());
  return { engine, batches, release };
}

test('held applies are visible at once and reach the engine as one batch, a key once', () => {
  const { engine, batches, release } = slowEngine();
  const store = new EngineStore(engine);
  const acked: number[] = [];
  store.hold();
  store.apply([['a', '1'], ['applied', '1']], () => acked.push(1));
  store.apply([['b', '2'], ['applied', '2']], () => acked.push(2));
  store.apply([['a', null], ['applied', '3']], () => acked.push(3));
  assert.is(store.view.get('a'), undefined, 'a delete in the batch shows');
  assert.is(store.view.get('applied'), '3');
  assert.is(batches.length, 0, 'nothing reaches the engine before flush');
  store.flush();
  assert.equal(batches, [[['a', null], ['applied', '3'], ['b', '2']]]);
  assert.equal(store.view.scan('', null, 10, false), [['applied', '3'], ['b', '2']]);
  release();
  assert.equal(acked, [1, 2, 3]);
  assert.is(engine.get('applied'), '3');
  assert.is(store.view.get('b'), '2', 'read from the engine once the overlay is gone');
});

test('a later write of a key survives the acknowledgement of an earlier batch', () => {
  const { engine, release } = slowEngine();
  const store = new EngineStore(engine);
  store.hold();
  store.apply([['k', 'old']], () => {});
  store.flush();
  store.apply([['k', 'new']], () => {});
  release(); // both batches acknowledged, in order
  assert.is(store.view.get('k'), 'new');
  store.hold();
  store.apply([['k', 'newest']], () => {});
  store.flush();
  store.apply([['k', 'after']], () => {});
  assert.is(store.view.get('k'), 'after');
});

test('a value written is the value read, whatever the string (fast-check)', () => {
  // Reads take a shortcut for stored strings without a backslash; every other string goes
  // through JSON.parse. Both must give back what was written.
  const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('', '"', '\\', '""', 'a"b', '\u2028', '\ud800', '\u0000'), fc.jsonValue() as fc.Arbitrary<Json>);
  fc.assert(
    fc.property(value, fc.boolean(), (v, once) => {
      const view = new Map<string, string>();
      const kv: KvView = { get: (k) => view.get(k), scan: () => [] };
      const req: Request = { kind: 'req', client: 'c', seq: 1, ackSeq: 1, db: '', op: { f: 'write', key: 'k', value: v as Json }, ...(once ? { once: true as const } : {}) };
      const { writes } = executeWrite(kv, req);
      for (const [k, s] of writes) if (s !== null) view.set(k, s);
      assert.equal(executeRead(kv, '', { f: 'read', key: 'k' }), { ok: true, value: JSON.parse(JSON.stringify(v)) as Json });
    }),
  );
});

test('a full-page scan with writes in the overlay never asks the engine for more than its maximum (issue 16, item 3)', () => {
  // A snapshot reads the store in pages of SCAN_LIMIT_MAX while writes wait in the overlay: the
  // store asked the engine for limit + overlay size (100,009) and the engine refused with a
  // RangeError, which crashed every node of a cluster under 1 MB PUTs.
  const { engine, release } = slowEngine();
  const loaded = new EngineStore(engine);
  const n = SCAN_LIMIT_MAX + 5;
  for (let i = 0; i < n; i += 10_000) {
    const batch: StorageWrite[] = [];
    for (let j = i; j < Math.min(n, i + 10_000); j++) batch.push([`k${String(j).padStart(7, '0')}`, 'v']);
    loaded.apply(batch, () => {});
  }
  release();
  const asked: number[] = [];
  const scan = engine.scan.bind(engine);
  engine.scan = (start, end, limit, reverse) => {
    asked.push(limit);
    return scan(start, end, limit, reverse);
  };
  // Nine writes waiting (five deletes of keys on the first page, four new keys).
  loaded.apply([...[0, 1, 2, 3, 4].map((i): StorageWrite => [`k${String(i).padStart(7, '0')}`, null]), ['a1', 'x'], ['a2', 'x'], ['k0000005x', 'y'], ['z', 'z']], () => {});
  const page = loaded.view.scan('', null, SCAN_LIMIT_MAX, false);
  assert.ok(asked.every((l) => l <= SCAN_LIMIT_MAX), `asked the engine for ${Math.max(...asked)}`);
  assert.is(page.length, SCAN_LIMIT_MAX);
  assert.equal(page.slice(0, 4), [['a1', 'x'], ['a2', 'x'], ['k0000005', 'v'], ['k0000005x', 'y']]);
  const back = loaded.view.scan('', null, SCAN_LIMIT_MAX, true);
  assert.equal(back[0], ['z', 'z']);
  assert.is(back.length, SCAN_LIMIT_MAX);
  release();
});

test('a scan through the overlay is the scan of the merged state, in both directions (fast-check)', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
  const write = fc.tuple(key, fc.option(fc.constantFrom('1', '2', '3'), { nil: null }));
  fc.assert(
    fc.property(fc.array(write, { maxLength: 12 }), fc.array(write, { maxLength: 12 }), key, fc.option(key, { nil: null }), fc.integer({ min: 0, max: 10 }), fc.boolean(), (engineWrites, overlayWrites, start, end, limit, reverse) => {
      const { engine, release } = slowEngine();
      const store = new EngineStore(engine);
      const model = new Map<string, string>();
      const apply = (w: [string, string | null][]) => {
        store.apply(w as StorageWrite[], () => {});
        for (const [k, v] of w) v === null ? model.delete(k) : model.set(k, v);
      };
      apply(engineWrites);
      release();
      apply(overlayWrites); // held back: the overlay serves them
      const keys = [...model.keys()].filter((k) => k >= start && (end === null || k < end)).sort();
      if (reverse) keys.reverse();
      const expected = keys.slice(0, limit).map((k) => [k, model.get(k)]);
      assert.equal(store.view.scan(start, end, limit, reverse), expected);
    }),
  );
});

test.run();
