export { GossipNode, type GossipNodeInit, type GossipStats, type SelfStatus } from './node.js';
export type { GossipReady, Outbound } from './ready.js';
export { GossipRuntime, type GossipRuntimeInit } from './runtime.js';
export {
  DEFAULT_GOSSIP_OPTIONS, LIFEGUARD_OFF, LIFEGUARD_ON, NO_GOSSIP_BUGS, gossipOptions, validateGossipOptions, suspicionTimeoutMs, retransmitLimit,
  type GossipOptions, type GossipOptionsInput, type LifeguardSwitches, type GossipBugs,
} from './options.js';
export { GOSSIP_MAGIC, GOSSIP_VERSION, decodeMessage, encodeMessage, validateMeta, validMemberId, type DecodeResult } from './codec.js';
export { EMPTY_META, type GossipMessage, type MemberEvent, type MemberId, type MemberMeta, type MemberSnapshot, type MemberState, type Update } from './types.js';
export { describeMessage, describeUpdate } from './describe.js';
