import { createHash } from 'node:crypto';
import { GOSSIP_MAGIC } from '../cluster/gossip/codec.js';
import type { GossipNode } from '../cluster/gossip/node.js';
import type { GossipOptions } from '../cluster/gossip/options.js';
import { GossipRuntime } from '../cluster/gossip/runtime.js';
import type { MemberEvent, MemberMeta, MemberSnapshot } from '../cluster/gossip/types.js';
import type { Env } from '../env/env.js';
import { decodeBinaryRaftFrame, isBinaryRaftFrame } from '../replication/raft-runtime/codec.js';
import { SNAPSHOT_CHUNK_FRAME } from '../replication/raft-runtime/snapshot-transfer.js';
import type { RepairDetail } from '../replication/raft-runtime/runtime.js';
import { FSYNC_ALWAYS, FSYNC_NEVER, storageStatus, type Engine, type EngineKind, type EngineOptions, type FsyncPolicy, type StorageStatus } from '../storage/index.js';
import { assert } from '../util/assert.js';
import { parseJson } from '../util/json-parse.js';
import { allowed, authenticate, authorize, forwardedPrincipal, forwardedPrincipalProblem, issueToken, LOGIN_LIMITS, loginTarget, permit, resolveForwarded, SYNC_PASSWORD_VERIFIER, tokenUser, VerifiedPasswords, type AuthConfig, type AuthOutcome, type ForwardedPrincipal } from './auth.js';
import type { KvView } from './kv-state.js';
import type { BugName } from './bugs.js';
import { NODE_LOCAL_KEYS, scanAll } from './keyspace.js';
import { encodeMessage, isReadOnly, isTxnOp, validateRequest, type Request, type Response, type Result } from './protocol.js';
import { PrimaryReplica } from './primary-replica.js';
import { RaftReplica } from './raft-replica.js';
import type { ShardMap } from '../cluster/placement/shard-map.js';
import { SHARD_FRAME } from './shard-env.js';
import { SHARD_BATCH_FRAME } from './shard-outbox.js';
import { ShardedReplica, type ShardedConfig, type ShardStatus } from './sharded-replica.js';
import { DEFAULT_RAFT_TUNING, type RaftTuning } from './raft-tuning.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import { SingleReplica } from './single.js';
import { EngineStore, openRaftEngine } from './store.js';
import { engineCorruption, markEngineRotten, quarantineRottenEngine, rottenEngineMarker } from './engine-repair.js';
import { StorageCorruptionError } from '../storage/errors.js';

export type { Reply } from './replica.js';
export type { RaftTuning } from './raft-tuning.js';

export type ReplicationMode = 'none' | 'raft' | 'primary';
export type { EngineKind } from '../storage/index.js';

export interface NodeConfig {
  /** Every member of the cluster, this node included. */
  members: string[];
  replication: ReplicationMode;
  engine: EngineKind;
  /**
   * When the engine fsyncs. Default: `always` for a single node (its engine is what makes a write
   * durable) and `never` under replication (the replication log is; after a crash it replays what
   * the engine lost).
   */
  engineFsync?: FsyncPolicy;
  bugs: ReadonlySet<BugName>;
  /** null: no authentication (the simulator; `--insecure` real clusters). */
  auth?: AuthConfig | null;
  raft?: Partial<RaftTuning>;
  /** false: a node joining an existing cluster, which receives the log instead of bootstrapping it. */
  original?: boolean;
  /** Replication `primary`: the initial leader and how often it ships its log. */
  primary?: { leader: string; shipIntervalMs: number };
  /** Protocol-aware recovery of a Raft member's state machine: needed at start, and done (the simulator's repair check). */
  /** shard: the group's, on a sharded node. */
  onRepair?: (node: string, event: 'needed' | 'repaired', detail: RepairDetail, shard?: number) => void;
  /** Called for every log entry the state machine applies (the simulator's safety observers); `shard` with shards. */
  onApply?: (node: string, index: number, term: number, digest: string, data: Uint8Array | null, shard?: number) => void;
  /**
   * Free disk space below which the node refuses writes with `disk_full` (default
   * DISK_RESERVE_BYTES). Raft followers stop accepting entries below half of it.
   */
  diskReserveBytes?: number;
  /** Sizes of the storage engine (tests and the lab's tiny presets); absent: the engine's defaults. */
  storage?: Pick<EngineOptions, 'lsm' | 'bitcask'>;
  /** Membership by gossip (SWIM + Lifeguard, src/cluster/gossip) beside replication; absent: none. */
  gossip?: NodeGossipConfig;
  /**
   * Multi-Raft (sharded-replica.ts): the keyspace cut into `count` shards, each a Raft group of
   * `replicas` nodes placed by the ring (src/cluster/placement). Absent or count 1: one group
   * holds every key, exactly as without it. Needs replication raft. With authentication, users
   * and databases are shard 0's, copied to every node (shard-catalog.ts). joinByGossip: a node
   * that meets the cluster by gossip alone and asks to be added (`serve --shards --join`).
   */
  shards?: { count: number; replicas: number; joinByGossip?: boolean; balanceMs?: number; coalesceTicks?: boolean; coalesceMessages?: boolean; sharedRaftLog?: boolean; onMoveStep?: ShardedConfig['onMoveStep'] };
}

