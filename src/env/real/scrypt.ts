import { scrypt } from 'node:crypto';
import { assert } from '../../util/assert.js';

/**
 * scrypt on libuv's thread pool, at most `concurrentMax` at once (the rest wait in order).
 *
 * Why a cap: the pool has 4 threads by default (UV_THREADPOOL_SIZE), and fsync — what every write
 * of a node waits for — runs on the same pool. A flood of logins hashed synchronously stalled a
 * cluster's event loop (8 connections pipelining wrong passwords took a writer from 2.1 ms to
 * 11.7 s, issue 16 item 5); hashed on the pool without a cap it would hold every thread and stall
 * the fsyncs instead. The node bounds how many logins wait (auth.ts LoginLimits); this bounds the
 * threads they may hold.
 *
 * Implements the ScryptFunction seam of src/node/auth.ts (structurally: the real world does not
 * import the node). Use it as `scryptVerifier(new ThreadPoolScrypt())` in the node's AuthConfig.
 */
export class ThreadPoolScrypt {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly concurrentMax = 2) {
    assert(Number.isSafeInteger(concurrentMax) && concurrentMax >= 1, 'ThreadPoolScrypt: concurrentMax must be a positive integer');
  }

  scrypt(password: string, salt: Uint8Array, keyBytes: number, params: { N: number; r: number; p: number; maxmem: number }, done: (err: Error | null, key?: Uint8Array) => void): void {
    const run = () => {
      this.running++;
      scrypt(password, salt, keyBytes, params, (err, key) => {
        this.running--;
        assert(this.running >= 0, 'ThreadPoolScrypt: more hashes ended than began');
        this.waiting.shift()?.();
        done(err, err === null ? new Uint8Array(key.buffer, key.byteOffset, key.length) : undefined);
      });
    };
    if (this.running < this.concurrentMax) run();
    else this.waiting.push(run);
  }

  /** Hashes running and waiting, for tests and metrics. */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
