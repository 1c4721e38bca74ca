import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { processAlive } from '../host/process.js';
import { hashPassword } from '../node/auth.js';
import type { GossipMemberStatus } from '../node/node.js';
import {
  basePortRange,
  defaultPorts,
  ENGINES_AVAILABLE,
  firstMembersOf,
  loadClusterConfig,
  NODES_MAX,
  renderClusterConfig,
  REPLICATION_MODES_AVAILABLE,
  SHIP_INTERVAL_MS_DEFAULT,
  type ClusterConfig,
  serveNodeOptions,
  shardProblems,
} from './cluster-config.js';
import { SHARDS_MAX, SHARD_REPLICAS_DEFAULT } from '../cluster/placement/index.js';
import { describeProgress, nodeShardView, placementProgress, type NodeShardView, type PlacementProgress } from '../cluster/placement/progress.js';
import type { ShardStatus } from '../node/sharded-replica.js';
import type { RecoveryStatus } from '../replication/raft-runtime/runtime.js';
import { storageStatus, type StorageStatus } from '../storage/index.js';
import { loadConnection, saveConnection, type Connection } from './connection.js';
import { EXIT_FAILED, EXIT_UNKNOWN, UsageError } from './errors.js';
import { addProblem, changeMembership, memberRows, removeProblem, roleOf, survey, unchangeable, type Survey } from './members.js';

/**
 * `kv-lab cluster up|down|status`: a local multi-process cluster in one directory.
 *
 *   <dir>/cluster.yaml       the cluster file (kv-lab serve --config reads it)
 *   <dir>/cluster.secret     the cluster secret (mode 600)
 *   <dir>/admin.password     the admin password (mode 600; absent with --insecure)
 *   <dir>/data/<id>/         each node's data directory
 *   <dir>/logs/<id>.log      each node's JSON log lines (rotated at 64 MiB: <id>.log.1 … .5)
 *   <dir>/run/<id>.pid       each running node's process id
 *
 * `up` on a directory that already holds a stopped cluster starts it again from its data.
 * `add-node` and `remove-node` grow and shrink a running Raft cluster by one member, keeping
 * cluster.yaml in step (a removed node's data moves to <dir>/removed/). On a sharded cluster they
 * change the member set (shard 0's group records it) and wait until every shard's replicas sit
 * where the new placement wants them: moved to a new node, or off a leaving one.
 */

export const DEFAULT_CLUSTER_DIR = '.kv-lab/cluster';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

interface UpFlags {
  nodes: string;
  dir: string;
  basePort: string;
  insecure?: boolean;
  host: string;
  replication?: string;
  engine: string;
  connect: boolean;
  shards?: string;
  replicas?: string;
}

export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('run a local multi-process cluster');
  cluster
    .command('up')
    .description('start a local cluster in the background (again, if --dir holds a stopped one)')
    .option('--nodes <n>', `how many nodes (1-${NODES_MAX})`, '3')
    .option('--dir <dir>', 'the cluster\'s directory', DEFAULT_CLUSTER_DIR)
    .option('--base-port <port>', 'node i serves HTTP on base+i-1, TCP on base-5000+i, peers on base+1000+i', '8000')
    .option('--host <address>', 'address every node listens on', '127.0.0.1')
    .option('--insecure', 'no authentication (local experiments only)')
    .option('--replication <mode>', `${REPLICATION_MODES_AVAILABLE.join(' | ')} (default: none for one node, raft for more)`)
    .option('--engine <engine>', ENGINES_AVAILABLE.join(' | '), ENGINES_AVAILABLE[0])
    .option('--shards <n>', `raft: cut the keyspace into this many Raft groups placed by the ring (1-${SHARDS_MAX})`)
    .option('--replicas <n>', `with --shards: each shard's replicas (default ${SHARD_REPLICAS_DEFAULT}, at most --nodes)`)
    .option('--no-connect', 'do not save the CLI connection to this cluster')
    .action((flags: UpFlags, cmd: Command) => up(flags, new Set(['nodes', 'basePort', 'insecure', 'host', 'replication', 'engine', 'shards', 'replicas'].filter((k) => cmd.getOptionValueSource(k) === 'cli'))));
  cluster
    .command('down')
    .description('stop a local cluster (SIGTERM, then SIGKILL after 15 s)')
    .option('--dir <dir>', 'the cluster\'s directory', DEFAULT_CLUSTER_DIR)
    .action((flags: { dir: string }) => down(flags.dir));
  cluster
    .command('status')
    .description('each node: id, pid, ports, role, term, leader, health; with shards, how many it holds and leads')
    .option('--dir <dir>', 'the cluster\'s directory', DEFAULT_CLUSTER_DIR)
    .option('--json', 'one JSON list (with shards: every hosted shard\'s role, term and leader, per node)')
    .option('--shards', 'with shards: also one line per shard, its replicas and its leader')
    .action((flags: { dir: string; json?: boolean; shards?: boolean }) => status(flags.dir, flags.json ?? false, flags.shards ?? false));
  cluster
    .command('members')
    .description('the members as one node\'s gossip sees them: state, incarnation, zone, peer address, last direct contact')
    .option('--dir <dir>', 'the cluster\'s directory', DEFAULT_CLUSTER_DIR)
    .option('--node <id>', 'whose view (default: the first node that answers)')
    .option('--json', 'the view as one JSON object')
    .action((flags: { dir: string; node?: string; json?: boolean }) => members(flags.dir, flags.node ?? null, flags.json ?? false));
  cluster
    .command('add-node')
    .description('start one more node in the cluster directory, add it to Raft, and wait until it has caught up (prints the time)')
    .option('--dir <dir>', 'the cluster\'s directory', DEFAULT_CLUSTER_DIR)
    .option('--wait <seconds>', 'give up waiting for the new node to catch up (sharded: for the shards to move) after this long (the node stays a member)', '3600')
    .action((flags: { dir: string; wait: string }) => addNode(flags.dir, intFlag(flags.wait, '--wait', 1, 86_400) * 1000));
  cluster
    .command('remove-node')
    .description('remove a node from Raft, then stop its process and drop it from cluster.yaml (its data moves to <dir>/removed/)')
    .argument('<id>', 'the node to remove')
    .option('--dir <dir>', 'the cluster\'s directory', DEFAULT_CLUSTER_DIR)
    .option('--force', 'remove even when fewer than 3 voters stay (no failure can be survived) or the voters left have no live majority')
    .option('--wait <seconds>', 'sharded: give up waiting for the node\'s replicas to move off it after this long (it stays running, out of the member set)', '3600')
    .action((id: string, flags: { dir: string; force?: boolean; wait: string }) => removeNode(flags.dir, id, flags.force ?? false, intFlag(flags.wait, '--wait', 1, 86_400) * 1000));
}

