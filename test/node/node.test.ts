import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KvClient, type Outcome } from '../../src/client/client.js';
import type { Json } from '../../src/util/json.js';
import { encodeMessage, type KvOp, type Request, type Result } from '../../src/node/protocol.js';
import { KvNode } from '../../src/node/node.js';
import { hashPassword, type AuthConfig } from '../../src/node/auth.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';

// The single-node store through the real client, on the simulator: what each operation means,
// sessions that make retries safe, and request validation.

function setup(bugs: string[] = [], auth: AuthConfig | null = null, engine: 'memory' | 'lsm' = 'memory') {
  const nodes: KvNode[] = [];
  const world = new World({
    seed: 'node',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => {
      const node = new KvNode(env, { members: ['n1'], replication: 'none', engine, bugs: new Set(bugs as never[]), auth });
      nodes.push(node);
      return node;
    },
  });
  world.start();
  const { net, clock } = world.clientEndpoint('c1');
  const client = new KvClient(net, clock, { nodes: ['n1'], timeoutMs: 200, attemptTimeoutMs: 50 });
  const call = (op: KvOp, db?: string, token?: string): Outcome => {
    let out: Outcome | undefined;
    if (token !== undefined) client.setToken(token);
    client.invoke(op, (o) => (out = o), db);
    world.sched.runUntil(world.nowNs + 500 * NS_PER_MS);
    assert.ok(out !== undefined, 'answered');
    return out as Outcome;
  };
  const value = (op: KvOp): Json => {
    const o = call(op);
    assert.is(o.type, 'ok', JSON.stringify(o));
    return (o as { value: Json }).value;
  };
  return { world, client, call, value, nodes };
}

const N = suite('single node');

N('read, write, cas, delete, append mean what the history format says', () => {
  const { call, value } = setup();
  assert.is(value({ f: 'read', key: 'x' }), null, 'never written: null');
  value({ f: 'write', key: 'x', value: { a: [1, 2] } });
  assert.equal(value({ f: 'read', key: 'x' }), { a: [1, 2] });
  const failedCas = call({ f: 'cas', key: 'x', expected: 5, value: 6 });
  assert.equal([failedCas.type, (failedCas as { code: string }).code], ['fail', 'cas_mismatch']);
  value({ f: 'cas', key: 'x', expected: { a: [1, 2] }, value: 7 });
  assert.is(value({ f: 'read', key: 'x' }), 7);
  value({ f: 'delete', key: 'x' });
  assert.is(value({ f: 'read', key: 'x' }), null);
  value({ f: 'append', key: 'y', value: 'ab' });
  value({ f: 'append', key: 'y', value: 'cd' });
  assert.is(value({ f: 'read', key: 'y' }), 'abcd');
  value({ f: 'write', key: 'z', value: 3 });
  const typeErr = call({ f: 'append', key: 'z', value: 'x' });
  assert.equal([typeErr.type, (typeErr as { code: string }).code], ['fail', 'type_error']);
});

N('a batch is atomic: one failing cas leaves every key as it was', () => {
  const { call, value } = setup();
  value({ f: 'write', key: 'a', value: 1 });
  const r = call({ f: 'batch', ops: [{ f: 'write', key: 'a', value: 2 }, { f: 'cas', key: 'b', expected: 9, value: 10 }] });
  assert.is(r.type, 'fail');
  assert.is(value({ f: 'read', key: 'a' }), 1);
  value({ f: 'batch', ops: [{ f: 'write', key: 'a', value: 2 }, { f: 'append', key: 'b', value: 'q' }] });
  assert.equal([value({ f: 'read', key: 'a' }), value({ f: 'read', key: 'b' })], [2, 'q']);
});

N('range scans are ordered, bounded, reversible and confined to their database', () => {
  const { call, value } = setup();
  for (const k of ['b', 'a', 'd', 'c']) value({ f: 'write', key: k, value: k.toUpperCase() });
  value({ f: 'db.create', name: 'other' });
  call({ f: 'write', key: 'a', value: 'other db' }, 'other');
  const fwd = call({ f: 'range', start: 'a', end: 'd', limit: 10, reverse: false }) as { entries: [string, Json][] };
  assert.equal(fwd.entries, [['a', 'A'], ['b', 'B'], ['c', 'C']]);
  const rev = call({ f: 'range', start: 'a', end: null, limit: 2, reverse: true }) as { entries: [string, Json][] };
  assert.equal(rev.entries, [['d', 'D'], ['c', 'C']]);
  const other = call({ f: 'range', start: '', end: null, limit: 10, reverse: false }, 'other') as { entries: [string, Json][] };
  assert.equal(other.entries, [['a', 'other db']]);
});

