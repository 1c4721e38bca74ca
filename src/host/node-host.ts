import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gossipOptions } from '../cluster/gossip/options.js';
import type { Env } from '../env/env.js';
import type { Logger } from '../env/log.js';
import { RealClock } from '../env/real/clock.js';
import { RealDisk } from '../env/real/disk.js';
import { RealNet, type PeerAddress } from '../env/real/net.js';
import { osSeededRng } from '../env/real/rng.js';
import { LOGIN_LIMITS, scryptVerifier, type AuthConfig } from '../node/auth.js';
import { ThreadPoolScrypt } from '../env/real/scrypt.js';
import { KvNode, type EngineKind, type NodeConfig, type NodeGossipConfig, type ReplicationMode } from '../node/node.js';
import { FrontDoor } from '../frontdoor/front-door.js';
import type { Gateway } from '../frontdoor/gateway.js';
import type { ClientTimeouts } from '../frontdoor/deadline.js';
import { RateLimitedLogger } from '../util/log-limit.js';
import { processAlive } from './process.js';
import { TcpListener } from './socket-stream.js';

/**
 * One kv-lab node as an operating-system process: the node on the real Env (files under its data
 * directory, the real clock, TCP to its peers authenticated by the cluster secret, randomness
 * seeded from the OS), and its front ends — HTTP and the TCP line protocol — reaching it through
 * one gateway. `kv-lab serve` builds a HostSpec from flags or a cluster file and calls
 * startNodeHost; tests and benchmarks can call it in-process.
 */

/** Where one member listens, as the cluster file says (for /status and clients). */
export interface MemberAddress {
  host: string;
  httpPort: number;
  tcpPort: number;
  peerPort: number;
}

/** Replication primary as the seeds configure it: this node's role and where its leader is. */
export interface PrimaryConfig {
  role: 'leader' | 'follower';
  /** The leader's peer address; null on the leader itself. */
  leader: PeerAddress | null;
  /** How often the leader ships its log (default 50 ms). */
  shipIntervalMs?: number;
}

export interface HostSpec {
  id: string;
  dataDir: string;
  /** Address the three listeners bind to. */
  bindHost: string;
  httpPort: number;
  tcpPort: number;
  peerPort: number;
  /** Every member, this node included. */
  members: string[];
  /** Peer addresses of the other members. */
  peers: ReadonlyMap<string, PeerAddress>;
  replication: string;
  engine: string;
  /** Cluster secret for peer connections; null only for --insecure experiments. */
  secret: string | null;
  /** null: no authentication (--insecure). */
  auth: AuthConfig | null;
  primary?: PrimaryConfig;
  /** Every member's listening addresses, when known (a cluster file), for /status. */
  addresses?: Record<string, MemberAddress>;
  log: Logger;
  /**
   * Called when the node hits a fatal error (a failed fsync, an unrecoverable log) and must not
   * go on serving: `kv-lab serve` ends the process, so that a supervisor restarts it from what is
   * really on disk. Absent (in-process hosts): the node just stops serving.
   */
  onFatal?: (reason: string) => void;
  version: string;
  requestTimeoutMs?: number;
  /**
   * Gossip (SWIM + Lifeguard) over the peer port, with memberlist's LAN defaults: joining through
   * the other members and the --join seeds. null or absent: no gossip.
   */
  gossip?: { join: readonly PeerAddress[]; zone: string } | null;
  /** false: a node that joins a running Raft cluster (it receives the log); default true. */
  original?: boolean;
  /** Client connections' idle and read timeouts (default DEFAULT_CLIENT_TIMEOUTS). */
  timeouts?: Partial<ClientTimeouts>;
  /** Multi-Raft: the keyspace in `count` Raft groups of `replicas` each, placed by the ring; absent or 1: one group. */
  shards?: { count: number; replicas: number; joinByGossip?: boolean };
}

/** A failure to start that the operator can fix (a port in use, a locked data directory). */
export class HostStartError extends Error {
  override name = 'HostStartError';
}

