import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../src/util/assert.js';

/**
 * What a swarm runs: scenario files × a range of seeds, in a fixed order, cut into shards by
 * position (run k belongs to shard k mod n). The order and the cut depend only on the command
 * line, so shards run on different machines add up to exactly the runs of one unsharded swarm.
 */

export interface SwarmPlan {
  /** Scenario files, as named (directories expanded to their *.yaml, sorted). */
  files: string[];
  seeds: { first: number; last: number };
  /** Clients' protocol for every scenario (kv-lab run --protocol), or null: as each file says. */
  protocol: string | null;
  /** Randomise the knobs each scenario leaves open, per seed (sim/swarm/explore.ts). */
  explore: boolean;
}

export interface Shard {
  /** 1-based, as written on the command line (--shard 2/4). */
  index: number;
  count: number;
}

export interface SwarmTask {
  file: string;
  seed: number;
}

/** Directories the swarm runs when it is given none: every shipped scenario meant to pass. */
export const DEFAULT_TARGETS = ['scenarios', 'scenarios/raft', 'scenarios/primary', 'scenarios/shards', 'scenarios/txn'];

/** At most this many runs in one swarm (a shard of a bigger one is fine). */
export const RUNS_MAX = 10_000_000;

export class PlanError extends Error {
  override name = 'PlanError';
}

/**
 * Scenario files from files and directories; a directory gives its own *.yaml (not its
 * subdirectories': scenarios/ holds bugs/, whose runs are meant to fail, and real/, for --real).
 */
export function scenarioFiles(targets: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of targets.length > 0 ? targets : DEFAULT_TARGETS) {
    let isDir: boolean;
    try {
      isDir = statSync(t).isDirectory();
    } catch {
      throw new PlanError(`no such scenario file or directory: ${t}`);
    }
    if (!isDir) out.push(t);
    else {
      const yaml = readdirSync(t).filter((n) => n.endsWith('.yaml')).sort().map((n) => join(t, n));
      if (yaml.length === 0) throw new PlanError(`${t}: no *.yaml scenario files in this directory`);
      out.push(...yaml);
    }
  }
  return [...new Set(out)];
}

/** `1..200` (or one seed, `7`) → a range. */
export function parseSeedRange(text: string): { first: number; last: number } {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text.trim());
  if (m === null) throw new PlanError(`--seeds expects a range such as 1..200, got ${JSON.stringify(text)}`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (last < first) throw new PlanError(`--seeds ${text} is an empty range`);
  if (!Number.isSafeInteger(last)) throw new PlanError(`--seeds ${text}: seeds must be integers below 2^53`);
  return { first, last };
}

/** `2/4` → the second of four shards. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null) throw new PlanError(`--shard expects i/n such as 1/4, got ${JSON.stringify(text)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new PlanError(`--shard ${text}: i must be between 1 and n`);
  if (count > 100_000) throw new PlanError(`--shard ${text}: at most 100,000 shards`);
  return { index, count };
}

export function runCount(plan: SwarmPlan): number {
  return plan.files.length * (plan.seeds.last - plan.seeds.first + 1);
}

/** The runs of one shard, in plan order: file by file, seed by seed; run k goes to shard (k mod n) + 1. */
export function shardTasks(plan: SwarmPlan, shard: Shard): SwarmTask[] {
  const total = runCount(plan);
  if (total > RUNS_MAX * shard.count) throw new PlanError(`${total.toLocaleString('en-US')} runs: at most ${RUNS_MAX.toLocaleString('en-US')} per shard`);
  const tasks: SwarmTask[] = [];
  const perFile = plan.seeds.last - plan.seeds.first + 1;
  // Start at the shard's first position and step by the shard count: no list of every run is built.
  for (let k = shard.index - 1; k < total; k += shard.count) {
    tasks.push({ file: plan.files[Math.floor(k / perFile)] as string, seed: plan.seeds.first + (k % perFile) });
  }
  assert(tasks.length === Math.floor(total / shard.count) + (shard.index - 1 < total % shard.count ? 1 : 0), 'a shard holds its share of the runs');
  return tasks;
}

/** Where a run sits in the plan: results are kept in this order, whoever ran them. */
export function taskOrder(plan: SwarmPlan): (t: SwarmTask) => number {
  const fileIndex = new Map(plan.files.map((f, i) => [f, i] as const));
  const perFile = plan.seeds.last - plan.seeds.first + 1;
  return (t) => {
    const i = fileIndex.get(t.file);
    assert(i !== undefined, () => `${t.file} is not in the plan`);
    return i * perFile + (t.seed - plan.seeds.first);
  };
}
