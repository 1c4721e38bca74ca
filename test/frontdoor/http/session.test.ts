import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Outcome } from '../../../src/client/client.js';
import { HttpKvClient } from '../../../src/client/http-client.js';
import type { Env } from '../../../src/env/env.js';
import type { Stream, StreamCloseReason } from '../../../src/env/stream.js';
import { Gateway, type LocalNode } from '../../../src/frontdoor/gateway.js';
import { DEFAULT_HTTP_TIMEOUTS, HttpSession, httpDate } from '../../../src/frontdoor/http/session.js';
import { Counter, Family } from '../../../src/frontdoor/metrics.js';
import type { NodeStatus, Reply } from '../../../src/node/node.js';
import type { Request } from '../../../src/node/protocol.js';
import { DEFAULT_DISK_OPTIONS } from '../../../sim/disk.js';
import { NS_PER_MS } from '../../../sim/scheduler.js';
import { Trace } from '../../../sim/trace.js';
import { World, type SimNode } from '../../../sim/world.js';
import { storageStatus } from '../../../src/storage/index.js';

// One HTTP/1.1 connection of the front door, driven over the simulator's connections with virtual
// time: pipelining answered in order, keep-alive and close, 100-continue, every timeout, and the
// answers to malformed or oversized requests. The node behind it is a small map; a key named
// "slow…" is answered 100 ms late, so that answers complete out of order.

