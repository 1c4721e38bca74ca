import type { Command } from 'commander';
import type { Json } from '../util/json.js';
import { connectKv } from '../host/connect.js';
import { KvError } from '../client/remote.js';
import type { Outcome } from '../client/client.js';
import { effectiveConnection, readPasswordFile, type Connection, type ConnectionFlags } from './connection.js';
import { EXIT_FAILED, EXIT_UNKNOWN, UsageError } from './errors.js';

/**
 * `kv-lab member add|remove|list`: Raft membership of a running (unsharded) cluster, one server at
 * a time (Raft thesis §4.1; etcd's `member add` takes the new member's peer URLs the same way).
 *
 * The change itself is the `member.add` / `member.remove` operation of the request protocol, sent
 * by the TypeScript client (KvClient over the nodes' TCP client ports: it follows `not_leader`
 * answers to the leader and keeps one request id across retries). That is the very client and op
 * the lab's nemesis sends for its `join` and `leave` faults (sim/nemesis.ts), so
 * scenarios/raft/membership.yaml drives this path under partitions and crashes.
 *
 * What the CLI adds around it are the checks an operator needs before a change that cannot be
 * taken back lightly: the node to add has met the cluster by gossip at the peer address given
 * (else the leader could never reach it), a member is not added twice, an unknown id is not
 * "removed", and a removal does not leave fewer live voters than a majority (the one-at-a-time
 * change takes effect when appended, so the new configuration must be able to commit it).
 */

/** A node id as the request protocol accepts it in member.add / member.remove (protocol.ts). */
export const MEMBER_ID = /^[a-z][a-z0-9-]{0,63}$/;
/** Most nodes whose /status one command reads (the connection's URLs and every address they list). */
const SURVEY_NODES_MAX = 64;

export interface NodeView {
  url: string;
  id: string | null;
  /** The node's own /status, or null when it did not answer. */
  status: Record<string, unknown> | null;
  error?: string;
}

export interface MemberRow {
  id: string;
  /** leader, follower, learner, joining (from the node's own /status), or null when it did not answer. */
  role: string | null;
  /** Its state in the leader's gossip view (alive, suspect, dead), or null without gossip. */
  gossip: string | null;
  peer: string | null;
  http: string | null;
}

/** What the nodes say about the cluster: who leads, who is a member, where each listens, who is alive. */
export interface Survey {
  views: NodeView[];
  leader: string | null;
  term: number;
  /** Voters and learners, as the most recent leader (or node) reports them. */
  members: string[];
  /** id → "host:tcpPort" of the TCP client ports (what connectKv dials). */
  tcp: Map<string, string>;
  /** id → HTTP base URL. */
  http: Map<string, string>;
  /** The gossip view of the leader (else of any node): id → { state, peer }. null: no gossip. */
  gossip: Map<string, { state: string; peer: string | null }> | null;
  /** A sharded cluster: how many shards (membership moves shards there, which is not built yet). */
  shards: number | null;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function fetchStatus(url: string, timeoutMs: number): Promise<NodeView> {
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    const status = (await res.json()) as Record<string, unknown>;
    if (typeof status !== 'object' || status === null) return { url, id: null, status: null, error: 'not a status object' };
    return { url, id: typeof status.id === 'string' ? status.id : null, status };
  } catch (err) {
    return { url, id: null, status: null, error: `unreachable (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})` };
  }
}

/**
 * Reads /status from the connection's URLs and from every address they list (a node added later
 * is listed by itself and by the nodes started after it), merging what they say.
 */
