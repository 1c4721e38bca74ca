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
    const handle = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(handle) };
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }
}
