import { Command, CommanderError, Option } from 'commander';
import { createReadStream, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { FileMessage, FileTask } from '../check/check-file.js';
import type { HistoryFormat } from '../check/formats.js';
import type { LinearizabilityResult } from '../check/index.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN, UsageError } from './errors.js';

/**
 * `kv-lab check <file | dir>…`: checks recorded histories for linearizability — this project's
 * JSON Lines, Jepsen's history.edn or its old text logs (told apart by content, or --format).
 * Each file's verdict is printed as soon as it is known, its explanation after, within its own
 * budget (--explain-budget seconds; --no-explain skips it). Several files are checked on worker
 * threads, one file per thread, and printed in the order given; a single file large enough is
 * checked key-parallel instead. The exit code is the worst: 1 (a violation) over 2 (bad input)
 * over 3 (unknown) over 0 (all linearizable). Files, clocks and timers live here, never in
 * src/check: the workers get the text and shared flags that end deciding and explaining.
 */
export interface CheckFlags {
  model: 'kv' | 'register' | 'txn';
  consistency?: string;
  format: HistoryFormat | 'auto';
  html?: string;
  json?: boolean;
  timeout?: string;
  explainBudget: string;
  explain: boolean;
  jobs?: string;
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
--model txn checks transactions ("f": "txn", src/check/HISTORY.md) for the isolation anomalies
--consistency forbids (default strict-serializable): 0 no forbidden anomaly, 1 one at least,
2 bad input, 3 unknown (the cycle search's budget ran out); files are checked one after the other
in this thread (--timeout, --explain-budget and --jobs are for linearizability). Each --json line: {"file", "verdict",
"consistency", "txnCount", "okCount", "failCount", "infoCount", "keyCount", "edgeCount", "counts",
"forbiddenFound", "anomalies": [{"class", "forbidden", "txns", "text", "cycle", "cycleLength", "transactions"}],
"notes", "ms", "error"}.
Each --json line: {"file", "verdict": "ok"|"violation"|"unknown"|"invalid", "opCount", "keyCount",
"verdictMs", "ms", "steps", "verdictSteps", "explaining": {"steps", "stepsMax", "stoppedEarly"} | null,
"failingKeys": [{"key", "verdict", "unknownReason", "unexplained", "explanation": {"minimal",
"failingLine", "prefixShortest", "ops", "text"}}], "error"}.`;

/** The explaining budget when not given: a few seconds, whatever the history. */
export const EXPLAIN_BUDGET_SECONDS_DEFAULT = 2;

function configure(command: Command): Command {
  return command
    .description('check recorded histories (JSON Lines, Jepsen history.edn or Jepsen logs) for linearizability, or their transactions (--model txn) for isolation anomalies')
    .argument('<paths...>', 'history files, or directories of them (*.jsonl, *.edn, *.log)')
    .addOption(new Option('--model <model>', 'the object the history is of; txn: transactions, checked for isolation anomalies')
      .choices(['kv', 'register', 'txn']).default('kv'))
    .addOption(new Option('--consistency <model>', 'with --model txn: the isolation level the history must satisfy (default strict-serializable)')
      .choices(['strict-serializable', 'serializable', 'snapshot-isolation', 'read-committed']))
    .addOption(new Option('--format <format>', 'the files\' format; auto tells it from their first lines')
      .choices(['auto', 'jsonl', 'edn', 'jepsen-log']).default('auto'))
    .option('--html <file>', 'also write one self-contained HTML page with each history\'s timeline')
    .option('--json', 'print one JSON object per file, one per line')
    .option('--timeout <seconds>', 'give up deciding a file after this long: verdict unknown')
    .option('--explain-budget <seconds>', 'time for explaining a file\'s violation, after its verdict', String(EXPLAIN_BUDGET_SECONDS_DEFAULT))
    .option('--no-explain', 'print verdicts only')
    .option('--jobs <n>', 'files checked at once on worker threads (default: the cores, at most 4)')
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

interface Settings {
  readonly timeoutMs: number | undefined;
  readonly explainMs: number;
  readonly jobs: number;
}

export async function checkPaths(paths: readonly string[], flags: CheckFlags, io: CheckIo): Promise<number> {
  let settings: Settings;
  let files: string[];
  try {
    settings = {
      timeoutMs: flags.timeout === undefined ? undefined : seconds('--timeout', flags.timeout),
      explainMs: seconds('--explain-budget', flags.explainBudget),
      jobs: flags.jobs === undefined ? Math.min(availableParallelism(), 4) : count('--jobs', flags.jobs),
    };
    files = expandPaths(paths);
    if (flags.consistency !== undefined && flags.model !== 'txn') {
      throw new UsageError(`--consistency is for transactional histories: add --model txn (the ${flags.model} model checks linearizability)`);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`kv-lab check: ${e.message}\n`);
    return EXIT_BAD_INPUT;
  }
  if (flags.model === 'txn') {
    const { checkTxnFiles } = await import('./check-txn.js');
    return checkTxnFiles(files, { ...flags, model: 'txn' }, io);
  }
  const render = await import('../check/render-text.js');
  const linearizable = { ...flags, model: flags.model };
  const printer = new Printer(files, linearizable, io, render);
  if (files.length === 1) await checkOneFile(files[0] as string, linearizable, settings, printer);
  else await checkOnWorkers(files, linearizable, settings, printer);
  if (flags.html !== undefined) {
    const { renderHtmlPage } = await import('../check/render-html.js');
    writeFileSync(flags.html, renderHtmlPage(printer.htmlSections()));
  }
  return worstExitCode(printer.codes());
}

/** The flags of a linearizability check (--model kv or register). */
type LinearizabilityFlags = CheckFlags & { model: 'kv' | 'register' };

/** What is known of a file so far, and what was printed. */
interface FileState {
  startedMs: number;
  verdictMs?: number;
  verdictLine?: string;
  verdictPrinted: boolean;
  finished: boolean;
  code: number;
  html: string | null;
  rest?: string;
}

/**
 * Prints the files in the order given: a file's verdict line as soon as every earlier file is
 * done, then its explanation; with --json one line per file once it is done.
 */
class Printer {
  private readonly states: FileState[];
  private next = 0;

  constructor(private readonly files: readonly string[], private readonly flags: LinearizabilityFlags, private readonly io: CheckIo,
    private readonly render: typeof import('../check/render-text.js')) {
    this.states = files.map(() => ({ startedMs: 0, verdictPrinted: false, finished: false, code: EXIT_OK, html: null }));
  }

  started(index: number): void {
    (this.states[index] as FileState).startedMs = performance.now();
  }

  /** Synchronous: a check in this thread calls it between deciding and explaining. */
  decided(index: number, message: { verdict: LinearizabilityResult['verdict']; opCount: number; keyCount: number }): void {
    const state = this.states[index] as FileState;
    state.verdictMs = performance.now() - state.startedMs;
    state.verdictLine = `${this.render.renderVerdict({ source: this.files[index] as string, ...message })} — verdict in ${Math.round(state.verdictMs)} ms\n`;
    this.flush();
  }

  done(index: number, result: LinearizabilityResult, html: string | null): void {
    const state = this.states[index] as FileState;
    const ms = performance.now() - state.startedMs;
    const verdictMs = state.verdictMs ?? ms;
    const check = this.render;
    state.code = result.verdict === 'ok' ? EXIT_OK : result.verdict === 'violation' ? EXIT_FAILED : EXIT_UNKNOWN;
    state.html = html;
    if (this.flags.json) {
      state.rest = `${JSON.stringify(jsonLine(this.files[index] as string, result, verdictMs, ms, check.renderKeyResult))}\n`;
    } else {
      const body = check.renderResult(result).split('\n').slice(1).join('\n');
      state.rest = `${body === '' ? '' : `${body}\n`}  checked in ${Math.round(ms)} ms (verdict in ${Math.round(verdictMs)} ms)\n`;
    }
    state.finished = true;
    this.flush();
  }

  invalid(index: number, message: string): void {
    const state = this.states[index] as FileState;
    state.code = EXIT_BAD_INPUT;
    if (this.flags.json) state.rest = `${JSON.stringify({ file: this.files[index], verdict: 'invalid', error: message })}\n`;
    else {
      state.rest = '';
      this.io.err(`kv-lab check: ${message}\n`);
    }
    state.finished = true;
    this.flush();
  }

  private flush(): void {
    while (this.next < this.states.length) {
      const state = this.states[this.next] as FileState;
      if (!this.flags.json && !state.verdictPrinted && state.verdictLine !== undefined) {
        this.io.out(state.verdictLine);
        state.verdictPrinted = true;
      }
      if (!state.finished) return;
      this.io.out(state.rest ?? '');
      this.next++;
    }
  }

  codes(): number[] {
    return this.states.map((s) => s.code);
  }

  htmlSections(): string[] {
    return this.states.map((s) => s.html).filter((h): h is string => h !== null);
  }
}

/** Histories at least this large, over several keys, are checked key-parallel on worker threads. */
const PARALLEL_OPS_MIN = 200_000;

/** One file: streamed in this thread, its keys split over workers when it is large. */
async function checkOneFile(file: string, flags: LinearizabilityFlags, settings: Settings, printer: Printer): Promise<void> {
  const check = await import('../check/index.js');
  const { readHistory } = await import('../check/formats.js');
  printer.started(0);
  const cancel = new Int32Array(new SharedArrayBuffer(8));
  const timers = new Timers(cancel, settings);
  try {
    const history = await readHistory(readLines(file), file, flags.format);
    check.refuseTransactions(history);
    timers.deciding();
    const keys = new Set(history.ops.map((op) => op.key)).size;
    if (history.ops.length >= PARALLEL_OPS_MIN && keys >= 2) {
      const { checkHistoryParallel } = await import('../check/parallel.js');
      const decide = new Int32Array(cancel.buffer, 0, 1);
      const explain = new Int32Array(cancel.buffer, 4, 1);
      const result = await checkHistoryParallel(history, {
        model: flags.model, explain: flags.explain, workers: settings.jobs, cancel: decide, cancelExplain: explain,
        onDecided: (verdict) => {
          timers.explaining();
          printer.decided(0, { verdict, opCount: history.ops.length, keyCount: keys });
        },
      });
      printer.done(0, result, flags.html === undefined ? null : (await import('../check/render-html.js')).renderHtmlSection({ history, result }, 0));
      return;
    }
    const { checkParsed } = await import('../check/check-file.js');
    // A synchronous check in this thread: its deadlines read the clock (timers could not fire).
    const started = performance.now();
    let explainFrom = Number.POSITIVE_INFINITY;
    const { result, html } = checkParsed(history, {
      index: 0, model: flags.model, explain: flags.explain, html: flags.html !== undefined, cancel,
      deadline: () => settings.timeoutMs !== undefined && performance.now() - started > settings.timeoutMs,
      explainDeadline: () => performance.now() - explainFrom > settings.explainMs,
    }, (verdict) => {
      explainFrom = performance.now();
      printer.decided(0, { verdict, opCount: history.ops.length, keyCount: keys });
    });
    printer.done(0, result, html);
  } catch (e) {
    if (!(e instanceof check.HistoryError) && !isFileError(e)) throw e;
    printer.invalid(0, e instanceof check.HistoryError ? e.message : `${file}: ${(e as Error).message}`);
  } finally {
    timers.stop();
  }
}

/**
 * The deadlines of one file, as flags in shared memory: [0] ends deciding (--timeout, from the
 * start of the check), [1] ends explaining (--explain-budget, from the verdict). Only timers set
 * them, so src/check stays clockless; in this thread the search polls them between steps.
 */
class Timers {
  private decide: ReturnType<typeof setTimeout> | undefined;
  private explain: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly cancel: Int32Array, private readonly settings: Settings) {}

  deciding(): void {
    if (this.settings.timeoutMs !== undefined) this.decide = setTimeout(() => Atomics.store(this.cancel, 0, 1), this.settings.timeoutMs);
  }

  /** The verdict is known: explaining's time starts. */
  explaining(): void {
    clearTimeout(this.decide);
    this.explain = setTimeout(() => Atomics.store(this.cancel, 1, 1), this.settings.explainMs);
  }

  stop(): void {
    clearTimeout(this.decide);
    clearTimeout(this.explain);
  }
}

/** Several files: a pool of worker threads, one file each at a time. */
async function checkOnWorkers(files: readonly string[], flags: LinearizabilityFlags, settings: Settings, printer: Printer): Promise<void> {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`../check/file-worker${fromSource ? '.ts' : '.js'}`, import.meta.url);
  const boot = fromSource
    ? `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`
    : undefined;
  let next = 0;
  const runWorker = async (): Promise<void> => {
    const worker = boot === undefined ? new Worker(url) : new Worker(boot, { eval: true });
    try {
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      while (next < files.length) {
        const index = next++;
        await checkOnWorker(worker, index, files[index] as string, flags, settings, printer);
      }
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.jobs, files.length) }, runWorker));
}

function checkOnWorker(worker: Worker, index: number, file: string, flags: LinearizabilityFlags, settings: Settings, printer: Printer): Promise<void> {
  printer.started(index);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (!isFileError(e)) throw e;
    printer.invalid(index, `${file}: ${(e as Error).message}`);
    return Promise.resolve();
  }
  const cancel = new Int32Array(new SharedArrayBuffer(8));
  const timers = new Timers(cancel, settings);
  const task: FileTask = { index, source: file, text, format: flags.format, model: flags.model, explain: flags.explain,
    html: flags.html !== undefined, cancel };
  return new Promise<void>((resolve, reject) => {
    const onMessage = (m: FileMessage): void => {
      if (m.index !== index) return;
      if (m.type === 'decided') {
        timers.explaining();
        printer.decided(index, m);
        return;
      }
      worker.off('message', onMessage);
      worker.off('error', reject);
      timers.stop();
      if (m.type === 'invalid') printer.invalid(index, m.message);
      else printer.done(index, m.result, m.html);
      resolve();
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    timers.deciding();
    worker.postMessage(task);
  });
}

function jsonLine(file: string, result: LinearizabilityResult, verdictMs: number, ms: number,
  renderKey: typeof import('../check/index.js').renderKeyResult): object {
  return {
    file,
    verdict: result.verdict,
    opCount: result.opCount,
    keyCount: result.keyCount,
    verdictMs: Math.round(verdictMs),
    ms: Math.round(ms),
    verdictSteps: result.verdictSteps,
    steps: result.steps,
    explaining: result.explaining,
    failingKeys: result.keys.map((k) => ({
      key: k.key,
      verdict: k.verdict,
      ...(k.unknownReason === undefined ? {} : { unknownReason: k.unknownReason }),
      ...(k.unexplained === undefined ? {} : { unexplained: k.unexplained }),
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

function seconds(flag: string, text: string): number {
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0)) throw new UsageError(`${flag} expects a positive number of seconds, got ${JSON.stringify(text)}`);
  return value * 1000;
}

function count(flag: string, text: string): number {
  const value = Number(text);
  if (!(Number.isSafeInteger(value) && value >= 1 && value <= 256)) throw new UsageError(`${flag} expects a whole number from 1 to 256, got ${JSON.stringify(text)}`);
  return value;
}

/** The files a directory contributes: histories in any of the formats read. */
const HISTORY_EXTENSIONS = ['.jsonl', '.edn', '.log'];

/** Files as given; directories become their history files, recursively, in sorted order. */
export function expandPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (HISTORY_EXTENSIONS.some((ext) => name.endsWith(ext))) out.push(path);
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
      if (out.length === before) throw new UsageError(`${path}: no history files (${HISTORY_EXTENSIONS.map((e) => `*${e}`).join(', ')}) in this directory`);
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
