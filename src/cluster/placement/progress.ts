import { ShardMap, type ShardMapOptions } from './shard-map.js';

/**
 * How far a sharded cluster is from the placement of its newest member set, from what each node
 * reports (/status `shards`): which shards still have a replica to add, to promote or to remove.
 * `kv-lab cluster add-node` / `remove-node` wait on it, and `cluster status` prints it.
 *
 * Pure: the reports are taken as given; a node that did not answer is `unknown`, and a shard
 * whose wanted replica did not answer cannot be called settled.
 */
export interface NodeShardView {
  id: string;
  /** null: the node did not answer. */
  epoch: number | null;
  members: readonly string[];
  hosted: readonly { shard: number; role: string }[];
}

/**
 * A node's view from the `shards` field of its /status answer, shape-checked (a node answers
 * what it answers): epoch null when the field is not one. `kv-lab cluster` and bench:shards read
 * views this one way.
 */
export function nodeShardView(id: string, shards: unknown): NodeShardView {
  const none: NodeShardView = { id, epoch: null, members: [], hosted: [] };
  if (typeof shards !== 'object' || shards === null) return none;
  const s = shards as { epoch?: unknown; members?: unknown; hosted?: unknown };
  if (!Number.isSafeInteger(s.epoch) || !Array.isArray(s.members) || !Array.isArray(s.hosted)) return none;
  const hosted = (s.hosted as unknown[]).flatMap((h) => {
    const g = h as { shard?: unknown; role?: unknown } | null;
    return typeof g === 'object' && g !== null && Number.isSafeInteger(g.shard) && typeof g.role === 'string' ? [{ shard: g.shard as number, role: g.role }] : [];
  });
  return { id, epoch: s.epoch as number, members: (s.members as unknown[]).filter((m): m is string => typeof m === 'string'), hosted };
}

export interface ShardProgress {
  shard: number;
  want: string[];
  /** Voters found where wanted. */
  voters: string[];
  /** Wanted replicas not yet voting (a learner catching up, a group starting, or none yet). */
  missing: string[];
  /** Replicas found where the placement no longer wants them, still to be removed. */
  extra: string[];
  /** Wanted replicas on nodes that did not answer. */
  unknown: string[];
}

export interface PlacementProgress {
  epoch: number;
  members: string[];
  /** Members that answered with an older member set than `epoch` (a node outside the set may never learn it). */
  behind: string[];
  /** Shards not yet on the placement of `members`. */
  moving: ShardProgress[];
}

/** Roles of a replica that votes in its group. */
const VOTING = new Set(['leader', 'follower', 'candidate']);

export function placementProgress(views: readonly NodeShardView[], o: ShardMapOptions): PlacementProgress | null {
  const answered = views.filter((v) => v.epoch !== null);
  if (answered.length === 0) return null;
  const newest = answered.reduce((a, b) => ((b.epoch as number) > (a.epoch as number) ? b : a));
  const epoch = newest.epoch as number;
  const members = [...newest.members];
  const map = ShardMap.build(members, o);
  const behind = answered.filter((v) => (v.epoch as number) < epoch && members.includes(v.id)).map((v) => v.id);
  const silent = new Set(views.filter((v) => v.epoch === null).map((v) => v.id));
  const hosts = new Map<number, Map<string, string>>();
  for (const v of answered) {
    for (const h of v.hosted) {
      let m = hosts.get(h.shard);
      if (m === undefined) hosts.set(h.shard, (m = new Map()));
      m.set(v.id, h.role);
    }
  }
  const moving: ShardProgress[] = [];
  for (let shard = 0; shard < o.shards; shard++) {
    const want = [...map.replicas(shard)];
    const here = hosts.get(shard) ?? new Map<string, string>();
    const voters = want.filter((n) => VOTING.has(here.get(n) ?? ''));
    const unknown = want.filter((n) => silent.has(n));
    const missing = want.filter((n) => !voters.includes(n) && !silent.has(n));
    const extra = [...here.keys()].filter((n) => !want.includes(n)).sort();
    if (missing.length + extra.length + unknown.length > 0) moving.push({ shard, want, voters, missing, extra, unknown });
  }
  return { epoch, members, behind, moving };
}

/** One line for people: what is still moving, at most `max` shards named. */
export function describeProgress(p: PlacementProgress, max = 4): string {
  const parts: string[] = [];
  if (p.behind.length > 0) parts.push(`${p.behind.join(', ')} ${p.behind.length === 1 ? 'has' : 'have'} not yet learned epoch ${p.epoch}`);
  if (p.moving.length === 0) return parts.length === 0 ? `every shard is on the placement of epoch ${p.epoch}` : parts.join('; ');
  const named = p.moving.slice(0, max).map((m) => {
    const what = [
      ...m.missing.map((n) => `+${n}`),
      ...m.extra.map((n) => `-${n}`),
      ...m.unknown.map((n) => `?${n}`),
    ];
    return `s${m.shard} ${what.join(' ')}`;
  });
  parts.push(`${p.moving.length} shard${p.moving.length === 1 ? '' : 's'} moving (${named.join(', ')}${p.moving.length > max ? ', …' : ''})`);
  return parts.join('; ');
}
