import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkedBlocks, root, runSections, SECTIONS } from './readme.js';

// README.md's first commands, as a newcomer types them, and the sample run of "Reading a run",
// which must be exactly what the command prints (readme.ts says how claims are read).

test('every `sh check` block of the READMEs is run by one of the docs tests', () => {
  for (const readme of ['README.md', 'scenarios/README.md']) {
    const covered = new Set(Object.values(SECTIONS).filter((s) => s.readme === readme).flatMap((s) => s.sections));
    for (const b of checkedBlocks(readme)) assert.ok(covered.has(b.section), `${readme}:${b.line}: section "${b.section}" has a checked block that no test in test/docs runs`);
  }
});

test('README: Try it, and Reading a run', () => {
  try {
    runSections('README.md', SECTIONS['try-it.test.ts']?.sections ?? [], (l) => console.log(l));
  } finally {
    rmSync(join(root, 'timeline.html'), { force: true }); // what the README's check --html writes
  }
});

test.run();
