import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DUMMY_HASH, hashPassword, type AuthConfig, type PasswordVerifier } from '../../src/node/auth.js';
import { KvNode } from '../../src/node/node.js';
import { RANGE_BYTES_MAX, validateOp, VALUE_BYTES_MAX, VALUE_DEPTH_MAX, type KvOp, type Request, type Result } from '../../src/node/protocol.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';

// Hostile and careless clients against a node's request entry point (issue 16): deep JSON,
// names that are also the names of built-in object properties, login floods, stale credentials.

const salt = new Uint8Array(16).fill(7);
const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 } as const;
const hash = (pw: string) => hashPassword(pw, salt, cheap);

function authConfig(extra: Partial<AuthConfig> = {}): AuthConfig {
  return { tokenSecret: 'cluster-secret', root: { name: 'admin', hash: hash('root-pw') }, tokenTtlMs: 3_600_000, ...extra };
}

function cluster(ids: string[], auth: AuthConfig | null) {
  const world = new World({
    seed: 'hostile',
    nodeIds: ids,
    net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ids, replication: ids.length === 1 ? 'none' : 'raft', engine: 'memory', bugs: new Set(), auth }),
  });
  world.start();
  world.sched.runUntil(world.nowNs + (ids.length === 1 ? 10 : 2000) * NS_PER_MS);
  const node = (id: string) => world.machine(id).node as KvNode;
  const leader = () => ids.find((id) => node(id).status().role !== 'follower' && node(id).status().role !== 'candidate') as string;
  let seq = 0;
  /** Submits through KvNode's entry point and runs the world until the answer comes. */
  const submit = (op: KvOp, opts: { db?: string; token?: string; at?: string } = {}): Result => {
    let out: Result | undefined;
    const req: Request = { kind: 'req', client: 'c1', seq: ++seq, ackSeq: seq, db: opts.db ?? '', op, ...(opts.token !== undefined ? { token: opts.token } : {}) };
    node(opts.at ?? leader()).submit(req, (r) => (out = r));
    world.sched.runUntil(world.nowNs + 300 * NS_PER_MS);
    assert.ok(out !== undefined, `answered: ${JSON.stringify(op)}`);
    return out as Result;
  };
  const code = (r: Result) => (r.ok ? 'ok' : r.code);
  const login = (user: string, password: string): string => {
    const r = submit({ f: 'auth.login', user, password });
    assert.ok(r.ok, `login of ${user}: ${JSON.stringify(r)}`);
    return (r as { value: string }).value;
  };
  return { world, node, leader, submit, code, login };
}

const H = suite('hostile clients');

H('a frame nested 100,000 deep is refused, and the node keeps serving (item 1)', () => {
  const t = cluster(['n1'], null);
  const { net } = t.world.clientEndpoint('raw');
  const answers: string[] = [];
  net.onReceive((_, f) => answers.push(new TextDecoder().decode(f)));
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  net.send('n1', new TextEncoder().encode(`{"kind":"req","client":"raw","seq":1,"ackSeq":0,"db":"","op":{"f":"write","key":"k","value":${deep}}}`));
  net.send('n1', new TextEncoder().encode(deep));
  t.world.sched.runUntil(t.world.nowNs + 20 * NS_PER_MS);
  assert.equal(t.world.panics, [], 'no node died');
  assert.equal(answers, [], 'a frame that cannot be parsed has no seq to answer');
  assert.is(t.code(t.submit({ f: 'write', key: 'k', value: 1 })), 'ok');
});

