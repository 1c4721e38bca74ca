import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SeededRng, type Rng } from '../../src/env/rng.js';
import type { EngineKind, Snapshot, WriteOp } from '../../src/storage/engine.js';
import { EngineFailedError, InvalidWriteError, StorageCorruptionError, StorageOptionsError } from '../../src/storage/errors.js';
import { openEngine, type EngineOptions } from '../../src/storage/index.js';
import { LsmEngine } from '../../src/storage/lsm/lsm.js';
import type { SimDiskOptions } from '../../sim/disk.js';
import { randomBatch, step } from './crash-props.js';
import { applyOps, Harness, modelScan, SMALL, sorted } from './harness.js';

// The Engine contract in log mode `applied-index` (src/storage/engine.ts, points 1-5): no WAL of
// the engine's own; the caller's log is the log, each write comes with its log position, and
// after any crash the engine's durable state is exactly the caller's state at the applied index
// it reports, never behind an index it reported durable before. The caller then replays its log
// from there, as a Raft member does. Checked model-based (a log of indexed batches is the model)
// with crashes under every fault of the simulated disk. KV_LAB_LONG=1 runs ten times as many.

const LONG = process.env.KV_LAB_LONG === '1';
const RUNS = LONG ? 3000 : 250;
const APPLIED: EngineOptions = { ...SMALL, logMode: 'applied-index' };
const KINDS: EngineKind[] = ['lsm', 'memory'];

/** The caller's log: every batch the engine accepted, by index. */
class CallerLog {
  entries: { index: number; ops: WriteOp[] }[] = [];
  /** The highest index durableAppliedIndex() has reported: no crash may take it back. */
  durable = 0;

  get last(): number {
    return this.entries.length === 0 ? this.durable : (this.entries[this.entries.length - 1] as { index: number }).index;
  }

  /** The state after every batch with index <= index. */
  stateAt(index: number): Map<string, string> {
    const state = new Map<string, string>();
    for (const e of this.entries) if (e.index <= index) applyOps(state, e.ops);
    return state;
  }
}

function newHarness(kind: EngineKind, seed: string, disk: Partial<SimDiskOptions> = { crash: 'random', dirCrash: 'random' }): Harness {
  return new Harness(kind, seed, disk, undefined, APPLIED);
}

function writeApplied(h: Harness, index: number, ops: WriteOp[]): Error | null {
  const [err] = h.env.call<[Error | null]>((cb) => h.engine.writeApplied(index, ops, cb));
  return err;
}

/**
 * After a crash and reopen: the reported durable index is no lower than any reported before, and
 * the state is exactly the log's state at it. Then the caller replays its log after it (as Raft
 * does with committed entries), or, half the time, drops that suffix (entries never committed).
 */
function checkRecovered(h: Harness, log: CallerLog, rng: Rng, what: string): void {
  const d = h.engine.durableAppliedIndex();
  const kind = h.kind;
  if (kind === 'memory') assert.is(d, 0, 'the memory engine keeps nothing');
  else assert.ok(d >= log.durable, `${what}: durable applied index ${d} went back below ${log.durable}, reported before the crash`);
  assert.ok(d <= log.last, `${what}: durable applied index ${d} is past the last write ${log.last}`);
  assert.is(h.engine.appliedIndex(), d, `${what}: after an open the applied index is the durable one`);
  assert.equal(h.all(), sorted(log.stateAt(d)), `${what}: the state after the crash is the caller's state at index ${d}`);
  log.durable = d;
  if (rng.chance(0.5)) {
    log.entries = log.entries.filter((e) => e.index <= d);
    return;
  }
  for (const e of log.entries) if (e.index > d) assert.is(writeApplied(h, e.index, e.ops), null, `${what}: replaying index ${e.index}`);
}

// ---- the model-based contract ----

interface Model {
  log: CallerLog;
  snaps: { snap: Snapshot; data: Map<string, string> }[];
  rng: Rng;
}

