#!/usr/bin/env node
// Runs every uvu suite (test/**/*.test.ts), one child process per file so that suites cannot
// leak state into each other, as many at once as there are cores. Prints each file's result, the
// full output of a failing file, and last one line `N passed, N failed` with uvu's own totals.
//
// Usage: node test/run.mjs [substring …]   (only files whose path contains one of the substrings)
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const fileTimeoutMs = Number(process.env.KV_LAB_TEST_FILE_TIMEOUT_MS ?? 8 * 60_000);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = findTests(join(root, 'test')).filter(
  (f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)),
);

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', join(root, 'test', 'fast-check-seed.mjs'), file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[test/run.mjs] killed after ${fileTimeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ file, code, signal, output, ms: Date.now() - started });
    });
  });
}

function totals(output) {
  // uvu prints "  Total:     12" / "  Passed:    11" / "  Skipped:   0" once per process.
  const num = (label) => {
    const m = output.match(new RegExp(`${label}:\\s+(\\d+)`));
    return m ? Number(m[1]) : null;
  };
  return { total: num('Total'), passed: num('Passed'), skipped: num('Skipped') ?? 0 };
}

let passed = 0;
let failed = 0;
const queue = files.slice();
const workers = Math.max(1, Math.min(availableParallelism(), queue.length));

async function worker() {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const r = await runFile(file);
    const t = totals(r.output);
    const name = relative(root, r.file);
    if (t.total === null || t.passed === null) {
      failed += 1;
      console.log(`✗ ${name}: no totals (exit ${r.code ?? r.signal}), counted as 1 failure\n${r.output}`);
      continue;
    }
    const fileFailed = t.total - t.passed - t.skipped;
    passed += t.passed;
    failed += fileFailed + (fileFailed === 0 && r.code !== 0 ? 1 : 0);
    if (fileFailed > 0 || r.code !== 0) console.log(`✗ ${name} (${t.passed}/${t.total}, ${r.ms} ms)\n${r.output}`);
    else console.log(`✓ ${name} (${t.passed} tests, ${r.ms} ms)`);
  }
}

await Promise.all(Array.from({ length: workers }, worker));
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
