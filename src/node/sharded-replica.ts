import { createHash } from 'node:crypto';
import { ShardMap } from '../cluster/placement/shard-map.js';
import type { Env } from '../env/env.js';
import type { Timer } from '../env/clock.js';
import { decodeBinaryRaftFrame, isBinaryRaftFrame } from '../replication/raft-runtime/codec.js';
import { SNAPSHOT_CHUNK_FRAME } from '../replication/raft-runtime/snapshot-transfer.js';
import { type EngineKind, type EngineOptions, type EngineStats, type FsyncPolicy } from '../storage/index.js';
import { LSM_DEFAULTS } from '../storage/lsm/options.js';
import { assert } from '../util/assert.js';
import { parseJson } from '../util/json-parse.js';
import { MEMBER_SET_KEY, NODE_LOCAL_KEYS, scanAll, userKey as userKeyOf } from './keyspace.js';
import { encodeMessage, isTxnOp, singleKey, type Request, type Result } from './protocol.js';
import { RaftReplica, type RaftReplicaConfig } from './raft-replica.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import type { RecoveryStatus, RepairDetail } from '../replication/raft-runtime/runtime.js';
import { shardEnv } from './shard-env.js';
import { ShardTxn } from './shard-txn.js';
import { finishRemoval, markJoined, markRemoved, shardOrigin } from './shard-disk.js';
import { ShardMembers, PUSH_MS } from './shard-members.js';
import { CATALOG_BYTES_MAX, CATALOG_DATABASES_MAX, CATALOG_USERS_MAX, ShardCatalog } from './shard-catalog.js';
import { MOVE_MS, ShardMover } from './shard-mover.js';
import type { MoveStep } from '../cluster/placement/moves.js';
import { decodeShardFrames, ShardOutbox } from './shard-outbox.js';
import { EngineStore, openRaftEngine } from './store.js';
import { dropFailedRead, engineCorruption, guardReads, markEngineRotten, quarantineRottenEngine, readGuardedClock, rottenEngineMarker } from './engine-repair.js';
import { SharedRaftLog } from '../replication/raft-runtime/shared-log.js';
import { markLogLoss } from '../replication/raft-runtime/durable-storage.js';
import { RAFT_DIR } from './data-dir.js';
import { TickCoalescer } from './tick-coalescer.js';

/**
 * Multi-Raft: a node that hosts replicas of many shards, each its own Raft group — the very
 * RaftReplica of a single-group node, on an Env of its own (shard-env.ts: its own directory, its
 * frames in shard envelopes, its own randomness). The node routes a request to the group of the
 * key's shard (src/cluster/placement); a shard it holds no replica of is answered `not_leader`
 * naming a node that does, and the client (or the gateway's forwarding client) goes there — the
 * same path a Raft follower's refusal already takes.
 *
 * Storage: each group has its own engine (`shards/<i>/kv`) and snapshot files
 * (`shards/<i>/raft/snap`); the Raft logs of all the node's groups are one shared log, `raftlog/`
 * (src/replication/raft-runtime/shared-log.ts and README.md there: TiKV's raft-engine idea),
 * so one fsync covers every group's Ready of a round of group commit where a log per group paid
 * one per group (64 shards on 3 nodes: 609 fdatasync for 617 writes). A group's applied index,
 * sessions, snapshots and recovery are still exactly the single group's. `sharedRaftLog: false`
 * keeps a log per group (`shards/<i>/raft/wal`), as before, for comparison.
 *
 * Moves: the member set (shard-members.ts, replicated by shard 0's group) decides the placement;
 * when it changes, the shards' leaders move their replicas through Raft membership changes
 * (shard-mover.ts), replicas are created empty where placement wants them and deleted once Raft
 * has removed them (shard-disk.ts records which, so that a restart starts the right groups).
 *
 * Leader balance: Raft elects whichever replica times out first, so leaders drift together. A
 * leader that is not its shard's preferred leader (ShardMap.preferredLeader) and sees that
 * replica caught up hands leadership over (Raft's leadership transfer, thesis §3.10), checked
 * every balanceMs. A preferred leader that is down is never waited for: it is not caught up.
 */

export interface ShardedConfig {
  /** Every node of the cluster (the ring's members). */
  members: string[];
  shards: number;
  replicas: number;
  /** How often a leader checks whether to hand a shard to its preferred leader; 0: never. */
  balanceMs: number;
  engine: EngineKind;
  engineFsync: FsyncPolicy;
  storage?: Pick<EngineOptions, 'lsm' | 'bitcask'>;
  /** The single group's Raft configuration (members are replaced by each shard's replicas). */
  raft: Omit<RaftReplicaConfig, 'members' | 'onApply' | 'onRepair'>;
  onApply?: (node: string, index: number, term: number, digest: string, data: Uint8Array | null, shard?: number) => void;
  /** One timer event per tick for all groups (tick-coalescer.ts); false: a timer per group. Default true. */
  coalesceTicks?: boolean;
  /** One network message per destination and turn for all groups (shard-outbox.ts); false: one per frame. Default true. */
  coalesceMessages?: boolean;
  /** Repairs of a group's state machine from its group (RaftRuntimeHooks.onRepair), for the lab's repair check. */
  onRepair?: (node: string, event: 'needed' | 'repaired', detail: RepairDetail, shard?: number) => void;
  /** Every move step this node's leaders take (the simulator counts moves). */
  onMoveStep?: (node: string, shard: number, step: MoveStep) => void;
  /** One Raft log for all the node's groups (shared-log.ts); false: a log per group. Default true. */
  sharedRaftLog?: boolean;
  /**
   * A node that meets the cluster by gossip alone (`serve --shards --join`): it knows neither the
   * founding members nor the member set, and asks the members it meets to add it (askToJoin).
   * `alive`: the nodes its gossip sees alive now. Absent: a founding member, or one whose cluster
   * file names the founding members (`cluster add-node`).
   */
  joinByGossip?: { alive: () => string[] };
  /**
   * Keep and spread a copy of the catalog (users, databases: shard-catalog.ts) — a cluster with
   * authentication. false (default): nothing is read or sent for it, as before it existed.
   */
  catalog?: boolean;
}

