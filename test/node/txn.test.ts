import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateOp, type KvOp, type Result } from '../../src/node/protocol.js';
import { KvNode } from '../../src/node/node.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';
import type { BugName } from '../../src/node/bugs.js';
import type { RaftTuning } from '../../src/node/raft-tuning.js';

// Interactive transactions at a three-node Raft group's leader (src/node/txn-service.ts),
// requests submitted straight to the nodes on the simulator.

function setup(bugs: BugName[] = [], raft: Partial<RaftTuning> = {}) {
  const ids = ['n1', 'n2', 'n3'];
  const world = new World({
    seed: 'txn-node',
    nodeIds: ids,
    net: { latency: { minMs: 0.1, meanMs: 0.3, maxMs: 2 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ids, replication: 'raft', engine: 'memory', bugs: new Set(bugs), raft }),
  });
  world.start();
  world.sched.runUntil(2000 * NS_PER_MS);
  const node = (id: string) => world.machine(id).node as KvNode;
  const leader = () => ids.find((id) => node(id).status().role === 'leader') as string;
  let seq = 0;
  /** Submits without waiting; the answer lands in the returned box. */
  const send = (op: KvOp, at = leader()): { r: Result | null } => {
    const box: { r: Result | null } = { r: null };
    node(at).submit({ kind: 'req', client: 't', seq: ++seq, ackSeq: 0, db: '', op, once: true }, (r) => (box.r = r));
    return box;
  };
  const settle = (ms = 300) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS);
  const call = (op: KvOp, at?: string): Result => {
    const box = send(op, at);
    settle();
    assert.ok(box.r !== null, `no answer to ${JSON.stringify(op)}`);
    return box.r as Result;
  };
  const begin = () => {
    const r = call({ f: 'txn.begin' });
    assert.ok(r.ok, JSON.stringify(r));
    return (r as { value: string }).value;
  };
  const tx = (txn: string, op: Extract<KvOp, { f: 'txn.op' }>['op']) => call({ f: 'txn.op', txn, op });
  return { world, node, leader, send, settle, call, begin, tx, ids };
}

const T = suite('transactions at the leader');

T('begin, buffered writes readable inside, invisible outside until commit, then applied together everywhere', () => {
  const t = setup();
  const id = t.begin();
  assert.match(id, /^\d+\.\d+$/);
  assert.ok(t.tx(id, { f: 'write', key: 'x', value: 1 }).ok);
  assert.ok(t.tx(id, { f: 'append', key: 'l', value: '1 ' }).ok);
  assert.ok(t.tx(id, { f: 'append', key: 'l', value: '2 ' }).ok);
  assert.equal(t.tx(id, { f: 'read', key: 'l' }), { ok: true, value: '1 2 ' });
  const outside = t.send({ f: 'read', key: 'x' });
  t.settle();
  assert.equal(outside.r, { ok: true, value: null }, 'a buffered write is not visible outside');
  assert.equal(t.call({ f: 'txn.commit', txn: id }), { ok: true, value: null });
  assert.equal(t.call({ f: 'read', key: 'l' }), { ok: true, value: '1 2 ' });
  t.settle(300);
  assert.is(new Set(t.ids.map((n) => t.node(n).stateDigest().digest)).size, 1, 'replicas agree');
  // A resent COMMIT gets the same answer; so does one asked of the record after the table forgot it.
  assert.equal(t.call({ f: 'txn.commit', txn: id }), { ok: true, value: null });
});

T('a write waits for an older reader\'s lock; locks go only when the commit entry is applied', () => {
  const t = setup();
  const a = t.begin();
  const b = t.begin();
  assert.equal(t.tx(a, { f: 'read', key: 'x' }), { ok: true, value: null });
  const w = t.send({ f: 'txn.op', txn: b, op: { f: 'write', key: 'x', value: 'b' } });
  t.settle();
  assert.is(w.r, null, 'the younger writer waits for the older reader');
  assert.ok(t.tx(a, { f: 'write', key: 'y', value: 'a' }).ok);
  const c = t.send({ f: 'txn.commit', txn: a });
  t.settle();
  assert.equal(c.r, { ok: true, value: null });
  assert.equal(w.r, { ok: true, value: 'b' }, 'granted once a committed');
  assert.equal(t.call({ f: 'txn.commit', txn: b }), { ok: true, value: null });
  assert.equal(t.call({ f: 'read', key: 'x' }), { ok: true, value: 'b' });
});

