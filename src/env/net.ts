/**
 * The Net seam: addressed, framed messages between the members of a cluster and their clients.
 *
 * Delivery is best effort, as on a real network: a frame may be lost, delayed, duplicated or
 * reordered, and a send to an unreachable address fails silently. Protocols above must tolerate
 * all of that; the simulator produces each on demand. A frame is delivered whole or not at all.
 */

/** A node id ("n1") or a client id ("c3"). */
export type Address = string;

export type ReceiveHandler = (from: Address, frame: Uint8Array) => void;

export interface Net {
  /** This endpoint's own address. */
  readonly self: Address;
  /** Queues a frame for `to`. Never throws for an unreachable peer: the frame is just lost. */
  send(to: Address, frame: Uint8Array): void;
  /** Installs the handler for inbound frames (one per endpoint; a second call replaces it). */
  onReceive(handler: ReceiveHandler): void;
  /** Stops sending and receiving; frames in flight to or from this endpoint may be lost. */
  close(): void;
}

/** Frames larger than this are refused by every Net implementation, simulated or real. */
export const FRAME_BYTES_MAX = 64 * 1024 * 1024;