H('a value nested deeper than the bound is a bad request, as a frame and as an object a front end checks (item 1)', () => {
  const t = cluster(['n1'], null);
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  // What the gateway does with an operation it parsed itself (JSON.parse survives this depth).
  assert.match(validateOp({ f: 'write', key: 'k', value: deep }, 'op') ?? '', /op\.value nests deeper than/);
  assert.match(validateOp({ f: 'batch', ops: [{ f: 'cas', key: 'k', expected: 1, value: deep }] }, 'op') ?? '', /nests deeper than/);
  assert.match(validateOp({ f: 'write', key: 'k', value: { a: [1, Infinity] } }, 'op') ?? '', /op\.value\.a\[1\] is Infinity/);
  const { net } = t.world.clientEndpoint('raw');
  const answers: string[] = [];
  net.onReceive((_, f) => answers.push(new TextDecoder().decode(f)));
  const justTooDeep = '['.repeat(VALUE_DEPTH_MAX + 1) + ']'.repeat(VALUE_DEPTH_MAX + 1);
  net.send('n1', new TextEncoder().encode(`{"kind":"req","client":"raw","seq":1,"ackSeq":0,"db":"","op":{"f":"write","key":"k","value":${justTooDeep}}}`));
  t.world.sched.runUntil(t.world.nowNs + 20 * NS_PER_MS);
  assert.match(answers[0] ?? '', /"code":"bad_request".*nests deeper than/);
  let ok: unknown = 'x';
  for (let i = 0; i < 64; i++) ok = { a: ok };
  assert.is(t.code(t.submit({ f: 'write', key: 'k', value: ok as never })), 'ok', '64 levels are fine');
  assert.equal(t.submit({ f: 'cas', key: 'k', expected: ok as never, value: 2 }), { ok: true, value: 2 });
  assert.equal(t.world.panics, []);
});

H('databases, users and keys named after built-in object properties work (item 2)', () => {
  const t = cluster(['n1'], authConfig());
  const root = t.login('admin', 'root-pw');
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  for (const name of names) {
    assert.is(t.code(t.submit({ f: 'db.create', name }, { token: root })), 'ok', name);
    assert.is(t.code(t.submit({ f: 'user.put', name, hash: hash(`pw-${name}`) }, { token: root })), 'ok', name);
  }
  assert.is(t.code(t.submit({ f: 'user.put', name: 'bob', hash: hash('bob-pw') }, { token: root })), 'ok');
  const bob = t.login('bob', 'bob-pw');
  for (const db of names) {
    // No grant yet: refused, not a crash (grants["constructor"] was a function).
    assert.is(t.code(t.submit({ f: 'read', key: 'x' }, { db, token: bob })), 'forbidden', db);
    assert.is(t.code(t.submit({ f: 'user.grant', name: 'bob', db, perms: ['write'] }, { token: root })), 'ok', db);
    assert.is(t.code(t.submit({ f: 'write', key: db, value: { [db]: db } }, { db, token: bob })), 'ok', db);
    assert.equal(t.submit({ f: 'read', key: db }, { db, token: bob }), { ok: true, value: { [db]: db } }, db);
  }
  for (const name of names) assert.is(t.code(t.submit({ f: 'read', key: 'x' }, { db: 'constructor', token: t.login(name, `pw-${name}`) })), 'forbidden', name);
  const users = t.submit({ f: 'user.list' }, { token: root });
  assert.ok(users.ok);
  const bobRow = (users.value as { name: string; grants: Record<string, string[]> }[]).find((u) => u.name === 'bob');
  assert.equal(Object.keys(bobRow?.grants ?? {}).sort(), [...names].sort());
  assert.is(t.code(t.submit({ f: 'user.grant', name: 'bob', db: '__proto__', perms: [] }, { token: root })), 'ok');
  assert.is(t.code(t.submit({ f: 'read', key: 'x' }, { db: '__proto__', token: bob })), 'forbidden', 'a revoked grant on __proto__ is gone');
  assert.is(t.code(t.submit({ f: 'cas', key: 'c', expected: { constructor: 1 } as never, value: 1 }, { db: 'toString', token: bob })), 'cas_mismatch');
  assert.equal(t.world.panics, []);
});

H('a read-only user lists only the databases it may see (item 11)', () => {
  const t = cluster(['n1'], authConfig());
  const root = t.login('admin', 'root-pw');
  for (const name of ['shop', 'hr', 'ops']) t.submit({ f: 'db.create', name }, { token: root });
  t.submit({ f: 'user.put', name: 'ann', hash: hash('ann-pw') }, { token: root });
  t.submit({ f: 'user.grant', name: 'ann', db: 'shop', perms: ['read'] }, { token: root });
  t.submit({ f: 'user.grant', name: 'ann', db: 'ops', perms: ['write'] }, { token: root });
  const ann = t.login('ann', 'ann-pw');
  assert.equal(t.submit({ f: 'db.list' }, { token: ann }), { ok: true, value: ['ops', 'shop'] });
  assert.equal(t.submit({ f: 'db.list' }, { token: root }), { ok: true, value: ['', 'hr', 'ops', 'shop'] });
  t.submit({ f: 'user.grant', name: 'ann', db: '*', perms: ['read'] }, { token: root });
  assert.equal(t.submit({ f: 'db.list' }, { token: ann }), { ok: true, value: ['', 'hr', 'ops', 'shop'] }, 'a grant on * sees all');
});