export async function survey(urls: readonly string[], timeoutMs = 3_000): Promise<Survey> {
  const seen = new Set<string>();
  const views: NodeView[] = [];
  let queue = [...urls];
  while (queue.length > 0 && views.length < SURVEY_NODES_MAX) {
    const batch = queue.filter((u) => !seen.has(u)).slice(0, SURVEY_NODES_MAX - views.length);
    for (const u of batch) seen.add(u);
    const got = await Promise.all(batch.map((u) => fetchStatus(u, timeoutMs)));
    views.push(...got);
    queue = [];
    for (const v of got) {
      const addresses = v.status?.addresses as Record<string, { host: string; httpPort: number }> | undefined;
      for (const a of Object.values(addresses ?? {})) {
        const u = `http://${hostForUrl(a.host)}:${a.httpPort}`;
        if (!seen.has(u)) queue.push(u);
      }
    }
  }
  const tcp = new Map<string, string>();
  const http = new Map<string, string>();
  let shards: number | null = null;
  for (const v of views) {
    if (v.status === null) continue;
    if (v.id !== null) http.set(v.id, v.url);
    const addresses = v.status.addresses as Record<string, { host: string; httpPort: number; tcpPort: number }> | undefined;
    for (const [id, a] of Object.entries(addresses ?? {})) {
      if (!tcp.has(id)) tcp.set(id, `${a.host}:${a.tcpPort}`);
      if (!http.has(id)) http.set(id, `http://${hostForUrl(a.host)}:${a.httpPort}`);
    }
    const s = v.status.shards as { count?: unknown } | undefined;
    if (s !== undefined && typeof s.count === 'number' && s.count > 1) shards = s.count;
  }
  // The freshest word: a leader's own status in the highest term, else the highest term's view.
  const answered = views.filter((v) => v.status !== null);
  const term = (v: NodeView) => Number(v.status?.term ?? -1);
  const best = [...answered].sort((a, b) => term(b) - term(a) || Number(b.status?.role === 'leader') - Number(a.status?.role === 'leader'))[0];
  const leaderView = answered.filter((v) => v.status?.role === 'leader').sort((a, b) => term(b) - term(a))[0];
  const from = leaderView ?? best;
  const members = Array.isArray(from?.status?.members) ? (from.status.members as unknown[]).filter((m): m is string => typeof m === 'string') : [];
  const leader = leaderView?.id ?? ((best?.status?.leader as string | null | undefined) ?? null);
  const gossipOf = (v: NodeView | undefined) => (Array.isArray(v?.status?.gossip) ? (v.status.gossip as { id: string; state: string; addresses?: Record<string, string> }[]) : null);
  const g = gossipOf(from) ?? answered.map(gossipOf).find((x) => x !== null) ?? null;
  const gossip = g === null ? null : new Map(g.map((m) => [m.id, { state: m.state, peer: m.addresses?.peer ?? null }]));
  return { views, leader, term: from === undefined ? -1 : term(from), members, tcp, http, gossip, shards };
}

/** One row per member for `member list`: its own role where it answered, its gossip state. */
export function memberRows(s: Survey): MemberRow[] {
  return s.members.map((id) => {
    const own = s.views.find((v) => v.id === id && v.status !== null);
    return { id, role: own?.status ? roleOf(id, own.status) : null, gossip: s.gossip?.get(id)?.state ?? null, peer: s.gossip?.get(id)?.peer ?? null, http: s.http.get(id) ?? null };
  });
}

/**
 * A node's role as it says itself, but `joining` while it does not yet hold a configuration that
 * names it: a node added a moment ago calls itself a follower (of no one) until the leader's
 * first entries reach it, and that is not yet a voter.
 */
export function roleOf(id: string, status: Record<string, unknown>): string {
  const members = Array.isArray(status.members) ? status.members : [];
  return members.includes(id) ? String(status.role) : 'joining';
}

/** Why a cluster's membership cannot be changed here, or null. */
export function unchangeable(s: Survey): string | null {
  if (s.shards !== null) {
    return `this cluster is sharded (${s.shards} shards): its members hold shards placed by the ring; grow or shrink it with kv-lab cluster add-node / remove-node, which change the member set and wait until the shards have moved (member add/remove changes an unsharded Raft cluster)`;
  }
  if (s.views.every((v) => v.status === null)) return `no node answered: ${s.views.map((v) => `${v.url} ${v.error ?? ''}`).join('; ')}`;
  if (s.members.length === 0) return 'the nodes that answered report no Raft members (is replication raft?)';
  if (s.tcp.size === 0) return 'the nodes that answered list no member addresses (they were started without a cluster file); member commands reach the leader through the addresses a cluster file gives (kv-lab cluster up)';
  return null;
}

/** Checks for `member add <id> <peer>`: returns the problem, or null. */
export function addProblem(s: Survey, id: string, peer: string): string | null {
  if (s.members.includes(id)) return `${id} is already a member (members: ${s.members.join(', ')})`;
  if (s.gossip === null) return `the cluster runs no gossip, so its leader cannot learn where ${id} listens; start the nodes with gossip (the default)`;
  const g = s.gossip.get(id);
  if (g === undefined || g.state === 'dead' || g.state === 'left') {
    return `${id} has not met the cluster${g !== undefined ? ` (gossip says ${g.state})` : ''}: start it first with kv-lab serve … --id ${id} --join <a member's peer host:port> --secret-file <the cluster secret>, so that gossip tells every member where it listens`;
  }
  if (g.peer !== null && g.peer !== peer) return `the cluster knows ${id} at peer address ${g.peer}, not ${peer}: is this the node you mean?`;
  return null;
}

