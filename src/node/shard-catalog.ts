import type { Env } from '../env/env.js';
import { assert } from '../util/assert.js';
import { CATALOG_VERSION_KEY, CREDENTIAL_EPOCH_KEY, DATABASES_END, DATABASES_START, scanAll, USERS_END, USERS_START } from './keyspace.js';
import { catalogVersion, type KvView } from './kv-state.js';
import type { RaftReplica } from './raft-replica.js';
import type { EngineStore } from './store.js';

/**
 * A sharded node's copy of the cluster's catalog: its users (password hashes, grants), its
 * databases and the credential epoch — what a login, a token check and a permission check read.
 *
 * Where it lives: in shard 0's replicated state, the group that already carries the member set
 * (src/cluster/placement/README.md), under the very keys a single group keeps them at
 * (src/node/keyspace.ts). So the catalog survives any minority of failures and moves with shard 0
 * like any data, and every change of it is one Raft entry of shard 0 — CockroachDB keeps its
 * users and descriptors in system ranges the same way, ordinary ranges of the one keyspace.
 *
 * Why every node keeps a copy: a client may log in at, and present its token to, any node, and
 * most nodes hold no replica of shard 0. Asking shard 0's leader at every request would put one
 * group's leader on every request's path; a copy costs a few hundred KiB at most (bounded by
 * CATALOG_ENTRIES_MAX) and is checked in memory.
 *
 * How it spreads: a node holding a replica of shard 0 reads the catalog's version
 * (CATALOG_VERSION_KEY, one lookup) every tick of its mover; a higher one than its copy's makes
 * it read the catalog and send it to every peer at once. Every PUSH_MS a node tells two peers at
 * random which version it holds, and a peer holding less asks for the whole (epidemic spreading,
 * as the member set's pushes: every node learns within a few rounds). Only applied — committed —
 * entries are read, so a version once seen is final and a higher version is always newer.
 *
 * Staleness: a node's copy may lag shard 0's leader by a push (a few milliseconds on a healthy
 * network; longer across a partition). A token is bound to its user's credential epoch, so a
 * node that already knows a password change or deletion refuses the old token, and one that does
 * not yet know it accepts it until the push arrives — the same window a single group's lagging
 * follower has. A node that has not heard the catalog at all in this life answers `unavailable`
 * (KvNode), never "no such user".
 */

/** Catalog entries (users, databases, two counters) a node accepts in a push; larger pushes are refused. */
export const CATALOG_ENTRIES_MAX = 4096;
/**
 * Bytes of keys and values a catalog may hold (a push carries it whole): users' grants grow it
 * besides their count. A sharded node refuses a user or database change once its copy is near it.
 */
export const CATALOG_BYTES_MAX = 8 * 1024 * 1024;
/** Users a sharded cluster may hold (CATALOG_ENTRIES_MAX bounds users and databases together). */
export const CATALOG_USERS_MAX = 2000;
/** Databases a sharded cluster may hold. */
export const CATALOG_DATABASES_MAX = 2000;
/** A node answers one peer's request for the whole catalog at most this often. */
export const CATALOG_ANSWER_MS = 250;
/** Version announcements per round. */
export const CATALOG_FANOUT = 2;
/** Peers whose last answer time is remembered (more: the table is cleared, the bound is a backstop). */
const ANSWERED_PEERS_MAX = 1024;

export interface CatalogHost {
  /** Shard 0's replica and store here, if hosted and running. */
  shard0(): { replica: RaftReplica; store: EngineStore } | null;
  /** Nodes to spread the catalog to (every member of any member set seen), this node included. */
  peers(): string[];
}

export class ShardCatalog {
  /** -1: not learned in this life (KvNode answers `unavailable` to logins and token checks). */
  private version = -1;
  private entries = new Map<string, string>();
  private sorted: string[] = [];
  /** Characters of the copy's keys and values (a bound on its UTF-16 size; UTF-8 is at most 1.5× that for these). */
  private chars = 0;
  private readonly answered = new Map<string, number>();
  /** The catalog as a storage view: what auth.ts reads users and databases from. */
  readonly view: KvView = {
    get: (k) => this.entries.get(k),
    scan: (start, end, limit, reverse) => {
      const keys = this.sorted.filter((k) => k >= start && (end === null || k < end));
      if (reverse) keys.reverse();
      return keys.slice(0, limit).map((k) => [k, this.entries.get(k) as string]);
    },
  };

  constructor(
    private readonly env: Env,
    private readonly host: CatalogHost,
  ) {}

  /** Whether this node has heard the catalog in this life. */
  get known(): boolean {
    return this.version >= 0;
  }

  get catalogVersion(): number {
    return this.version;
  }

  /** Characters of keys and values in the copy (CATALOG_BYTES_MAX bounds it). */
  get size(): number {
    return this.chars;
  }

  /** How many users and databases the copy holds (for the bounds a sharded node enforces). */
  counts(): { users: number; databases: number } {
    let users = 0;
    let databases = 0;
    for (const k of this.sorted) {
      if (k.startsWith(USERS_START)) users++;
      else if (k.startsWith(DATABASES_START)) databases++;
    }
    return { users, databases };
  }

