import type { Clock, Timer } from '../env/clock.js';
import type { Dialer, Stream } from '../env/stream.js';
import { isDefinite, isReadOnly, type ErrorCode, type KvOp } from '../node/protocol.js';
import { assert } from '../util/assert.js';
import type { Json } from '../util/json.js';
import { formatCommand, LineSyntaxError, parseReply, type LineCommand, type LineReply } from '../wire/line.js';
import type { Outcome } from './client.js';

/**
 * A client of the line protocol (src/wire/line.ts) over one connection at a time, pipelined:
 * commands are written as they come and their replies read in order. It is what a program that
 * speaks to port 3001 does by hand, and what the lab's `line` clients run, so the history the
 * simulator checks is recorded from the very bytes a user would read.
 *
 * The line protocol has no request ids, so nothing is retried: an operation whose answer does not
 * come (the connection is reset, or its deadline passes) ends `info` if it could have changed
 * something and `fail` if it only read; the connection is then abandoned, since a late reply
 * could no longer be matched to its command. The next operation opens a new connection.
 */

export interface LineClientOptions {
  /** Where to connect ("127.0.0.1:3001", or a simulated node's line port). */
  address: string;
  dial: Dialer;
  clock: Clock;
  /** How this node is named in outcomes (default: the address). */
  name?: string;
  /** An operation's deadline. */
  timeoutMs?: number;
  /** Sent as `AUTH user password` first on every connection. */
  username?: string;
  password?: string;
  /** Sent as `USE db` on every connection ('' the default database). */
  database?: string;
}

interface Waiting {
  /** null: a setup line of the connection (AUTH, USE), whose failure fails the connection. */
  op: KvOp | null;
  done: (o: Outcome) => void;
  timer: Timer | null;
  /** The command line, while it waits for the setup lines to succeed. */
  held: string | null;
}

/** Reply bytes kept while a line is incomplete: past this, the server is broken. */
const REPLY_BYTES_MAX = 64 * 1024 * 1024;

/** The line command of an operation, or why it has none (the line protocol stores strings). */
export function lineCommand(op: KvOp): LineCommand | string {
  const str = (v: Json): string | null => (typeof v === 'string' ? v : null);
  switch (op.f) {
    case 'read':
      return { verb: 'GET', key: op.key };
    case 'write': {
      const v = str(op.value);
      return v === null ? 'the line protocol writes strings; use HTTP or the client for other JSON' : { verb: 'PUT', key: op.key, value: v };
    }
    case 'delete':
      return { verb: 'DELETE', key: op.key };
    case 'append':
      return { verb: 'APPEND', key: op.key, value: op.value };
    case 'cas': {
      const expected = str(op.expected);
      const value = str(op.value);
      return expected === null || value === null ? 'the line protocol compares and sets strings (an absent key cannot be expected)' : { verb: 'CAS', key: op.key, expected, value };
    }
    case 'range':
      return op.reverse ? 'the line protocol ranges forwards only' : { verb: 'RANGE', start: op.start, end: op.end ?? '', limit: op.limit };
    case 'txn.begin':
      return op.retryOf === undefined ? { verb: 'BEGIN' } : { verb: 'BEGIN', retryOf: op.retryOf };
    case 'txn.commit':
      return { verb: 'COMMIT', txn: op.txn };
    case 'txn.rollback':
      return { verb: 'ROLLBACK', txn: op.txn };
    case 'txn.op': {
      const inner = lineCommand(op.op);
      if (typeof inner === 'string') return inner;
      return { ...inner, txn: op.txn } as LineCommand;
    }
    case 'batch': {
      const pairs: [string, string][] = [];
      for (const w of op.ops) {
        if (w.f !== 'write' || typeof w.value !== 'string') return 'BATCHPUT writes strings only';
        pairs.push([w.key, w.value]);
      }
      return { verb: 'BATCHPUT', pairs };
    }
    default:
      return `${op.f} has no line command`;
  }
}

/** The outcome a reply line gives an operation. */
export function replyOutcome(op: KvOp, reply: LineReply, node: string): Outcome {
  switch (reply.kind) {
    case 'error': {
      const code = reply.code as ErrorCode;
      if (isDefinite(code) || isReadOnly(op)) return { type: 'fail', code, message: reply.message, node };
      return { type: 'info', reason: `${reply.code}: ${reply.message}` };
    }
    case 'nil':
      return { type: 'ok', value: null, node };
    case 'value':
      return { type: 'ok', value: reply.value, node };
    case 'json': {
      let value: Json;
      try {
        value = JSON.parse(reply.text) as Json;
      } catch {
        return isReadOnly(op) ? { type: 'fail', code: 'internal', message: `a JSON reply that is not JSON: ${reply.text.slice(0, 80)}`, node } : { type: 'info', reason: 'a garbled reply' };
      }
      return { type: 'ok', value, node };
    }
    case 'entries':
      return { type: 'ok', value: null, entries: reply.entries.map(([k, v]) => [k, v]), ...(reply.next !== undefined ? { next: reply.next } : {}), node };
    case 'txn':
      return { type: 'ok', value: reply.id, node };
    case 'ok':
    case 'pong':
      return { type: 'ok', value: null, node };
  }
}

export class LineKvClient {
  private stream: Stream | null = null;
  private readonly waiting: Waiting[] = [];
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Some byte of this connection's replies arrived (it reached a server). */
  private answered = false;
  private closed = false;
  /** Setup lines (AUTH, USE) of this connection not yet answered. */
  private setupPending = 0;
  readonly name: string;

