import type { Clock, Timer } from '../clock.js';

/** The Clock seam on the real machine: process.hrtime for monotonic time, Date for wall time. */
export class RealClock implements Clock {
  monotonicNs(): number {
    return Number(process.hrtime.bigint());
  }

  monotonicMs(): number {
    return Number(process.hrtime.bigint()) / 1e6;
  }

  wallMs(): number {
    return Date.now();
  }

  timer(delayMs: number, fn: () => void): Timer {
    // Node clamps setTimeout(fn, 0) to a millisecond; a zero delay means "next turn", so it must
    // not cost one (group commit and background steps are paced by it).
    if (delayMs <= 0) {
      let cancelled = false;
      setImmediate(() => cancelled || fn());
      return { cancel: () => (cancelled = true) };
    }
    const handle = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(handle) };
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }
}
