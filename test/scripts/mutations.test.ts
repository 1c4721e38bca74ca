import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

// The mutation catalogue of `npm run mutate` (scripts/mutations.yaml) must stay in step with the
// code it mutates: a mutation whose text no longer occurs exactly once would silently drop out of
// the score as "not applicable". This checks it in seconds; the tool itself runs for hours.

const root = join(import.meta.dirname, '..', '..');
interface Mutation {
  id: string;
  area: string;
  file: string;
  find: string;
  replace: string;
  bug: string;
  issue17?: boolean;
  scenarios?: string[];
}
const catalogue = parse(readFileSync(join(root, 'scripts', 'mutations.yaml'), 'utf8')) as {
  defaults: Record<string, { tests: string[]; scenarios: string[] }>;
  mutations: Mutation[];
};

test('at least 40 mutations, unique ids, across raft, raft-runtime, storage, node, frontdoor and check', () => {
  const ms = catalogue.mutations;
  assert.ok(ms.length >= 40, `${ms.length} mutations`);
  assert.is(new Set(ms.map((m) => m.id)).size, ms.length);
  for (const area of ['raft', 'raft-runtime', 'storage', 'node', 'frontdoor', 'check']) assert.ok(ms.some((m) => m.area === area), `no mutation of ${area}`);
});

test('every mutation applies to this tree: its text occurs exactly once, and changes something', () => {
  const problems: string[] = [];
  for (const m of catalogue.mutations) {
    const path = join(root, m.file);
    if (!existsSync(path)) {
      problems.push(`${m.id}: ${m.file} does not exist`);
      continue;
    }
    const n = readFileSync(path, 'utf8').split(m.find).length - 1;
    if (n !== 1) problems.push(`${m.id}: its text occurs ${n} times in ${m.file}`);
    if (m.find === m.replace) problems.push(`${m.id}: replace equals find`);
  }
  assert.equal(problems, []);
});

test('the scenarios and tests named exist; issue 17\'s misses name the scenarios that must catch them', () => {
  const missing: string[] = [];
  for (const d of Object.values(catalogue.defaults)) for (const f of d.scenarios) if (!existsSync(join(root, f))) missing.push(f);
  for (const m of catalogue.mutations) for (const f of m.scenarios ?? []) if (!existsSync(join(root, f))) missing.push(`${m.id}: ${f}`);
  assert.equal(missing, []);
  const issue = catalogue.mutations.filter((m) => m.issue17 === true);
  assert.ok(issue.length >= 9, `${issue.length} of issue 17's misses in the catalogue`);
  for (const m of issue) assert.ok((m.scenarios ?? []).length > 0, `${m.id} names its scenarios`);
});

test('a mutant whose runs do not finish in time is undecided, counted as not caught (a loaded machine once made three look caught)', () => {
  const env = { ...process.env, KV_LAB_MUTATE_TEST_TIMEOUT_MS: '1', KV_LAB_MUTATE_SCENARIO_TIMEOUT_MS: '1' };
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'mutate.mjs'), '--only', 'raft-ack-whole-log'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  assert.match(r.stdout, /\? TIMED OUT raft-ack-whole-log/, r.stdout + r.stderr);
  assert.match(r.stdout, /mutation score: 0 of 1 caught \(0\.0%\); 1 timed out, counted as not caught/, r.stdout);
});

test.run();
