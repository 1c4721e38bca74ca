import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Json } from '../../src/util/json.js';
import { executeRead, executeWrite, type KvView, type StorageWrite } from '../../src/node/kv-state.js';
import type { Request } from '../../src/node/protocol.js';
import { EngineStore } from '../../src/node/store.js';
import { MemoryEngine } from '../../src/storage/memory.js';

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

test.run();