interface Real {
  h: Harness;
}

type Cmd = fc.Command<Model, Real>;

const key = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'é', '\ue000', '\u{10000}', '\x00'), maxLength: 3 });
const value = fc.oneof({ weight: 8, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.string({ minLength: 80, maxLength: 300 }) });
const op: fc.Arbitrary<WriteOp> = fc.tuple(key, fc.oneof({ weight: 3, arbitrary: value }, { weight: 1, arbitrary: fc.constant(null) }));
// Batches of no ops too: a log entry with no effect still moves the applied index.
const batch = fc.array(op, { minLength: 0, maxLength: 6 });

class WriteCmd implements Cmd {
  constructor(
    readonly ops: WriteOp[],
    readonly gap: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const index = m.log.last + 1 + this.gap;
    assert.is(writeApplied(r.h, index, this.ops), null);
    m.log.entries.push({ index, ops: this.ops });
    assert.is(r.h.engine.appliedIndex(), index);
  }
  toString(): string {
    return `write +${this.gap} ${JSON.stringify(this.ops)}`;
  }
}

class StaleIndexCmd implements Cmd {
  constructor(readonly back: number) {}
  check(m: Model): boolean {
    return m.log.last > 0;
  }
  run(m: Model, r: Real): void {
    const err = writeApplied(r.h, Math.max(0, m.log.last - this.back), [['stale', 'x']]);
    assert.instance(err, InvalidWriteError, 'an index not above the last is refused');
    assert.match(String(err), /applied index/);
    assert.is(r.h.engine.get('stale'), m.log.stateAt(m.log.last).get('stale'), 'a refused write changes nothing');
  }
  toString(): string {
    return `stale index -${this.back}`;
  }
}

class GetCmd implements Cmd {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    assert.is(r.h.engine.get(this.key), m.log.stateAt(m.log.last).get(this.key), `get ${JSON.stringify(this.key)}`);
  }
  toString(): string {
    return `get ${JSON.stringify(this.key)}`;
  }
}

class ScanCmd implements Cmd {
  constructor(
    readonly start: string,
    readonly end: string | null,
    readonly limit: number,
    readonly reverse: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const want = modelScan(m.log.stateAt(m.log.last), this.start, this.end, this.limit, this.reverse);
    assert.equal(r.h.engine.scan(this.start, this.end, this.limit, this.reverse), want, this.toString());
  }
  toString(): string {
    return `scan ${JSON.stringify([this.start, this.end, this.limit, this.reverse])}`;
  }
}

class SnapshotCmd implements Cmd {
  check(m: Model): boolean {
    return m.snaps.length < 3;
  }
  run(m: Model, r: Real): void {
    m.snaps.push({ snap: r.h.engine.snapshot(), data: m.log.stateAt(m.log.last) });
  }
  toString(): string {
    return 'snapshot';
  }
}

class SnapshotReadCmd implements Cmd {
  constructor(readonly which: number) {}
  check(m: Model): boolean {
    return m.snaps.length > 0;
  }
  run(m: Model): void {
    const i = this.which % m.snaps.length;
    const s = m.snaps[i] as Model['snaps'][number];
    assert.equal(s.snap.scan('', null, 1000, false), sorted(s.data), 'a snapshot sees what it saw when taken');
    s.snap.release();
    m.snaps.splice(i, 1);
  }
  toString(): string {
    return `snapshot-read ${this.which}`;
  }
}

class FlushCmd implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const applied = r.h.engine.appliedIndex();
    assert.is(r.h.flush(), null);
    if (r.h.kind === 'memory') return;
    assert.ok(r.h.engine.durableAppliedIndex() >= applied, `flush: durable ${r.h.engine.durableAppliedIndex()} below the applied ${applied}`);
    m.log.durable = r.h.engine.durableAppliedIndex();
  }
  toString(): string {
    return 'flush';
  }
}

