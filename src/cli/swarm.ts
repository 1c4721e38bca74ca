import type { Command } from 'commander';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import type { SwarmResult } from '../../sim/swarm/outputs.js';
import type { SwarmPlan, SwarmTask } from '../../sim/swarm/plan.js';
import type { TaskResult } from '../../sim/swarm/task.js';
import { EXIT_FAILED, EXIT_OK, UsageError } from './errors.js';

/**
 * `kv-lab swarm [scenarios…] --seeds A..B [--jobs auto|N] [--shard i/n] [--out DIR] [--protocol P]
 * [--explore]`: every scenario × every seed, on worker threads, with a progress bar and an ETA on
 * a terminal (plain lines otherwise), writing summary.json, summary.md, junit.xml, index.html and
 * each failing run's folder into DIR. `--shard i/n` runs the i-th of n interleaved slices, for CI
 * matrices and Kubernetes indexed jobs; `kv-lab report merge` puts the slices back together.
 */
export function registerSwarmCommand(program: Command): void {
  program
    .command('swarm')
    .description('run scenarios over many seeds on every core; write summary.json, summary.md, junit.xml and index.html')
    .argument('[scenarios...]', 'scenario files or directories (a directory: its *.yaml); default: scenarios, scenarios/raft, scenarios/primary, scenarios/shards, scenarios/txn')
    .option('--seeds <a..b>', 'the seeds to run for every scenario', '1..200')
    .option('--jobs <n>', 'runs at once, on worker threads: a number or auto (one per core)', 'auto')
    .option('--shard <i/n>', 'run only the i-th of n slices of the runs (merge the slices with kv-lab report merge)')
    .option('--out <dir>', 'where to write the outputs and the failing runs\' folders', 'reports/swarm')
    .option('--protocol <protocol>', 'how every scenario\'s clients reach the cluster: line | http | native')
    .option('--explore', 'per seed, randomise the knobs each scenario leaves open (cluster size, latency, timeouts, Raft timings, protocol, faults) and record them')
    .addHelpText('after', '\nExit codes: 0 every run passed, 1 a run failed (summary.md says how to reproduce it), 2 bad input.')
    .action(async (targets: string[], opts: SwarmFlags) => {
      process.exitCode = await swarmCommand(targets, opts);
    });
}

interface SwarmFlags {
  seeds: string;
  jobs: string;
  shard?: string;
  out: string;
  protocol?: string;
  explore?: boolean;
}

async function swarmCommand(targets: string[], opts: SwarmFlags): Promise<number> {
  const planning = await import('../../sim/swarm/plan.js');
  const { loadScenarioFile } = await import('./scenario-file.js');
  const { WORKLOAD_PROTOCOLS } = await import('../../sim/scenario.js');
  const { runPool } = await import('../../sim/swarm/pool.js');
  const outputs = await import('../../sim/swarm/outputs.js');
  let plan: SwarmPlan;
  let shard: { index: number; count: number } | null;
  try {
    if (opts.protocol !== undefined && !(WORKLOAD_PROTOCOLS as readonly string[]).includes(opts.protocol)) {
      throw new UsageError(`--protocol expects one of ${WORKLOAD_PROTOCOLS.join(', ')}, got ${JSON.stringify(opts.protocol)}`);
    }
    plan = { files: planning.scenarioFiles(targets), seeds: planning.parseSeedRange(opts.seeds), protocol: opts.protocol ?? null, explore: opts.explore === true };
    shard = opts.shard === undefined ? null : planning.parseShard(opts.shard);
  } catch (err) {
    if (err instanceof planning.PlanError) throw new UsageError(err.message);
    throw err;
  }
  // Every file is read and checked before anything runs: a typo fails at once, not an hour in.
  // Failing runs write runs/<scenario name>/<seed>/: two files of one name would overwrite each other.
  const byName = new Map<string, string>();
  for (const file of plan.files) {
    const name = loadScenarioFile(file).name;
    const other = byName.get(name);
    if (other !== undefined) throw new UsageError(`${other} and ${file} both name their scenario ${name}: their failing runs' folders would collide; rename one`);
    byName.set(name, file);
  }
  const jobs = parseJobs(opts.jobs);
  const tasks = planning.shardTasks(plan, shard ?? { index: 1, count: 1 });
  prepareOut(opts.out);
  const startedAt = localIso(new Date());
  const started = Date.now();
  const progress = progressReporter(plan, tasks, jobs, outputs.seconds);
  const results = await runPool(tasks, { jobs, plan, outDir: opts.out, onResult: progress.result });
  progress.done();
  const runWallMs: Record<string, number> = {};
  for (const r of results) runWallMs[outputs.runKey(r.run)] = r.wallMs;
  const result: SwarmResult = {
    plan,
    shard: shard !== null && shard.count > 1 ? shard : null,
    runs: results.map((r) => r.run),
    timings: { shards: [{ shard: shard === null ? '1/1' : `${shard.index}/${shard.count}`, hostname: hostname(), startedAt, wallMs: Date.now() - started, jobs }], runWallMs },
  };
  outputs.writeOutputs(opts.out, result);
  printTotals(result, opts.out, outputs);
  return result.runs.every((r) => r.passed) ? EXIT_OK : EXIT_FAILED;
}

