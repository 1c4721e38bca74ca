import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import { DiskError, type Disk } from '../../src/env/disk.js';
import { DEFAULT_DISK_OPTIONS, SimDisk, type SimDiskOptions } from '../../sim/disk.js';
import { Owner, Scheduler } from '../../sim/scheduler.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function setup(opts: Partial<SimDiskOptions> = {}, seed = 'disk') {
  const sched = new Scheduler();
  const disk = new SimDisk(sched, new SeededRng(seed), 'n1', { ...DEFAULT_DISK_OPTIONS, ...opts });
  let owner = new Owner('n1#1');
  let view: Disk = disk.view(owner);
  const settle = () => sched.runUntil(sched.nowNs + 1e9);
  const crash = () => {
    owner.alive = false;
    const report = disk.crash();
    owner = new Owner('n1#2');
    view = disk.view(owner);
    return report;
  };
  const syncFile = (path: string) => {
    let result: DiskError | null | undefined;
    view.open(path, 'write').sync((err) => (result = err));
    settle();
    return result;
  };
  const syncDir = (dir: string) => {
    let result: DiskError | null | undefined;
    view.syncDir(dir, (err) => (result = err));
    settle();
    return result;
  };
  return { sched, disk, get view() { return view; }, settle, crash, syncFile, syncDir };
}

const Disk_ = suite('sim disk');

Disk_('a write is visible at once and durable only after fsync and directory fsync', () => {
  const d = setup();
  d.view.open('a', 'create').append(enc('hello'));
  assert.is(dec(d.view.readFile('a')), 'hello');
  assert.is(d.syncFile('a'), null);
  assert.is(d.syncDir(''), null);
  d.view.open('a', 'write').append(enc(' world'));
  d.crash();
  assert.is(dec(d.view.readFile('a')), 'hello', 'the unsynced append is lost, the synced part stays');
});

Disk_('a file whose directory entry was never synced is gone after a crash', () => {
  const d = setup();
  d.view.open('wal', 'create').append(enc('x'));
  assert.is(d.syncFile('wal'), null);
  d.crash();
  assert.not.ok(d.view.exists('wal'));
});

Disk_('the sync covers only writes issued before it', () => {
  const d = setup();
  const f = d.view.open('a', 'create');
  d.syncDir('');
  f.append(enc('one'));
  let done = false;
  f.sync(() => (done = true));
  f.append(enc('two'));
  d.settle();
  assert.ok(done);
  d.crash();
  assert.is(dec(d.view.readFile('a')), 'one');
});

Disk_('torn mode keeps a prefix of the unsynced writes and part of the next one', () => {
  const seen = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const d = setup({ crash: 'torn' }, `torn${seed}`);
    const f = d.view.open('log', 'create');
    d.syncDir('');
    for (const w of ['aaaa', 'bbbb', 'cccc']) f.append(enc(w));
    d.crash();
    const after = dec(d.view.readFile('log'));
    assert.ok('aaaabbbbcccc'.startsWith(after), `torn content must be a prefix, got ${after}`);
    seen.add(after);
  }
  assert.ok([...seen].some((s) => s.length % 4 !== 0), 'some crash tears a write in the middle');
  assert.ok(seen.has(''), 'some crash loses everything');
});

Disk_('reorder mode can keep a later write without an earlier one', () => {
  let reordered = false;
  for (let seed = 0; seed < 40 && !reordered; seed++) {
    const d = setup({ crash: 'reorder' }, `re${seed}`);
    const f = d.view.open('log', 'create');
    d.syncDir('');
    f.writeAt(0, enc('A'));
    f.writeAt(1, enc('B'));
    d.crash();
    const after = d.view.readFile('log');
    if (after.length === 2 && after[0] === 0 && after[1] === 'B'.charCodeAt(0)) reordered = true;
  }
  assert.ok(reordered);
});

Disk_('a failed fsync reports EIO and its writes never become durable, though reads still see them', () => {
  const d = setup();
  d.view.open('a', 'create');
  d.syncDir('');
  d.view.open('a', 'write').append(enc('lost'));
  d.disk.syncFailuresPending = 1;
  const err = d.syncFile('a');
  assert.instance(err, DiskError);
  assert.is(err?.code, 'EIO');
  assert.is(dec(d.view.readFile('a')), 'lost');
  assert.is(d.syncFile('a'), null, 'the next fsync succeeds, reporting nothing');
  d.crash();
  assert.is(dec(d.view.readFile('a')), '');
});

Disk_('rename without a directory fsync may leave both names or neither', () => {
  const outcomes = new Set<string>();
  for (let seed = 0; seed < 60; seed++) {
    const d = setup({ dirCrash: 'random' }, `mv${seed}`);
    d.view.open('tmp', 'create').append(enc('v2'));
    d.syncFile('tmp');
    d.syncDir('');
    d.view.rename('tmp', 'CURRENT');
    d.crash();
    outcomes.add(`${d.view.exists('tmp')}/${d.view.exists('CURRENT')}`);
  }
  assert.ok(outcomes.has('true/true'), 'both names');
  assert.ok(outcomes.has('false/false'), 'neither name');
});

Disk_('rename followed by a directory fsync survives', () => {
  const d = setup({ dirCrash: 'random' });
  d.view.open('tmp', 'create').append(enc('v2'));
  d.syncFile('tmp');
  d.view.rename('tmp', 'CURRENT');
  d.syncDir('');
  d.crash();
  assert.is(dec(d.view.readFile('CURRENT')), 'v2');
  assert.not.ok(d.view.exists('tmp'));
});

