import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KvClient, type Outcome } from '../../../src/client/client.js';
import { StreamNet } from '../../../src/client/stream-net.js';
import type { Env } from '../../../src/env/env.js';
import type { Stream, StreamCloseReason } from '../../../src/env/stream.js';
import { CONNECTIONS_PER_SOURCE_MAX, FrontDoor } from '../../../src/frontdoor/front-door.js';
import type { LocalNode } from '../../../src/frontdoor/gateway.js';
import type { NodeStatus, Reply } from '../../../src/node/node.js';
import type { Request } from '../../../src/node/protocol.js';
import { encodeFrame } from '../../../src/wire/frames.js';
import { DEFAULT_DISK_OPTIONS } from '../../../sim/disk.js';
import { NS_PER_MS } from '../../../sim/scheduler.js';
import { Trace } from '../../../sim/trace.js';
import { World, type SimNode } from '../../../sim/world.js';
import { storageStatus } from '../../../src/storage/index.js';

// The TCP client port: a line-protocol client and a KvClient (request frames through StreamNet,
// as connectKv sends them) on the same port, told apart by the first byte; and every way a frame
// client can misbehave — no hello, garbage, a length over the limit, JSON nested too deep — ends
// its connection without reaching the node.

class CountingNode implements LocalNode {
  readonly requests: Request[] = [];
  readonly data = new Map<string, unknown>();
  submit(req: Request, reply: Reply): void {
    this.requests.push(req);
    const op = req.op as { f: string; key?: string; value?: unknown };
    if (op.f === 'write') this.data.set(op.key as string, op.value);
    reply({ ok: true, value: op.f === 'read' ? ((this.data.get(op.key as string) ?? null) as never) : null });
  }
  status(): NodeStatus {
    return { id: 'n1', replication: 'none', engine: 'memory', role: 'leader', term: 0, leader: 'n1', members: ['n1'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
}

class Door implements SimNode {
  readonly node = new CountingNode();
  readonly door: FrontDoor;
  constructor(env: Env) {
    this.door = new FrontDoor({ id: env.id, node: this.node, members: [env.id], clock: env.clock, rng: env.rng, log: env.log, openNet: null, authEnabled: false, version: 'test' });
  }
  stop(): void {
    this.door.stop();
  }
  accept(stream: Stream): void {
    this.door.accept(stream, 'line');
  }
}

function setup() {
  let door: Door | null = null;
  const world = new World({
    seed: 'native',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.2, meanMs: 0.5, maxMs: 2 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => (door = new Door(env)),
  });
  world.start();
  const client = world.clientEndpoint('c1');
  return { world, client, door: () => door as unknown as Door, run: (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS) };
}

function raw(stream: Stream) {
  const r = { bytes: Buffer.alloc(0), closed: null as StreamCloseReason | null };
  stream.setHandler({ data: (c) => (r.bytes = Buffer.concat([r.bytes, c])), end: () => {}, close: (why) => (r.closed = why), drain: () => {} });
  return r;
}

const json = (v: unknown) => encodeFrame(Buffer.from(JSON.stringify(v)));

const N = suite('native frames on the TCP client port');

N('KvClient through StreamNet and a line client share the port', () => {
  const { client, door, run } = setup();
  const kv = new KvClient(new StreamNet('c1', new Map([['n1', 'n1:line']]), client.dial), client.clock, { nodes: ['n1'], timeoutMs: 1000, attemptTimeoutMs: 300 });
  const got: Outcome[] = [];
  kv.invoke({ f: 'write', key: 'k', value: { nested: [1, 2] } }, (o) => got.push(o));
  run(50);
  kv.invoke({ f: 'read', key: 'k' }, (o) => got.push(o));
  const line = client.dial('n1:line');
  const r = raw(line);
  line.write('GET k\n');
  run(50);
  assert.equal(got.map((o) => (o.type === 'ok' ? o.value : o.type)), [null, { nested: [1, 2] }]);
  assert.is(r.bytes.toString(), 'JSON "{\\"nested\\":[1,2]}"\n');
  assert.is(door().door.connections('native'), 1);
  assert.is(door().door.connections('line'), 1);
  assert.is(door().node.requests[0]?.client, 'c1', 'frames keep the client\'s own id and seq');
});

N('misbehaving frame clients lose their connection, and the node never sees them', () => {
  const { client, door, run } = setup();
  const deep = { kind: 'req', client: 'x', seq: 1, ackSeq: 1, db: '', op: { f: 'write', key: 'k', value: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) } };
  const over = Buffer.alloc(4);
  over.writeUInt32BE(2 ** 31);
  const cases: [string, Buffer][] = [
    ['no hello: a request first', json({ kind: 'req', client: 'x', seq: 1, ackSeq: 1, db: '', op: { f: 'read', key: 'k' } })],
    ['a hello too large for a hello', Buffer.concat([json({ from: 'x', role: 'client', pad: 'p'.repeat(5000) })])],
    ['a hello of another role', json({ from: 'x', role: 'peer' })],
    ['garbage after the hello', Buffer.concat([json({ from: 'x', role: 'client' }), encodeFrame(Buffer.from('not json'))])],
    ['a length of 2 GiB', Buffer.concat([json({ from: 'x', role: 'client' }), over])],
    ['JSON nested 1,000 deep', Buffer.concat([json({ from: 'x', role: 'client' }), json(deep)])],
  ];
  for (const [what, bytes] of cases) {
    const s = client.dial('n1:line');
    const r = raw(s);
    s.write(bytes);
    run(50);
    assert.is(r.closed, 'reset', what);
  }
  assert.is(door().node.requests.length, 0);
});

N('a bad request inside a good frame is answered bad_request, the connection goes on (fast-check over the op)', () => {
  const { client, run } = setup();
  fc.assert(
    fc.property(fc.anything({ maxDepth: 3 }), (op) => {
      const s = client.dial('n1:line');
      const r = raw(s);
      s.write(Buffer.concat([json({ from: 'x', role: 'client' }), json({ kind: 'req', client: 'x', seq: 7, ackSeq: 1, db: '', op })]));
      run(20);
      assert.is(r.closed, null);
      if (r.bytes.length === 0) return; // a well-formed op the node took
      const reply = JSON.parse(r.bytes.subarray(4).toString()) as { seq: number; result: { ok: boolean } };
      assert.is(reply.seq, 7);
      s.destroy();
    }),
    { numRuns: 200 },
  );
});

N('a first request larger than a hello, in the same write as the hello, is served (found by bench:snapshot)', () => {
  const { client, door, run } = setup();
  const s = client.dial('n1:line');
  const r = raw(s);
  const big = 'v'.repeat(100 * 1024);
  s.write(Buffer.concat([json({ from: 'big', role: 'client' }), json({ kind: 'req', client: 'big', seq: 1, ackSeq: 1, db: '', op: { f: 'write', key: 'k', value: big } })]));
  run(50);
  assert.is(r.closed, null, 'the connection stays open');
  assert.is(door().node.data.get('k'), big);
  assert.match(r.bytes.subarray(4).toString(), /"seq":1,"result":\{"ok":true/);
});

N('one source cannot hold every connection: past CONNECTIONS_PER_SOURCE_MAX its new ones are closed, others still get in (issue 16)', () => {
  const { world, client, run } = setup();
  const streams = Array.from({ length: CONNECTIONS_PER_SOURCE_MAX }, () => client.dial('n1:line'));
  const held = streams.map(raw);
  run(20);
  assert.ok(held.every((r) => r.closed === null), 'up to the bound, all are served');
  const over = raw(client.dial('n1:line'));
  const other = world.clientEndpoint('c2').dial('n1:line');
  const r = raw(other);
  other.write('PING\n');
  run(20);
  assert.ok(over.closed !== null, 'one more from the same source is closed');
  assert.ok(held.every((h) => h.closed === null), 'those held are not disturbed');
  assert.is(r.bytes.toString(), 'PONG\n', 'another source is served');
  // One closes: the source may open one again.
  streams[0]?.destroy();
  run(20);
  const again = client.dial('n1:line');
  const a = raw(again);
  again.write('PING\n');
  run(20);
  assert.is(a.bytes.toString(), 'PONG\n');
});

N.run();