  /**
   * Reads the catalog from this node's replica of shard 0 when its version is newer than the
   * copy's (one lookup when it is not). A replica that has applied nothing yet (a new one waiting
   * for its snapshot) says nothing: its empty state is not the catalog.
   */
  readLocal(): void {
    const s0 = this.host.shard0();
    if (s0 === null || s0.replica.status().appliedIndex === 0) return;
    const view = s0.store.view;
    const v = catalogVersion(view);
    if (v <= this.version && this.known) return;
    const entries: [string, string][] = [];
    for (const [start, end] of CATALOG_RANGES) for (const kv of scanAll(view, start, end)) entries.push(kv);
    for (const k of [CATALOG_VERSION_KEY, CREDENTIAL_EPOCH_KEY]) {
      const value = view.get(k);
      if (value !== undefined) entries.push([k, value]);
    }
    if (entries.length > CATALOG_ENTRIES_MAX || entriesChars(entries) > CATALOG_BYTES_MAX) {
      this.env.log.log('error', 'catalog.too_large', { entries: entries.length, chars: entriesChars(entries), entriesMax: CATALOG_ENTRIES_MAX, bytesMax: CATALOG_BYTES_MAX });
      return;
    }
    if (this.adopt(v, entries, 'shard 0')) this.pushAll();
  }

  private adopt(version: number, entries: [string, string][], source: string): boolean {
    assert(Number.isSafeInteger(version) && version >= 0, 'a catalog version is a non-negative integer');
    if (version <= this.version) return false;
    this.version = version;
    this.entries = new Map(entries);
    this.sorted = [...this.entries.keys()].sort();
    this.chars = entriesChars(entries);
    assert(this.entries.size === entries.length, 'catalog entries are distinct keys');
    this.env.log.log('info', 'catalog.adopt', { version, entries: entries.length, from: source });
    return true;
  }

  private full(): Uint8Array {
    return utf8.encode(JSON.stringify({ kind: 'catalog', version: this.version, entries: [...this.entries] }));
  }

  private pushAll(): void {
    const frame = this.full();
    for (const to of this.host.peers()) if (to !== this.env.id) this.env.net.send(to, frame);
  }

  /** One round of spreading: the version this node holds, to a few peers at random. */
  pushSome(): void {
    if (!this.known) return;
    const frame = utf8.encode(JSON.stringify({ kind: 'catalog.version', version: this.version }));
    const others = this.host.peers().filter((n) => n !== this.env.id);
    for (const to of this.env.rng.shuffled(others).slice(0, CATALOG_FANOUT)) this.env.net.send(to, frame);
  }

  /** A peer's frame: `catalog` (the whole), `catalog.version` (what it holds), `catalog.ask` (send me the whole). */
  receive(from: string, body: Record<string, unknown>): void {
    if (body.kind === 'catalog.version') {
      const v = body.version;
      if (typeof v === 'number' && Number.isSafeInteger(v) && v > this.version) this.env.net.send(from, utf8.encode('{"kind":"catalog.ask"}'));
      return;
    }
    if (body.kind === 'catalog.ask') {
      const now = this.env.clock.monotonicMs();
      const last = this.answered.get(from);
      if (!this.known || (last !== undefined && now - last < CATALOG_ANSWER_MS)) return;
      if (this.answered.size >= ANSWERED_PEERS_MAX) this.answered.clear();
      this.answered.set(from, now);
      this.env.net.send(from, this.full());
      return;
    }
    const problem = catalogProblem(body);
    if (problem !== null) {
      this.env.log.log('warn', 'catalog.bad_push', { from, error: problem });
      return;
    }
    this.adopt(body.version as number, body.entries as [string, string][], from);
  }
}

/** The key ranges of the catalog besides its two counters. */
const CATALOG_RANGES: readonly [string, string][] = [
  [USERS_START, USERS_END],
  [DATABASES_START, DATABASES_END],
];

function inCatalog(key: string): boolean {
  return key === CATALOG_VERSION_KEY || key === CREDENTIAL_EPOCH_KEY || CATALOG_RANGES.some(([s, e]) => key >= s && key < e);
}

/** What is wrong with a pushed catalog, or null: bounded, catalog keys only, string values. */
export function catalogProblem(body: Record<string, unknown>): string | null {
  const { version, entries } = body;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return 'version must be a non-negative integer';
  if (!Array.isArray(entries) || entries.length > CATALOG_ENTRIES_MAX) return `entries must be a list of at most ${CATALOG_ENTRIES_MAX}`;
  const seen = new Set<string>();
  for (const e of entries) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string') return 'an entry must be [key, value], both strings';
    if (!inCatalog(e[0])) return `key ${JSON.stringify(e[0])} is not a catalog key`;
    if (seen.has(e[0])) return `key ${JSON.stringify(e[0])} twice`;
    seen.add(e[0]);
  }
  if (entriesChars(entries as [string, string][]) > CATALOG_BYTES_MAX) return `more than ${CATALOG_BYTES_MAX} characters of keys and values`;
  return null;
}

function entriesChars(entries: readonly [string, string][]): number {
  let n = 0;
  for (const [k, v] of entries) n += k.length + v.length;
  return n;
}

const utf8 = new TextEncoder();