Disk_('corruption flips exactly one stored bit', () => {
  const d = setup();
  d.view.open('a', 'create').append(enc('abcdefgh'));
  d.syncFile('a');
  d.syncDir('');
  const r = d.disk.corrupt();
  assert.ok(r !== null);
  const after = d.view.readFile('a');
  const orig = enc('abcdefgh');
  let diffBits = 0;
  for (let i = 0; i < orig.length; i++) diffBits += popcount((orig[i] as number) ^ (after[i] as number));
  assert.is(diffBits, 1);
  d.crash();
  assert.equal(d.view.readFile('a'), after, 'the flip is on the device, not just in the cache');
});

Disk_('corruption aimed at a kind of file hits only files of that kind', () => {
  const d = setup();
  for (const dir of ['kv', 'raft/wal', 'raft/snap', 'quarantine/1-engine/kv']) d.view.mkdir(dir);
  const files = { engine: 'kv/000001.sst', log: 'raft/wal/000001.log', snapshot: 'raft/snap/snap-1-1.snap', hardstate: 'raft/hardstate-a' } as const;
  for (const f of [...Object.values(files), 'quarantine/1-engine/kv/000001.sst']) {
    d.view.open(f, 'create').append(enc('abcdefgh'));
    d.syncFile(f);
  }
  for (const dir of ['kv', 'raft/wal', 'raft/snap', 'raft', 'quarantine/1-engine/kv']) d.syncDir(dir);
  for (const [kind, path] of Object.entries(files)) {
    for (let i = 0; i < 5; i++) assert.is(d.disk.corrupt(undefined, kind as keyof typeof files)?.path, path);
  }
  for (let i = 0; i < 20; i++) assert.not.ok(d.disk.corrupt(undefined, 'any')?.path.startsWith('quarantine/'), 'a quarantined file is not a kind');
  assert.is(d.disk.corrupt('raft/', 'engine'), null, 'path and kind both apply');
});

Disk_('rot is remembered until no name outside quarantine/ leads to it, or its byte is rewritten', () => {
  const d = setup();
  for (const dir of ['kv', 'snap', 'quarantine/1-engine']) d.view.mkdir(dir);
  for (const f of ['kv/000001.sst', 'snap/s.tmp']) {
    d.view.open(f, 'create').append(enc('abcdefgh'));
    d.syncFile(f);
  }
  for (const dir of ['kv', 'snap', 'quarantine/1-engine']) d.syncDir(dir);
  assert.equal(d.disk.rotFlipped(), []);
  assert.is(d.disk.corrupt('snap/')?.path, 'snap/s.tmp');
  assert.is(d.disk.corrupt('kv/')?.path, 'kv/000001.sst');
  assert.equal(d.disk.rotFlipped(), ['kv/000001.sst', 'snap/s.tmp']);
  // A temporary renamed into place keeps its rot under the new name, once the rename is durable.
  d.view.rename('snap/s.tmp', 'snap/s.snap');
  assert.equal(d.disk.rotFlipped(), ['kv/000001.sst', 'snap/s.tmp'], 'until the directory is synced, the old name is the durable one');
  d.syncDir('snap');
  assert.equal(d.disk.rotFlipped(), ['kv/000001.sst', 'snap/s.snap']);
  // Quarantined: not rot the node can read any more.
  d.view.rename('kv/000001.sst', 'quarantine/1-engine/000001.sst');
  d.syncDir('kv');
  d.syncDir('quarantine/1-engine');
  assert.equal(d.disk.rotFlipped(), ['snap/s.snap']);
  // Rewritten in place: the flipped bytes are gone.
  const f = d.view.open('snap/s.snap', 'truncate');
  f.append(enc('abcdefgh'));
  d.syncFile('snap/s.snap');
  assert.equal(d.disk.rotFlipped(), []);
});

Disk_('a full disk refuses writes with ENOSPC and frees space on remove', () => {
  const d = setup({ capacityBytes: 10 });
  const f = d.view.open('a', 'create');
  f.append(new Uint8Array(8));
  assert.throws(() => f.append(new Uint8Array(3)), (e: unknown) => e instanceof DiskError && e.code === 'ENOSPC');
  d.view.remove('a');
  d.view.open('b', 'create').append(new Uint8Array(10));
  assert.is(d.view.usage().usedBytes, 10);
});

Disk_('handles of a crashed incarnation stop working', () => {
  const d = setup();
  const f = d.view.open('a', 'create');
  d.crash();
  assert.throws(() => f.append(enc('x')), /EBADF/);
});

Disk_('paths are checked', () => {
  const d = setup();
  for (const bad of ['/abs', '../up', 'a//b', '']) {
    assert.throws(() => d.view.open(bad, 'create'), /EINVAL/);
  }
  assert.throws(() => d.view.open('nodir/x', 'create'), /ENOENT/);
  d.view.mkdir('wal/segments');
  d.view.open('wal/segments/000001.log', 'create');
  assert.equal(d.view.list('wal'), ['segments']);
  assert.equal(d.view.list('wal/segments'), ['000001.log']);
});

function popcount(n: number): number {
  let c = 0;
  for (; n; n &= n - 1) c++;
  return c;
}

Disk_.run();
