/**
 * Authentication on a sharded cluster, end to end in the simulator (the lab's scenarios run
 * without authentication, so this builds its own world of five nodes of four shards with an
 * AuthConfig). Users and databases live in shard 0's group and every node keeps a copy
 * (src/node/shard-catalog.ts): a login and a token work at any node, including nodes that hold
 * no replica of shard 0; a request a gateway forwards to a shard's leader carries the principal
 * it authenticated, and only a member's principal is believed; permissions hold wherever a
 * request is served; a password changed while a node is cut off revokes the old token there once
 * the partition heals.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_DISK_OPTIONS } from '../../../sim/disk.js';
import { kvNodeOf, NodeProcess, startNodeProcess } from '../../../sim/node-process.js';
import { NS_PER_MS } from '../../../sim/scheduler.js';
import { Trace } from '../../../sim/trace.js';
import { World } from '../../../sim/world.js';
import { hashPassword, type AuthConfig } from '../../../src/node/auth.js';
import { encodeMessage, type KvOp, type Result } from '../../../src/node/protocol.js';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
const salt = new Uint8Array(16).fill(3);
/** scrypt at a low cost: the test checks who may do what, not how slow a guess is. */
const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 } as const;
const auth: AuthConfig = { tokenSecret: 'the-cluster-secret', root: { name: 'admin', hash: hashPassword('root-pw', salt, cheap) }, tokenTtlMs: 3_600_000 };

