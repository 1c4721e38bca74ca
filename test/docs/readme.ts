import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';

/**
 * The README is tested: every shell block marked `sh check` in README.md and scenarios/README.md
 * is run, command by command, as a user would type it (from the repository's root, through
 * bash), and what it prints is held to what the README says:
 *
 * - A command's trailing comment may end with a claim after "→": `→ PASS`, `→ 10 of 10 seeds
 *   passed`, `→ exit 1: raft-safety FAIL`. The exit code must be the one claimed (0 when none is),
 *   and the text after it must appear in the output (runs of spaces count as one).
 * - A `sh check` block followed at once by a `text output` block: the last command's output must be
 *   that text, line for line, but for the wall-clock time (`wall 1.10s`), which no run repeats.
 *
 * The blocks of each README section are run by one test file (SECTIONS below says which), so that
 * each file stays under a minute; a test fails if a checked block belongs to no file.
 */

export const root = join(import.meta.dirname, '..', '..');

export interface Command {
  text: string;
  claim: { exit: number; fragment: string | null };
  line: number;
}

export interface CheckedBlock {
  file: string;
  section: string;
  line: number;
  commands: Command[];
  /** The `text output` block right after this one, if any. */
  output: { text: string; line: number } | null;
}

/**
 * Which test file runs which README sections (file → section headings; `commands`: only the
 * section's commands from..to, counted across its blocks, when a section is split over files).
 */
export const SECTIONS: Record<string, { readme: string; sections: string[]; commands?: [number, number] }> = {
  'try-it.test.ts': { readme: 'README.md', sections: ['Try it', 'Reading a run'] },
  'demos.test.ts': { readme: 'README.md', sections: ['The lab\'s demos'], commands: [0, 1] },
  'demos-2.test.ts': { readme: 'README.md', sections: ['The lab\'s demos'], commands: [1, 2] },
  'demos-anomalies.test.ts': { readme: 'README.md', sections: ['The lab\'s demos'], commands: [2, 100] },
  'real-cluster.test.ts': { readme: 'README.md', sections: ['Run a real cluster'] },
  'storage-rot.test.ts': { readme: 'README.md', sections: ['When a disk rots'], commands: [0, 2] },
  'storage-rot-2.test.ts': { readme: 'README.md', sections: ['When a disk rots'], commands: [2, 100] },
  'txn-check.test.ts': { readme: 'README.md', sections: ['Checking transactions'] },
  'real-run.test.ts': { readme: 'README.md', sections: ['The lab against real processes'] },
  'real-shards.test.ts': { readme: 'README.md', sections: ['A sharded cluster for real'], commands: [0, 9] },
  'real-shards-run.test.ts': { readme: 'README.md', sections: ['A sharded cluster for real'], commands: [9, 100] },
  'real-shards-grow.test.ts': { readme: 'README.md', sections: ['Growing and shrinking a sharded cluster'] },
  'real-shards-auth.test.ts': { readme: 'README.md', sections: ['Authentication on a sharded cluster'] },
  'real-shards-join.test.ts': { readme: 'README.md', sections: ['A node that joins a sharded cluster by gossip'] },
  'checker.test.ts': { readme: 'README.md', sections: ['The checker'] },
  'ring-gossip.test.ts': { readme: 'README.md', sections: ['Ring and gossip'] },
  'shards-lab.test.ts': { readme: 'README.md', sections: ['Shards (Multi-Raft)'] },
  'real-members.test.ts': { readme: 'README.md', sections: ['Growing and shrinking a cluster'] },
  'scenarios.test.ts': { readme: 'scenarios/README.md', sections: ['Running scenarios'] },
  'swarms.test.ts': { readme: 'scenarios/README.md', sections: ['Swarms, shards and shrinking'] },
  'benchmarks-1.test.ts': { readme: 'README.md', sections: ['Benchmarks'], commands: [0, 3] },
  'benchmarks-2.test.ts': { readme: 'README.md', sections: ['Benchmarks'], commands: [3, 5] },
  'benchmarks-3.test.ts': { readme: 'README.md', sections: ['Benchmarks'], commands: [5, 6] },
  'benchmarks-4.test.ts': { readme: 'README.md', sections: ['Benchmarks'], commands: [6, 7] },
  'benchmarks-5.test.ts': { readme: 'README.md', sections: ['Benchmarks'], commands: [7, 9] },
  'benchmarks-6.test.ts': { readme: 'README.md', sections: ['Benchmarks'], commands: [9, 100] },
};

