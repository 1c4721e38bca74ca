import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Env } from '../../src/env/env.js';
import type { Stream } from '../../src/env/stream.js';
import { DEFAULT_CLIENT_TIMEOUTS, type ClientTimeouts } from '../../src/frontdoor/deadline.js';
import { FrontDoor } from '../../src/frontdoor/front-door.js';
import type { LocalNode } from '../../src/frontdoor/gateway.js';
import type { NodeStatus, Reply } from '../../src/node/node.js';
import type { Request } from '../../src/node/protocol.js';
import { encodeFrame } from '../../src/wire/frames.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World, type SimNode } from '../../sim/world.js';
import { storageStatus } from '../../src/storage/index.js';

// Slowloris (issue 16): a stranger must not hold a client connection open forever by saying
// nothing, or by trickling a request that never ends, or by never reading its answers. Run in
// the simulator, whose clock the sessions' timers use: virtual minutes pass in milliseconds.

const T = suite('client connection timeouts');

/** Answers every read with a value of `valueBytes` characters; never answers a read of "hang". */
class BigNode implements LocalNode {
  constructor(private readonly valueBytes = 10) {}
  submit(req: Request, reply: Reply): void {
    const op = req.op as { f: string; key?: string };
    if (op.key === 'hang') return;
    reply({ ok: true, value: op.f === 'read' ? 'v'.repeat(this.valueBytes) : null });
  }
  status(): NodeStatus {
    return { id: 'n1', replication: 'none', engine: 'memory', role: 'leader', term: 0, leader: 'n1', members: ['n1'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
}

function setup(timeouts: Partial<ClientTimeouts> | undefined, valueBytes = 10) {
  const world = new World({
    seed: 'timeouts',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.2, meanMs: 0.5, maxMs: 2 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env: Env): SimNode => {
      const door = new FrontDoor({ id: 'n1', node: new BigNode(valueBytes), members: ['n1'], clock: env.clock, rng: env.rng, log: env.log, openNet: null, authEnabled: false, version: 't', requestTimeoutMs: 3_600_000, ...(timeouts !== undefined ? { timeouts } : {}) });
      return { stop: () => door.stop(), accept: (s: Stream, p) => door.accept(s, p) };
    },
  });
  world.start();
  return { client: world.clientEndpoint('c1'), run: (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS) };
}

function watch(stream: Stream) {
  const r = { text: '', closed: false };
  stream.setHandler({ data: (c) => (r.text += c.toString('latin1')), end: () => {}, close: () => (r.closed = true), drain: () => {} });
  return r;
}

const D = DEFAULT_CLIENT_TIMEOUTS;

T('line protocol, defaults: an idle connection closes after tcpIdleMs, not before; one that never sends a byte too', () => {
  const { client, run } = setup(undefined);
  const s = client.dial('n1:line');
  const r = watch(s);
  s.write('PING\n');
  run(D.tcpIdleMs - 1000);
  assert.is(r.text, 'PONG\n');
  assert.not.ok(r.closed, 'still open just before the idle timeout');
  run(2000);
  assert.ok(r.closed, 'closed once idle for tcpIdleMs');
  assert.is(r.text, 'PONG\n', 'without a word');
  const silent = client.dial('n1:line');
  const rs = watch(silent);
  run(D.tcpIdleMs - 1000);
  assert.not.ok(rs.closed);
  run(2000);
  assert.ok(rs.closed, 'a connection that never spoke is idle from the start');
});

T('line protocol: traffic keeps a connection open; a command waiting for its answer is not idle', () => {
  const { client, run } = setup({ tcpIdleMs: 1000 });
  const s = client.dial('n1:line');
  const r = watch(s);
  for (let i = 0; i < 10; i++) {
    s.write('PING\n');
    run(800);
  }
  assert.not.ok(r.closed, '8 s of pings 800 ms apart');
  s.write('GET hang\n');
  run(10_000);
  assert.not.ok(r.closed, 'a command in progress is bounded by the gateway, not the idle timeout');
});

T('line protocol: a line trickled a byte at a time gets ERR timeout and the connection closes after tcpReadMs', () => {
  const { client, run } = setup({ tcpIdleMs: 5000, tcpReadMs: 2000 });
  const s = client.dial('n1:line');
  const r = watch(s);
  s.write('PING\nPUT k ');
  // Each byte well within the idle timeout: only the bound on the whole line can end this.
  for (let i = 0; i < 19 && !r.closed; i++) {
    s.write('x');
    run(100);
  }
  assert.is(r.text, 'PONG\n');
  assert.not.ok(r.closed);
  for (let i = 0; i < 100 && !r.closed; i++) {
    s.write('x');
    run(100);
  }
  assert.match(r.text, /^PONG\nERR timeout the line did not arrive whole within 2000 ms/);
  assert.ok(r.closed);
});

T('line protocol: a client that does not read its replies is closed after tcpIdleMs', () => {
  const { client, run } = setup({ tcpIdleMs: 3000 }, 100_000);
  const s = client.dial('n1:line');
  const r = watch(s);
  s.pause(); // reads nothing: the node's replies pile up in the network
  for (let i = 0; i < 20; i++) s.write('GET k\n');
  run(2000);
  assert.not.ok(r.closed);
  run(2000);
  assert.ok(r.closed, 'replies unread for the idle timeout');
});

T('request frames on the TCP port: idle closed after tcpIdleMs; a frame trickled past tcpReadMs closed', () => {
  const { client, run } = setup({ tcpIdleMs: 3000, tcpReadMs: 1000 });
  const s = client.dial('n1:line');
  const r = watch(s);
  s.write(encodeFrame(Buffer.from(JSON.stringify({ from: 'c1', role: 'client' }))));
  run(2500);
  assert.not.ok(r.closed);
  run(1000);
  assert.ok(r.closed, 'idle after its hello');
  const t = client.dial('n1:line');
  const rt = watch(t);
  const frame = encodeFrame(Buffer.from(JSON.stringify({ from: 'c2', role: 'client' })));
  for (let i = 0; i < frame.length - 1 && !rt.closed; i++) {
    t.write(frame.subarray(i, i + 1));
    run(100);
  }
  assert.ok(rt.closed, 'the hello never completed');
});

T('HTTP, from the front door\'s timeouts: a trickled head 408 after httpHeadersMs; a client that reads nothing closed after httpIdleMs', () => {
  const { client, run } = setup({ httpHeadersMs: 1000, httpIdleMs: 3000 }, 100_000);
  const s = client.dial('n1:http');
  const r = watch(s);
  s.write('GET /kv/k HTTP/1.1\r\n');
  for (let i = 0; i < 30 && !r.closed; i++) {
    s.write('X');
    run(100);
  }
  assert.match(r.text, /^HTTP\/1\.1 408/);
  assert.ok(r.closed);
  const slow = client.dial('n1:http');
  const rs = watch(slow);
  slow.pause();
  // In one chunk, so that all are read before the unread answers pause reading: one request
  // still waits for its answer, so the connection is not idle by the other measure.
  slow.write('GET /kv/k HTTP/1.1\r\nHost: n1\r\n\r\n'.repeat(20) + 'GET /kv/hang HTTP/1.1\r\nHost: n1\r\n\r\n');
  run(2000);
  assert.not.ok(rs.closed);
  run(2000);
  assert.ok(rs.closed, 'answers unread for the idle timeout');
});

T.run();