function world(): World {
  const w: World = new World({
    seed: 'shard-auth',
    nodeIds: IDS,
    net: { latency: { minMs: 0.1, meanMs: 0.5, maxMs: 5 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env, m) =>
      startNodeProcess(env, m, {
        config: { members: IDS, original: true, replication: 'raft', engine: 'memory', bugs: new Set(), auth, shards: { count: 4, replicas: 3 } },
        frontDoor: true,
        openNet: (address, machine) => w.net.attach(address, machine.owner, machine.id),
        bugs: new Set(),
      }),
  });
  w.start();
  w.sched.runUntil(2000 * NS_PER_MS);
  return w;
}

/** Runs an operation through node `id`'s gateway (as a line or HTTP session would) until answered. */
function run(w: World, id: string, op: KvOp, token: string | null, db = ''): Result {
  const p = w.machine(id).node as NodeProcess;
  let out: Result | null = null;
  p.frontDoor?.gateway.execute('tcp', op, db, token, (r) => (out = r));
  for (let i = 0; i < 1000 && out === null; i++) w.sched.runUntil(w.nowNs + 10 * NS_PER_MS);
  assert.ok(out !== null, `${op.f} through ${id} was answered`);
  return out as Result;
}

const code = (r: Result) => (r.ok ? 'ok' : r.code);

function login(w: World, id: string, user: string, password: string): string {
  const r = run(w, id, { f: 'auth.login', user, password }, null);
  assert.ok(r.ok && typeof r.value === 'string', `login of ${user} at ${id}: ${JSON.stringify(r)}`);
  return r.value as string;
}

/** The nodes that hold no replica of shard 0 (the catalog's shard): they check logins against their copy. */
function withoutShard0(w: World): string[] {
  const map = kvNodeOf(w.machine('n1'))?.shardMap();
  assert.ok(map !== null && map !== undefined);
  const out = IDS.filter((id) => !map.replicas(0).includes(id));
  assert.is(out.length, 2, 'five nodes, three replicas of shard 0');
  return out;
}

test('root and users log in at any node; permissions per database hold wherever a request is served', () => {
  const w = world();
  const far = withoutShard0(w);
  const root = login(w, far[0] as string, 'admin', 'root-pw');
  assert.is(code(run(w, 'n1', { f: 'read', key: 'k' }, null)), 'unauthorized', 'no token');
  assert.is(code(run(w, 'n2', { f: 'auth.login', user: 'admin', password: 'wrong' }, null)), 'unauthorized');
  assert.is(code(run(w, 'n1', { f: 'db.create', name: 'shop' }, root)), 'ok');
  assert.is(code(run(w, 'n3', { f: 'db.create', name: 'shop' }, root)), 'already_exists');
  assert.is(code(run(w, 'n2', { f: 'user.put', name: 'ann', hash: hashPassword('ann-pw', salt, cheap) }, root)), 'ok');
  assert.equal(run(w, 'n4', { f: 'user.grant', name: 'ann', db: 'shop', perms: ['read', 'write'] }, root), { ok: true, value: { shop: ['read', 'write'] } });
  w.sched.runUntil(w.nowNs + 500 * NS_PER_MS);
  for (const id of IDS) assert.equal(run(w, id, { f: 'db.list' }, root), { ok: true, value: ['', 'shop'] }, `${id} lists the databases`);
  // Ann logs in where no replica of the catalog's shard is: that node's copy answers.
  const ann = login(w, far[1] as string, 'ann', 'ann-pw');
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  keys.forEach((k, i) => assert.is(code(run(w, IDS[i % 5] as string, { f: 'write', key: k, value: i }, ann, 'shop')), 'ok', `ann writes ${k} through n${(i % 5) + 1}`));
  keys.forEach((k, i) => assert.equal(run(w, IDS[(i + 2) % 5] as string, { f: 'read', key: k }, ann, 'shop'), { ok: true, value: i }));
  const forwarded = IDS.reduce((n, id) => n + ((w.machine(id).node as NodeProcess).frontDoor?.gateway.forwarded.value ?? 0), 0);
  assert.ok(forwarded > 0, 'some requests were forwarded to their shard\'s leader, with the principal');
  const range = run(w, 'n5', { f: 'range', start: '', end: null, limit: 100, reverse: false }, ann, 'shop');
  assert.is(range.ok && range.entries?.length, keys.length, 'a range over every shard of the database');
  for (const id of IDS) {
    assert.is(code(run(w, id, { f: 'write', key: 'x', value: 1 }, ann)), 'forbidden', `no grant on the default database, at ${id}`);
    assert.is(code(run(w, id, { f: 'user.list' }, ann)), 'forbidden', `administration needs admin, at ${id}`);
  }
  assert.equal(run(w, 'n3', { f: 'db.list' }, ann), { ok: true, value: ['shop'] }, 'a user sees the databases it may read');
  // The same keys in the default database are other keys: the database is part of a key's place on the ring.
  assert.equal(run(w, 'n2', { f: 'read', key: 'k1' }, root), { ok: true, value: null });
  // Deleting the database deletes its keys in every shard; created again, it is empty.
  assert.equal(run(w, 'n5', { f: 'db.delete', name: 'shop' }, root), { ok: true, value: keys.length });
  assert.is(code(run(w, 'n1', { f: 'read', key: 'k1' }, ann, 'shop')), 'no_such_db');
  assert.is(code(run(w, 'n4', { f: 'db.create', name: 'shop' }, root)), 'ok');
  for (const k of keys) assert.equal(run(w, 'n2', { f: 'read', key: k }, root, 'shop'), { ok: true, value: null });
});

test('a principal is believed only from a member: a client that names one is refused', () => {
  const w = world();
  const root = login(w, 'n1', 'admin', 'root-pw');
  assert.is(code(run(w, 'n1', { f: 'write', key: 'secret', value: 's' }, root)), 'ok');
  const answers: Result[] = [];
  for (const address of ['c1', 'n9.gw.0001']) {
    const { net } = w.clientEndpoint(address);
    net.onReceive((_from, frame) => answers.push((JSON.parse(new TextDecoder().decode(frame)) as { result: Result }).result));
    for (const id of IDS) net.send(id, encodeMessage({ kind: 'req', client: address, seq: 1, ackSeq: 1, db: '', op: { f: 'read', key: 'secret' }, principal: { user: 'admin', epoch: 0 } }));
  }
  w.sched.runUntil(w.nowNs + 200 * NS_PER_MS);
  assert.is(answers.length, 2 * IDS.length);
  for (const r of answers) assert.equal(r, { ok: false, code: 'unauthorized', message: 'a principal is accepted only from the members of the cluster' });
});

test('a password changed while a node is cut off: the old token works nowhere once the partition heals', () => {
  const w = world();
  const far = withoutShard0(w);
  const cut = far[0] as string;
  const root = login(w, 'n1', 'admin', 'root-pw');
  assert.is(code(run(w, 'n2', { f: 'user.put', name: 'bob', hash: hashPassword('bob-pw', salt, cheap) }, root)), 'ok');
  assert.is(code(run(w, 'n3', { f: 'user.grant', name: 'bob', db: '', perms: ['read'] }, root)), 'ok');
  w.sched.runUntil(w.nowNs + 500 * NS_PER_MS);
  const old = login(w, cut, 'bob', 'bob-pw');
  for (const other of IDS) if (other !== cut) {
    w.net.block(cut, other);
    w.net.block(other, cut);
  }
  assert.is(code(run(w, 'n1', { f: 'user.put', name: 'bob', hash: hashPassword('bob-pw-2', salt, cheap) }, root)), 'ok');
  w.sched.runUntil(w.nowNs + 500 * NS_PER_MS);
  for (const id of IDS) if (id !== cut) assert.is(code(run(w, id, { f: 'read', key: 'k' }, old)), 'unauthorized', `the old token at ${id}`);
  w.net.heal();
  w.sched.runUntil(w.nowNs + 2000 * NS_PER_MS);
  for (const id of IDS) assert.is(code(run(w, id, { f: 'read', key: 'k' }, old)), 'unauthorized', `the old token at ${id} after the heal`);
  const fresh = login(w, cut, 'bob', 'bob-pw-2');
  for (const id of IDS) assert.is(code(run(w, id, { f: 'read', key: 'k' }, fresh)), 'ok', `the new token at ${id}`);
});

test.run();
