import { createReadStream, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { CheckFlags, CheckIo } from './check.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN } from './errors.js';

/**
 * `kv-lab check --model txn [--consistency …] <files>`: each file's transactions checked for the
 * isolation anomalies the model forbids (src/check/txn), one file after the other in this
 * thread: the check is a few graph passes, not a search that needs workers. Prints the verdict,
 * the anomalies counted by class, and each explained (unless --no-explain); --json one line per
 * file; --html a page with each cycle drawn. Returns the worst exit code, as `kv-lab check` does.
 */
export async function checkTxnFiles(files: readonly string[], flags: CheckFlags & { model: 'txn' }, io: CheckIo): Promise<number> {
  const { checkTransactions } = await import('../check/txn/index.js');
  const render = await import('../check/txn/render.js');
  const { readHistory } = await import('../check/formats.js');
  const { HistoryError } = await import('../check/parse.js');
  const { worstExitCode } = await import('./check.js');
  const consistency = (flags.consistency ?? 'strict-serializable') as import('../check/txn/index.js').Consistency;
  const codes: number[] = [];
  const sections: string[] = [];
  for (const file of files) {
    const started = performance.now();
    try {
      const history = await readHistory(readLines(file), file, flags.format);
      const single = history.ops[0];
      if (single !== undefined) {
        throw new HistoryError(file, single.callLine, `a single-key operation (${single.f} of ${JSON.stringify(single.key)}); --model txn checks transactions ("f": "txn") only`);
      }
      const result = checkTransactions(history, { consistency });
      const ms = Math.round(performance.now() - started);
      codes.push(result.verdict === 'ok' ? EXIT_OK : result.verdict === 'violation' ? EXIT_FAILED : EXIT_UNKNOWN);
      if (flags.json) io.out(`${JSON.stringify({ file, ...result, source: undefined, ms })}\n`);
      else io.out(`${render.renderTxnResult(result, flags.explain)}\n  checked in ${ms} ms\n`);
      if (flags.html !== undefined) sections.push(render.renderTxnHtmlSection(result));
    } catch (e) {
      const fileError = e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).syscall !== undefined;
      if (!(e instanceof HistoryError) && !fileError) throw e;
      const message = e instanceof HistoryError ? e.message : `${file}: ${(e as Error).message}`;
      codes.push(EXIT_BAD_INPUT);
      if (flags.json) io.out(`${JSON.stringify({ file, verdict: 'invalid', error: message })}\n`);
      else io.err(`kv-lab check: ${message}\n`);
    }
  }
  if (flags.html !== undefined) writeFileSync(flags.html, render.renderTxnHtmlPage(sections));
  return worstExitCode(codes);
}

function readLines(file: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Number.POSITIVE_INFINITY });
}
