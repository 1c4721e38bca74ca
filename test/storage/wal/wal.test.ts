import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { StorageCorruptionError } from '../../../src/storage/errors.js';
import { FSYNC_ALWAYS, FSYNC_NEVER, type FsyncPolicy } from '../../../src/storage/fsync-policy.js';
import type { WalRecord, WalRecoveryReport } from '../../../src/storage/wal/recovery.js';
import { segmentName } from '../../../src/storage/wal/segments.js';
import { Wal, WAL_DEFAULTS, type WalOptions } from '../../../src/storage/wal/wal.js';
import { SimEnv } from '../sim-env.js';

const WalSuite = suite('wal');

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function options(over: Partial<WalOptions> = {}): WalOptions {
  return { dir: 'wal', fsync: FSYNC_ALWAYS, ...WAL_DEFAULTS, segmentBytesMax: 1024, blockBytes: 128, fromLsn: 1, ...over };
}

interface Opened {
  wal: Wal;
  records: { lsn: number; type: number; text: string }[];
  report: WalRecoveryReport;
}

function open(env: SimEnv, over: Partial<WalOptions> = {}): Opened {
  const records: Opened['records'] = [];
  const [err, wal, report] = env.call<[Error | null, Wal?, WalRecoveryReport?]>((cb) =>
    Wal.open(env.deps, options(over), (r: WalRecord) => records.push({ lsn: r.lsn, type: r.type, text: dec(r.data) }), cb),
  );
  if (err !== null) throw err;
  return { wal: wal as Wal, records, report: report as WalRecoveryReport };
}

function appendSync(env: SimEnv, wal: Wal, text: string, type = 1): number {
  const [err, lsn] = env.call<[Error | null, number]>((cb) => wal.append(type, enc(text), cb));
  assert.is(err, null);
  return lsn;
}

WalSuite('records come back in order with contiguous LSNs, across segments and restarts', () => {
  const env = new SimEnv('wal1');
  const a = open(env);
  const texts = Array.from({ length: 200 }, (_, i) => `record ${i} `.repeat(1 + (i % 7)));
  texts.forEach((t, i) => assert.is(appendSync(env, a.wal, t, i % 3), i + 1));
  assert.ok(a.wal.stats().segments > 3, 'small segments rotated');
  env.crash();
  const b = open(env);
  assert.equal(b.records.map((r) => r.text), texts);
  assert.equal(b.records.map((r) => r.lsn), texts.map((_, i) => i + 1));
  assert.equal(b.records.map((r) => r.type), texts.map((_, i) => i % 3));
  assert.is(b.report.droppedTail, null);
  assert.is(appendSync(env, b.wal, 'after restart'), 201);
});

WalSuite('group commit: writers arriving during an fsync share the next one', () => {
  const env = new SimEnv('wal2');
  const { wal } = open(env, { segmentBytesMax: 1 << 20 });
  const fsyncsBefore = wal.stats().fsyncs;
  const acked: number[] = [];
  for (let i = 0; i < 64; i++) wal.append(1, enc(`w${i}`), (err, lsn) => (assert.is(err, null), acked.push(lsn)));
  assert.is(acked.length, 0, 'nothing is acknowledged before an fsync completes');
  env.until(() => acked.length === 64);
  assert.equal(acked, Array.from({ length: 64 }, (_, i) => i + 1), 'acknowledged in LSN order');
  const fsyncs = wal.stats().fsyncs - fsyncsBefore;
  assert.ok(fsyncs <= 2, `64 writers took ${fsyncs} fsyncs`);
});

WalSuite('under always, every acknowledged record survives a crash in any mode', () => {
  for (const crash of ['lose', 'torn', 'reorder'] as const) {
    for (let seed = 0; seed < 10; seed++) {
      const env = new SimEnv(`wal3-${crash}-${seed}`, { crash });
      const { wal } = open(env);
      const acked: number[] = [];
      for (let i = 0; i < 40; i++) wal.append(1, enc(`r${i}-`.repeat(i % 9)), (err, lsn) => err === null && acked.push(lsn));
      env.run(0.5 + seed * 0.3);
      env.crash();
      const b = open(env);
      const got = b.records.map((r) => r.lsn);
      assert.equal(got, got.map((_, i) => i + 1), 'a prefix');
      for (const l of acked) assert.ok(got.includes(l), `${crash}/${seed}: acknowledged ${l} lost`);
    }
  }
});

