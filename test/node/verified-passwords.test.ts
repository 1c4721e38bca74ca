import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashPassword, verifyPassword, VerifiedPasswords, type AuthConfig, type PasswordVerifier } from '../../src/node/auth.js';
import { KvNode } from '../../src/node/node.js';
import type { KvOp, Request, Result } from '../../src/node/protocol.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';

// Correct logins are cheap to repeat (issue 16): a client that opens connection after connection
// with the right password, one AUTH each, used to cost an scrypt per connection. A node now
// remembers successful checks (an HMAC of the password, never the password) for the credential
// they were made against; a changed or deleted user, a wrong password, an old entry: the verifier.

const salt = new Uint8Array(16).fill(3);
const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 } as const;
const hash = (pw: string) => hashPassword(pw, salt, cheap);

/** The real check, counted: one call is one scrypt. */
function countingVerifier() {
  const c = { calls: 0, verifier: null as unknown as PasswordVerifier };
  c.verifier = { verify: (password, h, done) => (c.calls++, done(verifyPassword(password, h))) };
  return c;
}

function node(extra: Partial<AuthConfig> = {}) {
  const counted = countingVerifier();
  const auth: AuthConfig = { tokenSecret: 'cluster-secret', root: { name: 'admin', hash: hash('root-pw') }, tokenTtlMs: 3_600_000, verifier: counted.verifier, ...extra };
  const world = new World({
    seed: 'verified',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ['n1'], replication: 'none', engine: 'memory', bugs: new Set(), auth }),
  });
  world.start();
  world.sched.runUntil(world.nowNs + 10 * NS_PER_MS);
  const kv = () => world.machine('n1').node as KvNode;
  let seq = 0;
  const submit = (op: KvOp, token?: string): Result => {
    let out: Result | undefined;
    const req: Request = { kind: 'req', client: 'c1', seq: ++seq, ackSeq: seq, db: '', op, ...(token !== undefined ? { token } : {}) };
    kv().submit(req, (r) => (out = r));
    world.sched.runUntil(world.nowNs + 50 * NS_PER_MS);
    assert.ok(out !== undefined, `answered: ${JSON.stringify(op)}`);
    return out as Result;
  };
  const login = (user: string, password: string) => submit({ f: 'auth.login', user, password });
  const code = (r: Result) => (r.ok ? 'ok' : r.code);
  const root = (login('admin', 'root-pw') as { value: string }).value;
  return { counted, submit, login, code, root, kv, advance: (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS) };
}

const V = suite('verified passwords');

V('20 logins with the right password cost one scrypt; each token works', () => {
  const t = node();
  t.submit({ f: 'user.put', name: 'ann', hash: hash('ann-pw') }, t.root);
  t.submit({ f: 'user.grant', name: 'ann', db: '', perms: ['read'] }, t.root);
  const before = t.counted.calls;
  for (let i = 0; i < 20; i++) {
    const r = t.login('ann', 'ann-pw');
    assert.ok(r.ok, JSON.stringify(r));
    assert.is(t.code(t.submit({ f: 'read', key: 'k' }, (r as { value: string }).value)), 'ok');
  }
  assert.is(t.counted.calls - before, 1, 'one password check for 20 logins');
  // The configured root user too.
  const rootBefore = t.counted.calls;
  for (let i = 0; i < 5; i++) assert.ok(t.login('admin', 'root-pw').ok);
  assert.is(t.counted.calls, rootBefore, 'root was verified at the start already');
});

V('a wrong password is never answered from memory: each goes to the verifier, and fails', () => {
  const t = node();
  t.submit({ f: 'user.put', name: 'ann', hash: hash('ann-pw') }, t.root);
  assert.ok(t.login('ann', 'ann-pw').ok);
  const before = t.counted.calls;
  // (Not 'ann-pw\0': scrypt's HMAC pads its key with zeros, so trailing NULs are the same password.)
  for (const guess of ['ann-pw ', 'ANN-PW', '', 'ann-p', 'ann-pw\0x']) assert.is(t.code(t.login('ann', guess)), 'unauthorized', JSON.stringify(guess));
  assert.is(t.counted.calls - before, 5, 'every wrong password was checked');
  assert.is(t.code(t.login('bob', 'ann-pw')), 'unauthorized', 'another user with that password');
  assert.ok(t.login('ann', 'ann-pw').ok, 'the right one still works from memory');
  assert.is(t.counted.calls - before, 6);
});

V('a changed password, a deleted user and a re-created one invalidate what was remembered', () => {
  const t = node();
  t.submit({ f: 'user.put', name: 'ann', hash: hash('old-pw') }, t.root);
  assert.ok(t.login('ann', 'old-pw').ok);
  t.submit({ f: 'user.put', name: 'ann', hash: hash('new-pw') }, t.root);
  assert.is(t.code(t.login('ann', 'old-pw')), 'unauthorized', 'the old password after a change');
  let before = t.counted.calls;
  assert.ok(t.login('ann', 'new-pw').ok);
  assert.is(t.counted.calls - before, 1, 'the new password is checked once');
  t.submit({ f: 'user.delete', name: 'ann' }, t.root);
  assert.is(t.code(t.login('ann', 'new-pw')), 'unauthorized', 'a deleted user');
  // Created again with the very same hash: a new credential epoch, so a new check.
  const same = hash('new-pw');
  t.submit({ f: 'user.put', name: 'cy', hash: same }, t.root);
  assert.ok(t.login('cy', 'new-pw').ok);
  t.submit({ f: 'user.delete', name: 'cy' }, t.root);
  t.submit({ f: 'user.put', name: 'cy', hash: same }, t.root);
  before = t.counted.calls;
  assert.ok(t.login('cy', 'new-pw').ok);
  assert.is(t.counted.calls - before, 1, 're-created: checked again');
});

V('bounded in entries and in time', () => {
  const t = node({ verifiedPasswords: { entriesMax: 2, ttlMs: 60_000 } });
  for (const u of ['a', 'b', 'c']) t.submit({ f: 'user.put', name: u, hash: hash(`${u}-pw`) }, t.root);
  for (const u of ['a', 'b', 'c']) assert.ok(t.login(u, `${u}-pw`).ok);
  assert.is(t.kv().verifiedPasswords?.size, 2);
  let before = t.counted.calls;
  assert.ok(t.login('c', 'c-pw').ok);
  assert.is(t.counted.calls, before, 'c is remembered');
  assert.ok(t.login('a', 'a-pw').ok);
  assert.is(t.counted.calls - before, 1, 'the least recently used went first (root, then a)');
  t.advance(61_000);
  before = t.counted.calls;
  assert.ok(t.login('a', 'a-pw').ok);
  assert.is(t.counted.calls - before, 1, 'forgotten after its time');
});

V('what is kept holds no password', () => {
  const v = new VerifiedPasswords('secret');
  v.remember('ann', 'hunter2-password', 'scrypt$hash', 1, 0);
  const inside = JSON.stringify([...(v as unknown as { entries: Map<string, unknown> }).entries], (_k, x: unknown) => (Buffer.isBuffer(x) ? x.toString('latin1') : x));
  assert.not.ok(inside.includes('hunter2'), inside);
  assert.ok(v.has('ann', 'hunter2-password', 'scrypt$hash', 1, 1));
  assert.not.ok(v.has('ann', 'hunter2-password', 'scrypt$hash', 2, 1), 'another epoch');
  assert.not.ok(v.has('ann', 'hunter2-password', 'scrypt$hash', 1, 1), 'and the entry is gone');
});

V.run();