/** The NodeConfig of a host: the one place where serve's settings become the node's. */
export function nodeConfigFor(spec: HostSpec): NodeConfig {
  return {
    members: spec.members,
    replication: spec.replication as ReplicationMode,
    engine: spec.engine as EngineKind,
    bugs: new Set(),
    auth: spec.auth === null ? null : offLoopAuth(spec.auth),
    ...(spec.original === false ? { original: false } : {}),
    // KV_LAB_RAFT_LOG_PER_GROUP=1: a Raft log per group instead of the node's shared one, so that
    // bench:shards --per-group compares both layouts in one run. Read here, in the real host, so
    // that node code never looks at the environment (the simulator's runs depend on their seed alone).
    ...(spec.shards !== undefined && spec.shards.count > 1 ? { shards: { count: spec.shards.count, replicas: spec.shards.replicas, ...(spec.shards.joinByGossip === true ? { joinByGossip: true } : {}), ...(process.env.KV_LAB_RAFT_LOG_PER_GROUP === '1' ? { sharedRaftLog: false } : {}) } } : {}),
    ...(spec.primary !== undefined ? { primary: { leader: primaryLeaderId(spec, spec.primary), shipIntervalMs: spec.primary.shipIntervalMs ?? 50 } } : {}),
  };
}

/**
 * A served node's password checks: on libuv's thread pool, never on the event loop, unless the
 * spec brings a verifier of its own. Without this the node fell back to the synchronous verifier
 * meant for the simulator, and every login — a flood of wrong ones above all — stopped the event
 * loop for an scrypt (~30-50 ms; issue 16, item 5, where a writer's p99 went to seconds).
 *
 * At most one check per core but one (at least 1, at most LOGIN_LIMITS.verifyingMax): the event
 * loop keeps a core to itself even while a flood of logins keeps the hashing busy — on a 2-core
 * machine two hashing threads took both cores from it. The node's own cap is set to the same
 * number, so logins beyond it wait (bounded) in the node, not in the hasher's queue.
 */
export function offLoopAuth(auth: AuthConfig, cores = os.availableParallelism()): AuthConfig {
  if (auth.verifier !== undefined) return auth;
  const threads = Math.max(1, Math.min(LOGIN_LIMITS.verifyingMax, cores - 1));
  return { ...auth, verifier: scryptVerifier(new ThreadPoolScrypt(threads)), loginLimits: auth.loginLimits ?? { ...LOGIN_LIMITS, verifyingMax: threads } };
}

/** The node id of the primary's leader: this node, or the member listening at the given peer address. */
function primaryLeaderId(spec: HostSpec, p: PrimaryConfig): string {
  if (p.role === 'leader' || p.leader === null) return spec.id;
  const leader = p.leader;
  const same = (host: string, port: number) => port === leader.port && (host === leader.host || leader.host === 'localhost' || host === 'localhost');
  // A cluster file lists every member's address; flags list the other members in --peers.
  const match = Object.entries(spec.addresses ?? {}).find(([, a]) => same(a.host, a.peerPort)) ?? [...spec.peers].find(([, a]) => same(a.host, a.port));
  if (match === undefined) throw new HostStartError(`--leader-host ${leader.host} --leader-port ${leader.port} is not the peer address of any member (give the leader in --peers)`);
  return match[0];
}

export interface NodeHost {
  readonly spec: HostSpec;
  readonly node: KvNode;
  readonly gateway: Gateway;
  readonly frontDoor: FrontDoor;
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly peerPort: number;
  /** Orderly shutdown: stop accepting, finish in-flight work, stop the node, close connections. */
  shutdown(drainTimeoutMs?: number): Promise<void>;
}

const LOCK_FILE = 'kv-lab.pid';

/** Takes the data directory for this process (a second node on it would corrupt it). */
function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const lock = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return () => {
        try {
          if (fs.readFileSync(lock, 'utf8').trim() === String(process.pid)) fs.unlinkSync(lock);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new HostStartError(`cannot use data directory ${dataDir}: ${(err as Error).message}`);
      const owner = Number(fs.readFileSync(lock, 'utf8').trim());
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new HostStartError(`data directory ${dataDir} is in use by process ${owner} (${lock})`);
      }
      fs.unlinkSync(lock); // left by a process that died (kill -9): take it over
    }
  }
  throw new HostStartError(`cannot lock data directory ${dataDir}`);
}

/**
 * A real node's gossip. Why over the peer port's TCP connections rather than UDP as memberlist
 * probes: every frame there comes from a holder of the cluster secret (mutual HMAC proof), and
 * UDP would need a MAC of its own on every datagram and one more port to open. The cost is
 * head-of-line blocking: a probe queued behind a snapshot chunk to the same member waits for it;
 * Lifeguard's dynamic suspicion timeout absorbs such delays (seconds, not probe timeouts).
 */