function intFlag(text: string, flag: string, min: number, max: number): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} expects an integer in ${min}..${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}

function paths(dir: string) {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    config: path.join(abs, 'cluster.yaml'),
    secret: path.join(abs, 'cluster.secret'),
    password: path.join(abs, 'admin.password'),
    log: (id: string) => path.join(abs, 'logs', `${id}.log`),
    pid: (id: string) => path.join(abs, 'run', `${id}.pid`),
  };
}

/** The pid of a node if it is running as that node (a pid file may outlive its process). */
function runningPid(p: ReturnType<typeof paths>, id: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(p.pid(id), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || !processAlive(pid)) return null;
  try {
    // Guard against a recycled pid: the process must be a serve of this cluster file.
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(p.config) || !cmdline.includes('serve')) return null;
  } catch {
    // No /proc (not Linux): trust the pid file.
  }
  return pid;
}

/** A name for the cluster file: its directory's, made valid ('local' for the default directory). */
export function clusterName(dir: string): string {
  const base = path.basename(dir);
  const name = base.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 64);
  return base === 'cluster' || name === '' || /^[.-]+$/.test(name) ? 'local' : name;
}

function newCluster(flags: UpFlags, p: ReturnType<typeof paths>): { config: ClusterConfig; password: string | null } {
  const n = intFlag(flags.nodes, '--nodes', 1, NODES_MAX);
  const range = basePortRange(n);
  const base = intFlag(flags.basePort, '--base-port', range.min, range.max);
  const replication = flags.replication ?? (n === 1 ? 'none' : 'raft');
  if (!(REPLICATION_MODES_AVAILABLE as readonly string[]).includes(replication)) throw new UsageError(`--replication expects ${REPLICATION_MODES_AVAILABLE.join(', ')}; got ${JSON.stringify(replication)}`);
  if (replication === 'none' && n !== 1) throw new UsageError('--replication none runs exactly one node');
  if (!(ENGINES_AVAILABLE as readonly string[]).includes(flags.engine)) throw new UsageError(`--engine expects ${ENGINES_AVAILABLE.join(', ')}; got ${JSON.stringify(flags.engine)}`);
  const shards = shardsFlags(flags, n, replication);
  fs.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(p.secret, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  let password: string | null = null;
  if (!flags.insecure) {
    password = randomBytes(18).toString('base64url');
    fs.writeFileSync(p.password, password + '\n', { mode: 0o600 });
  }
  const config: ClusterConfig = {
    file: p.config,
    name: clusterName(p.dir),
    replication,
    engine: flags.engine,
    ...(replication === 'primary' ? { primary: { leader: 'n1', shipIntervalMs: SHIP_INTERVAL_MS_DEFAULT } } : {}),
    ...(shards !== undefined ? { shards } : {}),
    secretFile: p.secret,
    auth: password === null ? null : { admin: 'admin', adminHash: hashPassword(password, randomBytes(16)), tokenTtlMs: 24 * 3600_000 },
    nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i + 1}`, host: flags.host, ...defaultPorts(base, i + 1), dataDir: path.join(p.dir, 'data', `n${i + 1}`) })),
  };
  // Sharded: the founding members are written down once; add-node and remove-node keep them.
  if (shards !== undefined && shards.count > 1) config.firstMembers = config.nodes.map((nd) => nd.id);
  fs.writeFileSync(p.config, renderClusterConfig(config), { mode: 0o600 });
  return { config, password };
}

/** --shards and --replicas of `up`, checked before anything is written. */
function shardsFlags(flags: UpFlags, nodes: number, replication: string): { count: number; replicas: number } | undefined {
  if (flags.shards === undefined) {
    if (flags.replicas !== undefined) throw new UsageError('--replicas goes with --shards (each shard\'s replicas)');
    return undefined;
  }
  const count = intFlag(flags.shards, '--shards', 1, SHARDS_MAX);
  const replicas = flags.replicas === undefined ? Math.min(SHARD_REPLICAS_DEFAULT, nodes) : intFlag(flags.replicas, '--replicas', 1, NODES_MAX);
  if (count === 1) return undefined;
  const problems = shardProblems({ replication, auth: flags.insecure ? null : { admin: '', adminHash: '', tokenTtlMs: 0 }, shards: { count, replicas }, nodes: Array.from({ length: nodes }, () => ({ id: '', host: '', httpPort: 0, tcpPort: 0, peerPort: 0, dataDir: '' })) });
  if (problems.length > 0) throw new UsageError(problems.map((m) => m.replace(/^shards: /, '--shards: ').replace(/^replicas: /, '--replicas: ').replace('the cluster has', '--nodes is')).join('\n'));
  return { count, replicas };
}

/**
 * Whether a flag given to `up` says what the existing cluster.yaml says: then it changes nothing,
 * and the README's `cluster up --nodes 3` works again on the cluster it made.
 */
function agrees(flag: string, flags: UpFlags, config: ClusterConfig): boolean {
  const n1 = config.nodes[0];
  switch (flag) {
    case 'nodes':
      return Number(flags.nodes) === config.nodes.length;
    case 'insecure':
      return (flags.insecure === true) === (config.auth === null);
    case 'host':
      return config.nodes.every((n) => n.host === flags.host);
    case 'replication':
      return flags.replication === config.replication;
    case 'engine':
      return flags.engine === config.engine;
    case 'shards':
      return Number(flags.shards) === (config.shards?.count ?? 1);
    case 'replicas':
      return config.shards !== undefined && Number(flags.replicas) === config.shards.replicas;
    case 'basePort':
      return n1 !== undefined && n1.httpPort === Number(flags.basePort);
    default:
      return false;
  }
}

async function up(flags: UpFlags, explicit: Set<string>): Promise<void> {
  const p = paths(flags.dir);
  let config: ClusterConfig;
  let password: string | null = null;
  if (fs.existsSync(p.config)) {
    config = loadClusterConfig(p.config);
    const running = config.nodes.filter((n) => runningPid(p, n.id) !== null);
    if (running.length === config.nodes.length) throw new UsageError(`the cluster in ${p.dir} is already running (kv-lab cluster status --dir ${flags.dir})`);
    const differ = [...explicit].filter((k) => !agrees(k, flags, config));
    if (differ.length > 0) throw new UsageError(`${p.dir} already holds a cluster; it restarts as its cluster.yaml says, so drop ${differ.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} (or use another --dir)`);
  } else ({ config, password } = newCluster(flags, p));
  fs.mkdirSync(path.join(p.dir, 'logs'), { recursive: true });
  fs.mkdirSync(path.join(p.dir, 'run'), { recursive: true });
  const started: { id: string; pid: number }[] = [];
  for (const node of config.nodes) {
    const existing = runningPid(p, node.id);
    if (existing !== null) {
      started.push({ id: node.id, pid: existing });
      continue;
    }
    started.push({ id: node.id, pid: startNode(p, node.id, config.replication) });
  }
  const failures = await waitHealthy(p, config, started);
  if (failures.length > 0) {
    for (const f of failures) process.stderr.write(`kv-lab: ${f}\n`);
    process.stderr.write(`kv-lab: the cluster did not come up; logs are in ${path.join(p.dir, 'logs')}; stop what started with: kv-lab cluster down --dir ${flags.dir}\n`);
    process.exitCode = EXIT_FAILED;
    return;
  }
  printUp(flags, p, config, started, password);
}

function startNode(p: ReturnType<typeof paths>, id: string, replication: string): number {
  const out = fs.openSync(p.log(id), 'a');
  // The same program that runs this command (compiled, or TypeScript through tsx's loader).
  // The node writes its log lines to the file itself, rotating it by size; stdout and stderr go
  // there too, for what the runtime alone prints (a crash report of V8).
  const child = spawn(process.execPath, [...serveNodeOptions(replication), process.argv[1] as string, 'serve', '--config', p.config, '--node', id, '--log-file', p.log(id)], {
    detached: true,
    stdio: ['ignore', out, out],
    // The caller's directory: a loader named in execArgv (--import tsx) resolves from there.
    cwd: process.cwd(),
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start node ${id}`);
  fs.writeFileSync(p.pid(id), `${child.pid}\n`);
  child.unref();
  return child.pid;
}

