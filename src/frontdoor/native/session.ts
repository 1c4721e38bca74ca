import type { Clock } from '../../env/clock.js';
import type { Logger } from '../../env/log.js';
import type { Stream, StreamCloseReason } from '../../env/stream.js';
import { encodeMessage, validateRequest, type Request, type Response, type Result } from '../../node/protocol.js';
import { assert } from '../../util/assert.js';
import { JSON_DEPTH_MAX, jsonNestingExceeds } from '../../util/json.js';
import { FrameError, FrameReader, encodeFrame } from '../../wire/frames.js';
import type { LocalNode } from '../gateway.js';
import { ConnectionDeadline, type ClientTimeouts } from '../deadline.js';

/**
 * A connection on the TCP client port that speaks the request protocol in frames (what
 * KvClient sends through StreamNet, src/client/stream-net.ts): the programs' client, with its own
 * request ids, retries and leader discovery. The port tells it from the line protocol by its
 * first byte (a frame's length starts with 0x00; a line starts with a letter).
 *
 * The first frame says who is calling: {"from": "<client id>", "role": "client"}, at most
 * HELLO_BYTES_MAX. Every later frame is one request, answered by a response frame with its seq.
 * Requests go to the node as they come, without the gateway: the client numbers them itself and
 * follows `not_leader` to the leader, so the node's session table applies each at most once.
 *
 * Bounded: the hello, each frame (FRAME_BYTES_MAX, checked before buffering), JSON nesting, and
 * requests waiting for answers (PENDING_MAX: reading pauses beyond). A frame that is not a request
 * closes the connection: a client that sends garbage cannot be answered (it has no seq to answer).
 * With a clock, time too: a frame must arrive whole within tcpReadMs of its first byte, and a
 * connection with nothing in progress (or whose client reads no answers) closes after tcpIdleMs
 * without traffic — StreamNet dials again at its next request.
 */

export const HELLO_BYTES_MAX = 4096;
/** A request is at most a batch of values of 1 MiB each within the node's limits; 16 MiB bounds it. */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024;
export const PENDING_MAX = 1024;

