import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Owner, Scheduler } from '../../sim/scheduler.js';

test('events run in (time, sequence) order', () => {
  const s = new Scheduler();
  const seen: string[] = [];
  s.at(30, 'c', () => seen.push('c'));
  s.at(10, 'a', () => seen.push('a'));
  s.at(10, 'b', () => seen.push('b'));
  s.at(20, 'x', () => s.after(0, 'y', () => seen.push('y')));
  s.runUntil(100);
  assert.equal(seen, ['a', 'b', 'y', 'c']);
  assert.is(s.nowNs, 100);
});

test('many events come out sorted (heap invariant)', () => {
  const s = new Scheduler();
  const times: number[] = [];
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const t = x % 100000;
    s.at(t, 'e', () => times.push(t));
  }
  s.runUntil(1e9);
  assert.is(times.length, 5000);
  for (let i = 1; i < times.length; i++) assert.ok((times[i - 1] as number) <= (times[i] as number));
});

test('a cancelled event does not run', () => {
  const s = new Scheduler();
  let ran = false;
  s.at(5, 'e', () => (ran = true)).cancel();
  s.runUntil(10);
  assert.not.ok(ran);
  assert.is(s.eventsRun, 0);
});

test('events of a dead owner are dropped', () => {
  const s = new Scheduler();
  const owner = new Owner('n1#1');
  let ran = false;
  s.at(5, 'e', () => (ran = true), owner);
  owner.alive = false;
  s.runUntil(10);
  assert.not.ok(ran);
});

test('events of a paused owner wait, then run in their order when it resumes', () => {
  const s = new Scheduler();
  const owner = new Owner('n1#1');
  const seen: [string, number][] = [];
  s.at(5, 'a', () => seen.push(['a', s.nowNs]), owner);
  s.at(7, 'b', () => seen.push(['b', s.nowNs]), owner);
  s.at(6, 'other', () => seen.push(['other', s.nowNs]));
  owner.paused = true;
  s.runUntil(50);
  assert.equal(seen, [['other', 6]]);
  s.resume(owner);
  s.runUntil(60);
  assert.equal(seen, [['other', 6], ['a', 50], ['b', 50]]);
});

test('a handle cancels an event even after it was held back by a pause', () => {
  const s = new Scheduler();
  const owner = new Owner('n1#1');
  let ran = false;
  const h = s.at(5, 'a', () => (ran = true), owner);
  owner.paused = true;
  s.runUntil(10);
  s.resume(owner);
  h.cancel();
  s.runUntil(20);
  assert.not.ok(ran);
});

test('scheduling in the past is refused', () => {
  const s = new Scheduler();
  s.runUntil(100);
  assert.throws(() => s.at(50, 'late', () => {}), /before now/);
  assert.throws(() => s.after(-1, 'neg', () => {}), /negative/);
});

test('stop() ends runUntil after the current event', () => {
  const s = new Scheduler();
  let later = false;
  s.at(1, 'stop', () => s.stop());
  s.at(2, 'later', () => (later = true));
  s.runUntil(100);
  assert.not.ok(later);
  assert.is(s.nowNs, 1);
  s.runUntil(100);
  assert.ok(later);
});

test.run();
