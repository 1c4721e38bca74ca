import { assert } from '../../util/assert.js';
import { Ring } from '../ring/ring.js';

/**
 * Static placement of shards: which shard holds a key, which nodes hold a shard, and which of
 * them should lead it. Pure and deterministic: every node that knows the same member list and
 * the same (shards, replicas) computes the same map, so no node needs to be told it.
 *
 * - A key's shard: shards are positions on a ring of their own (members `s0` … `s<S-1>`, each
 *   with SHARD_RING_VNODES tokens); a key belongs to the shard its hash lands on. The key is
 *   hashed with its database (`<db>\0<key>`), so equal keys of two databases spread apart.
 * - A shard's replicas: the shard's name (`shard/<i>`) is a position on the ring of nodes; its
 *   R replicas are the first R distinct nodes of that position's preference list that still have
 *   room under a bounded load of ⌈(1 + ε)·S·R/N⌉ replicas per node (bounded loads, Mirrokni,
 *   Thorup and Zadimoghaddam 2018, as in src/cluster/ring/placement.ts): with few shards a plain
 *   preference list can pile several shards on one node; the bound caps that.
 * - A shard's preferred leader: one of its replicas, chosen greedily so that every node is the
 *   preferred leader of as close to S/N shards as the replica sets allow (leader balance: Raft
 *   elects whoever times out first; the node hands leadership back to the preferred replica).
 */

export interface ShardMapOptions {
  /** How many shards (Raft groups) the keyspace is cut into. */
  shards: number;
  /** Replicas per shard (default 3); at most the number of nodes. */
  replicas: number;
  /** Slack of the bounded load: a node holds at most ⌈(1 + ε)·S·R/N⌉ replicas. */
  epsilon?: number;
}

/** Issue 20 asks for 10,000 shards on 100 nodes (bench:shards --only scale simulates it). */
export const SHARDS_MAX = 16_384;
export const SHARD_REPLICAS_DEFAULT = 3;
/** Tokens per shard on the ring of shard positions: enough that 8 shards split keys within ~15%. */
export const SHARD_RING_VNODES = 64;
export const SHARD_LOAD_EPSILON = 0.25;

/** Why (shards, replicas) cannot be placed on `nodes`, or null when they can. */
export function placementProblem(nodes: readonly string[], o: ShardMapOptions): string | null {
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > SHARDS_MAX) return `shards must be an integer in 1..${SHARDS_MAX}, got ${o.shards}`;
  if (!Number.isInteger(o.replicas) || o.replicas < 1) return `replicas must be a positive integer, got ${o.replicas}`;
  if (nodes.length === 0) return 'no nodes to place shards on';
  if (new Set(nodes).size !== nodes.length) return `node ids repeat: ${nodes.join(', ')}`;
  if (o.replicas > nodes.length) return `replicas (${o.replicas}) is more than the ${nodes.length} nodes: a shard's replicas must be on distinct nodes`;
  const eps = o.epsilon ?? SHARD_LOAD_EPSILON;
  if (!(eps > 0 && eps <= 10)) return `epsilon must be in (0, 10], got ${eps}`;
  return null;
}

/** Keyspaces and placements kept for reuse (ShardKeyspace.of, ShardMap.build): the last few only. */
const CACHED_MAX = 4;
const keyspaces = new Map<number, ShardKeyspace>();
const maps = new Map<string, ShardMap>();

/**
 * Which shard holds a key: shards are positions on a ring of their own (s0 … s<S-1>), and a key
 * (with its database) hashes onto it. It depends on the shard count alone, never on the members,
 * so a client that knows the count computes every key's shard itself (its routing table caches
 * only each shard's leader).
 */
export class ShardKeyspace {
  private readonly ring: Ring | null;
  private readonly index = new Map<string, number>();

  constructor(readonly shards: number) {
    assert(Number.isInteger(shards) && shards >= 1 && shards <= SHARDS_MAX, () => `shard count must be in 1..${SHARDS_MAX}, got ${shards}`);
    const names = Array.from({ length: shards }, (_, i) => `s${i}`);
    names.forEach((n, i) => this.index.set(n, i));
    // One shard holds every key: no ring to consult (and the single-group path stays as it was).
    this.ring = shards === 1 ? null : Ring.build(names.map((id) => ({ id })), { vnodes: SHARD_RING_VNODES });
  }

  /**
   * The keyspace of `shards` shards, built once per process for the last few counts: it is
   * immutable, and every node of a simulated cluster (and every client) would otherwise hold a
   * copy of its ring — 640,000 tokens at 10,000 shards (bench:shards --only scale).
   */
  static of(shards: number): ShardKeyspace {
    let k = keyspaces.get(shards);
    if (k === undefined) {
      k = new ShardKeyspace(shards);
      if (keyspaces.size >= CACHED_MAX) keyspaces.delete(keyspaces.keys().next().value as number);
      keyspaces.set(shards, k);
    }
    return k;
  }

