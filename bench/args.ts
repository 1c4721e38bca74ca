/** Shared command-line handling for the benchmarks: `--json` and `--quick`. */
export interface BenchArgs {
  json: boolean;
  /** --quick, or a smoke run. */
  quick: boolean;
  /** KV_LAB_BENCH_SMOKE=1: see benchSmoke(). */
  smoke: boolean;
  rest: string[];
}

/**
 * A smoke run (environment KV_LAB_BENCH_SMOKE=1): every size, duration, seed count and repeat cut
 * to the least that still runs each case's whole path once, so that test/docs/benchmarks.test.ts
 * can run each benchmark command the README shows, exactly as written, in seconds. Its figures
 * mean nothing and it says so; the flags as written are parsed and honoured as usual (a size a
 * flag asks for is capped, not ignored).
 */
export function benchSmoke(): boolean {
  return process.env.KV_LAB_BENCH_SMOKE === '1';
}

/** Says on stderr that this is a smoke run, so its figures are never taken for measurements. */
export function smokeNote(): void {
  process.stderr.write('(smoke run: KV_LAB_BENCH_SMOKE=1 cuts every size to the least that runs; the figures mean nothing)\n');
}

export function benchArgs(argv = process.argv.slice(2)): BenchArgs {
  const smoke = benchSmoke();
  if (smoke) smokeNote();
  return { json: argv.includes('--json'), quick: smoke || argv.includes('--quick'), smoke, rest: argv.filter((a) => a !== '--json' && a !== '--quick') };
}

export interface BenchResult {
  case: string;
  subject: string;
  opsPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  [extra: string]: unknown;
}

export interface BenchReport {
  bench: string;
  results: BenchResult[];
  ratios: Record<string, number>;
  [extra: string]: unknown;
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i] as number;
}
