/** A worker thread of parallel.ts: checks its group of keys and posts the key results back. */
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../util/assert.js';
import { checkKey } from './linearizability.js';
import { checkGroup, type WorkerTask } from './parallel.js';

assert(parentPort !== null, 'check-worker.ts runs only as a worker thread');
parentPort.postMessage(checkGroup(workerData as WorkerTask, checkKey));
