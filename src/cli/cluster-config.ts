import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isScalar, stringify } from 'yaml';
import { SchemaError, bool, duration, int, list, obj, oneOf, parseYaml, problem, str, type Validator } from '../util/schema.js';
import type { AuthConfig } from '../node/auth.js';
import type { ClientTimeouts } from '../frontdoor/deadline.js';
import type { EngineKind, ReplicationMode } from '../node/node.js';
import { UsageError } from './errors.js';
import { SHARDS_MAX, SHARD_REPLICAS_DEFAULT } from '../cluster/placement/index.js';

/**
 * The cluster file (cluster.yaml): every member of a cluster, where it listens and keeps its data,
 * and the cluster-wide settings. `kv-lab cluster up` writes one; `kv-lab serve --config F --node
 * n1` runs one member of it. The format, field by field:
 *
 *   name: local                 # a label for logs and `cluster status`
 *   replication: raft           # none (exactly one node) | raft | primary
 *   engine: lsm                 # storage engine of every node: lsm | bitcask | memory
 *   shards: 64                  # optional, raft only: the keyspace cut into this many Raft groups (1..4096)
 *   replicas: 3                 # with shards: each shard's replicas, placed by the ring (1..nodes; default 3)
 *   firstMembers: [n1, n2, n3]  # with shards: the founding members, whose placement every node starts
 *                               #   from (epoch 0 of the member set); kept as nodes are added and
 *                               #   removed. Default: the nodes not marked joined.
 *   primary:                    # replication primary only: the first leader, the shipping period
 *     leader: n1
 *     shipInterval: 50ms
 *   secretFile: cluster.secret  # the cluster secret: peers prove they hold it (HMAC challenge)
 *   auth:                       # or `auth: none` to run without authentication (--insecure)
 *     admin: admin              # the root user, defined here so a new cluster can be administered
 *     adminHash: scrypt$…       # its password's scrypt hash (`kv-lab hash-password` makes one)
 *     tokenTtl: 24h             # how long a login token lasts
 *   timeouts:                   # optional, each field too (src/frontdoor/deadline.ts says why these)
 *     tcpIdle: 300s             # TCP client port: closed after this long idle
 *     tcpRead: 60s              # TCP client port: a line or request frame must arrive whole within
 *     httpHeader: 20s           # HTTP: a request head within (else 408)
 *     httpRequest: 60s          # HTTP: a whole request within (else 408)
 *     httpIdle: 65s             # HTTP: a keep-alive connection closed after this long idle
 *   nodes:
 *     - id: n1                  # letters, digits, _ and -
 *       host: 127.0.0.1         # where the others and clients reach it; it listens there too
 *       httpPort: 8000
 *       tcpPort: 3001           # the line protocol
 *       peerPort: 9001          # Raft traffic and the TypeScript client
 *       dataDir: data/n1
 *       joined: true            # optional: added later (cluster add-node); waits for the leader, never bootstraps
 *
 * Relative paths (secretFile, dataDir) are relative to the cluster file's directory. The file
 * holds no secret itself (the admin hash is a hash), but `cluster up` still writes it mode 600.
 */

/** Replication modes a node can run (the node's ReplicationMode). */
export const REPLICATION_MODES_AVAILABLE = ['none', 'raft', 'primary'] as const satisfies readonly ReplicationMode[];
/** Storage engines a node can run, the default first: lsm keeps data across restarts. */
export const ENGINES_AVAILABLE = ['lsm', 'bitcask', 'memory'] as const satisfies readonly EngineKind[];
/** How often a primary ships its log to followers, unless the file says otherwise. */
export const SHIP_INTERVAL_MS_DEFAULT = 50;

export const NODE_ID = /^[A-Za-z0-9_-]{1,32}$/;
export const NODES_MAX = 64;

export interface ClusterNode {
  id: string;
  host: string;
  httpPort: number;
  tcpPort: number;
  peerPort: number;
  /** Absolute. */
  dataDir: string;
  /**
   * Added to a running cluster (`kv-lab cluster add-node`), not a founding member: with an empty
   * data directory it never starts a Raft group of its own, it waits for the leader to add it and
   * send it the state (a snapshot, then the log).
   */
  joined?: boolean;
}

