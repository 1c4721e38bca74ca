// npm run bench:engine [--json] [--quick] [--keys N] [--full] [--reads N] [--repeat K] [--cases a,b]
//                      [--cache-mb M] [--lsm-options JSON] [--lsm-base DIR]
//                      [--subjects lsm,bitcask,classic-level,lmdb,lsm-base]
//
// db_bench's cases over kv-lab's engines and two peers from npm, in one run, on the real disk in a
// temporary directory: classic-level (LevelDB) and lmdb. Each case runs over every subject in turn
// before the next case starts, so that the load of a shared machine weighs on all alike. N keys of
// 16 bytes with 100-byte values (--keys N; 1,000,000 by default, 200,000 with --quick; --full runs
// 1,000,000 and then 10,000,000). The batch-1 overwrite and deleterandom use N/10 operations,
// seekrandom N/10 but at most 100,000 (classic-level's asynchronous seek costs a thread-pool round
// trip), the random reads --reads (N, at most 1,000,000), each random-read case --repeat times per
// subject in turn with the median run reported. Write cases run with batches of 1000 and
// of 1; fillsync writes one key per fsync (N/1000 ops, at least 200, as db_bench does), then 16
// times as many from 64 concurrent writers (group commit). Above 1,000,000 keys only the cases of
// the reads-past-memory question run unless --cases names others: fillrandom in batches of 1000
// (the chain's fill; its write amplification is in the chain-total row), overwrite, readrandom,
// readseq, readmissing, seekrandom. raftapply (LSM only) compares the
// engine's two log modes under a Raft member's apply load (see raftApply below).
//
// Like db_bench, fill cases do not fsync (kv-lab: fsync `never`; classic-level: sync false; lmdb:
// noSync) and fillsync does (kv-lab: `always`). No compression anywhere (values are random, and
// kv-lab does not compress): classic-level runs with compression off. The block cache is 32 MiB
// (--cache-mb) for kv-lab's LSM and classic-level, but LevelDB serves reads of uncompressed tables
// from mmap, past its cache; lmdb reads through the OS page cache. The LSM's likeness of mmap is
// its table images (LsmOptions.tableImageBytes, 256 MiB by default: tables read whole into memory
// once they miss often enough; `--lsm-options '{"tableImageBytes":0}'` turns them off). The read
// cases report the LSM's block-cache hit rate over the case and the share of its block reads its
// images served, with their bytes (LevelDB does not count its hits; lmdb has no cache).
//
// Write amplification of a fill on a fresh database is measured the same way for every subject:
// bytes the process passed to write(2) (/proc/self/io wchar) during the case, over the bytes of
// keys and values written. Cases that run with every subject's database open cannot use wchar
// (another's background work would count); for them the `chain-total` row gives each engine's own
// accounting over the whole chain (kv-lab's stats(), LevelDB's "leveldb.stats" plus its log; lmdb
// has none). Space amplification: bytes of the database directory after the case over N * 116.
//
// Before/after in one run: --lsm-base DIR adds the subject `lsm-base`, the LSM of another checkout
// (e.g. `git worktree add /tmp/base main`; its node_modules are not needed), run case by case with
// the others, and the ratios `lsm/lsm-base`. --lsm-options '{"blockBytes":2048}' sets LsmOptions
// of the subject `lsm` (not of lsm-base), to compare a setting with the defaults the same way.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { RealClock } from '../src/env/real/clock.js';
import { RealDisk } from '../src/env/real/disk.js';
import { silentLogger } from '../src/env/log.js';
import type { Engine, WriteOp } from '../src/storage/engine.js';
import { FSYNC_ALWAYS, FSYNC_NEVER } from '../src/storage/fsync-policy.js';
import { openEngine } from '../src/storage/index.js';
import { benchSmoke, smokeNote } from './args.js';
import { ioBytes } from './proc.js';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    [
      'npm run bench:engine -- [--json] [--quick] [--keys N] [--full] [--reads N] [--repeat K] [--cases a,b]',
      '                        [--cache-mb M] [--lsm-options JSON] [--lsm-base DIR]',
      '                        [--subjects lsm,bitcask,classic-level,lmdb,lsm-base]',
      '',
      "db_bench's cases over kv-lab's engines, classic-level (LevelDB) and lmdb in one run: fillseq, fillrandom,",
      'overwrite, readrandom, readseq, readmissing, seekrandom, deleterandom, fillsync, raftapply; per case ops/s,',
      "p50/p99, write and space amplification, the LSM's block-cache hit rate and the share of its block reads",
      'served by table images; then the ratios ours/peer. The header of bench/engine.ts says how each is measured.',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const JSON_OUT = args.includes('--json');
const QUICK = args.includes('--quick');
const FULL = args.includes('--full');

/** The value of --name (as `--name v` or `--name=v`), or undefined. */
function option(name: string): string | undefined {
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (eq !== undefined) return eq.slice(name.length + 3);
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? args[i + 1] : undefined;
  return v !== undefined && !v.startsWith('--') ? v : undefined;
}

function positiveInt(name: string, text: string | undefined, fallback: number, min = 1000): number {
  if (text === undefined) return fallback;
  const v = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(v) || v < min || v > 100_000_000) {
    process.stderr.write(`bench:engine: --${name} must be an integer in [${min}, 100000000], got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return v;
}

const subjectsArg = option('subjects');
/** A smoke run (bench/args.ts): every case once over 2,000 keys, whatever --keys or --full ask. */
const SMOKE = benchSmoke();
if (SMOKE) smokeNote();
const SIZES = SMOKE ? [2_000] : FULL ? [1_000_000, 10_000_000] : [positiveInt('keys', option('keys'), QUICK ? 200_000 : 1_000_000)];
const READS_ARG = option('reads');
/** Runs of each random-read case per subject (the median is reported). */
const REPEAT = positiveInt('repeat', option('repeat'), 1, 1);
/**
 * Block cache of the LSM and of classic-level (--cache-mb, default 32). LevelDB reads tables of
 * uncompressed blocks through mmap and does not cache those blocks (table/format.cc: "Do not
 * double-cache"), so its reads are served by the page cache whatever this says; lmdb reads through
 * the page cache too. The LSM reads with pread(2) and keeps only what fits this budget.
 */
const CACHE_BYTES = positiveInt('cache-mb', option('cache-mb'), 32, 1) * 1024 * 1024;
const CASES_ARG = option('cases')?.split(',');
const LSM_BASE_DIR = option('lsm-base');
const LSM_OPTIONS: Record<string, unknown> = (() => {
  const text = option('lsm-options');
  if (text === undefined) return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  process.stderr.write(`bench:engine: --lsm-options must be a JSON object of LsmOptions, got ${JSON.stringify(text)}\n`);
  process.exit(2);
})();
/** Sizes above this run only the reads-past-memory cases unless --cases names others. */
const ALL_CASES_KEYS_MAX = 1_000_000;
/** The chain (always filled by fillrandom in batches of 1000) without the fills run alone. */
const PAST_MEMORY_CASES = ['overwrite', 'readrandom', 'readseq', 'readmissing', 'seekrandom'];
const ALL_CASES = ['fillseq', 'fillrandom', 'overwrite', 'readrandom', 'readseq', 'readmissing', 'seekrandom', 'deleterandom', 'fillsync', 'raftapply'];
for (const c of CASES_ARG ?? []) {
  if (!ALL_CASES.includes(c)) {
    process.stderr.write(`bench:engine: unknown case "${c}" in --cases (known: ${ALL_CASES.join(', ')})\n`);
    process.exit(2);
  }
}
const VALUE_BYTES = 100;
const KEY_BYTES = 16;
const BATCH = 1000;
const WRITERS = 64;
/** The run's size: set by main() for each size in turn. */
let N = 0;
let READS = 0;
let cases: string[] = [];

/** One database under test, with every operation the cases need (sync where the subject can). */
interface Db {
  write(ops: WriteOp[]): void | Promise<void>;
  get(key: string): string | undefined;
  readAll(): Promise<number>;
  seek(key: string): string | undefined | Promise<string | undefined>;
  /** Bytes the engine says it wrote to files since open (logs, tables, compactions), if it says. */
  bytesWritten(userBytes: number): number | null;
  /**
   * Block-cache hits and misses since open, where the subject counts them; images: block reads
   * served by the LSM's table images (past the block cache), imageBytes: the images' bytes now.
   */
  cacheCounts(): { hits: number; misses: number; images: number; imageBytes: number } | null;
  close(): Promise<void>;
}

interface Subject {
  name: string;
  open(dir: string, sync: boolean): Promise<Db>;
}

// ---- subjects ----

/** What a kv-lab subject needs from a checkout: this one's, or --lsm-base's. */
interface Checkout {
  openEngine: typeof openEngine;
  RealDisk: typeof RealDisk;
  RealClock: typeof RealClock;
  silentLogger: typeof silentLogger;
  FSYNC_ALWAYS: typeof FSYNC_ALWAYS;
  FSYNC_NEVER: typeof FSYNC_NEVER;
}

const THIS_CHECKOUT: Checkout = { openEngine, RealDisk, RealClock, silentLogger, FSYNC_ALWAYS, FSYNC_NEVER };

/** The engine modules of the checkout at dir (its sources, loaded by tsx like these). */
async function checkoutAt(dir: string): Promise<Checkout> {
  const from = async (p: string): Promise<Record<string, unknown>> => import(join(dir, p));
  try {
    const [storage, disk, clock, log] = await Promise.all([from('src/storage/index.ts'), from('src/env/real/disk.ts'), from('src/env/real/clock.ts'), from('src/env/log.ts')]);
    return { openEngine: storage.openEngine, RealDisk: disk.RealDisk, RealClock: clock.RealClock, silentLogger: log.silentLogger, FSYNC_ALWAYS: storage.FSYNC_ALWAYS, FSYNC_NEVER: storage.FSYNC_NEVER } as Checkout;
  } catch (err) {
    process.stderr.write(`bench:engine: --lsm-base ${dir}: cannot load its engine (${(err as Error).message})\n`);
    process.exit(2);
  }
}

function kvlab(kind: 'lsm' | 'bitcask', name: string = kind, c: Checkout = THIS_CHECKOUT, lsmOptions: Record<string, unknown> = {}): Subject {
  return {
    name,
    async open(dir, sync) {
      const deps = { disk: new c.RealDisk(dir), clock: new c.RealClock(), log: c.silentLogger };
      const lsm = { blockCacheBytes: CACHE_BYTES, ...lsmOptions };
      const engine = await new Promise<Engine>((resolve, reject) =>
        c.openEngine(kind, deps, 'db', { fsync: sync ? c.FSYNC_ALWAYS : c.FSYNC_NEVER, lsm }, (err, e) => (err ? reject(err) : resolve(e as Engine))),
      );
      return {
        write(ops) {
          // Completes synchronously under fsync `never` unless the engine throttles: no promise then.
          let result: Error | null | undefined;
          let resolve: ((e: Error | null) => void) | undefined;
          engine.write(ops, (err) => (resolve ? resolve(err) : (result = err)));
          if (result === null) return;
          if (result !== undefined) throw result;
          return new Promise<void>((res, rej) => (resolve = (err) => (err ? rej(err) : res())));
        },
        get: (k) => engine.get(k),
        async readAll() {
          let n = 0;
          let start = '';
          for (;;) {
            const page = engine.scan(start, null, 1000, false);
            n += page.length;
            if (page.length < 1000) return n;
            start = `${(page[page.length - 1] as [string, string])[0]}\u0000`;
          }
        },
        seek: (k) => engine.scan(k, null, 1, false)[0]?.[1],
        bytesWritten: () => engine.stats().diskBytesWritten,
        cacheCounts() {
          const st = engine.stats();
          if (kind !== 'lsm') return null;
          // An older checkout (--lsm-base) may predate table images.
          const im = (engine as Engine & { imageStats?: () => { reads: number; bytes: number } }).imageStats?.() ?? { reads: 0, bytes: 0 };
          return { hits: st.cacheHits, misses: st.cacheMisses, images: im.reads, imageBytes: im.bytes };
        },
        close: () => new Promise<void>((res, rej) => engine.close((err) => (err ? rej(err) : res()))),
      };
    },
  };
}

const classicLevel: Subject = {
  name: 'classic-level',
  async open(dir, sync) {
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8', compression: false, cacheSize: CACHE_BYTES });
    await db.open();
    const it = db.iterator();
    return {
      write: (ops) =>
        ops.length === 1
          ? (ops[0] as WriteOp)[1] === null
            ? db.del((ops[0] as WriteOp)[0], { sync })
            : db.put((ops[0] as WriteOp)[0], (ops[0] as WriteOp)[1] as string, { sync })
          : db.batch(ops.map(([key, value]) => (value === null ? { type: 'del' as const, key } : { type: 'put' as const, key, value })), { sync }),
      get: (k) => db.getSync(k),
      async readAll() {
        const all = db.iterator();
        let n = 0;
        for (let b = await all.nextv(1000); b.length > 0; b = await all.nextv(1000)) n += b.length;
        await all.close();
        return n;
      },
      async seek(k) {
        it.seek(k);
        return (await it.next())?.[1];
      },
      bytesWritten(userBytes) {
        // LevelDB's own figures: MB written by flushes and compactions per level ("Write(MB)"),
        // plus its log, estimated as the user bytes and 3 bytes of framing per entry.
        let mb = 0;
        for (const line of db.getProperty('leveldb.stats').split('\n')) {
          const m = /^\s*\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(\d+)\s*$/.exec(line);
          if (m) mb += Number(m[1]);
        }
        return mb * 1024 * 1024 + userBytes * (1 + 3 / (KEY_BYTES + VALUE_BYTES));
      },
      cacheCounts: () => null,
      async close() {
        await it.close();
        await db.close();
      },
    };
  },
};

const lmdbSubject: Subject = {
  name: 'lmdb',
  async open(dir, sync) {
    const db: RootDatabase<string, string> = openLmdb({ path: dir, noSync: !sync, encoding: 'string', compression: false, cache: false });
    return {
      write(ops) {
        if (ops.length === 1 && !sync) {
          const [k, v] = ops[0] as WriteOp;
          if (v === null) db.removeSync(k);
          else db.putSync(k, v);
          return;
        }
        if (ops.length === 1) {
          // Asynchronous writes of one event-loop turn share a transaction: lmdb's group commit.
          const [k, v] = ops[0] as WriteOp;
          return (v === null ? db.remove(k) : db.put(k, v)).then(() => undefined);
        }
        db.transactionSync(() => {
          for (const [k, v] of ops) {
            if (v === null) db.removeSync(k);
            else db.putSync(k, v);
          }
        });
      },
      get: (k) => db.get(k),
      async readAll() {
        let n = 0;
        for (const _ of db.getRange()) n++;
        return n;
      },
      seek(k) {
        for (const { value } of db.getRange({ start: k, limit: 1 })) return value;
        return undefined;
      },
      bytesWritten: () => null,
      cacheCounts: () => null,
      close: () => db.close(),
    };
  },
};

// ---- data ----

/** xorshift32: a fast, seeded stream of keys (the same for every subject). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const key = (i: number) => String(i).padStart(KEY_BYTES, '0');
const VALUES = (() => {
  const r = rng(7);
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from({ length: 1024 }, () => Array.from({ length: VALUE_BYTES }, () => chars[r() % chars.length]).join(''));
})();

// ---- measurement ----

interface Result {
  case: string;
  subject: string;
  keys: number;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  writeAmplification: number | null;
  spaceAmplification: number | null;
  /** Block-cache hits over lookups during the case (read cases of subjects that count them). */
  cacheHitRate: number | null;
  /**
   * The LSM's block reads served by table images over all its block reads (images, then the
   * cache's hits and misses), and the images' bytes at the end of the case.
   */
  imageReadRate?: number;
  imageBytes?: number;
  /** Random-read cases run --repeat times: every run's rate (the median run is reported). */
  runs?: number[];
}

/** Bytes this process has passed to write(2) so far. */
function wchar(): number {
  return ioBytes('self', 'wchar') ?? 0;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

/**
 * Runs calls op(0..calls-1), each counting `per` operations, timing each call. An op returns a
 * promise only when it must wait; then it is awaited.
 *
 * Every YIELD_EVERY calls the loop yields to the event loop, as a server's loop does between
 * requests: a loop that never yields starves every I/O completion, and the LSM's flushes and
 * compactions wait for fsyncs between their steps. Measured at 1M keys after the write chain:
 * without yields level 0 kept its 3-5 tables through 500k random reads (no flush or compaction
 * finished), with them it is compacted within the case. LevelDB compacts on a thread of its own
 * and lmdb has no background work; the yields cost them a few microseconds per thousand calls.
 * The time spent in a yield (including the LSM's background work run there) counts towards the
 * case's rate, not towards any call's latency.
 */
async function measure(calls: number, per: number, op: (i: number) => unknown): Promise<{ seconds: number; p50: number; p99: number }> {
  const lat = new Float64Array(calls);
  const t0 = process.hrtime.bigint();
  let last = t0;
  for (let i = 0; i < calls; i++) {
    const r = op(i);
    if (r instanceof Promise) await r;
    const now = process.hrtime.bigint();
    lat[i] = Number(now - last) / 1e6;
    last = now;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      last = process.hrtime.bigint();
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort();
  void per;
  return { seconds, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
}

/** Calls between two yields to the event loop in measure(). */
const YIELD_EVERY = 1000;

const results: Result[] = [];

function record(c: string, subject: string, ops: number, m: { seconds: number; p50: number; p99: number }, wa: number | null, sa: number | null, hitRate: number | null = null, images: { rate: number; bytes: number } | null = null): void {
  const r: Result = { case: c, subject, keys: N, ops, opsPerSec: ops / m.seconds, p50Ms: m.p50, p99Ms: m.p99, writeAmplification: wa, spaceAmplification: sa, cacheHitRate: hitRate };
  if (images !== null) {
    r.imageReadRate = images.rate;
    r.imageBytes = images.bytes;
  }
  const rate = ops === 0 ? '-' : Math.round(r.opsPerSec).toLocaleString('en');
  results.push(r);
  if (!JSON_OUT) {
    const f = (x: number | null, d = 2) => (x === null ? '-' : x.toFixed(d));
    process.stdout.write(
      `${c.padEnd(22)} ${subject.padEnd(14)} ${rate.padStart(12)} ops/s  p50 ${f(r.p50Ms, 4).padStart(9)} ms  p99 ${f(r.p99Ms, 4).padStart(9)} ms  wamp ${f(wa).padStart(6)}  samp ${f(sa).padStart(6)}${hitRate === null ? '' : `  cache hits ${(100 * hitRate).toFixed(1)}%`}${images === null ? '' : `  images ${(100 * images.rate).toFixed(1)}% of block reads (${(images.bytes / 2 ** 20).toFixed(0)} MiB)`}\n`,
    );
  }
}

/**
 * A write case. Its write amplification comes from wchar only when the subject runs alone
 * (isolated): with several databases open, another's background work would be counted too.
 */
async function writeCase(name: string, s: Subject, db: Db, dir: string, batch: number, count: number, keyOf: (i: number) => number, del = false, isolated = false): Promise<number> {
  const w0 = wchar();
  const calls = Math.ceil(count / batch);
  const m = await measure(calls, batch, (c) => {
    const ops: WriteOp[] = [];
    for (let j = c * batch; j < Math.min(count, (c + 1) * batch); j++) ops.push([key(keyOf(j)), del ? null : (VALUES[j & 1023] as string)]);
    return db.write(ops);
  });
  const user = count * (KEY_BYTES + (del ? 0 : VALUE_BYTES));
  record(`${name}/batch${batch}`, s.name, count, m, isolated ? (wchar() - w0) / user : null, dirBytes(dir) / (N * (KEY_BYTES + VALUE_BYTES)));
  return user;
}

interface Open {
  s: Subject;
  dir: string;
  db: Db;
}

/** Whether case c (its name before the '/') runs in this run. */
const runs = (c: string): boolean => cases.includes(c);

/** One run of a read case: its timing, the LSM's block-cache hit rate and image reads over it. */
async function readRun(o: Open, ops: number, op: (i: number) => unknown): Promise<{ m: Awaited<ReturnType<typeof measure>>; hitRate: number | null; images: { rate: number; bytes: number } | null }> {
  const c0 = o.db.cacheCounts();
  const m = await measure(ops, 1, op);
  const c1 = o.db.cacheCounts();
  if (c0 === null || c1 === null) return { m, hitRate: null, images: null };
  const lookups = c1.hits + c1.misses - c0.hits - c0.misses;
  const reads = lookups + c1.images - c0.images;
  return { m, hitRate: lookups > 0 ? (c1.hits - c0.hits) / lookups : null, images: reads > 0 ? { rate: (c1.images - c0.images) / reads, bytes: c1.imageBytes } : null };
}

/**
 * A random-read case, run --repeat times over every subject in turn (each run with its own
 * keys), recording each subject's run of median rate: on a loaded machine one run can land in a
 * burst of someone else's work. Every run's rate is in the JSON (`runs`).
 */
async function readCase(name: string, main: Open[], ops: number, opFor: (o: Open, run: number) => (i: number) => unknown): Promise<void> {
  const runsOf = new Map<Open, Awaited<ReturnType<typeof readRun>>[]>();
  for (let run = 0; run < REPEAT; run++) {
    for (const o of main) {
      const r = await readRun(o, ops, opFor(o, run));
      runsOf.set(o, [...(runsOf.get(o) ?? []), r]);
    }
  }
  for (const o of main) {
    const all = (runsOf.get(o) ?? []).slice().sort((a, b) => a.m.seconds - b.m.seconds);
    const median = all[Math.floor(all.length / 2)] as Awaited<ReturnType<typeof readRun>>;
    record(name, o.s.name, ops, median.m, null, null, median.hitRate, median.images);
    (results[results.length - 1] as Result).runs = all.map((r) => ops / r.m.seconds);
  }
}

/**
 * Runs the cases case by case, each over every subject in turn, so that the machine's load at any
 * moment weighs on all subjects alike (this machine is shared and noisy).
 */
async function runAll(subjects: Subject[], root: string): Promise<void> {
  const fresh = async (s: Subject, label: string, sync = false): Promise<Open> => {
    const dir = join(root, `${s.name}-${label}`);
    return { s, dir, db: await s.open(dir, sync) };
  };
  const drop = async (o: Open) => {
    await o.db.close();
    rmSync(o.dir, { recursive: true, force: true });
  };
  // Fills of an empty database, each on its own (fillrandom/batch1 for its write amplification).
  const fills: [string, number, () => (i: number) => number][] = [
    ['fillseq', BATCH, () => (i) => i],
    ['fillseq', 1, () => (i) => i],
    ['fillrandom', 1, () => {
      const r = rng(1);
      return () => r() % N;
    }],
  ];
  for (const [name, batch, keys] of fills) {
    if (!runs(name)) continue;
    for (const s of subjects) {
      const o = await fresh(s, `${name}${batch}`);
      await writeCase(name, s, o.db, o.dir, batch, N, keys(), false, true);
      await drop(o);
    }
  }
  await runChain(subjects, fresh, drop);
  if (runs('fillsync')) for (const s of subjects) await fillsync(s, fresh, drop);
  if (runs('raftapply') && subjects.some((s) => s.name === 'lsm')) await raftApply(root);
}

/** Client writes per Raft Ready in raftapply: the node writes one engine batch per Ready. */
const ENTRIES_PER_READY = 16;

/**
 * raftapply: what a Raft member's state machine asks of its engine. N client writes (random keys,
 * 100-byte values) in batches of 16, each batch also rewriting the applied-index key, as
 * src/node/raft-replica.ts does per Ready; then a flush. The LSM in log mode `wal` (as members run
 * today: the Raft log is fsynced, the engine's WAL is written too, under fsync `never`) against
 * log mode `applied-index` (no WAL; the applied index recorded with each flush). Each runs alone on
 * a fresh database, so wchar counts only its own bytes: bytes written per client write.
 */
async function raftApply(root: string): Promise<void> {
  for (const logMode of ['wal', 'applied-index'] as const) {
    const dir = join(root, `raftapply-${logMode}`);
    const deps = { disk: new RealDisk(dir), clock: new RealClock(), log: silentLogger };
    const engine = await new Promise<Engine>((resolve, reject) =>
      openEngine('lsm', deps, 'db', { fsync: FSYNC_NEVER, logMode, lsm: { blockCacheBytes: CACHE_BYTES } }, (err, e) => (err ? reject(err) : resolve(e as Engine))),
    );
    const r = rng(11);
    const w0 = wchar();
    let index = 0;
    const calls = Math.ceil(N / ENTRIES_PER_READY);
    const m = await measure(calls, ENTRIES_PER_READY, () => {
      const ops: WriteOp[] = [];
      for (let j = 0; j < ENTRIES_PER_READY; j++) ops.push([key(r() % N), VALUES[(index + j) & 1023] as string]);
      index += ENTRIES_PER_READY;
      ops.push(['\x01a', String(index)]);
      return new Promise<void>((res, rej) => {
        const done = (err: Error | null) => (err ? rej(err) : res());
        if (logMode === 'wal') engine.write(ops, done);
        else engine.writeApplied(index, ops, done);
      });
    });
    await new Promise<void>((res, rej) => engine.flush((err) => (err ? rej(err) : res())));
    const written = wchar() - w0;
    const st = engine.stats();
    const subject = logMode === 'wal' ? 'lsm' : 'lsm-applied';
    record('raftapply', subject, N, m, written / (N * (KEY_BYTES + VALUE_BYTES)), dirBytes(dir) / (N * (KEY_BYTES + VALUE_BYTES)));
    if (!JSON_OUT) process.stdout.write(`  ${subject}: ${(written / N).toFixed(0)} bytes written per client write (wchar), engine's own count ${(st.diskBytesWritten / N).toFixed(0)}\n`);
    await new Promise<void>((res, rej) => engine.close((err) => (err ? rej(err) : res())));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * fillrandom, overwrite, the reads and deleterandom on one database per subject, as db_bench
 * chains them. The database is always filled (the reads need it); the rest runs as selected.
 */
async function runChain(subjects: Subject[], fresh: (s: Subject, label: string) => Promise<Open>, drop: (o: Open) => Promise<void>): Promise<void> {
  const chain = ['overwrite', 'readrandom', 'readseq', 'readmissing', 'seekrandom', 'deleterandom'];
  if (!chain.some(runs) && !runs('fillrandom')) return;
  const main: Open[] = [];
  for (const s of subjects) main.push(await fresh(s, 'main'));
  const userBytes = new Map<string, number>();
  const each = async (f: (o: Open) => Promise<void>) => {
    for (const o of main) await f(o);
  };
  const writes = (f: (o: Open) => Promise<number>) => each(async (o) => void userBytes.set(o.s.name, (userBytes.get(o.s.name) ?? 0) + (await f(o))));
  await writes((o) => {
    const r = rng(2);
    return writeCase('fillrandom', o.s, o.db, o.dir, BATCH, N, () => r() % N);
  });
  for (const batch of runs('overwrite') ? [BATCH, 1] : []) {
    await writes((o) => {
      const r = rng(3 + batch);
      return writeCase('overwrite', o.s, o.db, o.dir, batch, batch === 1 ? N / 10 : N, () => r() % N);
    });
  }
  if (runs('readrandom')) {
    await readCase('readrandom', main, READS, (o, run) => {
      const r = rng(5 + 100 * run);
      let found = 0;
      return (i) => {
        if (o.db.get(key(r() % N)) !== undefined) found++;
        if (i === READS - 1 && found < READS / 2) throw new Error(`${o.s.name}: readrandom found only ${found} of ${READS}`);
      };
    });
  }
  if (runs('readseq')) {
    await each(async (o) => {
      let n = 0;
      const m = await measure(1, 1, async () => (n = await o.db.readAll()));
      record('readseq', o.s.name, n, m, null, null);
    });
  }
  if (runs('readmissing')) {
    await readCase('readmissing', main, READS, (o, run) => {
      const r = rng(6 + 100 * run);
      return () => {
        if (o.db.get(`${key(r() % N)}.`) !== undefined) throw new Error('readmissing found a key');
      };
    });
  }
  if (runs('seekrandom')) {
    await readCase('seekrandom', main, Math.min(N / 10, 100_000), (o, run) => {
      const r = rng(7 + 100 * run);
      return () => o.db.seek(key(r() % N));
    });
  }
  for (const batch of runs('deleterandom') ? [BATCH, 1] : []) {
    await writes((o) => {
      const r = rng(8 + batch);
      return writeCase('deleterandom', o.s, o.db, o.dir, batch, batch === 1 ? N / 10 : N, () => r() % N, true);
    });
  }
  // Write amplification of the whole chain, by each engine's own accounting (where it has one).
  for (const o of main) {
    const user = userBytes.get(o.s.name) ?? 0;
    const written = o.db.bytesWritten(user);
    record('chain-total', o.s.name, 0, { seconds: 1, p50: 0, p99: 0 }, written === null ? null : written / user, dirBytes(o.dir) / (N * (KEY_BYTES + VALUE_BYTES)));
  }
  for (const o of main) await drop(o);
}

/** fillsync: one writer, then 64 concurrent writers (group commit). */
async function fillsync(s: Subject, fresh: (s: Subject, label: string, sync: boolean) => Promise<Open>, drop: (o: Open) => Promise<void>): Promise<void> {
  const syncOps = Math.max(200, N / 1000);
  const o = await fresh(s, 'fillsync', true);
  const m = await measure(syncOps, 1, (i) => o.db.write([[key(i), VALUES[i & 1023] as string]]));
  record('fillsync/1writer', s.name, syncOps, m, null, null);
  const per = Math.ceil((syncOps * 16) / WRITERS);
  const lat: number[] = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < per; i++) {
        const a = process.hrtime.bigint();
        const res = o.db.write([[key(1_000_000_000 + w * per + i), VALUES[i & 1023] as string]]);
        if (res instanceof Promise) await res;
        lat.push(Number(process.hrtime.bigint() - a) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = Float64Array.from(lat.sort((a, b) => a - b));
  record(`fillsync/${WRITERS}writers`, s.name, per * WRITERS, { seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }, null, null);
  await drop(o);
}

/** ours/peer ratios of ops/s per case ("case" alone for one size, "case @N" for several). */
function ratiosOf(): Record<string, Record<string, number>> {
  const label = (r: Result) => (SIZES.length === 1 ? r.case : `${r.case} @${r.keys}`);
  const ratios: Record<string, Record<string, number>> = {};
  for (const r of results.filter((x) => x.subject === 'lsm' && x.ops > 0)) {
    const base = results.find((x) => x.subject === 'lsm-base' && x.case === r.case && x.keys === r.keys);
    if (base) (ratios['lsm/lsm-base'] ??= {})[label(r)] = r.opsPerSec / base.opsPerSec;
  }
  for (const one of results.filter((x) => x.subject === 'lsm-applied')) {
    const wal = results.find((x) => x.subject === 'lsm' && x.case === one.case && x.keys === one.keys);
    if (wal) (ratios['lsm-applied/lsm'] ??= {})[label(one)] = one.opsPerSec / wal.opsPerSec;
  }
  for (const ours of ['lsm', 'lsm-base', 'bitcask']) {
    for (const peer of ['classic-level', 'lmdb']) {
      for (const r of results.filter((x) => x.subject === ours && x.ops > 0)) {
        const p = results.find((x) => x.subject === peer && x.case === r.case && x.keys === r.keys);
        if (p !== undefined) (ratios[`${ours}/${peer}`] ??= {})[label(r)] = r.opsPerSec / p.opsPerSec;
      }
    }
  }
  for (const s of ['lsm', 'bitcask', 'classic-level', 'lmdb']) {
    for (const one of results.filter((x) => x.subject === s && x.case === 'fillsync/1writer')) {
      const many = results.find((x) => x.subject === s && x.keys === one.keys && x.case === `fillsync/${WRITERS}writers`);
      if (many) (ratios[`${s}/group-commit`] ??= {})[`fillsync ${WRITERS} writers / 1 writer${SIZES.length === 1 ? '' : ` @${one.keys}`}`] = many.opsPerSec / one.opsPerSec;
    }
  }
  return ratios;
}

async function main(): Promise<void> {
  const all: Subject[] = [kvlab('lsm', 'lsm', THIS_CHECKOUT, LSM_OPTIONS), kvlab('bitcask'), classicLevel, lmdbSubject];
  if (LSM_BASE_DIR !== undefined) all.splice(1, 0, kvlab('lsm', 'lsm-base', await checkoutAt(LSM_BASE_DIR)));
  const wanted = subjectsArg !== undefined ? subjectsArg.split(',') : all.map((s) => s.name);
  for (const w of wanted) {
    if (!all.some((s) => s.name === w)) {
      process.stderr.write(`bench:engine: unknown subject "${w}" (known: ${all.map((s) => s.name).join(', ')})\n`);
      process.exit(2);
    }
  }
  for (const size of SIZES) {
    N = size;
    READS = positiveInt('reads', READS_ARG, Math.min(N, 1_000_000));
    cases = CASES_ARG ?? (N > ALL_CASES_KEYS_MAX ? PAST_MEMORY_CASES : ALL_CASES);
    const root = mkdtempSync(join(tmpdir(), 'kv-lab-bench-'));
    if (!JSON_OUT) process.stdout.write(`bench:engine  N=${N.toLocaleString('en')} keys of ${KEY_BYTES} B, values of ${VALUE_BYTES} B, ${READS.toLocaleString('en')} random reads, in ${root}\n`);
    try {
      await runAll(all.filter((s) => wanted.includes(s.name)), root);
    } catch (err) {
      // Said first: the cleanup below can fail too (a peer's background thread still writing).
      process.stderr.write(`bench:engine: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    } finally {
      rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    }
    if (process.exitCode === 1) return;
  }
  const ratios = ratiosOf();
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ bench: 'engine', n: SIZES.length === 1 ? N : SIZES, results, ratios })}\n`);
    return;
  }
  process.stdout.write('\nratios of ops/s (ours / peer):\n');
  for (const [pair, cs] of Object.entries(ratios)) {
    process.stdout.write(`  ${pair}: ${Object.entries(cs).map(([c, v]) => `${c} ${v.toFixed(2)}`).join(', ')}\n`);
  }
}

await main();