WalSuite('a torn tail is cut off and reported; appends continue after it', () => {
  let torn = false;
  for (let seed = 0; seed < 30 && !torn; seed++) {
    const e = new SimEnv(`wal4-${seed}`, { crash: 'torn' });
    const { wal } = open(e, { fsync: FSYNC_NEVER });
    for (let i = 0; i < 20; i++) wal.append(1, enc(`x${i}`.repeat(10)));
    e.run(1);
    e.crash();
    const b = open(e, { fsync: FSYNC_NEVER });
    if (b.report.droppedTail !== null) {
      torn = true;
      assert.ok(e.logs.some((l) => l.event === 'storage.wal.tail_dropped'), 'logged as a warning');
      const next = b.wal.nextLsn();
      appendSync(e, b.wal, 'after');
      e.call<[Error | null]>((cb) => b.wal.sync(cb));
      e.crash();
      const c = open(e, { fsync: FSYNC_NEVER });
      assert.is(c.report.droppedTail, null, 'the tail was cut off durably');
      assert.is(c.records[c.records.length - 1]?.lsn, next);
    }
  }
  assert.ok(torn, 'some seed tore the tail');
});

WalSuite('a flipped bit in a sealed segment is an error naming the file and offset', () => {
  const env = new SimEnv('wal5');
  const { wal } = open(env);
  for (let i = 0; i < 100; i++) appendSync(env, wal, `payload ${i} `.repeat(4));
  const first = `wal/${segmentName(1)}`;
  env.disk.corrupt(first);
  env.crash();
  const records: WalRecord[] = [];
  const [err] = env.call<[Error | null]>((cb) => Wal.open(env.deps, options(), (r) => records.push(r), cb));
  assert.instance(err, StorageCorruptionError);
  const c = err as StorageCorruptionError;
  assert.is(c.path, first);
  assert.ok(c.offset >= 0 && c.offset < 1024);
  assert.match(c.message, /corruption in wal\/0+1\.wal at offset \d+/);
});

WalSuite('a flipped bit in the middle of the last segment is an error, not a dropped tail', () => {
  const env = new SimEnv('wal6');
  const { wal } = open(env, { segmentBytesMax: 1 << 20 });
  for (let i = 0; i < 50; i++) appendSync(env, wal, `payload ${i} `.repeat(4));
  const path = `wal/${segmentName(1)}`;
  // Flip a bit in the first block: valid blocks follow it.
  const view = env.deps.disk.open(path, 'write');
  const b = view.read(10, 1);
  view.writeAt(10, new Uint8Array([(b[0] as number) ^ 1]));
  env.call<[Error | null]>((cb) => view.sync(cb));
  env.crash();
  const [err] = env.call<[Error | null]>((cb) => Wal.open(env.deps, options({ segmentBytesMax: 1 << 20 }), () => {}, cb));
  assert.instance(err, StorageCorruptionError);
  assert.match((err as Error).message, /valid records after it/);
});

WalSuite('a garbled last record with nothing valid after it is a torn tail: dropped, not corruption', () => {
  // A crash mid-write can leave the last record's bytes half old, half new: its checksum fails,
  // and no valid record follows. That is a torn write (LevelDB's log reader drops it too), not a
  // failing disk; refusing to start on it would keep a node down after every power cut.
  const env = new SimEnv('wal6b');
  const { wal } = open(env, { segmentBytesMax: 1 << 20 });
  for (let i = 0; i < 50; i++) appendSync(env, wal, `payload ${i} `.repeat(4));
  const path = `wal/${segmentName(1)}`;
  const view = env.deps.disk.open(path, 'write');
  const at = view.size() - 3; // inside the last record's payload
  const b = view.read(at, 1);
  view.writeAt(at, new Uint8Array([(b[0] as number) ^ 0x5a]));
  env.call<[Error | null]>((cb) => view.sync(cb));
  env.crash();
  const reopened = open(env, { segmentBytesMax: 1 << 20 });
  assert.is(reopened.records.length, 49, 'every record before the garbled one');
  assert.ok(reopened.report.droppedTail !== null, 'reported as a dropped tail');
  assert.is(appendSync(env, reopened.wal, 'after'), 50, 'appends continue where the torn record was');
});

