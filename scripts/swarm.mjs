#!/usr/bin/env node
// npm run swarm [-- --seeds 1..200] [--jobs N] [--protocol line|http|native] [file-or-dir …]
//
// Runs every scenario (default: scenarios/raft and scenarios/primary, plus the top-level ones) over
// a range of seeds, one `kv-lab run --json` process per scenario and slice of seeds, as many at once
// as there are cores. Prints each scenario's pass count and, for each failing seed, the command that
// reproduces it. Exit 1 if any seed failed. Too long for `npm test`: this is the swarm the issues
// ask for ("every shipped raft scenario passes its 200 seeds"). --protocol runs every scenario's
// clients over that protocol, whatever the files say (kv-lab run --protocol).
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const seeds = flag('--seeds', '1..200');
const jobs = Number(flag('--jobs', String(availableParallelism())));
const protocol = flag('--protocol', undefined);
if (protocol !== undefined && !['line', 'http', 'native'].includes(protocol)) {
  console.error(`swarm: --protocol expects line, http or native, got ${protocol}`);
  process.exit(2);
}
const m = /^(\d+)\.\.(\d+)$/.exec(seeds);
if (!m) {
  console.error(`swarm: --seeds expects a range such as 1..200, got ${seeds}`);
  process.exit(2);
}
const [first, last] = [Number(m[1]), Number(m[2])];
const targets = args.length > 0 ? args : ['scenarios/raft', 'scenarios/primary', 'scenarios'];

function yamlFiles(path, recurse) {
  const abs = join(root, path);
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs)
    .sort()
    .flatMap((n) => {
      const p = join(path, n);
      if (statSync(join(root, p)).isDirectory()) return recurse ? yamlFiles(p, true) : [];
      return n.endsWith('.yaml') ? [p] : [];
    });
}
// Directories named on the command line are read recursively, except the top-level default
// (whose bugs/ folder holds scenarios that are meant to fail).
const files = [...new Set(targets.flatMap((t) => yamlFiles(t, args.length > 0)))];
const sliceSize = Math.max(1, Math.ceil((last - first + 1) / Math.max(1, Math.floor((jobs * 4) / Math.max(1, files.length)) || 1)));
const tasks = [];
for (const f of files) for (let a = first; a <= last; a += sliceSize) tasks.push({ file: f, a, b: Math.min(last, a + sliceSize - 1) });

const results = new Map(files.map((f) => [f, { passed: 0, failed: [], ms: 0 }]));
const started = Date.now();
async function worker() {
  for (let t = tasks.shift(); t !== undefined; t = tasks.shift()) {
    const out = await new Promise((resolve) => {
      const child = spawn(process.execPath, [join(root, 'bin/kv-lab.js'), 'run', t.file, '--seeds', `${t.a}..${t.b}`, '--json', '--no-out', ...(protocol !== undefined ? ['--protocol', protocol] : [])], { cwd: root });
      let text = '';
      let err = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => resolve({ code, text, err }));
    });
    const r = results.get(t.file);
    try {
      const parsed = JSON.parse(out.text);
      const runs = parsed.runs ?? [parsed];
      for (const run of runs) {
        r.ms += run.wallMs;
        if (run.passed) r.passed++;
        else r.failed.push(run.reproduce);
      }
    } catch {
      r.failed.push(`${t.file} seeds ${t.a}..${t.b}: exit ${out.code}: ${out.err.trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
}
await Promise.all(Array.from({ length: jobs }, worker));
let failed = 0;
for (const [file, r] of results) {
  failed += r.failed.length;
  console.log(`${r.failed.length === 0 ? 'pass' : 'FAIL'}  ${relative('.', file).padEnd(44)} ${r.passed}/${last - first + 1} seeds  ${(r.ms / 1000).toFixed(0)}s of runs`);
  for (const f of r.failed.slice(0, 10)) console.log(`        ${f}`);
}
console.log(`\n${files.length} scenarios × ${last - first + 1} seeds in ${((Date.now() - started) / 1000).toFixed(0)}s wall; ${failed} failing seed(s)`);
process.exitCode = failed > 0 ? 1 : 0;