export interface NativeSessionOptions {
  node: LocalNode;
  log: Logger;
  soon: (fn: () => void) => void;
  onClose?: (reason: StreamCloseReason) => void;
  /** The Env's clock, for the timeouts; absent: no timeouts. */
  clock?: Clock;
  timeouts?: Pick<ClientTimeouts, 'tcpIdleMs' | 'tcpReadMs'>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class NativeSession {
  private readonly reader = new FrameReader(HELLO_BYTES_MAX);
  private client: string | null = null;
  private pending = 0;
  private out: Buffer[] = [];
  private flushQueued = false;
  private paused = false;
  private done = false;
  /** The client ended its side: end ours once every request is answered. */
  private inputEnded = false;
  private readonly deadline: ConnectionDeadline | null = null;
  /** When bytes last came or went, and when the frame now arriving began (monotonic ms). */
  private lastActivityMs = 0;
  private frameStartMs = 0;

  constructor(
    private readonly stream: Stream,
    private readonly options: NativeSessionOptions,
  ) {
    const clock = options.clock;
    if (clock !== undefined) {
      this.lastActivityMs = clock.monotonicMs();
      this.deadline = new ConnectionDeadline(clock, () => this.deadlineMs(), () => this.timedOut());
    }
    stream.setHandler({
      data: (chunk) => {
        const before = this.reader.pendingBytes;
        this.active();
        this.data(chunk);
        // A frame began in this chunk if bytes are left over and none were held before, or a
        // frame completed in it (the leftover is then the next one's beginning).
        const after = this.reader.pendingBytes;
        if (after > 0 && (before === 0 || after < before + chunk.length)) this.frameStartMs = this.lastActivityMs;
        this.deadline?.update();
      },
      end: () => {
        this.inputEnded = true;
        this.endIfAnswered();
      },
      close: (reason) => {
        this.done = true;
        this.deadline?.stop();
        options.onClose?.(reason);
      },
      drain: () => {
        this.active();
        this.updateFlow();
      },
    });
    this.deadline?.update();
  }

  private active(): void {
    if (this.options.clock !== undefined) this.lastActivityMs = this.options.clock.monotonicMs();
  }

  /** See LineSession.deadlineMs: a frame's, else idle when nothing is in progress or answers go unread. */
  private deadlineMs(): number | null {
    const t = this.options.timeouts;
    if (this.done || t === undefined) return null;
    if (this.stream.needsDrain) return this.lastActivityMs + t.tcpIdleMs;
    if (this.reader.pendingBytes > 0) return this.frameStartMs + t.tcpReadMs;
    if (this.pending > 0) return null;
    return this.lastActivityMs + t.tcpIdleMs;
  }

  private timedOut(): void {
    if (this.done) return;
    const t = this.options.timeouts as Pick<ClientTimeouts, 'tcpIdleMs' | 'tcpReadMs'>;
    const why = this.stream.needsDrain ? `answers unread for ${t.tcpIdleMs} ms` : this.reader.pendingBytes > 0 ? `a frame unfinished after ${t.tcpReadMs} ms` : `idle for ${t.tcpIdleMs} ms`;
    this.options.log.log('info', 'native.timeout', { remote: this.stream.remote, why });
    this.done = true;
    // A frame cut off cannot be answered (no seq), and idle is idle: close without a word.
    if (this.stream.needsDrain || this.reader.pendingBytes > 0) this.stream.destroy();
    else this.stream.finish();
  }

  private data(chunk: Buffer): void {
    if (this.done) return;
    let frames: Buffer[];
    try {
      if (this.client === null) {
        // The hello alone first, under its own small limit: a request in the same chunk is read
        // only once the hello has lifted the limit to FRAME_BYTES_MAX. (Read together, a first
        // request over HELLO_BYTES_MAX closed the connection: connectKv's first large write was
        // lost and retried after its attempt timeout.)
        const hello = this.reader.push(chunk, 1)[0];
        if (hello === undefined) return;
        this.hello(hello);
        if (this.done) return;
        frames = this.reader.push(Buffer.alloc(0));
      } else frames = this.reader.push(chunk);
    } catch (err) {
      assert(err instanceof FrameError, () => `FrameReader threw ${String(err)}`);
      this.refuse(err.message);
      return;
    }
    for (const f of frames) {
      if (this.done) return;
      this.request(f);
    }
  }

  private hello(frame: Buffer): void {
    const m = this.decode(frame);
    const from = m?.from;
    if (m === null || m.role !== 'client' || typeof from !== 'string' || from === '' || from.length > 256) {
      this.refuse('the first frame must be {"from": "<client id>", "role": "client"}');
      return;
    }
    this.client = from;
    this.reader.setLimit(FRAME_BYTES_MAX);
  }

  private request(frame: Buffer): void {
    const m = this.decode(frame);
    if (m === null || m.kind !== 'req') {
      this.refuse('a frame that is not a request');
      return;
    }
    const seq = typeof m.seq === 'number' ? m.seq : -1;
    this.pending++;
    this.updateFlow();
    let answered = false;
    const reply = (result: Result) => {
      assert(!answered, () => `native request ${seq} answered twice`);
      answered = true;
      this.pending--;
      if (this.done) return;
      this.out.push(encodeFrame(encodeMessage({ kind: 'res', seq, result } satisfies Response)));
      this.scheduleFlush();
      this.endIfAnswered();
    };
    const problem = validateRequest(m);
    if (problem !== null) reply({ ok: false, code: 'bad_request', message: problem });
    else this.options.node.submit(m as unknown as Request, reply);
  }

  /** A frame's JSON message, or null (logged) if it is not one, or nests too deep to walk. */
  private decode(frame: Buffer): (Record<string, unknown> & { kind?: unknown }) | null {
    let text: string;
    try {
      text = utf8.decode(frame);
    } catch {
      return null;
    }
    if (jsonNestingExceeds(text, JSON_DEPTH_MAX)) return null;
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      return null;
    }
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : null;
  }

  private refuse(why: string): void {
    this.options.log.log('warn', 'native.refused', { remote: this.stream.remote, client: this.client, why });
    this.done = true;
    this.stream.destroy();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.options.soon(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.out.length > 0 && !this.stream.closed) {
      this.stream.write(this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out));
      this.active();
    }
    this.out = [];
    this.updateFlow();
    this.deadline?.update();
  }

  private endIfAnswered(): void {
    if (!this.inputEnded || this.pending > 0 || this.done) return;
    this.done = true;
    this.flush();
    this.stream.end();
  }

  private updateFlow(): void {
    const shouldPause = this.pending >= PENDING_MAX || this.stream.needsDrain;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.stream.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }
}