class IdleCmd implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    r.h.env.run(this.ms);
    if (r.h.kind !== 'memory') m.log.durable = Math.max(m.log.durable, r.h.engine.durableAppliedIndex());
  }
  toString(): string {
    return `idle ${this.ms}ms`;
  }
}

/** Writes issued back to back (some throttled), a crash after ms of virtual time, reopen. */
class CrashCmd implements Cmd {
  constructor(
    readonly batches: WriteOp[][],
    readonly ms: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    for (const ops of this.batches) {
      const index = m.log.last + 1;
      // Issued is logged: the caller's log holds the entry whether or not the engine got to it.
      m.log.entries.push({ index, ops });
      r.h.engine.writeApplied(index, ops, (err) => assert.ok(err === null || err instanceof EngineFailedError, String(err)));
    }
    r.h.env.run(this.ms);
    if (r.h.kind !== 'memory') m.log.durable = Math.max(m.log.durable, r.h.engine.durableAppliedIndex());
    m.snaps = [];
    assert.is(r.h.crash(), null, 'reopen after a crash');
    checkRecovered(r.h, m.log, m.rng, 'crash');
  }
  toString(): string {
    return `crash after ${this.ms}ms with ${JSON.stringify(this.batches)} issued`;
  }
}

class RestartCmd implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    for (const s of m.snaps) s.snap.release();
    m.snaps = [];
    const last = m.log.last;
    assert.is(r.h.close(), null);
    assert.is(r.h.open(), null);
    // A clean close writes the memtable out: nothing to replay.
    if (r.h.kind !== 'memory') assert.is(r.h.engine.durableAppliedIndex(), last, 'after a clean close everything applied is durable');
    checkRecovered(r.h, m.log, m.rng, 'restart');
  }
  toString(): string {
    return 'close and reopen';
  }
}

const commands = [
  fc.tuple(batch, fc.constantFrom(0, 0, 0, 1, 7)).map(([ops, gap]) => new WriteCmd(ops, gap)),
  fc.tuple(batch, fc.constant(0)).map(([ops, gap]) => new WriteCmd(ops, gap)),
  fc.tuple(batch, fc.constant(0)).map(([ops, gap]) => new WriteCmd(ops, gap)),
  fc.nat(2).map((b) => new StaleIndexCmd(b)),
  key.map((k) => new GetCmd(k)),
  fc.tuple(key, fc.option(key, { nil: null }), fc.nat(12), fc.boolean()).map(([s, e, l, rev]) => new ScanCmd(s, e, l, rev)),
  fc.constant(new SnapshotCmd()),
  fc.nat().map((w) => new SnapshotReadCmd(w)),
  fc.constant(new FlushCmd()),
  fc.integer({ min: 0, max: 20 }).map((ms) => new IdleCmd(ms)),
  fc.tuple(fc.array(batch, { maxLength: 4 }), fc.integer({ min: 0, max: 4 })).map(([b, ms]) => new CrashCmd(b, ms)),
  fc.constant(new RestartCmd()),
];

const Contract = suite('applied-index mode: contract');

for (const kind of KINDS) {
  Contract(`${kind}: the state is the caller's log up to the applied index, through writes, flushes, snapshots, crashes and restarts`, () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), fc.integer({ min: 0, max: 1e9 }), (cmds, seed) => {
        const h = newHarness(kind, `applied-${kind}-${seed}`);
        fc.modelRun(() => ({ model: { log: new CallerLog(), snaps: [], rng: new SeededRng(`applied-model-${seed}`) }, real: { h } }), cmds);
      }),
      { numRuns: kind === 'lsm' ? RUNS : RUNS / 5, ...(process.env.KV_LAB_REPLAY ? JSON.parse(process.env.KV_LAB_REPLAY) : {}) },
    );
  });
}

Contract.run();

// ---- crashes under every disk fault ----

interface Fault {
  name: string;
  disk: Partial<SimDiskOptions>;
  syncFailureProbability?: number;
  /** Drive the engine into the middle of this background work before the crash. */
  midway?: 'flushing' | 'compacting' | 'writingManifest';
}

