import { assert } from '../../util/assert.js';
import { hasQuorum } from './quorum.js';
import type { Index, NodeId, ReadState } from './types.js';

interface PendingRead {
  readonly requestCtx: string;
  /** The leader's commit index when the request arrived: the read must see at least this. */
  readonly index: Index;
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex (Raft thesis §6.4): a leader answers a read with its commit index once a majority has
 * acknowledged a heartbeat sent after the request arrived, which proves that no other leader with
 * a newer term existed when the request was received. Requests are confirmed in arrival order:
 * an acknowledgement of a heartbeat that carries request k's context confirms every request up to
 * k, since those arrived before that heartbeat was sent.
 *
 * Bounded: at most `pendingMax` requests wait; the leader refuses more (raft.ts).
 */
export class ReadOnlyQueue {
  private readonly pending = new Map<string, PendingRead>();
  private queue: string[] = [];

  constructor(readonly pendingMax: number) {
    assert(pendingMax >= 1, 'pending read limit must be positive');
  }

  get size(): number {
    return this.queue.length;
  }

  has(requestCtx: string): boolean {
    return this.pending.has(requestCtx);
  }

  add(index: Index, requestCtx: string): void {
    assert(!this.pending.has(requestCtx), () => `read request ${requestCtx} already pending`);
    assert(this.queue.length < this.pendingMax, 'too many pending reads');
    this.pending.set(requestCtx, { requestCtx, index, acks: new Set() });
    this.queue.push(requestCtx);
  }

  /** The context the next heartbeat round should carry: the latest request. */
  lastRequestCtx(): string | null {
    return this.queue[this.queue.length - 1] ?? null;
  }

  /**
   * Records that `from` acknowledged the heartbeat carrying requestCtx; if that makes a majority
   * of `voters`, returns the read states of that request and every earlier one, in order.
   */
  recvAck(from: NodeId, requestCtx: string, voters: readonly NodeId[]): ReadState[] {
    const p = this.pending.get(requestCtx);
    if (p === undefined) return [];
    p.acks.add(from);
    if (!hasQuorum(voters, (id) => p.acks.has(id))) return [];
    const at = this.queue.indexOf(requestCtx);
    assert(at >= 0, 'pending read missing from the queue');
    const released = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    return released.map((ctx) => {
      const r = this.pending.get(ctx) as PendingRead;
      this.pending.delete(ctx);
      return { index: r.index, requestCtx: ctx };
    });
  }

  /** Forgets every pending request (leadership lost: their callers time out and retry). */
  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}
