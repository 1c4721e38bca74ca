import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { PeerAddress } from '../env/real/net.js';
import type { LogLevel } from '../env/log.js';
import { KV_LAB_VERSION } from '../util/version.js';
import type { HostSpec, MemberAddress, PrimaryConfig } from '../host/node-host.js';
import { hashPassword } from '../node/auth.js';
import { processAlive } from '../host/process.js';
import { LOG_FILE_BYTES_MAX_DEFAULT, LOG_FILES_KEPT_DEFAULT, RotatingLogFile } from '../host/log-file.js';
import { EXIT_FAILED, UsageError } from './errors.js';
import {
  authConfigFor,
  ENGINES_AVAILABLE,
  shardProblems,
  firstMembersOf,
  loadClusterConfig,
  NODE_ID,
  readSecretFile,
  REPLICATION_MODES_AVAILABLE,
  TIMEOUT_MS_MAX,
  type ClusterAuth,
} from './cluster-config.js';
import { SHARDS_MAX, SHARD_REPLICAS_DEFAULT } from '../cluster/placement/index.js';
import { DEFAULT_CLIENT_TIMEOUTS, type ClientTimeouts } from '../frontdoor/deadline.js';

/**
 * `kv-lab serve`: one node as a long-running process, from a cluster file
 * (`--config cluster.yaml --node n1`) or from flags alone. It logs one JSON object per event on
 * stderr (or to --log-file, rotated by size), stops in order on SIGTERM or SIGINT (stop accepting, answer what is in flight, stop the
 * node, close connections), and on restart resumes from its data directory.
 */

export interface ServeFlags {
  config?: string;
  node?: string;
  id?: string;
  dataDir?: string;
  host?: string;
  httpPort?: string;
  tcpPort?: string;
  peerPort?: string;
  peers?: string;
  replication?: string;
  engine?: string;
  secretFile?: string;
  adminHashFile?: string;
  insecure?: boolean;
  role?: string;
  leaderHost?: string;
  leaderPort?: string;
  join?: string;
  gossip: boolean;
  zone?: string;
  logLevel: string;
  logFile?: string;
  logMaxMb: string;
  logKeep: string;
  tcpIdleTimeout?: string;
  tcpReadTimeout?: string;
  httpHeaderTimeout?: string;
  httpRequestTimeout?: string;
  httpIdleTimeout?: string;
  shards?: string;
  replicas?: string;
}