const FAULTS: Fault[] = [
  { name: 'lost unsynced writes', disk: { crash: 'lose' } },
  { name: 'torn writes', disk: { crash: 'torn' } },
  { name: 'reordered unsynced writes', disk: { crash: 'reorder' } },
  { name: 'non-atomic rename without a directory fsync', disk: { crash: 'random', dirCrash: 'random' } },
  { name: 'failed fsyncs (the engine stops)', disk: { crash: 'random', dirCrash: 'random' }, syncFailureProbability: 0.05 },
  { name: 'a crash in the middle of a flush', disk: { crash: 'random', dirCrash: 'random' }, midway: 'flushing' },
  { name: 'a crash in the middle of a compaction', disk: { crash: 'random', dirCrash: 'random' }, midway: 'compacting' },
  { name: 'a crash in the middle of a manifest update', disk: { crash: 'random', dirCrash: 'random' }, midway: 'writingManifest' },
];

/** Issues a write at the next index; returns whether the engine took it. */
function issue(h: Harness, log: CallerLog, rng: Rng): void {
  const index = log.last + 1;
  const ops = randomBatch(rng);
  log.entries.push({ index, ops });
  h.engine.writeApplied(index, ops, (err) => {
    if (err !== null && !(err instanceof EngineFailedError)) throw new Error(`write failed with ${err}`);
  });
}

/** Random writes, flushes and background work, then a crash; `cycles` times. */
function crashCycles(f: Fault, seed: number): number {
  const rng = new SeededRng(`applied-crash-${f.name}-${seed}`);
  const h = newHarness('lsm', `applied-crash-${f.name}-${seed}`, f.disk);
  const log = new CallerLog();
  let reached = 0;
  for (let cycle = 0; cycle < 4; cycle++) {
    h.env.disk.syncFailureProbability = f.syncFailureProbability ?? 0;
    const writes = rng.int(60);
    for (let i = 0; i < writes; i++) {
      issue(h, log, rng);
      if (rng.chance(0.05)) h.engine.flush(() => {});
      if (rng.chance(0.3)) h.env.run(rng.next() * 3);
      log.durable = Math.max(log.durable, h.engine.durableAppliedIndex());
    }
    if (f.midway !== undefined) {
      const lsm = h.engine as LsmEngine;
      for (let i = 0; i < 3000 && !lsm.backgroundWork()[f.midway]; i++) {
        if (rng.chance(0.5)) issue(h, log, rng);
        if (!step(h)) h.env.run(1);
        log.durable = Math.max(log.durable, h.engine.durableAppliedIndex());
      }
      if (lsm.backgroundWork()[f.midway]) reached++;
      for (let i = rng.int(12); i > 0 && lsm.backgroundWork()[f.midway]; i--) step(h);
    } else h.env.run(rng.next() * 5);
    log.durable = Math.max(log.durable, h.engine.durableAppliedIndex());
    h.env.disk.syncFailureProbability = 0;
    assert.is(h.crash(), null, `cycle ${cycle}: reopen failed`);
    checkRecovered(h, log, rng, `cycle ${cycle}`);
  }
  return reached;
}

const Crash = suite('applied-index mode: crashes under every disk fault');

for (const f of FAULTS) {
  Crash(`${f.name}: the durable state is the caller's state at the reported index`, () => {
    let reached = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
        reached += crashCycles(f, seed);
      }),
      { numRuns: LONG ? 400 : 40 },
    );
    if (f.midway !== undefined) assert.ok(reached >= 20, `the crash point was reached only ${reached} times`);
  });
}