/** Waits until every node answers /health; returns what went wrong for those that did not. */
async function waitHealthy(p: ReturnType<typeof paths>, config: ClusterConfig, started: { id: string; pid: number }[]): Promise<string[]> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const pending = new Map(started.map((s) => [s.id, s.pid]));
  const failures: string[] = [];
  while (pending.size > 0 && Date.now() < deadline) {
    for (const [id, pid] of [...pending]) {
      const node = config.nodes.find((n) => n.id === id);
      if (node === undefined) continue;
      if (!processAlive(pid)) {
        pending.delete(id);
        failures.push(`node ${id} exited during start:\n${tail(p.log(id), 8)}`);
        continue;
      }
      try {
        const res = await fetch(`http://${hostForUrl(node.host)}:${node.httpPort}/health`, { signal: AbortSignal.timeout(1000) });
        await res.text();
        if (res.ok) pending.delete(id);
      } catch {
        // Not listening yet.
      }
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
  for (const id of pending.keys()) failures.push(`node ${id} did not become healthy within ${START_TIMEOUT_MS / 1000} s:\n${tail(p.log(id), 8)}`);
  return failures;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (no log)';
  }
}

function printUp(flags: UpFlags, p: ReturnType<typeof paths>, config: ClusterConfig, started: { id: string; pid: number }[], password: string | null): void {
  const out: string[] = [];
  const n1 = config.nodes[0] as ClusterConfig['nodes'][number];
  out.push(`kv-lab cluster ${config.name} is up: ${config.nodes.length} node${config.nodes.length === 1 ? '' : 's'}, replication ${config.replication}${config.shards !== undefined && config.shards.count > 1 ? ` in ${config.shards.count} shards of ${config.shards.replicas} replicas` : ''}, engine ${config.engine}, ${config.auth === null ? 'NO authentication (--insecure)' : 'authentication on'}`);
  for (const node of config.nodes) {
    const pid = started.find((s) => s.id === node.id)?.pid;
    out.push(`  ${node.id}  pid ${pid}  http://${hostForUrl(node.host)}:${node.httpPort}  tcp ${node.host}:${node.tcpPort}  peer ${node.host}:${node.peerPort}`);
  }
  out.push(`  files in ${p.dir} (cluster.yaml, logs/, data/)`);
  if (password !== null) out.push('', `admin password (printed once; saved in ${p.password}, mode 600):`, `  ${password}`);
  else if (config.auth !== null) out.push('', `admin password: in ${p.password}`);
  if (flags.connect) {
    const file = saveConnection({
      urls: config.nodes.map((n) => `http://${hostForUrl(n.host)}:${n.httpPort}`),
      ...(config.auth !== null ? { username: config.auth.admin, passwordFile: p.password } : {}),
      database: '',
      cluster: p.dir,
    });
    // npx: after `npm install` in a checkout, kv-lab is in node_modules/.bin, not on PATH.
    out.push('', `the CLI is connected to it (saved in ${file}):`, '  npx kv-lab put nickname codejitsu && npx kv-lab get nickname');
  }
  const h = n1.host === '127.0.0.1' ? 'localhost' : hostForUrl(n1.host);
  const n2 = config.nodes[1] ?? n1;
  const cred = config.auth !== null ? ` -u ${config.auth.admin}:$(cat ${p.password})` : '';
  // -N: close the connection when the input ends. Debian's nc (OpenBSD netcat) otherwise keeps it
  // open and waits, and `echo … | nc` hangs after the reply (netcat-traditional: -q1; ncat: as is).
  out.push('', 'or with curl and nc (-N ends the connection after the input):');
  out.push(`  curl${cred} -X PUT ${h}:${n1.httpPort}/key/k -H 'Content-Type: application/json' -d '{"value":"v"}'`);
  out.push(`  curl${cred} ${h}:${n2.httpPort}/key/k`);
  if (config.auth === null) {
    out.push(`  echo "PUT nickname codejitsu" | nc -N ${h} ${n1.tcpPort}`, `  echo "READ nickname" | nc -N ${h} ${n2.tcpPort}`);
  } else {
    out.push(`  printf 'AUTH admin %s\\nPUT nickname codejitsu\\n' "$(cat ${p.password})" | nc -N ${h} ${n1.tcpPort}`, `  printf 'AUTH admin %s\\nREAD nickname\\n' "$(cat ${p.password})" | nc -N ${h} ${n2.tcpPort}`);
  }
  const dirFlag = flags.dir === DEFAULT_CLUSTER_DIR ? '' : ` --dir ${flags.dir}`;
  out.push('', `status: npx kv-lab cluster status${dirFlag}    stop: npx kv-lab cluster down${dirFlag}`);
  process.stdout.write(out.join('\n') + '\n');
}

