import { Command, CommanderError } from 'commander';
import { EXIT_BAD_INPUT, UsageError } from '../../src/cli/errors.js';
import { createProgram } from '../../src/cli/program.js';
import type { Run } from '../host/helpers.js';

// Runs kv-lab commands inside the test process, with the error handling of src/cli/main.ts, and
// captures what they print and the exit code they set. A command costs milliseconds here instead
// of a process start, so the CLI's many cases fit in a test file that stays well under a minute
// on a busy machine; real-process tests (cluster.test.ts, serve.test.ts) cover the binary itself.
//
// Only for commands that do not start servers or child processes: client commands against a
// running node, and the usage errors of serve and cluster (refused before anything starts).

let busy = false;

export async function runInProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  if (busy) throw new Error('runInProcess is not reentrant: await each command');
  busy = true;
  const saved = { out: process.stdout.write, err: process.stderr.write, env: { ...process.env }, exitCode: process.exitCode };
  let stdout = '';
  let stderr = '';
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  Object.assign(process.env, env);
  process.exitCode = undefined;
  let code: number;
  try {
    const program = createProgram();
    // Commander keeps a subcommand's exitOverride from the program only if set before parsing.
    for (const c of allCommands(program)) c.exitOverride();
    try {
      await program.parseAsync(['node', 'kv-lab', ...args]);
      code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    } catch (err) {
      if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
      else if (err instanceof UsageError) {
        stderr += `kv-lab: ${err.message}\n`;
        code = EXIT_BAD_INPUT;
      } else throw err;
    }
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    for (const k of Object.keys(env)) {
      if (saved.env[k] === undefined) delete process.env[k];
      else process.env[k] = saved.env[k];
    }
    process.exitCode = saved.exitCode;
    busy = false;
  }
  return { code, stdout, stderr };
}

function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap((s) => allCommands(s as Command))];
}
