import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHECKS, CRASH_MODES, ENGINES, FAULT_ALIASES, FAULT_KINDS, PRESETS, TINY_RAFT, TINY_STORAGE, WORKLOAD_KINDS } from '../../sim/scenario.js';
import { BUGS } from '../../src/node/bugs.js';
import { FAILPOINTS } from '../../src/util/failpoints.js';

// scenarios/README.md is the reference of the scenario format: every name a file may write must
// be there. Issue 17 found the tiny preset's sizes and a bug switch missing from it; this test
// fails as soon as a new fault kind, failpoint, preset field, check or bug switch lands in the
// code without its line in the README.
const readme = readFileSync(new URL('../../scenarios/README.md', import.meta.url), 'utf8');

/** The row of the fields table for one field: where its allowed values are listed. */
function fieldRow(field: string): string {
  const row = readme.split('\n').find((l) => l.startsWith(`| \`${field}\` |`));
  assert.ok(row !== undefined, `the fields table has a row for ${field}`);
  return row;
}

test('every fault kind (and alias) has its row in the faults table', () => {
  const faults = readme.slice(readme.indexOf('## Faults'), readme.indexOf('### Failpoints'));
  const firstCells = faults.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split(' | ')[0] ?? '');
  const kinds = [...FAULT_KINDS, ...FAULT_ALIASES].map(String);
  assert.equal(kinds.filter((k) => !firstCells.some((c) => c.includes(`\`${k}\``))), []);
});

test('every failpoint is in the failpoints table', () => {
  const table = readme.slice(readme.indexOf('### Failpoints'), readme.indexOf('### The tiny preset'));
  assert.equal(Object.keys(FAILPOINTS).filter((p) => !table.includes(`| \`${p}\``) && !table.includes(`, \`${p}\``)), []);
});

test('every preset, and every size the tiny preset sets', () => {
  assert.equal(PRESETS.filter((p) => !fieldRow('cluster.preset').includes(`\`${p}\``)), []);
  const fields = [...Object.keys(TINY_STORAGE.lsm), ...Object.keys(TINY_STORAGE.bitcask), ...Object.keys(TINY_RAFT)];
  assert.ok(fields.length > 20, 'the tiny preset sets its sizes');
  const section = readme.slice(readme.indexOf('### The tiny preset'), readme.indexOf('### The smallest Raft configuration'));
  assert.equal(fields.filter((f) => !section.includes(`\`${f}\``)), [], 'the tiny preset section names each size it sets');
});

test('the fields table lists every check, bug switch, engine, crash mode and workload kind', () => {
  const lists: [string, readonly string[]][] = [['checks', CHECKS], ['bugs', Object.keys(BUGS)], ['cluster.engine', ENGINES], ['disk.crash', CRASH_MODES], ['workload.kind', WORKLOAD_KINDS]];
  for (const [field, names] of lists) {
    const row = fieldRow(field);
    assert.equal(names.filter((n) => !row.includes(`\`${n}\``)), [], `the ${field} row lists them all`);
  }
});

test.run();
