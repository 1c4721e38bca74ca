/**
 * npm run bench:txn [-- --json] [--quick] [--case NAME]
 *
 * Transactions. For now the isolation checker's cases (issue 21's target: a 100,000-transaction
 * list-append history in under 5 s and 1 GB): synthetic Elle-shaped histories
 * (test/check/txn/synthetic.ts: 10 clients, 1–4 reads and appends per transaction over 10 active
 * keys retired after 32 appends, 2% failed, 2% unknown) of 10k and 100k transactions, strictly
 * serializable and with stale reads injected. Each is checked as `kv-lab check --model txn`
 * does: its JSON Lines text parsed and validated, then checked for strict serializability;
 * generating the history is not counted. Each case runs in its own child process so that its
 * peak memory (maxRSS) is its own; p50/p99 are over the case's repeats (wall time), and
 * cpuMsP50 is the CPU time of the same (user + system), which a loaded machine inflates less.
 *
 * Cases are a list (CASES): the server's (committed transactions/s and abort rate at 1, 8 and
 * 64 clients) join it as more entries of the same shape.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HistoryBuilder } from '../src/check/parse.js';
import { checkTransactions } from '../src/check/txn/index.js';
import { SeededRng } from '../src/env/rng.js';
import { ELLE_SHAPE, syntheticTxnHistory } from '../test/check/txn/synthetic.js';
import { benchArgs, percentile, type BenchReport, type BenchResult } from './args.js';

interface Case {
  readonly name: string;
  /** Whether --quick keeps it. */
  readonly quick: boolean;
  /** Runs in the child process; returns the case's figures. */
  run(): BenchResult;
}

const TARGET_100K_MS = 5_000;

function checkerCase(name: string, txns: number, anomalies: number, repeat: number, quick: boolean): Case {
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
        p50Ms: round(p50),
        p99Ms: round(percentile(sorted, 99)),
        wallMs: round(p50),
        cpuMsP50: round(percentile([...cpu].sort((a, b) => a - b), 50)),
        parseMs: round(percentile([...parse].sort((a, b) => a - b), 50)),
        heapMB: round(heapMB),
        rssMB: round(process.resourceUsage().maxRSS / 1024),
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

const CASES: Case[] = [
  checkerCase('check-10k', 10_000, 0, 5, true),
  checkerCase('check-10k-anomalies', 10_000, 10, 5, true),
  checkerCase('check-100k', 100_000, 0, 3, false),
  checkerCase('check-100k-anomalies', 100_000, 20, 3, false),
];

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function main(): void {
  const args = benchArgs();
  const child = args.rest.indexOf('--child');
  if (child >= 0) {
    const c = CASES.find((k) => k.name === args.rest[child + 1]);
    if (c === undefined) throw new Error(`no case ${args.rest[child + 1]}`);
    process.stdout.write(`${JSON.stringify(c.run())}\n`);
    return;
  }
  const only = args.rest.indexOf('--case');
  const chosen = CASES.filter((c) => (only < 0 ? !args.quick || c.quick : c.name === args.rest[only + 1]));
  if (chosen.length === 0) {
    process.stderr.write(`bench:txn: no case named ${JSON.stringify(args.rest[only + 1])}; cases: ${CASES.map((c) => c.name).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const results: BenchResult[] = [];
  for (const c of chosen) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', c.name], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`case ${c.name} failed:\n${r.stderr}`);
    const result = JSON.parse(r.stdout.trim().split('\n').pop() as string) as BenchResult;
    results.push(result);
    if (!args.json) {
      process.stdout.write(`${c.name.padEnd(22)} ${String(result.verdict).padEnd(9)} p50 ${result.p50Ms} ms (parse ${result.parseMs}; CPU ${result.cpuMsP50}), p99 ${result.p99Ms} ms, ` +
        `${result.opsPerSec} txn/s, heap ${result.heapMB} MB, maxRSS ${result.rssMB} MB ${JSON.stringify(result.counts)}\n`);
    }
  }
  const ratios: Record<string, number> = {};
  const big = results.find((r) => r.case === 'check-100k');
  if (big !== undefined) {
    ratios['check-100k wallMs / 5 s target'] = Math.round((big.wallMs as number) / TARGET_100K_MS * 100) / 100;
    ratios['check-100k cpuMsP50 / 5 s target'] = Math.round((big.cpuMsP50 as number) / TARGET_100K_MS * 100) / 100;
  }
  const report: BenchReport = { bench: 'txn', results, ratios };
  if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
}

main();
