import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CATALOG_BYTES_MAX, CATALOG_ENTRIES_MAX, catalogProblem } from '../../src/node/shard-catalog.js';
import { CATALOG_VERSION_KEY, CREDENTIAL_EPOCH_KEY, dbKey, MEMBER_SET_KEY, userKey } from '../../src/node/keyspace.js';

// A pushed catalog (src/node/shard-catalog.ts) comes from a member, but is bounded and checked
// before it replaces a node's users: catalog keys only, each once, strings, within the counts.

test('a well-formed catalog passes; every malformed one is refused with the reason', () => {
  const good = { version: 3, entries: [[userKey('ann'), '{"hash":"h","grants":{},"epoch":1}'], [dbKey('shop'), '1'], [CATALOG_VERSION_KEY, '3'], [CREDENTIAL_EPOCH_KEY, '1']] };
  assert.is(catalogProblem(good), null);
  assert.match(catalogProblem({ ...good, version: -1 }) ?? '', /version/);
  assert.match(catalogProblem({ ...good, version: 1.5 }) ?? '', /version/);
  assert.match(catalogProblem({ ...good, entries: 'x' }) ?? '', /list/);
  assert.match(catalogProblem({ ...good, entries: [[MEMBER_SET_KEY, '{}']] }) ?? '', /not a catalog key/, 'the member set is not the catalog');
  assert.match(catalogProblem({ ...good, entries: [['\x00\x00k', 'v']] }) ?? '', /not a catalog key/, 'data keys are not');
  assert.match(catalogProblem({ ...good, entries: [[dbKey('a'), '1'], [dbKey('a'), '1']] }) ?? '', /twice/);
  assert.match(catalogProblem({ ...good, entries: [[dbKey('a'), 1]] }) ?? '', /strings/);
  const many = Array.from({ length: CATALOG_ENTRIES_MAX + 1 }, (_, i) => [dbKey(`d${i}`), '1']);
  assert.match(catalogProblem({ ...good, entries: many }) ?? '', /at most/);
  const big = [[userKey('ann'), 'x'.repeat(CATALOG_BYTES_MAX)]];
  assert.match(catalogProblem({ ...good, entries: big }) ?? '', /characters/);
});

test.run();
