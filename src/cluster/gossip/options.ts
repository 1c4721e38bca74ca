import { ceilLog10, ceilLog2, ln, log10 } from './math.js';

/**
 * Every knob of the membership protocol, with HashiCorp memberlist's LAN profile
 * (DefaultLANConfig) as defaults. Durations are in milliseconds of the node's monotonic clock.
 */

/** Lifeguard's three extensions (Dadgar, Phillips, Currey 2018), each switchable for comparison. */
export interface LifeguardSwitches {
  /**
   * Local health multiplier (§IV-A, "self-awareness"): a score in [0, awarenessMax) that rises when
   * this node's own probes fail without the helpers' nacks, when it must refute a suspicion of
   * itself, and falls with each successful probe. Probe interval and probe timeout are multiplied
   * by (1 + score): a node that is slow to process messages slows its own judgements instead of
   * accusing healthy members.
   */
  readonly localHealth: boolean;
  /**
   * Dynamic suspicion timeout (§IV-B): a suspicion starts with suspicionMaxTimeoutMult × the base
   * timeout and shrinks towards the base, logarithmically, with each independent confirmation
   * (another member's own accusation), reaching it at suspicionMult − 2 confirmations. Off: a fixed
   * base timeout, as in SWIM.
   */
  readonly dynamicSuspicion: boolean;
  /**
   * Buddy system (§IV-C): a probe of a member this node suspects carries the suspicion, so the
   * member learns of it at once and can refute, instead of waiting for the gossip to reach it.
   */
  readonly buddySystem: boolean;
}

export const LIFEGUARD_ON: LifeguardSwitches = Object.freeze({ localHealth: true, dynamicSuspicion: true, buddySystem: true });
export const LIFEGUARD_OFF: LifeguardSwitches = Object.freeze({ localHealth: false, dynamicSuspicion: false, buddySystem: false });

/**
 * Known-bug switches, for the lab to prove its checks catch them. All off in a correct node.
 */
export interface GossipBugs {
  /** A node never refutes a suspicion or death of itself: live members get declared dead. */
  readonly noRefute: boolean;
  /** Alive updates with a higher incarnation keep the old metadata: members disagree on zones, weights. */
  readonly dropMetaUpdates: boolean;
}

export const NO_GOSSIP_BUGS: GossipBugs = Object.freeze({ noRefute: false, dropMetaUpdates: false });

