import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT_FAILED, EXIT_OK, UsageError } from './errors.js';

/**
 * `kv-lab shrink <scenario.yaml> --seed S` (or `kv-lab shrink <a failing run's folder>`): the
 * failing run made as small as it can be while it still fails the same check (sim/shrink.ts),
 * written as minimal.yaml beside the run's other files, with what was removed printed.
 */
export function registerShrinkCommand(program: Command): void {
  program
    .command('shrink')
    .description('shrink a failing run to the faults, time, clients, keys and operations its failure needs; write minimal.yaml')
    .argument('<scenario-or-run>', 'a scenario file (with --seed), or a failing run\'s folder (reports/<scenario>/<seed>/)')
    .option('--seed <n>', 'the failing seed (with a scenario file)')
    .option('--check <name>', 'the check that must keep failing (default: the first that fails)')
    .option('--runs <n>', 'runs at most', '600')
    .option('--seeds-per-step <n>', 'other seeds tried for a change that no longer fails on the current one (0: the seed never moves)', '0')
    .option('--out <file>', 'where to write the minimal scenario (default: minimal.yaml in the run\'s folder)')
    .option('--protocol <protocol>', 'the clients\' protocol, as the failing run was given it: line | http | native')
    .option('--explore', 'the failing run was an explored one (kv-lab swarm --explore)')
    .addHelpText('after', '\nExit codes: 0 shrunk (minimal.yaml still fails the check), 1 the run does not fail, 2 bad input.')
    .action(async (target: string, opts: ShrinkFlags) => {
      process.exitCode = await shrinkCommand(target, opts);
    });
}

interface ShrinkFlags {
  seed?: string;
  check?: string;
  runs: string;
  seedsPerStep: string;
  out?: string;
  protocol?: string;
  explore?: boolean;
}

interface Target {
  file: string;
  seed: number;
  protocol: string | null;
  explore: boolean;
  /** Where minimal.yaml goes by default. */
  folder: string | null;
}

/** A run's folder names its scenario file, seed and protocol in summary.json. */
function targetOf(path: string, opts: ShrinkFlags): Target {
  const count = (name: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`--${name} expects an integer of at least ${min}, got ${JSON.stringify(text)}`);
    return Number(text);
  };
  if (existsSync(path) && statSync(path).isDirectory()) {
    const summaryPath = join(path, 'summary.json');
    if (!existsSync(summaryPath)) throw new UsageError(`${path}: no summary.json here; give a run's folder (reports/<scenario>/<seed>/) or a scenario file with --seed`);
    let s: { file?: unknown; seed?: unknown; protocol?: unknown; explored?: unknown };
    try {
      s = JSON.parse(readFileSync(summaryPath, 'utf8'));
    } catch (err) {
      throw new UsageError(`${summaryPath}: not JSON (${(err as Error).message})`);
    }
    if (typeof s.file !== 'string' || typeof s.seed !== 'number') throw new UsageError(`${summaryPath}: no scenario file and seed in it`);
    // An explored run left the scenario it ran beside its summary: shrink that one, as it is.
    const explored = existsSync(join(path, 'scenario.yaml'));
    return { file: explored ? join(path, 'scenario.yaml') : s.file, seed: count('seed', opts.seed, 0) ?? s.seed, protocol: opts.protocol ?? (typeof s.protocol === 'string' ? s.protocol : null), explore: false, folder: path };
  }
  const seed = count('seed', opts.seed, 0);
  if (seed === undefined) throw new UsageError('give the failing seed: kv-lab shrink <scenario.yaml> --seed S (or a failing run\'s folder)');
  return { file: path, seed, protocol: opts.protocol ?? null, explore: opts.explore === true, folder: null };
}

async function shrinkCommand(path: string, opts: ShrinkFlags): Promise<number> {
  const { loadScenarioFile } = await import('./scenario-file.js');
  const { shrinkScenario, describeShrink, minimalYaml, ShrinkError } = await import('../../sim/shrink.js');
  const { scenarioForRun } = await import('../../sim/swarm/task.js');
  const { WORKLOAD_PROTOCOLS } = await import('../../sim/scenario.js');
  const target = targetOf(path, opts);
  if (target.protocol !== null && !(WORKLOAD_PROTOCOLS as readonly string[]).includes(target.protocol)) throw new UsageError(`--protocol expects one of ${WORKLOAD_PROTOCOLS.join(', ')}, got ${JSON.stringify(target.protocol)}`);
  const runsMax = Number(opts.runs);
  const seedsPerStep = Number(opts.seedsPerStep);
  if (!Number.isSafeInteger(runsMax) || runsMax < 2 || runsMax > 1_000_000) throw new UsageError(`--runs expects an integer from 2 to 1,000,000, got ${JSON.stringify(opts.runs)}`);
  if (!Number.isSafeInteger(seedsPerStep) || seedsPerStep < 0 || seedsPerStep > 1000) throw new UsageError(`--seeds-per-step expects an integer from 0 to 1000, got ${JSON.stringify(opts.seedsPerStep)}`);
  const base = loadScenarioFile(target.file);
  const { scenario } = scenarioForRun({ explore: target.explore, protocol: target.protocol }, readFileSync(target.file, 'utf8'), base, target.seed);
  const tty = process.stderr.isTTY === true;
  let result;
  try {
    result = shrinkScenario(scenario, {
      seed: target.seed,
      runsMax,
      seedsPerStep,
      ...(opts.check !== undefined ? { check: opts.check } : {}),
      onRun: (e) => {
        if (e.kept) process.stderr.write(`${tty ? '\r\x1b[2K' : ''}run ${e.runs}: kept ${e.change}\n`);
        else if (tty) process.stderr.write(`\r\x1b[2Krun ${e.runs}: tried ${e.change}`.slice(0, (process.stderr.columns ?? 120) - 1));
      },
    });
  } catch (err) {
    if (err instanceof ShrinkError) {
      process.stderr.write(`${tty ? '\r\x1b[2K' : ''}kv-lab shrink: ${err.message}\n`);
      return EXIT_FAILED;
    }
    throw err;
  }
  if (tty) process.stderr.write('\r\x1b[2K');
  const out = opts.out ?? join(target.folder ?? join('reports', scenario.name, String(target.seed)), 'minimal.yaml');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, minimalYaml(result, target.file));
  const lines = [
    `${scenario.name} seed ${target.seed}: ${result.check} still fails with ${describeShrink(result.original.size, result.minimal.size)}`,
    `  ${result.runs} runs${result.stoppedEarly ? ' (the --runs budget ran out: a bigger one may shrink it further)' : ''}; ${result.kept.length} change(s) kept`,
    `  written to ${out}`,
    `  reproduce: npx kv-lab run ${out}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_OK;
}
