import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { assert } from '../../src/util/assert.js';
import { runKey, SUMMARY_FORMAT, type SwarmResult } from './outputs.js';
import { parseShard, runCount, shardTasks, taskOrder, type Shard, type SwarmPlan } from './plan.js';
import type { SwarmRun } from './task.js';

/**
 * `kv-lab report merge DIR…`: the outputs of the shards of one swarm (run anywhere: CI matrix
 * jobs, Kubernetes pods) put back together. The shards must be of the same plan and together be
 * all of them; their runs are put in plan order, so the merged summary is the unsharded swarm's,
 * byte for byte. Failing runs' folders are copied into the merged folder, where index.html links
 * them.
 */

export class MergeError extends Error {
  override name = 'MergeError';
}

interface ShardOutput {
  dir: string;
  plan: SwarmPlan;
  shard: Shard | null;
  runs: SwarmRun[];
  timings: SwarmResult['timings'];
}

export function readSwarmDir(dir: string): ShardOutput {
  const read = (name: string): unknown => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new MergeError(`${dir}: no ${name} here (is it the --out of a kv-lab swarm?)`);
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new MergeError(`${path}: not JSON (${(err as Error).message})`);
    }
  };
  const summary = read('summary.json') as { format?: unknown; plan?: SwarmPlan; shard?: string; results?: SwarmRun[] };
  if (summary.format !== SUMMARY_FORMAT) throw new MergeError(`${dir}/summary.json: format ${JSON.stringify(summary.format)}, expected ${SUMMARY_FORMAT}`);
  if (summary.plan === undefined || !Array.isArray(summary.results)) throw new MergeError(`${dir}/summary.json: no plan or results`);
  const timings = read('timings.json') as SwarmResult['timings'];
  if (!Array.isArray(timings.shards) || typeof timings.runWallMs !== 'object') throw new MergeError(`${dir}/timings.json: no shards or run times`);
  return { dir, plan: summary.plan, shard: summary.shard === undefined ? null : parseShard(summary.shard), runs: summary.results, timings };
}

/** Merges the shards' outputs (checked to be all the shards of one plan) into one result. */
export function mergeOutputs(outputs: readonly ShardOutput[]): SwarmResult {
  if (outputs.length === 0) throw new MergeError('nothing to merge: name the shards\' folders');
  const plan = (outputs[0] as ShardOutput).plan;
  for (const o of outputs) {
    if (!isDeepStrictEqual(o.plan, plan)) throw new MergeError(`${o.dir} ran another plan than ${(outputs[0] as ShardOutput).dir} (scenarios, seeds, protocol or --explore differ)`);
  }
  const count = outputs[0]?.shard?.count ?? 1;
  const seen = new Set<number>();
  for (const o of outputs) {
    const s = o.shard ?? { index: 1, count: 1 };
    if (s.count !== count) throw new MergeError(`${o.dir} is shard ${s.index}/${s.count}, the others are of ${count}`);
    if (seen.has(s.index)) throw new MergeError(`shard ${s.index}/${count} is given twice (${o.dir})`);
    seen.add(s.index);
    const expected = shardTasks(plan, { index: s.index, count }).length;
    if (o.runs.length !== expected) throw new MergeError(`${o.dir}: shard ${s.index}/${count} holds ${o.runs.length} runs, expected ${expected} (did it finish?)`);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length > 0) throw new MergeError(`missing shard(s) ${missing.map((i) => `${i}/${count}`).join(', ')}: merge needs every shard's folder`);
  const order = taskOrder(plan);
  const runs = outputs.flatMap((o) => o.runs).sort((a, b) => order(a) - order(b));
  const keys = new Set(runs.map(runKey));
  if (keys.size !== runs.length) throw new MergeError('a run appears in two shards');
  assert(runs.length === runCount(plan), 'the shards add up to the plan');
  const runWallMs: Record<string, number> = {};
  for (const o of outputs) Object.assign(runWallMs, o.timings.runWallMs);
  const shards = outputs.flatMap((o) => o.timings.shards).sort((a, b) => a.shard.localeCompare(b.shard, 'en', { numeric: true }));
  return { plan, shard: null, runs, timings: { shards, runWallMs } };
}

/** Copies each shard's failing runs' folders into the merged folder. */
export function copyRunFolders(outputs: readonly ShardOutput[], into: string): void {
  for (const o of outputs) {
    const runs = join(o.dir, 'runs');
    if (existsSync(runs)) cpSync(runs, join(into, 'runs'), { recursive: true });
  }
}