  /** The shard that holds `key` of database `db`. */
  shardOf(db: string, key: string): number {
    if (this.ring === null) return 0;
    const i = this.index.get(this.ring.owner(`${db}\x00${key}`));
    assert(i !== undefined && i >= 0 && i < this.shards, 'a key landed on no shard');
    return i;
  }
}

export class ShardMap {
  readonly shards: number;
  readonly replicasPerShard: number;
  /** Sorted by id. */
  readonly nodes: readonly string[];
  private readonly keyspace: ShardKeyspace;
  private readonly replicaSets: readonly (readonly string[])[];
  private readonly preferred: readonly string[];

  private constructor(nodes: string[], o: ShardMapOptions) {
    this.shards = o.shards;
    this.replicasPerShard = o.replicas;
    this.nodes = nodes;
    this.keyspace = ShardKeyspace.of(o.shards);
    const sets = placeReplicas(nodes, o);
    this.preferred = preferLeaders(sets, nodes);
    this.replicaSets = sets;
  }

  /** Throws RangeError naming the problem when the placement is impossible. */
  static build(nodes: readonly string[], o: ShardMapOptions): ShardMap {
    const problem = placementProblem(nodes, o);
    if (problem !== null) throw new RangeError(`invalid placement: ${problem}`);
    const sorted = [...nodes].sort();
    // Immutable and a pure function of its inputs: the nodes of a simulated cluster, which all
    // know the same member set, share one (1,000 shards took about 55 ms to place: a CPU profile
    // of 64 nodes booting, 10% of the run).
    const key = JSON.stringify([sorted, o.shards, o.replicas, o.epsilon ?? SHARD_LOAD_EPSILON]);
    let m = maps.get(key);
    if (m === undefined) {
      m = new ShardMap(sorted, o);
      if (maps.size >= CACHED_MAX) maps.delete(maps.keys().next().value as string);
      maps.set(key, m);
    }
    return m;
  }

  /** The shard that holds `key` of database `db`. */
  shardOf(db: string, key: string): number {
    return this.keyspace.shardOf(db, key);
  }

  /** The nodes holding a shard, the preferred leader first. */
  replicas(shard: number): readonly string[] {
    const r = this.replicaSets[shard];
    assert(r !== undefined, () => `no shard ${shard} (there are ${this.shards})`);
    return r;
  }

  preferredLeader(shard: number): string {
    const p = this.preferred[shard];
    assert(p !== undefined, () => `no shard ${shard} (there are ${this.shards})`);
    return p;
  }

  /** The shards `node` holds a replica of, ascending. */
  shardsOf(node: string): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.shards; s++) if (this.replicaSets[s]?.includes(node)) out.push(s);
    return out;
  }

  /** The most replicas any node holds (the bound placeReplicas keeps). */
  static loadBound(nodes: number, o: ShardMapOptions): number {
    return Math.ceil(((1 + (o.epsilon ?? SHARD_LOAD_EPSILON)) * o.shards * o.replicas) / nodes);
  }
}

/** Each shard's R distinct nodes: its preference list, skipping nodes at the load bound. */
function placeReplicas(nodes: readonly string[], o: ShardMapOptions): string[][] {
  const ring = Ring.build(nodes.map((id) => ({ id })));
  // Room for every replica: bound × N >= (1 + ε)·S·R > S·R, and a shard never needs a node twice.
  const bound = ShardMap.loadBound(nodes.length, o);
  const load = new Map<string, number>(nodes.map((n) => [n, 0]));
  const out: string[][] = [];
  for (let s = 0; s < o.shards; s++) {
    const order = ring.preferenceList(`shard/${s}`, nodes.length);
    const picked: string[] = [];
    for (const n of order) {
      if (picked.length === o.replicas) break;
      if ((load.get(n) as number) >= bound) continue;
      picked.push(n);
    }
    // Cannot happen by the arithmetic above; a full node rather than a missing replica if it did.
    for (const n of order) if (picked.length < o.replicas && !picked.includes(n)) picked.push(n);
    assert(picked.length === o.replicas && new Set(picked).size === o.replicas, () => `shard ${s} got ${picked.length} distinct replicas, wanted ${o.replicas}`);
    for (const n of picked) load.set(n, (load.get(n) as number) + 1);
    out.push(picked);
  }
  return out;
}

/**
 * A preferred leader per shard: the replica that is preferred leader of the fewest shards so
 * far (ties: the earlier in the shard's list). The replica lists are then reordered so that it
 * comes first.
 */
function preferLeaders(sets: string[][], nodes: readonly string[]): string[] {
  const led = new Map<string, number>(nodes.map((n) => [n, 0]));
  const out: string[] = [];
  sets.forEach((set) => {
    let best = set[0] as string;
    for (const n of set) if ((led.get(n) as number) < (led.get(best) as number)) best = n;
    led.set(best, (led.get(best) as number) + 1);
    out.push(best);
    set.splice(set.indexOf(best), 1);
    set.unshift(best);
  });
  return out;
}