N('a retried request is applied once: the session answers the retry', () => {
  const { world, value } = setup();
  const { net } = world.clientEndpoint('raw');
  const answers: string[] = [];
  net.onReceive((_, f) => answers.push(new TextDecoder().decode(f)));
  const req = { kind: 'req', client: 'raw', seq: 1, ackSeq: 1, db: '', op: { f: 'append', key: 'k', value: 'x' } };
  net.send('n1', encodeMessage(req));
  net.send('n1', encodeMessage(req));
  world.sched.runUntil(world.nowNs + 10 * NS_PER_MS);
  assert.is(answers.length, 2);
  assert.is(answers[0], answers[1], 'the same answer twice');
  assert.is(value({ f: 'read', key: 'k' }), 'x', 'applied once');
});

N('the duplicate-apply bug switch applies the retry again', () => {
  const { world, value } = setup(['duplicate-apply']);
  const { net } = world.clientEndpoint('raw');
  net.onReceive(() => {});
  const req = { kind: 'req', client: 'raw', seq: 1, ackSeq: 1, db: '', op: { f: 'append', key: 'k', value: 'x' } };
  net.send('n1', encodeMessage(req));
  net.send('n1', encodeMessage(req));
  world.sched.runUntil(world.nowNs + 10 * NS_PER_MS);
  assert.is(value({ f: 'read', key: 'k' }), 'xx');
});

N('malformed requests get bad_request and the node keeps serving', () => {
  const { world, value } = setup();
  const { net } = world.clientEndpoint('raw');
  const answers: { result: { code: string; message: string } }[] = [];
  net.onReceive((_, f) => answers.push(JSON.parse(new TextDecoder().decode(f))));
  net.send('n1', new TextEncoder().encode('not json'));
  net.send('n1', encodeMessage({ kind: 'req', client: 'raw', seq: 1, ackSeq: 0, db: '', op: { f: 'explode', key: 'k' } } as never));
  net.send('n1', encodeMessage({ kind: 'req', client: 'raw', seq: 2, ackSeq: 0, db: '', op: { f: 'write', key: 'k'.repeat(5000), value: 1 } } as never));
  world.sched.runUntil(world.nowNs + 10 * NS_PER_MS);
  assert.is(answers.length, 2, 'garbage gets no answer (there is no seq to answer); bad requests do');
  assert.match(answers[0]?.result.message ?? '', /op\.f must be one of/);
  assert.match(answers[1]?.result.message ?? '', /op\.key is longer than 1024 bytes/);
  value({ f: 'write', key: 'k', value: 1 });
});

N('a crash of the memory node loses its data', () => {
  const { world, value } = setup();
  value({ f: 'write', key: 'k', value: 1 });
  world.crash('n1');
  world.restart('n1');
  assert.is(value({ f: 'read', key: 'k' }), null);
});

N('databases: created, listed, used, deleted with their keys', () => {
  const { call, value } = setup();
  const missing = call({ f: 'write', key: 'k', value: 1 }, 'shop');
  assert.equal([missing.type, (missing as { code: string }).code], ['fail', 'no_such_db']);
  value({ f: 'db.create', name: 'shop' });
  const again = call({ f: 'db.create', name: 'shop' });
  assert.is((again as { code: string }).code, 'already_exists');
  assert.equal(value({ f: 'db.list' }), ['', 'shop']);
  call({ f: 'write', key: 'k', value: 1 }, 'shop');
  call({ f: 'write', key: 'k', value: 'default' });
  assert.is(value({ f: 'db.delete', name: 'shop' }), 1, 'one key deleted');
  assert.equal(value({ f: 'db.list' }), ['']);
  assert.is(value({ f: 'read', key: 'k' }), 'default', 'other databases keep their keys');
  value({ f: 'db.create', name: 'shop' });
  assert.is((call({ f: 'read', key: 'k' }, 'shop') as { value: Json }).value, null, 'a re-created database starts empty');
});