/** The voters after removing id, and whether a majority of them is alive (by gossip). */
export function removeProblem(s: Survey, id: string, rows: readonly MemberRow[]): { problem: string | null; quorum: string | null } {
  if (!s.members.includes(id)) return { problem: `${id} is not a member (members: ${s.members.join(', ')})`, quorum: null };
  const learner = ['learner', 'joining'].includes(String(rows.find((r) => r.id === id)?.role));
  const voters = rows.filter((r) => r.role !== 'learner' && r.role !== 'joining').map((r) => r.id);
  const after = voters.filter((v) => v !== id);
  if (!learner && after.length === 0) return { problem: `${id} is the last voter: a cluster without voters cannot commit anything`, quorum: null };
  if (learner) return { problem: null, quorum: null };
  const alive = (m: string) => (s.gossip !== null ? s.gossip.get(m)?.state === 'alive' : rows.find((r) => r.id === m)?.role !== null);
  const live = after.filter(alive);
  const need = Math.floor(after.length / 2) + 1;
  if (live.length < need) {
    return { problem: null, quorum: `removing ${id} would lose quorum: the voters left (${after.join(', ')}) need ${need} alive to commit, and ${live.length} are (${live.join(', ') || 'none'}); bring the others back first, or pass --force` };
  }
  return { problem: null, quorum: null };
}

/** The outcome of a member op, as a message; throws nothing. */
export interface ChangeResult {
  ok: boolean;
  /** Definitely not applied (false: it may have been). */
  definite: boolean;
  message: string;
  value?: Json;
}

/** Sends member.add / member.remove through the TypeScript client: it finds the leader itself. */
export async function changeMembership(c: Connection, s: Survey, f: 'member.add' | 'member.remove', id: string, timeoutMs: number): Promise<ChangeResult> {
  const password = c.password ?? (c.passwordFile !== undefined ? readPasswordFile(c.passwordFile) : undefined);
  // The leader first: KvClient tries nodes in the order given until a hint names the leader.
  const ids = [...s.tcp.keys()].sort((a, b) => Number(b === s.leader) - Number(a === s.leader));
  let remote;
  try {
    remote = await connectKv({ nodes: Object.fromEntries(ids.map((n) => [n, s.tcp.get(n) as string])), ...(c.username !== undefined ? { username: c.username, password: password ?? '' } : {}), timeoutMs, attemptTimeoutMs: Math.min(2_000, timeoutMs) });
  } catch (err) {
    if (err instanceof KvError) return { ok: false, definite: true, message: `cannot log in: ${err.code}: ${err.message}` };
    throw err;
  }
  try {
    const o: Outcome = await remote.call({ f, node: id }, '');
    if (o.type === 'ok') return { ok: true, definite: true, message: 'ok', value: o.value };
    if (o.type === 'fail') return { ok: false, definite: true, message: `${o.code}: ${o.message}${o.code === 'forbidden' || o.code === 'unauthorized' ? ' (membership changes need admin rights)' : ''}` };
    return { ok: false, definite: false, message: `the outcome is unknown (${o.reason}): check with kv-lab member list` };
  } finally {
    remote.close();
  }
}

interface MemberFlags extends ConnectionFlags {
  json?: boolean;
  timeout?: string;
  force?: boolean;
}

function timeoutOf(flags: MemberFlags): number {
  const t = flags.timeout ?? '30000';
  if (!/^\d{1,7}$/.test(t) || Number(t) < 1) throw new UsageError(`--timeout expects milliseconds (1-9999999), got ${JSON.stringify(t)}`);
  return Number(t);
}

export function checkMemberId(id: string): void {
  if (!MEMBER_ID.test(id)) throw new UsageError(`a member id has a lowercase letter then up to 63 lowercase letters, digits and -; got ${JSON.stringify(id)}`);
}

export function checkPeer(peer: string): void {
  const m = /^(.+):(\d{1,5})$/.exec(peer);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`<peer> expects the new node's peer address host:port (its --peer-port), got ${JSON.stringify(peer)}`);
}

