/**
 * npm run bench:check [-- --json] [--quick]
 *
 * The linearizability checker on synthetic histories (src/check/synthetic.ts): 1k, 10k, 100k and
 * 1M operations over 1, 10 and 1,000 keys, linearizable and with one stale read, with 5 to 50
 * concurrent processes and 0–30% operations of unknown outcome; plus two shapes comparable to
 * Porcupine's published figures, and two of the simulator's (a crash and a restart storm of an
 * in-memory store), where the time is mostly explaining. Each case runs in its own child process so that its peak memory
 * (maxRSS, which includes the generated history) is its own. `ms` covers validating the in-memory
 * events, checking, and explaining a violation; generating the history is not counted.
 *
 * Porcupine (Go) is not installed here: its figures are the reference figures quoted in issue 3,
 * measured on a machine of this size, not in the same run. The ratios say ours / theirs.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SeededRng } from '../src/env/rng.js';
import { checkLinearizable } from '../src/check/index.js';
import { syntheticHistory, type SyntheticOptions } from '../test/check/synthetic.js';

interface Case {
  name: string;
  options: SyntheticOptions;
  /** How many histories of this shape (different seeds); ms is the slowest, msMean the mean. */
  repeat: number;
}

interface CaseResult {
  case: string;
  subject: 'kv-lab';
  ops: number;
  keys: number;
  processes: number;
  infoPercent: number;
  ms: number;
  msMean: number;
  peakRssMb: number;
  verdict: string;
  expected: 'ok' | 'violation';
}

const CASE_TIMEOUT_MS = 120_000;
const REGISTER_MIX = { read: 50, write: 30, cas: 20 };
const KV_MIX = { read: 50, write: 25, append: 25 };

/** Concurrency and unknown outcomes vary with size so that every combination range is covered. */
const SHAPE_BY_OPS: Record<number, { processes: number; infoFraction: number }> = {
  1_000: { processes: 50, infoFraction: 0.3 },
  10_000: { processes: 20, infoFraction: 0.1 },
  100_000: { processes: 50, infoFraction: 0.3 },
  1_000_000: { processes: 5, infoFraction: 0 },
};

function cases(quick: boolean): Case[] {
  const out: Case[] = [
    // Jepsen's etcd single-register histories: ~85 ops, up to 23 processes, many timed-out writes and cas.
    { name: 'etcd-like register, 85 ops', repeat: 200,
      options: { ops: 85, keys: 1, processes: 23, infoFraction: 0.3, mix: { read: 40, write: 30, cas: 30 }, corrupt: false } },
    // Porcupine's kv test: 1,700 ops of 50 clients over 10 keys with get/put/append.
    { name: 'kv 1700 ops, 50 clients, 10 keys, append', repeat: 20,
      options: { ops: 1_700, keys: 10, processes: 50, infoFraction: 0, mix: KV_MIX, corrupt: false } },
    // The simulator's crash and restart-storm scenarios: an in-memory store forgets everything;
    // every key fails and the first three are explained, as `kv-lab run` does for one.
    { name: 'crash, 20000 ops, 8 keys', repeat: 5,
      options: { ops: 20_000, keys: 8, processes: 4, infoFraction: 0.01, mix: { read: 40, write: 40, cas: 10, append: 10 },
        corrupt: false, crashes: [0.5] } },
    { name: 'restart storm, 20000 ops, 4 keys', repeat: 5,
      options: { ops: 20_000, keys: 4, processes: 4, infoFraction: 0.01, mix: { read: 50, write: 30, append: 20 },
        corrupt: false, crashes: [0.15, 0.3, 0.45, 0.6, 0.75] } },
  ];
  const sizes = quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000];
  for (const ops of sizes) {
    for (const keys of [1, 10, 1_000]) {
      for (const corrupt of [false, true]) {
        const shape = SHAPE_BY_OPS[ops] as { processes: number; infoFraction: number };
        const name = `${ops} ops, ${keys} keys, ${corrupt ? 'stale read' : 'linearizable'}`;
        out.push({ name, repeat: 1, options: { ops, keys, ...shape, mix: REGISTER_MIX, corrupt } });
      }
    }
  }
  return out;
}

/** Child: one case, printed as one JSON line. */
function runCase(c: Case): CaseResult {
  const times: number[] = [];
  let verdict = '';
  for (let seed = 0; seed < c.repeat; seed++) {
    const events = syntheticHistory(c.options, new SeededRng(`bench/${c.name}/${seed}`));
    const started = performance.now();
    const result = checkLinearizable(events, { model: 'kv', deadline: () => performance.now() - started > CASE_TIMEOUT_MS });
    times.push(performance.now() - started);
    const expected = expectedVerdict(c);
    verdict = result.verdict !== expected ? result.verdict : verdict === '' ? expected : verdict;
  }
  return {
    case: c.name, subject: 'kv-lab', ops: c.options.ops, keys: c.options.keys, processes: c.options.processes,
    infoPercent: Math.round(c.options.infoFraction * 100), ms: round(Math.max(...times)),
    msMean: round(times.reduce((a, b) => a + b, 0) / times.length),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), verdict, expected: expectedVerdict(c),
  };
}

function expectedVerdict(c: Case): 'ok' | 'violation' {
  return c.options.corrupt || (c.options.crashes ?? []).length > 0 ? 'violation' : 'ok';
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function main(): void {
  const args = process.argv.slice(2);
  const all = cases(args.includes('--quick'));
  const only = args.indexOf('--case');
  if (only >= 0) {
    const c = all.find((x) => x.name === args[only + 1]);
    if (c === undefined) throw new Error(`no case ${args[only + 1]}`);
    process.stdout.write(`${JSON.stringify(runCase(c))}\n`);
    return;
  }
  const json = args.includes('--json');
  const results: CaseResult[] = [];
  if (!json) console.log('case                                              ms (max)   ms (mean)  peak RSS   verdict');
  for (const c of all) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--max-old-space-size=8192', fileURLToPath(import.meta.url),
      '--case', c.name, ...(args.includes('--quick') ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`case ${c.name} failed:\n${child.stderr}`);
    const r = JSON.parse(child.stdout.trim()) as CaseResult;
    results.push(r);
    if (!json) {
      const mark = r.verdict === r.expected ? '' : `  (expected ${r.expected})`;
      console.log(`${r.case.padEnd(48)} ${String(r.ms).padStart(9)}  ${String(r.msMean).padStart(9)}  ${String(r.peakRssMb).padStart(5)} MB   ${r.verdict}${mark}`);
    }
  }
  const find = (name: string): CaseResult | undefined => results.find((r) => r.case === name);
  const ratio = (ours: number | undefined, theirs: number): number | null => (ours === undefined ? null : Math.round((ours / theirs) * 1000) / 1000);
  const ratios = {
    note: 'Porcupine figures are reference figures from issue 3 (same machine size), not measured in this run',
    etcdLikeSlowestVsPorcupineSlowest225ms: ratio(find('etcd-like register, 85 ops')?.ms, 225),
    kv1700VsPorcupine190ms: ratio(find('kv 1700 ops, 50 clients, 10 keys, append')?.ms, 190),
    ops100kKeys1000VsTarget1000ms: ratio(find('100000 ops, 1000 keys, linearizable')?.ms, 1000),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify({ bench: 'check', results, ratios })}\n`);
  } else {
    console.log(`\nratios (ours / reference; below 1 is faster): ${JSON.stringify(ratios, null, 2)}`);
  }
}

main();
