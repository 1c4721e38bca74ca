import type { Command } from 'commander';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, UsageError } from './errors.js';

/**
 * `kv-lab run <scenario.yaml> [--seed N | --seeds A..B] [--out DIR] [--json]`: runs a scenario on
 * the deterministic simulator and checks what happened.
 */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a scenario on the deterministic simulator and check the history it records')
    .argument('<scenario>', 'scenario file (YAML), e.g. scenarios/quickstart.yaml')
    .option('--seed <n>', 'run this one seed (default: the scenario\'s seed)')
    .option('--seeds <a..b>', 'run every seed from a to b and report how many passed')
    .option('--out <dir>', 'write <dir>/<scenario>/<seed>/{summary.json,history.jsonl,trace.jsonl}', 'reports')
    .option('--no-out', 'write no files')
    .option('--json', 'print the summary as one JSON object (several seeds: one object with all)')
    .option('--real', 'run against real kv-lab serve processes on loopback instead of the simulator (crash = kill -9, pause = SIGSTOP, partitions through a fault hook)')
    .option('--protocol <protocol>', 'how the clients reach the cluster, whatever the scenario says: line | http (through the front door) | native (request frames)')
    .option('--explore', 'per seed, choose the knobs the scenario leaves open, as kv-lab swarm --explore does (the choice is in the summary)')
    .addHelpText(
      'after',
      '\nExit codes: 0 every check held, 1 a check failed (the command that reproduces it is printed), 2 bad input, 4 a --real cluster could not be started (the message says why, with the node\'s last log lines).',
    )
    .action(async (file: string, opts: RunFlags) => {
      process.exitCode = await runCommand(file, opts);
    });
}

interface RunFlags {
  seed?: string;
  seeds?: string;
  out: string | false;
  json?: boolean;
  real?: boolean;
  protocol?: string;
  explore?: boolean;
}

export function parseSeeds(opts: Pick<RunFlags, 'seed' | 'seeds'>, fallback: { first: number; last: number }): number[] {
  if (opts.seed !== undefined && opts.seeds !== undefined) throw new UsageError('give --seed or --seeds, not both');
  if (opts.seed !== undefined) {
    if (!/^\d+$/.test(opts.seed)) throw new UsageError(`--seed expects a non-negative integer, got ${JSON.stringify(opts.seed)}`);
    return [Number(opts.seed)];
  }
  let range = fallback;
  if (opts.seeds !== undefined) {
    const m = /^(\d+)\.\.(\d+)$/.exec(opts.seeds);
    if (m === null) throw new UsageError(`--seeds expects a range such as 1..200, got ${JSON.stringify(opts.seeds)}`);
    range = { first: Number(m[1]), last: Number(m[2]) };
    if (range.last < range.first) throw new UsageError(`--seeds ${opts.seeds} is an empty range`);
  }
  if (range.last - range.first >= 1_000_000) throw new UsageError('at most 1,000,000 seeds per run');
  return Array.from({ length: range.last - range.first + 1 }, (_, i) => range.first + i);
}

async function runCommand(file: string, opts: RunFlags): Promise<number> {
  const { loadScenarioFile } = await import('./scenario-file.js');
  const { runScenario } = await import('../../sim/runner.js');
  const { printSummary, progressPrinter } = await import('./report.js');
  const scenario = loadScenarioFile(file);
  const { WORKLOAD_PROTOCOLS } = await import('../../sim/scenario.js');
  if (opts.protocol !== undefined) {
    if (!(WORKLOAD_PROTOCOLS as readonly string[]).includes(opts.protocol)) throw new UsageError(`--protocol expects one of ${WORKLOAD_PROTOCOLS.join(', ')}, got ${JSON.stringify(opts.protocol)}`);
    scenario.workload.protocol = opts.protocol as (typeof WORKLOAD_PROTOCOLS)[number];
  }
  const reproduceArgs = `${opts.explore ? ' --explore' : ''}${opts.protocol !== undefined ? ` --protocol ${opts.protocol}` : ''}`;
  // --explore: each seed runs the scenario with its own choice of the open knobs (sim/swarm/explore.ts).
  const explore = opts.explore ? await import('../../sim/swarm/task.js') : null;
  const text = explore !== null ? (await import('node:fs')).readFileSync(file, 'utf8') : '';
  const seeds = parseSeeds(opts, scenario.seeds);
  const explored = (seed: number): { scenario: typeof scenario; explored?: Record<string, unknown> } =>
    explore === null ? { scenario } : explore.scenarioForRun({ explore: true, protocol: opts.protocol ?? null }, text, scenario, seed);
  const outDir = opts.out === false ? null : opts.out;
  const runExplored = (seed: number, progress: ReturnType<typeof progressPrinter> | undefined) => {
    const e = explored(seed);
    return runScenario(e.scenario, { seed, outDir, commandFile: file, reproduceArgs, ...(progress ? { onProgress: progress.update } : {}), ...(e.explored !== undefined ? { explored: e.explored } : {}) });
  };
  const summaries = [];
  const live = !opts.json && process.stderr.isTTY === true;
  if (opts.real) (await import('./real-run.js')).checkRealScenario(scenario);
  for (const seed of seeds) {
    const progress = live && !opts.real ? progressPrinter(scenario.name, seed) : undefined;
    const { summary } = opts.real
      ? await (await import('./real-run.js')).runScenarioReal(scenario, { seed, outDir, commandFile: file, reproduceArgs, ...(live ? { log: (l: string) => process.stderr.write(`${l}\n`) } : {}) })
      : runExplored(seed, progress);
    progress?.done();
    summaries.push(summary);
    if (!opts.json) {
      if (seeds.length === 1) printSummary(summary, outDir);
      else process.stdout.write(`${summary.passed ? 'pass' : 'FAIL'}  ${scenario.name} seed ${seed}  ${summary.ops.invoked} ops  ${(summary.wallMs / 1000).toFixed(2)}s  ${summary.digest.slice(0, 12)}\n`);
    }
  }
  const failed = summaries.filter((s) => !s.passed);
  if (opts.json) {
    const out = seeds.length === 1 ? summaries[0] : { scenario: scenario.name, file, seeds: seeds.length, passed: seeds.length - failed.length, failed: failed.length, runs: summaries };
    process.stdout.write(JSON.stringify(out) + '\n');
  } else if (seeds.length > 1) {
    process.stdout.write(`\n${seeds.length - failed.length} of ${seeds.length} seeds passed\n`);
    for (const s of failed) process.stdout.write(`  failed: ${s.reproduce}\n`);
  }
  return failed.length === 0 ? EXIT_OK : EXIT_FAILED;
}

export { EXIT_BAD_INPUT };
