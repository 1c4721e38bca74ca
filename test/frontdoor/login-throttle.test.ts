import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Env } from '../../src/env/env.js';
import type { Stream } from '../../src/env/stream.js';
import { FrontDoor } from '../../src/frontdoor/front-door.js';
import type { LocalNode } from '../../src/frontdoor/gateway.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, sourceOf } from '../../src/frontdoor/login-throttle.js';
import type { NodeStatus, Reply } from '../../src/node/node.js';
import type { Request } from '../../src/node/protocol.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World, type SimNode } from '../../sim/world.js';
import { storageStatus } from '../../src/storage/index.js';

// The login flood (issue 16): failed logins are counted per source address; past a few, the
// source waits an exponentially growing time, and what it sends meanwhile is refused before the
// node hashes anything. A connection that keeps failing is closed.

const T = suite('login throttle');

T('free failures, then exponential back-off capped, not lifted by a success, forgotten when quiet', () => {
  let now = 0;
  const clock = { monotonicMs: () => now } as never;
  const t = new LoginThrottle(clock, { freeFailures: 2, baseMs: 100, maxMs: 1000, forgetMs: 60_000 });
  t.record('a', false);
  assert.is(t.waitMs('a'), 0, 'a free failure');
  t.record('a', false);
  assert.is(t.waitMs('a'), 100, 'the second and last free one starts the back-off');
  t.record('a', false);
  assert.is(t.waitMs('a'), 200);
  for (let i = 0; i < 10; i++) t.record('a', false);
  assert.is(t.waitMs('a'), 1000, 'capped');
  assert.is(t.waitMs('b'), 0, 'per source');
  now += 1000;
  assert.is(t.waitMs('a'), 0);
  t.record('a', true);
  assert.is(t.waitMs('a'), 0, 'the wait is over');
  t.record('a', false);
  assert.is(t.waitMs('a'), 1000, 'a success in between does not lift the back-off');
  for (let i = 0; i < 5; i++) t.record('c', false);
  now += 61_000;
  assert.is(t.waitMs('c'), 0, 'forgotten');
  const bounded = new LoginThrottle(clock, { sourcesMax: 3 });
  for (let i = 0; i < 10; i++) bounded.record(`s${i}`, false);
  assert.is(bounded.tracked, 3);
});

T('the source is the address without the port', () => {
  assert.is(sourceOf('127.0.0.1:53122'), '127.0.0.1');
  assert.is(sourceOf('[::1]:8000'), '::1');
  assert.is(sourceOf('c1:4'), 'c1');
});

