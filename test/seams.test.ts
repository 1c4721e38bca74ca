import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// The seams rule: outside src/env/real, src/host and src/cli, code under src/ reaches time, files,
// network and randomness only through the Env, so the simulator controls all of it. The scan is
// textual on purpose: it also catches a forbidden name in a comment or a string.

const root = join(import.meta.dirname, '..');
const ALLOWED = ['src/env/real/', 'src/host/', 'src/cli/'];

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, 'Date (use env.clock.wallMs)'],
  [/\bMath\.random\b/, 'Math.random (use env.rng)'],
  [/\bperformance\.now\b/, 'performance.now (use env.clock)'],
  [/\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval)\b/, 'real timers (use env.clock.timer)'],
  [/\bprocess\.hrtime\b/, 'process.hrtime (use env.clock)'],
  // A microtask runs when the JavaScript stack empties: in the simulator that is after the whole
  // slice of events the scheduler is running, so it would escape virtual time.
  [/\b(queueMicrotask|process\.nextTick)\b/, 'a microtask (use env.clock.defer)'],
  [/\bprocess\.(pid|memoryUsage|cpuUsage|uptime|exit|kill)\b/, 'the real process (only the host knows it)'],
  [/\bfetch\s*\(/, 'a real HTTP request (use a Dialer and src/client)'],
  [/\b(randomBytes|randomUUID|randomInt|getRandomValues|randomFill)\b/, 'crypto randomness (use env.rng)'],
  // An import of a real I/O module (bare or node:-prefixed), or its node: name anywhere (as in a
  // string handed to a dynamic import); a plain 'http' is a word the front door uses as data.
  [/(\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"](node:)?(fs|fs\/promises|net|http|https|http2|dgram|tls)['"]|['"]node:(fs|fs\/promises|net|http|https|http2|dgram|tls)['"]/, 'a real I/O module (use env.disk / env.net / a Stream)'],
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

test('no code under src/ outside env/real, host and cli touches the real world', () => {
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
    "const m = await import('node:fs');",
    'queueMicrotask(() => flush());',
    'process.nextTick(f)',
    'const rss = process.memoryUsage.rss();',
    "const res = await fetch('http://x/');",
  ];
  for (const text of samples) {
    assert.is(violations([{ path: 'src/node/x.ts', text }]).length, 1, `not caught: ${text}`);
    assert.is(violations([{ path: 'src/env/real/x.ts', text }]).length, 0, `allowed place flagged: ${text}`);
  }
});

test.run();
