/** Shared command-line handling for the benchmarks: `--json` and `--quick`. */
export interface BenchArgs {
  json: boolean;
  quick: boolean;
  rest: string[];
}

export function benchArgs(argv = process.argv.slice(2)): BenchArgs {
  return { json: argv.includes('--json'), quick: argv.includes('--quick'), rest: argv.filter((a) => a !== '--json' && a !== '--quick') };
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
