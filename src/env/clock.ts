/**
 * The Clock seam: every notion of time a node has comes from here, so the simulator can own it.
 *
 * Two clocks, as on a real machine:
 * - monotonic time only ever moves forward; use it for timeouts, leases and ordering local events;
 * - wall time is what an operator would read on the machine; it may be skewed, may drift and may
 *   jump, so it must never decide correctness.
 */
export interface Timer {
  /** Cancelling an already fired or cancelled timer is a no-op. */
  cancel(): void;
}

export interface Clock {
  /** Monotonic nanoseconds since an arbitrary origin (an integer; never decreases). */
  monotonicNs(): number;
  /** Monotonic milliseconds, a convenience view of monotonicNs(). */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the Unix epoch, as this machine believes it to be. */
  wallMs(): number;
  /**
   * Calls fn once, after at least delayMs of this machine's monotonic time.
   * REQUIRES: delayMs >= 0 and finite.
   */
  timer(delayMs: number, fn: () => void): Timer;
  /**
   * Calls fn soon, after the work already queued at this moment (real: the event loop's check
   * phase, not a 1 ms timer; simulated: an event at the current time). For coalescing many inputs
   * into one batch.
   */
  defer(fn: () => void): void;
}