export interface ClusterAuth {
  admin: string;
  adminHash: string;
  tokenTtlMs: number;
}

/** Replication primary: the leader the cluster starts with, and how often it ships its log. */
export interface ClusterPrimary {
  leader: string;
  shipIntervalMs: number;
}

export interface ClusterConfig {
  /** The file it came from (absolute), or where it will be written. */
  file: string;
  name: string;
  replication: string;
  engine: string;
  /** Present exactly when replication is primary. */
  primary?: ClusterPrimary;
  /** Multi-Raft: how many shards (absent or 1: one group) and each shard's replicas. */
  shards?: { count: number; replicas: number };
  /**
   * A sharded cluster's founding members: epoch 0 of its member set, the placement every node
   * computes before it has read a later one. It must never change, or two nodes would start from
   * different placements; so it is written once (`cluster up`) and kept when nodes come and go
   * (`cluster add-node` / `remove-node`), unlike `nodes`, which lists who runs now.
   */
  firstMembers?: string[];
  /** Absolute. */
  secretFile: string;
  auth: ClusterAuth | null;
  /** Client connections' timeouts, where the file sets them. */
  timeouts?: Partial<ClientTimeouts>;
  nodes: ClusterNode[];
}

const port = int({ min: 1, max: 65535 });

const authValidator: Validator<ClusterAuth | null> = (node, p, ctx, at) => {
  if (node !== null && isScalar(node) && node.value === 'none') return null;
  const v = obj({
    admin: { v: str({ pattern: /^[A-Za-z0-9_.@-]{1,64}$/, patternText: 'a user name (letters, digits, _.@-)' }), default: 'admin' },
    adminHash: { v: str({ pattern: /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, patternText: 'an scrypt hash (scrypt$N$r$p$salt$key, from kv-lab hash-password)' }), required: true },
    tokenTtl: { v: duration({ minNs: 1e9 }), default: 24 * 3600e9 },
  })(node, p, ctx, at);
  if (v === undefined) {
    if (node !== null && isScalar(node)) return problem(ctx, node, p, 'expected `none` or a mapping with admin and adminHash');
    return undefined;
  }
  return { admin: v.admin, adminHash: v.adminHash, tokenTtlMs: v.tokenTtl / 1e6 };
};

/** A client timeout: from 100 ms to a day. */
const timeout = duration({ minNs: 1e8 });

/** The file's `timeouts:` field names, and ClientTimeouts' for each. */
export const TIMEOUT_FIELDS = [
  ['tcpIdle', 'tcpIdleMs'],
  ['tcpRead', 'tcpReadMs'],
  ['httpHeader', 'httpHeadersMs'],
  ['httpRequest', 'httpRequestMs'],
  ['httpIdle', 'httpIdleMs'],
] as const satisfies readonly (readonly [string, keyof ClientTimeouts])[];

/** A day: no client timeout is longer (a longer one is a mistake, not a setting). */
export const TIMEOUT_MS_MAX = 24 * 3600_000;

const schema = obj({
  name: { v: str({ pattern: /^[A-Za-z0-9_.-]{1,64}$/, patternText: 'a name of letters, digits, _ . -' }), default: 'local' },
  replication: { v: oneOf(REPLICATION_MODES_AVAILABLE), default: 'raft' as const },
  engine: { v: oneOf(ENGINES_AVAILABLE), default: 'lsm' as const },
  shards: { v: int({ min: 1, max: SHARDS_MAX }) },
  replicas: { v: int({ min: 1, max: NODES_MAX }) },
  firstMembers: { v: list(str({ pattern: NODE_ID, patternText: 'a node id' }), { min: 1, max: NODES_MAX }) },
  primary: { v: obj({ leader: { v: str({ pattern: NODE_ID, patternText: 'a node id' }), required: true }, shipInterval: { v: duration({ minNs: 1e6 }), default: SHIP_INTERVAL_MS_DEFAULT * 1e6 } }) },
  secretFile: { v: str({ maxLength: 4096 }), required: true },
  auth: { v: authValidator, required: true },
  timeouts: { v: obj({ tcpIdle: { v: timeout }, tcpRead: { v: timeout }, httpHeader: { v: timeout }, httpRequest: { v: timeout }, httpIdle: { v: timeout } }) },
  nodes: {
    v: list(
      obj({
        id: { v: str({ pattern: NODE_ID, patternText: 'an id of 1-32 letters, digits, _ and -' }), required: true },
        host: { v: str({ maxLength: 255 }), default: '127.0.0.1' },
        httpPort: { v: port, required: true },
        tcpPort: { v: port, required: true },
        peerPort: { v: port, required: true },
        dataDir: { v: str({ maxLength: 4096 }), required: true },
        joined: { v: bool },
      }),
      { min: 1, max: NODES_MAX },
    ),
    required: true,
  },
});