/** Operations that change the catalog (users, databases). */
const CATALOG_CHANGES: ReadonlySet<string> = new Set(['user.put', 'user.delete', 'user.grant', 'db.create', 'db.delete']);

/** Joins by gossip a node proposes at once (as shard 0's leader). */
export const JOINS_IN_FLIGHT_MAX = 16;

/** Where the node's shared Raft log lives. */
export const SHARED_LOG_DIR = 'raftlog';

/** One hosted shard as /status shows it. */
export interface ShardGroupStatus {
  shard: number;
  role: ReplicaStatus['role'];
  term: number;
  leader: string | null;
  commitIndex: number;
  /** Its replicas by placement, the preferred leader first. */
  replicas: string[];
  /** This replica's repair or holds after corruption (RaftRuntime.recovery); absent when none. */
  recovery?: RecoveryStatus;
}

/** A sharded node's shards as /status shows them. */
export interface ShardStatus {
  count: number;
  replicas: number;
  /** How many of the hosted shards this node leads. */
  leading: number;
  /** The member set this node knows (its epoch, and its members), which placement follows. */
  epoch: number;
  members: string[];
  hosted: ShardGroupStatus[];
}

interface Group {
  shard: number;
  store: EngineStore | null;
  replica: RaftReplica | null;
  /** Its replica has started (or failed to): before that it may not be removed. */
  ready: boolean;
  /** Removed while starting: deleted once started. */
  removeWhenReady: string | null;
  /** The group's Env (its directory shards/<i>/), once started. */
  env?: Env;
}

const frameDecoder = new TextDecoder('utf-8', { fatal: true });
const frameEncoder = new TextEncoder();

export class ShardedReplica implements Replica {
  private readonly members: ShardMembers;
  /** Users and databases, replicated by shard 0's group, copied on every node (shard-catalog.ts). */
  readonly catalog: ShardCatalog;
  private readonly mover: ShardMover;
  private moveTimer: Timer | null = null;
  private readonly groups = new Map<number, Group>();
  /**
   * Shards whose removed replica is still closing its engine or having its files deleted, with
   * the creations of a new replica that wait for that: a closing LSM writes its last table into
   * the directory, which must not be the new replica's.
   */
  private readonly removing = new Map<number, (() => void)[]>();
  /** Per shard this node does not hold: the next of its replicas to name (round robin). */
  private readonly referrals = new Map<number, number>();
  private stopped = false;
  private balanceTimer: Timer | null = null;
  /** One ticker for every group's Raft ticks (null: each group arms its own timer). */
  private readonly ticks: TickCoalescer | null;
  /** Frames to each node gathered per turn into one message (null: each frame is a message). */
  private readonly outbox: ShardOutbox | null;
  /** Transactions across shards: two-phase commit (shard-txn.ts). */
  private readonly txn: ShardTxn;
  /** Nodes that asked to join, whose addition this node (shard 0's leader) has proposed. */
  private readonly joinsInFlight = new Set<string>();
  /** Asks to join sent so far (which node to ask next). */
  private joinAsks = 0;
  /** The groups' shared Raft log (null: a log per group, or not open yet). */
  private raftLog: SharedRaftLog | null = null;

  constructor(
    private readonly env: Env,
    private readonly config: ShardedConfig,
    private readonly onFatal: (err: Error) => void,
    onStarted: (err: Error | null) => void,
  ) {
    this.members = new ShardMembers(env, config.joinByGossip !== undefined ? null : config.members, { shards: config.shards, replicas: config.replicas }, {
      shard0: () => {
        const g = this.groups.get(0);
        return g?.replica != null && g.store !== null && g.ready ? { replica: g.replica, store: g.store } : null;
      },
    });
    this.catalog = new ShardCatalog(env, {
      shard0: () => {
        const g = this.groups.get(0);
        return g?.replica != null && g.store !== null && g.ready ? { replica: g.replica, store: g.store } : null;
      },
      peers: () => this.members.peers(),
    });
    this.mover = new ShardMover(env, {
      hosted: () => [...this.groups.values()].map((g) => ({ shard: g.shard, replica: g.ready ? g.replica : null })),
      isHosted: (shard) => this.groups.has(shard),
      map: () => this.map,
      learned: () => this.members.learned,
      create: (shard) => this.createGroup(shard),
      remove: (shard, why) => this.removeGroup(shard, why),
      send: (to, body) => env.net.send(to, frameEncoder.encode(JSON.stringify(body))),
      removeEarly: config.raft.bugs.has('move-remove-early'),
      ...(config.onMoveStep !== undefined ? { onStep: (shard: number, step: MoveStep) => config.onMoveStep?.(env.id, shard, step) } : {}),
    });
    this.ticks = config.coalesceTicks === false ? null : new TickCoalescer(env.clock, config.raft.tickMs);
    this.outbox = config.coalesceMessages === false ? null : new ShardOutbox(env.net, env.clock);
    // A rotten table under a transaction's read fails that group where it is read (RaftReplica's
    // txnView); the transactions' timers and entry points drop the error (engine-repair.ts).
    this.txn = new ShardTxn({ id: env.id, clock: readGuardedClock(env.clock), log: env.log, bugs: config.raft.bugs, map: () => this.map, send: (to, m) => env.net.send(to, encodeMessage(m)), group: (s) => this.group(s)?.txnHost ?? null, hosted: () => this.hostedShards() });
    if (config.sharedRaftLog === false) {
      this.startGroups(onStarted);
      return;
    }
    const c = config.raft;
    const deps = { disk: env.disk, clock: env.clock, log: env.log };
    const markLoss = (at: string, reason: string, done: (err: Error | null) => void) => markSharedLogLoss(env, at, reason, done);
    SharedRaftLog.open(deps, { dir: SHARED_LOG_DIR, skipFsync: c.bugs.has('skip-log-fsync'), wal: { segmentBytesMax: c.logSegmentBytes, blockBytes: c.logBlockBytes }, markLoss }, (err, log) => {
      if (this.stopped) {
        log?.close(() => {});
        return;
      }
      if (err !== null || log === undefined) return onStarted(err ?? new Error('the shared raft log did not open'));
      this.raftLog = log;
      this.startGroups(onStarted);
    });
  }

