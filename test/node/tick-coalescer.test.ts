/**
 * Coalesced ticks (src/node/tick-coalescer.ts): many groups' one-tick timers cost one timer
 * event per tick, none fires early, a cancelled one never fires, other timers pass through.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock, Timer } from '../../src/env/clock.js';
import { TickCoalescer } from '../../src/node/tick-coalescer.js';

class ManualClock implements Clock {
  nowNs = 0;
  armed = 0;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private seq = 0;
  monotonicNs(): number {
    return this.nowNs;
  }
  monotonicMs(): number {
    return this.nowNs / 1e6;
  }
  wallMs(): number {
    return this.nowNs / 1e6;
  }
  timer(delayMs: number, fn: () => void): Timer {
    this.armed++;
    const t = { at: this.nowNs + Math.round(delayMs * 1e6), seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  defer(fn: () => void): void {
    this.timer(0, fn);
  }
  runUntil(endNs: number): void {
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= endNs).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.nowNs = due.at;
      due.cancelled = true;
      due.fn();
    }
    this.nowNs = endNs;
  }
}

test('G groups ticking every period cost one timer per tick, and each still ticks once a period', () => {
  const clock = new ManualClock();
  const c = new TickCoalescer(clock, 20);
  const ticks = new Array<number>(50).fill(0);
  for (let g = 0; g < 50; g++) {
    const groupClock = c.clockFor();
    clock.nowNs = g * 137_000; // groups start at different moments
    const tick = () => {
      ticks[g]!++;
      groupClock.timer(20, tick);
    };
    groupClock.timer(20, tick);
  }
  const armedBefore = clock.armed;
  clock.runUntil(1_000e6);
  // 1 s of 20 ms ticks: 49 or 50 each (the first waits for the next boundary), and one timer a tick.
  for (const n of ticks) assert.ok(n >= 49 && n <= 50, `ticks ${n}`);
  assert.ok(clock.armed - armedBefore <= 51, `${clock.armed - armedBefore} timers for 50 groups over 50 ticks`);
});

test('never early, in the order armed, and a cancelled tick never fires', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ atNs: fc.integer({ min: 0, max: 100e6 }), cancel: fc.boolean() }), { minLength: 1, maxLength: 30 }), (arms) => {
      const clock = new ManualClock();
      const c = new TickCoalescer(clock, 7);
      const fired: number[] = [];
      const sorted = [...arms].sort((a, b) => a.atNs - b.atNs);
      const armedAt: number[] = [];
      sorted.forEach((a, i) => {
        clock.runUntil(a.atNs);
        armedAt[i] = clock.nowNs;
        const t = c.clockFor().timer(7, () => {
          assert.ok(clock.nowNs >= armedAt[i]! + 7e6, `tick ${i} armed at ${armedAt[i]} fired at ${clock.nowNs}`);
          fired.push(i);
        });
        if (a.cancel) t.cancel();
      });
      clock.runUntil(200e6);
      assert.equal(fired, sorted.map((a, i) => (a.cancel ? -1 : i)).filter((i) => i >= 0));
    }),
  );
});

test('timers of other lengths are the clock\'s own', () => {
  const clock = new ManualClock();
  const c = new TickCoalescer(clock, 20);
  let at = -1;
  c.clockFor().timer(3, () => (at = clock.nowNs));
  clock.runUntil(100e6);
  assert.is(at, 3e6);
  assert.throws(() => new TickCoalescer(clock, 0), /positive/);
});

test.run();