H('a new password, a deletion and a re-creation revoke tokens and the old password at once (item 7)', () => {
  const t = cluster(['n1'], authConfig());
  const root = t.login('admin', 'root-pw');
  t.submit({ f: 'user.put', name: 'ann', hash: hash('old-pw') }, { token: root });
  t.submit({ f: 'user.grant', name: 'ann', db: '', perms: ['read'] }, { token: root });
  const before = t.login('ann', 'old-pw');
  assert.is(t.code(t.submit({ f: 'read', key: 'k' }, { token: before })), 'ok');
  assert.is(t.code(t.submit({ f: 'db.list' }, { token: before })), 'ok');
  t.submit({ f: 'user.put', name: 'ann', hash: hash('new-pw') }, { token: root });
  assert.is(t.code(t.submit({ f: 'read', key: 'k' }, { token: before })), 'unauthorized', 'a token from before the password change');
  assert.is(t.code(t.submit({ f: 'db.list' }, { token: before })), 'unauthorized', 'also where no permission is needed');
  assert.is(t.code(t.submit({ f: 'auth.login', user: 'ann', password: 'old-pw' })), 'unauthorized');
  const after = t.login('ann', 'new-pw');
  assert.is(t.code(t.submit({ f: 'read', key: 'k' }, { token: after })), 'ok', 'grants survive a password change');
  // Deleted and created again with the very same hash: old tokens still do not work.
  const sameHash = hash('new-pw');
  t.submit({ f: 'user.put', name: 'bob', hash: sameHash }, { token: root });
  const bobOld = t.login('bob', 'new-pw');
  t.submit({ f: 'user.delete', name: 'bob' }, { token: root });
  assert.is(t.code(t.submit({ f: 'db.list' }, { token: bobOld })), 'unauthorized', 'a deleted user');
  t.submit({ f: 'user.put', name: 'bob', hash: sameHash }, { token: root });
  assert.is(t.code(t.submit({ f: 'db.list' }, { token: bobOld })), 'unauthorized', 'the token of a deleted user, after it was created again');
  t.submit({ f: 'user.delete', name: 'ann' }, { token: root });
  t.submit({ f: 'user.put', name: 'ann', hash: hash('third-pw') }, { token: root });
  assert.is(t.code(t.submit({ f: 'auth.login', user: 'ann', password: 'new-pw' })), 'unauthorized', 'the old password of a re-created user');
  assert.is(t.code(t.submit({ f: 'db.list' }, { token: after })), 'unauthorized');
});

H('revocation holds on every node of a Raft group (item 7)', () => {
  const t = cluster(['n1', 'n2', 'n3'], authConfig());
  const root = t.login('admin', 'root-pw');
  t.submit({ f: 'user.put', name: 'ann', hash: hash('old-pw') }, { token: root });
  const ann = t.login('ann', 'old-pw');
  t.submit({ f: 'user.put', name: 'ann', hash: hash('new-pw') }, { token: root });
  t.world.sched.runUntil(t.world.nowNs + 200 * NS_PER_MS);
  for (const id of ['n1', 'n2', 'n3']) {
    const r = t.submit({ f: 'db.list' }, { token: ann, at: id });
    assert.is(t.code(r), 'unauthorized', `node ${id} (${t.node(id).status().role})`);
  }
});

/** A verifier whose checks finish when the test says, to look at the node while they run. */
function heldVerifier() {
  const running: { hash: string; done: (ok: boolean) => void; password: string }[] = [];
  const verifier: PasswordVerifier = { verify: (password, h, done) => void running.push({ password, hash: h, done }) };
  return { verifier, running };
}