/** How often a sharded node's leaders look whether to hand a shard to its preferred leader. */
export const SHARD_BALANCE_MS = 1000;

/**
 * A node's gossip: it runs from the node's start, independent of its storage and replica, over
 * the node's own Net (frames whose first byte is GOSSIP_MAGIC), so that a node whose engine is
 * still opening — or failing — is still seen alive or dead by the others. It decides nothing in
 * Raft: membership of a Raft group stays Raft's (member.add/remove); gossip says who is up, for
 * placement (src/cluster/ring) and for operators.
 */
export interface NodeGossipConfig {
  options: GossipOptions;
  /** Members to join through (this node's own id is left out). */
  seeds: readonly string[];
  meta: MemberMeta;
  /** Every membership change this node sees (the simulator's membership check). */
  onEvent?: (observer: string, e: MemberEvent) => void;
}

/**
 * The free space a node keeps: below it, writes are refused `disk_full` while reads go on, and
 * they are accepted again once space is freed. Without it a full disk made the Raft log's append
 * fail and the node exit (issue 16, item 11). The reserve covers what is already accepted —
 * entries in flight, a memtable flush, a compaction's output, a snapshot — so that ENOSPC is not
 * met on the way: 64 MiB is the raft log's snapshotBytes trigger, the most log a node holds
 * between two snapshots.
 */
export const DISK_RESERVE_BYTES = 64 * 1024 * 1024;

/** Operations a node with a full disk still accepts: they are how an operator frees space. */
const FREEING_OPS: ReadonlySet<string> = new Set(['delete', 'db.delete', 'member.remove', 'txn.rollback']);

/** What /status, /metrics and `kv-lab cluster status` show of a node. */
export interface NodeStatus extends ReplicaStatus {
  id: string;
  replication: ReplicationMode;
  engine: EngineKind;
  /** Counters since start, for /metrics. */
  counters: { requests: number; writes: number; reads: number; errors: number };
  /** Members as this node's gossip sees them (absent without gossip). */
  gossip?: GossipMemberStatus[];
  /** A sharded node's groups: each hosted shard's role, term and leader (absent with one group). */
  shards?: ShardStatus;
  /** Its engines, added up (one per shard on a sharded node); /metrics has each as kvlab_node_storage_*. */
  storage: StorageStatus;
}

/** One member in a node's gossip view, for /status and `kv-lab cluster members`. */
export interface GossipMemberStatus {
  id: string;
  state: MemberSnapshot['state'];
  incarnation: number;
  zone: string;
  /** Where it says it listens (name → host:port). */
  addresses: Record<string, string>;
  /** Milliseconds since a gossip frame last came from it directly; null: never (known by hearsay). */
  lastContactMs: number | null;
}

const frameDecoder = new TextDecoder('utf-8', { fatal: true });

/** The users a node knows before it knows any: none (root is configured, not stored). */
const EMPTY_VIEW: KvView = { get: () => undefined, scan: () => [] };

/** Gossip senders whose last contact a node remembers (memberlist's default cluster limit is far below). */
const GOSSIP_CONTACTS_MAX = 10_000;

/** Requests a node may have in progress at once; beyond it, it answers `unavailable`. */
export const IN_FLIGHT_REQUESTS_MAX = 10_000;

/**
 * One kv-lab node: it receives frames from clients and peers, checks requests (shape, limits,
 * authentication), and hands them to its replica — a single server or a Raft group member —
 * which orders and answers them.
 */
export class KvNode {
  private replica: Replica | null = null;
  private store: EngineStore | null = null;
  private started = false;
  private stopped = false;
  private readonly counters = { requests: 0, writes: 0, reads: 0, errors: 0 };
  /** Password checks running, and logins waiting for one (AuthConfig.loginLimits bounds both). */
  private loginsVerifying = 0;
  private diskWasFull = false;
  /** Stop without closing (flushing) the engine: it is found rotten (failRotten). */
  private abandonStore = false;
  private readonly loginsWaiting: (() => void)[] = [];
  /** Passwords checked lately, so that logging in again costs no scrypt (null without auth). */
  readonly verifiedPasswords: VerifiedPasswords | null;
  private readonly gossip: GossipRuntime | null = null;
  /** When a gossip frame last came from each sender (monotonic ms). */
  private readonly gossipContact = new Map<string, number>();

