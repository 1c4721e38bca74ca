import type { Result } from './protocol.js';
import type { Request } from './protocol.js';

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
  /** A frame from another member (not a client request). */
  receivePeer(from: string, body: Record<string, unknown>): void;
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
}