  private startGroups(onStarted: (err: Error | null) => void): void {
    const config = this.config;
    const env = this.env;
    const mine = this.startupShards();
    // Until its group opens, a hosted shard's records in the shared log must outlive collections.
    this.raftLog?.expect(mine.map((m) => m.shard));
    env.log.log('info', 'shards.start', { shards: config.shards, replicas: config.replicas, hosted: mine.map((m) => m.shard).join(',') });
    let waiting = mine.length;
    let failed = false;
    const started = (err: Error | null) => {
      if (failed) return;
      if (err !== null) {
        failed = true;
        onStarted(err);
        return;
      }
      if (--waiting === 0) {
        this.scheduleBalance();
        this.scheduleMoves();
        onStarted(null);
      }
    };
    if (mine.length === 0) {
      // A node holding no shard still routes: every request is answered with a referral.
      this.scheduleBalance();
      this.scheduleMoves();
      onStarted(null);
      return;
    }
    for (const { shard, original } of mine) this.startGroup(shard, original, started);
  }

  /** The placement of the member set this node knows (moves change it). */
  get map(): ShardMap {
    return this.members.map;
  }

  /**
   * The groups to start, as the disk records them (shard-disk.ts): replicas created by moves, and
   * — on a node of the first member set — the first placement's, unless Raft removed them since.
   */
  private startupShards(): { shard: number; original: boolean }[] {
    const out: { shard: number; original: boolean }[] = [];
    const firstOwner = this.config.raft.original;
    for (let shard = 0; shard < this.config.shards; shard++) {
      const origin = shardOrigin(this.env.disk, shard);
      if (origin === 'removed') finishRemoval(this.env.disk, shard);
      else if (origin === 'joined') out.push({ shard, original: false });
      else if (firstOwner && this.members.map.replicas(shard).includes(this.env.id)) out.push({ shard, original: true });
    }
    return out;
  }

  /** An empty replica for a move: marked on disk as joined, then started; the leader fills it. */
  private createGroup(shard: number): void {
    if (this.stopped || this.groups.has(shard)) return;
    const removal = this.removing.get(shard);
    if (removal !== undefined) {
      removal.push(() => this.createGroup(shard));
      return;
    }
    const group: Group = { shard, store: null, replica: null, ready: false, removeWhenReady: null };
    this.groups.set(shard, group);
    this.mover.forget(shard);
    this.env.log.log('info', 'shards.create', { shard });
    const join = () =>
      markJoined(this.env.disk, shard, (err) => {
        if (this.stopped || this.groups.get(shard) !== group) return;
        if (err !== null) return this.onFatal(err);
        this.startGroup(shard, false, (e) => {
          if (e !== null) this.onFatal(e);
        }, group);
      });
    // An earlier replica of the group on this node left records in the shared log: they become
    // garbage, durably, before the `.joined` mark that makes a restart start the group (a crash in
    // between leaves the mark absent, and the group unstarted, as before).
    if (this.raftLog === null) return join();
    this.raftLog.dropGroup(shard, (err) => {
      if (this.stopped || this.groups.get(shard) !== group) return;
      if (err !== null) return this.onFatal(err);
      join();
    });
  }

  /** Stops a replica Raft has removed and deletes its files (after a durable `.removed` mark). */
  private removeGroup(shard: number, why: string): void {
    const g = this.groups.get(shard);
    if (this.stopped || g === undefined) return;
    if (!g.ready) {
      g.removeWhenReady = why;
      return;
    }
    this.groups.delete(shard);
    this.mover.forget(shard);
    g.replica?.stop();
    this.env.log.log('info', 'shards.remove', { shard, why });
    const waiting: (() => void)[] = [];
    this.removing.set(shard, waiting);
    // The files go once the engine has closed: it may still be writing its last table there.
    const wipe = () =>
      markRemoved(this.env.disk, shard, (err) => {
        if (this.removing.get(shard) === waiting) this.removing.delete(shard);
        if (this.stopped) return;
        if (err !== null) return this.onFatal(err);
        for (const then of waiting) then();
      });
    if (g.store === null) return wipe();
    g.store.close(() => wipe());
  }

