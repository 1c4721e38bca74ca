/**
 * npm run bench:txn [-- --json] [--quick] [--source] [--only server|checker] [--case NAME]
 *                       [--repeat N] [--clients LIST] [--shape unsharded|sharded]
 *
 * Transactions (issue 21, item 6), two halves.
 *
 * 1. Server: committed transactions per second and abort rate of real clusters. Each shape is 3
 *    nodes started by `kv-lab cluster up --insecure` (separate processes, TCP, fsynced LSM
 *    engine, compiled JavaScript as an installed kv-lab runs; --source runs the TypeScript):
 *    - `unsharded`: one Raft group; every transaction's locks and commit entry are the leader's
 *      (src/node/txn-service.ts), its clients connect to the leader;
 *    - `sharded`: 16 shards of 3 replicas, leaders spread by the balancer; a transaction is
 *      two-phase commit across shards (src/node/shard-txn*.ts): its home is a shard that the node
 *      it BEGINs on leads, and its keys hash over all 16 shards, so nearly every transaction is
 *      cross-shard 2PC (`multiShard` says how many touched keys of two shards). Clients connect
 *      round-robin to the three nodes, as a client that knows the members but not the routing.
 *    Each client is one line-protocol connection (src/client/line-client.ts: the bytes on the wire
 *    are `BEGIN`, `GET k <id>`, `PUT k v <id>`, `COMMIT <id>`, `ROLLBACK <id>`), driven by
 *    runTransaction (src/client/transaction.ts), the very function behind
 *    `client.transaction(async (tx) => …)`: retries on retryable aborts after a back-off doubling
 *    from 20 ms, BEGIN naming the aborted attempt so it keeps its wound-wait age, 8 attempts at
 *    most. Why this path: the line protocol is the issue's seed system's, what its users type, and
 *    every abort arrives on it as `ERR aborted <reason>`, which the bench counts per reason; the
 *    retry policy is the one the project ships rather than one invented here. A transaction is a
 *    read-modify-write of 2 distinct keys (GET a, GET b, PUT a, PUT b with 100-byte values), keys
 *    drawn from 10,000 preloaded ones, uniformly or zipfian with theta 0.99 (sim/workload.ts's
 *    generator, the lab's: key:0 is the hottest). 1, 8 and 64 clients, one transaction at a time
 *    each. A warm-up, then a timed window; per case:
 *    - opsPerSec: transactions committed per second of the window;
 *    - p50Ms / p99Ms: of committed transactions, from the first BEGIN to COMMIT's OK, retries and
 *      back-offs included (what the caller of client.transaction waits); commitP50Ms /
 *      commitP99Ms: the COMMIT round trip alone (2PC's prepare and decide, or one Raft entry);
 *    - abortRate: attempts that did not commit / attempts (each counted when it ends, BEGIN to
 *      COMMIT's answer or the error that ended it; a refused BEGIN is one); `aborts` splits them
 *      by the server's reason (`wounded`, `conflict`, `lock_timeout`, `timeout`, `leader_changed`,
 *      …), `errors` counts other refusals by code (e.g. `unavailable`) and unknown outcomes;
 *      retries: attempts past each transaction's first; gaveUp: transactions that failed for good.
 *    No peer database runs here, so the figure compared against is measured in the same run on
 *    the same cluster and connections: the single-key PUT rate (`put-cN`: N connections, one PUT
 *    in flight each, uniform keys, the same nodes as the transactions' clients), so a reader sees
 *    what a transaction costs relative to a plain durable write. Cases alternate (a repeat at a
 *    time, shape by shape), both clusters up at once: this 2-core VM is shared and its speed
 *    drifts by tens of percent over minutes; each figure is the median run of --repeat.
 *
 * 2. Checker: the isolation checker's cases (issue 21's target: a 100,000-transaction list-append
 *    history in under 5 s and 1 GB): synthetic Elle-shaped histories
 *    (test/check/txn/synthetic.ts: 10 clients, 1–4 reads and appends per transaction over 10
 *    active keys retired after 32 appends, 2% failed, 2% unknown) of 10k and 100k transactions,
 *    strictly serializable and with stale reads injected. Each is checked as `kv-lab check --model
 *    txn` does: its JSON Lines text parsed and validated, then checked for strict serializability;
 *    generating the history is not counted. Each case runs in its own child process so that its
 *    peak memory (maxRSS) is its own; p50/p99 are over the case's repeats (wall time), and
 *    cpuMsP50 is the CPU time of the same (user + system), which a loaded machine inflates less.
 *
 * --quick: a short smoke (0.3 s warm-up, 1.5 s windows, one repeat, the 10k checker cases only).
 * --only picks a half; --case NAME runs one checker case; --clients (e.g. 1,8) and --shape narrow
 * the server half. The load average is in the report (loadAvg) at its start and end.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Outcome } from '../src/client/client.js';
import { LineKvClient } from '../src/client/line-client.js';
import { runTransaction, TransactionError } from '../src/client/transaction.js';
import { HistoryBuilder } from '../src/check/parse.js';
import { checkTransactions } from '../src/check/txn/index.js';
import { ShardMap } from '../src/cluster/placement/shard-map.js';
import { RealClock } from '../src/env/real/clock.js';
import { SeededRng, type Rng } from '../src/env/rng.js';
import { tcpDialer } from '../src/host/socket-stream.js';
import type { KvOp } from '../src/node/protocol.js';
import { zipfCdf } from '../sim/workload.js';
import { ELLE_SHAPE, syntheticTxnHistory } from '../test/check/txn/synthetic.js';
import { benchSmoke, percentile, smokeNote, type BenchReport, type BenchResult } from './args.js';
import { clusterDown, clusterUp, compiledCli, httpStatus, KEYS, keyOf, lineEnd, lineOk, pool, preload, socketLoad, VALUE, type Cluster, type RequestPool, type Target } from './load.js';

export const USAGE = 'usage: npm run bench:txn -- [--json] [--quick] [--source] [--only server|checker] [--case NAME] [--repeat N] [--clients LIST] [--shape unsharded|sharded]';

// ---- flags ----

export type Shape = 'unsharded' | 'sharded';
export type Distribution = 'uniform' | 'zipfian';

export interface TxnFlags {
  json: boolean;
  quick: boolean;
  source: boolean;
  only: 'server' | 'checker' | null;
  /** One checker case (implies the checker half alone). */
  caseName: string | null;
  repeat: number;
  clients: number[];
  shapes: Shape[];
  /** Internal: run this checker case in this process and print its result. */
  child: string | null;
}

