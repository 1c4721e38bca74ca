import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// The seams rule: outside src/env/real, src/api and src/cli, code under src/ reaches time, files,
// network and randomness only through the Env, so the simulator controls all of it. The scan is
// textual on purpose (it also catches a forbidden name in a string passed to a dynamic import).

const root = join(import.meta.dirname, '..');
const ALLOWED = ['src/env/real/', 'src/api/', 'src/cli/'];

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, 'Date (use env.clock.wallMs)'],
  [/\bMath\.random\b/, 'Math.random (use env.rng)'],
  [/\bperformance\.now\b/, 'performance.now (use env.clock)'],
  [/\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval)\b/, 'real timers (use env.clock.timer)'],
  [/\bprocess\.hrtime\b/, 'process.hrtime (use env.clock)'],
  [/\b(randomBytes|randomUUID|randomInt|getRandomValues|randomFill)\b/, 'crypto randomness (use env.rng)'],
  [/['"](node:)?(fs|fs\/promises|net|http|https|http2|dgram|tls)['"]/, 'a real I/O module (use env.disk / env.net)'],
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

export function violations(files: { path: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { path, text } of files) {
    if (ALLOWED.some((a) => path.startsWith(a))) continue;
    text.split('\n').forEach((line, i) => {
      for (const [re, what] of FORBIDDEN) if (re.test(line)) found.push(`${path}:${i + 1}: ${what}: ${line.trim()}`);
    });
  }
  return found;
}

test('no code under src/ outside env/real, api and cli touches the real world', () => {
  const files = sources(join(root, 'src')).map((p) => ({ path: relative(root, p), text: readFileSync(p, 'utf8') }));
  assert.ok(files.length > 10, 'the scan found the sources');
  const found = violations(files);
  assert.equal(found, [], `seam violations:\n${found.join('\n')}`);
});

test('the scan catches each forbidden use', () => {
  const samples = [
    'const t = Date.now();',
    'const r = Math.random();',
    'performance.now()',
    'setTimeout(f, 1)',
    'process.hrtime.bigint()',
    "import { randomBytes } from 'node:crypto';",
    "import * as fs from 'node:fs';",
    "import net from 'net';",
    "import http from 'node:http';",
    "import dgram from 'node:dgram';",
  ];
  for (const text of samples) {
    assert.is(violations([{ path: 'src/node/x.ts', text }]).length, 1, `not caught: ${text}`);
    assert.is(violations([{ path: 'src/env/real/x.ts', text }]).length, 0, `allowed place flagged: ${text}`);
  }
});

test.run();
