import { isAscii } from 'node:buffer';
import type { Clock } from '../../env/clock.js';
import type { Logger } from '../../env/log.js';
import type { Stream, StreamCloseReason } from '../../env/stream.js';
import { DB_NAME, type Result } from '../../node/protocol.js';
import { assert } from '../../util/assert.js';
import { formatReply, LineSyntaxError, parseCommand, type LineCommand, type LineReply } from '../../wire/line.js';
import type { Gateway } from '../gateway.js';
import { commandOp, resultReply } from './commands.js';
import { sourceOf, type LoginThrottle } from '../login-throttle.js';
import { ConnectionDeadline, type ClientTimeouts } from '../deadline.js';

/**
 * One line-protocol connection (src/wire/line.ts documents the protocol), over a Stream: bytes in,
 * bytes out, nothing else. It keeps the selected database and the login token, runs commands as
 * they arrive — pipelined commands run concurrently, as on any Redis-like server — and writes the
 * replies in command order. The same session serves real sockets (src/host) and the simulator's
 * connections (sim/stream.ts).
 *
 * Limits: a line longer than LINE_BYTES_MAX is skipped up to its newline and answered
 * `ERR too_large`, so the connection stays usable; at most PIPELINE_MAX commands per connection
 * wait for replies (reading pauses beyond that, and while the client does not read its replies).
 * With a clock: a line must arrive whole within tcpReadMs of its first byte (else `ERR timeout`
 * and the connection closes), and a connection with nothing in progress — or whose client has
 * not read its replies — closes after tcpIdleMs without traffic (src/frontdoor/deadline.ts).
 */

export const LINE_BYTES_MAX = 4 * 1024 * 1024;
export const PIPELINE_MAX = 1024;

export interface LineSessionOptions {
  gateway: Gateway;
  log: Logger;
  /**
   * Runs fn once the current burst of work is done, to write the replies that completed in it
   * with one write. The host passes a microtask (the cheapest turn), the simulator the Env
   * clock's defer (a microtask would escape its scheduler).
   */
  soon: (fn: () => void) => void;
  /** Called once when the connection is gone. */
  onClose?: (reason: StreamCloseReason) => void;
  /** Failed logins per source address (shared by every connection of the node). */
  logins?: LoginThrottle;
  /** The Env's clock, for the timeouts; absent: the connection never times out (tests of framing alone). */
  clock?: Clock;
  timeouts?: Pick<ClientTimeouts, 'tcpIdleMs' | 'tcpReadMs'>;
}

/**
 * Transactions one connection may have open (BEGIN answered, no COMMIT or ROLLBACK yet); past
 * it BEGIN is refused. Those still open when the connection closes are rolled back, as a
 * database session's are: nobody else knows to finish them.
 */
export const TXNS_PER_CONNECTION_MAX = 16;

/** Failed AUTH lines one connection may send before it is closed. */
export const AUTH_FAILURES_PER_CONNECTION_MAX = 10;

interface Slot {
  line: string | null;
}

export class LineSession {
  private db = '';
  private token: string | null = null;
  private readonly replies: Slot[] = [];
  /**
   * Reply lines answered at once while no reply was waiting (Gateway.readNow), so they come before
   * every slot in `replies`: written first at the next flush, without a slot each.
   */
  private ready = '';
  private readyCount = 0;
  /** Bytes of the current line not yet terminated. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Skipping the rest of an over-long line. */
  private discarding = false;
  private authFailures = 0;
  /** Commands held back while an AUTH is in flight (they need its token). */
  private held: string[] | null = null;
  private quitting = false;
  /** The client closed its sending side: end ours once every reply is written. */
  private inputEnded = false;
  private paused = false;
  private flushQueued = false;
  /** Inside data(): replies completed meanwhile are written when it returns, not from a microtask. */
  private inChunk = false;
  private flushAfterChunk = false;

  /** This side has ended its output (after QUIT, or after the client's end). */
  private outputEnded = false;
  private readonly gateway: Gateway;
  private readonly log: Logger;
  /** Transactions this connection began and has not ended. */
  private readonly txns = new Set<string>();
  /** Idle and incomplete-line timeouts (null without a clock). */
  private readonly deadline: ConnectionDeadline | null = null;
  /** When bytes last came or went (monotonic ms). */
  private lastActivityMs = 0;
  /** When the first byte of the unfinished line came. */
  private lineStartMs = 0;

