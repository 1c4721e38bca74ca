/**
 * npm run bench:check [-- --json] [--quick] [--case NAME]
 *
 * The linearizability checker on generated histories (test/check/synthetic.ts, lab-kv.ts): 1k,
 * 10k, 100k and 1M operations over 1, 10 and 1,000 keys, linearizable and with one stale read,
 * 5 to 50 concurrent processes and 0–30% operations of unknown outcome; shapes comparable to
 * Porcupine's figures (Jepsen's etcd registers, Porcupine's 1,700-op kv test, MIT 6.824's
 * kv-lab histories with lost replies, with and without a violation); and two of the simulator's
 * (a crash and a restart storm of an in-memory store), where the time is mostly explaining.
 *
 * Each history is checked as `kv-lab check` does: deciding stops at the first failing key and
 * the verdict is timed alone (verdictMs: validating the in-memory events and deciding), then
 * the explanation (explainMs, on its default budget: 10x the verdict's steps, at least 2M;
 * no clock limit here, so it is the same on every machine). Generating the history is not
 * counted, nor is collecting its garbage (the child collects before each history's clock starts).
 * Each case runs in its own child process so that its peak memory (maxRSS, which
 * includes the generated history) is its own; a case of several histories reports the slowest
 * (verdictMs, explainMs) and the median and p99 of the verdicts.
 *
 * Cold and warm apart: the first history of a process is checked before V8 has compiled the
 * checker (it runs in the interpreter at first), which is what `kv-lab check` on one file pays;
 * coldVerdictMs / coldVerdictCpuMs / coldVerdictSteps are that history's. The warm figures are
 * the median of the histories after it (warmVerdictMsP50, warmVerdictCpuMsP50; null for a case of
 * one history). The ratios give both against the peer figure.
 *
 * Porcupine (Go) cannot run here, so the ratios compare with the figures the issues quote
 * (PEER_FIGURES: where each comes from); ours / theirs, below 1 is faster.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SeededRng } from '../src/env/rng.js';
import { decideHistory, explainDecision } from '../src/check/linearizability.js';
import { historyFromEvents } from '../src/check/parse.js';
import type { HistoryEvent } from '../src/check/history.js';
import { labKvHistory, type LabKvOptions } from '../test/check/lab-kv.js';
import { syntheticHistory, type SyntheticOptions } from '../test/check/synthetic.js';
import { benchSmoke, percentile, smokeNote, type BenchReport, type BenchResult } from './args.js';

interface Case {
  name: string;
  generate: (seed: string) => HistoryEvent[];
  ops: number;
  keys: number;
  processes: number;
  infoPercent: number;
  expected: 'ok' | 'violation';
  /** How many histories of this shape (different seeds). */
  repeat: number;
}

interface CaseResult extends BenchResult {
  ops: number;
  keys: number;
  processes: number;
  infoPercent: number;
  /** The slowest history's verdict and explanation, and the mean of each. */
  verdictMs: number;
  verdictMsMean: number;
  explainMs: number;
  explainMsMean: number;
  /** verdict + explanation of the slowest history (the figure `kv-lab check`'s `ms` gives). */
  ms: number;
  /** The same in CPU time of this process (user + system): what a shared, loaded machine does not inflate. */
  verdictCpuMs: number;
  verdictCpuMsP50: number;
  explainCpuMs: number;
  verdictSteps: number;
  explainSteps: number;
  /** The first history of the process: the checker not yet compiled by V8. */
  coldVerdictMs: number;
  coldVerdictCpuMs: number;
  coldVerdictSteps: number;
  /** The median of the histories after the first; null for a case of one history. */
  warmVerdictMsP50: number | null;
  warmVerdictCpuMsP50: number | null;
  explainedMinimal: boolean | null;
  peakRssMb: number;
  verdict: string;
  expected: 'ok' | 'violation';
}

/**
 * The figures the ratios compare with. None was measured in this run: Porcupine is Go and is not
 * installed here.
 */