WalSuite('a failed fsync fails every waiting writer and every later one', () => {
  const env = new SimEnv('wal7');
  const { wal } = open(env);
  appendSync(env, wal, 'ok');
  env.disk.syncFailuresPending = 1;
  const results: (Error | null)[] = [];
  for (let i = 0; i < 5; i++) wal.append(1, enc(`w${i}`), (err) => results.push(err));
  env.until(() => results.length === 5);
  assert.ok(results.every((e) => e !== null && /EIO/.test(e.message)), 'all waiting writers failed');
  const [later] = env.call<[Error | null, number]>((cb) => wal.append(1, enc('later'), cb));
  assert.ok(later !== null && /EIO/.test(later.message), 'later writes fail too');
  env.crash();
  const b = open(env);
  assert.equal(b.records.map((r) => r.text), ['ok'], 'what failed never became durable');
});

WalSuite('records a failed fsync left in the page cache are made durable by the next start', () => {
  // Found by scenarios/raft/disk-faults.yaml (seed 27): a follower whose log fsync failed exited,
  // restarted reading its log from the page cache, acknowledged entries on top, and a power loss
  // later took the unsynced ones back and cut the log short behind the acknowledged ones.
  const env = new SimEnv('wal-fsyncgate', { crash: 'lose' });
  const a = open(env);
  appendSync(env, a.wal, 'durable');
  env.disk.syncFailuresPending = 1;
  const [failed] = env.call<[Error | null, number]>((cb) => a.wal.append(1, enc('in the cache only'), cb));
  assert.ok(failed !== null && /EIO/.test(failed.message));
  env.exitProcess();
  const b = open(env);
  assert.equal(b.records.map((r) => r.text), ['durable', 'in the cache only'], 'the restarted process reads it back');
  appendSync(env, b.wal, 'acknowledged after the restart');
  env.crash();
  const c = open(env);
  assert.equal(c.records.map((r) => r.text), ['durable', 'in the cache only', 'acknowledged after the restart']);
  assert.is(c.report.droppedTail, null);
});

WalSuite('a segment whose name a failed directory fsync dropped gets a new one at the next start', () => {
  // Found by scenarios/raft/rot-bitcask.yaml (seed 114): a rotation created the next segment, the
  // directory fsync that should have made its name durable failed, and the node exited. The next
  // start resumed in that empty segment, whose name the disk would never write back, acknowledged
  // entries into it, and a power loss took the whole segment with them.
  const env = new SimEnv('wal-dir-fsyncgate', { crash: 'lose', dirCrash: 'lose' });
  const a = open(env);
  appendSync(env, a.wal, 'durable');
  // What rotate() leaves when its directory fsync fails: an empty next segment, in the cache only.
  env.deps.disk.open(`wal/${segmentName(2)}`, 'create-new').close();
  env.disk.syncFailuresPending = 1;
  const [dirErr] = env.call<[Error | null]>((cb) => env.deps.disk.syncDir('wal', cb));
  assert.ok(dirErr !== null && /EIO/.test(dirErr.message));
  env.exitProcess();
  const b = open(env);
  assert.equal(b.wal.segmentFirstLsns(), [1, 2], 'appends resume in the empty segment');
  appendSync(env, b.wal, 'acknowledged after the restart');
  env.crash();
  const c = open(env);
  assert.equal(c.records.map((r) => r.text), ['durable', 'acknowledged after the restart']);
});

