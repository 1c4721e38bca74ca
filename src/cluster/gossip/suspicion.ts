import { assert } from '../../util/assert.js';
import { dynamicSuspicionTimeoutMs } from './options.js';
import type { MemberId } from './types.js';

/**
 * One running suspicion of a member (SWIM §4.2 with Lifeguard §IV-B). It fires at
 * start + timeout; the timeout starts at `maxMs` and shrinks towards `minMs` as distinct members
 * other than the first accuser confirm the suspicion with their own failed probes. With
 * `expected` = 0 (dynamic suspicion off, or too few members to confirm) it is `minMs`, fixed.
 */
export class Suspicion {
  private readonly confirmers = new Set<MemberId>();
  private deadlineMs_: number;

  constructor(
    readonly incarnation: number,
    readonly accuser: MemberId,
    readonly startMs: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    /** Confirmations that bring the timeout down to minMs. */
    private readonly expected: number,
  ) {
    assert(minMs > 0 && maxMs >= minMs, () => `suspicion timeouts min ${minMs} max ${maxMs}`);
    assert(expected >= 0, () => `expected confirmations ${expected}`);
    this.deadlineMs_ = startMs + this.timeoutMs();
  }

  get deadlineMs(): number {
    return this.deadlineMs_;
  }

  get confirmations(): number {
    return this.confirmers.size;
  }

  /**
   * Counts `from`'s accusation; true if it was new (worth re-gossiping, so that others count it
   * too). Confirmations past the expected number change nothing and are not re-gossiped.
   */
  confirm(from: MemberId): boolean {
    if (this.expected === 0 || from === this.accuser || this.confirmers.has(from) || this.confirmers.size >= this.expected) return false;
    this.confirmers.add(from);
    this.deadlineMs_ = this.startMs + this.timeoutMs();
    assert(this.deadlineMs_ >= this.startMs + this.minMs, 'a suspicion shrank below its minimum');
    return true;
  }

  private timeoutMs(): number {
    return this.expected === 0 ? this.minMs : dynamicSuspicionTimeoutMs(this.minMs, this.maxMs, this.confirmers.size, this.expected);
  }
}

/**
 * Lifeguard's local health multiplier (§IV-A): a saturating score in [0, max). Probe interval
 * and probe timeout are scaled by (1 + score).
 */
export class LocalHealth {
  private score_ = 0;

  constructor(
    private readonly max: number,
    private readonly enabled: boolean,
  ) {
    assert(max >= 1, () => `local health max ${max}`);
  }

  get score(): number {
    return this.score_;
  }

  apply(delta: number): void {
    if (!this.enabled) return;
    this.score_ = Math.min(this.max - 1, Math.max(0, this.score_ + delta));
    assert(this.score_ >= 0 && this.score_ < this.max, 'local health out of range');
  }

  scale(ms: number): number {
    return ms * (1 + this.score_);
  }
}