const PEER_FIGURES = {
  'etcd-like register, 85 ops': { ms: 225, source: 'issue 3: Porcupine on Jepsen\'s etcd single-register logs, 0.1–225 ms each; compared with our slowest' },
  'kv 1700 ops, 50 clients, 10 keys, append': { ms: 190, source: 'issue 3: Porcupine on its 1,700-op 50-client kv test history, ~190 ms' },
  '6.824 kv, 2000 ops, 50 clients, 10 keys, lost appends stuck, violation':
    { ms: 20, source: 'issue 18: Porcupine on the 6.824 c50-bad history (~2,000 ops, 50 clients, 10 keys), 20 ms on this machine' },
  '6.824 kv, 2000 ops, 50 clients, 10 keys, lost appends info, violation':
    { ms: 20, source: 'issue 18: the same 20 ms figure (Porcupine, c50-bad); this shape gives up on lost replies instead' },
  '100000 ops, 1000 keys, linearizable': { ms: 1000, source: 'issue 3 and 18: the target, under 1 s (not a Porcupine figure)' },
} as const;

const REGISTER_MIX = { read: 50, write: 30, cas: 20 };
const KV_MIX = { read: 50, write: 25, append: 25 };

/** Concurrency and unknown outcomes vary with size so that every combination range is covered. */
const SHAPE_BY_OPS: Record<number, { processes: number; infoFraction: number }> = {
  1_000: { processes: 50, infoFraction: 0.3 },
  10_000: { processes: 20, infoFraction: 0.1 },
  100_000: { processes: 50, infoFraction: 0.3 },
  1_000_000: { processes: 5, infoFraction: 0 },
};

function synthetic(name: string, options: SyntheticOptions, repeat: number): Case {
  const corrupt = options.corrupt || (options.crashes ?? []).length > 0;
  return { name, ops: options.ops, keys: options.keys, processes: options.processes, infoPercent: Math.round(options.infoFraction * 100),
    expected: corrupt ? 'violation' : 'ok', repeat, generate: (seed) => syntheticHistory(options, new SeededRng(seed)) };
}

function lab(name: string, options: LabKvOptions, repeat: number): Case {
  return { name, ops: options.ops, keys: options.keys, processes: options.clients, infoPercent: Math.round(options.lostFraction * 100),
    expected: options.violation ? 'violation' : 'ok', repeat, generate: (seed) => labKvHistory(options, new SeededRng(seed)) };
}

function cases(quick: boolean): Case[] {
  const out: Case[] = [
    // Jepsen's etcd single-register histories: ~85 ops, up to 23 processes, many timed-out writes and cas.
    synthetic('etcd-like register, 85 ops', { ops: 85, keys: 1, processes: 23, infoFraction: 0.3, mix: { read: 40, write: 30, cas: 30 }, corrupt: false }, 200),
    // Porcupine's kv test: 1,700 ops of 50 clients over 10 keys with get/put/append.
    synthetic('kv 1700 ops, 50 clients, 10 keys, append', { ops: 1_700, keys: 10, processes: 50, infoFraction: 0, mix: KV_MIX, corrupt: false }, 20),
  ];
  // MIT 6.824's kv-lab: 50 clerks appending to 10 keys; lost replies either stuck until the end
  // of the run (ok, as the lab's tests heal the network; 2% of ops) or given up (info, 30%).
  for (const [lost, lostFraction] of [['stuck', 0.02], ['info', 0.3]] as const) {
    for (const violation of [false, true]) {
      out.push(lab(`6.824 kv, 2000 ops, 50 clients, 10 keys, lost appends ${lost}, ${violation ? 'violation' : 'linearizable'}`,
        { ops: 2_000, clients: 50, keys: 10, lostFraction, lostReplies: lost, violation }, 10));
    }
  }
  // The simulator's crash and restart-storm scenarios: an in-memory store forgets everything.
  out.push(synthetic('crash, 20000 ops, 8 keys', { ops: 20_000, keys: 8, processes: 4, infoFraction: 0.01,
    mix: { read: 40, write: 40, cas: 10, append: 10 }, corrupt: false, crashes: [0.5] }, 5));
  out.push(synthetic('restart storm, 20000 ops, 4 keys', { ops: 20_000, keys: 4, processes: 4, infoFraction: 0.01,
    mix: { read: 50, write: 30, append: 20 }, corrupt: false, crashes: [0.15, 0.3, 0.45, 0.6, 0.75] }, 5));
  const sizes = quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000];
  for (const ops of sizes) {
    for (const keys of [1, 10, 1_000]) {
      for (const corrupt of [false, true]) {
        const shape = SHAPE_BY_OPS[ops] as { processes: number; infoFraction: number };
        out.push(synthetic(`${ops} ops, ${keys} keys, ${corrupt ? 'stale read' : 'linearizable'}`, { ops, keys, ...shape, mix: REGISTER_MIX, corrupt }, 1));
      }
    }
  }
  return out;
}

