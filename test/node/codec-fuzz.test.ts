import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decodeLogEntry, encodeLogRecord, logEntryText, LogRecordError } from '../../src/node/log-records.js';
import { KvNode } from '../../src/node/node.js';
import { decodeMessage, encodeMessage, ProtocolError, validateRequest, type Request } from '../../src/node/protocol.js';
import { decodeStateBlock, encodeStateBlock, SnapshotFormatError } from '../../src/node/state-snapshot.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';

// The node's codecs over arbitrary input (issue 16, fuzzing): log records, snapshot blocks,
// request frames and request validation. Each throws only its typed error (validation throws
// nothing), and nothing decoded is larger than what it came from.

function only(allowed: (new (...a: never[]) => Error)[], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    assert.ok(allowed.some((t) => err instanceof t), `threw ${String(err)}`);
  }
}

const key = fc.string({ unit: fc.constantFrom('a', 'b', '\x00', '\x01', 'é', '😀', ':', 'W', 'J', '"'), maxLength: 8 });
const request: fc.Arbitrary<Request> = fc
  .tuple(fc.constantFrom('write', 'delete', 'append'), key, fc.jsonValue({ maxDepth: 3 }), fc.boolean(), fc.nat())
  .map(([f, k, value, once, seq]) => ({
    kind: 'req' as const,
    client: 'c',
    seq,
    ackSeq: seq,
    db: '',
    op: (f === 'delete' ? { f, key: k } : f === 'append' ? { f, key: k, value: JSON.stringify(value) } : { f, key: k, value }) as Request['op'],
    ...(once ? { once: true as const } : {}),
  }));
const entryText = fc.array(request, { minLength: 1, maxLength: 4 }).map((reqs) => logEntryText(reqs.map(encodeLogRecord)));

/** A string with a few of its code units replaced, cut or extended. */
const mutatedText = fc.tuple(entryText, fc.array(fc.tuple(fc.nat(), fc.constantFrom('0', '9', ':', 'W', 'J', '{', '"', '\\', 'x')), { maxLength: 3 }), fc.nat()).map(([t, edits, cut]) => {
  const chars = [...t];
  for (const [at, c] of edits) chars[at % chars.length] = c;
  return chars.join('').slice(0, cut % 4 === 0 ? cut % (chars.length + 1) : undefined);
});

test('log entries: LogRecordError, or records no longer than the text (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(mutatedText, fc.string({ maxLength: 80 }), fc.constantFrom('{', '[', '[]', '[1]', '{"op":1}', 'R', 'RW9999999999:', 'RJ5:[[[[[')), (text) => {
      only([LogRecordError], () => {
        const records = decodeLogEntry(text);
        assert.ok(records.length >= 1 && records.length <= text.length);
      });
    }),
  );
  fc.assert(fc.property(entryText, (text) => void decodeLogEntry(text)), { numRuns: 50 });
});

const block = fc.array(fc.tuple(key, fc.string({ maxLength: 10 })), { maxLength: 6 }).map((records) => {
  const sorted = [...new Map(records)].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return encodeStateBlock(sorted);
});

test('snapshot blocks: SnapshotFormatError, or records no larger than the block (fast-check)', () => {
  const mutated = fc.tuple(block, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat()).map(([b, flips, cut]) => {
    const out = Uint8Array.from(b);
    for (const [at, v] of flips) out[at % out.length] = v;
    return out.subarray(0, cut % 3 === 0 ? cut % (out.length + 1) : out.length);
  });
  fc.assert(
    fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 80 }), fc.constant(new TextEncoder().encode('[["a","b"],["c"]]'))), (bytes) => {
      only([SnapshotFormatError], () => {
        const records = decodeStateBlock(bytes);
        const chars = records.reduce((n, [k, v]) => n + k.length + v.length, 0);
        assert.ok(chars <= bytes.length);
      });
    }),
  );
});

test('request frames: ProtocolError or an object with a kind; validation answers anything with a message or null (fast-check)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), request.map((r) => encodeMessage(r)), fc.string().map((s) => new TextEncoder().encode(s))), (frame) => {
      only([ProtocolError], () => {
        const m = decodeMessage(frame);
        assert.is(typeof m.kind, 'string');
      });
    }),
  );
  fc.assert(
    fc.property(fc.oneof(fc.anything(), request, fc.record({ client: fc.string(), seq: fc.anything(), ackSeq: fc.nat(), db: fc.constantFrom('', '__proto__', 'constructor'), op: fc.anything(), token: fc.anything() }, { requiredKeys: [] })), (m) => {
      const problem = validateRequest((typeof m === 'object' && m !== null ? m : { m }) as Record<string, unknown>);
      assert.ok(problem === null || typeof problem === 'string');
    }),
  );
});

test('a node fed arbitrary and mutated frames by a stranger keeps serving and never dies (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 60 }), request.map((r) => encodeMessage(r)), mutatedText.map((t) => new TextEncoder().encode(t))), { minLength: 1, maxLength: 30 }), (frames) => {
      const world = new World({
        seed: 'fuzz',
        nodeIds: ['n1'],
        net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
        disk: DEFAULT_DISK_OPTIONS,
        trace: new Trace(false),
        createNode: (env) => new KvNode(env, { members: ['n1'], replication: 'none', engine: 'memory', bugs: new Set() }),
      });
      world.start();
      world.sched.runUntil(world.nowNs + 10 * NS_PER_MS);
      const { net } = world.clientEndpoint('stranger');
      for (const f of frames) net.send('n1', f);
      world.sched.runUntil(world.nowNs + 50 * NS_PER_MS);
      assert.equal(world.panics, []);
      let answer: unknown;
      (world.machine('n1').node as KvNode).submit({ kind: 'req', client: 'check', seq: 1, ackSeq: 0, db: '', op: { f: 'write', key: 'k', value: 1 } }, (r) => (answer = r));
      world.sched.runUntil(world.nowNs + 50 * NS_PER_MS);
      assert.equal(answer, { ok: true, value: 1 });
    }),
    { numRuns: 30 },
  );
});

test.run();
