import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDocument } from 'yaml';
import { createProgram } from '../../src/cli/program.js';

/**
 * .github/workflows/swarm.yml and docs/swarm-job.yaml cannot run here (no GitHub runner, no
 * Kubernetes cluster), so this checks what can go wrong without them: both files parse as YAML,
 * the shard counts agree with each other, and every kv-lab command they run names a command of
 * this CLI with flags it accepts — a renamed flag fails here, not in the night's swarm.
 */
const C = suite('CI files: the swarm workflow and the Kubernetes job');
const root = join(import.meta.dirname, '..', '..');

function load(path: string): Record<string, unknown> {
  const doc = parseDocument(readFileSync(join(root, path), 'utf8'));
  assert.equal(doc.errors.map((e) => e.message), [], `${path} parses`);
  return doc.toJS() as Record<string, unknown>;
}

/** Each `npx kv-lab …` in a shell line, as words (quotes and shell expansions left as written). */
function kvLabCalls(script: string): string[][] {
  return [...script.matchAll(/npx kv-lab ([^|;&\n]*)/g)].map((m) => (m[1] as string).trim().split(/\s+/));
}

/** The subcommand the words name (null: none) and the flags it does not know. */
function unknownFlags(words: readonly string[]): { command: string | null; unknown: string[] } {
  const program = createProgram();
  let cmd: Command = program;
  let i = 0;
  for (; i < words.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === words[i]);
    if (sub === undefined) break;
    cmd = sub;
  }
  if (cmd === program) return { command: null, unknown: [] };
  const known = new Set(cmd.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined));
  const flags = words.slice(i).filter((w) => w.startsWith('-')).map((w) => w.split('=')[0] as string);
  return { command: cmd.name(), unknown: flags.filter((f) => !known.has(f)) };
}

C('swarm.yml: shards agree, every kv-lab command and flag exists', () => {
  const wf = load('.github/workflows/swarm.yml') as { jobs: Record<string, { env?: Record<string, unknown>; strategy?: { matrix?: { shard?: number[] } }; steps: { run?: string; uses?: string }[] }> };
  const shard = wf.jobs.shard;
  assert.ok(shard !== undefined && wf.jobs.merge !== undefined, 'a shard job and a merge job');
  const matrix = shard?.strategy?.matrix?.shard ?? [];
  assert.equal(matrix, Array.from({ length: matrix.length }, (_, k) => k + 1), 'shards 1..N');
  assert.is(Number(shard?.env?.SHARDS), matrix.length, 'SHARDS is the matrix\'s length');
  const calls = Object.values(wf.jobs).flatMap((j) => j.steps.flatMap((s) => kvLabCalls(s.run ?? '')));
  const commands = calls.map((w) => unknownFlags(w));
  assert.equal(commands.map((c) => c.command), ['swarm', 'merge']);
  for (const c of commands) assert.equal(c.unknown, [], `kv-lab ${c.command}: flags it does not accept`);
  // npm ci needs the lock file.
  assert.ok(existsSync(join(root, 'package-lock.json')), 'package-lock.json for npm ci');
});

C('swarm-job.yaml: an Indexed Job whose index names the shard, and a kv-lab swarm the CLI accepts', () => {
  const job = load('docs/swarm-job.yaml') as { kind: string; spec: { completionMode: string; completions: number; parallelism: number; template: { spec: { containers: { env: { name: string; value: string }[]; args: string[] }[] } } } };
  assert.is(job.kind, 'Job');
  assert.is(job.spec.completionMode, 'Indexed');
  const container = job.spec.template.spec.containers[0];
  const shards = Number(container?.env.find((e) => e.name === 'SHARDS')?.value);
  assert.is(job.spec.completions, shards, 'one completion per shard');
  const script = (container?.args ?? []).join('\n');
  assert.match(script, /--shard "\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)\/\$SHARDS"/, 'the completion index (from 0) names the shard (from 1)');
  const calls = kvLabCalls(script);
  assert.is(calls.length, 1);
  const c = unknownFlags(calls[0] as string[]);
  assert.is(c.command, 'swarm');
  assert.equal(c.unknown, []);
});

C('the check itself: an unknown flag or command is reported', () => {
  assert.equal(unknownFlags(['swarm', '--seeds', '1..2', '--shards', '1/2']).unknown, ['--shards']);
  assert.is(unknownFlags(['swam', '--seeds', '1..2']).command, null);
});

C.run();
