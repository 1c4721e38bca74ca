import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ENGINE_KINDS, type EngineKind, type Snapshot, type WriteOp } from '../../src/storage/engine.js';
import { applyOps, DURABLE, Harness, matchPrefix, modelScan, sorted } from './harness.js';

// The Engine contract, checked the same way for every engine: random commands against a model
// (an in-memory sorted map), with crashes and restarts at random points on the simulated disk.
// KV_LAB_LONG=1 runs ten times as many sequences.

const RUNS = process.env.KV_LAB_LONG === '1' ? 3000 : 300;

// Keys from an alphabet that exercises code-point order: U+E000 sorts before U+10000 although its
// UTF-16 code unit is larger than the surrogate's.
const key = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'é', '\ue000', '\u{10000}', '\x00'), maxLength: 3 });
const value = fc.oneof(
  { weight: 8, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 80, maxLength: 300 }) },
);
const op: fc.Arbitrary<WriteOp> = fc.tuple(key, fc.oneof({ weight: 3, arbitrary: value }, { weight: 1, arbitrary: fc.constant(null) }));
const batch = fc.array(op, { minLength: 1, maxLength: 6 });

interface Model {
  data: Map<string, string>;
  snaps: { snap: Snapshot; data: Map<string, string> }[];
}

interface Real {
  h: Harness;
}

type Cmd = fc.Command<Model, Real>;

class WriteCmd implements Cmd {
  constructor(readonly ops: WriteOp[]) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    assert.is(r.h.write(this.ops), null);
    applyOps(m.data, this.ops);
  }
  toString(): string {
    return `write ${JSON.stringify(this.ops)}`;
  }
}

class GetCmd implements Cmd {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    assert.is(r.h.engine.get(this.key), m.data.get(this.key), `get ${JSON.stringify(this.key)}`);
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
    assert.equal(r.h.engine.scan(this.start, this.end, this.limit, this.reverse), modelScan(m.data, this.start, this.end, this.limit, this.reverse), this.toString());
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
    m.snaps.push({ snap: r.h.engine.snapshot(), data: new Map(m.data) });
  }
  toString(): string {
    return 'snapshot';
  }
}

class SnapshotReadCmd implements Cmd {
  constructor(
    readonly which: number,
    readonly key: string,
    readonly release: boolean,
  ) {}
  check(m: Model): boolean {
    return m.snaps.length > 0;
  }
  run(m: Model): void {
    const i = this.which % m.snaps.length;
    const s = m.snaps[i] as Model['snaps'][number];
    assert.is(s.snap.get(this.key), s.data.get(this.key), 'snapshot get');
    assert.equal(s.snap.scan('', null, 1000, false), sorted(s.data), 'a snapshot sees what it saw when taken');
    if (this.release) {
      s.snap.release();
      m.snaps.splice(i, 1);
    }
  }
  toString(): string {
    return `snapshot-read ${this.which} ${JSON.stringify(this.key)}${this.release ? ' and release' : ''}`;
  }
}

class FlushCmd implements Cmd {
  check(): boolean {
    return true;
  }
  run(_m: Model, r: Real): void {
    assert.is(r.h.flush(), null);
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
  run(_m: Model, r: Real): void {
    r.h.env.run(this.ms);
  }
  toString(): string {
    return `idle ${this.ms}ms`;
  }
}

/** Writes in flight, a crash after ms of virtual time, restart. */
class CrashCmd implements Cmd {
  constructor(
    readonly batches: WriteOp[][],
    readonly ms: number,
  ) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const acked: boolean[] = [];
    this.batches.forEach((b, i) => r.h.engine.write(b, (err) => (acked[i] = err === null)));
    r.h.env.run(this.ms);
    const mustInclude = acked.lastIndexOf(true) + 1;
    m.snaps = [];
    const err = r.h.crash();
    assert.is(err, null, `reopen after a crash: ${String(err)}`);
    if (!DURABLE.includes(r.h.kind)) {
      m.data = new Map();
      assert.equal(r.h.all(), []);
      return;
    }
    const state = matchPrefix(m.data, this.batches, mustInclude, r.h.all());
    assert.ok(state !== null, `after the crash the state is no prefix of the writes including the ${mustInclude} acknowledged`);
    m.data = state;
  }
  toString(): string {
    return `crash after ${this.ms}ms with ${JSON.stringify(this.batches)} in flight`;
  }
}

class RestartCmd implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    for (const s of m.snaps) s.snap.release();
    m.snaps = [];
    assert.is(r.h.close(), null);
    assert.is(r.h.open(), null);
    if (!DURABLE.includes(r.h.kind)) m.data = new Map();
  }
  toString(): string {
    return 'close and reopen';
  }
}

const commands = [
  batch.map((ops) => new WriteCmd(ops)),
  batch.map((ops) => new WriteCmd(ops)),
  batch.map((ops) => new WriteCmd(ops)),
  key.map((k) => new GetCmd(k)),
  fc.tuple(key, fc.option(key, { nil: null }), fc.nat(12), fc.boolean()).map(([s, e, l, rev]) => new ScanCmd(s, e, l, rev)),
  fc.constant(new SnapshotCmd()),
  fc.tuple(fc.nat(), key, fc.boolean()).map(([w, k, rel]) => new SnapshotReadCmd(w, k, rel)),
  fc.constant(new FlushCmd()),
  fc.integer({ min: 0, max: 20 }).map((ms) => new IdleCmd(ms)),
  fc.tuple(fc.array(batch, { maxLength: 4 }), fc.integer({ min: 0, max: 4 })).map(([b, ms]) => new CrashCmd(b, ms)),
  fc.constant(new RestartCmd()),
];

const Contract = suite('engine contract');

for (const kind of ENGINE_KINDS) {
  Contract(`${kind}: matches a sorted map through writes, reads, scans, snapshots, flushes, crashes and restarts`, () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), fc.integer({ min: 0, max: 1e9 }), (cmds, seed) => {
        const h = new Harness(kind as EngineKind, `contract-${kind}-${seed}`, { crash: 'random', dirCrash: 'random' });
        try {
          fc.modelRun(() => ({ model: { data: new Map(), snaps: [] }, real: { h } }), cmds);
        } catch (err) {
          if (process.env.KV_LAB_DEBUG) console.error(String(err), (err as Error).stack);
          throw err;
        }
        assert.equal(h.all(), sorted(new Map(h.all())), 'a full scan is ordered');
      }),
      { numRuns: RUNS, ...(process.env.KV_LAB_REPLAY ? JSON.parse(process.env.KV_LAB_REPLAY) : {}) },
    );
  });
}

Contract('scans order by code point (UTF-8 bytes), not UTF-16 code units', () => {
  for (const kind of ENGINE_KINDS) {
    const h = new Harness(kind, `order-${kind}`);
    assert.is(h.write([['\u{10000}', 'astral'], ['\uffff', 'bmp'], ['z', 'ascii']]), null);
    assert.is(h.flush(), null);
    assert.equal(h.all().map(([k]) => k), ['z', '\uffff', '\u{10000}'], kind);
  }
});

Contract('bad writes are refused with a message naming the op', () => {
  for (const kind of ENGINE_KINDS) {
    const h = new Harness(kind, `bad-${kind}`);
    const err = h.write([['ok', 'v'], ['\ud800', 'lone surrogate']]);
    assert.match(String(err), /op 1: key is not well-formed UTF-16/);
    assert.is(h.engine.get('ok'), undefined, 'a refused batch changes nothing');
  }
});

Contract.run();