H('password checks go through the verifier, a bounded number at once; the rest wait or are refused (item 5)', () => {
  const { verifier, running } = heldVerifier();
  const t = cluster(['n1'], authConfig({ verifier, loginLimits: { verifyingMax: 2, waitingMax: 3 } }));
  const node = t.node('n1');
  const answers: Result[] = [];
  for (let i = 0; i < 7; i++) node.submit({ kind: 'req', client: `c${i}`, seq: 1, ackSeq: 0, db: '', op: { f: 'auth.login', user: 'admin', password: i === 0 ? 'root-pw' : 'wrong' } }, (r) => answers.push(r));
  assert.is(running.length, 2, 'two checks run');
  assert.equal(answers.map((r) => (r.ok ? 'ok' : r.code)), ['unavailable', 'unavailable'], 'three wait; two are refused at once');
  // The event loop is free while they run: other requests are answered.
  assert.is(t.code(t.submit({ f: 'read', key: 'k' })), 'unauthorized');
  (running.shift() as { done: (ok: boolean) => void }).done(true);
  assert.is(running.length, 2, 'a waiting login takes the freed slot');
  assert.ok(answers[2]?.ok, 'the right password got a token');
  while (running.length > 0) (running.shift() as { done: (ok: boolean) => void }).done(false);
  assert.equal(answers.slice(3).map((r) => (r.ok ? 'ok' : r.code)), ['unauthorized', 'unauthorized', 'unauthorized', 'unauthorized']);
  assert.is(t.code(t.submit({ f: 'read', key: 'k' }, { token: (answers[2] as { value: string }).value })), 'ok');
});

H('an unknown user is checked against a dummy hash, as slow as a real one (item 8)', () => {
  const { verifier, running } = heldVerifier();
  const t = cluster(['n1'], authConfig({ verifier }));
  const node = t.node('n1');
  const answers: Result[] = [];
  node.submit({ kind: 'req', client: 'c', seq: 1, ackSeq: 0, db: '', op: { f: 'auth.login', user: 'nobody', password: 'x' } }, (r) => answers.push(r));
  assert.is(answers.length, 0, 'no early answer for an unknown user');
  assert.equal(running.map((r) => r.hash), [DUMMY_HASH]);
  (running.shift() as { done: (ok: boolean) => void }).done(true);
  assert.is(answers[0]?.ok ? 'ok' : answers[0]?.code, 'unauthorized', 'even if the dummy hash were to match');
});

H('a password changed while its login was being checked yields no token for the old one (item 7)', () => {
  const { verifier, running } = heldVerifier();
  const t = cluster(['n1'], authConfig({ verifier }));
  const node = t.node('n1');
  const root = (() => {
    node.submit({ kind: 'req', client: 'c', seq: 1, ackSeq: 0, db: '', op: { f: 'auth.login', user: 'admin', password: 'root-pw' } }, () => {});
    const answers: Result[] = [];
    node.submit({ kind: 'req', client: 'c', seq: 2, ackSeq: 0, db: '', op: { f: 'auth.login', user: 'admin', password: 'root-pw' } }, (r) => answers.push(r));
    (running.shift() as { done: (ok: boolean) => void }).done(true);
    (running.shift() as { done: (ok: boolean) => void }).done(true);
    return (answers[0] as { value: string }).value;
  })();
  t.submit({ f: 'user.put', name: 'ann', hash: hash('old-pw') }, { token: root });
  const answers: Result[] = [];
  node.submit({ kind: 'req', client: 'c', seq: 9, ackSeq: 0, db: '', op: { f: 'auth.login', user: 'ann', password: 'old-pw' } }, (r) => answers.push(r));
  t.submit({ f: 'user.put', name: 'ann', hash: hash('new-pw') }, { token: root });
  (running.shift() as { done: (ok: boolean) => void }).done(true);
  assert.is(answers[0]?.ok ? 'ok' : answers[0]?.code, 'unauthorized');
});