N('users: login gives a token; permissions are per database; strangers are refused', () => {
  const salt = new Uint8Array(16).fill(7);
  const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 } as const;
  const auth: AuthConfig = { tokenSecret: 'cluster-secret', root: { name: 'admin', hash: hashPassword('root-pw', salt, cheap) }, tokenTtlMs: 3_600_000 };
  const { call } = setup([], auth);
  const code = (o: Outcome) => (o.type === 'ok' ? 'ok' : o.type === 'fail' ? o.code : 'info');
  assert.is(code(call({ f: 'read', key: 'k' })), 'unauthorized', 'no token');
  assert.is(code(call({ f: 'auth.login', user: 'admin', password: 'wrong' })), 'unauthorized');
  const login = call({ f: 'auth.login', user: 'admin', password: 'root-pw' }) as { value: string };
  const root = login.value;
  assert.is(code(call({ f: 'db.create', name: 'shop' }, '', root)), 'ok');
  assert.is(code(call({ f: 'user.put', name: 'ann', hash: hashPassword('ann-pw', salt, cheap) }, '', root)), 'ok');
  assert.is(code(call({ f: 'user.grant', name: 'ann', db: 'shop', perms: ['read'] }, '', root)), 'ok');
  const ann = (call({ f: 'auth.login', user: 'ann', password: 'ann-pw' }) as { value: string }).value;
  assert.is(code(call({ f: 'read', key: 'k' }, 'shop', ann)), 'ok');
  assert.is(code(call({ f: 'write', key: 'k', value: 1 }, 'shop', ann)), 'forbidden');
  assert.is(code(call({ f: 'read', key: 'k' }, '', ann)), 'forbidden', 'no grant on the default database');
  assert.is(code(call({ f: 'user.list' }, '', ann)), 'forbidden');
  assert.is(code(call({ f: 'read', key: 'k' }, 'shop', ann.slice(0, -2) + 'xx')), 'unauthorized', 'a forged token');
  assert.is(code(call({ f: 'user.grant', name: 'ann', db: 'shop', perms: ['write'] }, '', root)), 'ok');
  assert.is(code(call({ f: 'write', key: 'k', value: 1 }, 'shop', ann)), 'ok');
  assert.is(code(call({ f: 'user.delete', name: 'ann' }, '', root)), 'ok');
  assert.is(code(call({ f: 'read', key: 'k' }, 'shop', ann)), 'unauthorized', 'a deleted user\'s token stops working');
});

N('readNow answers a read at once only while every write it could see is durable; else null, and submit holds it', () => {
  const { world, nodes } = setup([], null, 'lsm');
  world.sched.runUntil(world.nowNs + 100 * NS_PER_MS);
  const node = nodes[0] as KvNode;
  let seq = 0;
  const req = (op: KvOp): Request => ({ kind: 'req', client: 'gw', seq: ++seq, ackSeq: seq, db: '', op });
  assert.equal(node.readNow(req({ f: 'read', key: 'k' })), { ok: true, value: null });
  let acked: Result | undefined;
  node.submit(req({ f: 'write', key: 'k', value: 1 }), (r) => (acked = r));
  assert.is(acked, undefined, 'the write waits for its fsync');
  assert.is(node.readNow(req({ f: 'read', key: 'k' })), null, 'a read that would see it cannot be answered yet');
  assert.is(node.readNow(req({ f: 'range', start: '', end: null, limit: 10, reverse: false })), null);
  let held: Result | undefined;
  node.submit(req({ f: 'read', key: 'k' }), (r) => (held = r));
  assert.is(held, undefined, 'submit holds it');
  world.sched.runUntil(world.nowNs + 100 * NS_PER_MS);
  assert.equal([acked?.ok, held], [true, { ok: true, value: 1 }]);
  assert.equal(node.readNow(req({ f: 'read', key: 'k' })), { ok: true, value: 1 });
  assert.is(node.readNow(req({ f: 'write', key: 'k', value: 2 })), null, 'not a read');
  assert.is(node.readNow(req({ f: 'db.list' })), null, 'only data reads');
  // Counted as submit counts: two reads answered at once, one through submit, one write.
  assert.equal(node.status().counters, { requests: 4, writes: 1, reads: 3, errors: 0 });
});

N('readNow refuses nothing itself: a request without permission is null, and submit answers (and logs) it', () => {
  const salt = new Uint8Array(16).fill(7);
  const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 } as const;
  const auth: AuthConfig = { tokenSecret: 'cluster-secret', root: { name: 'admin', hash: hashPassword('root-pw', salt, cheap) }, tokenTtlMs: 3_600_000 };
  const { call, nodes } = setup([], auth);
  const root = (call({ f: 'auth.login', user: 'admin', password: 'root-pw' }) as { value: string }).value;
  const node = nodes[0] as KvNode;
  const before = node.status().counters.requests;
  const read = (token?: string): Request => ({ kind: 'req', client: 'gw', seq: 1, ackSeq: 1, db: '', op: { f: 'read', key: 'k' }, ...(token !== undefined ? { token } : {}) });
  assert.is(node.readNow(read()), null, 'no token');
  assert.is(node.readNow(read(root.slice(0, -2) + 'xx')), null, 'a forged token');
  assert.is(node.status().counters.requests, before, 'nothing counted');
  assert.equal(node.readNow(read(root)), { ok: true, value: null });
});

N.run();
