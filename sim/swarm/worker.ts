/**
 * A swarm's worker thread (pool.ts): runs the tasks it is sent, one at a time, and answers each
 * with its result. Scenario files are read once per thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../../src/util/assert.js';
import type { SwarmPlan, SwarmTask } from './plan.js';
import { runTask, ScenarioCache } from './task.js';

const port = parentPort;
assert(port !== null, 'sim/swarm/worker.ts runs only as a worker thread');
const { plan, outDir } = workerData as { plan: SwarmPlan; outDir: string | null };
const cache = new ScenarioCache();
port.on('message', (task: SwarmTask) => {
  port.postMessage(runTask(task, plan, outDir, cache));
});
port.postMessage({ ready: true });