/** Splits a command line into the command and its trailing comment (a # outside quotes, after a space). */
function splitComment(line: string): [string, string] {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && i > 0 && /\s/.test(line[i - 1] as string)) return [line.slice(0, i).trimEnd(), line.slice(i + 1).trim()];
  }
  return [line.trimEnd(), ''];
}

function parseClaim(comment: string): Command['claim'] {
  const arrow = comment.indexOf('→');
  if (arrow < 0) return { exit: 0, fragment: null };
  const text = comment.slice(arrow + 1).trim();
  const m = /^exit (\d+)(?::\s*(.*))?$/.exec(text);
  if (m !== null) return { exit: Number(m[1]), fragment: m[2] !== undefined && m[2] !== '' ? m[2] : null };
  return { exit: 0, fragment: text === '' ? null : text };
}

/** Every `sh check` block of a Markdown file, with its section (the nearest ## or ### heading). */
export function checkedBlocks(file: string): CheckedBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: CheckedBlock[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heading = /^#{2,3} (.*)$/.exec(line);
    if (heading !== null) section = (heading[1] as string).trim();
    const fence = /^```(\S*)\s*(.*)$/.exec(line);
    if (fence === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] as string).startsWith('```'); i++) body.push(lines[i] as string);
    if (fence[1] !== 'sh' || !/\bcheck\b/.test(fence[2] ?? '')) continue;
    const commands: Command[] = [];
    for (let j = 0; j < body.length; j++) {
      let text = body[j] as string;
      const at = start + j + 2;
      while (text.endsWith('\\') && j + 1 < body.length) text = text.slice(0, -1) + (body[++j] as string);
      const [command, comment] = splitComment(text);
      if (command.trim() === '') continue;
      commands.push({ text: command.trim(), claim: parseClaim(comment), line: at });
    }
    // A `text output` block right after (blank lines between are allowed).
    let k = i + 1;
    while (k < lines.length && (lines[k] as string).trim() === '') k++;
    let output: CheckedBlock['output'] = null;
    if (/^```text\s+output\b/.test(lines[k] ?? '')) {
      const out: string[] = [];
      for (k++; k < lines.length && !(lines[k] as string).startsWith('```'); k++) out.push(lines[k] as string);
      output = { text: out.join('\n'), line: k };
    }
    blocks.push({ file, section, line: start + 1, commands, output });
  }
  return blocks;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * Why a README test that starts a real cluster must leave this machine alone, or null: its
 * directory exists (a developer's cluster?) or one of its ports is taken. The README's commands
 * would act on what is there, so the test says why and skips rather than fail or harm it.
 */
/**
 * A README section that starts a real cluster in `dir` on `ports`, run as its test file's entry in
 * SECTIONS says: skipped, saying why, when the directory or a port is taken (a cluster of the
 * reader's own); whatever fails, the `cleanup` commands run (each cluster down) and `dir` goes.
 */
export async function runRealClusterSection(testFile: string, dir: string, ports: number[], cleanup: string[] = [`npx kv-lab cluster down --dir ${dir}`]): Promise<void> {
  const blocked = await realClusterBlocked(dir, ports);
  if (blocked !== null) {
    console.log(`skipped: ${blocked}`);
    return;
  }
  try {
    const own = SECTIONS[testFile];
    runSections('README.md', own?.sections ?? [], (l) => console.log(l), cleanup, own?.commands);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function realClusterBlocked(dir: string, ports: number[]): Promise<string | null> {
  if (existsSync(dir)) return `${dir} exists (a cluster of yours?); the README's commands would act on it`;
  const busy: number[] = [];
  for (const p of ports) if (!(await portFree(p))) busy.push(p);
  return busy.length > 0 ? `ports ${busy.join(', ')} are in use; the README's commands need them` : null;
}

/** Commands a test of the README cannot run, and why (printed when skipped). */
export function cannotRun(command: string): string | null {
  if (/\bnpm (install && npm )?test\b/.test(command)) return 'it is the test suite running this';
  if (/\bcurl\b/.test(command) && spawnSync('sh', ['-c', 'command -v curl']).status !== 0) return 'curl is not installed here';
  return null;
}

export interface Ran {
  code: number | null;
  out: string;
}

/** The environment commands run in: sources rather than a possibly stale dist/, a private CLI connection. */
export function commandEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'kv-lab-docs-'));
  // Where netcat is not installed (a fresh machine has none), the README's `nc -N host port`
  // lines run on a stand-in that does just that (test/docs/bin/nc), rather than being skipped
  // and leaving the lines after them to read keys that were never written.
  const ncMissing = spawnSync('sh', ['-c', 'command -v nc']).status !== 0;
  const path = ncMissing ? `${join(import.meta.dirname, 'bin')}:${process.env.PATH ?? ''}` : process.env.PATH;
  return { ...process.env, PATH: path, KV_LAB_FROM_SOURCE: '1', KV_LAB_CONNECTION: join(home, 'connection.json'), NO_COLOR: '1', FORCE_COLOR: '0' };
}

