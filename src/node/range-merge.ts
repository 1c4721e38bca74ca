import type { Json } from '../util/json.js';
import { assert } from '../util/assert.js';
import { compareKeys } from '../storage/keys.js';
import type { ReadOp, Result } from './protocol.js';

// Shared by a gateway's range across shards (src/frontdoor/shard-scatter.ts) and a cross-shard
// transaction's range (shard-txn.ts): every shard is asked for the whole range with the same limit.

/**
 * One range's answers from every shard, merged in key order and cut to the limit. A part cut
 * short by its byte bound (`next`) is complete only up to that key, so the merged answer stops
 * there too and says `next` (forwards: the first key not given; reverse: the last key given).
 */
export function mergeRanges(op: Extract<ReadOp, { f: 'range' }>, results: readonly Result[]): Result {
  for (const r of results) if (!r.ok) return r;
  let cut: string | null = null;
  for (const r of results) {
    if (!r.ok || r.next === undefined) continue;
    if (cut === null || (op.reverse ? compareKeys(r.next, cut) > 0 : compareKeys(r.next, cut) < 0)) cut = r.next;
  }
  const all: [string, Json][] = [];
  for (const r of results) if (r.ok) for (const e of r.entries ?? []) if (cut === null || (op.reverse ? compareKeys(e[0], cut) >= 0 : compareKeys(e[0], cut) < 0)) all.push(e);
  all.sort((a, b) => compareKeys(a[0], b[0]));
  if (op.reverse) all.reverse();
  const entries = all.slice(0, op.limit);
  assert(entries.length <= op.limit, 'a merged range within its limit');
  // Cut to the limit: a complete answer of `limit` entries, as an unsharded range gives.
  if (cut !== null && all.length <= op.limit) return { ok: true, value: entries.length, entries, next: cut };
  return { ok: true, value: entries.length, entries };
}
