/**
 * What the benches of real servers share (bench/server.ts, bench/shards.ts): the compiled CLI,
 * clusters started with `kv-lab cluster up` on free loopback ports, and a load generator that
 * drives raw sockets at a fixed number of requests in flight, costing as little CPU per reply as
 * it can so that on a shared machine it measures the server rather than itself.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freeBasePort } from '../test/host/helpers.js';
import { benchSmoke, percentile } from './args.js';
import { cpuMs, ioBytes, sleeps } from './proc.js';

export const root = join(import.meta.dirname, '..');

/**
 * The servers run compiled JavaScript, as an installed kv-lab does: through tsx, esbuild's
 * keep-names wrappers alone cost about a tenth of a node's CPU. The build goes to a cache folder
 * inside node_modules (so node_modules resolves), not to dist/. `source` (--source) skips it, as
 * does a smoke run.
 */
export function compiledCli(source: boolean, log: (text: string) => void, checkout = root): string[] {
  // A smoke run (bench/args.ts) measures nothing, so it skips the build too.
  if (source || benchSmoke()) return [process.execPath, '--import', 'tsx', join(checkout, 'src', 'cli', 'main.ts')];
  // One folder per checkout: node_modules is often shared between worktrees (a symlink), and two
  // benches compiling different trees into one folder would run a mix of both.
  const out = join(checkout, 'node_modules', '.cache', `kv-lab-bench-${createHash('sha256').update(checkout).digest('hex').slice(0, 8)}`);
  log(`compiling kv-lab${checkout === root ? '' : ` of ${checkout}`} for the servers (tsc) …`);
  spawnSync(process.execPath, [join(checkout, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(checkout, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false', '--sourceMap', 'false'], { stdio: 'ignore' });
  const main = join(out, 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`tsc produced no ${main}`);
  return [process.execPath, ...(process.env.KV_LAB_BENCH_EXEC_ARGV ?? '').split(' ').filter((a) => a !== ''), main];
}

/** Nodes started from a bench stop when the bench is gone (src/cli/serve.ts). */
export const watchEnv = { ...process.env, KV_LAB_WATCH_PID: String(process.pid) };

// ---- clusters ----

/** A base port for `cluster up --base-port` whose every default port is free now (the tests' own). */
export const freeBase = freeBasePort;

export interface NodeAddress {
  httpPort: number;
  tcpPort: number;
}

export interface Cluster {
  dir: string;
  /** n1's HTTP port. */
  base: number;
  /** n1's /status once the cluster is up. */
  status: { leader: string; addresses: Record<string, NodeAddress>; [more: string]: unknown };
}

/**
 * `kv-lab cluster up --insecure` on the LSM engine, with `extra` flags (--nodes, --shards …).
 * `portsFor` nodes' default ports are free at the base chosen (more than `nodes` for a bench that
 * adds nodes later).
 */
export async function clusterUp(cli: string[], dir: string, nodes: number, extra: string[] = [], portsFor = nodes): Promise<Cluster> {
  const base = await freeBase(Math.max(nodes, portsFor));
  const r = spawnSync(cli[0] as string, [...cli.slice(1), 'cluster', 'up', '--nodes', String(nodes), '--engine', 'lsm', '--insecure', '--no-connect', '--dir', dir, '--base-port', String(base), ...extra], { env: watchEnv, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cluster up failed: ${r.stderr}${r.stdout}`);
  return { dir, base, status: await httpStatus(base) };
}

export async function httpStatus(httpPort: number): Promise<Cluster['status']> {
  return (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as Cluster['status'];
}

export function clusterDown(cli: string[], dir: string): void {
  spawnSync(cli[0] as string, [...cli.slice(1), 'cluster', 'down', '--dir', dir], { env: watchEnv, encoding: 'utf8' });
}

// ---- load ----

export interface Load {
  ops: number;
  errors: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  firstError?: string;
  /** Bytes the servers wrote to storage while measured, per operation (null: unknown). */
  diskBytesPerOp?: number | null;
  /** CPU µs the servers used while measured, per operation (null: unknown). */
  cpuUsPerOp?: number | null;
  /** Write- and read-like system calls the servers made while measured, per operation (null: unknown). */
  syscallsPerOp?: number | null;
  /** Times the servers' event loops went to sleep and were woken while measured, per operation (null: unknown). */
  sleepsPerOp?: number | null;
}

/** What the servers under load have used so far, read before and after a measured window. */
export interface ServerCounters {
  /**
   * Bytes the servers have caused to be written to storage: write_bytes of /proc/<pid>/io
   * (counted when a page is dirtied, so the page cache does not hide it; sockets are not
   * counted); null where /proc has no such file.
   */
  diskBytes(): number | null;
  /**
   * CPU time used, in ms (utime + stime of /proc/<pid>/stat, in ticks of 10 ms): per operation, a
   * figure the machine's other load disturbs far less than the rate.
   */
  cpuMs(): number | null;
  /**
   * Write- and read-like system calls made (syscw + syscr of /proc/<pid>/io: socket and file
   * reads and writes, not fsyncs): per operation, what explains much of the CPU per operation
   * when each message costs its own write(2).
   */
  syscalls(): number | null;
  /** Times the servers' main threads slept and were woken (proc.ts sleeps). */
  sleeps(): number | null;
}

/** The counters of the servers `kv-lab cluster up --dir dir` started (their pids in dir/run). */
export function serverCounters(dir: string): ServerCounters {
  const sum = (read: (pid: string) => number | null): number | null => {
    let total = 0;
    for (const name of existsSync(join(dir, 'run')) ? readdirSync(join(dir, 'run')) : []) {
      if (!/^n\d+\.pid$/.test(name)) continue;
      try {
        const v = read(readFileSync(join(dir, 'run', name), 'utf8').trim());
        if (v === null || !Number.isFinite(v)) return null;
        total += v;
      } catch {
        return null;
      }
    }
    return total;
  };
  return {
    diskBytes: () => sum((pid) => ioBytes(pid, 'write_bytes')),
    cpuMs: () => sum((pid) => cpuMs(pid)),
    syscalls: () => sum((pid) => {
      const w = ioBytes(pid, 'syscw');
      const r = ioBytes(pid, 'syscr');
      return w === null || r === null ? null : w + r;
    }),
    sleeps: () => sum((pid) => sleeps(pid)),
  };
}

export interface Timing {
  warmupMs: number;
  durationMs: number;
}

export const KEYS = 10_000;
export const VALUE = 'v'.repeat(100);

export function keyOf(i: number): string {
  return `key:${i}`;
}

/** Requests laid end to end in one buffer, so that sending n of them is one slice, not n copies. */
export interface RequestPool {
  bytes: Buffer;
  /** offsets[i] is where request i starts; offsets[count] is the end. */
  offsets: number[];
  count: number;
  /** The next request to send, shared by every connection sending from this pool. */
  cursor: number;
}

export function pool(make: () => Buffer, count = 8192): RequestPool {
  const parts = Array.from({ length: count }, make);
  const offsets = [0];
  for (const p of parts) offsets.push((offsets[offsets.length - 1] as number) + p.length);
  return { bytes: Buffer.concat(parts), offsets, count, cursor: 0 };
}

/**
 * Where the reply starting at `from` ends, or -1 if it is not all there yet. The generator is
 * written to cost little per reply (no allocation, no parsing beyond finding the end), so that on
 * a shared machine it measures the server rather than itself.
 */
export type ReplyEnd = (buf: Buffer, from: number) => number;
export type ReplyOk = (buf: Buffer, from: number) => boolean;

/** One connection of a load: where it goes and what it sends. */
export interface Target {
  port: number;
  requests: RequestPool;
}

/** The same target for each of `connections` connections. */
export function sameTarget(port: number, requests: RequestPool, connections: number): Target[] {
  return Array.from({ length: connections }, () => ({ port, requests }));
}

/** Drives one socket per target, each keeping `depth` requests in flight; warms up, then measures. */
export async function socketLoad(targets: Target[], depth: number, replyEnd: ReplyEnd, replyOk: ReplyOk, timing: Timing, servers: ServerCounters | null = null): Promise<Load> {
  const run = startLoad(targets, depth, replyEnd, replyOk);
  await new Promise((r) => setTimeout(r, timing.warmupMs));
  const window = run.measure();
  const disk0 = servers?.diskBytes() ?? null;
  const cpu0 = servers?.cpuMs() ?? null;
  const sys0 = servers?.syscalls() ?? null;
  const sleeps0 = servers?.sleeps() ?? null;
  await new Promise((r) => setTimeout(r, timing.durationMs));
  const load = window.stop();
  const disk1 = servers?.diskBytes() ?? null;
  const cpu1 = servers?.cpuMs() ?? null;
  const sys1 = servers?.syscalls() ?? null;
  const sleeps1 = servers?.sleeps() ?? null;
  run.stop();
  if (servers === null) return load;
  const diskBytesPerOp = disk0 === null || disk1 === null || load.ops === 0 ? null : Math.round((disk1 - disk0) / load.ops);
  const cpuUsPerOp = cpu0 === null || cpu1 === null || load.ops === 0 ? null : Math.round(((cpu1 - cpu0) * 1000) / load.ops);
  const syscallsPerOp = sys0 === null || sys1 === null || load.ops === 0 ? null : Math.round(((sys1 - sys0) / load.ops) * 100) / 100;
  const sleepsPerOp = sleeps0 === null || sleeps1 === null || load.ops === 0 ? null : Math.round(((sleeps1 - sleeps0) / load.ops) * 100) / 100;
  return { ...load, diskBytesPerOp, cpuUsPerOp, syscallsPerOp, sleepsPerOp };
}

/** One measured window of a running load. */
export interface Window {
  stop(): Load;
}

export interface RunningLoad {
  /** Starts a measured window; windows do not overlap. */
  measure(): Window;
  /** Closes every socket. */
  stop(): void;
}

/** The sockets of socketLoad, started: windows are measured on demand (bench/shards.ts). */
export function startLoad(targets: Target[], depth: number, replyEnd: ReplyEnd, replyOk: ReplyOk): RunningLoad & { ready: Promise<void> } {
  let latencies = new Float64Array(1 << 20);
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let measuring = false;
  let stopped = false;
  const sockets: net.Socket[] = [];
  const ready = Promise.all(
    targets.map((t) => new Promise<void>((resolve, reject) => {
      const s = net.connect(t.port, '127.0.0.1', () => resolve());
      sockets.push(s);
      s.once('error', reject);
      drive(s, t.requests);
    })),
  ).then(() => undefined);
  function drive(s: net.Socket, requests: RequestPool): void {
    s.setNoDelay(true);
    // Send times of the requests in flight, a ring of `depth` slots (replies come back in order).
    const sentAt = new Float64Array(depth);
    let sentHead = 0;
    let sentTail = 0;
    let pending: Buffer | null = null;
    const send = (n: number, now: number) => {
      for (let k = 0; k < n; k++) sentAt[sentTail++ % depth] = now;
      while (n > 0) {
        const from = requests.cursor % requests.count;
        const take = Math.min(n, requests.count - from);
        s.write(requests.bytes.subarray(requests.offsets[from] as number, requests.offsets[from + take] as number));
        requests.cursor += take;
        n -= take;
      }
    };
    s.on('data', (chunk: Buffer) => {
      const buf: Buffer = pending === null ? chunk : Buffer.concat([pending, chunk]);
      const now = performance.now();
      let from = 0;
      let done = 0;
      for (;;) {
        const end = replyEnd(buf, from);
        if (end < 0) break;
        if (measuring) {
          if (!replyOk(buf, from)) {
            errors++;
            firstError ??= buf.toString('utf8', from, Math.min(end, from + 200));
          }
          if (ops === latencies.length) {
            const bigger = new Float64Array(latencies.length * 2);
            bigger.set(latencies);
            latencies = bigger;
          }
          latencies[ops++] = now - (sentAt[sentHead % depth] as number);
        }
        sentHead++;
        from = end;
        done++;
      }
      pending = from === buf.length ? null : buf.subarray(from);
      if (!stopped && done > 0) send(done, now);
    });
    s.on('error', () => {});
    s.once('connect', () => send(depth, performance.now()));
  }
  return {
    ready,
    measure() {
      ops = 0;
      errors = 0;
      firstError = undefined;
      measuring = true;
      const t0 = performance.now();
      return {
        stop(): Load {
          measuring = false;
          const seconds = (performance.now() - t0) / 1000;
          const sorted = Array.from(latencies.subarray(0, ops)).sort((a, b) => a - b);
          return { ops, errors, opsPerSec: Math.round(ops / seconds), p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), ...(firstError !== undefined ? { firstError } : {}) };
        },
      };
    },
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const NL = 10;

/** One line-protocol reply ends at its newline; ERR lines are errors. */
export const lineEnd: ReplyEnd = (buf, from) => {
  const nl = buf.indexOf(NL, from);
  return nl < 0 ? -1 : nl + 1;
};
export const lineOk: ReplyOk = (buf, from) => buf[from] !== 0x45; // 'E'

/** Writes keys 0 … KEYS-1 with 100-byte values through one node, in BATCHPUTs of 500. */
export async function preload(port: number): Promise<void> {
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
  let replies = 0;
  let text = '';
  const batches = Math.ceil(KEYS / 500);
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (d) => {
      text += d.toString();
      const lines = text.split('\n');
      text = lines.pop() ?? '';
      for (const l of lines) {
        if (l !== 'OK') reject(new Error(`preload: ${l}`));
        if (++replies === batches) resolve();
      }
    });
  });
  for (let b = 0; b < batches; b++) {
    const pairs: string[] = [];
    for (let i = b * 500; i < Math.min(KEYS, (b + 1) * 500); i++) pairs.push(keyOf(i), VALUE);
    s.write(`BATCHPUT ${pairs.join(' ')}\n`);
  }
  await done;
  s.destroy();
}

/**
 * The run of median rate among repeats, with every run's rate and p99 alongside. This machine's
 * speed drifts by tens of percent over minutes, so one run per case made a ratio mostly noise.
 */
export function median(runs: Load[]): Load & { runs: { opsPerSec: number; p99Ms: number }[] } {
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const mid = sorted[(sorted.length - 1) >> 1] as Load;
  return { ...mid, runs: runs.map((r) => ({ opsPerSec: r.opsPerSec, p99Ms: r.p99Ms, ...(r.diskBytesPerOp != null ? { diskBytesPerOp: r.diskBytesPerOp } : {}), ...(r.cpuUsPerOp != null ? { cpuUsPerOp: r.cpuUsPerOp } : {}), ...(r.syscallsPerOp != null ? { syscallsPerOp: r.syscallsPerOp } : {}), ...(r.sleepsPerOp != null ? { sleepsPerOp: r.sleepsPerOp } : {}) })) };
}

/** `--repeat N` among a bench's arguments (1..20), or null when absent. */
export function repeatFlag(bench: string, rest: string[]): number | null {
  const i = rest.indexOf('--repeat');
  if (i < 0) return null;
  const n = Number(rest[i + 1]);
  if (!Number.isInteger(n) || n < 1 || n > 20) {
    process.stderr.write(`${bench}: --repeat expects a whole number from 1 to 20, got ${JSON.stringify(rest[i + 1] ?? '')}\n`);
    process.exit(2);
  }
  return n;
}