/** Runs one command as the README shows it: `npm install && ` in front is dropped (it has run). */
export function run(command: string, env: NodeJS.ProcessEnv, timeoutMs = 300_000): Ran {
  const text = command.replace(/^npm install && /, '');
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', text], { cwd: root, env, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error !== undefined ? `\n(${r.error.message})` : ''}` };
}

const squeeze = (s: string) => s.replace(/[ \t]+/g, ' ');

/** Holds a command's result to its claim; the message names the README line. */
export function checkClaim(block: CheckedBlock, c: Command, r: Ran): void {
  const where = `${block.file}:${c.line}: ${c.text}`;
  assert.is(r.code, c.claim.exit, `${where}\nexited ${r.code}, the README says ${c.claim.exit}\n${r.out.slice(-3000)}`);
  if (c.claim.fragment !== null) assert.ok(squeeze(r.out).includes(squeeze(c.claim.fragment)), `${where}\nthe README says it prints "${c.claim.fragment}"; it printed:\n${r.out.slice(-3000)}`);
}

/** Holds a command's output to the README's sample, line for line, wall time masked. */
export function checkOutput(block: CheckedBlock, r: Ran): void {
  const expected = block.output;
  if (expected === null) return;
  const mask = (s: string) => s.replace(/wall \d+\.\d+s/g, 'wall <t>s').trimEnd().split('\n').map((l) => l.trimEnd());
  assert.equal(mask(r.out), mask(expected.text), `${block.file}:${expected.line}: the sample output differs from what the command prints now`);
}

/**
 * Runs every checked block of the given sections, in README order, each command once; `after`
 * runs at the end whatever happened (to stop servers a failing sequence started).
 */
export function runSections(readme: string, sections: string[], log: (line: string) => void, after: string[] = [], commands: [number, number] = [0, Infinity], extraEnv: NodeJS.ProcessEnv = {}): void {
  const env = { ...commandEnv(), ...extraEnv };
  const blocks = checkedBlocks(readme).filter((b) => sections.includes(b.section));
  assert.ok(blocks.length > 0, `no \`sh check\` block in ${readme} sections ${sections.join(', ')}`);
  let n = 0;
  try {
    for (const block of blocks) {
      for (const [i, c] of block.commands.entries()) {
        const index = n++;
        if (index < commands[0] || index >= commands[1]) continue;
        const why = cannotRun(c.text);
        if (why !== null) {
          log(`skipped ${readme}:${c.line}: ${c.text} (${why})`);
          continue;
        }
        const r = run(c.text, env);
        checkClaim(block, c, r);
        if (i === block.commands.length - 1) checkOutput(block, r);
      }
    }
  } finally {
    for (const a of after) run(a, env, 60_000);
  }
}