  private startGroup(shard: number, original: boolean, started0: (err: Error | null) => void, created?: Group): void {
    const group: Group = created ?? { shard, store: null, replica: null, ready: false, removeWhenReady: null };
    const started = (err: Error | null) => {
      group.ready = true;
      if (group.removeWhenReady !== null && err === null) this.removeGroup(shard, group.removeWhenReady);
      // A start that met a rotten engine file (installing its snapshot, say): the group's marker
      // first, so that the next start repairs the shard rather than meet it again.
      const rotten = err !== null && !this.stopped ? engineCorruption(err) : null;
      if (rotten === null) return started0(err);
      this.env.log.log('error', 'shards.engine_rotten', { shard, path: rotten.path, error: rotten.message });
      markEngineRotten(genv, rotten, () => started0(err));
    };
    this.groups.set(shard, group);
    const outbox = this.outbox;
    const genv = shardEnv(this.env, shard, this.ticks?.clockFor() ?? this.env.clock, outbox === null ? undefined : (to, frame) => outbox.send(to, shard, frame));
    group.env = genv;
    const c = this.config;
    // The LSM's table images (tables held whole in memory once they miss often) get a share of one
    // engine's budget each: a node of S shards would otherwise hold up to S times that.
    const lsm = { tableImageBytes: Math.floor(LSM_DEFAULTS.tableImageBytes / c.shards), ...c.storage?.lsm };
    // A rotten engine file is repaired from the group, as on a single group's node
    // (engine-repair.ts), shard by shard: the group's own files go to shards/<i>/quarantine/.
    const repairEngine = (why: string, then: () => void) =>
      quarantineRottenEngine(genv, why, (e) => {
        if (this.stopped) return;
        if (e !== null) return started(e);
        then();
      });
    const open = (mayRepair: boolean) =>
      openRaftEngine(genv, c.engine, true, { ...c.storage, lsm, fsync: c.engineFsync }, (err, engine) => {
        if (this.stopped) {
          engine?.close(() => {});
          return;
        }
        const rotten = err !== null ? engineCorruption(err) : null;
        if (mayRepair && rotten !== null) return repairEngine(rotten.message, () => open(false));
        if (err !== null || engine === undefined) return started(err ?? new Error(`the storage engine of shard ${shard} did not open`));
        try {
          // As on a single group's node: the engine's durable state is what the group's log is
          // compacted against, and (LSM) the Raft log is its only log.
          group.store = new EngineStore(engine, { durable: true });
        } catch (e) {
          // The first reads (the applied index) met a rotten table: an engine that opened is not yet one that reads.
          const bad = engineCorruption(e as Error);
          if (bad === null) throw e;
          engine.close(() => {});
          if (mayRepair) return repairEngine(bad.message, () => open(false));
          return started(bad);
        }
        const onApply = c.onApply;
        const onRepair = c.onRepair;
        const log = this.raftLog;
        // A log of the group's own from before the shared log would be silently ignored: refused instead.
        if (log !== null && ownLogSegments(genv.disk) > 0) return started(new Error(`shard ${shard} has a Raft log of its own (shards/${shard}/raft/wal) from before the node's shared log (${SHARED_LOG_DIR}/): start the node with the per-group log, or move the replica away and back`));
        const raftConfig: RaftReplicaConfig = {
          ...c.raft,
          ...(log !== null ? { sharedLog: log.openGroup(shard) } : {}),
          members: original ? [...this.map.replicas(shard)] : [],
          original,
          ...(onApply !== undefined ? { onApply: (node: string, index: number, term: number, digest: string, data: Uint8Array | null) => onApply(node, index, term, digest, data, shard) } : {}),
          ...(onRepair !== undefined ? { onRepair: (event: 'needed' | 'repaired', detail: RepairDetail) => onRepair(this.env.id, event, detail, shard) } : {}),
        };
        try {
          group.replica = new RaftReplica(genv, group.store, raftConfig, (e) => this.groupFailed(genv, shard, e), started);
        } catch (e) {
          // Its first reads met a rotten table (shards/rot seed 21: thrown into the engine's
          // callback, the exception vanished and the shard never started). The group's records in
          // the shared log are this replica's now, so the node stops, and its next start repairs
          // the shard (started leaves the marker first).
          const bad = engineCorruption(e as Error);
          if (bad === null) throw e;
          group.replica = null;
          return started(bad);
        }
      });
    // An engine found rotten while the node ran: its last life left the group's marker.
    const rottenWhy = rottenEngineMarker(genv);
    if (rottenWhy !== null) return repairEngine(rottenWhy, () => open(true));
    open(true);
  }

  /**
   * A group that cannot go on. An engine file found rotten while it ran (a read, a compaction)
   * leaves the group's marker first, so that the node's next start quarantines that shard's
   * engine and repairs it from the group (engine-repair.ts) instead of failing again; then the
   * node stops, as a single group's node does.
   */
  private groupFailed(genv: Env, shard: number, err: Error): void {
    const rotten = engineCorruption(err);
    if (rotten === null || this.stopped) return this.onFatal(err);
    this.env.log.log('error', 'shards.engine_rotten', { shard, path: rotten.path, error: rotten.message });
    markEngineRotten(genv, rotten, () => this.onFatal(err));
  }

  // ---- routing ----

