import { createHash } from 'node:crypto';
import { ShardMap } from '../cluster/placement/shard-map.js';
import type { Env } from '../env/env.js';
import type { Timer } from '../env/clock.js';
import { decodeBinaryRaftFrame, RAFT_BINARY_FRAME } from '../replication/raft-runtime/codec.js';
import { SNAPSHOT_CHUNK_FRAME } from '../replication/raft-runtime/snapshot-transfer.js';
import { openEngine, type EngineKind, type EngineOptions, type FsyncPolicy } from '../storage/index.js';
import { assert } from '../util/assert.js';
import { parseJson } from '../util/json-parse.js';
import { NODE_LOCAL_KEYS, scanAll } from './keyspace.js';
import { encodeMessage, isTxnOp, type Request, type Result } from './protocol.js';
import { RaftReplica, type RaftReplicaConfig } from './raft-replica.js';
import type { Replica, ReplicaStatus, Reply } from './replica.js';
import { shardEnv } from './shard-env.js';
import { ShardTxn } from './shard-txn.js';
import { decodeShardFrames, ShardOutbox } from './shard-outbox.js';
import { EngineStore } from './store.js';
import { TickCoalescer } from './tick-coalescer.js';

/**
 * Multi-Raft: a node that hosts replicas of many shards, each its own Raft group — the very
 * RaftReplica of a single-group node, on an Env of its own (shard-env.ts: its own directory, its
 * frames in shard envelopes, its own randomness). The node routes a request to the group of the
 * key's shard (src/cluster/placement); a shard it holds no replica of is answered `not_leader`
 * naming a node that does, and the client (or the gateway's forwarding client) goes there — the
 * same path a Raft follower's refusal already takes.
 *
 * Storage: each group has its own engine and its own Raft log, in `shards/<i>/kv` and
 * `shards/<i>/raft`. Chosen because it is correct today with no change to the single-group
 * code: a group's applied index, sessions, snapshots (the whole store) and recovery are exactly
 * the single group's, and a replica could later move by copying one directory. The cost: every
 * group fsyncs its own log, so a node with G groups busy at once pays up to G fsyncs per round of
 * group commit where a shared WAL would pay one (TiKV's RocksDB-per-node, CockroachDB's shared
 * Pebble); and G engines each keep their own memtable and files. A shared WAL with per-group
 * applied indexes and snapshots cut by key range is the next step (ticks and messages are already
 * coalesced: tick-coalescer.ts, shard-outbox.ts).
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
  raft: Omit<RaftReplicaConfig, 'members' | 'onApply'>;
  onApply?: (node: string, index: number, term: number, digest: string, data: Uint8Array | null, shard?: number) => void;
  /** One timer event per tick for all groups (tick-coalescer.ts); false: a timer per group. Default true. */
  coalesceTicks?: boolean;
  /** One network message per destination and turn for all groups (shard-outbox.ts); false: one per frame. Default true. */
  coalesceMessages?: boolean;
}

/** One hosted shard as /status shows it. */
export interface ShardGroupStatus {
  shard: number;
  role: ReplicaStatus['role'];
  term: number;
  leader: string | null;
  commitIndex: number;
  /** Its replicas by placement, the preferred leader first. */
  replicas: string[];
}

/** A sharded node's shards as /status shows them. */
export interface ShardStatus {
  count: number;
  replicas: number;
  /** How many of the hosted shards this node leads. */
  leading: number;
  hosted: ShardGroupStatus[];
}

interface Group {
  shard: number;
  store: EngineStore | null;
  replica: RaftReplica | null;
}

const frameDecoder = new TextDecoder('utf-8', { fatal: true });

export class ShardedReplica implements Replica {
  readonly map: ShardMap;
  private readonly groups = new Map<number, Group>();
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

