import { Worker } from 'node:worker_threads';
import { assert } from '../util/assert.js';
import {
  checkModelFunctions, combineVerdicts, EXPLAIN_STEPS_FACTOR, EXPLAIN_STEPS_MIN, MODELS, type CheckOptions, type KeyResult,
  type LinearizabilityResult,
} from './linearizability.js';
import type { History, Operation } from './operation.js';
import { partitionByKey } from './partition.js';

/**
 * The CLI's path for large histories: P-compositionality makes keys independent, so groups of
 * keys (balanced by operation count) are decided on worker threads. Explaining waits for every
 * group's verdict: then the first explainKeysMax failing keys (in order of first appearance, as
 * in-process) are explained by the workers holding them, the explaining budget split between
 * those workers. The result has the same shape, order and verdicts as checkHistory's. The step
 * budget for deciding applies per worker here; the deadlines are shared flags the caller sets
 * (src/check reads no clock), which every worker polls.
 */
export interface ParallelOptions extends Omit<CheckOptions, 'deadline' | 'explainDeadline' | 'firstViolation' | 'explainOnly'> {
  readonly workers: number;
  /** Int32Array over a SharedArrayBuffer; the caller stores 1 in [0] when time to decide is up. */
  readonly cancel?: Int32Array;
  /** The same for explaining ([0] = 1: stop explaining). */
  readonly cancelExplain?: Int32Array;
  /** Called once every group is decided, before explaining starts. */
  readonly onDecided?: (verdict: LinearizabilityResult['verdict'], steps: number) => void;
}

export interface WorkerTask {
  readonly keys: [string, Operation[]][];
  readonly options: Omit<ParallelOptions, 'workers' | 'cancel' | 'cancelExplain' | 'onDecided'>;
  readonly cancel: Int32Array | undefined;
  readonly cancelExplain: Int32Array | undefined;
}

/** What a worker posts once its keys are decided, and what it is told to explain. */
export interface GroupDecided {
  readonly type: 'decided';
  readonly steps: number;
  readonly keys: readonly KeyResult[];
}
export interface ExplainOrder {
  readonly explainOnly: readonly string[];
  readonly explainStepsMax: number;
}

export async function checkHistoryParallel(history: History, options: ParallelOptions): Promise<LinearizabilityResult> {
  checkModelFunctions(history, MODELS[options.model]);
  const byKey = partitionByKey(history.ops);
  const { workers: count, cancel, cancelExplain, onDecided, ...rest } = options;
  const groups = balance(byKey, Math.max(1, count)).filter((g) => g.length > 0);
  const started = groups.map((keys) => startWorker({ keys, options: rest, cancel, cancelExplain }));
  const decided = await Promise.all(started.map((w) => w.decided));
  const verdictSteps = decided.reduce((sum, d) => sum + d.steps, 0);
  const decidedKeys = new Map(decided.flatMap((d) => d.keys.map((k) => [k.key, k] as const)));
  const order = [...byKey.keys()];
  const verdict = combineVerdicts(order.map((k) => decidedKeys.get(k)?.verdict ?? 'unknown'));
  onDecided?.(verdict, verdictSteps);
  // The keys in-process explaining would explain: the first failing ones.
  const explainOnly = order.filter((k) => decidedKeys.get(k)?.verdict === 'violation').slice(0, options.explainKeysMax ?? 3);
  const stepsMax = options.explainStepsMax ?? Math.max(EXPLAIN_STEPS_MIN, EXPLAIN_STEPS_FACTOR * verdictSteps);
  const holders = groups.map((g) => g.filter(([k]) => explainOnly.includes(k)).length);
  const holding = holders.filter((h) => h > 0).length;
  const perGroup = await Promise.all(started.map((w, i) =>
    w.explain({ explainOnly, explainStepsMax: (holders[i] as number) > 0 ? Math.floor(stepsMax / holding) : 0 })));
  const byName = new Map(perGroup.flatMap((r) => r.keys.map((k) => [k.key, k] as const)));
  const keys = order.map((k) => byName.get(k)).filter((r): r is KeyResult => r !== undefined);
  const explainSteps = perGroup.reduce((sum, r) => sum + (r.explaining?.steps ?? 0), 0);
  const explaining = verdict === 'violation' && options.explain !== false
    ? { steps: explainSteps, stepsMax, stoppedEarly: perGroup.some((r) => r.explaining?.stoppedEarly === true) } : null;
  return {
    source: history.source,
    model: options.model,
    verdict,
    opCount: history.ops.length,
    keyCount: byKey.size,
    steps: verdictSteps + explainSteps,
    verdictSteps,
    explaining,
    keys,
  };
}

/** Groups of keys balanced by operation count: largest first, each to the lightest group. */
function balance(byKey: Map<string, Operation[]>, count: number): [string, Operation[]][][] {
  const groups: [string, Operation[]][][] = Array.from({ length: count }, () => []);
  const load = new Array<number>(count).fill(0);
  const sorted = [...byKey.entries()].sort((a, b) => b[1].length - a[1].length);
  for (const entry of sorted) {
    const lightest = load.indexOf(Math.min(...load));
    (groups[lightest] as [string, Operation[]][]).push(entry);
    load[lightest]! += entry[1].length;
  }
  return groups;
}

interface StartedWorker {
  readonly decided: Promise<GroupDecided>;
  explain(order: ExplainOrder): Promise<LinearizabilityResult>;
}

function startWorker(task: WorkerTask): StartedWorker {
  // Run from TypeScript sources (tests, tsx), the worker needs the same loader as this thread.
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./check-worker${fromSource ? '.ts' : '.js'}`, import.meta.url);
  const boot = fromSource
    ? `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`
    : undefined;
  const worker = boot === undefined ? new Worker(url, { workerData: task }) : new Worker(boot, { eval: true, workerData: task });
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`check worker exited with ${code}`)));
  });
  const messages: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  worker.on('message', (m: unknown) => {
    const w = waiting.shift();
    if (w === undefined) messages.push(m);
    else w(m);
  });
  const nextMessage = (): Promise<unknown> => Promise.race([failed, new Promise<unknown>((resolve) => {
    const m = messages.shift();
    if (m !== undefined) resolve(m);
    else waiting.push(resolve);
  })]);
  failed.catch(() => undefined); // observed through nextMessage
  return {
    decided: nextMessage().then((m) => {
      assert((m as GroupDecided).type === 'decided', 'a check worker answers first with its decision');
      return m as GroupDecided;
    }),
    explain: async (order) => {
      worker.postMessage(order);
      const result = (await nextMessage()) as LinearizabilityResult;
      await worker.terminate();
      return result;
    },
  };
}
