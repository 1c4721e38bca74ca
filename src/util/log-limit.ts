import type { Clock, Timer } from '../env/clock.js';
import type { Logger, LogFields, LogLevel } from '../env/log.js';
import { assert } from './assert.js';

/**
 * A Logger that lets through at most `burst` lines of one event per `windowMs`, and then, once the
 * window ends, one `log.suppressed` line saying how many of that event it dropped. Without it
 * anyone who can reach a port decides how much a node writes: a 6-byte unauthenticated `GET k`
 * wrote a 358-byte `line.denied` line, so a client could fill the disk at 60× its own bandwidth.
 * With it the cost of a flood is bounded by burst lines per event per window, whatever the flood.
 *
 * Errors are limited too (a loop of failures is the flood most worth bounding), but the first
 * lines of every burst always pass, so no kind of event ever goes unseen.
 */

export interface LogLimitOptions {
  burst: number;
  windowMs: number;
  /** Distinct events tracked at once; beyond, new events pass unlimited until a window ends. */
  eventsMax: number;
}

export const DEFAULT_LOG_LIMIT: LogLimitOptions = { burst: 20, windowMs: 10_000, eventsMax: 1000 };

interface Window {
  startMs: number;
  passed: number;
  dropped: number;
  level: LogLevel;
}

export class RateLimitedLogger implements Logger {
  private readonly windows = new Map<string, Window>();
  private readonly o: LogLimitOptions;
  private timer: Timer | null = null;

  constructor(
    private readonly inner: Logger,
    private readonly clock: Clock,
    options: Partial<LogLimitOptions> = {},
  ) {
    this.o = { ...DEFAULT_LOG_LIMIT, ...options };
    assert(this.o.burst > 0 && this.o.windowMs > 0 && this.o.eventsMax > 0, 'RateLimitedLogger: bad options');
  }

  log(level: LogLevel, event: string, fields?: LogFields): void {
    const now = this.clock.monotonicMs();
    let w = this.windows.get(event);
    if (w !== undefined && now - w.startMs >= this.o.windowMs) {
      this.report(event, w);
      this.windows.delete(event);
      w = undefined;
    }
    if (w === undefined) {
      if (this.windows.size >= this.o.eventsMax) {
        this.inner.log(level, event, fields);
        return;
      }
      w = { startMs: now, passed: 0, dropped: 0, level };
      this.windows.set(event, w);
      this.armSweep();
    }
    if (w.passed < this.o.burst) {
      w.passed++;
      this.inner.log(level, event, fields);
    } else w.dropped++;
  }

  /** Ends every window that is over, so a burst's count is reported even if the event stops. */
  private sweep(): void {
    const now = this.clock.monotonicMs();
    for (const [event, w] of this.windows) {
      if (now - w.startMs < this.o.windowMs) continue;
      this.report(event, w);
      this.windows.delete(event);
    }
    if (this.windows.size > 0) this.armSweep();
  }

  private armSweep(): void {
    if (this.timer !== null) return;
    this.timer = this.clock.timer(this.o.windowMs, () => {
      this.timer = null;
      this.sweep();
    });
  }

  private report(event: string, w: Window): void {
    if (w.dropped > 0) this.inner.log(w.level, 'log.suppressed', { suppressedEvent: event, lines: w.dropped, windowMs: this.o.windowMs });
  }

  /** Stops the sweep timer (a node that stops). */
  close(): void {
    this.timer?.cancel();
    this.timer = null;
  }
}