  /**
   * The shard a request belongs to, or a refusal: a key's shard; a range names its shard (the
   * gateway splits a range into one per shard); a batch must lie within one shard (the gateway
   * splits it; each part is atomic on its own).
   */
  private route(req: Request): number | Result {
    const op = req.op;
    const key = singleKey(op);
    if (key !== null) return this.map.shardOf(req.db, key);
    switch (op.f) {
      case 'range':
        if (req.shard === undefined) return { ok: false, code: 'bad_request', message: `a range on a cluster of ${this.map.shards} shards must name its shard: send it through a front door (line, HTTP), whose gateway asks every shard and merges the answers` };
        if (req.shard >= this.map.shards) return { ok: false, code: 'bad_request', message: `shard ${req.shard} does not exist: the cluster has shards 0..${this.map.shards - 1}` };
        return req.shard;
      case 'batch': {
        if (op.ops.length === 0) return 0;
        const first = this.map.shardOf(req.db, (op.ops[0] as { key: string }).key);
        for (const sub of op.ops) if (this.map.shardOf(req.db, sub.key) !== first) return { ok: false, code: 'bad_request', message: 'a batch whose keys lie in several shards must go through a front door (line, HTTP), whose gateway splits it into one atomic batch per shard' };
        return first;
      }
      // The catalog — users and databases — is shard 0's (shard-catalog.ts): changed and listed there.
      case 'user.put':
      case 'user.delete':
      case 'user.grant':
      case 'user.list':
      case 'db.list':
        return 0;
      // A database's record is kept by every shard (so that each shard's state machine knows which
      // databases exist) and its keys lie in every shard: the gateway creates it in shard 0 first,
      // then in each other shard, and deletes it from the others first, naming each part's shard.
      case 'db.create':
      case 'db.delete':
        if (req.shard === undefined) return { ok: false, code: 'bad_request', message: `${op.f} on a cluster of ${this.map.shards} shards must go through a front door (line, HTTP, the CLI), whose gateway applies it to every shard` };
        if (req.shard >= this.map.shards) return { ok: false, code: 'bad_request', message: `shard ${req.shard} does not exist: the cluster has shards 0..${this.map.shards - 1}` };
        return req.shard;
      default:
        return { ok: false, code: 'bad_request', message: `${op.f} is not supported on a sharded cluster (the placement's members change with kv-lab cluster add-node / remove-node)` };
    }
  }

  submit(req: Request, reply: Reply): void {
    if (this.stopped) return reply({ ok: false, code: 'unavailable', message: 'the node is stopped' });
    if (this.config.joinByGossip !== undefined && !this.members.learned) return reply({ ok: false, code: 'unavailable', message: `${this.env.id} is joining the cluster by gossip and has not learned its member set yet` });
    if (isTxnOp(req.op)) return guardReads(() => this.txn.submit(req, reply));
    // An operator's change of the member set (kv-lab cluster add-node / remove-node, the lab's join, leave, destroy).
    if (req.op.f === 'member.add' || req.op.f === 'member.remove') return this.members.request({ type: req.op.f === 'member.add' ? 'join' : 'remove', node: req.op.node }, reply);
    const shard = this.route(req);
    if (typeof shard !== 'number') return reply(shard);
    const full = this.catalogFull(req);
    if (full !== null) return reply(full);
    const replica = this.groups.get(shard)?.replica ?? null;
    // A not_leader names the shard and the shard count: a client caches the shard's leader (its
    // routing table) and computes later keys' shards itself (src/client/client.ts).
    const named: Reply = (r) => reply(!r.ok && r.code === 'not_leader' ? { ...r, shard, shards: this.map.shards } : r);
    // Ordered against cross-shard transactions' locks first (shard-txn.ts), as one group's service orders them.
    // A change of the catalog is read back at once, so its push leaves before the answer does.
    const changesCatalog = shard === 0 && this.config.catalog === true && CATALOG_CHANGES.has(req.op.f);
    const answer: Reply = changesCatalog ? (r) => { if (r.ok) this.readShard0(true, false); named(r); } : named;
    if (replica !== null) {
      try {
        return this.txn.plain(shard, req, answer, (r) => replica.submit(req, r));
      } catch (err) {
        // The transactions' check for intents on the key reads the shard's engine first
        // (shards/rot seed 183: a rotten table there ended the process): the group fails as on
        // any read of it, and this request is not served.
        if (!dropFailedRead(err)) this.failRead(shard, err);
        return reply({ ok: false, code: 'unavailable', message: `${this.env.id} found shard ${shard}'s storage corrupt and stops to repair it` });
      }
    }
    if (this.groups.has(shard)) return reply({ ok: false, code: 'unavailable', message: `shard ${shard} is starting` });
    named(this.referral(shard));
  }

  /**
   * The catalog's bounds, checked against this node's copy before a new user or database is
   * proposed (the copy may lag by a push, so the bound can be passed by the few changes of that
   * window, never by more: CATALOG_ENTRIES_MAX leaves room for them).
   */
  private catalogFull(req: Request): Result | null {
    const op = req.op;
    // A grant can grow a user's record by a database name; 64 KiB of headroom covers the changes of a push's window.
    if ((op.f === 'user.put' || op.f === 'user.grant' || (op.f === 'db.create' && req.shard === 0)) && this.catalog.size > CATALOG_BYTES_MAX - 64 * 1024) return { ok: false, code: 'bad_request', message: `the catalog holds ${this.catalog.size} characters of users and databases, near the ${CATALOG_BYTES_MAX} a sharded cluster holds: delete some first` };
    if (op.f === 'user.put' && this.catalog.view.get(userKeyOf(op.name)) === undefined && this.catalog.counts().users >= CATALOG_USERS_MAX) return { ok: false, code: 'bad_request', message: `the cluster has ${CATALOG_USERS_MAX} users, the most a sharded cluster holds` };
    if (op.f === 'db.create' && req.shard === 0 && this.catalog.counts().databases >= CATALOG_DATABASES_MAX) return { ok: false, code: 'bad_request', message: `the cluster has ${CATALOG_DATABASES_MAX} databases, the most a sharded cluster holds` };
    return null;
  }