/** Child: one case, printed as one JSON line. */
function runCase(c: Case): CaseResult {
  const verdictMs: number[] = [];
  const explainMs: number[] = [];
  const verdictCpu: number[] = [];
  const explainCpu: number[] = [];
  const cpuMs = (since: NodeJS.CpuUsage): number => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  let slowest = { verdict: -1, explain: 0, verdictSteps: 0, explainSteps: 0, minimal: null as boolean | null };
  let verdict = '';
  let coldSteps = 0;
  for (let seed = 0; seed < c.repeat; seed++) {
    const events = c.generate(`bench/${c.name}/${seed}`);
    // What generating the history left for the collector is collected before the clock starts:
    // its debt is the generator's, not the checker's. Without this, the generator's ~40 MB of
    // garbage fell due in the middle of checking the 100k-op history, as a full collection that
    // cost ~110 ms of its verdict's CPU (measured). The child runs with --expose-gc.
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    const options = { model: 'kv', firstViolation: true } as const;
    const decision = decideHistory(historyFromEvents(events, c.name), options);
    const decided = performance.now();
    verdictCpu.push(cpuMs(cpu0));
    const cpu1 = process.cpuUsage();
    const result = explainDecision(decision, options);
    const done = performance.now();
    explainCpu.push(cpuMs(cpu1));
    verdictMs.push(decided - started);
    explainMs.push(done - decided);
    if (seed === 0) coldSteps = result.verdictSteps;
    if (decided - started > slowest.verdict) {
      slowest = { verdict: decided - started, explain: done - decided, verdictSteps: result.verdictSteps, explainSteps: result.explaining?.steps ?? 0,
        minimal: result.keys.find((k) => k.explanation !== undefined)?.explanation?.minimal ?? null };
    }
    verdict = result.verdict !== c.expected ? result.verdict : verdict === '' ? c.expected : verdict;
  }
  const sorted = verdictMs.slice().sort((a, b) => a - b);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const warmP50 = (xs: number[]): number | null => (xs.length < 2 ? null : round(percentile(xs.slice(1).sort((a, b) => a - b), 50)));
  return {
    case: c.name, subject: 'kv-lab', ops: c.ops, keys: c.keys, processes: c.processes, infoPercent: c.infoPercent,
    opsPerSec: Math.round(c.ops / (mean(verdictMs) / 1000)), p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)),
    verdictMs: round(Math.max(...verdictMs)), verdictMsMean: round(mean(verdictMs)),
    explainMs: round(Math.max(...explainMs)), explainMsMean: round(mean(explainMs)), ms: round(slowest.verdict + slowest.explain),
    verdictCpuMs: round(Math.max(...verdictCpu)), verdictCpuMsP50: round(percentile(verdictCpu.slice().sort((a, b) => a - b), 50)),
    explainCpuMs: round(Math.max(...explainCpu)),
    verdictSteps: slowest.verdictSteps, explainSteps: slowest.explainSteps, explainedMinimal: slowest.minimal,
    coldVerdictMs: round(verdictMs[0] as number), coldVerdictCpuMs: round(verdictCpu[0] as number), coldVerdictSteps: coldSteps,
    warmVerdictMsP50: warmP50(verdictMs), warmVerdictCpuMsP50: warmP50(verdictCpu),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), verdict, expected: c.expected,
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function main(): void {
  const args = process.argv.slice(2);
  const smoke = benchSmoke();
  if (smoke && !args.includes('--child')) smokeNote();
  const quick = smoke || args.includes('--quick');
  // A smoke run (benchSmoke) takes one case of each kind, each once: it checks the path, not speed.
  const all = smoke
    ? cases(true).filter((c) => /^(etcd-like|6\.824 kv.*lost appends info, violation|1000 ops, 10 keys)/.test(c.name)).map((c) => ({ ...c, repeat: 1 }))
    : cases(quick);
  const only = args.indexOf('--case');
  if (only >= 0 && args.includes('--child')) {
    const c = all.find((x) => x.name === args[only + 1]);
    if (c === undefined) throw new Error(`no case ${args[only + 1]}`);
    process.stdout.write(`${JSON.stringify(runCase(c))}\n`);
    return;
  }
  const chosen = only >= 0 ? all.filter((c) => c.name === args[only + 1]) : all;
  if (chosen.length === 0) throw new Error(`no case ${args[only + 1]}; cases:\n${all.map((c) => c.name).join('\n')}`);
  const json = args.includes('--json');
  const results: CaseResult[] = [];
  if (!json) console.log(`${'case'.padEnd(72)} verdict ms (max / p50, cpu max)  cold cpu / warm cpu p50  explain ms (max)  peak RSS   verdict`);
  for (const c of chosen) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--max-old-space-size=8192', '--expose-gc', fileURLToPath(import.meta.url),
      '--child', '--case', c.name, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`case ${c.name} failed:\n${child.stderr}`);
    const r = JSON.parse(child.stdout.trim()) as CaseResult;
    results.push(r);
    if (!json) {
      const mark = r.verdict === r.expected ? '' : `  (expected ${r.expected})`;
      console.log(`${r.case.padEnd(72)} ${String(r.verdictMs).padStart(9)} / ${String(r.p50Ms).padEnd(7)} ${String(r.verdictCpuMs).padStart(7)} ` +
        `${String(r.coldVerdictCpuMs).padStart(12)} / ${String(r.warmVerdictCpuMsP50 ?? '-').padEnd(10)} ${String(r.explainMs).padStart(12)}  ` +
        `${String(r.peakRssMb).padStart(7)} MB   ${r.verdict}${mark}`);
    }
  }
  const ratios: Record<string, number> = {};
  const ratio = (ours: number, theirs: number): number => Math.round((ours / theirs) * 1000) / 1000;
  for (const [name, peer] of Object.entries(PEER_FIGURES)) {
    const r = results.find((x) => x.case === name);
    if (r === undefined) continue;
    ratios[`${name} ours/peer`] = ratio(r.verdictMs, peer.ms);
    ratios[`${name} ours(cpu)/peer`] = ratio(r.verdictCpuMs, peer.ms);
    // The first history pays for V8's compilation of the checker (what one `kv-lab check` pays);
    // the warm median is the steady state of a process that checks many.
    ratios[`${name} cold/peer`] = ratio(r.coldVerdictMs, peer.ms);
    ratios[`${name} cold(cpu)/peer`] = ratio(r.coldVerdictCpuMs, peer.ms);
    if (r.warmVerdictMsP50 !== null) ratios[`${name} warm p50/peer`] = ratio(r.warmVerdictMsP50, peer.ms);
    if (r.warmVerdictCpuMsP50 !== null) ratios[`${name} warm p50(cpu)/peer`] = ratio(r.warmVerdictCpuMsP50, peer.ms);
    ratios[`${name} ours(cpu p50)/peer`] = ratio(r.verdictCpuMsP50, peer.ms);
  }
  const report: BenchReport = { bench: 'check', results, ratios, peerFigures: PEER_FIGURES,
    note: 'ratios: our verdict / the peer figure, which was not measured in this run (see peerFigures): the slowest (wall ms; ' +
      'CPU ms of the checking process), the cold one (the first history of a fresh process, before V8 compiled the checker; wall, CPU), ' +
      'the warm median (the histories after the first; wall, CPU) and the median of all (CPU).' };
  if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else console.log(`\nratios (ours / peer figure; below 1 is faster): ${JSON.stringify(ratios, null, 2)}\npeer figures: ${JSON.stringify(PEER_FIGURES, null, 2)}`);
}

main();
