/**
 * A worker thread of parallel.ts: decides its group of keys, posts the decision, then explains
 * what the main thread asks it to and posts the result. Deadlines are flags the main thread sets.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../util/assert.js';
import { decideHistory, explainDecision, type CheckOptions } from './linearizability.js';
import type { History } from './operation.js';
import type { ExplainOrder, GroupDecided, WorkerTask } from './parallel.js';

const port = parentPort;
assert(port !== null, 'check-worker.ts runs only as a worker thread');
const task = workerData as WorkerTask;
const flag = (cancel: Int32Array | undefined) => (cancel === undefined ? undefined : () => Atomics.load(cancel, 0) === 1);
const ops = task.keys.flatMap(([, keyOps]) => keyOps).sort((a, b) => a.id - b.id);
const group: History = { source: 'group', ops, eventCount: 0, timed: false };
const options: CheckOptions = { ...task.options, deadline: flag(task.cancel), explainDeadline: flag(task.cancelExplain) };
const decision = decideHistory(group, options);
const decided: GroupDecided = { type: 'decided', steps: decision.steps, keys: decision.keys.map((k) => k.result).filter((r) => r !== null) };
port.postMessage(decided);
port.once('message', (order: ExplainOrder) => {
  port.postMessage(explainDecision(decision, { ...options, explainOnly: order.explainOnly, explainStepsMax: order.explainStepsMax }));
});
