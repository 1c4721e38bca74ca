import { assert } from '../../util/assert.js';
import { Inflights } from './inflights.js';
import type { Index } from './types.js';

/**
 * How a leader sends the log to a follower (after etcd's tracker/progress.go):
 * - probe: the leader does not know where the follower's log matches its own. It sends one
 *   append at a time and waits for the answer (or the next heartbeat answer), backing off on
 *   rejection. Every follower starts here.
 * - replicate: the logs match up to `match`; the leader streams appends optimistically, moving
 *   `next` ahead at send time, bounded by the inflight window (count and bytes).
 * - snapshot: the follower needs entries the leader has compacted; a snapshot is on its way, and
 *   the leader sends nothing more until the follower answers or the runtime reports the transfer.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** The highest position known to match the leader's log (durably stored by the follower). */
  match: Index = 0;
  /** The next position to send. Invariant: match < next. */
  next: Index;
  state: ProgressState = 'probe';
  /** In the snapshot state, the index of the snapshot sent, and the leader tick it was sent at. */
  pendingSnapshot: Index = 0;
  pendingSnapshotTick = 0;
  /** Heard from since the last check-quorum round (tick counts in electionTicks). */
  recentActive = true;
  /** In the probe state, an append is outstanding: wait for its answer or a heartbeat answer. */
  probeSent = false;
  /**
   * The latest leader tick at which a heartbeat was sent that this follower acknowledged in the
   * leader's current term; -Infinity if none. Lease reads count from it (raft.ts, leaseValid).
   */
  heartbeatAckTick = -Infinity;
  readonly inflights: Inflights;

  constructor(
    next: Index,
    public isLearner: boolean,
    inflightCountMax: number,
    inflightBytesMax: number,
  ) {
    assert(next >= 1, 'next starts at 1 or later');
    this.next = next;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot: probe right after it.
    const next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
    this.next = next;
  }

  /**
   * The follower no longer holds entries it acknowledged (its log was cut at a corruption:
   * protocol-aware recovery, raft-runtime/README.md): what it matched is forgotten, and it is
   * probed from `next`. Lowering a match only ever delays a commit; the commit index never moves back.
   */
  forgetMatch(next: Index): void {
    this.match = 0;
    this.resetState('probe');
    this.next = Math.max(1, next);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: Index, nowTick: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.pendingSnapshotTick = nowTick;
  }

  /**
   * The leader sent an append whose entries end at `lastIndex` (entryCount of them, `bytes` in
   * size). In replicate, move next optimistically and record the send; in probe, wait.
   */
  sentEntries(entryCount: number, lastIndex: Index, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      if (entryCount > 0) this.probeSent = true;
    } else {
      assert(false, 'sending entries to a follower waiting for a snapshot');
    }
  }

  /** An accepted append says the logs match up to n. Returns whether match moved. */
  maybeUpdate(n: Index): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected an append whose previous entry was at `rejected`, and hints that the
   * logs cannot match after `matchHint`. Returns false if the rejection is stale (an answer to an
   * append sent before a later one moved next), true if next moved back.
   */
  maybeDecrTo(rejected: Index, matchHint: Index): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must not send an append now (flow control). */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  describe(): string {
    return `${this.state} match=${this.match} next=${this.next}${this.isLearner ? ' learner' : ''}${this.isPaused() ? ' paused' : ''}${this.state === 'replicate' ? ` inflight=${this.inflights.count}` : ''}${this.state === 'snapshot' ? ` pendingSnapshot=${this.pendingSnapshot}` : ''}`;
  }
}
