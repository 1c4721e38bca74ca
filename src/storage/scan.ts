import { assert } from '../util/assert.js';
import { compareKeys } from './keys.js';
import type { BTreeView } from './util/btree.js';

/**
 * A range scan over an ordered in-memory map (the memory engine's, Bitcask's keydir), turning each
 * stored value into the scan's value with `resolve` (null: skip the entry). The contract's range:
 * start <= key < end, ascending, or descending from the end when reverse.
 */
export function scanTree<V>(
  tree: BTreeView<string, V>,
  start: string,
  end: string | null,
  limit: number,
  reverse: boolean,
  resolve: (key: string, stored: V) => string | null,
): [string, string][] {
  const out: [string, string][] = [];
  if (limit === 0 || (end !== null && compareKeys(start, end) >= 0)) return out;
  const c = tree.cursor();
  if (!reverse) {
    c.seekGE(start);
    for (; c.valid() && out.length < limit; c.next()) {
      const k = c.key();
      if (end !== null && compareKeys(k, end) >= 0) break;
      const v = resolve(k, c.value());
      if (v !== null) out.push([k, v]);
    }
  } else {
    if (end === null) c.seekLast();
    else c.seekLT(end);
    for (; c.valid() && out.length < limit; c.prev()) {
      const k = c.key();
      if (compareKeys(k, start) < 0) break;
      const v = resolve(k, c.value());
      if (v !== null) out.push([k, v]);
    }
  }
  assert(out.length <= limit, 'scanTree: returned more than the limit');
  return out;
}
