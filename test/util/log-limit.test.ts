import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock, Timer } from '../../src/env/clock.js';
import type { LogFields, LogLevel } from '../../src/env/log.js';
import { RateLimitedLogger } from '../../src/util/log-limit.js';

// A flood of one event costs at most `burst` lines per window plus one line counting the rest;
// other events are not held back by it.

class ManualClock implements Clock {
  nowMs = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  monotonicNs(): number {
    return this.nowMs * 1e6;
  }
  monotonicMs(): number {
    return this.nowMs;
  }
  wallMs(): number {
    return this.nowMs;
  }
  timer(delayMs: number, fn: () => void): Timer {
    const t = { at: this.nowMs + delayMs, fn, live: true };
    this.timers.push(t);
    return { cancel: () => (t.live = false) };
  }
  defer(fn: () => void): void {
    this.timer(0, fn);
  }
  advance(ms: number): void {
    this.nowMs += ms;
    for (const t of this.timers.splice(0)) {
      if (t.live && t.at <= this.nowMs) t.fn();
      else if (t.live) this.timers.push(t);
    }
  }
}

test('a flood of one event: burst lines, then one count of what was dropped', () => {
  const clock = new ManualClock();
  const lines: { level: LogLevel; event: string; fields?: LogFields }[] = [];
  const log = new RateLimitedLogger({ log: (level, event, fields) => lines.push({ level, event, ...(fields ? { fields } : {}) }) }, clock, { burst: 3, windowMs: 1000, eventsMax: 10 });
  for (let i = 0; i < 100; i++) log.log('warn', 'line.denied', { i });
  log.log('info', 'other', {});
  assert.is(lines.filter((l) => l.event === 'line.denied').length, 3);
  assert.is(lines.filter((l) => l.event === 'other').length, 1, 'other events pass');
  clock.advance(1000);
  const summary = lines.find((l) => l.event === 'log.suppressed');
  assert.equal(summary?.fields, { suppressedEvent: 'line.denied', lines: 97, windowMs: 1000 });
  assert.is(summary?.level, 'warn');
  for (let i = 0; i < 5; i++) log.log('warn', 'line.denied', { i });
  assert.is(lines.filter((l) => l.event === 'line.denied').length, 6, 'a new window, a new burst');
  log.close();
});

test('events beyond the tracked bound pass unlimited (never silently lost)', () => {
  const clock = new ManualClock();
  let n = 0;
  const log = new RateLimitedLogger({ log: () => n++ }, clock, { burst: 1, windowMs: 1000, eventsMax: 2 });
  for (let e = 0; e < 5; e++) for (let i = 0; i < 3; i++) log.log('info', `e${e}`);
  assert.is(n, 1 + 1 + 3 * 3);
  log.close();
});

test.run();