  constructor(
    private readonly env: Env,
    private readonly config: NodeConfig,
  ) {
    assert(config.members.includes(env.id) || config.original === false, () => `node ${env.id} is not among the members ${config.members.join(',')}`);
    assert(config.replication !== 'none' || config.members.length === 1, 'replication none serves exactly one node');
    env.net.onReceive((from, frame) => this.receive(from, frame));
    this.verifiedPasswords = config.auth != null ? new VerifiedPasswords(config.auth.tokenSecret, config.auth.verifiedPasswords) : null;
    env.log.log('info', 'node.start', { id: env.id, replication: config.replication, engine: config.engine });
    const g = config.gossip;
    if (g !== undefined) {
      // Its own stream of randomness (a fork: the node's other draws stay what they were).
      this.gossip = new GossipRuntime({ id: env.id, meta: g.meta, clock: env.clock, rng: env.rng.fork('gossip'), options: g.options, send: (to, frame) => env.net.send(to, frame), onEvent: (e) => g.onEvent?.(env.id, e) });
      this.gossip.join(g.seeds.filter((id) => id !== env.id));
    }
    const fsync = config.bugs.has('ack-before-fsync') ? FSYNC_NEVER : config.engineFsync ?? (config.replication === 'none' ? FSYNC_ALWAYS : FSYNC_NEVER);
    if (config.shards !== undefined && config.shards.count > 1) {
      this.startShards(config.shards, fsync);
      return;
    }
    const raft = config.replication === 'raft';
    const open = (mayRepair: boolean) =>
      openRaftEngine(env, config.engine, raft, { ...config.storage, fsync }, (err, engine) => {
        if (this.stopped) {
          engine?.close(() => {});
          return;
        }
        const rotten = err !== null ? engineCorruption(err) : null;
        if (raft && mayRepair && rotten !== null) return this.quarantineEngine(rotten.message, () => open(false));
        if (err !== null || engine === undefined) return this.fail(err ?? new Error('the storage engine did not open'));
        try {
          // On a Raft member a durable engine's state is what the Raft log is compacted against.
          this.store = new EngineStore(engine, { durable: raft });
          this.startReplica(this.store);
        } catch (e) {
          // The first reads (the applied index) met a rotten table: an engine that opened is not
          // yet one that reads. Thrown from here it would vanish into the engine's callbacks.
          const bad = engineCorruption(e as Error);
          if (bad === null) throw e;
          this.store = null;
          this.replica = null;
          engine.close(() => {});
          if (raft && mayRepair) return this.quarantineEngine(bad.message, () => open(false));
          return this.fail(bad);
        }
      });
    // An engine found rotten while the node ran (a read, a merge, a compaction): its last life
    // left the marker, and the engine is quarantined before it is opened.
    const rottenWhy = raft ? rottenEngineMarker(env) : null;
    if (rottenWhy !== null) {
      this.quarantineEngine(rottenWhy, () => open(true));
      return;
    }
    open(true);
  }

  /**
   * A Raft member whose engine files fail their checks at start (protocol-aware recovery,
   * src/replication/raft-runtime/README.md): the group holds every byte of its state, so rather
   * than exit at every restart it marks its state machine lost (durably, first), moves the whole
   * engine directory to quarantine, and starts with an empty engine, which the Raft runtime
   * refills from the leader's snapshot before this member applies or leads again.
   */
  private quarantineEngine(why: string, then: () => void): void {
    quarantineRottenEngine(this.env, why, (e) => {
      if (e !== null) return this.fail(e);
      if (!this.stopped) then();
    });
  }

  /**
   * A Raft member whose engine failed a check while running: it cannot go on (the engine stopped),
   * so it leaves a marker (durably) for its next start to quarantine the engine, then exits.
   */
  private failRotten(err: Error, rotten: StorageCorruptionError): void {
    const { env } = this;
    env.log.log('error', 'node.failed', { error: err.message, engineRotten: rotten.path });
    // The engine is not closed: closing flushes what an apply cut short had written.
    this.abandonStore = true;
    this.stop();
    markEngineRotten(env, rotten, () => env.exit?.(err.message));
  }