Crash('a flipped bit is detected, or the state is still the caller\'s at the reported index', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
      const rng = new SeededRng(`applied-flip-${seed}`);
      const h = newHarness('lsm', `applied-flip-${seed}`, { crash: 'lose' });
      const log = new CallerLog();
      for (let i = 5 + rng.int(80); i > 0; i--) {
        issue(h, log, rng);
        if (rng.chance(0.1)) h.env.run(rng.int(20));
      }
      assert.is(h.flush(), null);
      h.env.run(200);
      log.durable = h.engine.durableAppliedIndex();
      h.env.crash();
      const flipped = h.env.disk.corrupt();
      const err = h.open();
      let outcome: string;
      if (err !== null) {
        assert.instance(err, StorageCorruptionError, `open failed with something else than corruption: ${String(err)}`);
        outcome = 'open-error';
      } else {
        try {
          const d = h.engine.durableAppliedIndex();
          const state = h.all();
          // A torn manifest tail may take back the last flush (reported), never give a state
          // that is not the caller's at the index reported.
          assert.equal(state, sorted(log.stateAt(d)), `after flipping bit ${flipped?.bit} of ${flipped?.path} at ${flipped?.offset}`);
          const lsm = h.engine as LsmEngine;
          if (d < log.durable) assert.ok(lsm.recovery.manifestDroppedTail !== null, 'an index taken back is reported');
          outcome = d < log.durable ? 'reported-loss' : 'intact';
        } catch (e) {
          if (!(e instanceof StorageCorruptionError)) throw e;
          outcome = 'read-error';
        }
      }
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
    }),
    { numRuns: LONG ? 2000 : 200 },
  );
  assert.ok((seen.get('open-error') ?? 0) + (seen.get('read-error') ?? 0) > 0, `some flips were caught by a checksum: ${JSON.stringify([...seen])}`);
});

Crash.run();

// ---- the mode itself ----

const Mode = suite('applied-index mode: rules');

Mode('writes of one mode are refused in the other, naming the method to use', () => {
  const a = newHarness('lsm', 'mode-a');
  assert.match(String(a.write([['k', 'v']])), /log mode "applied-index": write with writeApplied/);
  const w = new Harness('lsm', 'mode-w');
  const [err] = w.env.call<[Error | null]>((cb) => w.engine.writeApplied(1, [['k', 'v']], cb));
  assert.instance(err, InvalidWriteError);
  assert.match(String(err), /log mode "wal": write with write/);
  assert.is(w.engine.durableAppliedIndex(), 0);
});

Mode('bad indexes are refused: not an integer, not positive, not above the last', () => {
  const h = newHarness('lsm', 'mode-index');
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) assert.match(String(writeApplied(h, bad, [['k', 'v']])), /applied index must be a positive integer/);
  assert.is(writeApplied(h, 5, [['k', 'v']]), null);
  assert.match(String(writeApplied(h, 5, [['k', 'w']])), /applied index 5 is not above the last one written, 5/);
  assert.is(h.engine.get('k'), 'v');
});

Mode('a directory keeps its log mode: opening it in the other is refused, naming both', () => {
  const h = newHarness('lsm', 'mode-dir');
  assert.is(writeApplied(h, 1, [['k', 'v']]), null);
  assert.is(h.close(), null);
  const [err] = h.env.call<[Error | null]>((cb) => openEngine('lsm', h.env.deps, 'db', { ...SMALL }, cb));
  assert.instance(err, StorageOptionsError);
  assert.match(String(err), /written in log mode "applied-index": it cannot be opened in log mode "wal"/);
  const w = new Harness('lsm', 'mode-dir-wal');
  assert.is(w.write([['k', 'v']]), null);
  assert.is(w.close(), null);
  const [err2] = w.env.call<[Error | null]>((cb) => openEngine('lsm', w.env.deps, 'db', APPLIED, cb));
  assert.instance(err2, StorageOptionsError);
  assert.match(String(err2), /written in log mode "wal"/);
  const [err3] = w.env.call<[Error | null]>((cb) => openEngine('bitcask', w.env.deps, 'bc', { logMode: 'applied-index' }, cb));
  assert.match(String(err3), /bitcask keeps its data in its own log/);
  const [err4] = w.env.call<[Error | null]>((cb) => openEngine('lsm', w.env.deps, 'x', { logMode: 'none' as never }, cb));
  assert.match(String(err4), /logMode must be one of wal, applied-index/);
});

