import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { Outcome } from '../client/client.js';
import { runTransaction, TransactionError, type Transaction } from '../client/transaction.js';
import { RealClock } from '../env/real/clock.js';
import { TXN_OPS_MAX } from '../node/protocol.js';
import type { Json } from '../util/json.js';
import { formatReply, LineSyntaxError, parseCommand, RANGE_LIMIT_DEFAULT, type LineCommand, type LineReply } from '../wire/line.js';
import { clientFor, effectiveConnection } from './connection.js';
import { EXIT_FAILED, EXIT_UNKNOWN, UsageError } from './errors.js';

/**
 * `kv-lab txn [file]`: one interactive transaction over the HTTP API, its operations read from a
 * file or stdin, one per line in the line protocol's syntax without ids (GET, PUT, DELETE, APPEND,
 * RANGE; blank lines and lines starting with # are skipped). They run in order inside one
 * transaction, which commits at the end; an abort for a conflict runs them all again (up to
 * --attempts). After the commit each operation's reply is printed as the line protocol would
 * (VALUE, NIL, OK, ENTRIES), then COMMITTED.
 * Exit codes: 0 committed, 1 aborted or refused, 2 bad input, 3 the commit's outcome is unknown.
 */

/** A script larger than this is refused before it is parsed. */
export const TXN_SCRIPT_BYTES_MAX = 8 * 1024 * 1024;

type TxnLine = Extract<LineCommand, { verb: 'GET' | 'PUT' | 'DELETE' | 'APPEND' | 'RANGE' }>;

/** The operations of a script; throws UsageError naming the line. */
export function parseTxnScript(text: string, source: string): TxnLine[] {
  const ops: TxnLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    let c: LineCommand;
    try {
      c = parseCommand(line);
    } catch (err) {
      if (!(err instanceof LineSyntaxError)) throw err;
      throw new UsageError(`${source}:${i + 1}: ${err.message}`);
    }
    if (c.verb !== 'GET' && c.verb !== 'PUT' && c.verb !== 'DELETE' && c.verb !== 'APPEND' && c.verb !== 'RANGE') throw new UsageError(`${source}:${i + 1}: ${c.verb} cannot run inside kv-lab txn: give GET, PUT, DELETE, APPEND and RANGE lines (the command begins and commits the transaction itself)`);
    if (c.txn !== undefined) throw new UsageError(`${source}:${i + 1}: no transaction ids in a kv-lab txn script: every line runs in the one transaction`);
    if (ops.length >= TXN_OPS_MAX) throw new UsageError(`${source}: more than ${TXN_OPS_MAX} operations: a transaction runs at most ${TXN_OPS_MAX}`);
    ops.push(c);
  }
  if (ops.length === 0) throw new UsageError(`${source}: no operations (GET, PUT, DELETE, APPEND or RANGE lines)`);
  return ops;
}

async function runLine(tx: Transaction, c: TxnLine): Promise<LineReply> {
  switch (c.verb) {
    case 'GET': {
      const v = await tx.get(c.key);
      return v === null ? { kind: 'nil' } : typeof v === 'string' ? { kind: 'value', value: v } : { kind: 'json', text: JSON.stringify(v) };
    }
    case 'PUT':
      await tx.put(c.key, c.value);
      return { kind: 'ok' };
    case 'DELETE':
      await tx.delete(c.key);
      return { kind: 'ok' };
    case 'APPEND':
      await tx.append(c.key, c.value);
      return { kind: 'ok' };
    case 'RANGE': {
      const entries = await tx.range(c.start, c.end === '' ? null : c.end, c.limit ?? RANGE_LIMIT_DEFAULT);
      return { kind: 'entries', entries: entries.map(([k, v]: [string, Json]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]) };
    }
  }
}

export function registerTxn(program: Command): void {
  program
    .command('txn')
    .description('run GET/PUT/DELETE/APPEND/RANGE lines from a file (or stdin) as one transaction, retried on conflicts')
    .argument('[file]', 'the script; default stdin')
    .option('--url <urls>', 'node URLs, comma-separated (default: the saved connection, else http://127.0.0.1:8000)')
    .option('--username <name>', 'user name (default: the saved connection\'s)')
    .option('--password <password>', 'password (prefer --password-file)')
    .option('--password-file <file>', 'file holding the password')
    .option('--db <name>', 'database ("" the default one)')
    .option('--timeout <ms>', 'each operation gives up after this many milliseconds', '10000')
    .option('--attempts <n>', 'runs of the whole transaction at most, when it is aborted by a conflict', '5')
    .action(async (file: string | undefined, flags: { url?: string; username?: string; password?: string; passwordFile?: string; db?: string; timeout: string; attempts: string }) => {
      if (!/^\d{1,7}$/.test(flags.timeout) || Number(flags.timeout) < 1) throw new UsageError(`--timeout expects milliseconds, got ${JSON.stringify(flags.timeout)}`);
      if (!/^\d{1,3}$/.test(flags.attempts) || Number(flags.attempts) < 1) throw new UsageError(`--attempts expects 1-999, got ${JSON.stringify(flags.attempts)}`);
      const source = file ?? 'stdin';
      let text: string;
      try {
        const fd = file === undefined ? 0 : fs.openSync(file, 'r');
        const buf = Buffer.alloc(TXN_SCRIPT_BYTES_MAX + 1);
        let n = 0;
        for (let r; n <= TXN_SCRIPT_BYTES_MAX && (r = fs.readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
        if (file !== undefined) fs.closeSync(fd);
        if (n > TXN_SCRIPT_BYTES_MAX) throw new UsageError(`${source} is larger than ${TXN_SCRIPT_BYTES_MAX} bytes`);
        text = buf.subarray(0, n).toString('utf8');
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`cannot read ${source}: ${(err as Error).message}`);
      }
      const ops = parseTxnScript(text, source);
      const c = effectiveConnection(flags);
      const client = clientFor(c, Number(flags.timeout));
      const call = (op: Parameters<typeof client.invoke>[0]) => new Promise<Outcome>((resolve) => client.invoke(op, resolve));
      try {
        const replies = await runTransaction(call, new RealClock(), async (tx) => {
          const out: LineReply[] = [];
          for (const op of ops) out.push(await runLine(tx, op));
          return out;
        }, { attempts: Number(flags.attempts) });
        for (const r of replies) process.stdout.write(formatReply(r) + '\n');
        process.stdout.write('COMMITTED\n');
      } catch (err) {
        if (!(err instanceof TransactionError)) throw err;
        process.stderr.write(`kv-lab: ${err.code}: ${err.message}\n`);
        process.exitCode = err.unknown ? EXIT_UNKNOWN : EXIT_FAILED;
      } finally {
        client.close();
      }
    });
}