T('wound-wait: an older transaction wounds a younger holder, whose next step answers aborted', () => {
  const t = setup();
  const old = t.begin();
  const young = t.begin();
  assert.ok(t.tx(young, { f: 'write', key: 'x', value: 'young' }).ok);
  assert.equal(t.tx(old, { f: 'read', key: 'x' }), { ok: true, value: null });
  const r = t.call({ f: 'txn.commit', txn: young });
  assert.is(r.ok, false);
  assert.is((r as { code: string }).code, 'aborted');
  assert.match((r as { message: string }).message, /^wounded /);
});

T('a retry that names its aborted predecessor keeps its age: it wounds a younger holder instead of waiting', () => {
  const t = setup();
  const first = t.begin();
  const other = t.begin();
  assert.ok(t.call({ f: 'txn.rollback', txn: first }).ok);
  assert.ok(t.tx(other, { f: 'write', key: 'x', value: 'other' }).ok);
  const retry = t.call({ f: 'txn.begin', retryOf: first });
  assert.ok(retry.ok);
  assert.equal(t.tx((retry as { value: string }).value, { f: 'read', key: 'x' }), { ok: true, value: null }, 'older than other: wounds it');
  const r = t.call({ f: 'txn.commit', txn: other });
  assert.match((r as { message: string }).message, /^wounded /);
  // A fresh transaction is the youngest: it waits for the retried one.
  const fresh = t.begin();
  const w = t.send({ f: 'txn.op', txn: fresh, op: { f: 'write', key: 'x', value: 'fresh' } });
  t.settle();
  assert.is(w.r, null);
  // A timestamp is inherited once: a second retry of the same predecessor is young.
  const again = t.call({ f: 'txn.begin', retryOf: first });
  const blocked = t.send({ f: 'txn.op', txn: (again as { value: string }).value, op: { f: 'write', key: 'x', value: 'again' } });
  t.settle();
  assert.is(blocked.r, null, 'waits: it did not inherit the age a second time');
});

T('a single-key write wounds an active transaction holding its key', () => {
  const t = setup();
  const id = t.begin();
  assert.ok(t.tx(id, { f: 'read', key: 'x' }).ok);
  assert.ok(t.call({ f: 'write', key: 'x', value: 5 }).ok);
  const r = t.call({ f: 'txn.commit', txn: id });
  assert.equal([r.ok, (r as { message: string }).message.split(' ')[0]], [false, 'conflict']);
});

T('a single-key write in flight when the first transaction begins is never read around (the fence)', () => {
  // Lease reads answer without a round trip, so a read could come before the append applies.
  const t = setup([], { leaseReads: true, checkQuorum: true });
  // The append is proposed, not applied, when BEGIN comes (no transaction open: no pin).
  const single = t.send({ f: 'append', key: 'l', value: 'a ' });
  const begun = t.send({ f: 'txn.begin' });
  assert.ok(begun.r?.ok, 'BEGIN answers at once');
  const id = (begun.r as { value: string }).value;
  const reading = t.send({ f: 'txn.op', txn: id, op: { f: 'read', key: 'l' } });
  t.settle();
  const read = reading.r;
  assert.ok(t.tx(id, { f: 'append', key: 'l', value: 'b ' }).ok);
  assert.ok(t.call({ f: 'txn.commit', txn: id }).ok);
  assert.ok(single.r?.ok);
  const final = t.call({ f: 'read', key: 'l' });
  // Serializable: the transaction read what it wrote after. Reading '' would put it before the
  // single append, yet its append came after that one's.
  assert.equal([read, final], [{ ok: true, value: 'a ' }, { ok: true, value: 'a b ' }]);
});

T('a leader change aborts open transactions; a commit asked of the new leader answers from the record', () => {
  const t = setup();
  const first = t.leader();
  const open = t.begin();
  assert.ok(t.tx(open, { f: 'write', key: 'x', value: 1 }).ok);
  const done = t.begin();
  assert.ok(t.tx(done, { f: 'write', key: 'y', value: 1 }).ok);
  assert.ok(t.call({ f: 'txn.commit', txn: done }).ok);
  t.world.crash(first);
  t.world.sched.runUntil(t.world.nowNs + 2000 * NS_PER_MS);
  const next = t.leader();
  assert.ok(next !== undefined && next !== first);
  const r = t.call({ f: 'txn.commit', txn: open }, next);
  assert.equal([r.ok, (r as { code: string }).code, (r as { message: string }).message.split(' ')[0]], [false, 'aborted', 'unknown']);
  assert.equal(t.call({ f: 'txn.commit', txn: done }, next), { ok: true, value: null }, 'the record says committed');
  assert.equal(t.call({ f: 'read', key: 'x' }, next), { ok: true, value: null });
});