/** Concurrency per case is bounded: each client is a socket and a promise chain in this process. */
export const CLIENTS_MAX = 256;
export const CLIENTS_DEFAULT = [1, 8, 64];

/** The flags, or what is wrong with them (the caller prints it with USAGE and exits 2). */
export function parseFlags(argv: readonly string[]): TxnFlags | { error: string } {
  const f: TxnFlags = { json: false, quick: false, source: false, only: null, caseName: null, repeat: 0, clients: CLIENTS_DEFAULT, shapes: ['unsharded', 'sharded'], child: null };
  let repeat: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string | { error: string } => {
      const v = argv[++i];
      return v === undefined || v.startsWith('--') ? { error: `${flag} expects a value` } : v;
    };
    switch (flag) {
      case '--json':
        f.json = true;
        break;
      case '--quick':
        f.quick = true;
        break;
      case '--source':
        f.source = true;
        break;
      case '--only': {
        const v = value();
        if (typeof v !== 'string') return v;
        if (v !== 'server' && v !== 'checker') return { error: `--only expects server or checker, got ${JSON.stringify(v)}` };
        f.only = v;
        break;
      }
      case '--case':
      case '--child': {
        const v = value();
        if (typeof v !== 'string') return v;
        if (!CHECKER_CASES.some((c) => c.name === v)) return { error: `${flag}: no checker case named ${JSON.stringify(v)}; cases: ${CHECKER_CASES.map((c) => c.name).join(', ')}` };
        if (flag === '--case') f.caseName = v;
        else f.child = v;
        break;
      }
      case '--repeat': {
        const v = value();
        if (typeof v !== 'string') return v;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 20) return { error: `--repeat expects a whole number from 1 to 20, got ${JSON.stringify(v)}` };
        repeat = n;
        break;
      }
      case '--clients': {
        const v = value();
        if (typeof v !== 'string') return v;
        const list = v.split(',').map((x) => Number(x));
        if (list.some((n) => !Number.isInteger(n) || n < 1 || n > CLIENTS_MAX)) return { error: `--clients expects a comma-separated list of whole numbers from 1 to ${CLIENTS_MAX}, got ${JSON.stringify(v)}` };
        f.clients = [...new Set(list)];
        break;
      }
      case '--shape': {
        const v = value();
        if (typeof v !== 'string') return v;
        if (v !== 'unsharded' && v !== 'sharded') return { error: `--shape expects unsharded or sharded, got ${JSON.stringify(v)}` };
        f.shapes = [v];
        break;
      }
      default:
        return { error: `unknown argument ${JSON.stringify(flag)}` };
    }
  }
  if (f.caseName !== null && f.only === 'server') return { error: '--case names a checker case; it cannot go with --only server' };
  f.repeat = repeat ?? (f.quick ? 1 : 3);
  // A smoke run (bench/args.ts): once, 8 clients unless --clients says, the shortest windows.
  if (benchSmoke()) {
    f.quick = true;
    f.repeat = 1;
    if (f.clients === CLIENTS_DEFAULT) f.clients = [8];
  }
  return f;
}

