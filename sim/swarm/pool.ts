import { Worker } from 'node:worker_threads';
import { assert } from '../../src/util/assert.js';
import type { SwarmPlan, SwarmTask } from './plan.js';
import { runTask, ScenarioCache, type TaskResult } from './task.js';

/**
 * Runs a swarm's tasks on `jobs` worker threads (one run at a time each, the next task as soon as
 * one is done), or in this thread when jobs is 1. Worker threads rather than processes: a run is
 * CPU-bound and shares nothing, a thread starts in a fraction of a process's time, and a run
 * that throws is caught inside its thread (task.ts) so one bad seed cannot end the swarm.
 */

export interface PoolOptions {
  jobs: number;
  plan: SwarmPlan;
  /** The swarm's folder (failing runs write runs/<scenario>/<seed>/), or null to write nothing. */
  outDir: string | null;
  /** Called as each run ends, in the order they end. */
  onResult?: (task: SwarmTask, result: TaskResult) => void;
}

export async function runPool(tasks: readonly SwarmTask[], options: PoolOptions): Promise<TaskResult[]> {
  assert(options.jobs >= 1, 'a pool has at least one job');
  const results: TaskResult[] = new Array<TaskResult>(tasks.length);
  if (options.jobs === 1 || tasks.length <= 1) {
    const cache = new ScenarioCache();
    for (const [i, task] of tasks.entries()) {
      results[i] = runTask(task, options.plan, options.outDir, cache);
      options.onResult?.(task, results[i] as TaskResult);
      // Let the progress line and signals through between runs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return results;
  }
  let next = 0;
  const work = async (): Promise<void> => {
    const worker = startWorker(options);
    try {
      await worker.ready;
      for (let i = next++; i < tasks.length; i = next++) {
        const task = tasks[i] as SwarmTask;
        results[i] = await worker.run(task);
        options.onResult?.(task, results[i] as TaskResult);
      }
    } finally {
      await worker.stop();
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, tasks.length) }, work));
  assert(results.every((r) => r !== undefined), 'every task has a result');
  return results;
}

interface PoolWorker {
  ready: Promise<void>;
  run(task: SwarmTask): Promise<TaskResult>;
  stop(): Promise<void>;
}

function startWorker(options: PoolOptions): PoolWorker {
  // Run from TypeScript sources (tests, tsx), the worker needs the same loader as this thread.
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`./worker${fromSource ? '.ts' : '.js'}`, import.meta.url);
  const workerData = { plan: options.plan, outDir: options.outDir };
  const worker = fromSource
    ? // An eval'd worker resolves bare names from the working directory, which may be anywhere: name tsx by its URL.
      new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true, workerData })
    : new Worker(url, { workerData });
  let pending: { resolve: (m: unknown) => void; reject: (e: Error) => void } | null = null;
  let failure: Error | null = null;
  const fail = (err: Error) => {
    failure = err;
    pending?.reject(err);
    pending = null;
  };
  worker.on('message', (m: unknown) => {
    const p = pending;
    pending = null;
    p?.resolve(m);
  });
  worker.once('error', (err) => fail(err));
  worker.once('exit', (code) => fail(new Error(`a swarm worker exited with code ${code}`)));
  const next = (): Promise<unknown> => {
    if (failure !== null) return Promise.reject(failure);
    return new Promise((resolve, reject) => (pending = { resolve, reject }));
  };
  const ready = next().then(() => undefined);
  return {
    ready,
    run: (task) => {
      const answer = next();
      worker.postMessage(task);
      return answer as Promise<TaskResult>;
    },
    stop: async () => {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
