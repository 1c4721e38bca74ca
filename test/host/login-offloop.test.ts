import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { silentLogger } from '../../src/env/log.js';
import { nodeConfigFor, offLoopAuth, startNodeHost, type HostSpec } from '../../src/host/node-host.js';
import { hashPassword, LOGIN_LIMITS, SYNC_PASSWORD_VERIFIER, type AuthConfig, type PasswordVerifier } from '../../src/node/auth.js';
import type { Request, Result } from '../../src/node/protocol.js';
import { tempDir } from './helpers.js';

// A served node checks passwords off its event loop (issue 16, item 5). The thread-pool verifier
// existed, but `kv-lab serve` never gave it to the node, which fell back to hashing on the event
// loop: every login stopped the node for an scrypt, and a login flood stalled everything.

const L = suite('password checks of a served node');

const auth: AuthConfig = { tokenSecret: 'secret', root: { name: 'admin', hash: hashPassword('right', new Uint8Array(16).fill(9)) }, tokenTtlMs: 3_600_000 };

function spec(dataDir: string): HostSpec {
  return { id: 'n1', dataDir, bindHost: '127.0.0.1', httpPort: 0, tcpPort: 0, peerPort: 0, members: ['n1'], peers: new Map(), replication: 'none', engine: 'memory', secret: null, auth, log: silentLogger, version: 'test' };
}

L('the host gives the node a thread-pool verifier, one check per core but one, capped by the login limits', () => {
  const a = nodeConfigFor(spec('/nowhere')).auth as AuthConfig;
  assert.ok(a.verifier !== undefined && a.verifier !== SYNC_PASSWORD_VERIFIER, 'not the synchronous verifier');
  assert.is(offLoopAuth(auth, 2).loginLimits?.verifyingMax, 1, 'two cores: one for the event loop, one hashing');
  assert.is(offLoopAuth(auth, 1).loginLimits?.verifyingMax, 1);
  assert.is(offLoopAuth(auth, 16).loginLimits?.verifyingMax, LOGIN_LIMITS.verifyingMax);
  const own: PasswordVerifier = { verify: (_p, _h, done) => done(false) };
  assert.is(offLoopAuth({ ...auth, verifier: own }).verifier, own, 'a verifier of the spec\'s own is kept');
});

L('a login to a started host is answered later, not on the spot; the event loop turns meanwhile', async () => {
  const host = await startNodeHost(spec(join(tempDir('offloop'), 'n1')));
  try {
    await new Promise((r) => setTimeout(r, 100)); // the engine opens
    const login = (seq: number, password: string) => {
      let answer: Result | null = null;
      const req: Request = { kind: 'req', client: 'c', seq, ackSeq: seq, db: '', op: { f: 'auth.login', user: 'admin', password } };
      const done = new Promise<Result>((resolve) => host.node.submit(req, (r) => resolve((answer = r))));
      return { now: () => answer, done };
    };
    const wrong = login(1, 'wrong');
    assert.is(wrong.now(), null, 'not answered synchronously: the hash runs elsewhere');
    let turned = false;
    setImmediate(() => (turned = true));
    const r = await wrong.done;
    assert.ok(turned, 'the event loop turned while the password was checked');
    assert.is(r.ok ? 'ok' : r.code, 'unauthorized');
    const right = await login(2, 'right').done;
    assert.ok(right.ok, JSON.stringify(right));
  } finally {
    await host.shutdown(1000);
  }
});

L.run();
