import type { Model } from './model.js';

/**
 * A key-value map: read, write, cas, delete and append on any key. A map is the product of its
 * keys' cells, so the checker checks each key on its own (P-compositionality); the cell's rules are
 * in model.ts.
 */
export const kvModel: Model = {
  name: 'kv',
  describe: 'a key-value map (read, write, cas, delete, append)',
  functions: ['read', 'write', 'cas', 'delete', 'append'],
};