async function down(dir: string): Promise<void> {
  const p = paths(dir);
  if (!fs.existsSync(p.config)) throw new UsageError(`no cluster in ${p.dir} (no cluster.yaml)`);
  const config = loadClusterConfig(p.config);
  const stopping: { id: string; pid: number }[] = [];
  for (const node of config.nodes) {
    const pid = runningPid(p, node.id);
    if (pid === null) {
      process.stdout.write(`${node.id} was not running\n`);
      fs.rmSync(p.pid(node.id), { force: true });
      continue;
    }
    process.kill(pid, 'SIGTERM');
    stopping.push({ id: node.id, pid });
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (stopping.some((s) => processAlive(s.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const s of stopping) {
    if (processAlive(s.pid)) {
      process.kill(s.pid, 'SIGKILL');
      process.stdout.write(`${s.id} (pid ${s.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s: killed\n`);
    } else process.stdout.write(`${s.id} (pid ${s.pid}) stopped\n`);
    fs.rmSync(p.pid(s.id), { force: true });
  }
}

interface NodeReport {
  id: string;
  pid: number | null;
  http: string;
  tcp: string;
  peer: string;
  role: string | null;
  term: number | null;
  leader: string | null;
  commitIndex: number | null;
  health: 'ok' | 'unhealthy' | 'down';
  message?: string;
  /** A sharded node: how many shards and replicas, how many it leads, and each hosted shard. */
  shards?: ShardStatus;
  /** Its engines' figures, added up (NodeStatus.storage). */
  storage?: StorageStatus;
  /** One group's member: what it repairs or holds back after corruption (ReplicaStatus.recovery). */
  recovery?: RecoveryStatus;
}

/** One node's gossip view (its /status), printed as a table or JSON. */
async function members(dir: string, only: string | null, json: boolean): Promise<void> {
  const p = paths(dir);
  if (!fs.existsSync(p.config)) throw new UsageError(`no cluster in ${p.dir} (no cluster.yaml)`);
  const config = loadClusterConfig(p.config);
  const nodes = only === null ? config.nodes : config.nodes.filter((n) => n.id === only);
  if (nodes.length === 0) throw new UsageError(`--node: no member ${JSON.stringify(only)} in ${p.config} (members: ${config.nodes.map((n) => n.id).join(', ')})`);
  const tried: string[] = [];
  for (const node of nodes) {
    let s: { id?: string; gossip?: GossipMemberStatus[] };
    try {
      const res = await fetch(`http://${hostForUrl(node.host)}:${node.httpPort}/status`, { signal: AbortSignal.timeout(2000) });
      s = (await res.json()) as typeof s;
    } catch (err) {
      tried.push(`${node.id}: unreachable (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`);
      continue;
    }
    if (!Array.isArray(s.gossip)) {
      tried.push(`${node.id}: runs no gossip (started with --no-gossip, or alone)`);
      continue;
    }
    if (json) process.stdout.write(JSON.stringify({ view: node.id, members: s.gossip }) + '\n');
    else {
      const rows = [['ID', 'STATE', 'INCARNATION', 'ZONE', 'PEER', 'LAST CONTACT']];
      for (const m of s.gossip) rows.push([m.id, m.state, String(m.incarnation), m.zone || '-', m.addresses.peer ?? '-', m.id === node.id ? '(self)' : m.lastContactMs === null ? 'never' : `${(m.lastContactMs / 1000).toFixed(1)} s ago`]);
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
      process.stdout.write(`members of cluster ${config.name} as ${node.id} sees them\n` + rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')).join('\n') + '\n');
    }
    return;
  }
  process.stderr.write(`kv-lab cluster members: no node answered with a gossip view\n  ${tried.join('\n  ')}\n`);
  process.exitCode = EXIT_FAILED;
}

async function status(dir: string, json: boolean, perShard: boolean): Promise<void> {
  const p = paths(dir);
  if (!fs.existsSync(p.config)) throw new UsageError(`no cluster in ${p.dir} (no cluster.yaml)`);
  const config = loadClusterConfig(p.config);
  const reports = await Promise.all(
    config.nodes.map(async (node): Promise<NodeReport> => {
      const base: NodeReport = { id: node.id, pid: runningPid(p, node.id), http: `${node.host}:${node.httpPort}`, tcp: `${node.host}:${node.tcpPort}`, peer: `${node.host}:${node.peerPort}`, role: null, term: null, leader: null, commitIndex: null, health: 'down' };
      try {
        const url = `http://${hostForUrl(node.host)}:${node.httpPort}`;
        const s = (await (await fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) })).json()) as Record<string, unknown>;
        const h = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        const hb = (await h.json()) as { message?: string };
        const shards = shardStatusOf(s.shards);
        const storage = storageStatusOf(s.storage);
        const recovery = recoveryOf(s.recovery);
        return { ...base, role: String(s.role), term: Number(s.term), leader: (s.leader as string | null) ?? null, commitIndex: Number(s.commitIndex), health: h.ok ? 'ok' : 'unhealthy', ...(h.ok ? {} : { message: hb.message ?? '' }), ...(shards !== null ? { shards } : {}), ...(storage !== null ? { storage } : {}), ...(recovery !== null ? { recovery } : {}) };
      } catch (err) {
        return { ...base, message: `unreachable (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})` };
      }
    }),
  );
  const sharded = config.shards !== undefined && config.shards.count > 1;
  if (json) process.stdout.write(JSON.stringify(reports) + '\n');
  else {
    // Sharded: a node has no one role, term or leader; it holds shards and leads some of them.
    const rows = sharded ? [['ID', 'PID', 'HTTP', 'TCP', 'PEER', 'SHARDS', 'LEADS', 'HEALTH']] : [['ID', 'PID', 'HTTP', 'TCP', 'PEER', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'HEALTH']];
    for (const r of reports) {
      const health = r.health + (r.message ? ` (${r.message})` : '');
      if (sharded) rows.push([r.id, String(r.pid ?? '-'), r.http, r.tcp, r.peer, r.shards ? String(r.shards.hosted.length) : '-', r.shards ? String(r.shards.leading) : '-', health]);
      else rows.push([r.id, String(r.pid ?? '-'), r.http, r.tcp, r.peer, r.role ?? '-', String(r.term ?? '-'), r.leader ?? '-', String(r.commitIndex ?? '-'), health]);
    }
    const title = `cluster ${config.name} in ${p.dir}${sharded ? `: ${config.shards?.count} shards of ${config.shards?.replicas} replicas` : ''}`;
    let text = `${title}\n${table(rows)}`;
    if (sharded && perShard) text += '\n' + shardTable(reports, config.shards?.count ?? 0);
    else if (sharded) {
      const leaderless = shardLeaders(reports, config.shards?.count ?? 0).filter((l) => l.leader === null).length;
      text += `\n${leaderless === 0 ? 'every shard has a leader' : `${leaderless} shard${leaderless === 1 ? '' : 's'} without a known leader`} (per shard: --shards; everything: --json)\n`;
    }
    if (sharded) {
      // The member set and the moves it still implies (add-node / remove-node wait on the same).
      const views = reports.map((r): NodeShardView => (r.shards === undefined ? { id: r.id, epoch: null, members: [], hosted: [] } : { id: r.id, epoch: r.shards.epoch, members: r.shards.members, hosted: r.shards.hosted }));
      const progress = placementProgress(views, { shards: config.shards?.count ?? 1, replicas: config.shards?.replicas ?? 1 });
      if (progress !== null) text += `member set epoch ${progress.epoch}: ${progress.members.join(', ')}; ${describeProgress(progress)}\n`;
    }
    text += recoveryLines(reports);
    process.stdout.write(text);
  }
  if (reports.some((r) => r.health !== 'ok')) process.exitCode = EXIT_FAILED;
}

/**
 * A line for every member that is repairing or holding back after corruption (protocol-aware
 * recovery), and a loud one where its group has had no leader to repair from for long: the state
 * it lost may then have no intact copy anywhere. Empty when no member says so.
 */
export function recoveryLines(reports: readonly Pick<NodeReport, 'id' | 'recovery' | 'shards'>[]): string {
  const lines: string[] = [];
  let stalled = false;
  for (const r of reports) {
    const members: [string, RecoveryStatus][] = [];
    if (r.recovery !== undefined) members.push([r.id, r.recovery]);
    for (const g of r.shards?.hosted ?? []) {
      if (typeof g !== 'object' || g === null) continue;
      const rec = recoveryOf(g.recovery);
      if (rec !== null) members.push([`shard ${g.shard} on ${r.id}`, rec]);
    }
    for (const [who, rec] of members) {
      if (rec.mute !== undefined) lines.push(`${who}: its term and vote are lost (${rec.mute}): it sends nothing, for good; replace it (remove-node, then add-node)`);
      if (rec.stateMachine !== undefined) {
        const sm = rec.stateMachine;
        lines.push(`${who}: ${sm.installing ? 'installing a snapshot from the leader' : 'repairing its state machine from the leader'}: it needs the state up to index ${sm.need} and holds it up to ${sm.applied} (${sm.why})`);
      }
      if (rec.votesHeld !== undefined) lines.push(`${who}: its log was cut at ${rec.votesHeld.at} (${rec.votesHeld.reason}): no vote until it holds an entry of a term above ${rec.votesHeld.throughTerm}`);
      if (rec.stalledMs !== undefined) {
        stalled = true;
        lines.push(`${who}: NO LEADER for ${(rec.stalledMs / 1000).toFixed(0)} s to repair from: unless another member holds what it lost, that state is lost (restore it from a backup or the quarantined files)`);
      }
    }
  }
  if (lines.length === 0) return '';
  return `${stalled ? 'DATA MAY BE LOST: ' : ''}recovering from corruption:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** A status `recovery` field if it has the shape (a node of an older version has none). */
function recoveryOf(v: unknown): RecoveryStatus | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  const sm = r.stateMachine as Record<string, unknown> | undefined;
  const held = r.votesHeld as Record<string, unknown> | undefined;
  if (sm !== undefined && (typeof sm !== 'object' || sm === null || typeof sm.need !== 'number' || typeof sm.applied !== 'number' || typeof sm.why !== 'string')) return null;
  if (held !== undefined && (typeof held !== 'object' || held === null || typeof held.throughTerm !== 'number' || typeof held.at !== 'string' || typeof held.reason !== 'string')) return null;
  if (r.mute !== undefined && typeof r.mute !== 'string') return null;
  if (r.stalledMs !== undefined && typeof r.stalledMs !== 'number') return null;
  if (sm === undefined && held === undefined && r.mute === undefined) return null;
  return r as RecoveryStatus;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ')).join('\n') + '\n';
}

/** A /status `shards` field, if it is one (a node answers what it answers: check the shape). */
/** A node's status.storage if it has the shape (a node of an older version has none). */
function storageStatusOf(v: unknown): StorageStatus | null {
  if (typeof v !== 'object' || v === null) return null;
  const s = v as Record<string, unknown>;
  return Object.keys(storageStatus([])).every((k) => typeof s[k] === 'number') ? (s as unknown as StorageStatus) : null;
}

function shardStatusOf(v: unknown): ShardStatus | null {
  if (typeof v !== 'object' || v === null) return null;
  const s = v as ShardStatus;
  if (!Number.isInteger(s.count) || !Number.isInteger(s.leading) || !Array.isArray(s.hosted)) return null;
  // Entries of another shape (a node of another version) are left out, not read half.
  const hosted = (s.hosted as unknown[]).filter((g): g is ShardStatus['hosted'][number] => {
    if (typeof g !== 'object' || g === null) return false;
    const o = g as Record<string, unknown>;
    return Number.isInteger(o.shard) && typeof o.role === 'string' && typeof o.term === 'number' && (o.leader === null || typeof o.leader === 'string') && Array.isArray(o.replicas);
  });
  return { ...s, hosted };
}

/**
 * Each shard's leader as the running nodes report it: the leader named in the highest term by
 * any replica that answered (a node that leads says so itself); null when none names one.
 */
function shardLeaders(reports: readonly NodeReport[], count: number): { shard: number; leader: string | null; term: number; replicas: string[] }[] {
  const out = Array.from({ length: count }, (_, shard) => ({ shard, leader: null as string | null, term: -1, replicas: [] as string[] }));
  for (const r of reports) {
    for (const g of r.shards?.hosted ?? []) {
      const o = out[g.shard];
      if (o === undefined) continue;
      if (o.replicas.length === 0) o.replicas = g.replicas;
      if (g.leader !== null && g.term > o.term) {
        o.leader = g.leader;
        o.term = g.term;
      }
    }
  }
  return out;
}

function shardTable(reports: readonly NodeReport[], count: number): string {
  const rows = [['SHARD', 'REPLICAS', 'LEADER', 'TERM']];
  for (const l of shardLeaders(reports, count)) rows.push([String(l.shard), l.replicas.length > 0 ? l.replicas.join(',') : '?', l.leader ?? '-', l.term < 0 ? '-' : String(l.term)]);
  return table(rows);
}

// ---- add-node / remove-node --------------------------------------------------------------------

/** The fewest voters that survive the loss of one: remove-node refuses to go below without --force. */
const VOTERS_SAFE_MIN = 3;
/** How long a new node may take to meet the cluster by gossip (LAN defaults: about 2 s). */
const GOSSIP_MEET_MS = 30_000;

/** The connection `cluster` commands use: every node of the file, as the cluster's admin. */
function clusterConnection(p: ReturnType<typeof paths>, config: ClusterConfig): Connection {
  return {
    urls: config.nodes.map((n) => `http://${hostForUrl(n.host)}:${n.httpPort}`),
    ...(config.auth !== null ? { username: config.auth.admin, passwordFile: p.password } : {}),
    database: '',
  };
}