class MapNode implements LocalNode {
  readonly data = new Map<string, unknown>();
  constructor(private readonly env: Env) {}
  submit(req: Request, reply: Reply): void {
    const op = req.op as { f: string; key?: string; value?: unknown };
    const answer = () => {
      if (op.f === 'write') {
        this.data.set(op.key as string, op.value);
        reply({ ok: true, value: null });
      } else if (op.f === 'read') reply({ ok: true, value: (this.data.get(op.key as string) ?? null) as never });
      else reply({ ok: true, value: null });
    };
    if (op.key?.startsWith('slow') === true) this.env.clock.timer(100, answer);
    else answer();
  }
  status(): NodeStatus {
    return { id: 'n1', replication: 'none', engine: 'memory', role: 'leader', term: 0, leader: 'n1', members: ['n1'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
}

class HttpNode implements SimNode {
  readonly node: MapNode;
  readonly gateway: Gateway;
  readonly closes: StreamCloseReason[] = [];
  constructor(readonly env: Env) {
    this.node = new MapNode(env);
    this.gateway = new Gateway({ node: this.node, clientId: 'n1.gw.t', forward: null, clock: env.clock, log: env.log, authEnabled: false });
  }
  stop(): void {
    this.gateway.stop();
  }
  accept(stream: Stream): void {
    const env = this.env;
    new HttpSession(stream, { gateway: this.gateway, log: env.log, clock: env.clock, version: 'test', statusExtra: () => ({}), metrics: () => '', responses: new Family<Counter>(() => new Counter(), 100), salt: () => new Uint8Array(16), soon: (fn) => env.clock.defer(fn) }, (r) => this.closes.push(r));
  }
}

function setup() {
  let server: HttpNode | null = null;
  const world = new World({
    seed: 'http-session',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.2, meanMs: 0.5, maxMs: 2 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => (server = new HttpNode(env)),
  });
  world.start();
  const client = world.clientEndpoint('c1');
  return { world, client, server: () => server as unknown as HttpNode, run: (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS) };
}

/** A raw connection: what it received, whether and how it closed. */
function raw(stream: Stream) {
  const r = { text: '', ended: false, closed: null as StreamCloseReason | null };
  stream.setHandler({ data: (c) => (r.text += c.toString('latin1')), end: () => (r.ended = true), close: (why) => (r.closed = why), drain: () => {} });
  return r;
}

/** Status lines and bodies of the responses in a byte string. */
function responses(text: string): { status: number; headers: string; body: string }[] {
  const out: { status: number; headers: string; body: string }[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end);
    const status = Number(head.slice(9, 12));
    const length = Number(/content-length: (\d+)/.exec(head)?.[1] ?? 0);
    out.push({ status, headers: head, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const S = suite('HTTP session');

S('pipelined requests are answered in order, though a later one completes first', () => {
  const { client, run } = setup();
  const s = client.dial('n1:http');
  const r = raw(s);
  s.write('PUT /kv/slow1 HTTP/1.1\r\nHost: n1\r\nContent-Length: 11\r\n\r\n{"value":1}');
  s.write('PUT /kv/fast HTTP/1.1\r\nHost: n1\r\nContent-Length: 11\r\n\r\n{"value":2}');
  s.write('GET /kv/slow1 HTTP/1.1\r\nHost: n1\r\n\r\n');
  run(500);
  const got = responses(r.text);
  assert.equal(got.map((x) => x.status), [200, 200, 200]);
  assert.equal(got.map((x) => JSON.parse(x.body)), [{ ok: true, key: 'slow1' }, { ok: true, key: 'fast' }, { ok: true, key: 'slow1', value: 1 }]);
  assert.match(got[0]?.headers ?? '', new RegExp(`date: ${httpDate(Date.UTC(2026, 0, 1))}`.replace(/ \d\d:\d\d:\d\d GMT/, ' ')), 'a Date header from the machine\'s clock');
  assert.is(r.closed, null, 'keep-alive');
});

S('Connection: close and HTTP/1.0 end the connection after the answer', () => {
  const { client, run } = setup();
  const a = client.dial('n1:http');
  const ra = raw(a);
  a.write('GET /health HTTP/1.1\r\nHost: n1\r\nConnection: close\r\n\r\nGET /health HTTP/1.1\r\nHost: n1\r\n\r\n');
  run(100);
  assert.equal(responses(ra.text).map((x) => x.status), [200], 'nothing after the close is answered');
  assert.match(ra.text, /connection: close/);
  assert.is(ra.closed, 'closed');
  const b = client.dial('n1:http');
  const rb = raw(b);
  b.write('GET /health HTTP/1.0\r\n\r\n');
  run(100);
  assert.equal(responses(rb.text).map((x) => x.status), [200]);
  assert.is(rb.closed, 'closed');
});

S('Expect: 100-continue is answered before the body is sent', () => {
  const { client, run } = setup();
  const s = client.dial('n1:http');
  const r = raw(s);
  s.write('PUT /kv/k HTTP/1.1\r\nHost: n1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n');
  run(50);
  assert.is(r.text, 'HTTP/1.1 100 Continue\r\n\r\n');
  s.write('{"value":3}');
  run(50);
  assert.equal(responses(r.text.slice('HTTP/1.1 100 Continue\r\n\r\n'.length)).map((x) => x.status), [200]);
});

S('malformed, unknown, wrong method, too large: JSON errors with the right status', () => {
  const { client, run } = setup();
  const one = (text: string) => {
    const s = client.dial('n1:http');
    const r = raw(s);
    s.write(text);
    run(100);
    return { got: responses(r.text), closed: r.closed };
  };
  const notFound = one('GET /nowhere HTTP/1.1\r\nHost: n1\r\n\r\n');
  assert.is(notFound.got[0]?.status, 404);
  assert.is(JSON.parse(notFound.got[0]?.body ?? '{}').code, 'not_found');
  const method = one('PATCH /kv/k HTTP/1.1\r\nHost: n1\r\n\r\n');
  assert.is(method.got[0]?.status, 405);
  assert.match(method.got[0]?.headers ?? '', /allow: GET, PUT, DELETE/);
  const bad = one('GET /kv/k HTTP/1.1\r\nHost: n1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  assert.is(bad.got[0]?.status, 400);
  assert.is(bad.closed, 'closed', 'the connection cannot be trusted after that');
  const badJson = one('PUT /kv/k HTTP/1.1\r\nHost: n1\r\nContent-Length: 5\r\n\r\n{nope');
  assert.is(badJson.got[0]?.status, 400);
  const deep = '{"value":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
  const nested = one(`PUT /kv/k HTTP/1.1\r\nHost: n1\r\nContent-Length: ${deep.length}\r\n\r\n${deep}`);
  assert.is(nested.got[0]?.status, 400, 'a 100,000-deep value is a bad request, not a 500');
  assert.match(JSON.parse(nested.got[0]?.body ?? '{}').message, /deeper than 64/);
  const big = 9 * 1024 * 1024;
  const large = one(`PUT /kv/k HTTP/1.1\r\nHost: n1\r\nContent-Length: ${big}\r\n\r\n`);
  assert.is(large.got[0]?.status, 413);
  assert.is(large.closed, null, 'read and dropped, the connection goes on');
});

S('a head not complete within headersMs is answered 408; an idle connection closes after idleMs', () => {
  const { client, run } = setup();
  const s = client.dial('n1:http');
  const r = raw(s);
  s.write('GET /health HTTP/1.1\r\nHo');
  run(DEFAULT_HTTP_TIMEOUTS.headersMs - 100);
  assert.is(r.text, '');
  run(200);
  assert.is(responses(r.text)[0]?.status, 408);
  assert.is(r.closed, 'closed');
  const idle = client.dial('n1:http');
  const ri = raw(idle);
  idle.write('GET /health HTTP/1.1\r\nHost: n1\r\n\r\n');
  run(DEFAULT_HTTP_TIMEOUTS.idleMs - 1000);
  assert.is(ri.closed, null);
  run(2000);
  assert.is(ri.closed, 'closed');
});

S('HttpKvClient over the same connections: outcomes as a history records them', () => {
  const { world, client, server, run } = setup();
  const http = new HttpKvClient({ urls: ['http://n1'], dial: (a) => client.dial(`${a}:http`), clock: client.clock, timeoutMs: 1000 });
  const box: Outcome[] = [];
  http.invoke({ f: 'write', key: 'a', value: 7 }, (o) => box.push(o));
  run(50);
  http.invoke({ f: 'read', key: 'a' }, (o) => box.push(o));
  http.invoke({ f: 'read', key: 'missing' }, (o) => box.push(o));
  run(50);
  assert.equal(box.map((o) => (o.type === 'ok' ? o.value : o.type)), [null, 7, null]);
  // A write whose answer is lost when the process dies: unknown outcome. A read: failed.
  box.length = 0;
  http.invoke({ f: 'write', key: 'slow-w', value: 1 }, (o) => box.push(o));
  run(20);
  world.processExit('n1', 'test');
  run(50);
  http.invoke({ f: 'read', key: 'a' }, (o) => box.push(o));
  run(50);
  assert.equal(box.map((o) => o.type), ['info', 'fail']);
  assert.ok(server() !== null);
});

S('httpDate writes what toUTCString writes, for any time from 1970 to 9999 (fast-check)', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 253_402_300_799_000 }), (ms) => assert.is(httpDate(ms), new Date(ms).toUTCString())), { numRuns: 2000 });
});

S.run();