function gossipConfigFor(spec: HostSpec, g: { join: readonly PeerAddress[]; zone: string }, net: RealNet, log: Logger, learned: (id: string, at: PeerAddress) => void): NodeGossipConfig {
  const advertise = spec.bindHost === '0.0.0.0' || spec.bindHost === '::' ? '127.0.0.1' : spec.bindHost;
  const port = net.listeningPort ?? spec.peerPort;
  const seeds = [...[...spec.peers.keys()].filter((id) => id !== spec.id), ...g.join.map((at) => net.addSeed(at))];
  return {
    options: gossipOptions(),
    seeds,
    meta: { zone: g.zone, version: spec.version, weight: 100, addresses: [['peer', `${advertise}:${port}`]] },
    onEvent: (_self, e) => {
      // A member we had no address for becomes reachable by its id.
      if (e.type !== 'join' && e.type !== 'alive' && e.type !== 'update') return;
      const peer = e.meta.addresses.find(([name]) => name === 'peer')?.[1];
      const at = peer === undefined ? null : parsePeerAddress(peer);
      if (at !== null) {
        net.addPeer(e.id, at);
        learned(e.id, at);
      }
      log.log('info', 'gossip.member', { id: e.id, event: e.type, incarnation: e.incarnation, peer: peer ?? null });
    },
  };
}

/** host:port as a member announces it; null if it is not one. */
function parsePeerAddress(text: string): PeerAddress | null {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) return null;
  return { host: m[1] as string, port: Number(m[2]) };
}

function listenError(what: string, port: number, err: unknown): HostStartError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new HostStartError(`${what} port ${port} is already in use`);
  if (code === 'EACCES') return new HostStartError(`no permission to listen on ${what} port ${port}`);
  return new HostStartError(`cannot listen on ${what} port ${port}: ${(err as Error).message}`);
}

/** The data directory's record of its shard layout (sharded-replica.ts keeps group i in shards/<i>/). */
export const LAYOUT_FILE = 'layout.json';

/**
 * Checks the data directory against the shard layout the node is started with, and records the
 * layout on a first start. Why refuse rather than adapt: placement starts from the layout (shard
 * count, replicas, founding members: epoch 0 of the member set), so a node started with another
 * would host other shards, read keys
 * from groups that never held them, and answer with data of the wrong shard. A directory that
 * holds a single group's data (`kv`, `raft`) and no layout file is one group's.
 */
export function checkDataDirLayout(dataDir: string, id: string, members: readonly string[], shards: { count: number; replicas: number } | undefined): void {
  const want = shards !== undefined && shards.count > 1 ? { shards: shards.count, replicas: shards.replicas, members: [...members].sort() } : { shards: 1 };
  const file = path.join(dataDir, LAYOUT_FILE);
  const describe = (l: { shards: number; replicas?: number; members?: string[] }) => (l.shards <= 1 ? 'one Raft group (no shards)' : `${l.shards} shards of ${l.replicas} replicas over ${(l.members ?? []).join(',')}`);
  const flags = (l: { shards: number; replicas?: number }) => (l.shards <= 1 ? 'no --shards' : `--shards ${l.shards} --replicas ${l.replicas}`);
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new HostStartError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text === null) {
    const singleGroup = fs.existsSync(path.join(dataDir, 'kv')) || fs.existsSync(path.join(dataDir, 'raft'));
    if (want.shards > 1 && singleGroup) throw new HostStartError(`data directory ${dataDir} holds one Raft group's data (no shards), but node ${id} is started with ${describe(want)}: start it without shards, or give it an empty data directory`);
    // A single group's directory gets no file: it is what every directory was before shards.
    if (want.shards > 1) {
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(file + '.tmp', JSON.stringify(want) + '\n', { mode: 0o644 });
      fs.renameSync(file + '.tmp', file);
    }
    return;
  }
  let have: { shards: number; replicas?: number; members?: string[] };
  try {
    have = JSON.parse(text) as typeof have;
    if (typeof have !== 'object' || have === null || !Number.isInteger(have.shards) || have.shards < 1) throw new Error('no shard count');
  } catch (err) {
    throw new HostStartError(`${file} is not a shard layout (${(err as Error).message}); it records how the data directory is cut into shards: restore it, or give the node an empty data directory`);
  }
  const same = have.shards === want.shards && (want.shards <= 1 || (have.replicas === want.replicas && JSON.stringify(have.members ?? []) === JSON.stringify(want.members)));
  if (!same) throw new HostStartError(`data directory ${dataDir} holds ${describe(have)}, but node ${id} is started with ${describe(want)}: a cluster's shard count, replica count and founding members never change (replicas move between nodes, the layout does not), so restart it as it was made (${flags(have)}, the same first members), or give it an empty data directory (${file})`);
}