/** Writes cluster.yaml whole and renames it into place, so a crash leaves the old or the new one. */
function writeConfig(config: ClusterConfig): void {
  const tmp = `${config.file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, renderClusterConfig(config), { mode: 0o600 });
  fs.renameSync(tmp, config.file);
}

function fail(message: string, code = EXIT_FAILED): void {
  process.stderr.write(`kv-lab: ${message}\n`);
  process.exitCode = code;
}

/** A cluster whose membership add-node / remove-node can change: loaded, Raft (one group or sharded). */
function changeableConfig(p: ReturnType<typeof paths>, verb: string): ClusterConfig {
  if (!fs.existsSync(p.config)) throw new UsageError(`no cluster in ${p.dir} (no cluster.yaml)`);
  const config = loadClusterConfig(p.config);
  if (config.replication !== 'raft') throw new UsageError(`cluster ${verb}: replication ${config.replication} has no membership to change (only raft does)`);
  return config;
}

async function portFree(host: string, port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * The next node: id n<k> after the highest in use (in the file, in Raft, or left in data/ or
 * removed/, so an id is never reused with another node's old state), on the ports of slot k of
 * the cluster's base port when they are free.
 */
async function nextNode(p: ReturnType<typeof paths>, config: ClusterConfig, s: Survey): Promise<ClusterConfig['nodes'][number]> {
  const used = new Set([...config.nodes.map((n) => n.id), ...s.members]);
  for (const sub of ['data', 'removed']) {
    try {
      for (const name of fs.readdirSync(path.join(p.dir, sub))) used.add(name.replace(/-\d+$/, ''));
    } catch {
      // no such directory
    }
  }
  const numbers = [...used].map((id) => /^n(\d+)$/.exec(id)?.[1]).filter((x): x is string => x !== undefined).map(Number);
  let k = Math.max(0, ...numbers) + 1;
  const first = config.nodes.find((n) => /^n\d+$/.test(n.id)) ?? config.nodes[0];
  if (first === undefined) throw new UsageError(`${p.config} lists no nodes`);
  const i = /^n(\d+)$/.exec(first.id) ? Number(first.id.slice(1)) : 1;
  const base = first.httpPort - (i - 1);
  const taken = new Set(config.nodes.flatMap((n) => [n.httpPort, n.tcpPort, n.peerPort]));
  for (let tries = 0; tries < NODES_MAX; tries++, k++) {
    const ports = defaultPorts(base, k);
    const list = [ports.httpPort, ports.tcpPort, ports.peerPort];
    if (list.some((x) => x < 1024 || x > 65535 || taken.has(x))) continue;
    if (!(await Promise.all(list.map((x) => portFree(first.host, x)))).every(Boolean)) continue;
    return { id: `n${k}`, host: first.host, ...ports, dataDir: path.join(p.dir, 'data', `n${k}`), joined: true };
  }
  throw new UsageError(`no free ports for a new node near base port ${base} on ${first.host}`);
}

/** Peak and current RSS of a process in MB (Linux /proc; null elsewhere). */
function memoryOf(pid: number | null): { rssMb: number; peakRssMb: number } | null {
  if (pid === null) return null;
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
    return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return null;
  }
}

async function statusOf(url: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

async function stopPid(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return true;
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!processAlive(pid)) return true;
  process.kill(pid, 'SIGKILL');
  return false;
}

/** Keeps the saved connection in step when it was made for this cluster directory. */
function updateConnection(p: ReturnType<typeof paths>, change: (urls: string[]) => string[]): void {
  let saved;
  try {
    saved = loadConnection();
  } catch {
    return;
  }
  if (saved === null || saved.cluster !== p.dir) return;
  saveConnection({ ...saved, urls: change(saved.urls) });
}

async function addNode(dir: string, waitMs: number): Promise<void> {
  const p = paths(dir);
  const config = changeableConfig(p, 'add-node');
  if (config.nodes.length >= NODES_MAX) throw new UsageError(`the cluster has ${config.nodes.length} nodes, the most a cluster file holds`);
  const sharded = isSharded(config);
  const c = clusterConnection(p, config);
  let s = await survey(c.urls);
  // Sharded: the member set is changed by shard 0's leader, which any node refers the change to.
  const why = sharded ? noneAnswered(s) : unchangeable(s);
  if (why !== null) return fail(`cluster add-node: ${why}`);
  if (!sharded && s.leader === null) return fail('cluster add-node: no leader is known; wait for one (kv-lab cluster status)');
  const node = await nextNode(p, config, s);
  const url = `http://${hostForUrl(node.host)}:${node.httpPort}`;
  const before = config.nodes.slice();
  // The founding members are written down before `nodes` grows: they are epoch 0 for every node.
  if (sharded) config.firstMembers ??= firstMembersOf(config);
  // In the file first: the node is started from it (as every member is, and as `cluster up` will
  // restart it), marked joined so that it waits for the leader instead of founding a group.
  config.nodes.push(node);
  writeConfig(config);
  fs.mkdirSync(path.join(p.dir, 'logs'), { recursive: true });
  fs.mkdirSync(path.join(p.dir, 'run'), { recursive: true });
  const pid = startNode(p, node.id, config.replication);
  const undo = async (message: string) => {
    await stopPid(pid);
    fs.rmSync(p.pid(node.id), { force: true });
    config.nodes = before;
    writeConfig(config);
    fs.rmSync(node.dataDir, { recursive: true, force: true });
    fail(`cluster add-node: ${message}\n  (${node.id} was stopped and dropped from cluster.yaml; its log stays in ${p.log(node.id)})`);
  };
  process.stdout.write(`started ${node.id} (pid ${pid}): http ${url}  tcp ${node.host}:${node.tcpPort}  peer ${node.host}:${node.peerPort}\n`);
  // Listening, then known to the leader's gossip at its peer address (else the leader cannot reach it).
  const peer = `${node.host}:${node.peerPort}`;
  const meetBy = Date.now() + GOSSIP_MEET_MS;
  let problem: string | null = 'not listening yet';
  while (Date.now() < meetBy) {
    if (!processAlive(pid)) return undo(`${node.id} exited during start:\n${tail(p.log(node.id), 8)}`);
    s = await survey([...c.urls, url]);
    problem = (await statusOf(url)) === null ? 'it does not answer on its HTTP port' : addProblem(s, node.id, peer);
    if (problem === null) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (problem !== null) return undo(`${node.id} did not meet the cluster within ${GOSSIP_MEET_MS / 1000} s: ${problem}`);
  const leaderStatus = s.leader !== null ? s.views.find((v) => v.id === s.leader)?.status : undefined;
  const target = Number(leaderStatus?.commitIndex ?? 0);
  const leaderPid = s.leader !== null ? runningPid(p, s.leader) : null;
  const started = Date.now();
  const r = await changeMembership(c, s, 'member.add', node.id, 60_000);
  if (!r.ok && r.definite) return undo(`member add ${node.id}: ${r.message}`);
  if (!r.ok) return fail(`cluster add-node: member add ${node.id}: ${r.message}; ${node.id} keeps running (kv-lab member list; kv-lab cluster remove-node ${node.id} to undo)`, EXIT_UNKNOWN);
  updateConnection(p, (urls) => (urls.includes(url) ? urls : [...urls, url]));
  if (sharded) {
    const epoch = epochOf(r.value);
    process.stdout.write(`${node.id} joined the member set (epoch ${epoch}); waiting for shard replicas to move to it\n`);
    const w = await awaitPlacement(config, epoch, waitMs, started, () => (processAlive(pid) ? null : `${node.id} exited while shards moved to it:\n${tail(p.log(node.id), 8)}`));
    if (!w.ok) return fail(`cluster add-node: ${w.message}; ${node.id} stays a member and shards go on moving (kv-lab cluster status)`);
    const mine = memoryOf(pid);
    const held = w.views.find((v) => v.id === node.id)?.hosted ?? [];
    process.stdout.write(`${node.id} holds ${held.length} shard replica${held.length === 1 ? '' : 's'} as a voter (leads ${held.filter((h) => h.role === 'leader').length}) after ${((Date.now() - started) / 1000).toFixed(1)} s; ${describeProgress(w.progress)}${mine === null ? '' : `; peak RSS ${node.id} ${mine.peakRssMb} MB`}\n`);
    return;
  }
  process.stdout.write(`${node.id} added to Raft as a learner; waiting for it to catch up to index ${target} and be promoted to voter\n`);
  // Caught up: promoted (the leader promotes a learner once it holds every committed entry) and
  // applied at least what the leader had committed when it was added.
  let shown = Date.now();
  for (;;) {
    const st = await statusOf(url);
    if (st !== null && ['follower', 'leader'].includes(roleOf(node.id, st)) && Number(st.appliedIndex) >= target) break;
    if (!processAlive(pid)) return fail(`cluster add-node: ${node.id} exited while catching up:\n${tail(p.log(node.id), 8)}`);
    if (Date.now() - started > waitMs) return fail(`cluster add-node: ${node.id} had not caught up after ${waitMs / 1000} s (role ${String(st?.role ?? '?')}, applied ${String(st?.appliedIndex ?? '?')} of ${target}); it stays a member and goes on catching up (kv-lab member list)`);
    if (Date.now() - shown > 10_000) {
      shown = Date.now();
      process.stdout.write(`  after ${((Date.now() - started) / 1000).toFixed(0)} s: ${node.id} is ${String(st?.role ?? '?')}, applied ${String(st?.appliedIndex ?? '?')} of ${target}\n`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (Date.now() - started) / 1000;
  const mine = memoryOf(pid);
  const leaders = memoryOf(leaderPid);
  const rss = mine === null ? '' : `; peak RSS ${node.id} ${mine.peakRssMb} MB${leaders !== null ? `, leader ${s.leader} ${leaders.peakRssMb} MB` : ''}`;
  process.stdout.write(`${node.id} caught up in ${seconds.toFixed(1)} s and is a voter${rss}\n`);
}

async function removeNode(dir: string, id: string, force: boolean, waitMs: number): Promise<void> {
  const p = paths(dir);
  const config = changeableConfig(p, 'remove-node');
  const node = config.nodes.find((n) => n.id === id);
  if (node === undefined) throw new UsageError(`cluster remove-node: no node ${JSON.stringify(id)} in ${p.config} (nodes: ${config.nodes.map((n) => n.id).join(', ')})`);
  if (config.nodes.length === 1) throw new UsageError(`cluster remove-node: ${id} is the only node; stop the cluster with kv-lab cluster down`);
  if (isSharded(config)) return removeShardedNode(p, config, node, waitMs);
  const c = clusterConnection(p, config);
  const s = await survey(c.urls);
  const why = unchangeable(s);
  if (why !== null) return fail(`cluster remove-node: ${why}`);
  const started = Date.now();
  if (s.members.includes(id)) {
    const rows = memberRows(s);
    const { problem, quorum } = removeProblem(s, id, rows);
    if (problem !== null) return fail(`cluster remove-node: ${problem}`);
    const learner = ['learner', 'joining'].includes(String(rows.find((r) => r.id === id)?.role));
    const votersAfter = rows.filter((r) => r.role !== 'learner' && r.role !== 'joining' && r.id !== id).length;
    if (!force && !learner && votersAfter < VOTERS_SAFE_MIN) {
      return fail(`cluster remove-node: removing ${id} leaves ${votersAfter} voter${votersAfter === 1 ? '' : 's'}, which cannot survive the loss of one (${VOTERS_SAFE_MIN} can); pass --force to remove it anyway`);
    }
    if (!force && quorum !== null) return fail(`cluster remove-node: ${quorum}`);
    const r = await changeMembership(c, s, 'member.remove', id, 60_000);
    if (!r.ok) return fail(`cluster remove-node: member remove ${id}: ${r.message}; ${id} still runs`, r.definite ? EXIT_FAILED : EXIT_UNKNOWN);
    const m = r.value as { voters?: string[] } | null;
    process.stdout.write(`${id} removed from Raft${m?.voters ? ` (voters ${m.voters.join(', ')})` : ''}\n`);
  } else process.stdout.write(`${id} is not a Raft member (members: ${s.members.join(', ')}); stopping it\n`);
  // Only now the process: a member stopped before its removal would count against the quorum
  // that has to commit the removal.
  await stopAndDrop(p, config, node, started);
}

/** Stops a node that is out of the cluster, drops it from cluster.yaml and moves its data aside. */
async function stopAndDrop(p: ReturnType<typeof paths>, config: ClusterConfig, node: ClusterConfig['nodes'][number], started: number): Promise<void> {
  const id = node.id;
  const pid = runningPid(p, id);
  if (pid !== null) await stopPid(pid);
  fs.rmSync(p.pid(id), { force: true });
  config.nodes = config.nodes.filter((n) => n.id !== id);
  writeConfig(config);
  let kept = '';
  if (fs.existsSync(node.dataDir)) {
    const to = path.join(p.dir, 'removed', `${id}-${Date.now()}`);
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
    fs.renameSync(node.dataDir, to);
    kept = `; its data is in ${to} (delete it when no longer needed)`;
  }
  const url = `http://${hostForUrl(node.host)}:${node.httpPort}`;
  updateConnection(p, (urls) => (urls.length > 1 ? urls.filter((u) => u !== url) : urls));
  process.stdout.write(`${id} stopped and dropped from cluster.yaml in ${((Date.now() - started) / 1000).toFixed(1)} s${kept}\n`);
}

// ---- sharded clusters: the member set and the placement it implies ---------------------------

function isSharded(config: ClusterConfig): boolean {
  return config.shards !== undefined && config.shards.count > 1;
}

function noneAnswered(s: Survey): string | null {
  return s.views.every((v) => v.status === null) ? `no node answered: ${s.views.map((v) => `${v.url} ${v.error ?? ''}`).join('; ')}` : null;
}

/** The epoch of a member.add / member.remove answer ({epoch, members}). */
function epochOf(value: unknown): number {
  const e = (value as { epoch?: unknown } | null)?.epoch;
  return typeof e === 'number' && Number.isInteger(e) && e >= 0 ? e : 0;
}

/** Every node's shard view (its /status `shards`); epoch null for one that does not answer. */
async function shardViews(config: ClusterConfig): Promise<NodeShardView[]> {
  return Promise.all(
    config.nodes.map(async (n): Promise<NodeShardView> => nodeShardView(n.id, (await statusOf(`http://${hostForUrl(n.host)}:${n.httpPort}`))?.shards)),
  );
}

/**
 * Waits until every node of the file reports a member set of at least `epoch` and every shard's
 * replicas are voters exactly where that set's placement wants them (none left to add, promote or
 * remove); prints what is still moving every 10 s.
 */
async function awaitPlacement(config: ClusterConfig, epoch: number, waitMs: number, started: number, gone: () => string | null): Promise<{ ok: true; progress: PlacementProgress; views: NodeShardView[] } | { ok: false; message: string }> {
  const o = { shards: config.shards?.count ?? 1, replicas: config.shards?.replicas ?? 1 };
  let shown = Date.now();
  for (;;) {
    const views = await shardViews(config);
    const progress = placementProgress(views, o);
    if (progress !== null && progress.epoch >= epoch && progress.behind.length === 0 && progress.moving.length === 0) return { ok: true, progress, views };
    const why = gone();
    if (why !== null) return { ok: false, message: why };
    const now = progress === null ? 'no node answered' : progress.epoch < epoch ? `the nodes that answered know epoch ${progress.epoch}, not yet ${epoch}` : describeProgress(progress);
    if (Date.now() - started > waitMs) return { ok: false, message: `after ${waitMs / 1000} s: ${now}` };
    if (Date.now() - shown > 10_000) {
      shown = Date.now();
      process.stdout.write(`  after ${((Date.now() - started) / 1000).toFixed(0)} s: ${now}\n`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * remove-node on a sharded cluster: out of the member set first (shard 0's leader records it),
 * then wait while every shard's leader moves the node's replicas to the nodes the new placement
 * names (add, catch up, promote, remove: one change at a time), and only then stop it — stopped
 * earlier, its replicas would count against the quorums that must commit their own removal.
 */
async function removeShardedNode(p: ReturnType<typeof paths>, config: ClusterConfig, node: ClusterConfig['nodes'][number], waitMs: number): Promise<void> {
  const id = node.id;
  const c = clusterConnection(p, config);
  const s = await survey(c.urls);
  const why = noneAnswered(s);
  if (why !== null) return fail(`cluster remove-node: ${why}`);
  const started = Date.now();
  const before = placementProgress(await shardViews(config), { shards: config.shards?.count ?? 1, replicas: config.shards?.replicas ?? 1 });
  let epoch = before?.epoch ?? 0;
  if (before === null || before.members.includes(id)) {
    // The founding members are written down before `nodes` shrinks: they are epoch 0 for every node.
    if (config.firstMembers === undefined) {
      config.firstMembers = firstMembersOf(config);
      writeConfig(config);
    }
    const r = await changeMembership(c, s, 'member.remove', id, 60_000);
    if (!r.ok) return fail(`cluster remove-node: member remove ${id}: ${r.message}; ${id} still runs`, r.definite ? EXIT_FAILED : EXIT_UNKNOWN);
    epoch = epochOf(r.value);
    process.stdout.write(`${id} left the member set (epoch ${epoch}); waiting for its shard replicas to move off it\n`);
  } else process.stdout.write(`${id} is not in the member set (epoch ${before.epoch}: ${before.members.join(', ')}); waiting for any replica it still holds to move off it\n`);
  const pid = runningPid(p, id);
  const w = await awaitPlacement(config, epoch, waitMs, started, () => (pid === null || processAlive(pid) ? null : `${id} exited while its replicas moved off it (they are re-created from the other replicas; run remove-node again to finish)`));
  if (!w.ok) return fail(`cluster remove-node: ${w.message}; ${id} is out of the member set and still runs (kv-lab cluster status)`);
  process.stdout.write(`every shard is off ${id} after ${((Date.now() - started) / 1000).toFixed(1)} s; ${describeProgress(w.progress)}\n`);
  await stopAndDrop(p, config, node, started);
}
