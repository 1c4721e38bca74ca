/**
 * A worker thread of `kv-lab check` on several files: it is handed a file's text, reads it in
 * any history format, decides, posts the verdict at once, then explains and posts the rest. It
 * reads no clock and no file (src/check never does): the CLI reads the files, times them, and
 * sets the shared flags that end deciding (--timeout) and explaining (--explain-budget).
 */
import { parentPort } from 'node:worker_threads';
import { assert } from '../util/assert.js';
import { checkFile, type FileMessage, type FileTask } from './check-file.js';

const port = parentPort;
assert(port !== null, 'file-worker.ts runs only as a worker thread');
port.on('message', (task: FileTask) => {
  checkFile(task, (message: FileMessage) => port.postMessage(message));
});
// Booting a worker (and, from sources, its TypeScript loader) takes a while: the CLI starts a
// file's clock only once its worker says it is ready.
port.postMessage({ type: 'ready' });