/** The timeout flags, each with its ClientTimeouts field (the cluster file's `timeouts:` has the same). */
const TIMEOUT_FLAGS = [
  ['tcpIdleTimeout', '--tcp-idle-timeout', 'tcpIdleMs', 'TCP client port: close a connection idle this long'],
  ['tcpReadTimeout', '--tcp-read-timeout', 'tcpReadMs', 'TCP client port: a line or request frame must arrive whole within this'],
  ['httpHeaderTimeout', '--http-header-timeout', 'httpHeadersMs', 'HTTP: a request head must arrive within this (else 408)'],
  ['httpRequestTimeout', '--http-request-timeout', 'httpRequestMs', 'HTTP: a whole request must arrive within this (else 408)'],
  ['httpIdleTimeout', '--http-idle-timeout', 'httpIdleMs', 'HTTP: close a keep-alive connection idle this long'],
] as const satisfies readonly (readonly [keyof ServeFlags, string, keyof ClientTimeouts, string])[];

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const FLAG_ONLY = ['id', 'dataDir', 'httpPort', 'tcpPort', 'peerPort', 'peers', 'replication', 'engine', 'secretFile', 'adminHashFile', 'insecure', 'role', 'leaderHost', 'leaderPort', 'host', 'join', 'shards', 'replicas'] as const;

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run one kv-lab node: HTTP, the TCP line protocol and peer traffic, data on disk')
    .option('--config <file>', 'cluster file (cluster.yaml, as `kv-lab cluster up` writes)')
    .option('--node <id>', 'which member of the cluster file to run')
    .option('--id <id>', 'without a cluster file: this node\'s id', 'n1')
    .option('--data-dir <dir>', 'without a cluster file: where the node keeps its data')
    .option('--host <address>', 'address to listen on and be reached at', '127.0.0.1')
    .option('--http-port <port>', 'HTTP port (0: any free port)', '8000')
    .option('--tcp-port <port>', 'TCP line-protocol port', '3001')
    .option('--peer-port <port>', 'port for the other members (they prove the cluster secret; clients use --tcp-port and --http-port)', '9001')
    .option('--peers <list>', 'the other members: id=host:port,… (their peer ports)')
    .option('--replication <mode>', `replication: ${REPLICATION_MODES_AVAILABLE.join(' | ')} (default: none alone, raft with peers)`)
    .option('--engine <engine>', `storage engine: ${ENGINES_AVAILABLE.join(' | ')}`, ENGINES_AVAILABLE[0])
    .option('--secret-file <file>', 'file holding the cluster secret (default: generated in the data directory for a single node)')
    .option('--admin-hash-file <file>', 'file holding the admin password\'s scrypt hash (kv-lab hash-password)')
    .option('--insecure', 'no authentication: anyone may read and write (local experiments only)')
    .option('--shards <n>', `raft: cut the keyspace into this many Raft groups, placed by the ring (1-${SHARDS_MAX})`)
    .option('--replicas <n>', `with --shards: each shard's replicas, on distinct members (default ${SHARD_REPLICAS_DEFAULT}, at most the members)`)
    .option('--role <role>', 'primary mode: leader | follower')
    .option('--leader-host <host>', 'primary mode, follower: the leader\'s host')
    .option('--leader-port <port>', 'primary mode, follower: the leader\'s peer port')
    .option('--join <list>', 'meet a running cluster by gossip through these peer addresses: host:port,… (the node waits to be added to Raft with `kv-lab member add <id> <its peer host:port>`; with --shards it asks the members to add it, and replicas move to it)')
    .option('--zone <name>', 'this node\'s zone, announced by gossip (placement spreads replicas across zones)')
    .option('--no-gossip', 'do not gossip (by default a node with peers or --join gossips over its peer port)')
    .option('--log-level <level>', 'debug | info | warn | error', 'info')
    .option('--log-file <file>', 'write the JSON log lines to this file, rotated by size (default: stderr)')
    .option('--log-max-mb <n>', 'with --log-file: rotate once the file reaches this many MiB', String(LOG_FILE_BYTES_MAX_DEFAULT / 1024 / 1024))
    .option('--log-keep <n>', 'with --log-file: rotated files kept (<file>.1 the newest)', String(LOG_FILES_KEPT_DEFAULT))
    .option('--tcp-idle-timeout <duration>', timeoutHelp(0))
    .option('--tcp-read-timeout <duration>', timeoutHelp(1))
    .option('--http-header-timeout <duration>', timeoutHelp(2))
    .option('--http-request-timeout <duration>', timeoutHelp(3))
    .option('--http-idle-timeout <duration>', timeoutHelp(4))
    .addHelpText('after', '\nExit codes: 0 stopped by a signal, 1 could not start (a port in use, a locked data directory), 2 bad flags or files.\nThe cluster file format is documented in README.md ("Run a real cluster").')
    .action(async (opts: ServeFlags, cmd: Command) => {
      // Flags given explicitly on the command line (not defaults) — to refuse mixing them with --config.
      const explicit = new Set(FLAG_ONLY.filter((k) => cmd.getOptionValueSource(k) === 'cli'));
      await serveCommand(opts, explicit);
    });
}

function timeoutHelp(i: number): string {
  const [, , key, what] = TIMEOUT_FLAGS[i] as (typeof TIMEOUT_FLAGS)[number];
  return `${what} (default ${DEFAULT_CLIENT_TIMEOUTS[key] / 1000}s; overrides the cluster file's timeouts)`;
}

/** A timeout flag's value: 500ms, 20s, 5m, 1h; from 100 ms to a day. */
export function parseTimeout(text: string, flag: string): number {
  const m = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h)$/.exec(text.trim());
  const ms = m === null ? NaN : Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  if (!(ms >= 100 && ms <= TIMEOUT_MS_MAX)) throw new UsageError(`${flag} expects a duration from 100ms to 24h such as 20s or 5m, got ${JSON.stringify(text)}`);
  return Math.round(ms);
}