function fail(message: string, code = EXIT_FAILED): void {
  process.stderr.write(`kv-lab: ${message}\n`);
  process.exitCode = code;
}

function membersText(v: Json | undefined): string {
  const m = v as { voters?: string[]; learners?: string[] } | null | undefined;
  return m?.voters !== undefined ? `voters ${m.voters.join(', ')}${m.learners && m.learners.length > 0 ? `; learners ${m.learners.join(', ')}` : ''}` : '';
}

function withFlags(cmd: Command): Command {
  return cmd
    .option('--url <urls>', 'node URLs, comma-separated (default: the saved connection, else http://127.0.0.1:8000)')
    .option('--username <name>', 'user name (default: the saved connection\'s); needs admin rights')
    .option('--password <password>', 'password (prefer --password-file: command lines are visible to other users)')
    .option('--password-file <file>', 'file holding the password')
    .option('--timeout <ms>', 'give up after this many milliseconds', '30000');
}

export function registerMemberCommands(program: Command): void {
  const member = program.command('member').description('Raft membership of a running (unsharded) cluster: add, remove, list (needs admin)');
  withFlags(member.command('add').description('add a node that has met the cluster by gossip (serve --join): it joins as a learner, gets the state, and is promoted to voter once caught up').argument('<id>', 'the new node\'s id').argument('<peer>', 'its peer address host:port (its --peer-port), as a check that it is the node you mean'))
    .action(async (id: string, peer: string, flags: MemberFlags) => {
      checkMemberId(id);
      checkPeer(peer);
      const c = effectiveConnection(flags);
      const s = await survey(c.urls);
      const why = unchangeable(s) ?? addProblem(s, id, peer);
      if (why !== null) return fail(why);
      const r = await changeMembership(c, s, 'member.add', id, timeoutOf(flags));
      if (!r.ok) return fail(`member add ${id}: ${r.message}`, r.definite ? EXIT_FAILED : EXIT_UNKNOWN);
      process.stdout.write(`${id} added as a learner (${membersText(r.value)}); the leader promotes it to voter once it has caught up (kv-lab member list)\n`);
    });
  withFlags(member.command('remove').description('remove a member (refused when the voters left would not have a live majority, unless --force)').argument('<id>'))
    .option('--force', 'remove even when the voters left would have no live majority (the cluster stalls until enough of them are back)')
    .action(async (id: string, flags: MemberFlags) => {
      checkMemberId(id);
      const c = effectiveConnection(flags);
      const s = await survey(c.urls);
      const why = unchangeable(s);
      if (why !== null) return fail(why);
      const { problem, quorum } = removeProblem(s, id, memberRows(s));
      if (problem !== null) return fail(problem);
      if (quorum !== null && flags.force !== true) return fail(quorum);
      const r = await changeMembership(c, s, 'member.remove', id, timeoutOf(flags));
      if (!r.ok) return fail(`member remove ${id}: ${r.message}`, r.definite ? EXIT_FAILED : EXIT_UNKNOWN);
      process.stdout.write(`${id} removed (${membersText(r.value)}); its process still runs: stop it (kv-lab cluster remove-node does both)\n`);
    });
  withFlags(member.command('list').description('the Raft members: role, gossip state, peer address, HTTP URL'))
    .option('--json', 'as one JSON object')
    .action(async (flags: MemberFlags) => {
      const c = effectiveConnection(flags);
      const s = await survey(c.urls);
      const why = s.views.every((v) => v.status === null) ? unchangeable(s) : null;
      if (why !== null) return fail(why);
      const rows = memberRows(s);
      if (flags.json) {
        process.stdout.write(JSON.stringify({ leader: s.leader, term: s.term, members: rows, ...(s.shards !== null ? { shards: s.shards } : {}) }) + '\n');
        return;
      }
      const table = [['ID', 'ROLE', 'GOSSIP', 'PEER', 'HTTP']];
      for (const r of rows) table.push([r.id, r.role ?? '?', r.gossip ?? '-', r.peer ?? '-', r.http ?? '-']);
      const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)));
      process.stdout.write(`leader ${s.leader ?? '-'}, term ${s.term}${s.shards !== null ? ` (sharded: ${s.shards} shards, each its own group)` : ''}\n` + table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ')).join('\n') + '\n');
    });
}
