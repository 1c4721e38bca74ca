import { assert } from '../../util/assert.js';
import { decodeMembership } from './membership.js';
import type { Entry, Index, Membership } from './types.js';

interface Point {
  readonly index: Index;
  readonly membership: Membership;
}

/**
 * The membership at every position of a node's log: a base (the snapshot's membership, at the
 * snapshot's index) and then one point per config entry above it, ascending. Memberships take
 * effect when appended (confchange.ts), so the current one is the last point, committed or not,
 * and truncating the log reverts to an earlier one.
 *
 * Bounded: points at or below the latest snapshot are folded into the base (compactTo), so it
 * holds only the config entries still in the log.
 */
export class MembershipHistory {
  private base: Point;
  private points: Point[] = [];

  constructor(baseIndex: Index, baseMembership: Membership) {
    this.base = { index: baseIndex, membership: baseMembership };
  }

  latest(): Membership {
    return (this.points[this.points.length - 1] ?? this.base).membership;
  }

  /** The position of the config entry that set latest(), or the base's. */
  latestIndex(): Index {
    return (this.points[this.points.length - 1] ?? this.base).index;
  }

  baseIndex(): Index {
    return this.base.index;
  }

  /** REQUIRES: index >= the base's index. */
  at(index: Index): Membership {
    assert(index >= this.base.index, () => `membership at ${index} is below the snapshot at ${this.base.index}`);
    let found = this.base;
    for (const p of this.points) {
      if (p.index > index) break;
      found = p;
    }
    return found.membership;
  }

  /** The log now holds `entries` from entries[0].index on, replacing whatever was there. */
  appended(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.truncateFrom(first.index);
    for (const e of entries) {
      if (e.type === 'config') this.points.push({ index: e.index, membership: decodeMembership(e.data) });
    }
  }

  truncateFrom(index: Index): void {
    assert(index > this.base.index, () => `truncating at ${index}, at or below the snapshot at ${this.base.index}`);
    while (this.points.length > 0 && (this.points[this.points.length - 1] as Point).index >= index) this.points.pop();
  }

  /** The log was replaced by a snapshot. */
  reset(index: Index, membership: Membership): void {
    this.base = { index, membership };
    this.points = [];
  }

  /** The log below `index` is gone; a snapshot at `index` holds `membership`. */
  compactTo(index: Index, membership: Membership): void {
    if (index <= this.base.index) return;
    this.points = this.points.filter((p) => p.index > index);
    this.base = { index, membership };
  }
}
