/**
 * npm run bench:login-flood [--json] [--quick]
 *
 * A login flood against one real node (issue 16, item 5): 8 clients pipeline wrong passwords for
 * the admin as fast as they are answered, while one authenticated writer writes a key at a time.
 * Prints the writer's latency (p50, p99) and the logins answered, for three ways of checking a
 * password:
 *   - sync: scrypt on the event loop (SYNC_PASSWORD_VERIFIER) — what `kv-lab serve` really did
 *     until the host gave the node a verifier (it fell back to this one),
 *   - pool: scrypt on libuv's thread pool, two at a time (scryptVerifier(new ThreadPoolScrypt())),
 *   - served: what the host gives a served node now (offLoopAuth, src/host/node-host.ts): the
 *     pool, one check per core but one (at most 2), the node's cap set to match,
 * each behind the node's own bound on logins in progress (LoginLimits: 32 waiting beyond those
 * checking, the rest refused `unavailable`). Without the front door: the flood comes as from many
 * addresses, which the per-address throttle (src/frontdoor/login-throttle.ts) does not stop. The node is a single server (replication none) on the LSM
 * engine with its data on the real disk, so that a write waits for a real fsync.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../src/env/real/clock.js';
import { RealDisk } from '../src/env/real/disk.js';
import { osSeededRng } from '../src/env/real/rng.js';
import { ThreadPoolScrypt } from '../src/env/real/scrypt.js';
import { silentLogger } from '../src/env/log.js';
import type { Net } from '../src/env/net.js';
import { hashPassword, scryptVerifier, SYNC_PASSWORD_VERIFIER, type AuthConfig } from '../src/node/auth.js';
import { offLoopAuth } from '../src/host/node-host.js';
import { KvNode } from '../src/node/node.js';
import type { Request, Result } from '../src/node/protocol.js';
import { benchArgs, percentile, type BenchReport, type BenchResult } from './args.js';

const args = benchArgs();
const seconds = args.quick ? 4 : 10;
const FLOODERS = 8;

const nullNet: Net = { self: 'n1', send() {}, onReceive() {}, close() {} };

async function run(subject: 'sync' | 'pool' | 'served', checks: Pick<AuthConfig, 'verifier' | 'loginLimits'>): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-bench-login-'));
  const clock = new RealClock();
  const rootHash = hashPassword('right', new Uint8Array(16).fill(1));
  const node = new KvNode(
    { id: 'n1', clock, disk: new RealDisk(dir), net: nullNet, rng: osSeededRng(), log: silentLogger },
    { members: ['n1'], replication: 'none', engine: 'lsm', bugs: new Set(), auth: { tokenSecret: 'bench', root: { name: 'admin', hash: rootHash }, tokenTtlMs: 3_600_000, ...checks } },
  );
  let seq = 0;
  const call = (client: string, op: Request['op'], token?: string) =>
    new Promise<Result>((resolve) => node.submit({ kind: 'req', client, seq: ++seq, ackSeq: seq, db: '', op, ...(token ? { token } : {}) }, resolve));
  await new Promise((r) => setTimeout(r, 300)); // the engine opens
  const login = await call('writer', { f: 'auth.login', user: 'admin', password: 'right' });
  if (!login.ok) throw new Error(`login: ${login.message}`);
  const token = login.value as string;
  const endAt = performance.now() + seconds * 1000;
  let logins = 0;
  let refused = 0;
  const flood = async (i: number) => {
    while (performance.now() < endAt) {
      const r = await call(`flood${i}`, { f: 'auth.login', user: 'admin', password: 'wrong' });
      if (!r.ok && r.code === 'unavailable') {
        refused++;
        await new Promise((res) => setImmediate(res));
      } else logins++;
    }
  };
  const latencies: number[] = [];
  const writer = async () => {
    let i = 0;
    while (performance.now() < endAt) {
      const t = performance.now();
      const r = await call('writer', { f: 'write', key: `k${i++ % 100}`, value: i }, token);
      if (!r.ok) throw new Error(`write: ${r.code} ${r.message}`);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all([writer(), ...Array.from({ length: FLOODERS }, (_, i) => flood(i))]);
  node.stop();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { case: 'writer under a login flood', subject, opsPerSec: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), loginsChecked: logins, loginsRefused: refused };
}

const served = offLoopAuth({ tokenSecret: 'bench', root: null, tokenTtlMs: 1 });
const results = [
  await run('sync', { verifier: SYNC_PASSWORD_VERIFIER }),
  await run('pool', { verifier: scryptVerifier(new ThreadPoolScrypt()) }),
  await run('served', { ...(served.verifier !== undefined ? { verifier: served.verifier } : {}), ...(served.loginLimits !== undefined ? { loginLimits: served.loginLimits } : {}) }),
];
const [sync, pool, now] = results as [BenchResult, BenchResult, BenchResult];
const report: BenchReport = {
  bench: 'login-flood',
  results,
  ratios: {
    'writer p99 pool/sync': (pool.p99Ms as number) / (sync.p99Ms as number),
    'writer ops pool/sync': (pool.opsPerSec as number) / (sync.opsPerSec as number),
    'writer p99 served/pool': (now.p99Ms as number) / (pool.p99Ms as number),
  },
};
if (args.json) process.stdout.write(JSON.stringify(report) + '\n');
else {
  for (const r of results) process.stdout.write(`${r.subject.padEnd(6)} writer ${(r.opsPerSec as number).toFixed(0)} writes/s  p50 ${(r.p50Ms as number).toFixed(1)} ms  p99 ${(r.p99Ms as number).toFixed(1)} ms   logins checked ${r.loginsChecked}, refused ${r.loginsRefused}\n`);
  process.stdout.write(`ratios: ${JSON.stringify(report.ratios)}\n`);
}
