import { isMap, isScalar, type Node as YamlNode } from 'yaml';
import { BUGS, type BugName } from '../src/node/bugs.js';
import { DATA_FILE_KINDS, type DataFileKind } from '../src/node/data-dir.js';
import { OP_FUNCTIONS } from '../src/check/history.js';
import {
  bool,
  bytes,
  duration,
  int,
  list,
  num,
  obj,
  oneOf,
  parseYaml,
  probability,
  problem,
  str,
  type Ctx,
  type Validator,
} from '../src/util/schema.js';
import type { CrashMode } from './disk.js';
import { LAB_RAFT_TUNING, type RaftTuning } from '../src/node/raft-tuning.js';
import { FAILPOINTS, type FailpointName } from '../src/util/failpoints.js';
import { resolveLsmOptions, type LsmOptions } from '../src/storage/lsm/options.js';
import { resolveBitcaskOptions, type BitcaskOptions } from '../src/storage/bitcask/options.js';
import { shardProblems } from './shards/scenario.js';
import { SHARDS_MAX } from '../src/cluster/placement/shard-map.js';
import { DEFAULT_GOSSIP_OPTIONS, gossipOptions, type GossipOptions } from '../src/cluster/gossip/options.js';

/**
 * A scenario: a cluster, a workload, a schedule of faults and the checks to run — one short YAML
 * file (documented in scenarios/README.md). This module is its schema: what may be written, what
 * it defaults to, and what is impossible.
 */

export const ENGINES = ['memory', 'lsm', 'bitcask'] as const;
export const REPLICATIONS = ['none', 'raft', 'primary'] as const;
export const CHECKS = ['linearizable', 'lost-writes', 'liveness', 'convergence', 'raft-safety', 'assertions', 'leader-stability', 'applied-results', 'recovery', 'membership', 'ring-balance', 'placement', 'leader-balance', 'moves', 'isolation', 'repairs'] as const;
/** Checks that watch Raft itself (its elections, the entries it applies): they need replication raft. */
const RAFT_CHECKS: readonly CheckName[] = ['raft-safety', 'leader-stability', 'applied-results', 'recovery', 'repairs'];
/** Checks of the nodes' gossip (sim/gossip/checks.ts): they need cluster.gossip. */
export const GOSSIP_CHECKS: readonly CheckName[] = ['membership', 'ring-balance'];
export type CheckName = (typeof CHECKS)[number];
/** Checks of a sharded cluster (sim/shards/checks.ts): they need cluster.shards > 1. */
export const SHARD_CHECKS: readonly CheckName[] = ['placement', 'leader-balance', 'moves'];
/** Raft checks not yet kept per group: a sharded scenario may not ask for them. */
export const UNSHARDED_CHECKS: readonly CheckName[] = ['leader-stability', 'applied-results'];
export const CRASH_MODES = ['lose', 'torn', 'reorder', 'random'] as const;
/** Nodes a scenario may have: issue 20's 100-node cluster fits (bench:shards --only scale). */
export const SCENARIO_NODES_MAX = 128;

/**
 * A node id from the cluster, or chosen by the nemesis when the fault starts: `random`, `leader`
 * (the current Raft leader), `follower` (a random node that is not the leader), `meta-leader`
 * (with shards: the leader of shard 0's group, which keeps the member set).
 */
export type NodeSelector = string;

interface FaultBase {
  atNs: number;
  /** How long until the fault is undone (restart, resume, heal, ...); absent: until the heal phase. */
  forNs?: number;
  /**
   * Repeats the fault every this long, from at until `untilNs` (default: the end of the run), a
   * random node chosen afresh each time: attrition in FoundationDB's sense.
   */
  everyNs?: number;
  untilNs?: number;
  /**
   * The fault waits from `at` for the next leader election (a node becoming leader in a term above
   * every leader's then) and starts this long after it; `leader` then names the new leader. A
   * moment in the protocol rather than on the clock: what the shrinker turns a fault
   * into when it struck just after an election, so that dropping earlier faults, which moves every
   * election, does not move it off its election.
   */
  afterElectionNs?: number;
  /** Line in the scenario file, for messages. */
  line: number;
}

export type Fault = FaultBase &
  (
    | { kind: 'crash'; node: NodeSelector; disk?: CrashMode }
    | { kind: 'restart'; node: NodeSelector }
    | { kind: 'pause'; node: NodeSelector }
    | { kind: 'resume'; node: NodeSelector }
    | { kind: 'partition'; shape: 'groups'; groups: string[][] }
    | { kind: 'partition'; shape: 'isolate'; node: NodeSelector }
    | { kind: 'partition'; shape: 'halves' | 'majority-minority' | 'bridge' }
    | { kind: 'partition-one-way'; from: NodeSelector[]; to: NodeSelector[] } // `others` on one side: every node not on the other
    | { kind: 'heal' }
    | { kind: 'clock'; node: NodeSelector; skewNs?: number; driftPpm?: number }
    | { kind: 'loss'; probability: number }
    | { kind: 'duplicate'; probability: number }
    | { kind: 'reorder'; probability: number }
    | { kind: 'latency'; minNs: number; meanNs: number; maxNs: number }
    | { kind: 'fsync-fail'; node: NodeSelector; count: number; probability: number }
    /** whileOthersWhole: skipped while another member still waits for a repair (corruption on one member at a time). */
    | { kind: 'corrupt'; node: NodeSelector; bits: number; path?: string; file?: DataFileKind | 'any'; whileOthersWhole?: true }
    | { kind: 'disk-full'; node: NodeSelector; freeBytes: number }
    | { kind: 'failover'; node: NodeSelector }
    | { kind: 'join'; node: NodeSelector }
    | { kind: 'leave'; node: NodeSelector }
    /**
     * Permanent loss of a whole node (sharded clusters): its power is cut, its disk is gone for
     * good, it never boots again, and the operator removes it from the member set, so that its
     * replicas are re-created elsewhere from the survivors.
     */
    | { kind: 'destroy'; node: NodeSelector }
    /**
     * Cuts the power of `node` (`any`: whichever node gets there first) the `after`-th time it
     * passes the failpoint, counted from `at`; `after` null: drawn from 1..8 by the run's seed.
     * Disarmed if not hit within `withinNs`.
     */
    | { kind: 'crash-at'; node: NodeSelector; point: FailpointName; after: number | null; withinNs: number; disk?: CrashMode }
    /**
     * Cuts the leader off from the other nodes — once it has appended a client's write that no
     * follower has (afterWrites), so that its log diverges — while clients on its side still
     * reach it (clients keep), so it goes on appending until it steps down.
     */
    | { kind: 'isolate-leader'; afterWrites: boolean; clients: 'keep' | 'cut'; withinNs: number }
    /** Holds back each frame `node` sends (out), receives (in) or both by min..max more: later frames overtake. */
    | { kind: 'delay'; node: NodeSelector; minNs: number; maxNs: number; direction: 'out' | 'in' | 'both' }
    /** The operator asks the Raft leader to hand leadership to `node` (thesis §3.10). */
    | { kind: 'transfer'; node: NodeSelector }
  );

