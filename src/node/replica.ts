import type { Result } from './protocol.js';
import type { Request } from './protocol.js';
import type { RecoveryStatus } from '../replication/raft-runtime/runtime.js';

/** Where a request's answer goes: back over the network, or to an in-process front end. */
export type Reply = (result: Result) => void;

/**
 * How a node orders and serves requests: a single server, a Raft group, or the primary's
 * asynchronous shipping. The node handles the network, authentication and limits; the replica
 * decides what a request means for the cluster.
 */
export interface Replica {
  /** Serves a validated, authorised request; calls reply exactly once. */
  submit(req: Request, reply: Reply): void;
  /**
   * The answer to a validated, authorised read-only request when the replica can give it at once
   * (what submit would answer, synchronously), or null when it would have to wait: a single node
   * with writes not yet durable, a Raft leader confirming its leadership. A replica without it
   * answers every read through submit.
   */
  readNow?(req: Request): Result | null;
  /** A frame from another member (not a client request). */
  receivePeer(from: string, body: Record<string, unknown>): void;
  /** A binary piece of a snapshot file from another member (Raft: snapshot-transfer.ts). */
  receiveSnapshotChunk?(from: string, frame: Uint8Array): void;
  status(): ReplicaStatus;
  /** status().inFlight without building the rest of the status (asked at every request). */
  inFlight(): number;
  stop(): void;
}

export interface ReplicaStatus {
  role: 'leader' | 'follower' | 'candidate' | 'learner' | 'starting' | 'stopped';
  term: number;
  leader: string | null;
  members: string[];
  commitIndex: number;
  appliedIndex: number;
  inFlight: number;
  /** A Raft member's repair or holds after corruption (RaftRuntime.recovery); absent when none. */
  recovery?: RecoveryStatus;
}