function parseJobs(text: string): number {
  if (text === 'auto') return availableParallelism();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 256) throw new UsageError(`--jobs expects auto or a number from 1 to 256, got ${JSON.stringify(text)}`);
  return Number(text);
}

const OUTPUT_NAMES = ['summary.json', 'summary.md', 'junit.xml', 'index.html', 'timings.json', 'runs'];

/** The out folder holds a previous swarm's outputs (replaced) or nothing; anything else is refused. */
export function prepareOut(dir: string): void {
  if (!existsSync(dir)) return;
  const entries = readdirSync(dir);
  const foreign = entries.filter((e) => !OUTPUT_NAMES.includes(e));
  if (foreign.length > 0 && !entries.includes('summary.json')) {
    throw new UsageError(`--out ${dir} holds other files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}): give a new or empty folder, or a previous swarm's`);
  }
  for (const name of OUTPUT_NAMES) rmSync(join(dir, name), { recursive: true, force: true });
}

/** Local time without a zone, to the second: what JUnit's timestamp attribute takes. */
function localIso(d: Date): string {
  const p = (v: number) => String(v).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * On a terminal: one line redrawn in place (a bar, runs done, failures, elapsed, ETA); finished
 * scenarios and failures print above it. Elsewhere (CI logs, pipes): the same events as plain
 * lines, and a progress line at every tenth of the runs.
 */
function progressReporter(plan: SwarmPlan, tasks: readonly SwarmTask[], jobs: number, formatSeconds: (ms: number) => string): { result: (t: SwarmTask, r: TaskResult) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  const left = new Map<string, number>();
  const failedOf = new Map<string, number>();
  for (const t of tasks) left.set(t.file, (left.get(t.file) ?? 0) + 1);
  const total = tasks.length;
  let done = 0;
  let failed = 0;
  let lastDraw = 0;
  let nextTenth = 1;
  const eta = () => (done === 0 ? '?' : formatSeconds(((Date.now() - started) / done) * (total - done)));
  const status = () => `${done}/${total} runs, ${failed} failed, ${formatSeconds(Date.now() - started)} elapsed, ETA ${eta()}`;
  const say = (line: string) => process.stderr.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  const draw = (force: boolean) => {
    if (!tty || (!force && Date.now() - lastDraw < 100)) return;
    lastDraw = Date.now();
    const width = 30;
    const filled = Math.round((done / Math.max(1, total)) * width);
    const line = `swarm [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${status()}`;
    process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
  };
  say(`swarm: ${total} run(s): ${plan.files.length} scenario(s) × seeds ${plan.seeds.first}..${plan.seeds.last}${total < plan.files.length * (plan.seeds.last - plan.seeds.first + 1) ? ' (this shard\'s share)' : ''} on ${jobs} job(s)`);
  draw(true);
  return {
    result(task, r) {
      done++;
      if (!r.run.passed) {
        failed++;
        failedOf.set(task.file, (failedOf.get(task.file) ?? 0) + 1);
        say(`FAIL  ${r.run.scenario} seed ${task.seed}: ${r.run.failed.map((f) => f.check).join(', ')}  →  ${r.run.reproduce}`);
      }
      const remaining = (left.get(task.file) ?? 1) - 1;
      left.set(task.file, remaining);
      if (remaining === 0) {
        const f = failedOf.get(task.file) ?? 0;
        say(`${f === 0 ? 'pass' : 'FAIL'}  ${task.file}: ${f === 0 ? 'every seed passed' : `${f} seed(s) failed`}`);
      }
      if (!tty && done >= (nextTenth * total) / 10) {
        while (done >= (nextTenth * total) / 10) nextTenth++;
        say(`swarm: ${status()}`);
      }
      draw(false);
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** The totals per scenario and the failures' reproduce commands, on stdout. */
export function printTotals(result: SwarmResult, out: string, outputs: typeof import('../../sim/swarm/outputs.js')): void {
  const { scenarioTotals, swarmDigest, seconds: formatSeconds } = outputs;
  const lines: string[] = [];
  const totals = scenarioTotals(result);
  const width = Math.max(...totals.map((t) => t.file.length), 10);
  for (const t of totals) {
    const caught = t.expectedFailCaught > 0 ? `, ${t.expectedFailCaught} expected failure(s) caught` : '';
    lines.push(`${t.failed === 0 ? 'pass' : 'FAIL'}  ${t.file.padEnd(width)}  ${t.passed}/${t.seeds} seeds passed${caught}`);
    for (const r of result.runs.filter((x) => x.file === t.file && !x.passed).slice(0, 10)) lines.push(`        ${r.reproduce}    # ${r.failed.map((f) => f.check).join(', ')}`);
  }
  const failed = result.runs.filter((r) => !r.passed).length;
  const wall = Math.max(0, ...result.timings.shards.map((s) => s.wallMs));
  const jobs = result.timings.shards.reduce((s, x) => s + x.jobs, 0);
  lines.push('');
  lines.push(`${result.runs.length} runs in ${formatSeconds(wall)} on ${jobs} job(s): ${result.runs.length - failed} passed, ${failed} failed${result.shard !== null ? ` (shard ${result.shard.index}/${result.shard.count})` : ''}`);
  lines.push(`swarm digest ${swarmDigest(result.runs)}`);
  lines.push(`written to ${out}/ (summary.json, summary.md, junit.xml, index.html${failed > 0 ? ', runs/' : ''})`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
