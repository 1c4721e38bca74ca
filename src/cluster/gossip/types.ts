/**
 * The vocabulary of the membership protocol (SWIM, Das, Gupta and Motivala 2002; Lifeguard,
 * Dadgar, Phillips and Currey 2018).
 */

/** A member's name, unique in the cluster; also its address on the Net seam. */
export type MemberId = string;

/**
 * What one member believes of another. alive → suspect (a probe failed) → dead (nobody refuted
 * within the suspicion timeout); `left` is a graceful leave, announced by the member itself.
 * A higher incarnation (only the member itself raises its own) overrides any of them.
 */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberMeta {
  /** Failure domain (a rack, an availability zone), for zone-aware replica placement. */
  readonly zone: string;
  /** The member's software version, so that mixed-version clusters can be seen. */
  readonly version: string;
  /** Relative capacity on the ring, in hundredths (100 = a normal member). */
  readonly weight: number;
  /** Named endpoints (the peer port, the client ports) → "host:port", sorted by name, names unique. */
  readonly addresses: readonly (readonly [string, string])[];
}

export const EMPTY_META: MemberMeta = Object.freeze({ zone: '', version: '', weight: 100, addresses: Object.freeze([]) });

/** A gossiped fact about one member; every message may carry several, piggybacked. */
export type Update =
  | { readonly kind: 'alive'; readonly id: MemberId; readonly incarnation: number; readonly meta: MemberMeta }
  /** `from` accuses `id`: the accuser's own probe failed. Distinct accusers are Lifeguard's confirmations. */
  | { readonly kind: 'suspect'; readonly id: MemberId; readonly incarnation: number; readonly from: MemberId }
  | { readonly kind: 'dead'; readonly id: MemberId; readonly incarnation: number; readonly from: MemberId; readonly left: boolean };

/** One member's entry in a full-state exchange (push-pull). */
export interface MemberSnapshot {
  readonly id: MemberId;
  readonly incarnation: number;
  readonly state: MemberState;
  readonly meta: MemberMeta;
}

export type GossipMessage =
  /** A probe: answer with an ack of the same seq. `target` guards against a reused address. */
  | { readonly type: 'ping'; readonly seq: number; readonly source: MemberId; readonly target: MemberId; readonly updates: readonly Update[] }
  | { readonly type: 'ack'; readonly seq: number; readonly source: MemberId; readonly updates: readonly Update[] }
  /** Ask `source`'s helper to probe `target` and forward the ack (SWIM's indirect probe). */
  | { readonly type: 'ping-req'; readonly seq: number; readonly source: MemberId; readonly target: MemberId; readonly wantNack: boolean; readonly updates: readonly Update[] }
  /** Lifeguard: the helper heard nothing from the target in time — proof the requester is heard. */
  | { readonly type: 'nack'; readonly seq: number; readonly source: MemberId; readonly updates: readonly Update[] }
  | { readonly type: 'gossip'; readonly source: MemberId; readonly updates: readonly Update[] }
  /** Full-state exchange: `join` on a first contact through a seed; `reply` for the answer. */
  | { readonly type: 'push-pull'; readonly source: MemberId; readonly join: boolean; readonly reply: boolean; readonly members: readonly MemberSnapshot[] };

export type GossipMessageType = GossipMessage['type'];

/** What the application (the ring, the placement layer, an operator) is told, in order. */
export interface MemberEvent {
  readonly type: 'join' | 'update' | 'suspect' | 'alive' | 'dead' | 'left';
  readonly id: MemberId;
  readonly incarnation: number;
  readonly meta: MemberMeta;
  readonly atMs: number;
  /** For suspect and dead: who accused (a dead by this node's own timeout names this node). */
  readonly by: MemberId | null;
}