/** Checks that span fields: unique ids, ports and data directories; replication fits the size. */
export function crossCheck(c: Omit<ClusterConfig, 'file'>): string[] {
  const errors: string[] = [];
  const ids = new Set<string>();
  const ports = new Map<string, string>();
  const dirs = new Set<string>();
  for (const n of c.nodes) {
    if (ids.has(n.id)) errors.push(`nodes: id ${n.id} appears twice`);
    ids.add(n.id);
    for (const [what, p] of [['httpPort', n.httpPort], ['tcpPort', n.tcpPort], ['peerPort', n.peerPort]] as const) {
      const k = `${n.host}:${p}`;
      const owner = ports.get(k);
      if (owner !== undefined) errors.push(`nodes: ${n.id}.${what} ${k} is also ${owner}`);
      ports.set(k, `${n.id}.${what}`);
    }
    if (dirs.has(n.dataDir)) errors.push(`nodes: ${n.id}.dataDir ${n.dataDir} is another node's too`);
    dirs.add(n.dataDir);
  }
  if (c.firstMembers !== undefined) {
    if (new Set(c.firstMembers).size !== c.firstMembers.length) errors.push(`firstMembers: an id appears twice (${c.firstMembers.join(', ')})`);
    if (c.shards === undefined || c.shards.count <= 1) errors.push('firstMembers: only for a sharded cluster (shards: 2 or more)');
    for (const n of c.nodes) if (n.joined !== true && !c.firstMembers.includes(n.id)) errors.push(`nodes: ${n.id} is neither one of firstMembers (${c.firstMembers.join(', ')}) nor marked joined: true`);
  }
  if (c.replication === 'none' && c.nodes.length !== 1) errors.push(`replication none serves exactly one node; this file has ${c.nodes.length} (use replication: raft)`);
  if (c.replication === 'primary' && c.primary !== undefined && !ids.has(c.primary.leader)) errors.push(`primary.leader: ${c.primary.leader} is not one of the nodes (${[...ids].join(', ')})`);
  errors.push(...shardProblems(c));
  if (c.replication !== 'primary' && c.primary !== undefined) errors.push(`primary: only for replication primary (this file says ${c.replication})`);
  for (const [field, key] of TIMEOUT_FIELDS) {
    const ms = c.timeouts?.[key];
    if (ms !== undefined && ms > TIMEOUT_MS_MAX) errors.push(`timeouts.${field}: at most 24h, got ${ms / 1000} s`);
  }
  return errors;
}

/**
 * What keeps a sharded cluster from running: shards are Raft groups, placed by the ring on
 * distinct nodes. (Users and databases are shard 0's catalog, copied to every node:
 * src/node/shard-catalog.ts.)
 */
export function shardProblems(c: Pick<ClusterConfig, 'replication' | 'auth' | 'shards' | 'nodes' | 'firstMembers'>): string[] {
  const s = c.shards;
  if (s === undefined || s.count <= 1) return [];
  const errors: string[] = [];
  if (c.replication !== 'raft') errors.push(`shards: ${s.count} shards are Raft groups; replication is ${c.replication} (use raft)`);
  const first = firstMembersOf(c);
  if (s.replicas > first.length) errors.push(`replicas: ${s.replicas} replicas per shard need ${s.replicas} nodes; the cluster has ${first.length}${c.firstMembers !== undefined ? ' first members' : ''} (a shard's replicas are on distinct nodes)`);
  return errors;
}