T('rollback releases; a transaction past its timeout is aborted; one-shot runs reads and writes', () => {
  const t = setup();
  const a = t.begin();
  assert.ok(t.tx(a, { f: 'write', key: 'x', value: 1 }).ok);
  assert.equal(t.call({ f: 'txn.rollback', txn: a }), { ok: true, value: null });
  const b = t.begin();
  assert.ok(t.tx(b, { f: 'write', key: 'x', value: 2 }).ok, 'the rolled-back lock is free');
  t.settle(11_000);
  const late = t.call({ f: 'txn.commit', txn: b });
  assert.equal([late.ok, (late as { message: string }).message.split(' ')[0]], [false, 'timeout']);
  const one = t.call({ f: 'txn.oneshot', ops: [{ f: 'append', key: 'l', value: 'a' }, { f: 'read', key: 'l' }, { f: 'read', key: 'x' }] });
  assert.equal(one, { ok: true, value: [null, 'a', null] });
});

T('bad input: unknown ids, wrong shapes, a busy transaction, limits', () => {
  const t = setup();
  const r = t.call({ f: 'txn.op', txn: '99.99', op: { f: 'read', key: 'x' } });
  assert.equal([r.ok, (r as { message: string }).message.split(' ')[0]], [false, 'unknown']);
  assert.match(validateOp({ f: 'txn.op', txn: 'nope', op: { f: 'read', key: 'x' } }, 'op') ?? '', /op.txn must be a transaction id/);
  assert.match(validateOp({ f: 'txn.op', txn: '1.2', op: { f: 'cas', key: 'x', expected: 1, value: 2 } }, 'op') ?? '', /inside a transaction/);
  assert.match(validateOp({ f: 'txn.oneshot', ops: [] }, 'op') ?? '', /1\.\.1000/);
  assert.match(validateOp({ f: 'txn.apply', txn: '1.2', term: 1, writes: [] }, 'op') ?? '', /must be one of/, 'the commit entry is never taken from a client');
  const a = t.begin();
  const b = t.begin();
  assert.ok(t.tx(a, { f: 'write', key: 'x', value: 1 }).ok);
  const waiting = t.send({ f: 'txn.op', txn: b, op: { f: 'read', key: 'x' } });
  const second = t.call({ f: 'txn.op', txn: b, op: { f: 'read', key: 'y' } });
  assert.equal([second.ok, (second as { code: string }).code], [false, 'bad_request']);
  assert.ok(t.call({ f: 'txn.rollback', txn: a }).ok);
  t.settle();
  assert.equal(waiting.r, { ok: true, value: null });
});

T.run();

const C = suite('client.transaction');

C('retries a transaction wounded by an older one, and commits it', async () => {
  const { KvClient } = await import('../../src/client/client.js');
  const t = setup();
  const { net, clock } = t.world.clientEndpoint('c9');
  const client = new KvClient(net, clock, { nodes: t.ids, timeoutMs: 2000, attemptTimeoutMs: 500 });
  const old = t.begin();
  let runs = 0;
  let result: string | null = null;
  let error: unknown = null;
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  void client
    .transaction(async (tx) => {
      runs++;
      await tx.append('x', 'c');
      if (runs === 1) await gate; // holds x's X lock until the older transaction wants it
      return String(await tx.get('x'));
    })
    .then((v) => (result = v), (e) => (error = e));
  const pump = async (ms: number) => {
    for (let i = 0; i < ms / 5; i++) {
      t.world.sched.runUntil(t.world.nowNs + 5 * NS_PER_MS);
      await new Promise((r) => setImmediate(r));
    }
  };
  await pump(100);
  // The older transaction reads x: it wounds the client's (younger) one and gets the lock.
  assert.equal(t.tx(old, { f: 'read', key: 'x' }), { ok: true, value: null });
  open();
  await pump(200);
  assert.ok(t.call({ f: 'txn.commit', txn: old }).ok);
  await pump(1000);
  assert.is(error, null);
  assert.is(result, 'c');
  assert.is(runs, 2, 'wounded once, then committed');
  assert.equal(t.call({ f: 'read', key: 'x' }), { ok: true, value: 'c' });
});

C.run();