/** The client timeouts the flags give, over those of the cluster file (if any). */
export function timeoutsFromFlags(opts: ServeFlags, fromFile: Partial<ClientTimeouts> | undefined): Partial<ClientTimeouts> | undefined {
  let out = fromFile;
  for (const [name, flag, key] of TIMEOUT_FLAGS) {
    const text = opts[name];
    if (text !== undefined) out = { ...out, [key]: parseTimeout(text, flag) };
  }
  return out;
}

export function parsePort(text: string, flag: string, allowZero = true): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535 || (!allowZero && Number(text) === 0)) {
    throw new UsageError(`${flag} expects a port number ${allowZero ? '0' : '1'}-65535, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Parses `--join host:port,…` (seeds' peer ports). */
export function parseJoin(text: string): PeerAddress[] {
  const out: PeerAddress[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(.+):(\d+)$/.exec(item);
    if (m === null) throw new UsageError(`--join: expected host:port, got ${JSON.stringify(item)}`);
    out.push({ host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: parsePort(m[2] as string, `--join ${item}`, false) });
  }
  if (out.length === 0) throw new UsageError('--join: give at least one host:port');
  if (out.length > 16) throw new UsageError(`--join: at most 16 seeds, got ${out.length}`);
  return out;
}

/** Parses `--peers n2=host:port,n3=host:port`. */
export function parsePeers(text: string): Map<string, PeerAddress> {
  const peers = new Map<string, PeerAddress>();
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(item);
    if (m === null) throw new UsageError(`--peers: expected id=host:port, got ${JSON.stringify(item)}`);
    const id = m[1] as string;
    if (!NODE_ID.test(id)) throw new UsageError(`--peers: ${JSON.stringify(id)} is not a node id (1-32 letters, digits, _ and -)`);
    if (peers.has(id)) throw new UsageError(`--peers: ${id} is listed twice`);
    peers.set(id, { host: (m[2] as string).replace(/^\[(.*)\]$/, '$1'), port: parsePort(m[3] as string, `--peers ${id}`, false) });
  }
  return peers;
}

/** The primary mode's flags, checked for consistency. */
export function parsePrimary(opts: Pick<ServeFlags, 'role' | 'leaderHost' | 'leaderPort'>): PrimaryConfig | undefined {
  if (opts.role === undefined) {
    if (opts.leaderHost !== undefined || opts.leaderPort !== undefined) throw new UsageError('--leader-host and --leader-port go with --role follower');
    return undefined;
  }
  if (opts.role !== 'leader' && opts.role !== 'follower') throw new UsageError(`--role expects leader or follower, got ${JSON.stringify(opts.role)}`);
  if (opts.role === 'leader') {
    if (opts.leaderHost !== undefined || opts.leaderPort !== undefined) throw new UsageError('a leader takes no --leader-host or --leader-port');
    return { role: 'leader', leader: null };
  }
  if (opts.leaderHost === undefined || opts.leaderPort === undefined) throw new UsageError('--role follower needs --leader-host and --leader-port');
  return { role: 'follower', leader: { host: opts.leaderHost, port: parsePort(opts.leaderPort, '--leader-port', false) } };
}

/** Files generated in a flag-configured node's data directory at its first start. */
function generatedFile(dataDir: string, name: string, make: () => string): { file: string; created: boolean } {
  const file = path.join(dataDir, name);
  if (fs.existsSync(file)) return { file, created: false };
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, make() + '\n', { mode: 0o600, flag: 'wx' });
  return { file, created: true };
}

/** Messages for the operator, gathered while reading the configuration and logged at start. */
type Notes = string[];

/** Builds the host's spec from a cluster file. */
function specFromConfig(opts: ServeFlags, explicit: Set<string>, notes: Notes): Omit<HostSpec, 'log'> {
  if (explicit.size > 0) throw new UsageError(`with --config, the cluster file says everything; drop ${[...explicit].map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
  const config = loadClusterConfig(opts.config as string);
  if (opts.node === undefined) throw new UsageError(`--config needs --node: one of ${config.nodes.map((n) => n.id).join(', ')}`);
  const me = config.nodes.find((n) => n.id === opts.node);
  if (me === undefined) throw new UsageError(`--node ${opts.node} is not in ${opts.config}: its nodes are ${config.nodes.map((n) => n.id).join(', ')}`);
  const { secret, warning } = readSecretFile(config.secretFile, 'cluster secret');
  if (warning !== null) notes.push(warning);
  const sharded = config.shards !== undefined && config.shards.count > 1;
  if (sharded && me.joined !== true && !firstMembersOf(config).includes(me.id)) throw new UsageError(`--node ${me.id} is neither one of ${opts.config}'s firstMembers (${firstMembersOf(config).join(', ')}) nor marked joined: true`);
  const addresses: Record<string, MemberAddress> = {};
  for (const n of config.nodes) addresses[n.id] = { host: n.host, httpPort: n.httpPort, tcpPort: n.tcpPort, peerPort: n.peerPort };
  const leader = config.primary === undefined ? undefined : config.nodes.find((n) => n.id === config.primary?.leader);
  const primary: PrimaryConfig | undefined =
    config.primary === undefined || leader === undefined
      ? undefined
      : { role: leader.id === me.id ? 'leader' : 'follower', leader: leader.id === me.id ? null : { host: leader.host, port: leader.peerPort }, shipIntervalMs: config.primary.shipIntervalMs };
  return {
    id: me.id,
    dataDir: me.dataDir,
    bindHost: me.host,
    httpPort: me.httpPort,
    tcpPort: me.tcpPort,
    peerPort: me.peerPort,
    // Sharded: the founding members, epoch 0 of the member set, which nodes added or removed since
    // must not change (every node starts from the same placement). One group: every node listed.
    members: sharded ? firstMembersOf(config) : config.nodes.map((n) => n.id),
    peers: new Map(config.nodes.filter((n) => n.id !== me.id).map((n) => [n.id, { host: n.host, port: n.peerPort }])),
    replication: config.replication,
    engine: config.engine,
    secret,
    auth: authConfigFor(config.auth, secret),
    ...(primary !== undefined ? { primary } : {}),
    addresses,
    version: KV_LAB_VERSION,
    ...(config.timeouts !== undefined ? { timeouts: config.timeouts } : {}),
    ...(config.shards !== undefined && config.shards.count > 1 ? { shards: config.shards } : {}),
    // Every member of a cluster file gossips with the others (the file lists them all).
    gossip: opts.gossip && config.nodes.length > 1 ? { join: [], zone: opts.zone ?? '' } : null,
    // Added to a running cluster (cluster add-node): as with --join, it meets the others by gossip
    // and waits for the leader's log rather than starting a group of its own.
    ...(me.joined === true ? { original: false } : {}),
  };
}

/** Builds the host's spec from flags alone; a first start generates what a single node needs. */
function specFromFlags(opts: ServeFlags, notes: Notes): Omit<HostSpec, 'log'> {
  if (opts.node !== undefined) throw new UsageError('--node picks a member of a cluster file; give --config too, or use --id');
  const id = opts.id ?? 'n1';
  if (!NODE_ID.test(id)) throw new UsageError(`--id expects 1-32 letters, digits, _ and -, got ${JSON.stringify(id)}`);
  if (opts.dataDir === undefined) throw new UsageError('give --data-dir (where the node keeps its data), or --config with --node');
  const dataDir = path.resolve(opts.dataDir);
  const httpPort = parsePort(opts.httpPort ?? '8000', '--http-port');
  const tcpPort = parsePort(opts.tcpPort ?? '3001', '--tcp-port');
  const peerPort = parsePort(opts.peerPort ?? '9001', '--peer-port');
  const peers = parsePeers(opts.peers ?? '');
  const self = peers.get(id);
  if (self !== undefined) {
    if (self.port !== peerPort) throw new UsageError(`--peers lists ${id} (this node) at port ${self.port}, but --peer-port is ${peerPort}`);
    peers.delete(id);
  }
  const primary = parsePrimary(opts);
  const join = opts.join === undefined ? [] : parseJoin(opts.join);
  if (join.length > 0 && !opts.gossip) throw new UsageError('--join meets the cluster by gossip; drop --no-gossip');
  if (opts.zone !== undefined && !/^[A-Za-z0-9_.-]{1,32}$/.test(opts.zone)) throw new UsageError(`--zone expects 1-32 letters, digits, _ . and -, got ${JSON.stringify(opts.zone)}`);
  const replication = opts.replication ?? (primary !== undefined ? 'primary' : peers.size > 0 || join.length > 0 ? 'raft' : 'none');
  if (!(REPLICATION_MODES_AVAILABLE as readonly string[]).includes(replication)) throw new UsageError(`--replication expects ${REPLICATION_MODES_AVAILABLE.join(', ')}; got ${JSON.stringify(replication)}`);
  if (replication === 'none' && peers.size > 0) throw new UsageError('--replication none serves a single node; drop --peers or use raft');
  if (join.length > 0 && replication !== 'raft') throw new UsageError(`--join adds a node to a Raft cluster; --replication is ${replication}`);
  if (replication === 'primary' && primary === undefined) throw new UsageError('--replication primary needs --role leader, or --role follower with --leader-host and --leader-port');
  if (replication !== 'primary' && primary !== undefined) throw new UsageError(`--role is for the primary mode; --replication is ${replication}`);
  const engine = opts.engine ?? ENGINES_AVAILABLE[0];
  if (!(ENGINES_AVAILABLE as readonly string[]).includes(engine)) throw new UsageError(`--engine expects ${ENGINES_AVAILABLE.join(', ')}; got ${JSON.stringify(engine)}`);
  const shards = parseShards(opts, replication, 1 + peers.size, join.length > 0);
  const secret = clusterSecretFromFlags(opts, dataDir, peers.size + join.length, notes);
  let auth: ClusterAuth | null = null;
  if (opts.insecure) {
    if (opts.adminHashFile !== undefined) throw new UsageError('--insecure runs without authentication; drop --admin-hash-file');
    notes.push('running without authentication (--insecure): anyone who can reach the ports may read and write');
  } else {
    // The root user is checked against the configured hash on every node: a joiner must have the cluster's, not a new one.
    if (shards?.joinByGossip === true && opts.adminHashFile === undefined && !fs.existsSync(path.join(dataDir, 'admin.hash'))) throw new UsageError('--shards with --join joins a cluster with authentication: give --admin-hash-file with the cluster\'s admin hash (the adminHash of its cluster.yaml), or --insecure if the cluster runs without');
    auth = { admin: 'admin', adminHash: adminHashFromFlags(opts, dataDir, httpPort, notes), tokenTtlMs: 24 * 3600_000 };
  }
  return {
    id,
    dataDir,
    bindHost: opts.host ?? '127.0.0.1',
    httpPort,
    tcpPort,
    peerPort,
    members: [id, ...peers.keys()],
    peers,
    replication,
    engine,
    secret,
    auth: auth === null ? null : authConfigFor(auth, secret ?? randomBytes(32).toString('hex')),
    ...(primary !== undefined ? { primary } : {}),
    ...(shards !== undefined ? { shards } : {}),
    version: KV_LAB_VERSION,
    // A node that joins by gossip alone is not a founding member: it waits for the leader's log.
    ...(join.length > 0 && peers.size === 0 ? { original: false } : {}),
    gossip: opts.gossip && (peers.size > 0 || join.length > 0) ? { join, zone: opts.zone ?? '' } : null,
  };
}

/** A count flag: whole, in min..max. */
function countFlag(text: string, flag: string, min: number, max: number): number {
  if (!/^\d{1,6}$/.test(text.trim()) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} expects a whole number in ${min}..${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** --shards and --replicas, checked against the members and the other flags. */
export function parseShards(opts: Pick<ServeFlags, 'shards' | 'replicas' | 'insecure'>, replication: string, members: number, joining: boolean): { count: number; replicas: number; joinByGossip?: boolean } | undefined {
  if (opts.shards === undefined) {
    if (opts.replicas !== undefined) throw new UsageError('--replicas goes with --shards (each shard\'s replicas)');
    return undefined;
  }
  const count = countFlag(opts.shards, '--shards', 1, SHARDS_MAX);
  // A joiner cannot count the members: its --replicas is the cluster's, checked by the members it asks to join.
  const replicas = opts.replicas === undefined ? (joining ? SHARD_REPLICAS_DEFAULT : Math.min(SHARD_REPLICAS_DEFAULT, members)) : countFlag(opts.replicas, '--replicas', 1, 64);
  if (count === 1) return undefined;
  if (joining) {
    // A node that meets a running sharded cluster by gossip alone: the members it meets add it to
    // the member set, and replicas move to it (ShardedReplica.askToJoin). Its shards and replicas
    // must be the cluster's, or its keys would hash elsewhere: the members refuse another layout.
    if (members > 1) throw new UsageError('--shards with --join: a node that joins by gossip lists no --peers (the members it meets tell it the member set)');
    if (replication !== 'raft') throw new UsageError(`--shards: ${count} shards are Raft groups; replication is ${replication} (use raft)`);
    return { count, replicas, joinByGossip: true };
  }
  const problems = shardProblems({ replication, auth: opts.insecure ? null : { admin: '', adminHash: '', tokenTtlMs: 0 }, shards: { count, replicas }, nodes: Array.from({ length: members }, () => ({ id: '', host: '', httpPort: 0, tcpPort: 0, peerPort: 0, dataDir: '' })) });
  if (problems.length > 0) throw new UsageError(problems.map((p) => p.replace(/^shards: /, '--shards: ').replace(/^replicas: /, '--replicas: ')).join('\n'));
  return { count, replicas };
}

function clusterSecretFromFlags(opts: ServeFlags, dataDir: string, peerCount: number, notes: Notes): string | null {
  if (opts.secretFile !== undefined) {
    const { secret, warning } = readSecretFile(path.resolve(opts.secretFile), 'cluster secret');
    if (warning !== null) notes.push(warning);
    return secret;
  }
  const existing = path.join(dataDir, 'cluster.secret');
  if (fs.existsSync(existing)) return readSecretFile(existing, 'cluster secret').secret;
  if (peerCount > 0) {
    if (opts.insecure) {
      notes.push('no --secret-file: peers are not authenticated (--insecure)');
      return null;
    }
    throw new UsageError('a node with --peers needs the cluster secret every member shares: --secret-file FILE (or --insecure)');
  }
  generatedFile(dataDir, 'cluster.secret', () => randomBytes(32).toString('hex'));
  return readSecretFile(existing, 'cluster secret').secret;
}

function adminHashFromFlags(opts: ServeFlags, dataDir: string, httpPort: number, notes: Notes): string {
  const read = (file: string) => {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(text)) throw new UsageError(`${file} does not hold an scrypt hash (make one with: kv-lab hash-password)`);
    return text;
  };
  if (opts.adminHashFile !== undefined) {
    const file = path.resolve(opts.adminHashFile);
    if (!fs.existsSync(file)) throw new UsageError(`no such admin hash file: ${opts.adminHashFile}`);
    return read(file);
  }
  const hashFile = path.join(dataDir, 'admin.hash');
  if (fs.existsSync(hashFile)) return read(hashFile);
  // First start without an admin: generate a password, keep only its hash for the node, and tell
  // the operator where the password is and how to choose another.
  const password = randomBytes(18).toString('base64url');
  const passwordFile = path.join(dataDir, 'admin.password');
  generatedFile(dataDir, 'admin.password', () => password);
  const hash = hashPassword(password, randomBytes(16));
  fs.writeFileSync(hashFile, hash + '\n', { mode: 0o600 });
  notes.push(
    `first start: no admin password was configured, so one was generated for user "admin" and saved in ${passwordFile} (mode 600).\n` +
      `  log in: kv-lab connect --host 127.0.0.1 --port ${httpPort} --username admin --password-file ${passwordFile}\n` +
      `  to set your own: kv-lab hash-password > admin.hash, then restart with --admin-hash-file admin.hash`,
  );
  return hash;
}

/** The rotated log file of --log-file, its flags checked. */
function openLogFile(opts: ServeFlags): RotatingLogFile {
  if (!/^\d{1,6}$/.test(opts.logMaxMb) || Number(opts.logMaxMb) < 1) throw new UsageError(`--log-max-mb expects a whole number of MiB from 1, got ${JSON.stringify(opts.logMaxMb)}`);
  if (!/^\d{1,3}$/.test(opts.logKeep)) throw new UsageError(`--log-keep expects a number of files 0-999, got ${JSON.stringify(opts.logKeep)}`);
  const file = opts.logFile as string;
  try {
    return new RotatingLogFile(file, { maxBytes: Number(opts.logMaxMb) * 1024 * 1024, keep: Number(opts.logKeep) });
  } catch (err) {
    throw new UsageError(`--log-file ${file}: ${(err as Error).message}`);
  }
}

async function serveCommand(opts: ServeFlags, explicit: Set<string>): Promise<void> {
  if (!(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) throw new UsageError(`--log-level expects ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(opts.logLevel)}`);
  const notes: Notes = [];
  const fromConfig = opts.config !== undefined ? specFromConfig(opts, explicit, notes) : specFromFlags(opts, notes);
  const timeouts = timeoutsFromFlags(opts, fromConfig.timeouts);
  const base = { ...fromConfig, ...(timeouts !== undefined ? { timeouts } : {}) };
  const { JsonLineLogger } = await import('../env/real/log.js');
  const { startNodeHost, HostStartError } = await import('../host/node-host.js');
  const log = new JsonLineLogger({ node: base.id, level: opts.logLevel as LogLevel, ...(opts.logFile !== undefined ? { out: openLogFile(opts) } : {}) });
  // Notes are log events like any other, so that stderr stays one JSON object per line.
  for (const note of notes) log.log('warn', 'serve.notice', { message: note });
  let host: Awaited<ReturnType<typeof startNodeHost>> | null = null;
  // A node that cannot keep its promises (a failed fsync) ends its process: whoever supervises it
  // restarts it from what is really on disk.
  const onFatal = (reason: string) => {
    log.log('error', 'serve.fatal', { reason });
    void (host?.shutdown(1_000) ?? Promise.resolve()).finally(() => process.exit(EXIT_FAILED));
  };
  try {
    host = await startNodeHost({ ...base, log, onFatal });
  } catch (err) {
    if (err instanceof HostStartError) {
      log.log('error', 'serve.start_failed', { error: err.message });
      process.stderr.write(`kv-lab serve: ${err.message}\n`);
      process.exitCode = EXIT_FAILED;
      return;
    }
    throw err;
  }
  process.on('uncaughtException', (err) => {
    log.log('error', 'serve.crashed', { error: err.stack ?? String(err) });
    process.exit(70);
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.log('warn', 'serve.forced_exit', { signal });
      process.exit(EXIT_FAILED);
    }
    stopping = true;
    log.log('info', 'serve.signal', { signal });
    void (host as NonNullable<typeof host>).shutdown().then(() => {
      // Everything is closed; the process ends when the last callback (an engine's final fsync)
      // has run. Should something keep it alive, do not hang an operator's `cluster down`.
      setTimeout(() => {
        log.log('warn', 'serve.exit_forced', { reason: 'handles still open 10 s after shutdown' });
        process.exit(0);
      }, 10_000).unref();
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  watchOwner(stop);
}

/**
 * KV_LAB_WATCH_PID=<pid>: stop when that process is gone. Test harnesses set it so that nodes
 * they start (directly or through `cluster up`) do not outlive a harness that was killed -9.
 */
function watchOwner(stop: (signal: string) => void): void {
  const text = process.env.KV_LAB_WATCH_PID;
  if (text === undefined || text === '') return;
  const pid = Number(text);
  if (!Number.isSafeInteger(pid) || pid <= 0) return;
  const timer = setInterval(() => {
    if (!processAlive(pid)) {
      clearInterval(timer);
      stop(`owner ${pid} exited`);
    }
  }, 500);
  timer.unref();
}