  private startReplica(store: EngineStore): void {
    const { env, config } = this;
    const fatal = (err: Error) => this.fail(err);
    const started = (err: Error | null) => {
      if (err !== null) this.fail(err);
      else {
        this.started = true;
        env.log.log('info', 'node.ready', { id: env.id });
      }
    };
    if (config.replication === 'none') {
      this.replica = new SingleReplica(env, store, config.bugs.has('duplicate-apply'), fatal);
      started(null);
    } else if (config.replication === 'primary') {
      const p = config.primary ?? { leader: config.members[0] as string, shipIntervalMs: 50 };
      this.replica = new PrimaryReplica(env, store, { members: config.members, leader: p.leader, shipIntervalMs: p.shipIntervalMs, bugs: config.bugs }, fatal, started);
    } else {
      const t = { ...DEFAULT_RAFT_TUNING, ...config.raft };
      const onRepair = config.onRepair;
      const raftConfig = { ...t, members: config.members, bugs: config.bugs, original: config.original !== false, diskReserveBytes: (config.diskReserveBytes ?? DISK_RESERVE_BYTES) / 2, ...(config.onApply ? { onApply: config.onApply } : {}), ...(onRepair !== undefined ? { onRepair: (event: 'needed' | 'repaired', detail: RepairDetail) => onRepair(env.id, event, detail) } : {}) };
      this.replica = new RaftReplica(env, store, raftConfig, fatal, started);
    }
  }

  /** Whether the node has started: its engine and replica (on a sharded node, every group it hosts) are up. */
  isStarted(): boolean {
    return this.started && !this.stopped;
  }

  /** The placement of a sharded node (the gateway splits ranges and batches by it); null: one group. */
  shardMap(): ShardMap | null {
    return this.sharded?.map ?? null;
  }

  /** Multi-Raft: one group per hosted shard, each with its own engine (sharded-replica.ts). */
  private startShards(shards: NonNullable<NodeConfig['shards']>, fsync: FsyncPolicy): void {
    const { env, config } = this;
    assert(config.replication === 'raft', () => `shards need replication raft, not ${config.replication}`);
    assert(shards.joinByGossip !== true || (config.original === false && config.gossip !== undefined), 'a node that joins by gossip is not a founding member, and gossips');
    const t = { ...DEFAULT_RAFT_TUNING, ...config.raft };
    const raft = { ...t, bugs: config.bugs, original: config.original !== false, diskReserveBytes: (config.diskReserveBytes ?? DISK_RESERVE_BYTES) / 2 };
    this.replica = new ShardedReplica(
      env,
      { members: config.members, shards: shards.count, replicas: shards.replicas, balanceMs: shards.balanceMs ?? SHARD_BALANCE_MS, engine: config.engine, engineFsync: fsync, raft, ...(shards.coalesceTicks !== undefined ? { coalesceTicks: shards.coalesceTicks } : {}), ...(shards.coalesceMessages !== undefined ? { coalesceMessages: shards.coalesceMessages } : {}), ...(shards.sharedRaftLog !== undefined ? { sharedRaftLog: shards.sharedRaftLog } : {}), ...(shards.onMoveStep !== undefined ? { onMoveStep: shards.onMoveStep } : {}), ...((config.auth ?? null) !== null ? { catalog: true } : {}), ...(shards.joinByGossip === true ? { joinByGossip: { alive: () => this.members().filter((m) => m.state === 'alive').map((m) => m.id) } } : {}), ...(config.storage !== undefined ? { storage: config.storage } : {}), ...(config.onApply ? { onApply: config.onApply } : {}), ...(config.onRepair ? { onRepair: config.onRepair } : {}) },
      (err) => this.fail(err),
      (err) => {
        if (err !== null) this.fail(err);
        else {
          this.started = true;
          env.log.log('info', 'node.ready', { id: env.id });
        }
      },
    );
  }

  /** The sharded replica (Multi-Raft), or null for a single group. */
  get sharded(): ShardedReplica | null {
    return this.replica instanceof ShardedReplica ? this.replica : null;
  }

  /** The replica, for the simulator's observers. */
  get replicaForInspection(): Replica | null {
    return this.replica;
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    const rotten = this.config.replication === 'raft' && this.sharded === null ? engineCorruption(err) : null;
    if (rotten !== null) return this.failRotten(err, rotten);
    this.env.log.log('error', 'node.failed', { error: err.message });
    this.stop();
    this.env.exit?.(err.message);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // Logins waiting for a check are answered now (the check would answer `unavailable`).
    for (const waiting of this.loginsWaiting.splice(0)) waiting();
    this.replica?.stop();
    this.gossip?.stop();
    this.env.net.close();
    if (!this.abandonStore) this.store?.close();
  }