class PasswordNode implements LocalNode {
  logins = 0;
  /** Tokens it issued and still honours (a restart of the real node's epoch would clear them). */
  readonly valid = new Set<string>();
  submit(req: Request, reply: Reply): void {
    const op = req.op as { f: string; password?: string };
    if (op.f === 'auth.login') {
      this.logins++;
      const token = `token${this.logins}`;
      if (op.password === 'right') this.valid.add(token);
      reply(op.password === 'right' ? { ok: true, value: token } : { ok: false, code: 'unauthorized', message: 'wrong user name or password' });
    } else if (req.token !== undefined && !this.valid.has(req.token)) reply({ ok: false, code: 'unauthorized', message: 'token no longer valid' });
    else reply({ ok: true, value: null });
  }
  status(): NodeStatus {
    return { id: 'n1', replication: 'none', engine: 'memory', role: 'leader', term: 0, leader: 'n1', members: ['n1'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
}

function setup() {
  let node: PasswordNode | null = null;
  const world = new World({
    seed: 'logins',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.2, meanMs: 0.5, maxMs: 2 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env: Env): SimNode => {
      const n = new PasswordNode();
      node = n;
      const door = new FrontDoor({ id: 'n1', node: n, members: ['n1'], clock: env.clock, rng: env.rng, log: env.log, openNet: null, authEnabled: true, version: 't' });
      return { stop: () => door.stop(), accept: (s: Stream, p) => door.accept(s, p) };
    },
  });
  world.start();
  return { world, client: world.clientEndpoint('c1'), node: () => node as unknown as PasswordNode, run: (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS) };
}

function lines(stream: Stream) {
  const r = { text: '', closed: false };
  stream.setHandler({ data: (c) => (r.text += c.toString()), end: () => {}, close: () => (r.closed = true), drain: () => {} });
  return r;
}

T('AUTH flood on the line protocol: past the free failures, refused without hashing; the connection closes', () => {
  const { client, node, run } = setup();
  const s = client.dial('n1:line');
  const r = lines(s);
  s.write('AUTH admin wrong\n'.repeat(40));
  run(100);
  const replies = r.text.trim().split('\n');
  assert.is(replies.filter((l) => l.startsWith('ERR unauthorized')).length, DEFAULT_LOGIN_THROTTLE.freeFailures);
  assert.ok(replies.slice(DEFAULT_LOGIN_THROTTLE.freeFailures).every((l) => l.startsWith('ERR too_many_requests')), r.text);
  assert.is(node().logins, DEFAULT_LOGIN_THROTTLE.freeFailures, 'the node verified only the free attempts');
  assert.is(replies.length, 10, 'closed after ten failures');
  assert.ok(r.closed);
  // Another connection from the same source waits too; once the back-off passes, the right password works.
  const t = client.dial('n1:line');
  const rt = lines(t);
  t.write('AUTH admin right\n');
  run(10);
  assert.match(rt.text, /^ERR too_many_requests/);
  run(DEFAULT_LOGIN_THROTTLE.maxMs);
  t.write('AUTH admin right\n');
  run(10);
  assert.match(rt.text, /\nOK\n$/);
});

T('one account cannot launder guesses at another: right and wrong AUTH lines interleaved are throttled all the same (found by npm run fuzz)', () => {
  const { client, node, run } = setup();
  // Ten connections of one source, each pipelining guesses at admin between logins that succeed.
  for (let c = 0; c < 10; c++) {
    const s = client.dial('n1:line');
    lines(s);
    s.write('AUTH ann right\nAUTH admin guess1\nAUTH admin guess2\nAUTH ann right\nAUTH admin guess3\n'.repeat(8));
    run(DEFAULT_LOGIN_THROTTLE.baseMs * 2);
  }
  // Before the fix every success cleared the count: 400 lines, 400 hashes in 5 s of back-offs.
  assert.ok(node().logins <= DEFAULT_LOGIN_THROTTLE.freeFailures + 10, `${node().logins} password checks`);
});

T('HTTP: /auth/login and Basic credentials answer 429 with Retry-After once throttled', () => {
  const { client, node, run } = setup();
  const post = (auth: boolean) => {
    const s = client.dial('n1:http');
    const r = lines(s);
    const body = '{"username":"admin","password":"wrong"}';
    s.write(auth ? `GET /kv/k HTTP/1.1\r\nHost: n1\r\nAuthorization: Basic ${Buffer.from('admin:wrong').toString('base64')}\r\n\r\n` : `POST /auth/login HTTP/1.1\r\nHost: n1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    run(20);
    return r.text;
  };
  for (let i = 0; i < DEFAULT_LOGIN_THROTTLE.freeFailures; i++) assert.match(post(i % 2 === 0), /^HTTP\/1\.1 401/);
  const throttled = post(false);
  assert.match(throttled, /^HTTP\/1\.1 429/);
  assert.match(throttled, /retry-after: 1\r\n/);
  assert.match(post(true), /^HTTP\/1\.1 429/);
  assert.is(node().logins, DEFAULT_LOGIN_THROTTLE.freeFailures);
});

T('a Basic token the node refuses is forgotten, and the credentials log in again', () => {
  const { client, node, run } = setup();
  const get = () => {
    const s = client.dial('n1:http');
    const r = lines(s);
    s.write(`GET /kv/k HTTP/1.1\r\nHost: n1\r\nAuthorization: Basic ${Buffer.from('admin:right').toString('base64')}\r\n\r\n`);
    run(20);
    return r.text;
  };
  assert.match(get(), /^HTTP\/1\.1 404/);
  assert.match(get(), /^HTTP\/1\.1 404/);
  assert.is(node().logins, 1, 'the second request used the remembered token');
  node().valid.clear(); // the node no longer honours it (a changed epoch, an expiry)
  assert.match(get(), /^HTTP\/1\.1 404/, 'logged in again instead of answering 401 for five minutes');
  assert.is(node().logins, 2);
});

T.run();