  /**
   * A shard this node holds no replica of: `not_leader` naming one of its replicas, the preferred
   * leader first and then each in turn, so that a referral to a replica that is down is followed,
   * on the client's next attempt, by one to another.
   */
  private referral(shard: number): Result {
    const replicas = this.map.replicas(shard);
    const i = this.referrals.get(shard) ?? 0;
    this.referrals.set(shard, (i + 1) % replicas.length);
    const leader = replicas[i] as string;
    return { ok: false, code: 'not_leader', message: `${this.env.id} holds no replica of shard ${shard}; ${leader} does`, leader };
  }

  // ---- peers ----

  /** JSON frames of the node's own: the member set's pushes, and the removed replicas' questions and answers. */
  receivePeer(from: string, body: Record<string, unknown>): void {
    if (this.stopped) return;
    if (body.kind === 'placement') return this.members.receive(from, body);
    if (body.kind === 'placement.join_refused') return this.joinRefused(from, body);
    if (body.kind === 'stxn') return guardReads(() => this.txn.receive(from, body));
    if (body.kind === 'catalog' || body.kind === 'catalog.version' || body.kind === 'catalog.ask') {
      if (this.config.catalog === true) this.catalog.receive(from, body);
      return;
    }
    const shard = body.shard;
    const valid = typeof shard === 'number' && Number.isInteger(shard) && shard >= 0 && shard < this.config.shards;
    if (body.kind === 'shard.gc' && valid) return this.mover.answer(from, shard);
    if (body.kind === 'shard.gone' && valid && typeof body.commit === 'number' && Number.isSafeInteger(body.commit)) return this.mover.gone(from, shard, body.commit);
    // Every frame of a group travels in a shard envelope (receiveShardFrame); anything else is not ours.
    this.env.log.log('warn', 'shards.bare_frame', { from, kind: String(body.kind) });
  }

  /** A frame in a shard envelope: unwrapped and handed to that shard's replica, decoded as a single group's node decodes it. */
  receiveShardFrame(from: string, frame: Uint8Array): void {
    if (this.stopped) return;
    const frames = decodeShardFrames(frame);
    if (typeof frames === 'string') return this.env.log.log('warn', 'node.bad_frame', { from, error: frames });
    for (const u of frames) this.deliver(from, u);
  }