  private receive(from: string, frame: Uint8Array): void {
    if (this.stopped) return;
    if (frame[0] === GOSSIP_MAGIC) {
      // The gossip codec bounds and validates its frames itself, and drops (and counts) bad ones.
      if (this.gossip !== null) {
        // Senders are members (or seeds) that proved the cluster secret; the bound is a backstop.
        if (this.gossipContact.size >= GOSSIP_CONTACTS_MAX && !this.gossipContact.has(from)) this.gossipContact.clear();
        this.gossipContact.set(from, this.env.clock.monotonicMs());
        this.gossip.receive(from, frame);
      }
      return;
    }
    if (frame[0] === SHARD_FRAME || frame[0] === SHARD_BATCH_FRAME) {
      // A shard group's frame (Raft message or snapshot piece) in its envelope: members only.
      const sharded = this.sharded;
      if (sharded !== null && this.isPeer(from)) sharded.receiveShardFrame(from, frame);
      else this.env.log.log('warn', 'node.peer_refused', { from, kind: 'shard', why: sharded === null ? 'this node runs no shards' : 'not a member of the cluster' });
      return;
    }
    if (frame[0] === SNAPSHOT_CHUNK_FRAME) {
      // A piece of a snapshot file, streamed by the leader: bytes, never parsed as a message.
      if (this.isPeer(from)) this.replica?.receiveSnapshotChunk?.(from, frame);
      else this.env.log.log('warn', 'node.peer_refused', { from, kind: 'snapchunk', why: 'not a member of the cluster' });
      return;
    }
    let message: Record<string, unknown>;
    try {
      // A Raft append with entries travels binary (codec.ts); every other frame is JSON.
      // JSON is parsed with a bound on its depth: a value nested 100,000 deep from an anonymous
      // sender overflowed the stack of the first recursive check it met (issue 16, item 1).
      message = isBinaryRaftFrame(frame[0]) ? decodeBinaryRaftFrame(frame) : (parseJson(frameDecoder.decode(frame), `frame from ${from}`) as Record<string, unknown>);
      if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof message.kind !== 'string') throw new Error('no "kind"');
    } catch (err) {
      this.env.log.log('warn', 'node.bad_frame', { from, error: (err as Error).message });
      return;
    }
    if (message.kind === 'req') this.request(from, message);
    else if (this.isPeer(from)) this.replica?.receivePeer(from, message);
    // A node that joins a sharded cluster by gossip asks to be a member before it is one: heard
    // only from a node gossip sees alive (over the peer port: a holder of the cluster secret).
    else if (message.kind === 'placement.join' && this.sharded !== null && this.gossipAlive(from)) this.sharded.joinRequest(from, message);
    // A node that left the member set may still hold a replica it missed its removal from, and
    // asks the shard's leader whether it may delete it. A leader that restarted since knows only
    // the current member set as its peers, and refusing the question left that replica running
    // for good (shards/grow-shrink seed 15). The answer says only "no member of shard S, as of
    // commit C", to a sender on the peer network (on real nodes, a holder of the cluster secret).
    else if (message.kind === 'shard.gc' && this.sharded !== null) this.sharded.receivePeer(from, message);
    else this.env.log.log('warn', 'node.peer_refused', { from, kind: message.kind, why: 'not a member of the cluster' });
  }

  private request(from: string, m: Record<string, unknown>): void {
    const seq = typeof m.seq === 'number' ? m.seq : -1;
    const reply: Reply = (result) => {
      if (!this.stopped) this.env.net.send(from, encodeMessage({ kind: 'res', seq, result } satisfies Response));
    };
    let forwarded: ForwardedPrincipal | null = null;
    if (m.principal !== undefined) {
      // Whom a member's forwarded request speaks for: believed only from a member (or its
      // forwarding client), which reached this node over the peer network by proving the secret.
      const shape = forwardedPrincipalProblem(m.principal);
      if (!this.forwardedByPeer(from) || shape !== null) {
        this.env.log.log('warn', 'auth.denied', { from, op: 'forwarded', reason: shape ?? 'a principal from a sender that is not a member' });
        reply({ ok: false, code: 'unauthorized', message: shape ?? 'a principal is accepted only from the members of the cluster' });
        return;
      }
      forwarded = m.principal as ForwardedPrincipal;
      const { principal: _p, ...rest } = m;
      m = rest;
    }
    const problem = validateRequest(m);
    if (problem !== null) {
      reply({ ok: false, code: 'bad_request', message: problem });
      return;
    }
    this.serve(m as unknown as Request, reply, forwarded);
  }

  /**
   * Whether a request's sender is a member or a member's forwarding client (`<member>.gw.<hex>`,
   * FrontDoor): the senders whose ForwardedPrincipal is believed. On a real node every frame of
   * the peer network comes from a connection that proved the cluster secret under that very name
   * (src/env/real/net.ts); the name check keeps the lab's clients, which share the simulated
   * network, from being taken for members.
   */
  private forwardedByPeer(from: string): boolean {
    const gw = from.indexOf('.gw.');
    return this.isPeer(gw > 0 ? from.slice(0, gw) : from);
  }

  /**
   * The users this node checks logins and tokens against: its own state, or on a sharded node
   * its copy of the catalog (shard-catalog.ts); null while a sharded node has not heard it yet.
   */
  private authView(): KvView | null {
    const sharded = this.sharded;
    if (sharded !== null) return sharded.catalog.known ? sharded.catalog.view : null;
    return this.store?.view ?? null;
  }

  /** The principal a forwarded request should carry for this token, or why it may not be forwarded (Gateway.forward). */
  principalFor(token: string | undefined): { ok: true; principal: ForwardedPrincipal } | { ok: false; result: Result } {
    const auth = this.config.auth ?? null;
    assert(auth !== null, 'principalFor on a node without authentication');
    const who = this.authenticateToken(auth, token);
    return who.ok ? { ok: true, principal: forwardedPrincipal(who.principal) } : who;
  }

  /** A token checked against the users this node knows; `unavailable` if a sharded node knows none yet and the token is not root's. */
  private authenticateToken(auth: AuthConfig, token: string | undefined): AuthOutcome {
    const view = this.authView();
    const now = this.env.clock.wallMs();
    if (view !== null) return authenticate(auth, view, token, now);
    const root = auth.root !== null && token !== undefined && tokenUser(token, now)?.user === auth.root.name;
    if (root) return authenticate(auth, EMPTY_VIEW, token, now);
    return { ok: false, result: { ok: false, code: 'unavailable', message: `${this.env.id} has not yet learned the cluster's users: retry` } };
  }

  /**
   * Whether a frame's sender may speak as a member (Raft messages, log shipments): a configured
   * member, or one the replica's membership has since added. Anyone else could otherwise inject a
   * vote or an append under its own name through the client port.
   */
  private isPeer(from: string): boolean {
    if (this.config.members.includes(from) || (this.replica?.status().members.includes(from) ?? false)) return true;
    // A node that joins later (serve --join: not an original member, no configured peers) knows
    // the members only by gossip until the leader's configuration reaches it; without this it
    // refused the leader's appends and `member add` could never complete. Gossip members reach it
    // over the peer port, where every frame comes from a holder of the cluster secret.
    return this.config.original === false && this.gossipAlive(from);
  }

  /** Whether this node's gossip sees `from` alive. */
  private gossipAlive(from: string): boolean {
    return this.gossip !== null && this.members().some((m) => m.id === from && m.state === 'alive');
  }

  /**
   * Handles a validated request and calls reply exactly once. The network path and in-process
   * front ends (HTTP, the TCP line protocol) both come through here.
   */
  submit(req: Request, outerReply: Reply): void {
    this.serve(req, outerReply, null);
  }

  /** submit, for a request a member forwarded with the principal it authenticated (`forwarded`), or a client's (null). */
  private serve(req: Request, outerReply: Reply, forwarded: ForwardedPrincipal | null): void {
    this.counters.requests++;
    let answered = false;
    const reply: Reply = (result) => {
      assert(!answered, () => `request ${req.client}/${req.seq} answered twice`);
      answered = true;
      if (!result.ok) this.counters.errors++;
      outerReply(result);
    };
    const store = this.store;
    // A sharded node has no store of its own: its groups do (and its users are its catalog's copy).
    if (this.stopped || !this.started || this.replica === null || (store === null && this.sharded === null)) {
      reply({ ok: false, code: 'unavailable', message: this.stopped ? 'node is stopped' : 'node is starting' });
      return;
    }
    if (this.replica.inFlight() >= IN_FLIGHT_REQUESTS_MAX) {
      reply({ ok: false, code: 'unavailable', message: 'too many requests in flight' });
      return;
    }
    const auth = this.config.auth ?? null;
    if (auth === null && req.op.f === 'auth.login') {
      reply({ ok: false, code: 'bad_request', message: 'this cluster runs without authentication (--insecure): there is nothing to log in to' });
      return;
    }
    if (isTxnOp(req.op) && this.config.replication !== 'raft') {
      reply({ ok: false, code: 'bad_request', message: `transactions need replication raft (this node runs ${this.config.replication})` });
      return;
    }
    let answer = reply;
    if (auth !== null) {
      if (req.op.f === 'auth.login') return this.login(auth, req.op.user, req.op.password, reply);
      const decision = this.decide(auth, req, forwarded);
      if (!decision.ok) {
        this.env.log.log('warn', 'auth.denied', { client: req.client, op: req.op.f, db: req.db, reason: decision.result.ok ? '' : decision.result.message });
        reply(decision.result);
        return;
      }
      const principal = decision.principal;
      // A user sees the names of the databases it may read, no others (issue 16, item 11).
      if (req.op.f === 'db.list' && !principal.root) answer = (r) => reply(r.ok && Array.isArray(r.value) ? { ok: true, value: r.value.filter((db) => typeof db === 'string' && allowed(principal.record, { db, perm: 'read' })) } : r);
    }
    // After authorisation: a stranger learns nothing of the disk, and costs no look at it.
    if (!isReadOnly(req.op) && !FREEING_OPS.has(req.op.f) && this.diskFull()) {
      reply({ ok: false, code: 'disk_full', message: `the disk of ${this.env.id} is nearly full: writes are refused until space is freed (reads still work)` });
      return;
    }
    if (isReadOnly(req.op)) this.counters.reads++;
    else this.counters.writes++;
    this.replica.submit(req, answer);
  }

  /** Whether a request may run: its token (or a member's forwarded principal) checked, then its permission. */
  private decide(auth: AuthConfig, req: Request, forwarded: ForwardedPrincipal | null): AuthOutcome {
    if (forwarded === null) {
      const who = this.authenticateToken(auth, req.token);
      return who.ok ? permit(who.principal, req) : who;
    }
    const view = this.authView() ?? (auth.root !== null && forwarded.user === auth.root.name ? EMPTY_VIEW : null);
    if (view === null) return { ok: false, result: { ok: false, code: 'unavailable', message: `${this.env.id} has not yet learned the cluster's users: retry` } };
    const who = resolveForwarded(auth, view, forwarded);
    return who.ok ? permit(who.principal, req) : who;
  }

  /** Whether free disk space is below the reserve; logs each change of that state once. */
  private diskFull(): boolean {
    const { usedBytes, capacityBytes } = this.env.disk.usage();
    const free = capacityBytes === null ? Infinity : capacityBytes - usedBytes;
    const full = free < (this.config.diskReserveBytes ?? DISK_RESERVE_BYTES);
    if (full !== this.diskWasFull) {
      this.diskWasFull = full;
      this.env.log.log(full ? 'error' : 'info', full ? 'node.disk_full' : 'node.disk_ok', { freeBytes: free, reserveBytes: this.config.diskReserveBytes ?? DISK_RESERVE_BYTES });
    }
    return full;
  }

  /**
   * A login: the password is checked through the verifier (off the event loop on a real node),
   * at most loginLimits.verifyingMax at once with loginLimits.waitingMax waiting; beyond that it
   * is refused `unavailable` at once, so a flood of logins costs a bounded amount of hashing. An
   * unknown user is checked against a dummy hash, so the time taken does not tell who exists.
   */
  private login(auth: AuthConfig, user: string, password: string, reply: Reply): void {
    if (this.stopped) {
      reply({ ok: false, code: 'unavailable', message: 'node is stopped' });
      return;
    }
    const view = this.authView();
    if (view === null && !(auth.root !== null && user === auth.root.name)) {
      // A sharded node that has not heard the catalog yet must not answer "wrong password" for a user it cannot see.
      reply({ ok: false, code: 'unavailable', message: `${this.env.id} has not yet learned the cluster's users: retry` });
      return;
    }
    const users = (): KvView => this.authView() ?? EMPTY_VIEW;
    const known = loginTarget(auth, users(), user);
    if (known.known && this.verifiedPasswords?.has(user, password, known.hash, known.epoch, this.env.clock.monotonicMs())) {
      // Verified lately for this very credential: an HMAC instead of an scrypt, and no check slot.
      reply({ ok: true, value: issueToken(auth, user, known.epoch, known.hash, this.env.clock.wallMs()) });
      return;
    }
    const limits = auth.loginLimits ?? LOGIN_LIMITS;
    if (this.loginsVerifying >= limits.verifyingMax) {
      if (this.loginsWaiting.length >= limits.waitingMax) {
        this.env.log.log('warn', 'auth.login_refused', { user, why: 'too many logins in progress' });
        reply({ ok: false, code: 'unavailable', message: 'too many logins in progress: retry later' });
        return;
      }
      this.loginsWaiting.push(() => this.login(auth, user, password, reply));
      return;
    }
    this.loginsVerifying++;
    const target = loginTarget(auth, users(), user);
    let called = false;
    (auth.verifier ?? SYNC_PASSWORD_VERIFIER).verify(password, target.hash, (ok) => {
      assert(!called, 'a password verifier answered twice');
      called = true;
      this.loginsVerifying--;
      assert(this.loginsVerifying >= 0, 'more password checks ended than began');
      if (this.stopped) reply({ ok: false, code: 'unavailable', message: 'node is stopped' });
      else {
        // The check took time: the token binds the credential checked, and only if it is still
        // the user's (a password changed meanwhile must not yield a token for the old one).
        const now = loginTarget(auth, users(), user);
        if (ok && target.known && now.hash === target.hash && now.epoch === target.epoch) {
          this.verifiedPasswords?.remember(user, password, target.hash, target.epoch, this.env.clock.monotonicMs());
          reply({ ok: true, value: issueToken(auth, user, target.epoch, target.hash, this.env.clock.wallMs()) });
        } else {
          this.env.log.log('warn', 'auth.denied', { op: 'auth.login', user, reason: 'wrong user name or password' });
          reply({ ok: false, code: 'unauthorized', message: 'wrong user name or password' });
        }
      }
      this.loginsWaiting.shift()?.();
    });
  }

  /**
   * A data read (read, range) answered at once when the replica can (Replica.readNow), after the
   * checks submit makes; counted as submit counts it. null when it cannot be answered so, or when
   * anything about it is out of the ordinary (refused, a login, a stopped node): then nothing was
   * counted or logged, and the caller submits it. For in-process front ends, whose pipelined
   * reads of a single node then skip the request bookkeeping and callbacks of submit.
   */
  readNow(req: Request): Result | null {
    const store = this.store;
    const replica = this.replica;
    if (this.stopped || !this.started || replica === null || (store === null && this.sharded === null) || replica.readNow === undefined) return null;
    if ((req.op.f !== 'read' && req.op.f !== 'range') || replica.inFlight() >= IN_FLIGHT_REQUESTS_MAX) return null;
    const auth = this.config.auth ?? null;
    if (auth !== null) {
      const view = this.authView();
      if (view === null || !authorize(auth, view, req, this.env.clock.wallMs()).ok) return null;
    }
    const result = replica.readNow(req);
    if (result === null) return null;
    this.counters.requests++;
    this.counters.reads++;
    if (!result.ok) this.counters.errors++;
    return result;
  }

  /**
   * The replicated state this node holds — every key but the node's own bookkeeping — as a digest,
   * with the log position it reflects: replicas at the same position must have the same digest.
   */
  stateDigest(): { applied: number; keys: number; digest: string } {
    const hash = createHash('sha256');
    let keys = 0;
    try {
      for (const [k, v] of this.stateEntries()) {
        hash.update(k).update('\x00').update(v).update('\x00');
        keys++;
      }
    } catch (err) {
      // A rotten engine file under the scan: the node stops as it would on any read of it (and a
      // Raft member repairs at its next start); its state is no position at all.
      if (!(err instanceof StorageCorruptionError)) throw err;
      this.fail(err);
      return { applied: -1, keys: 0, digest: `unreadable: ${err.message}` };
    }
    return { applied: this.replica?.status().appliedIndex ?? 0, keys, digest: hash.digest('hex') };
  }

  /** Every replicated entry in key order (node-local keys such as applied positions left out). */
  *stateEntries(): Generator<[string, string]> {
    const store = this.store;
    if (store === null) return;
    for (const kv of scanAll(store.view)) if (!NODE_LOCAL_KEYS.has(kv[0])) yield kv;
  }

  /** The gossip core, for the simulator's membership check; null without gossip. */
  get gossipNode(): GossipNode | null {
    return this.gossip?.node ?? null;
  }

  /** Every member this node knows of by gossip, itself included (empty without gossip). */
  members(): MemberSnapshot[] {
    return this.gossip?.node.snapshot() ?? [];
  }

  status(): NodeStatus {
    const r: ReplicaStatus = this.replica?.status() ?? { role: 'starting', term: 0, leader: null, members: this.config.members, commitIndex: 0, appliedIndex: 0, inFlight: 0 };
    return {
      ...r,
      role: this.stopped ? 'stopped' : this.started ? r.role : 'starting',
      id: this.env.id,
      replication: this.config.replication,
      engine: this.config.engine,
      counters: { ...this.counters },
      ...(this.gossip !== null ? { gossip: this.gossipStatus() } : {}),
      ...(this.sharded !== null ? { shards: this.sharded.shardStatus() } : {}),
      storage: storageStatus(this.sharded !== null ? this.sharded.engineStats() : this.store !== null ? [this.store.engine.stats()] : []),
    };
  }

  private gossipStatus(): GossipMemberStatus[] {
    const now = this.env.clock.monotonicMs();
    return this.members().map((m) => {
      const at = m.id === this.env.id ? now : this.gossipContact.get(m.id);
      return { id: m.id, state: m.state, incarnation: m.incarnation, zone: m.meta.zone, addresses: Object.fromEntries(m.meta.addresses), lastContactMs: at === undefined ? null : Math.round(now - at) };
    });
  }
}