export async function startNodeHost(spec: HostSpec): Promise<NodeHost> {
  const release = lockDataDir(spec.dataDir);
  try {
    checkDataDirLayout(spec.dataDir, spec.id, spec.members, spec.shards);
  } catch (err) {
    release();
    throw err;
  }
  const clock = new RealClock();
  // Whoever reaches a port must not decide how much the node writes: each event's lines are
  // limited per window (src/util/log-limit.ts), and what was dropped is counted in one line.
  const limited = new RateLimitedLogger(spec.log, clock);
  const log: Logger = limited;
  const rng = osSeededRng();
  const net = new RealNet({ self: spec.id, role: 'peer', listen: { host: spec.bindHost, port: spec.peerPort }, peers: spec.peers, secret: spec.secret, log });
  const cleanup: (() => void)[] = [release, () => limited.close()];
  try {
    try {
      await net.listen();
    } catch (err) {
      throw listenError('peer', spec.peerPort, err);
    }
    cleanup.push(() => net.close());
    const env: Env = { id: spec.id, clock, disk: new RealDisk(spec.dataDir), net, rng, log, ...(spec.onFatal !== undefined ? { exit: spec.onFatal } : {}) };
    log.log('info', 'serve.start', { id: spec.id, pid: process.pid, dataDir: spec.dataDir, rngSeed: rng.seed, replication: spec.replication, engine: spec.engine, auth: spec.auth !== null, members: spec.members, ...(spec.shards !== undefined && spec.shards.count > 1 ? { shards: spec.shards.count, replicas: spec.shards.replicas } : {}) });
    // Members gossip made known after start (a node added by `cluster add-node`): the gateway's
    // forwarding net must reach them too. Without it a request forwarded to such a node once it
    // led was dropped, and the client's write timed out after 10 s (test/cli/members.test.ts,
    // once in CI: a put right after remove-node, with the added n4 elected).
    const learnedPeers = new Map<string, PeerAddress>();
    const forwardNets: RealNet[] = [];
    let frontDoorMet: ((id: string) => void) | null = null;
    const learned = (id: string, at: PeerAddress) => {
      learnedPeers.set(id, at);
      for (const f of forwardNets) f.addPeer(id, at);
      frontDoorMet?.(id);
    };
    let node: KvNode;
    try {
      node = new KvNode(env, { ...nodeConfigFor(spec), ...(spec.gossip != null ? { gossip: gossipConfigFor(spec, spec.gossip, net, log, learned) } : {}) });
    } catch (err) {
      // The node refuses a configuration it cannot run (in this build, e.g. a replication mode
      // that is not wired yet): an operator's problem to fix, not a crash.
      throw new HostStartError(`the node cannot start with replication ${spec.replication}, engine ${spec.engine} and ${spec.members.length} member(s): ${(err as Error).message}`);
    }
    cleanup.push(() => node.stop());
    const startedMs = Date.now();
    const disk = env.disk;
    const frontDoor = new FrontDoor({
      id: spec.id,
      node,
      // A sharded node added later is not among the founding members its spec names (epoch 0 of
      // the member set); its front door forwards to them and to whom gossip introduces.
      members: spec.members.includes(spec.id) ? spec.members : [...spec.members, spec.id],
      clock,
      rng: rng.fork('frontdoor'),
      log,
      // The gateway's forwarding client: its own connections to the peers' ports, where only a
      // holder of the cluster secret may speak (it is part of a member, so it holds it). Its own
      // node is among them: a not_leader answer may name this very node (a shard's leadership
      // came here while the request was away), and the forwarding client then sends it here.
      // Without this address those sends were dropped and the request timed out after 10 s on
      // sharded clusters, where leadership moves often; the simulator's net delivers to self.
      openNet: (address) => {
        const peers = withSelf(new Map([...learnedPeers, ...spec.peers]), spec.id, spec.bindHost, net.listeningPort ?? spec.peerPort);
        const f = new RealNet({ self: address, role: 'peer', peers, secret: spec.secret, log });
        forwardNets.push(f);
        return f;
      },
      learnsMembers: spec.gossip != null,
      authEnabled: spec.auth !== null,
      version: spec.version,
      ...(spec.requestTimeoutMs !== undefined ? { requestTimeoutMs: spec.requestTimeoutMs } : {}),
      ...(spec.timeouts !== undefined ? { timeouts: spec.timeouts } : {}),
      // A microtask is the cheapest turn to gather a burst's replies into one write (the
      // simulator, whose scheduler a microtask would escape, uses the clock's defer).
      soon: queueMicrotask,
      statusExtra: () => ({ version: spec.version, pid: process.pid, uptimeS: Math.round((Date.now() - startedMs) / 1000), ...(spec.addresses ? { addresses: spec.addresses } : {}) }),
      hostMetrics: (e) => {
        e.scalar('kvlab_storage_used_bytes', 'gauge', 'Bytes in the data directory.', [{ value: disk.usage().usedBytes }]);
        e.scalar('process_resident_memory_bytes', 'gauge', 'Resident memory of the process.', [{ value: process.memoryUsage.rss() }]);
        e.scalar('process_start_time_seconds', 'gauge', 'Start time of the process, Unix seconds.', [{ value: Math.round(startedMs / 1000) }]);
      },
    });
    cleanup.push(() => frontDoor.stop());
    for (const id of learnedPeers.keys()) frontDoor.learnMember(id);
    frontDoorMet = (id) => frontDoor.learnMember(id);
    const gateway = frontDoor.gateway;
    const http = new TcpListener(spec.bindHost, spec.httpPort, (stream) => frontDoor.accept(stream, 'http'));
    const line = new TcpListener(spec.bindHost, spec.tcpPort, (stream) => frontDoor.accept(stream, 'line'));
    let httpPort: number;
    let tcpPort: number;
    try {
      httpPort = await http.listen();
    } catch (err) {
      throw listenError('HTTP', spec.httpPort, err);
    }
    cleanup.push(() => http.close());
    try {
      tcpPort = await line.listen();
    } catch (err) {
      throw listenError('TCP', spec.tcpPort, err);
    }
    cleanup.push(() => line.close());
    const peerPort = net.listeningPort ?? spec.peerPort;
    log.log('info', 'serve.listening', { http: `${spec.bindHost}:${httpPort}`, tcp: `${spec.bindHost}:${tcpPort}`, peer: `${spec.bindHost}:${peerPort}` });
    let shuttingDown: Promise<void> | null = null;
    const shutdown = (drainTimeoutMs = 5_000): Promise<void> =>
      (shuttingDown ??= (async () => {
        log.log('info', 'serve.stopping', { inFlight: gateway.pending });
        http.close();
        line.close();
        frontDoor.stopAccepting();
        const drained = await gateway.drain(drainTimeoutMs);
        if (!drained) log.log('warn', 'serve.drain_timeout', { inFlight: gateway.pending, timeoutMs: drainTimeoutMs });
        // Replies written just now must reach their sockets before the connections close.
        await new Promise<void>((r) => setImmediate(r));
        node.stop();
        frontDoor.stop();
        release();
        log.log('info', 'serve.stopped', {});
        limited.close();
      })());
    return { spec, node, gateway, frontDoor, httpPort, tcpPort, peerPort, shutdown };
  } catch (err) {
    for (const undo of cleanup.reverse()) {
      try {
        undo();
      } catch {
        // Best effort: the start already failed, and that error is the one to report.
      }
    }
    throw err;
  }
}

/** The members' peer addresses and this node's own, dialled on loopback when it listens on every interface. */
function withSelf(peers: ReadonlyMap<string, PeerAddress>, id: string, bindHost: string, port: number): Map<string, PeerAddress> {
  const host = bindHost === '0.0.0.0' || bindHost === '' ? '127.0.0.1' : bindHost === '::' ? '::1' : bindHost;
  return new Map([...peers, [id, { host, port }]]);
}