  constructor(
    private readonly env: Env,
    private readonly config: ShardedConfig,
    private readonly onFatal: (err: Error) => void,
    onStarted: (err: Error | null) => void,
  ) {
    this.map = ShardMap.build(config.members, { shards: config.shards, replicas: config.replicas });
    this.ticks = config.coalesceTicks === false ? null : new TickCoalescer(env.clock, config.raft.tickMs);
    this.outbox = config.coalesceMessages === false ? null : new ShardOutbox(env.net, env.clock);
    this.txn = new ShardTxn({ id: env.id, clock: env.clock, log: env.log, bugs: config.raft.bugs, map: this.map, send: (to, m) => env.net.send(to, encodeMessage(m)), group: (s) => this.group(s)?.txnHost ?? null, hosted: () => this.hostedShards() });
    const mine = this.map.shardsOf(env.id);
    env.log.log('info', 'shards.start', { shards: config.shards, replicas: config.replicas, hosted: mine.join(',') });
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
        onStarted(null);
      }
    };
    if (mine.length === 0) {
      // A node holding no shard still routes: every request is answered with a referral.
      onStarted(null);
      return;
    }
    for (const shard of mine) this.startGroup(shard, started);
  }

  private startGroup(shard: number, started: (err: Error | null) => void): void {
    const group: Group = { shard, store: null, replica: null };
    this.groups.set(shard, group);
    const outbox = this.outbox;
    const genv = shardEnv(this.env, shard, this.ticks?.clockFor() ?? this.env.clock, outbox === null ? undefined : (to, frame) => outbox.send(to, shard, frame));
    const c = this.config;
    openEngine(c.engine, { disk: genv.disk, clock: genv.clock, log: genv.log }, 'kv', { ...c.storage, fsync: c.engineFsync }, (err, engine) => {
      if (this.stopped) {
        engine?.close(() => {});
        return;
      }
      if (err !== null || engine === undefined) return started(err ?? new Error(`the storage engine of shard ${shard} did not open`));
      group.store = new EngineStore(engine);
      const onApply = c.onApply;
      const raftConfig: RaftReplicaConfig = {
        ...c.raft,
        members: [...this.map.replicas(shard)],
        ...(onApply !== undefined ? { onApply: (node: string, index: number, term: number, digest: string, data: Uint8Array | null) => onApply(node, index, term, digest, data, shard) } : {}),
      };
      group.replica = new RaftReplica(genv, group.store, raftConfig, this.onFatal, started);
    });
  }

  // ---- routing ----

  /**
   * The shard a request belongs to, or a refusal: a key's shard; a range names its shard (the
   * gateway splits a range into one per shard); a batch must lie within one shard (the gateway
   * splits it; each part is atomic on its own).
   */
  private route(req: Request): number | Result {
    const op = req.op;
    switch (op.f) {
      case 'read':
      case 'write':
      case 'cas':
      case 'delete':
      case 'append':
        return this.map.shardOf(req.db, op.key);
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
      default:
        return { ok: false, code: 'bad_request', message: `${op.f} is not supported yet on a sharded cluster (databases, users and membership are per group today; issue 20)` };
    }
  }

  submit(req: Request, reply: Reply): void {
    if (this.stopped) return reply({ ok: false, code: 'unavailable', message: 'the node is stopped' });
    if (isTxnOp(req.op)) return this.txn.submit(req, reply);
    const shard = this.route(req);
    if (typeof shard !== 'number') return reply(shard);
    const replica = this.groups.get(shard)?.replica ?? null;
    if (replica !== null) return replica.submit(req, reply);
    if (this.groups.has(shard)) return reply({ ok: false, code: 'unavailable', message: `shard ${shard} is starting` });
    reply(this.referral(shard));
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

  receivePeer(from: string, body: Record<string, unknown>): void {
    if (body.kind === 'stxn') return this.txn.receive(from, body);
    // Every frame of a group travels in a shard envelope (receiveShardFrame); a bare one is not ours.
    this.env.log.log('warn', 'shards.bare_frame', { from });
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
      if (!this.groups.has(u.shard)) this.env.log.log('warn', 'shards.not_hosted', { from, shard: u.shard });
      return;
    }
    const inner = u.inner;
    if (inner[0] === SNAPSHOT_CHUNK_FRAME) return replica.receiveSnapshotChunk(from, inner);
    let message: Record<string, unknown>;
    try {
      message = inner[0] === RAFT_BINARY_FRAME ? decodeBinaryRaftFrame(inner) : (parseJson(frameDecoder.decode(inner), `frame from ${from}`) as Record<string, unknown>);
      if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof message.kind !== 'string') throw new Error('no "kind"');
    } catch (err) {
      this.env.log.log('warn', 'node.bad_frame', { from, shard: u.shard, error: (err as Error).message });
      return;
    }
    replica.receivePeer(from, message);
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

  /** One shard's replicated state as a digest with its applied position (KvNode.stateDigest, per group). */
  stateDigest(shard: number): { applied: number; keys: number; digest: string } | null {
    const g = this.groups.get(shard);
    if (g === undefined || g.store === null || g.replica === null) return null;
    const hash = createHash('sha256');
    let keys = 0;
    for (const [k, v] of this.stateEntries(shard)) {
      hash.update(k).update('\x00').update(v).update('\x00');
      keys++;
    }
    return { applied: g.replica.status().appliedIndex, keys, digest: hash.digest('hex') };
  }

  *stateEntries(shard: number): Generator<[string, string]> {
    const store = this.groups.get(shard)?.store ?? null;
    if (store === null) return;
    for (const kv of scanAll(store.view)) if (!NODE_LOCAL_KEYS.has(kv[0])) yield kv;
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
  shardStatus(): ShardStatus {
    const hosted: ShardGroupStatus[] = [];
    let leading = 0;
    for (const shard of this.hostedShards()) {
      const s = this.groups.get(shard)?.replica?.status();
      if (s?.role === 'leader') leading++;
      hosted.push({ shard, role: s?.role ?? 'starting', term: s?.term ?? 0, leader: s?.leader ?? null, commitIndex: s?.commitIndex ?? 0, replicas: [...this.map.replicas(shard)] });
    }
    return { count: this.map.shards, replicas: this.map.replicasPerShard, leading, hosted };
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
    return { role: this.stopped ? 'stopped' : leading > 0 ? 'leader' : 'follower', term, leader: null, members: [...this.config.members], commitIndex, appliedIndex, inFlight: this.inFlight() };
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
    this.outbox?.close();
    for (const g of this.groups.values()) {
      g.replica?.stop();
      g.store?.close();
    }
    assert(this.stopped, 'stopped');
  }
}
