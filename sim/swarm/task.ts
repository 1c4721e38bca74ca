import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { assert } from '../../src/util/assert.js';
import { runScenario, type RunSummary } from '../runner.js';
import { parseScenario, type Scenario, type WorkloadProtocol } from '../scenario.js';
import { scenarioYaml } from '../scenario-text.js';
import { exploreScenario } from './explore.js';
import type { SwarmPlan, SwarmTask } from './plan.js';

/**
 * One run of a swarm, as the swarm's outputs record it. Everything here is decided by the plan
 * and the seed alone — no wall time, no machine — so that shards merged give byte for byte the
 * summary of one unsharded swarm. Wall times travel beside it (TaskResult.wallMs).
 */
export interface SwarmRun {
  file: string;
  scenario: string;
  seed: number;
  passed: boolean;
  /** Checks the scenario expects to fail that did: the anomaly it demonstrates was caught. */
  caught: string[];
  /** What made the run fail: each check that did not hold (or an expected failure not caught). */
  failed: { check: string; verdict: string; summary: string }[];
  digest: string;
  ops: number;
  faults: number;
  virtualMs: number;
  reproduce: string;
  /** report.html of a failing run, relative to the swarm's folder. */
  report: string | null;
  explored?: Record<string, unknown>;
}

export interface TaskResult {
  run: SwarmRun;
  wallMs: number;
}

/** Explanations are kept whole in run folders; the swarm's files carry their first lines. */
const EXPLANATION_CHARS_MAX = 4000;

/** Scenario files read once per thread. */
export class ScenarioCache {
  private readonly files = new Map<string, { text: string; scenario: Scenario }>();

  get(file: string): { text: string; scenario: Scenario } {
    let entry = this.files.get(file);
    if (entry === undefined) {
      const text = readFileSync(file, 'utf8');
      entry = { text, scenario: parseScenario(text, file) };
      this.files.set(file, entry);
    }
    return entry;
  }
}

/** The scenario a swarm runs for this seed: the file's, explored if asked, with the protocol override. */
export function scenarioForRun(plan: Pick<SwarmPlan, 'explore' | 'protocol'>, text: string, base: Scenario, seed: number): { scenario: Scenario; explored?: Record<string, unknown> } {
  let scenario = base;
  let explored: Record<string, unknown> | undefined;
  if (plan.explore) {
    const e = exploreScenario(base, text, seed);
    scenario = e.scenario;
    explored = e.chosen;
  }
  if (plan.protocol !== null) scenario = { ...scenario, workload: { ...scenario.workload, protocol: plan.protocol as WorkloadProtocol } };
  return explored === undefined ? { scenario } : { scenario, explored };
}

/** What the reproduce command repeats besides the file and seed. */
export function reproduceArgs(plan: Pick<SwarmPlan, 'explore' | 'protocol'>): string {
  return `${plan.explore ? ' --explore' : ''}${plan.protocol !== null ? ` --protocol ${plan.protocol}` : ''}`;
}

/** Runs one (file, seed) of the plan; a failing run writes its folder (with report.html) under outDir/runs. */
export function runTask(task: SwarmTask, plan: SwarmPlan, outDir: string | null, cache: ScenarioCache): TaskResult {
  const started = performance.now();
  const { text, scenario: base } = cache.get(task.file);
  const { scenario, explored } = scenarioForRun(plan, text, base, task.seed);
  let summary: RunSummary;
  try {
    summary = runScenario(scenario, {
      seed: task.seed,
      outDir: outDir === null ? null : join(outDir, 'runs'),
      write: 'failed',
      commandFile: task.file,
      reproduceArgs: reproduceArgs(plan),
      ...(explored !== undefined ? { explored } : {}),
    }).summary;
  } catch (err) {
    // A run that throws is the simulator's bug (node errors are caught as panics): reported, not fatal to the swarm.
    return { run: crashedRun(task, scenario, plan, err), wallMs: Math.round(performance.now() - started) };
  }
  const run = swarmRun(task, summary);
  if (!run.passed && outDir !== null) {
    run.report = `runs/${summary.scenario}/${task.seed}/report.html`;
    if (explored !== undefined) writeFileSync(join(outDir, 'runs', summary.scenario, String(task.seed), 'scenario.yaml'), scenarioYaml(scenario, [`${task.file} as --explore chose it for seed ${task.seed}`]));
  }
  return { run, wallMs: Math.round(performance.now() - started) };
}

export function swarmRun(task: SwarmTask, s: RunSummary): SwarmRun {
  const failed: SwarmRun['failed'] = [];
  const caught: string[] = [];
  for (const [check, c] of Object.entries(s.checks)) {
    if (c === undefined) continue;
    const held = c.verdict === 'pass' || c.verdict === 'skipped';
    if (c.expected === 'fail') {
      if (c.verdict === 'fail') caught.push(check);
      else failed.push({ check, verdict: `${c.verdict} (expected fail)`, summary: clip(c.summary) });
    } else if (!held) failed.push({ check, verdict: c.verdict, summary: clip(c.summary) });
  }
  assert(s.passed === (failed.length === 0), () => `run ${task.file} seed ${task.seed}: passed=${s.passed} but ${failed.length} failing check(s)`);
  return {
    file: task.file,
    scenario: s.scenario,
    seed: task.seed,
    passed: s.passed,
    caught,
    failed,
    digest: s.digest,
    ops: s.ops.invoked,
    faults: s.faultsApplied,
    virtualMs: s.virtualMs,
    reproduce: s.reproduce,
    report: null,
    ...(s.explored !== undefined ? { explored: s.explored } : {}),
  };
}

function crashedRun(task: SwarmTask, scenario: Scenario, plan: SwarmPlan, err: unknown): SwarmRun {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    file: task.file,
    scenario: scenario.name,
    seed: task.seed,
    passed: false,
    caught: [],
    failed: [{ check: 'error', verdict: 'error', summary: clip(`the simulator threw (a bug in kv-lab):\n${text}`) }],
    digest: '',
    ops: 0,
    faults: 0,
    virtualMs: 0,
    reproduce: `npx kv-lab run ${task.file} --seed ${task.seed}${reproduceArgs(plan)}`,
    report: null,
  };
}

function clip(text: string): string {
  return text.length <= EXPLANATION_CHARS_MAX ? text : `${text.slice(0, EXPLANATION_CHARS_MAX)}\n… (the run's summary.json has it whole)`;
}
