import { Command, CommanderError, Option } from 'commander';
import { createReadStream, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN, UsageError } from './errors.js';

/**
 * `kv-lab check <file.jsonl | dir>…`: checks recorded histories for linearizability. Several files
 * (a directory: every *.jsonl under it) are checked in one process; the exit code is the worst:
 * 1 (a violation) over 2 (bad input) over 3 (unknown) over 0 (all linearizable). Files are read
 * here and streamed into src/check, which opens nothing itself; the clock for --timeout and the
 * figures in milliseconds are read here too, never in src/check.
 */
export interface CheckFlags {
  model: 'kv' | 'register';
  html?: string;
  json?: boolean;
  timeout?: string;
}

export interface CheckIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CheckIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const EXIT_HELP = `
Exit codes: 0 linearizable, 1 not linearizable, 2 bad input, 3 unknown (the budget ran out);
for several files the worst, in the order 1, 2, 3, 0.
Each --json line: {"file", "verdict": "ok"|"violation"|"unknown"|"invalid", "opCount", "keyCount",
"ms", "failingKeys": [{"key", "verdict", "explanation": {"minimal", "failingLine", "prefixShortest", "ops",
"text"}}], "error"}.`;

function configure(command: Command): Command {
  return command
    .description('check recorded histories (JSON Lines, see src/check/HISTORY.md) for linearizability')
    .argument('<paths...>', 'history files (*.jsonl) or directories holding them')
    .addOption(new Option('--model <model>', 'the object the history is of').choices(['kv', 'register']).default('kv'))
    .option('--html <file>', 'also write one self-contained HTML page showing the failing operations')
    .option('--json', 'print one JSON object per file, one per line')
    .option('--timeout <seconds>', 'give up on a file after this long: verdict unknown')
    .addHelpText('after', EXIT_HELP);
}

export function registerCheckCommand(program: Command): void {
  configure(program.command('check')).action(async (paths: string[], flags: CheckFlags) => {
    process.exitCode = await checkPaths(paths, flags, processIo);
  });
}

/** The command on its own, for check-main.ts and tests: parses args, returns the exit code. */
export async function runCheckCommand(args: readonly string[], io: CheckIo = processIo): Promise<number> {
  let code = EXIT_OK;
  const command = configure(new Command('check'))
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .action(async (paths: string[], flags: CheckFlags) => {
      code = await checkPaths(paths, flags, io);
    });
  try {
    await command.parseAsync(args as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
    throw e;
  }
  return code;
}

/** Worst first: a violation is the finding that matters most, then input we could not read. */
const SEVERITY = [EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNKNOWN, EXIT_OK];

export function worstExitCode(codes: readonly number[]): number {
  for (const code of SEVERITY) if (codes.includes(code)) return code;
  return EXIT_OK;
}

export async function checkPaths(paths: readonly string[], flags: CheckFlags, io: CheckIo): Promise<number> {
  let timeoutMs: number | undefined;
  let files: string[];
  try {
    timeoutMs = parseTimeout(flags.timeout);
    files = expandPaths(paths);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`kv-lab check: ${e.message}\n`);
    return EXIT_BAD_INPUT;
  }
  const check = await import('../check/index.js');
  const { renderHtml } = await import('../check/render-html.js');
  const codes: number[] = [];
  const reports: { history: import('../check/index.js').History; result: import('../check/index.js').LinearizabilityResult }[] = [];
  for (const file of files) {
    const started = performance.now();
    let history: import('../check/index.js').History;
    try {
      history = await check.parseHistoryLines(readLines(file), file);
      const result = await checkOne(history, flags.model, started, timeoutMs);
      const ms = Math.round(performance.now() - started);
      reports.push({ history, result });
      codes.push(result.verdict === 'ok' ? EXIT_OK : result.verdict === 'violation' ? EXIT_FAILED : EXIT_UNKNOWN);
      io.out(flags.json ? `${JSON.stringify(jsonLine(file, result, ms, check.renderKeyResult))}\n` : `${check.renderResult(result)}\n  checked in ${ms} ms\n`);
    } catch (e) {
      if (!(e instanceof check.HistoryError) && !isFileError(e)) throw e;
      const message = e instanceof check.HistoryError ? e.message : `${file}: ${(e as Error).message}`;
      codes.push(EXIT_BAD_INPUT);
      if (flags.json) io.out(`${JSON.stringify({ file, verdict: 'invalid', error: message })}\n`);
      else io.err(`kv-lab check: ${message}\n`);
    }
  }
  if (flags.html !== undefined) writeFileSync(flags.html, renderHtml(reports));
  return worstExitCode(codes);
}

/** Histories at least this large, over several keys, are checked on worker threads. */
const PARALLEL_OPS_MIN = 200_000;

async function checkOne(history: import('../check/index.js').History, model: CheckFlags['model'], startedMs: number,
  timeoutMs: number | undefined): Promise<import('../check/index.js').LinearizabilityResult> {
  const check = await import('../check/index.js');
  const keys = new Set(history.ops.map((op) => op.key)).size;
  if (history.ops.length < PARALLEL_OPS_MIN || keys < 2) {
    const deadline = timeoutMs === undefined ? undefined : () => performance.now() - startedMs > timeoutMs;
    return check.checkHistory(history, { model, deadline });
  }
  const { checkHistoryParallel } = await import('../check/parallel.js');
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const timer = timeoutMs === undefined ? undefined
    : setTimeout(() => Atomics.store(cancel, 0, 1), Math.max(0, timeoutMs - (performance.now() - startedMs)));
  try {
    return await checkHistoryParallel(history, { model, workers: Math.min(availableParallelism(), 4), cancel });
  } finally {
    clearTimeout(timer);
  }
}

function jsonLine(file: string, result: import('../check/index.js').LinearizabilityResult, ms: number,
  renderKey: typeof import('../check/index.js').renderKeyResult): object {
  return {
    file,
    verdict: result.verdict,
    opCount: result.opCount,
    keyCount: result.keyCount,
    ms,
    failingKeys: result.keys.map((k) => ({
      key: k.key,
      verdict: k.verdict,
      ...(k.unknownReason === undefined ? {} : { unknownReason: k.unknownReason }),
      ...(k.explanation === undefined ? {} : {
        explanation: {
          minimal: k.explanation.minimal,
          failingLine: k.explanation.failingLine,
          prefixShortest: k.explanation.prefixShortest,
          ops: k.explanation.ops.map((op) => ({ id: op.id, process: op.process, f: op.f, input: op.input,
            output: op.output, status: op.status, callLine: op.callLine, returnLine: op.returnLine })),
          text: renderKey(k, result),
        },
      }),
    })),
  };
}

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!(Number.isFinite(seconds) && seconds > 0)) throw new UsageError(`--timeout expects a positive number of seconds, got ${JSON.stringify(text)}`);
  return seconds * 1000;
}

/** Files as given; directories become their *.jsonl files, recursively, in sorted order. */
export function expandPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.jsonl')) out.push(path);
    }
  };
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new UsageError(`${path}: no such file or directory`);
    }
    if (isDir) {
      const before = out.length;
      walk(path);
      if (out.length === before) throw new UsageError(`${path}: no *.jsonl files in this directory`);
    } else {
      out.push(path);
    }
  }
  return out;
}

function readLines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Number.POSITIVE_INFINITY });
}

function isFileError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).syscall !== undefined;
}
