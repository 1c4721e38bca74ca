import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BUGS } from '../../../src/node/bugs.js';
import { SHRINK_CASES, type ShrinkCase } from './cases.js';

/**
 * Issue 22's promise, kept by the files shrink-1..11: `kv-lab shrink` takes every bug switch's
 * failing seed to a scenario of at most 3 faults that still fails. This file checks that none is
 * left out (a new switch needs a case) and that no case asks for less.
 */
const A = suite('kv-lab shrink: every bug switch has a case');

A('every switch of src/node/bugs.ts is shrunk to ≤ 3 faults in some shrink-N.test.ts', () => {
  const cases: ShrinkCase[] = Object.values(SHRINK_CASES).flat();
  const missing = Object.keys(BUGS).filter((b) => !cases.some((c) => c.bug === b));
  assert.equal(missing, [], `no shrink case for ${missing.join(', ')}`);
  const loose = cases.filter((c) => c.faultsMax > 3).map((c) => `${c.name ?? c.bug}: ≤ ${c.faultsMax}`);
  assert.equal(loose, [], 'bounds above 3 faults');
});

A.run();
