import type { Clock } from '../env/clock.js';
import { assert } from '../util/assert.js';

/**
 * Failed logins, counted per source address, with exponential back-off: what keeps a password
 * guesser (or a script with the wrong password in a loop) from turning the node's scrypt into a
 * denial of service. 8 connections pipelining `AUTH admin wrong` ran 1,260 verifications in 30 s,
 * took an authenticated writer from 2.1 ms to 11.7 s and cost the leadership; with the throttle a
 * source gets freeFailures tries, then waits baseMs·2^k after each further failure (k the failures
 * beyond them), capped at maxMs, and everything it sends meanwhile is refused at once, before any hashing.
 *
 * A success does not clear the source's count (it is forgotten after forgetMs without failures):
 * if it did, anyone holding one account could log in between guesses at another and guess at full
 * speed — `npm run fuzz` did exactly that, pipelining right and wrong passwords, and kept every
 * node's scrypt busy until the cluster lost its leader again and again (8 leaders in 30 s on a
 * 2-core machine). Sources are kept in a bounded map, the least recently
 * failed dropped first (an attacker with many addresses is bounded by the node's cap on concurrent
 * verifications instead).
 */

export interface LoginThrottleOptions {
  /** Failures allowed before the back-off starts. */
  freeFailures: number;
  baseMs: number;
  maxMs: number;
  /** A source quiet this long is forgotten. */
  forgetMs: number;
  sourcesMax: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = { freeFailures: 5, baseMs: 250, maxMs: 30_000, forgetMs: 10 * 60_000, sourcesMax: 10_000 };

interface Source {
  failures: number;
  /** No attempt before this (monotonic ms). */
  blockedUntilMs: number;
  lastMs: number;
}

export class LoginThrottle {
  private readonly sources = new Map<string, Source>();
  private readonly o: LoginThrottleOptions;

  constructor(
    private readonly clock: Clock,
    options: Partial<LoginThrottleOptions> = {},
  ) {
    this.o = { ...DEFAULT_LOGIN_THROTTLE, ...options };
    assert(this.o.baseMs > 0 && this.o.maxMs >= this.o.baseMs && this.o.sourcesMax > 0, 'LoginThrottle: bad options');
  }

  /** 0 if the source may try now, else how many ms until it may. */
  waitMs(source: string): number {
    const s = this.sources.get(source);
    if (s === undefined) return 0;
    const now = this.clock.monotonicMs();
    if (now - s.lastMs > this.o.forgetMs) {
      this.sources.delete(source);
      return 0;
    }
    return Math.max(0, Math.ceil(s.blockedUntilMs - now));
  }

  /** Records the outcome of an attempt the source was allowed to make. */
  record(source: string, succeeded: boolean): void {
    if (succeeded) return;
    const now = this.clock.monotonicMs();
    const s = this.sources.get(source) ?? { failures: 0, blockedUntilMs: 0, lastMs: now };
    s.failures++;
    s.lastMs = now;
    const beyond = s.failures - this.o.freeFailures;
    if (beyond >= 0) s.blockedUntilMs = now + Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(beyond, 30));
    // Map order is insertion order: re-inserting keeps the most recent failures last.
    this.sources.delete(source);
    this.sources.set(source, s);
    while (this.sources.size > this.o.sourcesMax) this.sources.delete(this.sources.keys().next().value as string);
    assert(this.sources.size <= this.o.sourcesMax, 'LoginThrottle: over its bound');
  }

  get tracked(): number {
    return this.sources.size;
  }
}

/** The address part of "host:port" / "[v6]:port" / a simulated client's name: what a throttle counts by. */
export function sourceOf(remote: string): string {
  const m = /^\[([^\]]+)\]:\d+$/.exec(remote) ?? /^([^:]+):\d+$/.exec(remote);
  return m !== null ? (m[1] as string) : remote.replace(/#\d+$/, '');
}
