import { Worker } from 'node:worker_threads';
import { makeBudget } from './budget.js';
import { checkModelFunctions, combineVerdicts, MODELS, type CheckOptions, type KeyResult, type LinearizabilityResult } from './linearizability.js';
import type { History, Operation } from './operation.js';
import { partitionByKey } from './partition.js';

/**
 * The CLI's path for large histories: P-compositionality makes keys independent, so groups of
 * keys (balanced by operation count) are checked on worker threads. The result has the same shape
 * and order as checkHistory's. A step budget applies per worker here; the deadline is a shared
 * flag the caller sets (src/check reads no clock), which every worker's budget polls.
 */
export interface ParallelOptions extends Omit<CheckOptions, 'deadline'> {
  readonly workers: number;
  /** Int32Array over a SharedArrayBuffer; the caller stores 1 in [0] when time is up. */
  readonly cancel?: Int32Array;
}

export interface WorkerTask {
  readonly keys: [string, Operation[]][];
  readonly options: Omit<CheckOptions, 'deadline'>;
  readonly cancel: Int32Array | undefined;
}

export async function checkHistoryParallel(history: History, options: ParallelOptions): Promise<LinearizabilityResult> {
  checkModelFunctions(history, MODELS[options.model]);
  const byKey = partitionByKey(history.ops);
  const groups: [string, Operation[]][][] = Array.from({ length: Math.max(1, options.workers) }, () => []);
  const load = new Array<number>(groups.length).fill(0);
  const sorted = [...byKey.entries()].sort((a, b) => b[1].length - a[1].length);
  for (const entry of sorted) {
    const lightest = load.indexOf(Math.min(...load));
    (groups[lightest] as [string, Operation[]][]).push(entry);
    load[lightest]! += entry[1].length;
  }
  const { workers: _workers, cancel, ...rest } = options;
  // Run from TypeScript sources (tests, tsx), the worker needs the same loader as this thread.
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./check-worker${fromSource ? '.ts' : '.js'}`, import.meta.url);
  const boot = fromSource
    ? `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`
    : undefined;
  const perGroup = await Promise.all(groups.filter((g) => g.length > 0).map((keys) =>
    new Promise<KeyResult[]>((resolve, reject) => {
      const task: WorkerTask = { keys, options: rest, cancel };
      const worker = boot === undefined ? new Worker(url, { workerData: task }) : new Worker(boot, { eval: true, workerData: task });
      worker.once('message', (results: KeyResult[]) => resolve(results));
      worker.once('error', reject);
      worker.once('exit', (code) => code !== 0 && reject(new Error(`check worker exited with ${code}`)));
    })));
  const byName = new Map(perGroup.flat().map((r) => [r.key, r]));
  const results = [...byKey.keys()].map((k) => byName.get(k)).filter((r): r is KeyResult => r !== undefined);
  const failing = results.filter((r) => r.verdict !== 'ok');
  return {
    source: history.source,
    model: options.model,
    verdict: combineVerdicts(failing.map((r) => r.verdict)),
    opCount: history.ops.length,
    keyCount: byKey.size,
    steps: results.reduce((s, r) => s + r.steps, 0),
    keys: failing,
  };
}

/** Used by check-worker.ts: the keys of one group, with a budget polling the shared flag. */
export function checkGroup(task: WorkerTask, checkKey: typeof import('./linearizability.js').checkKey): KeyResult[] {
  const cancel = task.cancel;
  const deadline = cancel === undefined ? undefined : () => Atomics.load(cancel, 0) === 1;
  const options: CheckOptions = { ...task.options, deadline };
  const budget = makeBudget(options.stepsMax, deadline);
  let explained = 0;
  return task.keys.map(([key, ops]) => {
    const r = checkKey(key, ops, budget, options, explained < (options.explainKeysMax ?? 3));
    if (r.explanation !== undefined) explained++;
    return r;
  });
}
