import type { EngineDeps } from '../engine.js';
import type { LsmOptions } from './options.js';
import type { TableCache } from './table-cache.js';
import type { VersionSet } from './version-set.js';

/** What a background job (flush, compaction) needs from the engine that runs it. */
export interface JobHost {
  readonly deps: EngineDeps;
  readonly dir: string;
  readonly options: LsmOptions;
  readonly tables: TableCache;
  readonly versions: VersionSet;
  /** True once the engine closed or failed: a job stops at its next step. */
  stopped(): boolean;
  /** Runs fn as a separate step, after reads and writes waiting now (clock.timer(0)). */
  schedule(fn: () => void): void;
  /** A step of background work finished (the write throttle admits a write per step). */
  stepDone(): void;
  /** Bytes the job wrote to files, for write amplification. */
  countWritten(bytes: number, kind: 'flush' | 'compaction'): void;
}

/** Every background job: started once, reports once. */
export interface Job {
  start(done: (err: Error | null) => void): void;
}