WalSuite('fsync never acknowledges at once and loses at most unsynced records', () => {
  const env = new SimEnv('wal8');
  const { wal } = open(env, { fsync: FSYNC_NEVER });
  let acked = 0;
  for (let i = 0; i < 10; i++) wal.append(1, enc(`n${i}`), () => acked++);
  assert.is(acked, 10, 'acknowledged synchronously');
  const [err] = env.call<[Error | null]>((cb) => wal.sync(cb));
  assert.is(err, null);
  wal.append(1, enc('unsynced'));
  env.run(1);
  env.crash();
  const b = open(env, { fsync: FSYNC_NEVER });
  assert.equal(b.records.map((r) => r.text), Array.from({ length: 10 }, (_, i) => `n${i}`));
});

WalSuite('fsync interval makes records durable within the interval', () => {
  const env = new SimEnv('wal9');
  const policy: FsyncPolicy = { kind: 'interval', intervalMs: 5 };
  const { wal } = open(env, { fsync: policy });
  wal.append(1, enc('a'));
  wal.append(1, enc('b'));
  env.run(5 + 3); // the interval plus the longest simulated fsync
  env.crash();
  const b = open(env, { fsync: policy });
  assert.equal(b.records.map((r) => r.text), ['a', 'b']);
});

WalSuite('truncatePrefix removes covered segments; recovery from the checkpoint delivers the rest', () => {
  const env = new SimEnv('wal10');
  const { wal } = open(env);
  for (let i = 0; i < 120; i++) appendSync(env, wal, `t${i} `.repeat(5));
  const before = wal.stats().segments;
  const [err] = env.call<[Error | null]>((cb) => wal.truncatePrefix(60, cb));
  assert.is(err, null);
  const after = wal.stats().segments;
  assert.ok(after < before, `segments ${before} -> ${after}`);
  env.crash();
  const b = open(env, { fromLsn: 61 });
  assert.equal(b.records.map((r) => r.lsn), Array.from({ length: 60 }, (_, i) => 61 + i));
});

WalSuite('segments left behind by an interrupted truncation are stale, not corruption', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
      const env = new SimEnv(`wal11-${seed}`, { dirCrash: 'random' });
      const { wal } = open(env);
      for (let i = 0; i < 120; i++) appendSync(env, wal, `t${i} `.repeat(5));
      wal.truncatePrefix(100, () => {});
      env.run(seed % 3); // maybe before, maybe after the directory fsync
      env.crash();
      const b = open(env, { fromLsn: 101 });
      assert.equal(b.records.map((r) => r.lsn), Array.from({ length: 20 }, (_, i) => 101 + i));
      const c = open(env, { fromLsn: null });
      assert.ok(c.records.length >= 20);
      assert.is(c.records[c.records.length - 1]?.lsn, 120);
    }),
    { numRuns: 20 },
  );
});

WalSuite('a truncation interrupted at any moment leaves the segments contiguous: nothing stale in front of a gap', () => {
  // Removed in one batch under one directory fsync, a crash could keep any subset of the removals
  // (dirCrash random): an old segment then stood in front of a gap, and a rot in it read as
  // corruption of the live log, whose cut quarantined everything after it (the live log itself).
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 40 }), (seed, ms) => {
      const env = new SimEnv(`wal11b-${seed}`, { dirCrash: 'random' });
      const { wal } = open(env);
      for (let i = 0; i < 120; i++) appendSync(env, wal, `t${i} `.repeat(5));
      const segments = wal.stats().segments;
      wal.truncatePrefix(100, () => {});
      env.run(ms);
      env.crash();
      const c = open(env, { fromLsn: null });
      assert.equal(c.report.staleSegments, [], `seed ${seed}, crash after ${ms} ms: stale ${c.report.staleSegments.join(', ')}`);
      const lsns = c.records.map((r) => r.lsn);
      assert.equal(lsns, Array.from({ length: lsns.length }, (_, i) => (lsns[0] as number) + i), 'contiguous');
      assert.is(lsns[lsns.length - 1], 120);
      assert.ok(c.report.segments.length <= segments, 'no segment came back');
    }),
    { numRuns: 40 },
  );
});

