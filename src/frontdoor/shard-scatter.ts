import type { ShardMap } from '../cluster/placement/shard-map.js';
import type { Json } from '../util/json.js';
import { assert } from '../util/assert.js';
import { compareKeys } from '../storage/keys.js';
import type { Result, WriteOp } from '../node/protocol.js';

export { mergeRanges } from '../node/range-merge.js';

/**
 * How a gateway serves the requests of a sharded cluster that touch more than one shard: it
 * splits them into one request per shard, sends each down the ordinary path (local node, or
 * forwarded to the shard's leader), and puts the answers together here. Pure.
 *
 * - RANGE: keys are hashed onto shards, so every shard may hold keys of any range: each shard is
 *   asked for the whole range with the same limit, and the answers are merged in key order (or
 *   reverse order) and cut to the limit. Each part is linearizable on its own shard; the merged
 *   range is not one atomic snapshot of the whole keyspace (no cross-shard read timestamp yet).
 * - BATCHPUT: one batch per shard, each atomic within its shard (one Raft entry), in no
 *   particular order across shards. A batch across shards is therefore NOT atomic: when some
 *   parts fail and others are applied, the answer says so (`internal`, outcome partial).
 */

/** The batch's operations grouped by shard, each group in the batch's order; shards ascending. */
export function splitBatch(map: ShardMap, db: string, ops: readonly WriteOp[]): { shard: number; ops: WriteOp[]; lastIndex: number }[] {
  const byShard = new Map<number, { shard: number; ops: WriteOp[]; lastIndex: number }>();
  ops.forEach((op, i) => {
    const shard = map.shardOf(db, op.key);
    let part = byShard.get(shard);
    if (part === undefined) byShard.set(shard, (part = { shard, ops: [], lastIndex: i }));
    part.ops.push(op);
    part.lastIndex = i;
  });
  return [...byShard.values()].sort((a, b) => a.shard - b.shard);
}

/**
 * The answer to a batch split across shards: every part ok → the answer of the part holding the
 * batch's last operation (an unsplit batch answers its last operation's result); every part
 * failed → the failure of the part with the earliest operation; some of each → `internal`, naming
 * what was applied and what was not.
 */
export function mergeBatch(parts: readonly { shard: number; lastIndex: number; result: Result }[]): Result {
  assert(parts.length > 0, 'mergeBatch of no parts');
  const failed = parts.filter((p) => !p.result.ok);
  if (failed.length === 0) return [...parts].sort((a, b) => b.lastIndex - a.lastIndex)[0]!.result;
  if (failed.length === parts.length) return [...failed].sort((a, b) => a.lastIndex - b.lastIndex)[0]!.result;
  const applied = parts.filter((p) => p.result.ok).map((p) => p.shard);
  const why = failed.map((p) => `shard ${p.shard}: ${p.result.ok ? '' : `${p.result.code} (${p.result.message})`}`).join('; ');
  return { ok: false, code: 'internal', message: `the batch spans shards and is atomic only within each: the parts in shard(s) ${applied.join(', ')} were applied, the others failed — ${why}` };
}

