// Crash-safety properties shared by the LSM and Bitcask suites: random writes interleaved with
// crashes under one disk fault; after every restart the engine must hold a prefix of the writes
// issued that includes every write acknowledged under fsync `always`.
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SeededRng, type Rng } from '../../src/env/rng.js';
import type { EngineKind, WriteOp } from '../../src/storage/engine.js';
import { FSYNC_ALWAYS, type FsyncPolicy } from '../../src/storage/fsync-policy.js';
import { EngineFailedError, StorageCorruptionError } from '../../src/storage/errors.js';
import { BitcaskEngine } from '../../src/storage/bitcask/bitcask.js';
import { LsmEngine } from '../../src/storage/lsm/lsm.js';
import type { SimDiskOptions } from '../../sim/disk.js';
import { Harness, matchPrefix, sorted } from './harness.js';

export const LONG = process.env.KV_LAB_LONG === '1';

export function randomBatch(rng: Rng): WriteOp[] {
  const n = 1 + rng.int(4);
  const ops: WriteOp[] = [];
  for (let i = 0; i < n; i++) {
    const key = `k${rng.int(24)}`;
    ops.push([key, rng.chance(0.2) ? null : `${key}=${'v'.repeat(rng.int(rng.chance(0.1) ? 300 : 30))}`]);
  }
  return ops;
}

/** Writes issued in one crash cycle, in issue order, with how each ended. */
export class Tracker {
  readonly batches: WriteOp[][] = [];
  readonly outcome: ('acked' | 'failed' | 'pending')[] = [];

  constructor(readonly h: Harness) {}

  issue(ops: WriteOp[]): void {
    const i = this.batches.length;
    this.batches.push(ops);
    this.outcome.push('pending');
    this.h.engine.write(ops, (err) => {
      if (err !== null && !(err instanceof EngineFailedError)) throw new Error(`write failed with ${err}`);
      this.outcome[i] = err === null ? 'acked' : 'failed';
    });
  }

  /** Acknowledgements come in issue order, and nothing succeeds after a failure. */
  checkOrder(): number {
    const firstNotAcked = this.outcome.findIndex((o) => o !== 'acked');
    const acked = firstNotAcked < 0 ? this.outcome.length : firstNotAcked;
    for (let i = acked; i < this.outcome.length; i++) assert.ok(this.outcome[i] !== 'acked', `write ${i} acknowledged after write ${acked} was not`);
    return acked;
  }
}

/** Runs the simulation one instant (all events due at the next event time) at a time. */
export function step(h: Harness): boolean {
  const t = h.env.sched.peekTimeNs();
  if (t === null) return false;
  h.env.sched.runUntil(t);
  return true;
}

/** Issues writes and steps the simulation until cond holds (or maxSteps pass). */
export function driveUntil(h: Harness, t: Tracker, rng: Rng, cond: () => boolean, maxSteps = 3000): boolean {
  for (let i = 0; i < maxSteps; i++) {
    if (cond()) return true;
    if (rng.chance(0.5)) t.issue(randomBatch(rng));
    if (!step(h)) h.env.run(1);
  }
  return cond();
}

export interface CrashScenario {
  kind: EngineKind;
  disk: Partial<SimDiskOptions>;
  /** Default `always`; under `never` and `interval` acknowledged writes may be lost (a prefix stays). */
  fsync?: FsyncPolicy;
  /** Drives the engine to the point the crash should hit; returns whether it got there. */
  crashPoint?: (h: Harness, t: Tracker, rng: Rng) => boolean;
  /** Probability that any fsync fails. */
  syncFailureProbability?: number;
  cycles?: number;
}

