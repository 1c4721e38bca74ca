import type { Message } from './messages.js';
import type { Entry, HardState, ReadState, Snapshot, SoftState } from './types.js';

/**
 * Everything the core wants done, collected by RaftNode.ready().
 *
 * THE READY CONTRACT. A runtime carries out each Ready completely, in this order, before asking
 * for the next one, then calls advance(ready):
 *
 *   0. Send `earlyMessages`, at once: a leader's appends and heartbeats, which promise nothing
 *      about its own disk (the leader counts its own log towards a commit only after advance()),
 *      so the followers' fsyncs overlap the leader's. (With the voteWithoutPersist bug switch on,
 *      also the vote it grants: that is how that bug reaches the network before the disk.)
 *   1. Persist, durably (fsync), in this order or atomically in one write:
 *        a. `snapshot`, if not null: replace the whole stable log by it;
 *        b. `entries`: drop every stable entry at position >= entries[0].index, then append them;
 *        c. `hardState`, if not null.
 *      If `mustSync` is false the writes may skip the fsync (only the commit index changed, which
 *      a restarted node re-learns from the leader).
 *   2. Only then send `messages`. Every one of them may promise something step 1 made durable: a
 *      vote (hard state), an acknowledgement of entries, a term. Sending one earlier lets a crash
 *      break the promise: a node that forgets its vote can vote twice in a term; one that forgets
 *      acknowledged entries can let a committed entry be lost.
 *   3. Also only after step 1: if `snapshot` is not null, restore the state machine from its data;
 *      then apply `committedEntries` in order ('config' entries carry a membership the core has
 *      already adopted; the application applies nothing for them, nor for empty entries).
 *      Exception: when `snapshot` is null, the committed entries below `entries[0].index` (all of
 *      them if `entries` is empty) are already in the stable log, committed, and can never be
 *      truncated, so they may be applied at once, while step 1 is in progress. Those of
 *      `entries` itself may not: a follower that applied them and crashed before its fsync would
 *      hold state its log lacks (etcd#14370). Likewise, while a Ready is outstanding,
 *      RaftNode.takeDurableCommitted() hands out what became committed meanwhile and is durable
 *      here, to apply at once (a leader learns from an ack during its own fsync).
 *   4. Serve each of `readStates` once the state machine has applied its index.
 *   5. advance(ready).
 *
 * The runtime may step messages, tick and accept requests between ready() and advance(): what
 * they produce goes into the next Ready. Readys must be carried out one at a time, in order.
 *
 * Positions: entries are contiguous; committedEntries are contiguous and follow the last applied
 * position (or the snapshot's index).
 */
export interface Ready {
  /** The node's role or leader changed: route client requests accordingly. Null if unchanged. */
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly mustSync: boolean;
  readonly earlyMessages: readonly Message[];
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

export function isEmptyReady(rd: Ready): boolean {
  return (
    rd.softState === null &&
    rd.hardState === null &&
    rd.snapshot === null &&
    rd.entries.length === 0 &&
    rd.earlyMessages.length === 0 &&
    rd.messages.length === 0 &&
    rd.committedEntries.length === 0 &&
    rd.readStates.length === 0
  );
}