/** A sharded cluster's founding members (epoch 0 of its member set): the file's, else the nodes not marked joined. */
export function firstMembersOf(c: Pick<ClusterConfig, 'firstMembers' | 'nodes'>): string[] {
  return c.firstMembers ?? c.nodes.filter((n) => n.joined !== true).map((n) => n.id);
}

/** Reads and validates a cluster file; every problem becomes one UsageError naming file and line. */
export function loadClusterConfig(file: string): ClusterConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no such cluster file: ${file}` : `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw;
  try {
    raw = parseYaml(text, file, schema);
  } catch (err) {
    if (err instanceof SchemaError) throw new UsageError(`invalid cluster file:\n${err.message}`);
    throw err;
  }
  const dir = path.dirname(abs);
  const config: ClusterConfig = {
    file: abs,
    name: raw.name,
    replication: raw.replication,
    engine: raw.engine,
    ...(raw.shards !== undefined || raw.replicas !== undefined ? { shards: { count: raw.shards ?? 1, replicas: raw.replicas ?? Math.min(SHARD_REPLICAS_DEFAULT, raw.nodes.length) } } : {}),
    ...(raw.firstMembers !== undefined ? { firstMembers: raw.firstMembers } : {}),
    ...(raw.replication === 'primary' ? { primary: { leader: raw.primary?.leader ?? (raw.nodes[0]?.id as string), shipIntervalMs: (raw.primary?.shipInterval ?? SHIP_INTERVAL_MS_DEFAULT * 1e6) / 1e6 } } : {}),
    ...(raw.replication !== 'primary' && raw.primary !== undefined ? { primary: { leader: raw.primary.leader, shipIntervalMs: raw.primary.shipInterval / 1e6 } } : {}),
    secretFile: path.resolve(dir, raw.secretFile),
    auth: raw.auth,
    ...(raw.timeouts !== undefined ? { timeouts: clusterTimeouts(raw.timeouts) } : {}),
    nodes: raw.nodes.map(({ joined, ...n }) => ({ ...n, dataDir: path.resolve(dir, n.dataDir), ...(joined === true ? { joined: true } : {}) })),
  };
  const errors = crossCheck(config);
  if (errors.length > 0) throw new UsageError(`invalid cluster file ${file}:\n${errors.map((e) => `  ${e}`).join('\n')}`);
  return config;
}

/** The file's timeouts (nanoseconds, by the file's names) as ClientTimeouts fields. */
function clusterTimeouts(raw: Partial<Record<(typeof TIMEOUT_FIELDS)[number][0], number>>): Partial<ClientTimeouts> {
  const out: Partial<ClientTimeouts> = {};
  for (const [field, key] of TIMEOUT_FIELDS) {
    const ns = raw[field];
    if (ns !== undefined) out[key] = ns / 1e6;
  }
  return out;
}

/** The YAML text of a cluster file, paths relative to its directory. */
export function renderClusterConfig(c: ClusterConfig): string {
  const dir = path.dirname(c.file);
  const rel = (p: string) => path.relative(dir, p) || '.';
  const doc = {
    name: c.name,
    replication: c.replication,
    engine: c.engine,
    ...(c.shards !== undefined ? { shards: c.shards.count, replicas: c.shards.replicas } : {}),
    ...(c.firstMembers !== undefined ? { firstMembers: c.firstMembers } : {}),
    ...(c.primary !== undefined ? { primary: { leader: c.primary.leader, shipInterval: `${c.primary.shipIntervalMs}ms` } } : {}),
    secretFile: rel(c.secretFile),
    auth: c.auth === null ? 'none' : { admin: c.auth.admin, adminHash: c.auth.adminHash, tokenTtl: `${Math.round(c.auth.tokenTtlMs / 1000)}s` },
    ...(c.timeouts !== undefined ? { timeouts: Object.fromEntries(TIMEOUT_FIELDS.flatMap(([field, key]) => (c.timeouts?.[key] !== undefined ? [[field, `${c.timeouts[key]}ms`]] : []))) } : {}),
    nodes: c.nodes.map((n) => ({ id: n.id, host: n.host, httpPort: n.httpPort, tcpPort: n.tcpPort, peerPort: n.peerPort, dataDir: rel(n.dataDir), ...(n.joined === true ? { joined: true } : {}) })),
  };
  return `# kv-lab cluster file (format: kv-lab serve --help, README "Run a real cluster").\n# Run one member with: kv-lab serve --config ${path.basename(c.file)} --node <id>\n${stringify(doc)}`;
}