export interface GossipOptions {
  /** One member is probed per interval (memberlist ProbeInterval: 1 s). */
  readonly probeIntervalMs: number;
  /** A probe without an ack by then triggers the indirect probes (memberlist ProbeTimeout: 500 ms, ~ the 99th percentile RTT). */
  readonly probeTimeoutMs: number;
  /** Helpers asked to probe the target indirectly (memberlist IndirectChecks: 3). */
  readonly indirectChecks: number;
  /** Base suspicion timeout = suspicionMult × max(1, log10 N) × probeIntervalMs (memberlist SuspicionMult: 4). */
  readonly suspicionMult: number;
  /** With dynamicSuspicion, a suspicion starts at this multiple of the base timeout (memberlist: 6). */
  readonly suspicionMaxTimeoutMult: number;
  /** Each update is piggybacked retransmitMult × ceil(log10(N + 1)) times (memberlist RetransmitMult: 4). */
  readonly retransmitMult: number;
  /** Pending updates are gossiped every interval (memberlist GossipInterval: 200 ms) … */
  readonly gossipIntervalMs: number;
  /** … to this many random members (memberlist GossipNodes: 3). */
  readonly gossipNodes: number;
  /** Dead members still receive gossip this long, so a member wrongly declared dead learns it and refutes (memberlist: 30 s). */
  readonly gossipToTheDeadMs: number;
  /** Full-state exchange with one random member (memberlist PushPullInterval: 30 s), scaled up past 32 members; 0 = never. */
  readonly pushPullIntervalMs: number;
  /**
   * Every interval, a full-state exchange with one random member believed dead (Serf's reconnect,
   * 30 s): without it, two sides of a healed partition that declared each other dead would never
   * talk again, since nobody probes, gossips (past gossipToTheDeadMs) or syncs with the dead. 0 = never.
   */
  readonly reconnectIntervalMs: number;
  /** Dead members are tried for reconnection this long after their death (Serf's reconnect timeout: 24 h). */
  readonly reconnectTimeoutMs: number;
  /** Lifeguard's local health score stays below this (memberlist AwarenessMaxMultiplier: 8). */
  readonly awarenessMax: number;
  /** A helper sends its nack at this percentage of its probe timeout (memberlist: 80%). */
  readonly nackTimeoutPercent: number;
  /** The largest probe or gossip frame, updates included (memberlist UDPBufferSize: 1400, one Ethernet MTU). */
  readonly packetBytesMax: number;
  /** The largest push-pull frame (memberlist sends those over TCP). */
  readonly stateBytesMax: number;
  /** Members known at once (dead ones included); updates about more are dropped and counted. */
  readonly membersMax: number;
  /** A join not answered by any seed is sent again after this long … */
  readonly joinRetryIntervalMs: number;
  /** … this many times in all. */
  readonly joinAttemptsMax: number;
  /** At most this many seeds are contacted. */
  readonly seedsMax: number;
  /** A leaving node keeps gossiping its departure until it has been retransmitted fully, or this long. */
  readonly leaveTimeoutMs: number;
  /** Dead and left members are forgotten this long after their death (Serf's tombstones: 24 h). */
  readonly tombstoneMs: number;
  /** Indirect probes this node runs for others at once; more ping-reqs are dropped and counted. */
  readonly helpersMax: number;
  /** Full-state replies per second at most, so a join storm cannot make one seed flood the network. */
  readonly pushPullRepliesPerSecondMax: number;
  readonly lifeguard: LifeguardSwitches;
  readonly bugs: GossipBugs;
}

export const DEFAULT_GOSSIP_OPTIONS: GossipOptions = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  reconnectIntervalMs: 30_000,
  reconnectTimeoutMs: 24 * 60 * 60 * 1000,
  awarenessMax: 8,
  nackTimeoutPercent: 80,
  packetBytesMax: 1400,
  stateBytesMax: 8 * 1024 * 1024,
  membersMax: 10_000,
  joinRetryIntervalMs: 1000,
  joinAttemptsMax: 30,
  seedsMax: 16,
  leaveTimeoutMs: 5000,
  tombstoneMs: 24 * 60 * 60 * 1000,
  helpersMax: 256,
  pushPullRepliesPerSecondMax: 64,
  lifeguard: LIFEGUARD_ON,
  bugs: NO_GOSSIP_BUGS,
});

export type GossipOptionsInput = Partial<Omit<GossipOptions, 'lifeguard' | 'bugs'>> & { lifeguard?: Partial<LifeguardSwitches> | boolean; bugs?: Partial<GossipBugs> };

/** Defaults overridden by `overrides`, validated. Throws RangeError naming the bad knob. */
export function gossipOptions(overrides: GossipOptionsInput = {}): GossipOptions {
  const lg = overrides.lifeguard;
  const lifeguard = lg === true ? LIFEGUARD_ON : lg === false ? LIFEGUARD_OFF : { ...LIFEGUARD_ON, ...lg };
  const o: GossipOptions = { ...DEFAULT_GOSSIP_OPTIONS, ...overrides, lifeguard: Object.freeze(lifeguard), bugs: Object.freeze({ ...NO_GOSSIP_BUGS, ...overrides.bugs }) };
  const problem = validateGossipOptions(o);
  if (problem !== null) throw new RangeError(`invalid gossip options: ${problem}`);
  return Object.freeze(o);
}