/** Random writes, then a crash; again, `cycles` times; checks the prefix property each time. */
export function runCrashCycles(s: CrashScenario, seed: number): { reached: number } {
  const rng = new SeededRng(`crash-${s.kind}-${seed}`);
  const h = new Harness(s.kind, `crash-${s.kind}-${seed}`, s.disk, s.fsync);
  const durableAcks = (s.fsync ?? FSYNC_ALWAYS).kind === 'always';
  let model = new Map<string, string>();
  let reached = 0;
  for (let cycle = 0; cycle < (s.cycles ?? 4); cycle++) {
    const t = new Tracker(h);
    h.env.disk.syncFailureProbability = s.syncFailureProbability ?? 0;
    const writes = rng.int(40);
    for (let i = 0; i < writes; i++) {
      t.issue(randomBatch(rng));
      if (rng.chance(0.3)) h.env.run(rng.next() * 3);
    }
    if (s.crashPoint !== undefined && s.crashPoint(h, t, rng)) reached++;
    else h.env.run(rng.next() * 5);
    const acked = t.checkOrder();
    h.env.disk.syncFailureProbability = 0;
    const err = h.crash();
    assert.is(err, null, `cycle ${cycle}: reopen failed: ${String(err)}`);
    const state = matchPrefix(model, t.batches, durableAcks ? acked : 0, h.all());
    if (state === null && process.env.KV_LAB_DEBUG) {
      const want = new Map(model);
      t.batches.slice(0, acked).forEach((b) => b.forEach(([k, v]) => (v === null ? want.delete(k) : want.set(k, v))));
      const got = new Map(h.all());
      for (const k of new Set([...want.keys(), ...got.keys()])) if (want.get(k) !== got.get(k)) console.error(`key ${k}: want ${want.get(k)?.slice(0, 20)} got ${got.get(k)?.slice(0, 20)}`);
      console.error(h.env.logs.map((l) => `${l.event} ${JSON.stringify(l.fields)}`).join('\n'));
      console.error(h.env.disk.paths().join(' '));
      if (process.env.KV_LAB_DEBUG === '2') {
        void import('../../src/storage/bitcask/format.js').then(({ scanDataFile }) => {
          for (const p of h.env.disk.paths().filter((x) => x.endsWith('.data'))) {
            const seqs: string[] = [];
            const r = scanDataFile(h.env.deps.disk.readFile(p), (e) => seqs.push(`${e.seq}:${e.key}${e.kind ? '' : '(del)'}`));
            console.error(p, JSON.stringify(r), seqs.join(' '));
          }
        });
      }
      console.error('acked batches', JSON.stringify(t.batches.slice(0, acked)));
    }
    assert.ok(state !== null, `cycle ${cycle}: the state after the crash is no prefix of the writes that includes the ${acked} acknowledged`);
    model = state;
    for (const [k, v] of model) assert.is(h.engine.get(k), v, `get ${k} after restart`);
  }
  return { reached };
}

export function crashProperty(s: CrashScenario, runs: number, minReached = 0): void {
  let reached = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
      reached += runCrashCycles(s, seed).reached;
    }),
    { numRuns: LONG ? runs * 10 : runs },
  );
  assert.ok(reached >= minReached, `the crash point was reached only ${reached} times`);
}

/** Whether the last open reported dropping data (a torn or corrupt tail cut off). */
export function lossReported(h: Harness): boolean {
  const e = h.engine;
  if (e instanceof LsmEngine) return (e.recovery.wal?.droppedTail ?? null) !== null || e.recovery.manifestDroppedTail !== null;
  if (e instanceof BitcaskEngine) return e.recovery.droppedTail !== null;
  return false;
}

/**
 * Writes, settles so everything is durable, crashes, flips one stored bit, reopens. The flip must
 * be detected (an error naming file and offset, at open or at a read) or be harmless (the full
 * state is intact), or the loss must be reported (a dropped tail) with every value left one that
 * was written: never silently wrong data.
 */
export function bitFlipRun(kind: EngineKind, seed: number): 'open-error' | 'read-error' | 'intact' | 'reported-loss' {
  const rng = new SeededRng(`flip-${kind}-${seed}`);
  const h = new Harness(kind, `flip-${kind}-${seed}`, { crash: 'lose' });
  const history: WriteOp[][] = [];
  const n = 5 + rng.int(60);
  for (let i = 0; i < n; i++) {
    const b = randomBatch(rng);
    history.push(b);
    assert.is(h.write(b), null);
    if (rng.chance(0.1)) h.env.run(rng.int(20));
  }
  h.env.run(200);
  const model = matchPrefix(new Map(), history, history.length, h.all());
  assert.ok(model !== null, 'before the flip the state is all the writes');
  h.env.crash();
  const flipped = h.env.disk.corrupt(rng.chance(0.5) ? undefined : kind === 'lsm' ? (rng.chance(0.5) ? '.sst' : 'wal') : '.data');
  if (flipped === null) return 'intact';
  const err = h.open();
  if (err !== null) {
    assert.instance(err, StorageCorruptionError, `open failed with something else than corruption: ${String(err)}`);
    assert.match(err.message, /^corruption in \S+ at offset \d+: /);
    return 'open-error';
  }
  let state: [string, string][];
  const keys = new Set(history.flat().map(([k]) => k));
  try {
    state = h.all();
    for (const k of keys) assert.is(h.engine.get(k), new Map(state).get(k), `get ${k} agrees with the scan`);
  } catch (e) {
    if (e instanceof StorageCorruptionError) return 'read-error';
    throw e;
  }
  if (JSON.stringify(state) === JSON.stringify(sorted(model))) return 'intact';
  assert.ok(lossReported(h), `state changed silently after flipping bit ${flipped.bit} of ${flipped.path} at ${flipped.offset}`);
  // A reported loss may take back acknowledged writes (the flipped record was one), and merges may
  // have dropped the older versions; but every value left must be one that was written.
  const written = new Map<string, Set<string>>();
  for (const [k, v] of history.flat()) if (v !== null) (written.get(k) ?? written.set(k, new Set()).get(k))?.add(v);
  for (const [k, v] of state) assert.ok(written.get(k)?.has(v), `after a reported loss ${k} holds a value never written to it`);
  return 'reported-loss';
}