// ---- keys ----

export const ZIPF_THETA = 0.99;

/** Draws key indexes in [0, keys): uniformly, or by Zipf rank (index 0 the hottest). */
export function keyChooser(distribution: Distribution, keys: number, theta = ZIPF_THETA): (rng: Rng) => number {
  if (distribution === 'uniform') return (rng) => rng.int(keys);
  const cdf = zipfCdf(keys, theta);
  return (rng) => {
    const u = rng.next();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** n distinct key indexes (a transaction touching a key twice would measure nothing more). */
export function distinctKeys(choose: (rng: Rng) => number, rng: Rng, n: number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const k = choose(rng);
    if (!out.includes(k)) out.push(k);
  }
  return out;
}

// ---- one case's counts ----

/**
 * What the clients saw during a measured window. An attempt (BEGIN to COMMIT's answer, or to the
 * error that ended it) is counted when it ends, so that every count is of the same window.
 */
export class TxnCounts {
  /** BEGINs answered that named an aborted attempt (runTransaction's retries). */
  retries = 0;
  committed = 0;
  /** Attempts ended by `ERR aborted <reason>`, by reason (the message's first word). */
  readonly aborts: Record<string, number> = {};
  /** Attempts ended otherwise: another error code, or `unknown` (no answer, outcome unknown). */
  readonly errors: Record<string, number> = {};
  /** The first message seen of each reason and code, to tell what a reason means. */
  readonly samples: Record<string, string> = {};
  /** Transactions that failed for good (not retryable, or out of attempts). */
  gaveUp = 0;
  /** Committed transactions whose two keys live in different shards (sharded shape only). */
  multiShard = 0;
  readonly txnMs: number[] = [];
  readonly commitMs: number[] = [];

  /** Attempts ended: committed, aborted or refused. */
  get attempts(): number {
    return this.committed + sum(this.aborts) + sum(this.errors);
  }

  /**
   * Counts one operation's outcome but a commit (see committedTxn); ROLLBACK's own answer is not
   * an attempt's end.
   */
  outcome(op: KvOp, o: Outcome): void {
    if (op.f === 'txn.rollback') return;
    if (o.type === 'ok') {
      if (op.f === 'txn.begin' && op.retryOf !== undefined) this.retries++;
      return;
    }
    let key: string;
    if (o.type === 'fail' && o.code === 'aborted') bump(this.aborts, (key = o.message.split(' ')[0] || 'unnamed'));
    else if (o.type === 'fail') bump(this.errors, (key = op.f === 'txn.begin' ? `begin ${o.code}` : o.code));
    else bump(this.errors, (key = 'unknown'));
    this.samples[key] ??= `${op.f}: ${o.type === 'info' ? o.reason : o.message}`.slice(0, 200);
  }

  /** A COMMIT answered OK: the transaction's time from its first BEGIN, and the COMMIT's round trip. */
  committedTxn(txnMs: number, commitMs: number, multiShard: boolean): void {
    this.committed++;
    this.txnMs.push(txnMs);
    this.commitMs.push(commitMs);
    if (multiShard) this.multiShard++;
  }

  summary(seconds: number): TxnSummary {
    const txn = [...this.txnMs].sort((a, b) => a - b);
    const commit = [...this.commitMs].sort((a, b) => a - b);
    return {
      opsPerSec: round1(this.committed / seconds),
      p50Ms: round2(percentile(txn, 50)),
      p99Ms: round2(percentile(txn, 99)),
      commitP50Ms: round2(percentile(commit, 50)),
      commitP99Ms: round2(percentile(commit, 99)),
      abortRate: this.attempts === 0 ? NaN : round4((this.attempts - this.committed) / this.attempts),
      attempts: this.attempts,
      committed: this.committed,
      retries: this.retries,
      gaveUp: this.gaveUp,
      aborts: { ...this.aborts },
      errors: { ...this.errors },
      multiShard: this.multiShard,
      samples: { ...this.samples },
    };
  }
}

export interface TxnSummary {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  commitP50Ms: number;
  commitP99Ms: number;
  abortRate: number;
  attempts: number;
  committed: number;
  retries: number;
  gaveUp: number;
  aborts: Record<string, number>;
  errors: Record<string, number>;
  multiShard: number;
  samples: Record<string, string>;
}

function sum(m: Record<string, number>): number {
  return Object.values(m).reduce((a, b) => a + b, 0);
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;
const round4 = (x: number) => Math.round(x * 10000) / 10000;

// ---- the server half ----

const NODES = 3;
const SHARDS = 16;
const REPLICAS = 3;
/** A transaction reads these many distinct keys and writes each back. */
const KEYS_PER_TXN = 2;
/** Each client's operations give up after this (line-client: the connection is then abandoned). */
const OP_TIMEOUT_MS = 10_000;

const SUBJECT: Record<Shape, string> = {
  unsharded: '3 nodes, 1 Raft group (unsharded)',
  sharded: `3 nodes x ${SHARDS} shards x ${REPLICAS} replicas (2PC across shards)`,
};

interface Up {
  shape: Shape;
  cluster: Cluster;
  /** The TCP port each client connects to, by client index (cycled). */
  ports: number[];
  shardOf: ((key: string) => number) | null;
}

/** Thrown by a transaction's function when the window has ended: it rolls back and stops. */
class Stop extends Error {}

/**
 * `clients` line-protocol clients running read-modify-write transactions for warmupMs, then
 * counted for durationMs. Every client finishes (or rolls back) its transaction before it stops.
 */
export async function txnLoad(ports: number[], clients: number, distribution: Distribution, timing: { warmupMs: number; durationMs: number }, seed: string, shardOf: ((key: string) => number) | null = null): Promise<TxnSummary> {
  const clock = new RealClock();
  const choose = keyChooser(distribution, KEYS);
  let counts: TxnCounts | null = null;
  let stopped = false;
  const lines = Array.from({ length: clients }, (_, i) => new LineKvClient({ address: `127.0.0.1:${ports[i % ports.length] as number}`, dial: tcpDialer, clock, timeoutMs: OP_TIMEOUT_MS }));
  const loop = async (line: LineKvClient, rng: Rng): Promise<void> => {
    while (!stopped) {
      const keys = distinctKeys(choose, rng, KEYS_PER_TXN).map(keyOf);
      const started = performance.now();
      const call = async (op: KvOp): Promise<Outcome> => {
        const sent = performance.now();
        const o = await line.call(op);
        const now = performance.now();
        if (op.f === 'txn.commit' && o.type === 'ok') counts?.committedTxn(now - started, now - sent, shardOf !== null && new Set(keys.map(shardOf)).size > 1);
        else counts?.outcome(op, o);
        return o;
      };
      try {
        await runTransaction(call, clock, async (tx) => {
          if (stopped) throw new Stop();
          for (const k of keys) await tx.get(k);
          for (const k of keys) await tx.put(k, VALUE);
        });
      } catch (err) {
        if (err instanceof Stop) return;
        if (!(err instanceof TransactionError)) throw err;
        if (counts !== null) counts.gaveUp++;
      }
    }
  };
  const running = lines.map((l, i) => loop(l, new SeededRng(`${seed}/${i}`)));
  try {
    await sleep(timing.warmupMs);
    const window = new TxnCounts();
    counts = window;
    const t0 = performance.now();
    await sleep(timing.durationMs);
    counts = null;
    const seconds = (performance.now() - t0) / 1000;
    stopped = true;
    await Promise.all(running);
    return window.summary(seconds);
  } finally {
    stopped = true;
    for (const l of lines) l.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

type StatusWithShards = Cluster['status'] & { shards?: { hosted: { shard: number; role: string }[] } };

/**
 * Waits until every shard has a leader and leadership is spread (no node leads more than
 * ⌈S/N⌉ + 1, bench/shards.ts's bound): a leader moved by the balancer mid-window would abort
 * the transactions it held (`leader_changed`), a figure of the balancer, not of transactions.
 */
async function settledShards(c: Cluster): Promise<void> {
  const bound = Math.ceil(SHARDS / NODES) + 1;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const led = new Set<number>();
    const leading: Record<string, number> = {};
    for (const [id, a] of Object.entries(c.status.addresses)) {
      const s = (await httpStatus(a.httpPort)) as StatusWithShards;
      for (const g of s.shards?.hosted ?? []) {
        if (g.role !== 'leader') continue;
        led.add(g.shard);
        leading[id] = (leading[id] ?? 0) + 1;
      }
    }
    if (led.size === SHARDS && Object.values(leading).every((n) => n <= bound)) return;
    if (Date.now() > deadline) throw new Error(`shards not led and balanced after 30 s: ${led.size} of ${SHARDS} led (${JSON.stringify(leading)})`);
    await sleep(500);
  }
}

interface ServerRun {
  case: string;
  shape: Shape;
  clients: number;
  distribution: Distribution | null;
  summary: TxnSummary | { opsPerSec: number; p50Ms: number; p99Ms: number; ops: number; errors: number; firstError?: string };
}

async function server(flags: TxnFlags, log: (text: string) => void, cleanups: (() => void)[]): Promise<BenchResult[]> {
  const timing = benchSmoke() ? { warmupMs: 50, durationMs: 300 } : flags.quick ? { warmupMs: 300, durationMs: 1_500 } : { warmupMs: 1_000, durationMs: 5_000 };
  const cli = compiledCli(flags.source, log);
  const work = mkdtempSync(join(tmpdir(), 'kv-lab-bench-txn-'));
  const ups: Up[] = [];
  const dirs: string[] = [];
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const d of dirs) clusterDown(cli, d);
    rmSync(work, { recursive: true, force: true });
  };
  cleanups.push(cleanup);
  try {
    for (const shape of flags.shapes) {
      log(`starting ${SUBJECT[shape]} …`);
      const dir = join(work, shape);
      dirs.push(dir);
      const c = await clusterUp(cli, dir, NODES, shape === 'sharded' ? ['--shards', String(SHARDS), '--replicas', String(REPLICAS)] : []);
      const tcp = (id: string) => c.status.addresses[id]?.tcpPort as number;
      if (shape === 'unsharded' && c.status.addresses[c.status.leader] === undefined) throw new Error(`no leader known: ${JSON.stringify(c.status)}`);
      const ports = shape === 'unsharded' ? [tcp(c.status.leader)] : Object.keys(c.status.addresses).sort().map(tcp);
      let shardOf: Up['shardOf'] = null;
      if (shape === 'sharded') {
        const map = ShardMap.build(Object.keys(c.status.addresses), { shards: SHARDS, replicas: REPLICAS });
        shardOf = (key) => map.shardOf('', key);
      }
      ups.push({ shape, cluster: c, ports, shardOf });
    }
    for (const u of ups) {
      log(`${u.shape}: preloading ${KEYS} keys`);
      await preload(u.cluster.status.addresses.n1?.tcpPort as number);
      if (u.shape === 'sharded') await settledShards(u.cluster);
    }
    const runs: ServerRun[] = [];
    for (let r = 0; r < flags.repeat; r++) {
      for (const clients of flags.clients) {
        for (const u of ups) {
          // One pool of requests per node, shared by the connections to it (load.ts: a cursor).
          const pools = u.ports.map(() => pool(() => Buffer.from(`PUT ${keyOf(Math.floor(Math.random() * KEYS))} ${VALUE}\n`)));
          const targets: Target[] = Array.from({ length: clients }, (_, i) => ({ port: u.ports[i % u.ports.length] as number, requests: pools[i % u.ports.length] as RequestPool }));
          const put = await socketLoad(targets, 1, lineEnd, lineOk, timing);
          runs.push({ case: `put-c${clients}`, shape: u.shape, clients, distribution: null, summary: put });
          log(`  ${`put-c${clients}`.padEnd(16)} ${u.shape.padEnd(10)} ${String(put.opsPerSec).padStart(7)} PUT/s   p50 ${put.p50Ms.toFixed(2)} ms   p99 ${put.p99Ms.toFixed(2)} ms${put.errors > 0 ? `   ${put.errors} errors (${put.firstError})` : ''}`);
          for (const d of ['uniform', 'zipfian'] as const) {
            const name = `txn-${d}-c${clients}`;
            const s = await txnLoad(u.ports, clients, d, timing, `${name}/${u.shape}/${r}`, u.shardOf);
            runs.push({ case: name, shape: u.shape, clients, distribution: d, summary: s });
            log(`  ${name.padEnd(16)} ${u.shape.padEnd(10)} ${String(s.opsPerSec).padStart(7)} txn/s   p50 ${s.p50Ms.toFixed(2)} ms   p99 ${s.p99Ms.toFixed(2)} ms   commit p50 ${s.commitP50Ms.toFixed(2)} ms   aborts ${(s.abortRate * 100).toFixed(1)}% ${JSON.stringify(s.aborts)}${Object.keys(s.errors).length > 0 ? ` errors ${JSON.stringify(s.errors)}` : ''}   retries ${s.retries}   gave up ${s.gaveUp}`);
          }
        }
      }
    }
    return medians(runs);
  } finally {
    cleanup();
  }
}

/** One result per (case, shape): the run of median rate, with every run's rate alongside. */
function medians(runs: ServerRun[]): BenchResult[] {
  const groups = new Map<string, ServerRun[]>();
  for (const r of runs) {
    const k = `${r.case}|${r.shape}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g].sort((a, b) => a.summary.opsPerSec - b.summary.opsPerSec);
    const mid = sorted[(sorted.length - 1) >> 1] as ServerRun;
    return {
      case: mid.case,
      subject: SUBJECT[mid.shape],
      shape: mid.shape,
      clients: mid.clients,
      ...(mid.distribution !== null ? { keys: mid.distribution === 'zipfian' ? `zipfian theta ${ZIPF_THETA} over ${KEYS}` : `uniform over ${KEYS}` } : { keys: `uniform over ${KEYS}`, what: 'single-key PUT, the comparison figure' }),
      ...mid.summary,
      // Every run's ends, not only the median's: a rare reason (a leader change on a starved
      // machine) would otherwise vanish from the report.
      runs: g.map((r) => ({ opsPerSec: r.summary.opsPerSec, p99Ms: r.summary.p99Ms, ...('abortRate' in r.summary ? { abortRate: r.summary.abortRate, aborts: r.summary.aborts, errors: r.summary.errors, gaveUp: r.summary.gaveUp } : {}) })),
    };
  });
}

function serverRatios(results: BenchResult[], clients: number[]): Record<string, number> {
  const ratios: Record<string, number> = {};
  const rate = (c: string, shape: Shape) => results.find((r) => r.case === c && r.shape === shape)?.opsPerSec;
  const put = (a: number | undefined, b: number | undefined, name: string) => {
    if (a !== undefined && b !== undefined && b > 0) ratios[name] = round4(a / b);
  };
  for (const n of clients) {
    for (const shape of ['unsharded', 'sharded'] as const) {
      put(rate(`txn-zipfian-c${n}`, shape), rate(`txn-uniform-c${n}`, shape), `c${n} ${shape}: zipfian / uniform txn/s`);
      put(rate(`txn-uniform-c${n}`, shape), rate(`put-c${n}`, shape), `c${n} ${shape}: uniform txn/s / PUT/s`);
    }
    for (const d of ['uniform', 'zipfian'] as const) put(rate(`txn-${d}-c${n}`, 'sharded'), rate(`txn-${d}-c${n}`, 'unsharded'), `c${n} ${d}: sharded / unsharded txn/s`);
    put(rate(`put-c${n}`, 'sharded'), rate(`put-c${n}`, 'unsharded'), `c${n}: sharded / unsharded PUT/s`);
  }
  return ratios;
}

// ---- the checker half ----

interface CheckerCase {
  readonly name: string;
  /** Whether --quick keeps it. */
  readonly quick: boolean;
  /** Runs in the child process; returns the case's figures. */
  run(): BenchResult;
}

const TARGET_100K_MS = 5_000;

function checkerCase(name: string, txns: number, anomalies: number, repeat: number, quick: boolean): CheckerCase {
  return {
    name,
    quick,
    run: () => {
      const lines = syntheticTxnHistory({ ...ELLE_SHAPE, txns, anomalies }, new SeededRng(name)).map((e) => JSON.stringify(e));
      const wall: number[] = [];
      const parse: number[] = [];
      const cpu: number[] = [];
      let heapMB = 0;
      let verdict = '';
      let counts = {};
      for (let i = 0; i < repeat; i++) {
        const started = performance.now();
        const cpuStarted = process.cpuUsage();
        const builder = new HistoryBuilder(name);
        lines.forEach((text, n) => builder.addLine(text, n + 1));
        const history = builder.finish();
        const parsed = performance.now();
        const result = checkTransactions(history, { consistency: 'strict-serializable' });
        wall.push(performance.now() - started);
        const used = process.cpuUsage(cpuStarted);
        cpu.push((used.user + used.system) / 1000);
        parse.push(parsed - started);
        heapMB = Math.max(heapMB, process.memoryUsage().heapUsed / 2 ** 20);
        verdict = result.verdict;
        counts = result.counts;
      }
      const sorted = [...wall].sort((a, b) => a - b);
      const p50 = percentile(sorted, 50);
      return {
        case: name,
        subject: 'kv-lab',
        opsPerSec: Math.round(txns / (p50 / 1000)),
        p50Ms: round1(p50),
        p99Ms: round1(percentile(sorted, 99)),
        wallMs: round1(p50),
        cpuMsP50: round1(percentile([...cpu].sort((a, b) => a - b), 50)),
        parseMs: round1(percentile([...parse].sort((a, b) => a - b), 50)),
        heapMB: round1(heapMB),
        rssMB: round1(process.resourceUsage().maxRSS / 1024),
        txns,
        injected: anomalies,
        expected: anomalies > 0 ? 'violation' : 'ok',
        verdict,
        counts,
        repeat,
      };
    },
  };
}


const CHECKER_CASES: CheckerCase[] = [
  checkerCase('check-10k', 10_000, 0, 5, true),
  checkerCase('check-10k-anomalies', 10_000, 10, 5, true),
  checkerCase('check-100k', 100_000, 0, 3, false),
  checkerCase('check-100k-anomalies', 100_000, 20, 3, false),
];

function checker(flags: TxnFlags, log: (text: string) => void): { results: BenchResult[]; ratios: Record<string, number> } {
  const chosen = CHECKER_CASES.filter((c) => (flags.caseName === null ? (benchSmoke() ? c.name === 'check-10k' : !flags.quick || c.quick) : c.name === flags.caseName));
  const results: BenchResult[] = [];
  for (const c of chosen) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', c.name], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`case ${c.name} failed:\n${r.stderr}`);
    const result = JSON.parse(r.stdout.trim().split('\n').pop() as string) as BenchResult;
    results.push(result);
    log(`${c.name.padEnd(22)} ${String(result.verdict).padEnd(9)} p50 ${result.p50Ms} ms (parse ${result.parseMs}; CPU ${result.cpuMsP50}), p99 ${result.p99Ms} ms, ` +
      `${result.opsPerSec} txn/s, heap ${result.heapMB} MB, maxRSS ${result.rssMB} MB ${JSON.stringify(result.counts)}`);
  }
  const ratios: Record<string, number> = {};
  const big = results.find((r) => r.case === 'check-100k');
  if (big !== undefined) {
    ratios['check-100k wallMs / 5 s target'] = Math.round((big.wallMs as number) / TARGET_100K_MS * 100) / 100;
    ratios['check-100k cpuMsP50 / 5 s target'] = Math.round((big.cpuMsP50 as number) / TARGET_100K_MS * 100) / 100;
  }
  return { results, ratios };
}

// ---- main ----

const loadAvg = () => loadavg().map((x) => Math.round(x * 100) / 100);

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if ('error' in flags) {
    process.stderr.write(`bench:txn: ${flags.error}\n${USAGE}\n`);
    process.exit(2);
  }
  if (flags.child !== null) {
    const c = CHECKER_CASES.find((k) => k.name === flags.child) as CheckerCase;
    process.stdout.write(`${JSON.stringify(c.run())}\n`);
    return;
  }
  if (benchSmoke()) smokeNote();
  // Human-readable lines go to stderr with --json (stdout is then the one JSON object), stdout otherwise.
  const log = (text: string) => (flags.json ? process.stderr : process.stdout).write(`${text}\n`);
  const cleanups: (() => void)[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    for (const c of cleanups) c();
    process.stderr.write(`bench:txn: stopped by ${signal}; clusters stopped, temporary directories removed\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const loadAtStart = loadAvg();
  log(`load average ${loadAtStart.join(' ')}`);
  const results: BenchResult[] = [];
  const ratios: Record<string, number> = {};
  const serverHalf = flags.only !== 'checker' && flags.caseName === null;
  const checkerHalf = flags.only !== 'server';
  if (serverHalf) {
    results.push(...(await server(flags, log, cleanups)));
    Object.assign(ratios, serverRatios(results, flags.clients));
  }
  if (checkerHalf) {
    const c = checker(flags, log);
    results.push(...c.results);
    Object.assign(ratios, c.ratios);
  }
  const report: BenchReport = {
    bench: 'txn',
    ...(serverHalf
      ? {
          server: {
            comparedWith: 'put-cN: single-key PUTs on the same cluster shape and connections, measured in the same run (no peer database runs here)',
            client: 'line protocol (BEGIN / GET k id / PUT k v id / COMMIT id) driven by runTransaction, the retry policy of client.transaction',
            transaction: `read ${KEYS_PER_TXN} distinct keys, write both back (100-byte values), over ${KEYS} keys`,
            durationMs: flags.quick ? 1_500 : 5_000,
            repeat: flags.repeat,
          },
        }
      : {}),
    loadAvg: { start: loadAtStart, end: loadAvg() },
    results,
    ratios,
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else for (const [k, v] of Object.entries(ratios)) log(`  ${k}: ${v}`);
}

// Imported by its test for the pure parts; run as a program otherwise.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:txn: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