  constructor(private readonly options: LineClientOptions) {
    this.name = options.name ?? options.address;
  }

  /** Runs one operation; done is called exactly once. */
  invoke(op: KvOp, done: (o: Outcome) => void): void {
    const command = lineCommand(op);
    if (typeof command === 'string') {
      done({ type: 'fail', code: 'bad_request', message: command, node: this.name });
      return;
    }
    if (this.closed) {
      done({ type: 'fail', code: 'unavailable', message: 'the client is closed', node: this.name });
      return;
    }
    const stream = this.connection();
    const line = formatCommand(command) + '\n';
    // Behind a setup line still unanswered, the command waits: sent before a USE that fails, it
    // would run in the wrong database.
    const w: Waiting = { op, done, timer: null, held: this.setupPending > 0 ? line : null };
    w.timer = this.options.clock.timer(this.options.timeoutMs ?? 5_000, () => this.abandon(stream, 'timeout', `no answer within ${this.options.timeoutMs ?? 5_000} ms`));
    this.waiting.push(w);
    if (w.held === null) stream.write(line);
  }

  /** Promise form, for programs. */
  call(op: KvOp): Promise<Outcome> {
    return new Promise((resolve) => this.invoke(op, resolve));
  }

  /** Closes the connection; operations in progress end as if it were reset. */
  close(): void {
    this.closed = true;
    if (this.stream !== null) this.abandon(this.stream, 'reset', 'the client closed');
  }

  private connection(): Stream {
    if (this.stream !== null) return this.stream;
    const stream = this.options.dial(this.options.address);
    this.stream = stream;
    this.answered = false;
    this.setupPending = 0;
    this.partial = [];
    this.partialBytes = 0;
    stream.setHandler({
      data: (chunk) => this.data(stream, chunk),
      end: () => this.abandon(stream, 'reset', 'the server closed the connection'),
      close: (reason) => this.abandon(stream, reason === 'refused' ? 'refused' : 'reset', reason === 'refused' ? `cannot reach ${this.options.address}` : 'the connection was reset'),
      drain: () => {},
    });
    const setup = (command: LineCommand) => {
      this.setupPending++;
      this.waiting.push({ op: null, timer: null, held: null, done: (o) => {
        if (o.type !== 'ok') {
          this.abandon(stream, 'refused', `${formatCommand(command).split(' ')[0]} failed: ${o.type === 'fail' ? `${o.code} ${o.message}` : o.reason}`);
          return;
        }
        if (--this.setupPending > 0) return;
        for (const w of this.waiting) {
          if (w.held === null) continue;
          stream.write(w.held);
          w.held = null;
        }
      } });
      stream.write(formatCommand(command) + '\n');
    };
    if (this.options.username !== undefined) setup({ verb: 'AUTH', user: this.options.username, password: this.options.password ?? '' });
    if ((this.options.database ?? '') !== '') setup({ verb: 'USE', db: this.options.database as string });
    return stream;
  }

  private data(stream: Stream, chunk: Buffer): void {
    if (stream !== this.stream) return;
    this.answered = true;
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) break;
      this.partial.push(chunk.subarray(from, nl));
      const line = Buffer.concat(this.partial).toString('utf8').replace(/\r$/, '');
      this.partial = [];
      this.partialBytes = 0;
      from = nl + 1;
      this.reply(stream, line);
      if (stream !== this.stream) return;
    }
    if (from < chunk.length) {
      this.partial.push(chunk.subarray(from));
      this.partialBytes += chunk.length - from;
      if (this.partialBytes > REPLY_BYTES_MAX) this.abandon(stream, 'reset', `a reply line over ${REPLY_BYTES_MAX} bytes`);
    }
  }

  private reply(stream: Stream, line: string): void {
    const w = this.waiting.shift();
    if (w === undefined) {
      this.abandon(stream, 'reset', `a reply nobody asked for: ${line.slice(0, 80)}`);
      return;
    }
    w.timer?.cancel();
    let reply: LineReply;
    try {
      reply = parseReply(line);
    } catch (err) {
      assert(err instanceof LineSyntaxError, () => `parseReply threw ${String(err)}`);
      this.waiting.unshift(w);
      this.abandon(stream, 'reset', `a malformed reply: ${err.message}`);
      return;
    }
    if (w.op === null) w.done(reply.kind === 'error' ? { type: 'fail', code: reply.code as ErrorCode, message: reply.message, node: this.name } : { type: 'ok', value: null, node: this.name });
    else w.done(replyOutcome(w.op, reply, this.name));
  }

  /**
   * Gives up on a connection: every operation still waiting on it ends — `fail` if it certainly
   * did nothing (refused: never sent; or it only read), `info` otherwise.
   */
  private abandon(stream: Stream, why: 'refused' | 'reset' | 'timeout', message: string): void {
    if (stream !== this.stream) return;
    this.stream = null;
    stream.destroy();
    const notSent = why === 'refused' && !this.answered;
    for (const w of this.waiting.splice(0)) {
      w.timer?.cancel();
      if (w.op === null) continue;
      if (notSent || w.held !== null || isReadOnly(w.op)) w.done({ type: 'fail', code: why === 'timeout' ? 'timeout' : 'unavailable', message, node: this.name });
      else w.done({ type: 'info', reason: `${why}: ${message}` });
    }
  }
}
