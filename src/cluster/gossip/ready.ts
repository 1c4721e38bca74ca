import type { GossipMessage, MemberEvent } from './types.js';

/** One frame to send: `to` is a member id (its Net address), or for a join, a seed's address. */
export interface Outbound {
  readonly to: string;
  readonly frame: Uint8Array;
  /** The decoded form of `frame`, for traces and tests. */
  readonly message: GossipMessage;
}

/**
 * Everything the membership core wants done, collected by GossipNode.ready().
 *
 * THE READY CONTRACT. After every input (receive, tick, join, leave, updateMeta) the runtime takes
 * the Ready and carries it out completely before the next input:
 *
 *   1. Send `messages`, each to its address, best effort, in order. Nothing has to be persisted
 *      first, unlike Raft's Ready: membership is soft state. The one fact that must survive a
 *      restart, "my incarnation is higher than anything said about me", is re-learnt instead: a
 *      restarted member starts at incarnation 0, hears its old state from the seeds or from
 *      gossip, and refutes it with a higher incarnation (SWIM §4.2; memberlist does the same).
 *      Order on the wire does not matter to the protocol (it assumes UDP); sending in order keeps
 *      simulated runs readable.
 *   2. Hand `events` to the application, in order: they are this member's view changing (a join,
 *      a suspicion, a death). The ring is rebuilt from them; an operator's listing shows them.
 *   3. Arm one timer for `wakeAtMs` (replacing any armed earlier), and when it fires call tick()
 *      with the clock's monotonic now. Early calls are harmless: tick() does only what is due.
 *      Late calls are tolerated: overdue work runs at once in deadline order, and before the
 *      message of the same input (an event loop's timer phase runs before its I/O phase), so a
 *      stalled node judges its probes the way a real one would. null: nothing to wait for (left).
 *   4. Every input carries the monotonic now of the Clock seam, never the wall clock: the wall
 *      clock may jump, and a jump must not fire or postpone every suspicion at once.
 *
 * There is no advance(): nothing waits for an acknowledgement of the Ready.
 */
export interface GossipReady {
  readonly messages: readonly Outbound[];
  readonly events: readonly MemberEvent[];
  readonly wakeAtMs: number | null;
}