H('a full disk makes a node refuse writes with disk_full, serve reads, and recover once space frees (item 11)', () => {
  const ids = ['n1', 'n2', 'n3'];
  const world = new World({
    seed: 'disk-full',
    nodeIds: ids,
    net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ids, replication: 'raft', engine: 'lsm', bugs: new Set() }),
  });
  world.start();
  world.sched.runUntil(world.nowNs + 2000 * NS_PER_MS);
  const node = (id: string) => world.machine(id).node as KvNode;
  const leader = ids.find((id) => node(id).status().role === 'leader') as string;
  const follower = ids.find((id) => id !== leader) as string;
  let seq = 0;
  const submit = (op: KvOp): string => {
    let out: Result | undefined;
    node(leader).submit({ kind: 'req', client: 'c', seq: ++seq, ackSeq: seq, db: '', op }, (r) => (out = r));
    world.sched.runUntil(world.nowNs + 300 * NS_PER_MS);
    return out === undefined ? 'no answer' : out.ok ? `ok ${JSON.stringify(out.value)}` : out.code;
  };
  // Each disk gets options of its own: the World hands every machine the same object, so
  // changing one disk's capacity would change them all.
  for (const id of ids) {
    const disk = world.machine(id).disk as unknown as { options: object };
    disk.options = { ...disk.options };
  }
  const fill = (id: string) => {
    const disk = world.machine(id).disk;
    disk.options.capacityBytes = disk.usedBytes + 1024;
  };
  assert.is(submit({ f: 'write', key: 'k', value: 1 }), 'ok 1');
  // A follower's disk fills: it takes no more entries, and does not die; the others go on.
  fill(follower);
  for (let i = 0; i < 20; i++) assert.is(submit({ f: 'write', key: `f${i}`, value: 'x'.repeat(1000) }), `ok "${'x'.repeat(1000)}"`);
  assert.is(world.machine(follower).state, 'up', 'the follower with a full disk did not exit');
  // The leader's disk fills: writes are refused, reads are served.
  fill(leader);
  assert.is(submit({ f: 'write', key: 'k', value: 2 }), 'disk_full');
  assert.is(submit({ f: 'read', key: 'k' }), 'ok 1');
  assert.equal(ids.map((id) => world.machine(id).state), ['up', 'up', 'up'], 'no node exited');
  // Space comes back: writes are accepted again, and the follower catches up.
  for (const id of ids) world.machine(id).disk.options.capacityBytes = null;
  assert.is(submit({ f: 'write', key: 'k', value: 3 }), 'ok 3');
  world.sched.runUntil(world.nowNs + 1000 * NS_PER_MS);
  assert.is(new Set(ids.map((id) => node(id).stateDigest().digest)).size, 1, 'every replica holds the same state again');
  assert.equal(world.panics, []);
});

H('a range over 20 values of 1 MiB answers at most RANGE_BYTES_MAX and where to continue; following it gives everything (item 9)', () => {
  const t = cluster(['n1'], null);
  const big = (i: number) => `${i}`.padEnd(VALUE_BYTES_MAX - 2, 'v'); // with its quotes, 1 MiB of JSON
  for (let i = 0; i < 20; i++) assert.is(t.code(t.submit({ f: 'write', key: `k${String(i).padStart(2, '0')}`, value: big(i) })), 'ok');
  for (const reverse of [false, true]) {
    const got: string[] = [];
    let start = '';
    let end: string | null = null;
    let pages = 0;
    for (;;) {
      const r = t.submit({ f: 'range', start, end, limit: 100, reverse });
      assert.ok(r.ok && r.entries !== undefined, JSON.stringify(r).slice(0, 200));
      if (!r.ok || r.entries === undefined) return;
      const bytes = r.entries.reduce((n, [k, v]) => n + k.length + (v as string).length, 0);
      assert.ok(bytes <= RANGE_BYTES_MAX, `a page of ${bytes} bytes`);
      assert.ok(r.entries.length >= 1);
      for (const [k, v] of r.entries) {
        assert.is(v, big(Number(k.slice(1))));
        got.push(k);
      }
      pages++;
      if (r.next === undefined) break;
      if (reverse) end = r.next;
      else start = r.next;
    }
    const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    assert.equal(got, reverse ? keys.reverse() : keys, `every entry once, in order (reverse: ${reverse})`);
    assert.ok(pages >= 5, `${pages} pages`);
  }
  // A range that fits says nothing of a continuation, and a count limit is not a cut.
  const small = t.submit({ f: 'range', start: 'k00', end: 'k02', limit: 100, reverse: false });
  assert.equal(small.ok && [small.entries?.length, small.next], [2, undefined]);
  const counted = t.submit({ f: 'range', start: '', end: null, limit: 1, reverse: false });
  assert.equal(counted.ok && [counted.entries?.length, counted.next], [1, undefined]);
});

H.run();