  constructor(
    private readonly stream: Stream,
    private readonly options: LineSessionOptions,
  ) {
    this.gateway = options.gateway;
    this.log = options.log;
    const clock = options.clock;
    if (clock !== undefined) {
      this.lastActivityMs = clock.monotonicMs();
      this.deadline = new ConnectionDeadline(clock, () => this.deadlineMs(), () => this.timedOut());
    }
    stream.setHandler({
      data: (chunk) => this.data(chunk),
      drain: () => {
        this.active();
        this.updateFlow();
      },
      end: () => this.end(),
      close: (reason) => {
        this.rollbackOpen();
        this.deadline?.stop();
        options.onClose?.(reason);
      },
    });
    this.deadline?.update();
  }

  /** Traffic in either direction: the idle time starts again. */
  private active(): void {
    if (this.options.clock !== undefined) this.lastActivityMs = this.options.clock.monotonicMs();
  }

  /**
   * The deadline that applies now: the unfinished line's; or, with the client not reading its
   * replies or nothing in progress, the idle one; none while commands wait for their answers
   * (the gateway's request timeout bounds those).
   */
  private deadlineMs(): number | null {
    const t = this.options.timeouts;
    if (this.outputEnded || t === undefined) return null;
    if (this.stream.needsDrain) return this.lastActivityMs + t.tcpIdleMs;
    if (this.quitting) return null;
    if (this.partialBytes > 0 || this.discarding) return this.lineStartMs + t.tcpReadMs;
    if (this.replies.length > 0 || this.held !== null || this.readyCount > 0) return null;
    return this.lastActivityMs + t.tcpIdleMs;
  }

  private timedOut(): void {
    if (this.outputEnded || this.stream.closed) return;
    const t = this.options.timeouts as Pick<ClientTimeouts, 'tcpIdleMs' | 'tcpReadMs'>;
    if (this.stream.needsDrain) {
      // Replies it does not read cannot be delivered: nothing graceful is left to do.
      this.log.log('info', 'line.timeout', { remote: this.stream.remote, why: `replies unread for ${t.tcpIdleMs} ms` });
      this.outputEnded = true;
      this.stream.destroy();
    } else if (this.partialBytes > 0 || this.discarding) {
      this.log.log('info', 'line.timeout', { remote: this.stream.remote, why: `a line unfinished after ${t.tcpReadMs} ms` });
      this.partial = [];
      this.partialBytes = 0;
      this.discarding = false;
      this.quitting = true;
      this.reply({ kind: 'error', code: 'timeout', message: `the line did not arrive whole within ${t.tcpReadMs} ms; closing` });
      this.updateFlow();
    } else {
      // Idle: closed without a word, as Redis closes an idle client (a reply line could be
      // mistaken for the answer to a command sent at the same moment).
      this.log.log('info', 'line.timeout', { remote: this.stream.remote, why: `idle for ${t.tcpIdleMs} ms` });
      this.outputEnded = true;
      this.stream.finish();
    }
  }

  private end(): void {
    // A last line without its newline is still a command.
    if (this.partialBytes > 0 && !this.discarding && !this.quitting) {
      const bytes = Buffer.concat(this.partial);
      this.partial = [];
      this.partialBytes = 0;
      this.line(bytes);
    }
    this.inputEnded = true;
    this.flush();
  }

  private data(chunk: Buffer): void {
    if (this.outputEnded) return; // after QUIT: the rest of the input is ignored
    this.active();
    this.gateway.beginBatch();
    this.inChunk = true;
    try {
      this.chunk(chunk);
    } finally {
      this.inChunk = false;
      this.gateway.endBatch();
    }
    if (this.flushAfterChunk) {
      this.flushAfterChunk = false;
      this.flush();
    }
    this.deadline?.update();
  }

