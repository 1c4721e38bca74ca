import type { Command } from 'commander';
import { resolve } from 'node:path';
import { EXIT_FAILED, EXIT_OK, UsageError } from './errors.js';

/**
 * `kv-lab report merge DIR… [--out DIR]`: the outputs of a swarm's shards (`kv-lab swarm --shard
 * i/n`, run on CI matrix jobs or Kubernetes pods) merged into the outputs of the whole swarm —
 * the same summary.json, byte for byte, as one unsharded run.
 */
export function registerReportCommand(program: Command): void {
  const report = program.command('report').description('work with the outputs of runs and swarms');
  report
    .command('merge')
    .description('merge the output folders of a swarm\'s shards into one (summary.json, summary.md, junit.xml, index.html, runs/)')
    .argument('<dirs...>', 'each shard\'s --out folder')
    .option('--out <dir>', 'where to write the merged outputs', 'reports/swarm')
    .addHelpText('after', '\nExit codes: 0 every run passed, 1 a run failed, 2 bad input (a shard missing, twice, or of another plan).')
    .action(async (dirs: string[], opts: { out: string }) => {
      process.exitCode = await mergeCommand(dirs, opts.out);
    });
}

async function mergeCommand(dirs: string[], out: string): Promise<number> {
  const merge = await import('../../sim/swarm/merge.js');
  const outputs = await import('../../sim/swarm/outputs.js');
  const { printTotals, prepareOut } = await import('./swarm.js');
  let result;
  let shards;
  try {
    shards = dirs.map((d) => merge.readSwarmDir(d));
    result = merge.mergeOutputs(shards);
  } catch (err) {
    if (err instanceof merge.MergeError) throw new UsageError(err.message);
    throw err;
  }
  const target = resolve(out);
  // Into a new folder (a previous swarm's outputs there are replaced), or into one of the shards'.
  if (!shards.some((s) => resolve(s.dir) === target)) prepareOut(out);
  merge.copyRunFolders(shards.filter((s) => resolve(s.dir) !== target), out);
  outputs.writeOutputs(out, result);
  printTotals(result, out, outputs);
  return result.runs.every((r) => r.passed) ? EXIT_OK : EXIT_FAILED;
}