/** Reads a secret file, refusing an empty one and warning about one others can read. */
export function readSecretFile(file: string, what: string): { secret: string; warning: string | null } {
  let text: string;
  let mode: number;
  try {
    text = fs.readFileSync(file, 'utf8');
    mode = fs.statSync(file).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no such ${what} file: ${file}` : `cannot read ${what} file ${file}: ${(err as Error).message}`);
  }
  const secret = text.trim();
  if (secret.length < 16) throw new UsageError(`${what} file ${file} must hold at least 16 characters`);
  if (secret.length > 4096) throw new UsageError(`${what} file ${file} is longer than 4096 characters`);
  const warning = (mode & 0o077) !== 0 ? `${what} file ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it` : null;
  return { secret, warning };
}

/**
 * The key that signs login tokens, derived from the cluster secret (so every member verifies any
 * member's tokens without another secret to distribute) under a label that keeps it apart from the
 * peer handshake's use of the same secret.
 */
export function tokenSecretFor(clusterSecret: string): string {
  return createHmac('sha256', clusterSecret).update('kv-lab token-signing key v1').digest('hex');
}

export function authConfigFor(auth: ClusterAuth | null, clusterSecret: string): AuthConfig | null {
  if (auth === null) return null;
  return { tokenSecret: tokenSecretFor(clusterSecret), root: { name: auth.admin, hash: auth.adminHash }, tokenTtlMs: auth.tokenTtlMs };
}

/**
 * Default ports of node i (1-based) for a base port: HTTP base+i-1, TCP base-5000+i, peers
 * base+1000+i — with the default base 8000, the seeds' 8000/3001/9001 for n1.
 */
export function defaultPorts(base: number, i: number): { httpPort: number; tcpPort: number; peerPort: number } {
  return { httpPort: base + i - 1, tcpPort: base - 5000 + i, peerPort: base + 1000 + i };
}

/** The range of base ports for which every default port of n nodes is valid and unprivileged. */
export function basePortRange(nodes: number): { min: number; max: number } {
  return { min: 1024 + 5000, max: 65535 - 1000 - nodes };
}

/** The young generation kv-lab gives a replicated node it starts, in MB per semi-space. */
export const REPLICA_SEMI_SPACE_MB = 4;

/**
 * The node (V8) options for a `serve` process that kv-lab starts itself (`cluster up`, `run
 * --real`): the caller's own options, and for a replicated node a smaller young generation.
 *
 * Why: every write on a Raft or primary member stays alive across scavenges (in the replicated
 * log and the memtable), so what a scavenge copies grows with the young generation. With V8's
 * default (16 MB semi-spaces) a leader at 20,000 writes/s paused 5-8 ms every 100 ms
 * (--trace-gc-nvp); at 4 MB, 3 ms on average every 45 ms. Over five alternating runs of each,
 * 3-node PUT at 2 x 50 in flight kept its rate (median 20.5k vs 20.0k/s) with p99 15.5 vs
 * 16.6 ms and p999 21.8 vs 29.6 ms. A single node's reads leave almost nothing alive, and ran
 * about 4% slower with it, so it keeps the default. Flags already given (NODE_OPTIONS, the
 * caller's own) win. A node started by hand can be given the same with
 * NODE_OPTIONS=--max-semi-space-size=4.
 */
export function serveNodeOptions(replication: string, execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, nodeOptions].some((a) => a.includes('semi-space-size'));
  return replication === 'none' || given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${REPLICA_SEMI_SPACE_MB}`];
}