Mode('a flush called while writes wait behind a stall covers them too', () => {
  // Writes accepted but queued (memtable full, level 0 at its stop trigger): a flush that
  // answered without them left a Raft member's compaction (which syncs its store and expects
  // every apply handed to the engine to be durable) asking again in one call stack until it
  // overflowed (txn + rot on a tiny LSM).
  const h = newHarness('lsm', 'mode-flush-queued', {});
  let acked = 0;
  for (let i = 1; i <= 300; i++) h.engine.writeApplied(i, [[`k${String(i % 97).padStart(3, '0')}`, 'v'.repeat(40)]], (err) => err === null && acked++);
  assert.ok(acked < 300, `some writes wait (${acked} of 300 acknowledged at once)`);
  assert.ok(h.engine.appliedIndex() < 300, 'the admitted ones are fewer');
  const atCall = 300;
  let flushed: Error | null | undefined;
  h.engine.flush((err) => {
    flushed = err;
    if (err === null) assert.ok(h.engine.durableAppliedIndex() >= atCall, `flush done with durable applied index ${h.engine.durableAppliedIndex()} below ${atCall}, the last index accepted before its call`);
  });
  h.env.until(() => flushed !== undefined, 600_000);
  assert.is(flushed, null);
  assert.is(acked, 300);
});

Mode('overwrites of a few keys still move the durable index: the caller\'s replay stays bounded', () => {
  // A state machine rewrites its applied index and a few sessions on every entry: the memtable
  // never fills, but the log behind it grows, and only a flush lets the caller truncate it.
  const h = newHarness('lsm', 'mode-overwrite');
  const memtableBytes = SMALL.lsm?.memtableBytes as number;
  let index = 0;
  for (let i = 0; i < 400; i++) {
    assert.is(writeApplied(h, ++index, [['applied', String(index)], [`session${i % 3}`, 'x'.repeat(20)]]), null);
    if (i % 10 === 0) h.env.run(1);
  }
  h.env.run(200);
  const behind = index - h.engine.durableAppliedIndex();
  // Each write is about 40 bytes; the engine flushes after LOG_BYTES_PER_MEMTABLE memtables' worth.
  assert.ok(h.engine.durableAppliedIndex() > 0, 'flushed without being asked');
  assert.ok(behind * 40 <= 5 * memtableBytes, `the durable index trails by ${behind} writes`);
  assert.is(h.engine.stats().flushes > 0, true);
});

Mode('a flush with nothing in the memtable records an index that writes of no ops moved', () => {
  const h = newHarness('lsm', 'mode-noops');
  assert.is(writeApplied(h, 1, [['k', 'v']]), null);
  assert.is(h.flush(), null);
  assert.is(h.engine.durableAppliedIndex(), 1);
  assert.is(writeApplied(h, 2, []), null);
  assert.is(writeApplied(h, 3, []), null);
  assert.is(h.engine.durableAppliedIndex(), 1);
  assert.is(h.flush(), null);
  assert.is(h.engine.durableAppliedIndex(), 3);
  assert.is(h.crash(), null);
  assert.is(h.engine.durableAppliedIndex(), 3);
  assert.equal(h.all(), [['k', 'v']]);
});

Mode('no WAL is written: the bytes on disk are tables and the manifest', () => {
  const h = newHarness('lsm', 'mode-nowal');
  for (let i = 1; i <= 200; i++) assert.is(writeApplied(h, i, [[`k${i}`, 'v'.repeat(30)]]), null);
  assert.is(h.flush(), null);
  assert.ok(!h.env.disk.paths().some((p) => p.includes('/wal/')), `no WAL files: ${h.env.disk.paths().join(' ')}`);
  const s = h.engine.stats();
  assert.ok(s.flushes > 0 && s.diskBytesWritten > 0);
});

Mode.run();