  private chunk(chunk: Buffer): void {
    let start = 0;
    if (this.partialBytes > 0 || this.discarding) {
      // The first newline ends a line that earlier chunks began.
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.keepPartial(chunk);
        return;
      }
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        this.reply({ kind: 'error', code: 'too_large', message: `line longer than ${LINE_BYTES_MAX} bytes; skipped` });
      } else {
        this.partial.push(chunk.subarray(0, nl));
        const bytes = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
        if (bytes.length > LINE_BYTES_MAX) this.reply({ kind: 'error', code: 'too_large', message: `line longer than ${LINE_BYTES_MAX} bytes; skipped` });
        else this.line(bytes);
        if (this.quitting) return;
      }
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) {
      // Whole lines from here to `last`. ASCII text (every benchmark, most commands) is turned
      // into one string at once and split there: one decoding per chunk instead of a subarray
      // and a decoder call per command. (A socket's chunks are far below LINE_BYTES_MAX.)
      if (last - start <= LINE_BYTES_MAX && asciiBetween(chunk, start, last)) this.asciiLines(chunk.toString('latin1', start, last));
      else {
        for (let from = start; from <= last && !this.quitting; ) {
          const nl = chunk.indexOf(10, from);
          if (nl - from > LINE_BYTES_MAX) this.reply({ kind: 'error', code: 'too_large', message: `line longer than ${LINE_BYTES_MAX} bytes; skipped` });
          else this.line(chunk.subarray(from, nl));
          from = nl + 1;
        }
      }
      if (this.quitting) return;
      start = last + 1;
    }
    if (start < chunk.length) this.keepPartial(chunk.subarray(start));
  }

  /** Keeps the unfinished end of a chunk, or starts skipping a line grown too long. */
  private keepPartial(rest: Buffer): void {
    if (this.discarding) return;
    if (this.partialBytes === 0) this.lineStartMs = this.lastActivityMs; // a new line begins
    this.partialBytes += rest.length;
    if (this.partialBytes > LINE_BYTES_MAX) {
      this.partial = [];
      this.partialBytes = 0;
      this.discarding = true;
    } else this.partial.push(rest);
  }

  /** Lines separated by newlines (none after the last), already known to be ASCII. */
  private asciiLines(text: string): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      const end = nl < 0 ? text.length : nl;
      this.command(text.slice(from, end > from && text.charCodeAt(end - 1) === 13 ? end - 1 : end));
      if (nl < 0 || this.quitting) return;
      from = nl + 1;
    }
  }

  private line(bytes: Buffer): void {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length;
    let text: string;
    try {
      text = utf8.decode(bytes.subarray(0, end));
    } catch {
      this.reply({ kind: 'error', code: 'bad_request', message: 'the line is not valid UTF-8' });
      return;
    }
    this.command(text);
  }

  private command(text: string): void {
    if (text.trim() === '') return; // a blank line is not a command (nc users press Enter)
    if (this.held !== null) {
      this.held.push(text);
      return;
    }
    this.run(text);
  }

  private run(text: string): void {
    let command: LineCommand;
    try {
      command = parseCommand(text);
    } catch (err) {
      if (!(err instanceof LineSyntaxError)) throw err;
      this.reply({ kind: 'error', code: 'bad_request', message: err.message });
      return;
    }
    switch (command.verb) {
      case 'PING':
        this.reply({ kind: 'pong' });
        return;
      case 'QUIT':
        this.quitting = true;
        this.reply({ kind: 'ok' });
        return;
      case 'USE':
        if (command.db !== '' && !DB_NAME.test(command.db)) {
          this.reply({ kind: 'error', code: 'bad_request', message: 'a database name has 1-64 letters, digits, _ and -; USE "" selects the default' });
        } else {
          this.db = command.db;
          this.reply({ kind: 'ok' });
        }
        return;
      case 'AUTH':
        this.auth(command);
        return;
      default:
        break;
    }
    const op = commandOp(command);
    assert(op !== null, () => `line command ${command.verb} has no operation`);
    if (op.f === 'read' || op.f === 'range') {
      const now = this.gateway.readNow('tcp', op, this.db, this.token);
      if (now !== null) {
        this.answered(formatReply(resultReply(command, now)) + '\n');
        return;
      }
    }
    if (op.f === 'txn.begin' && this.txns.size >= TXNS_PER_CONNECTION_MAX) {
      this.reply({ kind: 'error', code: 'too_many_requests', message: `at most ${TXNS_PER_CONNECTION_MAX} open transactions per connection: COMMIT or ROLLBACK one first` });
      return;
    }
    const slot = this.slot();
    this.gateway.execute('tcp', op, this.db, this.token, (result) => {
      if (op.f === 'txn.begin' && result.ok && typeof result.value === 'string') this.txns.add(result.value);
      else if (op.f === 'txn.commit' || op.f === 'txn.rollback' || (op.f === 'txn.op' && !result.ok && result.code === 'aborted')) this.txns.delete(op.txn);
      this.fill(slot, resultReply(command, result), result);
    });
  }

  /** The connection is gone: its open transactions are rolled back (their answers go nowhere). */
  private rollbackOpen(): void {
    for (const txn of this.txns) this.gateway.execute('tcp', { f: 'txn.rollback', txn }, this.db, this.token, () => {});
    this.txns.clear();
  }

  private auth(command: Extract<LineCommand, { verb: 'AUTH' }>): void {
    const op = commandOp(command);
    assert(op !== null, 'AUTH is a login operation');
    const logins = this.options.logins;
    const source = sourceOf(this.stream.remote);
    const waitMs = logins?.waitMs(source) ?? 0;
    if (waitMs > 0) {
      // Refused before any hashing: the guesser pays nothing but its own round trips.
      this.reply({ kind: 'error', code: 'too_many_requests', message: `too many failed logins from ${source}; retry in ${waitMs} ms` });
      this.countAuthFailure();
      return;
    }
    const slot = this.slot();
    this.held = [];
    this.gateway.execute('tcp', op, '', null, (result) => {
      logins?.record(source, result.ok);
      if (result.ok) this.token = typeof result.value === 'string' ? result.value : null;
      else if (result.code === 'unauthorized') this.countAuthFailure();
      this.fill(slot, resultReply(command, result), result);
      const held = this.held ?? [];
      this.held = null;
      // Run what waited, in order; another AUTH among it holds the rest back again.
      for (let i = 0; i < held.length && !this.quitting; i++) {
        const holding = this.holding();
        if (holding !== null) {
          holding.push(...held.slice(i));
          break;
        }
        this.run(held[i] as string);
      }
      this.flush();
    });
  }

  /** A connection that keeps failing to log in is closed, as after QUIT (its replies still go). */
  private countAuthFailure(): void {
    if (++this.authFailures < AUTH_FAILURES_PER_CONNECTION_MAX || this.quitting) return;
    this.log.log('warn', 'line.auth_closed', { remote: this.stream.remote, failures: this.authFailures });
    this.quitting = true;
    this.updateFlow();
  }

  private holding(): string[] | null {
    return this.held;
  }

  private slot(): Slot {
    const slot: Slot = { line: null };
    this.replies.push(slot);
    this.updateFlow();
    return slot;
  }

  /** A reply that is complete now: behind the waiting ones if there are any, else ready at once. */
  private answered(line: string): void {
    if (this.replies.length > 0) this.replies.push({ line });
    else {
      this.ready += line;
      this.readyCount++;
    }
    if (this.replies.length + this.readyCount >= PIPELINE_MAX) this.updateFlow();
    this.scheduleFlush();
  }

  private reply(r: LineReply): void {
    this.fill(this.slot(), r, null);
  }

  private fill(slot: Slot, r: LineReply, result: Result | null): void {
    if (result !== null && !result.ok && (result.code === 'unauthorized' || result.code === 'forbidden')) {
      this.log.log('warn', 'line.denied', { remote: this.stream.remote, code: result.code, message: result.message });
    }
    slot.line = formatReply(r) + '\n';
    this.scheduleFlush();
  }

  /**
   * Writes once per turn of the event loop, not once per reply: the replies to a pipelined burst
   * (or to a Raft batch applied at once) complete together, and one write for all of them is one
   * system call instead of dozens.
   */
  private scheduleFlush(): void {
    // A chunk's replies that complete while it is read (every read a single node answers at
    // once) leave in one write at its end: the same write a microtask would make a moment later,
    // without queueing one per connection per chunk.
    if (this.inChunk) {
      this.flushAfterChunk = true;
      return;
    }
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.options.soon(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    let out = this.ready;
    this.ready = '';
    this.readyCount = 0;
    while (this.replies.length > 0 && (this.replies[0] as Slot).line !== null) out += (this.replies.shift() as Slot).line;
    if (out !== '' && !this.stream.closed) {
      this.stream.write(out);
      this.active();
    }
    if ((this.quitting || this.inputEnded) && this.replies.length === 0 && this.held === null && !this.outputEnded) {
      // Every reply is written. After QUIT the client may keep its side open: close the whole
      // connection once the replies are delivered. After the client's end, end ours.
      this.outputEnded = true;
      if (this.quitting) this.stream.finish();
      else this.stream.end();
    }
    this.updateFlow();
    this.deadline?.update();
  }

  /** Pauses reading while too many replies wait or the client is not reading them. */
  private updateFlow(): void {
    const shouldPause = this.replies.length + this.readyCount >= PIPELINE_MAX || this.stream.needsDrain || this.quitting;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.stream.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether bytes start..end are ASCII; the whole chunk when it is (no view to allocate then). */
function asciiBetween(chunk: Buffer, start: number, end: number): boolean {
  return (start === 0 && isAscii(chunk)) || isAscii(chunk.subarray(start, end));
}