export type FaultKind = Fault['kind'];

export const FAULT_KINDS: readonly FaultKind[] = [
  'crash', 'restart', 'pause', 'resume', 'partition', 'partition-one-way', 'heal', 'clock', 'loss',
  'duplicate', 'reorder', 'latency', 'fsync-fail', 'corrupt', 'disk-full', 'failover', 'join', 'leave',
  'destroy', 'crash-at', 'isolate-leader', 'delay', 'transfer',
];

/** Kinds a file may name that stand for others: `leader-churn` is `isolate-leader` repeated. */
export const FAULT_ALIASES = ['leader-churn'] as const;

/** Faults that `for:` can undo, and what undoing means. */
const REVERSIBLE: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'crash', 'pause', 'partition', 'partition-one-way', 'clock', 'loss', 'duplicate', 'reorder', 'latency', 'fsync-fail', 'disk-full',
  'crash-at', 'isolate-leader', 'delay',
]);

export type OpMix = Record<(typeof OP_FUNCTIONS)[number], number>;

/**
 * What clients run: single-key operations (`kv`, the mix), or transactions (sim/txn-workload.ts):
 * `txn-list-append` (reads and appends of lists kept as strings of space-separated numbers) or
 * `txn-rw-register` (reads and writes of unique values), recorded as `f: txn` operations.
 */
