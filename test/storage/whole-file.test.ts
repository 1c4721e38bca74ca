import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import { writeWholeFile } from '../../src/storage/whole-file.js';
import { DEFAULT_DISK_OPTIONS, SimDisk } from '../../sim/disk.js';
import { Owner, Scheduler } from '../../sim/scheduler.js';

// writeWholeFile (src/storage/whole-file.ts): the Raft log's loss markers and hard-state copies.
const W = suite('writeWholeFile');

function world() {
  const sched = new Scheduler();
  const disk = new SimDisk(sched, new SeededRng('whole'), 'n1', DEFAULT_DISK_OPTIONS);
  let owner = new Owner('n1#1');
  const view = () => disk.view(owner);
  view().mkdir('d');
  sched.runUntil(sched.nowNs + 1e9);
  const write = (path: string, text: string, mode: 'always' | 'if-new' | 'never') => {
    const before = disk.stats.syncs;
    let result: Error | null | undefined;
    writeWholeFile(view(), path, new TextEncoder().encode(text), mode, (err) => (result = err));
    sched.runUntil(sched.nowNs + 1e9);
    assert.is(result, null);
    return disk.stats.syncs - before;
  };
  const crash = () => {
    owner.alive = false;
    disk.crash();
    owner = new Owner(`n1#${disk.stats.crashes + 1}`);
  };
  const read = (path: string) => (view().exists(path) ? new TextDecoder().decode(view().readFile(path)) : null);
  return { write, crash, read, view };
}

W('a new name: the file and its directory are synced, and both survive a power cut', () => {
  const w = world();
  assert.is(w.write('d/marker', 'first', 'if-new'), 2);
  w.crash();
  assert.is(w.read('d/marker'), 'first');
});

W('an existing name: if-new syncs the file alone, always its directory too; the new bytes replace the old whole', () => {
  const w = world();
  w.write('d/f', 'a longer first text', 'if-new');
  assert.is(w.write('d/f', 'second', 'if-new'), 1);
  assert.is(w.write('d/f', 'third', 'always'), 2);
  w.crash();
  assert.is(w.read('d/f'), 'third');
});

W('never: the directory is the caller\'s to sync (a new name is lost to a power cut until then)', () => {
  const w = world();
  assert.is(w.write('d/g', 'x', 'never'), 1);
  w.crash();
  assert.is(w.read('d/g'), null);
});

W.run();