  private deliver(from: string, u: { shard: number; inner: Uint8Array }): void {
    if (this.stopped) return;
    const replica = this.groups.get(u.shard)?.replica ?? null;
    if (replica === null) {
      // Not hosted here (a sender with another placement), or still starting: Raft resends.
      // (Expected while replicas move: a leader's last frames to a replica it has just removed.)
      if (!this.groups.has(u.shard)) this.env.log.log('debug', 'shards.not_hosted', { from, shard: u.shard });
      return;
    }
    const inner = u.inner;
    if (inner[0] === SNAPSHOT_CHUNK_FRAME) return replica.receiveSnapshotChunk(from, inner);
    let message: Record<string, unknown>;
    try {
      message = isBinaryRaftFrame(inner[0]) ? decodeBinaryRaftFrame(inner) : (parseJson(frameDecoder.decode(inner), `frame from ${from}`) as Record<string, unknown>);
      if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof message.kind !== 'string') throw new Error('no "kind"');
    } catch (err) {
      this.env.log.log('warn', 'node.bad_frame', { from, shard: u.shard, error: (err as Error).message });
      return;
    }
    replica.receivePeer(from, message);
  }

  // ---- moves ----

  /**
   * Reads the member set (and the catalog) from this node's replica of shard 0, outside Raft's
   * apply path. False when that read met a rotten table: the group failed as on any read of it
   * (shards/rot seed 85: the exception ended the node's process from the move timer).
   */
  private readShard0(catalog: boolean, members = true): boolean {
    try {
      if (members) this.members.readLocal();
      if (catalog) this.catalog.readLocal();
      return true;
    } catch (err) {
      this.failRead(0, err);
      return false;
    }
  }

  /**
   * A read of shard's engine outside its replica threw err: a rotten engine file fails the group
   * as any read of it does (groupFailed); anything else is thrown on.
   */
  private failRead(shard: number, err: unknown): void {
    const rotten = engineCorruption(err as Error);
    const env = this.groups.get(shard)?.env;
    if (rotten === null || env === undefined) throw err;
    this.groupFailed(env, shard, rotten);
  }

  /** The mover's tick: the member set from shard 0's state, spreading it, and one step of moves. */
  private scheduleMoves(): void {
    if (this.stopped) return;
    let n = 0;
    const every = Math.max(1, Math.round(PUSH_MS / MOVE_MS));
    const catalog = this.config.catalog === true;
    const tick = () => {
      this.moveTimer = this.env.clock.timer(MOVE_MS, () => {
        this.moveTimer = null;
        if (this.stopped) return;
        if (!this.readShard0(catalog)) return;
        if (++n % every === 0) {
          this.members.pushSome();
          if (this.config.joinByGossip !== undefined && !this.joined()) this.askToJoin();
          if (catalog) this.catalog.pushSome();
        }
        this.mover.tick();
        tick();
      });
    };
    tick();
  }

  // ---- joining by gossip ----

  /** Whether this node is in the member set it knows (a node that joins by gossip asks until it is). */
  private joined(): boolean {
    return this.members.learned && this.members.members.includes(this.env.id);
  }

  /**
   * One ask of a node that joins by gossip: `placement.join`, with the layout it was started with,
   * to one node at a time — any member gossip shows alive until it has learned the member set
   * (the answer is a push of it), then shard 0's replicas in turn, whose leader adds it with the
   * very change `cluster add-node` asks for (ShardMembers.request: `member.add`). One ask per
   * push round (PUSH_MS), so a joiner costs the cluster a frame every 300 ms until it is in.
   */
  private askToJoin(): void {
    const join = this.config.joinByGossip;
    assert(join !== undefined, 'askToJoin: a node that joins by gossip');
    const targets = (this.members.learned ? [...this.map.replicas(0)] : join.alive()).filter((n) => n !== this.env.id).sort();
    if (targets.length === 0) return;
    const to = targets[this.joinAsks++ % targets.length] as string;
    this.env.net.send(to, frameEncoder.encode(JSON.stringify({ kind: 'placement.join', shards: this.config.shards, replicas: this.config.replicas })));
  }

  /**
   * A node that joins by gossip asks to be a member (KvNode lets the frame through only from a
   * node its gossip sees alive: on a real node, one that proved the cluster secret). A joiner of
   * another layout is refused, and stops: its keys would hash onto other shards. Otherwise it is
   * told the member set, and shard 0's leader adds it. At most JOINS_IN_FLIGHT_MAX additions are
   * in flight; the asks of a joiner being added are not proposed again.
   */
  joinRequest(from: string, body: Record<string, unknown>): void {
    if (this.stopped) return;
    if (body.shards !== this.config.shards || body.replicas !== this.config.replicas) {
      const why = `this cluster has ${this.config.shards} shards of ${this.config.replicas} replicas; ${from} was started with --shards ${String(body.shards)} --replicas ${String(body.replicas)}`;
      this.env.log.log('warn', 'shards.join_refused', { from, why });
      this.env.net.send(from, frameEncoder.encode(JSON.stringify({ kind: 'placement.join_refused', why })));
      return;
    }
    this.members.pushTo(from);
    if (this.members.members.includes(from) || this.joinsInFlight.has(from) || this.joinsInFlight.size >= JOINS_IN_FLIGHT_MAX) return;
    const soft = this.groups.get(0)?.replica?.raftNode?.softState() ?? null;
    if (soft?.role !== 'leader') return;
    this.joinsInFlight.add(from);
    this.members.request({ type: 'join', node: from }, (r) => {
      this.joinsInFlight.delete(from);
      this.env.log.log(r.ok ? 'info' : 'warn', 'shards.join', { joiner: from, outcome: r.ok ? 'added' : r.code, ...(r.ok ? {} : { message: r.message }) });
      if (r.ok) this.members.pushTo(from);
    });
  }

  /** The cluster refused this joiner (another layout): it stops, saying why. */
  private joinRefused(from: string, body: Record<string, unknown>): void {
    if (this.config.joinByGossip === undefined || this.joined()) return;
    const why = typeof body.why === 'string' ? body.why.slice(0, 500) : 'no reason given';
    this.onFatal(new Error(`${from} refused to take this node into the cluster: ${why}`));
  }

  // ---- leader balance ----

  private scheduleBalance(): void {
    if (this.config.balanceMs <= 0 || this.stopped) return;
    this.balanceTimer = this.env.clock.timer(this.config.balanceMs, () => {
      this.balanceTimer = null;
      if (this.stopped) return;
      this.balanceLeaders();
      this.scheduleBalance();
    });
  }

  /** Hands each shard this node leads to its preferred leader, once that replica has every entry. */
  private balanceLeaders(): void {
    for (const g of this.groups.values()) {
      const raft = g.replica?.raftNode ?? null;
      if (raft === null || raft.softState().role !== 'leader') continue;
      const preferred = this.map.preferredLeader(g.shard);
      if (preferred === this.env.id || !raft.membership().voters.includes(preferred)) continue;
      if (raft.matchIndexes().get(preferred) !== raft.lastIndex()) continue;
      const r = g.replica?.transferLeadership(preferred);
      this.env.log.log('info', 'shards.balance', { shard: g.shard, to: preferred, outcome: r === null || r === undefined ? 'stopped' : r.ok ? 'ok' : r.reason });
    }
  }

  // ---- inspection ----

  /** The shards this node hosts, ascending. */
  hostedShards(): number[] {
    return [...this.groups.keys()].sort((a, b) => a - b);
  }

  /** Shard i's replica on this node (null if not hosted or not started). */
  group(shard: number): RaftReplica | null {
    return this.groups.get(shard)?.replica ?? null;
  }

  /**
   * One shard's replicated state as a digest with its applied position (KvNode.stateDigest, per
   * group), and how many entries its Raft log holds past that position (appended, not yet applied).
   */
  /**
   * The shard's state here, for the lab's convergence check: its position, keys and their digest,
   * the entries of its log not applied yet, and whether its state machine is being repaired (a
   * repair is not over until its state is durable, though the position may already agree).
   */
  stateDigest(shard: number): { applied: number; keys: number; digest: string; unapplied: number; repairing: boolean } | null {
    const g = this.groups.get(shard);
    if (g === undefined || g.store === null || g.replica === null) return null;
    const hash = createHash('sha256');
    let keys = 0;
    try {
      for (const [k, v] of this.stateEntries(shard)) {
        hash.update(k).update('\x00').update(v).update('\x00');
        keys++;
      }
    } catch (err) {
      // A rotten engine file under the scan: the group fails as it would on any read of it (its
      // marker, then the node stops and its next start repairs the shard); no position at all.
      this.failRead(shard, err);
      return { applied: -1, keys: 0, digest: `unreadable: ${(err as Error).message}`, unapplied: 0, repairing: false };
    }
    const applied = g.replica.status().appliedIndex;
    const last = g.replica.raftNode?.lastIndex() ?? applied;
    return { applied, keys, digest: hash.digest('hex'), unapplied: Math.max(0, last - applied), repairing: g.replica.status().recovery?.stateMachine !== undefined };
  }

  *stateEntries(shard: number): Generator<[string, string]> {
    const store = this.groups.get(shard)?.store ?? null;
    if (store === null) return;
    for (const kv of scanAll(store.view)) if (!NODE_LOCAL_KEYS.has(kv[0])) yield kv;
  }

  /** The member set record in this node's replica of shard 0 (its JSON), or null. */
  memberSetRecord(): string | null {
    const raw = this.groups.get(0)?.store?.view.get(MEMBER_SET_KEY);
    return typeof raw === 'string' ? raw : null;
  }

  /** The shared Raft log's segments, bytes, fsyncs and rewrites, or null with a log per group. */
  sharedLogStats(): ReturnType<SharedRaftLog['stats']> | null {
    return this.raftLog?.stats() ?? null;
  }

  /** Underlying tick timers armed so far (coalesced ticks), or null without coalescing. */
  tickTimersArmed(): number | null {
    return this.ticks?.timersArmed ?? null;
  }

  /** Network messages the groups' frames went out in (coalesced), or null without coalescing. */
  messageStats(): { messages: number; frames: number } | null {
    return this.outbox === null ? null : { ...this.outbox.stats };
  }

  /** How many shards this node leads now. */
  leaderCount(): number {
    let n = 0;
    for (const g of this.groups.values()) if (g.replica?.raftNode?.softState().role === 'leader') n++;
    return n;
  }

  /** Per hosted shard: its group's role here, term, leader and commit index (for /status). */
  /** The stats of every shard's engine open here (NodeStatus.storage adds them up). */
  engineStats(): EngineStats[] {
    const out: EngineStats[] = [];
    for (const g of this.groups.values()) if (g.store !== null) out.push(g.store.engine.stats());
    return out;
  }

  shardStatus(): ShardStatus {
    const hosted: ShardGroupStatus[] = [];
    let leading = 0;
    for (const shard of this.hostedShards()) {
      const s = this.groups.get(shard)?.replica?.status();
      if (s?.role === 'leader') leading++;
      hosted.push({ shard, role: s?.role ?? 'starting', term: s?.term ?? 0, leader: s?.leader ?? null, commitIndex: s?.commitIndex ?? 0, replicas: [...this.map.replicas(shard)], ...(s?.recovery !== undefined ? { recovery: s.recovery } : {}) });
    }
    return { count: this.map.shards, replicas: this.map.replicasPerShard, leading, epoch: this.members.epoch, members: [...this.members.members], hosted };
  }

  // ---- Replica ----

  status(): ReplicaStatus {
    let leading = 0;
    let termLed = 0;
    let termAny = 0;
    let commitIndex = 0;
    let appliedIndex = 0;
    for (const g of this.groups.values()) {
      const s = g.replica?.status();
      if (s === undefined) continue;
      if (s.role === 'leader') leading++;
      if (s.role === 'leader') termLed = Math.max(termLed, s.term);
      termAny = Math.max(termAny, s.term);
      commitIndex += s.commitIndex;
      appliedIndex += s.appliedIndex;
    }
    // A leader of any group is `leader`, with the highest term among the groups it leads (the
    // nemesis's `leader` selector picks the leader of the highest term).
    const term = leading > 0 ? termLed : termAny;
    // members: every node of any member set seen (KvNode accepts peer frames from them).
    return { role: this.stopped ? 'stopped' : leading > 0 ? 'leader' : 'follower', term, leader: null, members: this.members.peers(), commitIndex, appliedIndex, inFlight: this.inFlight() };
  }

  inFlight(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.replica?.inFlight() ?? 0;
    return n;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.balanceTimer?.cancel();
    this.txn.stop();
    this.moveTimer?.cancel();
    this.outbox?.close();
    for (const g of this.groups.values()) {
      g.replica?.stop();
      g.store?.close();
    }
    this.raftLog?.close(() => {});
    assert(this.stopped, 'stopped');
  }
}