export const WORKLOAD_KINDS = ['kv', 'txn-list-append', 'txn-rw-register'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export interface Workload {
  kind: WorkloadKind;
  /** Transactions: micro-operations per transaction at most (1..txnLength, uniformly), and distinct keys each touches at most. */
  txnLength: number;
  txnKeys: number;
  /**
   * Transactions: the share of operations that are instead one read or append of one key outside
   * any transaction (GET / APPEND), recorded as a transaction of one micro-operation, so that the
   * isolation check judges single-key operations against the transactions they meet.
   */
  txnPlain: number;
  /**
   * Transactions: the share that begin with a RANGE over the whole keyspace, recorded as a read
   * of every key (absent keys read empty), so that the check sees a range's phantoms.
   */
  txnRange: number;
  clients: number;
  keys: number;
  mix: OpMix;
  /** Operations to issue in all; absent: as many as fit in the duration. */
  ops?: number;
  /** Target operations per virtual second across all clients; absent: closed loop. */
  rate?: number;
  distribution: 'uniform' | 'zipfian';
  zipfTheta: number;
  timeoutNs: number;
  /** Pause between a client's operations in closed loop. */
  thinkNs: number;
  /**
   * Where reads go: `leader` (wherever the client's last answer came from — the leader, once it
   * has written) or `any` (a random node each time, as the seed projects' clients did).
   */
  reads: 'leader' | 'any';
  /**
   * How clients reach the cluster: `line` and `http` write the protocols' bytes over connections
   * to a node's front door (the path every real request takes: sessions, gateway, forwarding to
   * the leader); `native` sends the request protocol's frames straight to the nodes, with
   * KvClient's retries under one request id.
   */
  protocol: WorkloadProtocol;
  /**
   * Native clients: how long one attempt waits for its answer before the client tries another
   * node (default a quarter of timeoutNs). Longer than timeoutNs, the operation's deadline comes
   * first while an attempt is still in flight — the race a client must record as unknown.
   */
  attemptTimeoutNs?: number;
}

export const WORKLOAD_PROTOCOLS = ['line', 'http', 'native'] as const;
export type WorkloadProtocol = (typeof WORKLOAD_PROTOCOLS)[number];

export interface Scenario {
  name: string;
  description: string;
  /** Seeds to run when the command line names none. */
  seeds: { first: number; last: number };
  durationNs: number;
  cluster: {
    nodes: number;
    /** Raft: how many of the nodes form the initial cluster (n1…nV); the rest wait to join. */
    voters: number;
    engine: (typeof ENGINES)[number];
    replication: (typeof REPLICATIONS)[number];
    raft: RaftTuning;
    /** Replication primary: the first leader, and how often it ships its log. */
    primary: { leader: string; shipIntervalMs: number };
    /** The engines' sizes (a preset's, overridden field by field); empty: the engines' defaults. */
    storage: StorageSizes;
    /** Every node gossips (SWIM + Lifeguard) with these options; null: no gossip. */
    gossip: GossipOptions | null;
    /** Multi-Raft: shards (Raft groups) placed by the ring; 1: one group holds every key. */
    shards: number;
    /** Replicas per shard (default 3, or every node when fewer). */
    replicas: number;
    /**
     * Shards: the nodes past `voters` meet the cluster by gossip alone and ask to be added, as
     * `kv-lab serve --shards --join` does (ShardedReplica.askToJoin) — no operator's `join`.
     */
    joinByGossip: boolean;
  };
  network: { latency: { minNs: number; meanNs: number; maxNs: number } };
  disk: { syncLatencyMinNs: number; syncLatencyMaxNs: number; crash: CrashMode; dirCrash: 'lose' | 'random'; capacityBytes: number | null };
  workload: Workload;
  faults: Fault[];
  /** After the faults end: how long the healed cluster gets to answer every final read. */
  healNs: number;
  /** After healing, before the final reads: time for replicas to catch up. */
  settleNs: number;
  /**
   * The recovery check: after every moment the faults all end, the rate of answered operations
   * must be back to recoverFraction of its rate before the first fault within recoverWithinNs.
   */
  recoverWithinNs: number;
  recoverFraction: number;
  checks: CheckName[];
  /**
   * Checks expected to fail: the scenario demonstrates a design's anomaly (a store without
   * durable storage, asynchronous replication), and the run passes only if the check catches it.
   */
  expectFail: CheckName[];
  bugs: BugName[];
  /** Source file, for messages. */
  file: string;
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Engine sizes a scenario may set (the rest of each engine's options keep their defaults). The
 * LSM's logMode is not a size: the node chooses it for its replication mode.
 */
export interface StorageSizes {
  lsm?: Partial<Omit<LsmOptions, 'fsync' | 'logMode'>>;
  bitcask?: Partial<Omit<BitcaskOptions, 'fsync'>>;
}

export const PRESETS = ['default', 'tiny'] as const;
export type Preset = (typeof PRESETS)[number];

/**
 * `tiny`: every size small enough that a run of a few seconds with a hundred keys flushes
 * memtables, compacts into several levels, rolls manifests, rotates log segments and snapshots the
 * Raft log many times, so that crashes land inside each of them. Counted at the failpoints on
 * raft/crash-points.yaml (seed 1, 11 s virtual, its crashes left out): per node about 330 flushes,
 * 170 compactions, 65 manifest roll-overs and 75 Raft log checkpoints. Sizes sit at the engines'
 * lower limits where they have one (lsm/options.ts).
 */
export const TINY_STORAGE: Required<StorageSizes> = {
  lsm: {
    memtableBytes: 2048,
    blockBytes: 256,
    blockRestartInterval: 4,
    blockCacheBytes: 4096,
    tableCacheMax: 8,
    targetFileBytes: 2048,
    l0CompactionTrigger: 2,
    l0SlowdownTrigger: 6,
    l0StopTrigger: 10,
    l1Bytes: 8192,
    levelSizeRatio: 2,
    backgroundStepBytes: 512,
    manifestBytesMax: 512,
    walSegmentBytes: 4096,
    walBlockBytes: 512,
  },
  bitcask: { fileBytesMax: 8192, mergeDeadRatio: 0.3, mergeDeadBytesMin: 4096, backgroundStepBytes: 4096 },
};

export const TINY_RAFT: Partial<RaftTuning> = {
  snapshotEntries: 60,
  keepEntries: 10,
  snapshotBytes: 16 * 1024,
  keepBytes: 2048,
  maxMsgBytes: 4096,
  logSegmentBytes: 8192,
  logBlockBytes: 1024,
};

function seedRange(): Validator<{ first: number; last: number }> {
  return (node, path, ctx) => {
    const v = node !== null && isScalar(node) ? node.value : undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return { first: v, last: v };
    const m = typeof v === 'string' ? /^(\d+)\.\.(\d+)$/.exec(v) : null;
    if (m === null) return problem(ctx, node, path, `expected a seed (integer) or a range such as 1..200`);
    const first = Number(m[1]);
    const last = Number(m[2]);
    if (last < first) return problem(ctx, node, path, `range ${v} is empty`);
    return { first, last };
  };
}

const latency = obj({ min: { v: duration(), required: true }, mean: { v: duration(), required: true }, max: { v: duration(), required: true } });

const mixValidator = obj(Object.fromEntries(OP_FUNCTIONS.map((f) => [f, { v: num({ min: 0 }), default: 0 }])) as Record<(typeof OP_FUNCTIONS)[number], { v: Validator<number>; default: number }>);

const nodeSel = str({ pattern: /^(random|leader|follower|meta-leader|[a-z][a-z0-9-]*)$/, patternText: 'a node id (n1, n2, …), random, leader, follower or meta-leader' });

const sideSel = str({ pattern: /^(random|leader|follower|others|[a-z][a-z0-9-]*)$/, patternText: 'a node id, random, leader, follower or others' });

const lsmSizes = obj(
  Object.fromEntries(
    (['memtableBytes', 'blockBytes', 'blockRestartInterval', 'bloomBitsPerKey', 'blockCacheBytes', 'tableCacheMax', 'targetFileBytes', 'l0CompactionTrigger', 'l0SlowdownTrigger', 'l0StopTrigger', 'debtSlowdownBytes', 'debtStopBytes', 'l1Bytes', 'levelSizeRatio', 'backgroundStepBytes', 'manifestBytesMax', 'walSegmentBytes', 'walBlockBytes', 'walBufferBytes'] as const).map((k) => [k, { v: bytes }]),
  ) as Record<keyof Omit<LsmOptions, 'fsync' | 'logMode'>, { v: Validator<number> }>,
);
const bitcaskSizes = obj({ fileBytesMax: { v: bytes }, mergeDeadRatio: { v: num({ min: 0, max: 1 }) }, mergeDeadBytesMin: { v: bytes }, backgroundStepBytes: { v: bytes }, inflightBytesMax: { v: bytes }, bufferBytesMax: { v: bytes } });

/**
 * cluster.gossip: any of GossipOptions' numbers (times in ms, as the options name them), and
 * lifeguard on or off; an empty map is memberlist's LAN defaults.
 */
const GOSSIP_NUMBERS = Object.keys(DEFAULT_GOSSIP_OPTIONS).filter((k) => typeof DEFAULT_GOSSIP_OPTIONS[k as keyof GossipOptions] === 'number') as (keyof GossipOptions)[];
const gossipSettings = obj({
  ...(Object.fromEntries(GOSSIP_NUMBERS.map((k) => [k, { v: num({ min: 0 }) }])) as Record<string, { v: Validator<number> }>),
  lifeguard: { v: bool },
});

const common = {
  kind: { v: str(), required: true },
  at: { v: duration(), required: true },
  for: { v: duration({ minNs: 1 }) },
  every: { v: duration({ minNs: 1e6 }) },
  until: { v: duration() },
  afterElection: { v: duration() },
} as const;

const FAULT_FIELDS: Record<FaultKind, Validator<Record<string, unknown>>> = {
  crash: obj({ ...common, node: { v: nodeSel, required: true }, disk: { v: oneOf(CRASH_MODES) } }),
  restart: obj({ ...common, node: { v: nodeSel, required: true } }),
  pause: obj({ ...common, node: { v: nodeSel, required: true } }),
  resume: obj({ ...common, node: { v: nodeSel, required: true } }),
  partition: obj({
    ...common,
    shape: { v: oneOf(['groups', 'isolate', 'halves', 'majority-minority', 'bridge'] as const), required: true },
    groups: { v: list(list(nodeSel, { min: 1 }), { min: 2 }) },
    node: { v: nodeSel },
  }),
  'partition-one-way': obj({ ...common, from: { v: list(sideSel, { min: 1 }), required: true }, to: { v: list(sideSel, { min: 1 }), required: true } }),
  heal: obj({ ...common }),
  clock: obj({ ...common, node: { v: nodeSel, required: true }, skew: { v: duration({ signed: true }) }, driftPpm: { v: num({ minExclusive: -1e6, max: 1e6 }) } }),
  loss: obj({ ...common, probability: { v: probability, required: true } }),
  duplicate: obj({ ...common, probability: { v: probability, required: true } }),
  reorder: obj({ ...common, probability: { v: probability, required: true } }),
  latency: obj({ ...common, min: { v: duration(), required: true }, mean: { v: duration(), required: true }, max: { v: duration(), required: true } }),
  'fsync-fail': obj({ ...common, node: { v: nodeSel, required: true }, count: { v: int({ min: 0 }), default: 1 }, probability: { v: probability, default: 0 } }),
  corrupt: obj({ ...common, node: { v: nodeSel, required: true }, bits: { v: int({ min: 1, max: 1_000_000 }), default: 1 }, path: { v: str() }, file: { v: oneOf([...DATA_FILE_KINDS, 'any'] as const) }, whileOthersWhole: { v: bool } }),
  'disk-full': obj({ ...common, node: { v: nodeSel, required: true }, freeBytes: { v: bytes, default: 0 } }),
  failover: obj({ ...common, node: { v: nodeSel, required: true } }),
  join: obj({ ...common, node: { v: nodeSel, required: true } }),
  leave: obj({ ...common, node: { v: nodeSel, required: true } }),
  destroy: obj({ ...common, node: { v: nodeSel, required: true } }),
  'crash-at': obj({
    ...common,
    node: { v: nodeSel, default: 'any' },
    point: { v: oneOf(Object.keys(FAILPOINTS) as FailpointName[]), required: true },
    after: { v: int({ min: 1, max: 1_000_000 }) },
    within: { v: duration({ minNs: 1e6 }) },
    disk: { v: oneOf(CRASH_MODES) },
  }),
  'isolate-leader': obj({ ...common, afterWrites: { v: bool, default: true }, clients: { v: oneOf(['keep', 'cut'] as const), default: 'keep' }, within: { v: duration({ minNs: 1e6 }) } }),
  delay: obj({ ...common, node: { v: nodeSel, required: true }, min: { v: duration(), default: 0 }, max: { v: duration({ minNs: 1e6 }), required: true }, direction: { v: oneOf(['out', 'in', 'both'] as const), default: 'both' } }),
  transfer: obj({ ...common, node: { v: nodeSel, default: 'follower' } }),
};

/**
 * `leader-churn`: isolate-leader every 600ms for 450ms by default (the fields of isolate-leader).
 * Cut off for less than the longest election timeout (2 x electionTicks, 400ms by default), a
 * leader is often back before anyone else has won, and it wins again: the longest log is its own.
 */
const CHURN_FIELDS = FAULT_FIELDS['isolate-leader'];
const CHURN_EVERY_NS = 600e6;
const CHURN_FOR_NS = 450e6;
/** How long an armed fault (crash-at, isolate-leader) waits for its moment before it gives up. */
const ARMED_WITHIN_NS = 1e9;

const fault: Validator<Fault> = (node, path, ctx, at) => {
  if (node === null || !isMap(node)) return problem(ctx, node ?? at, path, 'expected a mapping with kind and at');
  const kindNode = node.items.find((p) => isScalar(p.key) && p.key.value === 'kind')?.value as YamlNode | undefined;
  const kind = kindNode !== undefined && isScalar(kindNode) ? kindNode.value : undefined;
  const kinds: readonly string[] = [...FAULT_KINDS, ...FAULT_ALIASES];
  if (typeof kind !== 'string' || !kinds.includes(kind)) {
    return problem(ctx, kindNode ?? node, `${path}.kind`, `expected one of ${kinds.join(', ')}; got ${JSON.stringify(kind ?? null)}`);
  }
  const line = ctx.lines.linePos(node.range?.[0] ?? 0).line;
  if (kind === 'leader-churn') {
    const raw = CHURN_FIELDS(node, path, ctx, at);
    if (raw === undefined) return undefined;
    const every = (raw.every as number | undefined) ?? CHURN_EVERY_NS;
    return toFault('isolate-leader', { ...raw, every, for: raw.for ?? Math.min(CHURN_FOR_NS, every * 0.75) }, node, path, ctx, line);
  }
  const raw = FAULT_FIELDS[kind as FaultKind](node, path, ctx, at);
  if (raw === undefined) return undefined;
  return toFault(kind as FaultKind, raw, node, path, ctx, line);
};

function toFault(kind: FaultKind, r: Record<string, unknown>, node: YamlNode, path: string, ctx: Ctx, line: number): Fault | undefined {
  const base = {
    atNs: r.at as number,
    line,
    ...(r.for !== undefined ? { forNs: r.for as number } : {}),
    ...(r.every !== undefined ? { everyNs: r.every as number } : {}),
    ...(r.until !== undefined ? { untilNs: r.until as number } : {}),
    ...(r.afterElection !== undefined ? { afterElectionNs: r.afterElection as number } : {}),
  };
  if (r.until !== undefined && r.every === undefined) return problem(ctx, node, `${path}.until`, 'until: needs every:');
  if (r.every !== undefined && r.for !== undefined && (r.for as number) >= (r.every as number)) return problem(ctx, node, `${path}.for`, 'a repeated fault must end (for:) before it repeats (every:)');
  if (r.for !== undefined && !REVERSIBLE.has(kind)) return problem(ctx, node, `${path}.for`, `a ${kind} fault cannot be undone with for:`);
  switch (kind) {
    case 'crash':
      return { ...base, kind, node: r.node as string, ...(r.disk !== undefined ? { disk: r.disk as CrashMode } : {}) };
    case 'restart':
    case 'pause':
    case 'resume':
      return { ...base, kind, node: r.node as string };
    case 'partition': {
      const shape = r.shape as 'groups' | 'isolate' | 'halves' | 'majority-minority' | 'bridge';
      if (shape === 'groups') {
        if (r.groups === undefined) return problem(ctx, node, `${path}.groups`, 'shape groups needs groups: [[n1], [n2, n3]]');
        return { ...base, kind, shape, groups: r.groups as string[][] };
      }
      if (r.groups !== undefined) return problem(ctx, node, `${path}.groups`, `only shape groups takes groups`);
      if (shape === 'isolate') {
        if (r.node === undefined) return problem(ctx, node, `${path}.node`, 'shape isolate needs node');
        return { ...base, kind, shape, node: r.node as string };
      }
      if (r.node !== undefined) return problem(ctx, node, `${path}.node`, `only shape isolate takes node`);
      return { ...base, kind, shape };
    }
    case 'partition-one-way':
      return { ...base, kind, from: r.from as string[], to: r.to as string[] };
    case 'heal':
      return { ...base, kind };
    case 'clock':
      if (r.skew === undefined && r.driftPpm === undefined) return problem(ctx, node, path, 'a clock fault needs skew, driftPpm or both');
      return { ...base, kind, node: r.node as string, ...(r.skew !== undefined ? { skewNs: r.skew as number } : {}), ...(r.driftPpm !== undefined ? { driftPpm: r.driftPpm as number } : {}) };
    case 'loss':
    case 'duplicate':
    case 'reorder':
      return { ...base, kind, probability: r.probability as number };
    case 'latency': {
      const [minNs, meanNs, maxNs] = [r.min as number, r.mean as number, r.max as number];
      if (!(minNs <= meanNs && meanNs <= maxNs)) return problem(ctx, node, path, 'latency needs min <= mean <= max');
      return { ...base, kind, minNs, meanNs, maxNs };
    }
    case 'fsync-fail':
      if ((r.count as number) === 0 && (r.probability as number) === 0) return problem(ctx, node, path, 'fsync-fail needs count > 0 or probability > 0');
      return { ...base, kind, node: r.node as string, count: r.count as number, probability: r.probability as number };
    case 'corrupt':
      return { ...base, kind, node: r.node as string, bits: r.bits as number, ...(r.path !== undefined ? { path: r.path as string } : {}), ...(r.file !== undefined ? { file: r.file as DataFileKind | 'any' } : {}), ...(r.whileOthersWhole === true ? { whileOthersWhole: true as const } : {}) };
    case 'disk-full':
      return { ...base, kind, node: r.node as string, freeBytes: r.freeBytes as number };
    case 'failover':
    case 'join':
    case 'leave':
    case 'destroy':
    case 'transfer':
      return { ...base, kind, node: r.node as string };
    case 'crash-at': {
      const withinNs = (r.within as number | undefined) ?? armedWithinNs(base);
      return { ...base, kind, node: r.node as string, point: r.point as FailpointName, after: (r.after as number | undefined) ?? null, withinNs, ...(r.disk !== undefined ? { disk: r.disk as CrashMode } : {}) };
    }
    case 'isolate-leader':
      return { ...base, kind, afterWrites: r.afterWrites as boolean, clients: r.clients as 'keep' | 'cut', withinNs: (r.within as number | undefined) ?? armedWithinNs(base) };
    case 'delay': {
      const [minNs, maxNs] = [r.min as number, r.max as number];
      if (minNs > maxNs) return problem(ctx, node, path, 'delay needs min <= max');
      return { ...base, kind, node: r.node as string, minNs, maxNs, direction: r.direction as 'out' | 'in' | 'both' };
    }
  }
}

/** An armed fault waits for its moment at most until it would repeat, and at most ARMED_WITHIN_NS. */
function armedWithinNs(base: { everyNs?: number }): number {
  return base.everyNs !== undefined ? Math.min(ARMED_WITHIN_NS, base.everyNs) : ARMED_WITHIN_NS;
}

const root = obj({
  name: { v: str({ pattern: NAME, patternText: 'lowercase letters, digits and dashes' }), required: true },
  description: { v: str({ maxLength: 4000 }), required: true },
  seed: { v: seedRange() },
  duration: { v: duration({ minNs: 1e6 }), required: true },
  cluster: {
    v: obj({
      nodes: { v: int({ min: 1, max: SCENARIO_NODES_MAX }), default: 1 },
      voters: { v: int({ min: 1, max: SCENARIO_NODES_MAX }) },
      engine: { v: oneOf(ENGINES), default: 'memory' },
      replication: { v: oneOf(REPLICATIONS), default: 'none' },
      primary: { v: obj({ leader: { v: str({ pattern: /^[a-z][a-z0-9-]*$/, patternText: 'a node id' }) }, shipInterval: { v: duration({ minNs: 1e6 }) } }) },
      preset: { v: oneOf(PRESETS), default: 'default' },
      storage: { v: obj({ lsm: { v: lsmSizes }, bitcask: { v: bitcaskSizes } }) },
      gossip: { v: gossipSettings },
      shards: { v: int({ min: 1, max: SHARDS_MAX }), default: 1 },
      replicas: { v: int({ min: 1, max: SCENARIO_NODES_MAX }) },
      joinByGossip: { v: bool },
      raft: {
        v: obj({
          tick: { v: duration({ minNs: 1e6 }) },
          electionTicks: { v: int({ min: 2, max: 1000 }) },
          heartbeatTicks: { v: int({ min: 1, max: 999 }) },
          snapshotEntries: { v: int({ min: 10, max: 10_000_000 }) },
          snapshotBytes: { v: int({ min: 1024, max: 2 ** 40 }) },
          keepEntries: { v: int({ min: 0, max: 10_000_000 }) },
          keepBytes: { v: int({ min: 0, max: 2 ** 40 }) },
          leaseReads: { v: bool },
          maxMsgBytes: { v: int({ min: 1, max: 64 * 1024 * 1024 }) },
          preVote: { v: bool },
          checkQuorum: { v: bool },
          appendBeforePersist: { v: bool },
          hardStateCopies: { v: bool },
          logSegmentBytes: { v: bytes },
          logBlockBytes: { v: bytes },
        }),
      },
    }),
    required: true,
  },
  network: { v: obj({ latency: { v: latency } }) },
  disk: {
    v: obj({
      syncLatency: { v: obj({ min: { v: duration(), required: true }, max: { v: duration(), required: true } }) },
      crash: { v: oneOf(CRASH_MODES), default: 'lose' },
      dirCrash: { v: oneOf(['lose', 'random'] as const), default: 'lose' },
      capacity: { v: bytes },
    }),
  },
  workload: {
    v: obj({
      clients: { v: int({ min: 1, max: 1000 }), default: 4 },
      keys: { v: int({ min: 1, max: 1_000_000 }), default: 8 },
      mix: { v: mixValidator, default: { read: 50, write: 30, cas: 10, delete: 5, append: 5 } },
      ops: { v: int({ min: 1, max: 10_000_000 }) },
      rate: { v: num({ minExclusive: 0, max: 1e7 }) },
      distribution: { v: oneOf(['uniform', 'zipfian'] as const), default: 'uniform' },
      zipfTheta: { v: num({ minExclusive: 0, max: 5 }), default: 0.99 },
      timeout: { v: duration({ minNs: 1e6 }), default: 1e9 },
      think: { v: duration(), default: 1e6 },
      reads: { v: oneOf(['leader', 'any'] as const), default: 'leader' },
      protocol: { v: oneOf(WORKLOAD_PROTOCOLS), default: 'line' },
      attemptTimeout: { v: duration({ minNs: 1e6 }) },
      kind: { v: oneOf(WORKLOAD_KINDS), default: 'kv' },
      txnLength: { v: int({ min: 1, max: 100 }), default: 4 },
      txnKeys: { v: int({ min: 1, max: 100 }), default: 3 },
      txnPlain: { v: probability, default: 0 },
      txnRange: { v: probability, default: 0 },
    }),
    required: true,
  },
  faults: { v: list(fault), default: [] },
  heal: {
    v: obj({
      timeout: { v: duration({ minNs: 1e6 }), default: 10e9 },
      settle: { v: duration(), default: 1e9 },
      recoverWithin: { v: duration({ minNs: 1e6 }), default: 3e9 },
      recoverFraction: { v: num({ min: 0, max: 1 }), default: 0.5 },
    }),
  },
  checks: { v: list(oneOf(CHECKS)) },
  expect: { v: obj(Object.fromEntries(CHECKS.map((c) => [c, { v: oneOf(['pass', 'fail'] as const) }])) as Record<CheckName, { v: Validator<'pass' | 'fail'> }>) },
  bugs: { v: list(oneOf(Object.keys(BUGS) as BugName[])), default: [] },
  verbose: { v: bool },
});

/** cluster.raft over the lab's defaults (and the preset's); `tick` is a duration in the file, tickMs in the record. */
function raftTuning(r: Partial<Omit<RaftTuning, 'tickMs'>> & { tick?: number }, preset: Preset): RaftTuning {
  const { tick, ...rest } = r;
  const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<RaftTuning>;
  return { ...LAB_RAFT_TUNING, ...(preset === 'tiny' ? TINY_RAFT : {}), ...given, ...(tick !== undefined ? { tickMs: tick / 1e6 } : {}) };
}

/** cluster.storage over the preset's sizes, field by field. */
function storageSizes(given: StorageSizes | undefined, preset: Preset): StorageSizes {
  const base: StorageSizes = preset === 'tiny' ? TINY_STORAGE : {};
  const out: StorageSizes = {};
  const lsm = { ...base.lsm, ...given?.lsm };
  const bitcask = { ...base.bitcask, ...given?.bitcask };
  if (Object.keys(lsm).length > 0) out.lsm = lsm;
  if (Object.keys(bitcask).length > 0) out.bitcask = bitcask;
  return out;
}

/** cluster.gossip over memberlist's LAN defaults; the options' own validation names a bad knob. */
function gossipSettingsOf(given: Record<string, number | boolean | undefined>, file: string): GossipOptions {
  const { lifeguard, ...numbers } = given;
  const set = Object.fromEntries(Object.entries(numbers).filter(([, v]) => v !== undefined)) as Partial<GossipOptions>;
  try {
    return gossipOptions({ ...(set as object), ...(lifeguard !== undefined ? { lifeguard: lifeguard as boolean } : {}) });
  } catch (err) {
    throw new ScenarioError(`${file}: cluster.gossip: ${(err as Error).message}`);
  }
}

/** Parses and validates a scenario; throws SchemaError naming every problem. */
export function parseScenario(text: string, file: string): Scenario {
  const r = parseYaml(text, file, root);
  const lat = r.network?.latency;
  const sync = r.disk?.syncLatency;
  const w = r.workload;
  const scenario: Scenario = {
    name: r.name,
    description: r.description,
    seeds: r.seed ?? { first: 1, last: 1 },
    durationNs: r.duration,
    cluster: {
      primary: { leader: r.cluster.primary?.leader ?? 'n1', shipIntervalMs: (r.cluster.primary?.shipInterval ?? 50e6) / 1e6 },
      nodes: r.cluster.nodes,
      voters: r.cluster.voters ?? r.cluster.nodes,
      engine: r.cluster.engine,
      replication: r.cluster.replication,
      raft: raftTuning(r.cluster.raft ?? {}, r.cluster.preset),
      storage: storageSizes(r.cluster.storage, r.cluster.preset),
      gossip: r.cluster.gossip === undefined ? null : gossipSettingsOf(r.cluster.gossip as Record<string, number | boolean | undefined>, file),
      shards: r.cluster.shards,
      replicas: r.cluster.replicas ?? Math.min(3, r.cluster.nodes),
      joinByGossip: r.cluster.joinByGossip ?? false,
    },
    network: { latency: lat ? { minNs: lat.min, meanNs: lat.mean, maxNs: lat.max } : { minNs: 100_000, meanNs: 500_000, maxNs: 20_000_000 } },
    disk: {
      syncLatencyMinNs: sync?.min ?? 200_000,
      syncLatencyMaxNs: sync?.max ?? 2_000_000,
      crash: r.disk?.crash ?? 'lose',
      dirCrash: r.disk?.dirCrash ?? 'lose',
      capacityBytes: r.disk?.capacity ?? null,
    },
    workload: {
      kind: w.kind,
      txnLength: w.txnLength,
      txnKeys: w.txnKeys,
      txnPlain: w.txnPlain,
      txnRange: w.txnRange,
      clients: w.clients,
      keys: w.keys,
      mix: w.mix,
      ...(w.ops !== undefined ? { ops: w.ops } : {}),
      ...(w.rate !== undefined ? { rate: w.rate } : {}),
      distribution: w.distribution,
      zipfTheta: w.zipfTheta,
      timeoutNs: w.timeout,
      thinkNs: w.think,
      reads: w.reads,
      protocol: w.protocol,
      ...(w.attemptTimeout !== undefined ? { attemptTimeoutNs: w.attemptTimeout } : {}),
    },
    faults: r.faults,
    healNs: r.heal?.timeout ?? 10e9,
    settleNs: r.heal?.settle ?? 1e9,
    recoverWithinNs: r.heal?.recoverWithin ?? 3e9,
    recoverFraction: r.heal?.recoverFraction ?? 0.5,
    checks: r.checks ?? CHECKS.filter((c) => (!RAFT_CHECKS.includes(c) || r.cluster.replication === 'raft') && (c !== 'convergence' || r.cluster.nodes > 1) && (!GOSSIP_CHECKS.includes(c) || r.cluster.gossip !== undefined) && (r.cluster.shards > 1 ? !UNSHARDED_CHECKS.includes(c) : !SHARD_CHECKS.includes(c)) && (c !== 'isolation' || (r.workload?.kind ?? 'kv') !== 'kv')),
    expectFail: Object.entries(r.expect ?? {}).filter(([, v]) => v === 'fail').map(([k]) => k as CheckName),
    bugs: r.bugs,
    file,
  };
  crossCheck(scenario);
  return scenario;
}

/** Rules that span fields: node names exist, times fit in the run, the mix is not empty. */
function crossCheck(s: Scenario): void {
  const errors: string[] = [];
  const ids = nodeIds(s);
  const at = (f: Fault) => `${s.file}:${f.line}`;
  const checkNode = (f: Fault, n: string) => {
    if (n === 'any' && f.kind === 'crash-at') return;
    if (n !== 'random' && n !== 'leader' && n !== 'follower' && n !== 'meta-leader' && !ids.includes(n)) errors.push(`${at(f)}: faults: ${f.kind} names node ${n}, but the cluster has ${ids.join(', ')}`);
  };
  // Partitions may also name clients (c1, c2, …), to cut clients off from nodes.
  const clients = Array.from({ length: s.workload.clients }, (_, i) => `c${i + 1}`);
  const checkNodeOrClient = (f: Fault, n: string) => {
    if (!clients.includes(n)) checkNode(f, n);
  };
  for (const f of s.faults) {
    if (f.untilNs !== undefined && f.untilNs > s.durationNs) errors.push(`${at(f)}: faults: ${f.kind} repeats until ${f.untilNs / 1e9}s, past the end of the run`);
    if (f.atNs >= s.durationNs) errors.push(`${at(f)}: faults: ${f.kind} at ${f.atNs / 1e9}s is not before the end of the run (duration ${s.durationNs / 1e9}s)`);
    if ('node' in f) checkNode(f, f.node);
    if (f.kind === 'partition' && f.shape === 'groups') f.groups.flat().forEach((n) => checkNodeOrClient(f, n));
    if (f.kind === 'partition-one-way') {
      if (f.from.includes('others') && f.to.includes('others')) errors.push(`${at(f)}: faults: partition-one-way: only one side may be others`);
      [...f.from, ...f.to].filter((n) => n !== 'others').forEach((n) => checkNodeOrClient(f, n));
    }
    if (f.kind === 'partition' && f.shape !== 'groups' && f.shape !== 'isolate' && ids.length < 3) {
      errors.push(`${at(f)}: faults: partition shape ${f.shape} needs at least 3 nodes`);
    }
  }
  for (const c of s.expectFail) if (!s.checks.includes(c)) errors.push(`${s.file}: expect.${c}: the check is not in checks`);
  if (s.workload.attemptTimeoutNs !== undefined && s.workload.protocol !== 'native') errors.push(`${s.file}: workload.attemptTimeout: only native clients retry by attempt (protocol is ${s.workload.protocol})`);
  if (s.workload.kind !== 'kv' && s.cluster.replication !== 'raft') errors.push(`${s.file}: workload.kind: ${s.workload.kind} runs transactions, which need replication raft`);
  if (Object.values(s.workload.mix).every((w) => w === 0)) errors.push(`${s.file}: workload.mix: every weight is 0; give at least one operation a weight`);
  if (s.cluster.replication === 'primary' && !ids.includes(s.cluster.primary.leader)) errors.push(`${s.file}: cluster.primary.leader: ${s.cluster.primary.leader} is not one of ${ids.join(', ')}`);
  if (s.cluster.voters > s.cluster.nodes) errors.push(`${s.file}: cluster.voters: ${s.cluster.voters} is more than the ${s.cluster.nodes} nodes`);
  if (s.cluster.voters !== s.cluster.nodes && s.cluster.replication !== 'raft') errors.push(`${s.file}: cluster.voters: only replication raft can add nodes later`);
  for (const f of s.faults) if ((f.kind === 'join' || f.kind === 'leave') && s.cluster.replication !== 'raft') errors.push(`${at(f)}: faults: ${f.kind} changes Raft membership; it needs replication raft`);
  for (const f of s.faults) if (f.kind === 'failover' && s.cluster.replication !== 'primary') errors.push(`${at(f)}: faults: failover is an operator's command of replication primary (Raft elects its leaders)`);
  for (const f of s.faults) if ((f.kind === 'transfer' || f.kind === 'isolate-leader') && s.cluster.replication !== 'raft') errors.push(`${at(f)}: faults: ${f.kind} acts on a Raft leader; it needs replication raft`);
  for (const f of s.faults) if (f.afterElectionNs !== undefined && s.cluster.replication !== 'raft') errors.push(`${at(f)}: faults: afterElection waits for a Raft election; it needs replication raft`);
  for (const c of RAFT_CHECKS) if (s.checks.includes(c) && s.cluster.replication !== 'raft') errors.push(`${s.file}: checks: ${c} needs replication raft`);
  for (const c of GOSSIP_CHECKS) if (s.checks.includes(c) && s.cluster.gossip === null) errors.push(`${s.file}: checks: ${c} needs cluster.gossip`);
  if (s.checks.includes('isolation') && s.workload.kind === 'kv') errors.push(`${s.file}: checks: isolation judges transactions; it needs workload.kind txn-list-append or txn-rw-register`);
  errors.push(...storageProblems(s));
  errors.push(...shardProblems(s));
  if (s.cluster.raft.leaseReads && !s.cluster.raft.checkQuorum) errors.push(`${s.file}: cluster.raft: leaseReads needs checkQuorum`);
  if (s.cluster.raft.heartbeatTicks >= s.cluster.raft.electionTicks) errors.push(`${s.file}: cluster.raft: heartbeatTicks must be less than electionTicks`);
  if (s.cluster.replication === 'none' && s.cluster.nodes !== 1) {
    errors.push(`${s.file}: cluster.nodes: replication none serves a single node; got ${s.cluster.nodes}`);
  }
  if (errors.length > 0) throw new ScenarioError(errors.join('\n'));
}

/** Sizes the engines would refuse, refused here with the file's name rather than at every boot. */
function storageProblems(s: Scenario): string[] {
  const errors: string[] = [];
  const { lsm, bitcask } = s.cluster.storage;
  try {
    if (lsm !== undefined) resolveLsmOptions(lsm);
    if (bitcask !== undefined) resolveBitcaskOptions(bitcask);
  } catch (err) {
    errors.push(`${s.file}: cluster.storage: ${(err as Error).message}`);
  }
  const r = s.cluster.raft;
  if (r.logBlockBytes < 32 || r.logBlockBytes > 65535 || r.logSegmentBytes < r.logBlockBytes) errors.push(`${s.file}: cluster.raft: logBlockBytes must be in [32, 65535] and at most logSegmentBytes`);
  return errors;
}

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

export function nodeIds(s: Pick<Scenario, 'cluster'>): string[] {
  return Array.from({ length: s.cluster.nodes }, (_, i) => `n${i + 1}`);
}
