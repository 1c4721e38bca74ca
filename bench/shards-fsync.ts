/**
 * npx tsx bench/shards-fsync.ts [--shards 1,16,64] [--seconds 6] [--no-strace]
 *
 * fdatasync/fsync calls per acknowledged write on one node of a real 3-node cluster (LSM engine,
 * `kv-lab cluster up --insecure`), counted with `strace -f -c` attached to n1 while 50 connections
 * PUT through n1's front door (its gateway forwards what it does not lead). The figure issue 20's
 * shared Raft log is about: with a log per group, 64 shards paid about one fdatasync per write.
 * Also the CPU the three node processes used per write (warmup included). Needs strace and ptrace
 * rights (--no-strace: CPU and rate only); prints one JSON object.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterDown, clusterUp, compiledCli, KEYS, keyOf, lineEnd, lineOk, pool, preload, sameTarget, socketLoad, VALUE } from './load.js';
import { cpuMs as processCpuMs } from './proc.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback);
}
const SHARDS = flag('--shards', '1,16,64').split(',').map(Number);
const SECONDS = Number(flag('--seconds', '6'));
if (SHARDS.some((s) => !Number.isInteger(s) || s < 1 || s > 1024) || !Number.isFinite(SECONDS) || SECONDS <= 0 || SECONDS > 60) {
  process.stderr.write('usage: npx tsx bench/shards-fsync.ts [--shards 1,16,64] [--seconds 1..60]\n');
  process.exit(2);
}

/** strace -f -c of pid for `seconds`: the syscall counts it printed. */
function straceCounts(pid: number, seconds: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn('timeout', ['-s', 'INT', String(seconds), 'strace', '-f', '-c', '-e', 'trace=fdatasync,fsync,write,pwrite64', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += String(d)));
    p.on('error', reject);
    p.on('close', () => {
      const out: Record<string, number> = {};
      for (const line of err.split('\n')) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
        if (m !== null) out[m[2] as string] = Number(m[1]);
      }
      if (Object.keys(out).length === 0) return reject(new Error(`strace printed no counts: ${err.slice(0, 500)}`));
      resolve(out);
    });
  });
}

/** CPU ms (user + system) the cluster's node processes used so far. */
function cpuMs(dir: string): number {
  let ms = 0;
  for (const id of ['n1', 'n2', 'n3']) ms += processCpuMs(readFileSync(join(dir, 'run', `${id}.pid`), 'utf8').trim()) ?? NaN;
  return ms;
}

const STRACE = !process.argv.includes('--no-strace');
const cli = compiledCli(false, (t) => process.stderr.write(t + '\n'));
const results: unknown[] = [];
for (const shards of SHARDS) {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-shards-fsync-'));
  try {
    const c = await clusterUp(cli, dir, 3, shards > 1 ? ['--shards', String(shards), '--replicas', '3'] : []);
    const port = c.status.addresses.n1?.tcpPort as number;
    await preload(port);
    const pid = Number(readFileSync(join(dir, 'run', 'n1.pid'), 'utf8').trim());
    const keys = Array.from({ length: KEYS }, (_, i) => i);
    const requests = pool(() => Buffer.from(`PUT ${keyOf(keys[Math.floor(Math.random() * keys.length)] as number)} ${VALUE}\n`));
    const cpu0 = cpuMs(dir);
    const [load, counts] = await Promise.all([socketLoad(sameTarget(port, requests, 50), 1, lineEnd, lineOk, { warmupMs: 500, durationMs: SECONDS * 1000 }), STRACE ? new Promise<Record<string, number>>((r, j) => setTimeout(() => straceCounts(pid, SECONDS).then(r, j), 500)) : Promise.resolve<Record<string, number>>({})]);
    const cpuUsPerWrite = load.ops === 0 ? null : Math.round(((cpuMs(dir) - cpu0) * 1000) / load.ops);
    const syncs = (counts.fdatasync ?? 0) + (counts.fsync ?? 0);
    results.push({ shards, writes: load.ops, opsPerSec: load.opsPerSec, p99Ms: load.p99Ms, n1: counts, syncsPerWrite: !STRACE || load.ops === 0 ? null : Math.round((syncs / load.ops) * 1000) / 1000, cpuUsPerWrite });
    process.stderr.write(`${shards} shard(s): ${load.ops} writes, n1 ${syncs} fsync/fdatasync (${JSON.stringify(counts)})\n`);
  } finally {
    clusterDown(cli, dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
process.stdout.write(JSON.stringify({ bench: 'shards-fsync', seconds: SECONDS, results }) + '\n');