/** Segment files of a group's own Raft log (a log per group), under the group's disk. */
function ownLogSegments(disk: Env['disk']): number {
  try {
    return disk.list('raft/wal').length;
  } catch {
    return 0;
  }
}

/**
 * The node's shared Raft log is cut at a corruption (shared-log.ts): every group with a directory
 * here (a replica hosted, or one whose removal a crash interrupted) may have had records in the part
 * cut away, entries it acknowledged among them. Each is marked as a single group's member is when
 * its own log is cut (raft-runtime/README.md, "The log"): it holds its votes through the newest
 * term of the copies of its hard state beside its directory, and receives what it lost from its
 * leader. Groups that had no record there lose nothing by it but one leader change at most.
 */
function markSharedLogLoss(env: Env, at: string, reason: string, done: (err: Error | null) => void): void {
  let dirs: string[];
  try {
    dirs = env.disk.exists('shards') ? env.disk.list('shards').filter((n) => /^\d+$/.test(n) && env.disk.exists(`shards/${n}/${RAFT_DIR}`)).map((n) => `shards/${n}/${RAFT_DIR}`) : [];
  } catch (err) {
    return done(err as Error);
  }
  env.log.log('error', 'shards.raft_log_cut', { at, reason, groups: dirs.length });
  const deps = { disk: env.disk, clock: env.clock, log: env.log };
  const next = (i: number): void => {
    const dir = dirs[i];
    if (dir === undefined) return done(null);
    markLogLoss(deps, dir, `${at} (the node's shared raft log)`, reason, (err) => (err !== null ? done(err) : next(i + 1)));
  };
  next(0);
}