/** What is wrong with `o`, or null. */
export function validateGossipOptions(o: GossipOptions): string | null {
  const ranges: [keyof GossipOptions, number, number][] = [
    ['probeIntervalMs', 1, 3_600_000], ['probeTimeoutMs', 1, 3_600_000], ['indirectChecks', 0, 16], ['suspicionMult', 1, 100],
    ['suspicionMaxTimeoutMult', 1, 100], ['retransmitMult', 1, 100], ['gossipIntervalMs', 1, 3_600_000], ['gossipNodes', 1, 64],
    ['gossipToTheDeadMs', 0, 86_400_000], ['pushPullIntervalMs', 0, 86_400_000], ['reconnectIntervalMs', 0, 86_400_000], ['reconnectTimeoutMs', 0, 30 * 86_400_000], ['awarenessMax', 1, 64], ['nackTimeoutPercent', 1, 99],
    ['packetBytesMax', 512, 65_536], ['stateBytesMax', 65_536, 64 * 1024 * 1024], ['membersMax', 1, 100_000], ['joinRetryIntervalMs', 1, 3_600_000],
    ['joinAttemptsMax', 1, 1_000_000], ['seedsMax', 1, 1024], ['leaveTimeoutMs', 0, 3_600_000], ['tombstoneMs', 1, 30 * 86_400_000],
    ['helpersMax', 1, 100_000], ['pushPullRepliesPerSecondMax', 1, 100_000],
  ];
  for (const [k, min, max] of ranges) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return `${k} must be an integer in [${min}, ${max}], got ${String(v)}`;
  }
  if (o.probeTimeoutMs > o.probeIntervalMs) return `probeTimeoutMs (${o.probeTimeoutMs}) must not exceed probeIntervalMs (${o.probeIntervalMs}): the indirect probes need the rest of the period`;
  for (const k of ['localHealth', 'dynamicSuspicion', 'buddySystem'] as const) if (typeof o.lifeguard[k] !== 'boolean') return `lifeguard.${k} must be true or false`;
  for (const k of ['noRefute', 'dropMetaUpdates'] as const) if (typeof o.bugs[k] !== 'boolean') return `bugs.${k} must be true or false`;
  return null;
}

// ---------------------------------------------------------------- timings derived from N

/** SWIM's base suspicion timeout for a cluster of n members (memberlist's formula). */
export function suspicionTimeoutMs(o: GossipOptions, n: number): number {
  const scale = Math.max(1, log10(Math.max(1, n)));
  return Math.floor(o.suspicionMult * scale * o.probeIntervalMs);
}

/** Confirmations that shrink a dynamic suspicion to the base timeout: mult − 2, or 0 when the cluster is too small to give them. */
export function expectedConfirmations(o: GossipOptions, n: number): number {
  const k = Math.max(0, o.suspicionMult - 2);
  // The suspect and this node cannot confirm.
  return n - 2 < k ? 0 : k;
}

/**
 * Lifeguard's dynamic suspicion timeout after `c` confirmations out of `k` expected:
 * max − (max − min) · ln(c + 1) / ln(k + 1), never below min. With k = 0: min.
 */
export function dynamicSuspicionTimeoutMs(minMs: number, maxMs: number, c: number, k: number): number {
  if (k <= 0 || c >= k) return minMs;
  const frac = ln(c + 1) / ln(k + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}

/** Times each update is piggybacked: retransmitMult × ceil(log10(n + 1)). */
export function retransmitLimit(o: GossipOptions, n: number): number {
  return o.retransmitMult * Math.max(1, ceilLog10(n + 1));
}

/** Push-pull slows down past 32 members: × (ceil(log2 n) − 5 + 1), as memberlist does, to bound its bandwidth. */
export function pushPullIntervalFor(o: GossipOptions, n: number): number {
  if (n <= 32) return o.pushPullIntervalMs;
  return o.pushPullIntervalMs * (ceilLog2(n) - 5 + 1);
}
