import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvClient, Outcome } from '../../src/client/client.js';
import { Gateway, type LocalNode } from '../../src/frontdoor/gateway.js';
import type { Clock, Timer } from '../../src/env/clock.js';
import { silentLogger } from '../../src/env/log.js';
import type { NodeStatus, Reply } from '../../src/node/node.js';
import type { KvOp, Request, Result } from '../../src/node/protocol.js';
import { storageStatus } from '../../src/storage/index.js';

// The gateway between front ends and the node, with a scripted node, client and clock: input
// checked before the node sees it, sessions numbered as the protocol says, not_leader forwarded
// with the user's token, deadlines, the Basic-credentials cache and draining.

class ManualClock implements Clock {
  nowMs = 0;
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  monotonicNs(): number {
    return this.nowMs * 1e6;
  }
  monotonicMs(): number {
    return this.nowMs;
  }
  wallMs(): number {
    return 1_000_000 + this.nowMs;
  }
  timer(delayMs: number, fn: () => void): Timer {
    const t = { at: this.nowMs + delayMs, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => (t.cancelled = true) };
  }
  defer(fn: () => void): void {
    this.timer(0, fn);
  }
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.nowMs = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.nowMs = end;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }
}

class ScriptedNode implements LocalNode {
  readonly requests: { req: Request; reply: Reply }[] = [];
  answer: ((req: Request) => Result | null) | null = () => ({ ok: true, value: null });
  submit(req: Request, reply: Reply): void {
    this.requests.push({ req, reply });
    const r = this.answer?.(req) ?? null;
    if (r !== null) reply(r);
  }
  status(): NodeStatus {
    return { id: 'n2', replication: 'raft', engine: 'memory', role: 'follower', term: 1, leader: 'n1', members: ['n1', 'n2'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
}

function setup(opts: { authEnabled?: boolean; forward?: boolean } = {}) {
  const clock = new ManualClock();
  const node = new ScriptedNode();
  const forwarded: { request: Request; extra: { node?: string; uncertain?: boolean }; done: (o: Outcome) => void }[] = [];
  const forward = { resume: (request: Request, done: (o: Outcome) => void, extra: { node?: string; uncertain?: boolean }) => forwarded.push({ request, extra, done }) } as unknown as KvClient;
  const gw = new Gateway({ node, clientId: 'n2.gw.abcd', forward: opts.forward === false ? null : forward, clock, log: silentLogger, authEnabled: opts.authEnabled ?? true, requestTimeoutMs: 1000, basicCacheTtlMs: 60_000 });
  const results: Result[] = [];
  const exec = (op: KvOp, db = '', token: string | null = null) => gw.execute('http', op, db, token, (r) => results.push(r));
  return { clock, node, gw, forwarded, results, exec };
}

const G = suite('gateway');

G('bad input is answered before the node sees it', () => {
  const { node, results, exec } = setup();
  exec({ f: 'read', key: 'k' }, 'no such name!');
  exec({ f: 'write', key: 'k'.repeat(1025), value: 1 });
  exec({ f: 'batch', ops: [{ f: 'write', key: 'a', value: 'x'.repeat(1024 * 1024 + 1) }] });
  exec({ f: 'range', start: '', end: null, limit: 0, reverse: false });
  exec({ f: 'read', key: '\ud800' });
  assert.equal(results.map((r) => (r.ok ? 'ok' : r.code)), ['bad_request', 'too_large', 'too_large', 'bad_request', 'bad_request']);
  assert.is(node.requests.length, 0);
});

G('a number JSON cannot carry (what JSON.parse makes of 1e400) is refused, not stored as null', () => {
  const { node, results, exec } = setup();
  exec({ f: 'write', key: 'k', value: JSON.parse('1e400') as number });
  exec({ f: 'cas', key: 'k', expected: 1, value: { a: [1, Number.NaN] } });
  exec({ f: 'batch', ops: [{ f: 'write', key: 'a', value: [{ b: -Infinity }] }] });
  exec({ f: 'write', key: 'k', value: { a: [1, 2.5e300, 'Infinity', null] } });
  assert.equal(results.slice(0, 3).map((r) => (r.ok ? 'ok' : r.code)), ['bad_request', 'bad_request', 'bad_request']);
  assert.match((results[0] as { message: string }).message, /op\.value is Infinity, which JSON cannot represent/);
  assert.match((results[1] as { message: string }).message, /op\.value\.a\[1\] is NaN/);
  assert.is(node.requests.length, 1, 'finite numbers and the string "Infinity" pass');
});

G('requests carry the gateway\'s client id, increasing seqs and the lowest unanswered seq as ackSeq', () => {
  const { node, exec } = setup();
  node.answer = () => null; // hold every answer
  exec({ f: 'write', key: 'a', value: 1 }, '', 'tok');
  exec({ f: 'write', key: 'b', value: 2 });
  exec({ f: 'read', key: 'a' });
  assert.equal(node.requests.map((r) => [r.req.client, r.req.seq, r.req.ackSeq, r.req.token]), [['n2.gw.abcd', 1, 1, 'tok'], ['n2.gw.abcd', 2, 1, undefined], ['n2.gw.abcd', 3, 1, undefined]]);
  node.requests[0]?.reply({ ok: true, value: 1 });
  node.requests[2]?.reply({ ok: true, value: 1 });
  exec({ f: 'read', key: 'b' });
  assert.is(node.requests[3]?.req.ackSeq, 2, 'seq 2 is still unanswered');
  node.requests[1]?.reply({ ok: true, value: 2 });
  node.requests[3]?.reply({ ok: true, value: 2 });
  exec({ f: 'read', key: 'c' });
  assert.is(node.requests[4]?.req.ackSeq, 5, 'everything below 5 is answered');
});

G('answers given during submit leave nothing in flight; a request started from such a callback keeps ackSeq below a forwarded one', () => {
  const { node, gw, forwarded, clock, results } = setup();
  // Synchronous answers (a node's reads) never enter the in-flight table.
  for (let i = 0; i < 5; i++) gw.execute('tcp', { f: 'read', key: 'k' }, '', null, (r) => results.push(r));
  assert.is(gw.pending, 0);
  assert.equal(node.requests.map((r) => r.req.ackSeq), [1, 2, 3, 4, 5]);
  // Seq 6 is refused as not_leader during submit and forwarded; the front end's callback for an
  // earlier answer starts seq 7 from inside seq 6's submit, before 6 is in the table.
  node.answer = (req) => {
    if (req.seq === 6) {
      gw.execute('tcp', { f: 'read', key: 'nested' }, '', null, (r) => results.push(r));
      return { ok: false, code: 'not_leader', message: 'follower', leader: 'n1' };
    }
    return req.seq === 7 ? { ok: true, value: 'n' } : null;
  };
  gw.execute('tcp', { f: 'write', key: 'k', value: 1 }, '', null, (r) => results.push(r));
  assert.is(node.requests[6]?.req.seq, 7);
  assert.is(node.requests[6]?.req.ackSeq, 6, 'seq 6 was inside submit: not answered, so not below ackSeq');
  assert.is(forwarded.length, 1);
  assert.is(gw.pending, 1, 'the forwarded request is in flight');
  gw.execute('tcp', { f: 'read', key: 'k' }, '', null, (r) => results.push(r));
  assert.is(node.requests[7]?.req.ackSeq, 6, 'and stays below later ackSeqs while forwarded');
  forwarded[0]?.done({ type: 'ok', value: 1, node: 'n1' });
  node.requests[7]?.reply({ ok: true, value: 1 });
  assert.is(gw.pending, 0);
  node.answer = () => null;
  gw.execute('tcp', { f: 'read', key: 'k' }, '', null, (r) => results.push(r));
  assert.is(node.requests[8]?.req.ackSeq, 9);
  // A held request is still timed out by the sweep.
  clock.advance(2000);
  assert.equal(results[results.length - 1], { ok: false, code: 'timeout', message: 'no answer from the node within 1000 ms; the outcome is unknown' });
  assert.is(gw.pending, 0);
});

G('not_leader and unavailable hand the same request (client, seq, token) to the forwarding client', () => {
  const { node, forwarded, results, exec, gw } = setup();
  node.answer = () => ({ ok: false, code: 'not_leader', message: 'follower', leader: 'n1' });
  exec({ f: 'write', key: 'k', value: 1 }, 'shop', 'user-token');
  assert.is(forwarded.length, 1);
  const local = node.requests[0]?.req;
  assert.is(local?.once, true, 'the in-process attempt is never resent, so the node keeps no result for it');
  const { once: _once, ...resent } = local as NonNullable<typeof local>;
  assert.equal(forwarded[0]?.request, resent, 'the request the local node saw, without `once`: the forwarding client may resend it');
  assert.is(forwarded[0]?.request.once, undefined);
  assert.equal([local?.client, local?.seq, local?.db, local?.token], ['n2.gw.abcd', 1, 'shop', 'user-token']);
  assert.equal(forwarded[0]?.extra, { uncertain: false, node: 'n1' });
  assert.is(gw.pending, 1);
  node.answer = () => ({ ok: false, code: 'unavailable', message: 'leadership changed before the write committed' });
  exec({ f: 'append', key: 'k', value: 'x' });
  assert.equal(forwarded[1]?.extra, { uncertain: true }, 'a final failure after `unavailable` is reported as unknown, conservatively');
  node.answer = () => null;
  exec({ f: 'read', key: 'k' });
  assert.is(node.requests[2]?.req.ackSeq, 1, 'a forwarded request keeps later ackSeqs below its seq');
  forwarded[0]?.done({ type: 'ok', value: 1, node: 'n1' });
  forwarded[1]?.done({ type: 'info', reason: 'timeout' });
  node.requests[2]?.reply({ ok: true, value: null });
  exec({ f: 'cas', key: 'k', expected: 0, value: 3 });
  assert.is(node.requests[3]?.req.ackSeq, 4, 'all answered');
  node.requests[3]?.reply({ ok: false, code: 'cas_mismatch', message: 'no' });
  assert.equal(results, [{ ok: true, value: 1 }, { ok: false, code: 'timeout', message: 'outcome unknown: timeout' }, { ok: true, value: null }, { ok: false, code: 'cas_mismatch', message: 'no' }]);
  assert.is(gw.forwarded.value, 2);
  assert.is(gw.pending, 0);
});

G('a forwarded request is not timed out by the gateway: the forwarding client\'s deadline applies', () => {
  const { node, forwarded, clock, results, exec } = setup();
  node.answer = () => ({ ok: false, code: 'not_leader', message: 'follower', leader: 'n1' });
  exec({ f: 'write', key: 'k', value: 1 });
  clock.advance(5_000);
  assert.is(results.length, 0);
  forwarded[0]?.done({ type: 'fail', code: 'unavailable', message: 'no leader', node: 'n1' });
  assert.equal(results, [{ ok: false, code: 'unavailable', message: 'no leader' }]);
});

G('without a forwarding client, not_leader is the answer', () => {
  const { node, results, exec } = setup({ forward: false });
  node.answer = () => ({ ok: false, code: 'not_leader', message: 'follower' });
  exec({ f: 'read', key: 'k' });
  assert.equal(results.map((r) => (r.ok ? 'ok' : r.code)), ['not_leader']);
});

G('a request the node never answers times out once; the late answer is dropped', () => {
  const { node, clock, results, exec } = setup();
  node.answer = () => null;
  exec({ f: 'write', key: 'k', value: 1 });
  clock.advance(999);
  assert.is(results.length, 0);
  clock.advance(500);
  assert.equal(results.map((r) => (r.ok ? 'ok' : r.code)), ['timeout']);
  node.requests[0]?.reply({ ok: true, value: 1 });
  assert.is(results.length, 1);
});

G('Basic credentials: one login for concurrent first uses, reused until the cache expires; failures are not cached', () => {
  const { node, clock, gw } = setup();
  node.answer = () => null; // every login is answered by hand below
  const tokens: Result[] = [];
  gw.basicToken('ann', 'pw', (r) => tokens.push(r));
  gw.basicToken('ann', 'pw', (r) => tokens.push(r));
  assert.is(node.requests.length, 1, 'one login in flight for both');
  assert.equal(node.requests[0]?.req.op, { f: 'auth.login', user: 'ann', password: 'pw' });
  node.requests[0]?.reply({ ok: true, value: 'token-1' });
  assert.equal(tokens, [{ ok: true, value: 'token-1' }, { ok: true, value: 'token-1' }]);
  gw.basicToken('ann', 'pw', (r) => tokens.push(r));
  assert.is(node.requests.length, 1, 'cached');
  assert.equal(tokens[2], { ok: true, value: 'token-1' });
  clock.advance(60_001);
  gw.basicToken('ann', 'pw', (r) => tokens.push(r));
  assert.is(node.requests.length, 2, 'expired: logs in again');
  node.requests[1]?.reply({ ok: true, value: 'token-2' });
  gw.basicToken('ann', 'bad', (r) => tokens.push(r));
  node.requests[2]?.reply({ ok: false, code: 'unauthorized', message: 'wrong' });
  gw.basicToken('ann', 'bad', (r) => tokens.push(r));
  assert.is(node.requests.length, 4, 'a failed login is not remembered');
  assert.equal(tokens[4], { ok: false, code: 'unauthorized', message: 'wrong' });
});

G('without authentication, tokens are not passed and login answers null', () => {
  const { node, results, exec, gw } = setup({ authEnabled: false });
  exec({ f: 'read', key: 'k' }, '', 'ignored');
  exec({ f: 'auth.login', user: 'a', password: 'b' });
  assert.is(node.requests.length, 1);
  assert.is(node.requests[0]?.req.token, undefined);
  assert.equal(results[1], { ok: true, value: null });
  let basic: Result | null = null;
  gw.basicToken('a', 'b', (r) => (basic = r));
  assert.equal(basic, { ok: true, value: null });
});

G('drain refuses new requests and waits for the ones in flight', async () => {
  const { node, clock, results, exec, gw } = setup();
  node.answer = () => null;
  exec({ f: 'write', key: 'k', value: 1 });
  let drained: boolean | null = null;
  void gw.drain(5_000).then((d) => (drained = d));
  exec({ f: 'read', key: 'k' });
  assert.equal(results.map((r) => (r.ok ? 'ok' : r.code)), ['unavailable']);
  node.requests[0]?.reply({ ok: true, value: 1 });
  clock.advance(20);
  await Promise.resolve();
  assert.is(drained, true);
});

G('a request counter and a latency histogram per front end and operation', () => {
  const { exec, gw } = setup();
  exec({ f: 'write', key: 'k', value: 1 });
  exec({ f: 'read', key: 'k' });
  exec({ f: 'read', key: 'k'.repeat(2000) });
  gw.execute('tcp', { f: 'read', key: 'k' }, '', null, () => {});
  assert.equal(gw.requestCounts().map((e) => [e.labels, e.value]), [
    [{ api: 'http', op: 'write', outcome: 'ok' }, 1],
    [{ api: 'http', op: 'read', outcome: 'ok' }, 1],
    [{ api: 'http', op: 'read', outcome: 'too_large' }, 1],
    [{ api: 'tcp', op: 'read', outcome: 'ok' }, 1],
  ]);
  assert.equal(gw.latencies().map((e) => [e.labels, e.value.count]), [[{ api: 'http', op: 'write' }, 1], [{ api: 'http', op: 'read' }, 2], [{ api: 'tcp', op: 'read' }, 1]]);
});

/** A node that answers some reads at once (readNow) and everything else through submit. */
class ReadNowNode extends ScriptedNode {
  readonly now: Request[] = [];
  readNowAnswer: (req: Request) => Result | null = (req) => ({ ok: true, value: `now:${(req.op as { key: string }).key}` });
  readNow(req: Request): Result | null {
    this.now.push(req);
    return this.readNowAnswer(req);
  }
}

function setupReadNow(authEnabled = true) {
  const clock = new ManualClock();
  const node = new ReadNowNode();
  const gw = new Gateway({ node, clientId: 'n1.gw.abcd', forward: null, clock, log: silentLogger, authEnabled, requestTimeoutMs: 1000, basicCacheTtlMs: 60_000 });
  return { clock, node, gw };
}

G('readNow: a read the node answers at once is returned, numbered and counted like execute\'s', () => {
  const { node, gw } = setupReadNow();
  gw.execute('tcp', { f: 'write', key: 'a', value: 1 }, '', 'tok', () => {});
  assert.equal(gw.readNow('tcp', { f: 'read', key: 'k' }, 'db1', 'tok'), { ok: true, value: 'now:k' });
  const req = node.now[0] as Request;
  assert.equal([req.client, req.seq, req.ackSeq, req.db, req.token, req.once], ['n1.gw.abcd', 2, 2, 'db1', 'tok', true]);
  // The next request takes the next seq: the read used one.
  gw.execute('tcp', { f: 'write', key: 'a', value: 2 }, '', 'tok', () => {});
  assert.is(node.requests[1]?.req.seq, 3);
  assert.equal(gw.requestCounts().map((e) => [e.labels, e.value]), [
    [{ api: 'tcp', op: 'write', outcome: 'ok' }, 2],
    [{ api: 'tcp', op: 'read', outcome: 'ok' }, 1],
  ]);
  assert.is(gw.pending, 0);
});

G('readNow: null, with nothing counted, for what execute must answer (bad input, writes, a node that cannot, a closed gateway)', () => {
  const { node, gw } = setupReadNow();
  assert.is(gw.readNow('tcp', { f: 'read', key: 'k'.repeat(2000) }, '', null), null);
  assert.is(gw.readNow('tcp', { f: 'read', key: 'k' }, 'bad name!', null), null);
  assert.is(gw.readNow('tcp', { f: 'write', key: 'k', value: 1 }, '', null), null);
  assert.is(gw.readNow('tcp', { f: 'auth.login', user: 'u', password: 'p' }, '', null), null);
  assert.is(node.now.length, 0, 'the node never saw them');
  node.readNowAnswer = () => null;
  assert.is(gw.readNow('tcp', { f: 'read', key: 'k' }, '', null), null);
  assert.is(node.now.length, 1);
  assert.equal(gw.requestCounts(), []);
  // A node without readNow: always null.
  const plain = setup();
  assert.is(plain.gw.readNow('tcp', { f: 'read', key: 'k' }, '', null), null);
  gw.stop();
  node.readNowAnswer = () => ({ ok: true, value: 1 });
  assert.is(gw.readNow('tcp', { f: 'read', key: 'k' }, '', null), null);
});

G('readNow: without authentication no token is passed', () => {
  const { node, gw } = setupReadNow(false);
  gw.readNow('tcp', { f: 'read', key: 'k' }, '', 'tok');
  assert.is(node.now[0]?.token, undefined);
});

G('reads answered in a batch are timed from its start to its end; outside a batch, each on its own', () => {
  const { clock, gw } = setupReadNow();
  // A clock that moves 1 ms at every reading shows which readings were taken.
  let readings = 0;
  clock.monotonicNs = () => (++readings) * 1e6;
  gw.beginBatch();
  gw.beginBatch(); // nested: the outer one counts
  for (let i = 0; i < 5; i++) gw.readNow('tcp', { f: 'read', key: `k${i}` }, '', null);
  gw.readNow('tcp', { f: 'range', start: '', end: null, limit: 10, reverse: false }, '', null);
  gw.readNow('tcp', { f: 'read', key: 'k' }, '', null);
  gw.endBatch();
  assert.is(readings, 1, 'one reading at the start of the batch, none per read');
  gw.endBatch();
  assert.is(readings, 2);
  const latency = (op: string) => gw.latencies().find((e) => e.labels.op === op)?.value;
  assert.is(latency('read')?.count, 6);
  assert.is(latency('read')?.sum, 6 * 0.001, 'each read: the 1 ms from the start of the batch to its end');
  assert.is(latency('range')?.count, 1);
  // Outside a batch: two readings, 1 ms.
  gw.readNow('tcp', { f: 'read', key: 'k' }, '', null);
  assert.is(readings, 4);
  assert.is(latency('read')?.count, 7);
  assert.is(latency('read')?.sum, 7 * 0.001);
  // An empty batch reads the clock once, at its start.
  gw.beginBatch();
  gw.endBatch();
  assert.is(readings, 5);
  assert.throws(() => gw.endBatch(), /without beginBatch/);
});

G.run();