WalSuite('a truncation asked for from another\'s callback waits its turn: still one removal per fsync', () => {
  // A done that called truncatePrefix again started a second runner beside the first, and two
  // removals could share one directory fsync (found in review).
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 40 }), (seed, ms) => {
      const env = new SimEnv(`wal11d-${seed}`, { dirCrash: 'random' });
      const { wal } = open(env);
      for (let i = 0; i < 120; i++) appendSync(env, wal, `t${i} `.repeat(5));
      const answered: string[] = [];
      wal.truncatePrefix(50, (e1) => {
        answered.push(`50:${e1 === null}`);
        wal.truncatePrefix(100, (e2) => answered.push(`100:${e2 === null}`));
      });
      env.run(ms);
      env.crash();
      assert.ok(answered.length <= 2 && (answered.length === 0 || answered[0] === '50:true'), answered.join(' '));
      const c = open(env, { fromLsn: null });
      assert.equal(c.report.staleSegments, [], `seed ${seed}, crash after ${ms} ms`);
      assert.is(c.records[c.records.length - 1]?.lsn, 120);
    }),
    { numRuns: 40 },
  );
});

WalSuite('a Wal closed while a truncation runs ends it with an error, once, and touches the closed log no more', () => {
  const env = new SimEnv('wal11c');
  const { wal } = open(env);
  for (let i = 0; i < 120; i++) appendSync(env, wal, `t${i} `.repeat(5));
  const got: (Error | null)[] = [];
  wal.truncatePrefix(100, (err) => got.push(err));
  wal.truncatePrefix(110, (err) => got.push(err));
  let closed: Error | null | undefined;
  wal.close((err) => (closed = err));
  env.run(100);
  assert.is(closed, null);
  assert.is(got.length, 2, 'each call answered once');
  assert.match(String(got[0]?.message), /closed before its truncation through 100 was done/);
  assert.match(String(got[1]?.message), /closed before its truncation through 110 was done/);
  const b = open(env, { fromLsn: 101 });
  assert.equal(b.records.map((r) => r.lsn), Array.from({ length: 20 }, (_, i) => 101 + i));
});

WalSuite('a log that starts after the owner checkpoint is missing records: an error', () => {
  const env = new SimEnv('wal12');
  const { wal } = open(env);
  for (let i = 0; i < 120; i++) appendSync(env, wal, `t${i} `.repeat(5));
  env.call<[Error | null]>((cb) => wal.truncatePrefix(100, cb));
  env.crash();
  const [err] = env.call<[Error | null]>((cb) => Wal.open(env.deps, options({ fromLsn: 50 }), () => {}, cb));
  assert.instance(err, StorageCorruptionError);
  assert.match((err as Error).message, /log records 50\.\.\d+ are missing/);
});

WalSuite('an owner checkpoint past the log (unsynced records lost) starts a new segment there', () => {
  const env = new SimEnv('wal13');
  const { wal } = open(env, { fsync: FSYNC_NEVER });
  for (let i = 0; i < 10; i++) wal.append(1, enc(`x${i}`));
  env.call<[Error | null]>((cb) => wal.sync(cb));
  for (let i = 10; i < 20; i++) wal.append(1, enc(`x${i}`));
  env.crash(); // records 11..20 lost; suppose the owner had checkpointed through 20
  const b = open(env, { fsync: FSYNC_NEVER, fromLsn: 21 });
  assert.is(b.records.length, 0);
  assert.is(b.wal.nextLsn(), 21, 'LSNs never go back below the checkpoint');
  appendSync(env, b.wal, 'y');
  env.call<[Error | null]>((cb) => b.wal.sync(cb));
  env.crash();
  const c = open(env, { fsync: FSYNC_NEVER, fromLsn: 21 });
  assert.equal(c.records.map((r) => [r.lsn, r.text]), [[21, 'y']]);
});

WalSuite('read() returns records from an LSN, for shipping to a follower', () => {
  const env = new SimEnv('wal14');
  const { wal } = open(env, { fsync: FSYNC_NEVER });
  for (let i = 0; i < 80; i++) wal.append(1, enc(`s${i}`));
  const got: number[] = [];
  const n = wal.read(37, 10, (r) => got.push(r.lsn));
  assert.is(n, 10);
  assert.equal(got, Array.from({ length: 10 }, (_, i) => 37 + i));
});

WalSuite.run();
