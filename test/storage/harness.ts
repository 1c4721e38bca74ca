// An engine on a simulated machine: open, crash, reopen, and wait for callbacks, for the contract
// and crash-safety suites.
import fc from 'fast-check';
import { SCAN_LIMIT_MAX, type Engine, type EngineKind, type WriteOp } from '../../src/storage/engine.js';
import { FSYNC_ALWAYS, type FsyncPolicy } from '../../src/storage/fsync-policy.js';
import { openEngine, type EngineOptions } from '../../src/storage/index.js';
import { compareKeys } from '../../src/storage/keys.js';
import type { SimDiskOptions } from '../../sim/disk.js';
import { SimEnv } from './sim-env.js';

// A failing property shows its own assertion message, not only the seed that reproduces it.
fc.configureGlobal({ includeErrorInReport: true });

/** Sizes small enough that a few dozen writes flush, compact, merge and roll every file over. */
export const SMALL: EngineOptions = {
  lsm: {
    memtableBytes: 512,
    blockBytes: 128,
    blockRestartInterval: 4,
    targetFileBytes: 512,
    l0CompactionTrigger: 2,
    l0SlowdownTrigger: 4,
    l0StopTrigger: 6,
    l1Bytes: 1024,
    levelSizeRatio: 2,
    backgroundStepBytes: 512,
    manifestBytesMax: 512,
    walSegmentBytes: 512,
    walBlockBytes: 64,
    tableCacheMax: 8,
    blockCacheBytes: 2048,
    debtSlowdownBytes: 4096,
    debtStopBytes: 16384,
  },
  bitcask: { fileBytesMax: 512, mergeDeadRatio: 0.3, mergeDeadBytesMin: 0, backgroundStepBytes: 512 },
};

export const DURABLE: readonly EngineKind[] = ['lsm', 'bitcask'];

export class Harness {
  readonly env: SimEnv;
  engine!: Engine;

  constructor(
    readonly kind: EngineKind,
    seed: string,
    disk: Partial<SimDiskOptions> = {},
    readonly fsync: FsyncPolicy = FSYNC_ALWAYS,
    readonly options: EngineOptions = SMALL,
  ) {
    this.env = new SimEnv(seed, disk);
    const err = this.open();
    if (err !== null) throw err;
  }

  /** Opens the engine on the current incarnation; returns the error if it fails. */
  open(): Error | null {
    const [err, engine] = this.env.call<[Error | null, Engine?]>((cb) => openEngine(this.kind, this.env.deps, 'db', { ...this.options, fsync: this.fsync }, cb));
    if (err === null) this.engine = engine as Engine;
    return err;
  }

  /** Power loss and restart. */
  crash(): Error | null {
    this.env.crash();
    return this.open();
  }

  write(ops: WriteOp[]): Error | null {
    const [err] = this.env.call<[Error | null]>((cb) => this.engine.write(ops, cb));
    return err;
  }

  flush(): Error | null {
    const [err] = this.env.call<[Error | null]>((cb) => this.engine.flush(cb));
    return err;
  }

  close(): Error | null {
    const [err] = this.env.call<[Error | null]>((cb) => this.engine.close(cb));
    return err;
  }

  all(): [string, string][] {
    return this.engine.scan('', null, SCAN_LIMIT_MAX, false);
  }
}

export function applyOps(state: Map<string, string>, ops: readonly WriteOp[]): void {
  for (const [k, v] of ops) {
    if (v === null) state.delete(k);
    else state.set(k, v);
  }
}

export function sorted(state: Map<string, string>): [string, string][] {
  return [...state.entries()].sort((a, b) => compareKeys(a[0], b[0]));
}

export function modelScan(state: Map<string, string>, start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
  const inRange = sorted(state).filter(([k]) => compareKeys(k, start) >= 0 && (end === null || compareKeys(k, end) < 0));
  return (reverse ? inRange.reverse() : inRange).slice(0, limit);
}

/**
 * After a crash with writes in flight: the state must be the model plus some prefix of the
 * in-flight batches that includes every acknowledged one. Returns that state, or null if none fits.
 */
export function matchPrefix(before: Map<string, string>, batches: WriteOp[][], mustInclude: number, actual: [string, string][]): Map<string, string> | null {
  const want = JSON.stringify(actual);
  for (let p = batches.length; p >= mustInclude; p--) {
    const s = new Map(before);
    for (const b of batches.slice(0, p)) applyOps(s, b);
    if (JSON.stringify(sorted(s)) === want) return s;
  }
  return null;
}
