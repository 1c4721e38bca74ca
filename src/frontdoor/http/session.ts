import type { Clock, Timer } from '../../env/clock.js';
import type { Logger } from '../../env/log.js';
import type { Stream, StreamCloseReason } from '../../env/stream.js';
import type { Result } from '../../node/protocol.js';
import { JSON_DEPTH_MAX, jsonNestingExceeds } from '../../util/json.js';
import { DEFAULT_HTTP_LIMITS, formatResponse, HttpWireError, RequestParser, type HttpLimits, type RequestEvent, type RequestHead } from '../../wire/http1.js';
import type { Gateway } from '../gateway.js';
import type { Counter, Family } from '../metrics.js';
import { sourceOf, type LoginThrottle } from '../login-throttle.js';
import { DEFAULT_CLIENT_TIMEOUTS } from '../deadline.js';
import { openApiDocument } from './openapi.js';
import { errorStatus, HttpError, matchRoute, type HttpBody, type HttpInput, type LocalRoute, type OpRoute, type Route } from './routes.js';

/**
 * One HTTP/1.1 connection of the front door, over a Stream: requests parsed by src/wire/http1.ts,
 * routed by the table in routes.ts, each turned into one gateway operation and answered with JSON.
 * Pipelined requests run concurrently and are answered in order; keep-alive as HTTP/1.1 says.
 * Pure: the same session serves real sockets (src/host) and the simulator's connections.
 *
 * Bounded: the head (16 KiB, 100 fields), the body (BODY_BYTES_MAX), requests waiting for their
 * answer per connection (PIPELINE_MAX: reading pauses beyond), and time — a head must arrive
 * within headersMs of its first byte, a whole request within requestMs, and an idle connection
 * closes after idleMs (node's http server's defaults, which this replaces). A bug in a handler is
 * a 500 and a log line, never a dead process.
 */

/** Largest request body accepted; a value is at most 1 MiB, a batch at most this. */
export const BODY_BYTES_MAX = 8 * 1024 * 1024;
/** Requests per connection waiting for their answers before reading pauses. */
export const PIPELINE_MAX = 64;

export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  idleMs: number;
}

/** The node's defaults (DEFAULT_CLIENT_TIMEOUTS says why these). */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersMs: DEFAULT_CLIENT_TIMEOUTS.httpHeadersMs, requestMs: DEFAULT_CLIENT_TIMEOUTS.httpRequestMs, idleMs: DEFAULT_CLIENT_TIMEOUTS.httpIdleMs };

/** What every HTTP session of a node shares. */
export interface HttpContext {
  gateway: Gateway;
  log: Logger;
  clock: Clock;
  version: string;
  /** Extra fields of /status (where every member listens, the process). */
  statusExtra: () => Record<string, unknown>;
  /** The /metrics text. */
  metrics: () => string;
  /** Responses by status code, for /metrics. */
  responses: Family<Counter>;
  /** Fresh random bytes for password salts (the Env's Rng). */
  salt: () => Uint8Array;
  /** See LineSessionOptions.soon. */
  soon: (fn: () => void) => void;
  limits?: HttpLimits;
  timeouts?: HttpTimeouts;
  /** Failed logins per source address (shared by every connection of the node). */
  logins?: LoginThrottle;
}

/** One request and, once known, its response. */
interface Exchange {
  head: RequestHead;
  route: Route | null;
  params: Record<string, string>;
  /** The query string's parameters (parsed once, with the path). */
  query: URLSearchParams | null;
  /** Body bytes (kept only for an operation's route). */
  chunks: Buffer[] | null;
  response: string | Buffer | null;
  /** The connection closes after this response. */
  closeAfter: boolean;
}

type Headers = [string, string][];

const JSON_TYPE: [string, string] = ['content-type', 'application/json; charset=utf-8'];

export class HttpSession {
  private readonly parser: RequestParser;
  private readonly limits: HttpLimits;
  private readonly timeouts: HttpTimeouts;
  /** Requests in arrival order; the first one's response is written as soon as it is known. */
  private readonly queue: Exchange[] = [];
  /** The request whose body is being received. */
  private receiving: Exchange | null = null;
  /** No further request is read (a response that closes the connection is queued or written). */
  private closing = false;
  private flushQueued = false;
  private paused = false;
  /** When the request now arriving began (its first byte), or null between requests. */
  private requestStartMs: number | null = null;
  private headReceived = false;
  private lastActivityMs: number;
  private timer: Timer | null = null;
  private timerAtMs = Infinity;

  constructor(
    private readonly stream: Stream,
    private readonly ctx: HttpContext,
    private readonly onClose?: (reason: StreamCloseReason) => void,
  ) {
    this.limits = ctx.limits ?? { ...DEFAULT_HTTP_LIMITS, bodyBytesMax: BODY_BYTES_MAX };
    this.parser = new RequestParser(this.limits);
    this.timeouts = ctx.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
    this.lastActivityMs = ctx.clock.monotonicMs();
    stream.setHandler({
      data: (chunk) => this.data(chunk),
      end: () => this.inputEnded(),
      close: (reason) => this.closed(reason),
      drain: () => {
        this.lastActivityMs = this.ctx.clock.monotonicMs();
        this.updateFlow();
        this.armTimer();
      },
    });
    this.armTimer();
  }

  private data(chunk: Buffer): void {
    if (this.closing) return;
    this.lastActivityMs = this.ctx.clock.monotonicMs();
    if (this.requestStartMs === null) this.requestStartMs = this.lastActivityMs;
    const events: RequestEvent[] = [];
    let error: HttpWireError | null = null;
    try {
      this.parser.push(chunk, events);
    } catch (err) {
      if (!(err instanceof HttpWireError)) throw err;
      error = err;
    }
    for (const ev of events) {
      if (this.closing) break;
      if (ev.type === 'head') this.head(ev.head);
      else if (ev.type === 'body') this.receiving?.chunks?.push(ev.bytes);
      else this.complete();
    }
    if (error !== null && !this.closing) this.refuse(error.status, error.code, error.message);
    else if (this.parser.idle) this.requestStartMs = null;
    this.updateFlow();
    this.armTimer();
  }

  private inputEnded(): void {
    // A client that half-closes after its requests still gets its answers; a request cut off
    // mid-way is answered 400 (the connection is done either way).
    if (!this.parser.idle && !this.closing) this.refuse(400, 'bad_request', 'the connection ended in the middle of a request');
    this.closing = true;
    this.flush();
  }

  private closed(reason: StreamCloseReason): void {
    this.closing = true;
    this.timer?.cancel();
    this.timer = null;
    this.onClose?.(reason);
  }

  private head(head: RequestHead): void {
    this.headReceived = true;
    const ex: Exchange = { head, route: null, params: {}, query: null, chunks: null, response: null, closeAfter: !head.keepAlive };
    this.queue.push(ex);
    this.receiving = ex;
    let url: URL;
    try {
      url = new URL(head.target, 'http://localhost');
    } catch {
      this.respond(ex, 400, { ok: false, code: 'bad_request', message: `malformed request target ${JSON.stringify(head.target.slice(0, 80))}` });
      return;
    }
    ex.query = url.searchParams;
    try {
      const match = matchRoute(head.method, url.pathname);
      if (match.kind === 'none') {
        this.respond(ex, 404, { ok: false, code: 'not_found', message: `no route ${head.method} ${url.pathname}; see GET /openapi.json` });
        return;
      }
      if (match.kind === 'method') {
        this.respond(ex, 405, { ok: false, code: 'method_not_allowed', message: `${head.method} is not allowed on ${url.pathname}; use ${match.allowed.join(', ')}` }, [['allow', match.allowed.join(', ')]]);
        return;
      }
      ex.route = match.route;
      ex.params = match.params;
    } catch (err) {
      this.fail(ex, err);
      return;
    }
    if (ex.route.kind === 'local') {
      this.local(ex, ex.route);
      return;
    }
    const bodyMax = this.limits.bodyBytesMax;
    if (head.contentLength !== null && head.contentLength > bodyMax) {
      // The parser reads the declared body and drops it, so the client, still sending, gets
      // this answer instead of a reset.
      this.respond(ex, 413, { ok: false, code: 'too_large', message: `request body of ${head.contentLength} bytes exceeds the limit of ${bodyMax}` });
      return;
    }
    ex.chunks = [];
    if (head.expectContinue && this.queue[0] === ex) this.stream.write('HTTP/1.1 100 Continue\r\n\r\n');
  }

  /** The request's body is complete: run its operation. */
  private complete(): void {
    const ex = this.receiving;
    this.receiving = null;
    this.headReceived = false;
    this.requestStartMs = null;
    if (ex === null || ex.response !== null || ex.route === null || ex.route.kind !== 'op' || ex.chunks === null) return;
    const route = ex.route;
    const chunks = ex.chunks;
    ex.chunks = null;
    try {
      const body = parseBody(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), ex.head.headers.get('content-type'), route);
      const input: HttpInput = { params: ex.params, query: ex.query ?? new URLSearchParams(), body, salt: this.ctx.salt };
      const { op, db } = route.build(input);
      const login = op.f === 'auth.login';
      if (login && this.throttled(ex)) return;
      const run = (retried: boolean) =>
        this.credentials(ex, route, (token, basic) => {
          this.ctx.gateway.execute('http', op, db, token, (result) => {
            if (login) this.ctx.logins?.record(sourceOf(this.stream.remote), result.ok);
            if (!result.ok && result.code === 'unauthorized' && basic !== null && !retried) {
              // The remembered token was refused: log in again once (the request did nothing).
              this.ctx.gateway.forgetBasic(basic.user, basic.password);
              run(true);
              return;
            }
            try {
              this.answer(ex, route, input, result);
            } catch (err) {
              this.fail(ex, err);
            }
          });
        });
      run(false);
    } catch (err) {
      this.fail(ex, err);
    }
  }

  private answer(ex: Exchange, route: OpRoute, input: HttpInput, result: Result): void {
    if (result.ok) {
      const a = route.answer(result.value, result.entries, input, result.next);
      this.respond(ex, a.status, a.body);
      return;
    }
    const status = errorStatus(result.code);
    if (status === 401 || status === 403) {
      this.ctx.log.log('warn', 'http.denied', { remote: this.stream.remote, method: ex.head.method, route: route.operationId, code: result.code, message: result.message });
    }
    const headers: Headers = [];
    if (status === 401) headers.push(['www-authenticate', 'Bearer realm="kv-lab", Basic realm="kv-lab", charset="UTF-8"']);
    if (status === 503) headers.push(['retry-after', '1']);
    this.respond(ex, status, { ok: false, code: result.code, message: result.message, ...(result.leader !== undefined ? { leader: result.leader } : {}) }, headers);
  }

  /** The bearer token of a request: given as Bearer, or obtained for Basic credentials. */
  private credentials(ex: Exchange, route: OpRoute, next: (token: string | null, basic: { user: string; password: string } | null) => void): void {
    const header = ex.head.headers.get('authorization');
    if (!route.auth || header === undefined || !this.ctx.gateway.authEnabled) {
      next(null, null);
      return;
    }
    const none: HttpInput = { params: {}, query: new URLSearchParams(), body: { kind: 'none' } };
    const m = /^(\S+)\s+(\S+)\s*$/.exec(header);
    const scheme = m?.[1]?.toLowerCase();
    if (m !== null && scheme === 'bearer') {
      next(m[2] as string, null);
      return;
    }
    if (m !== null && scheme === 'basic') {
      const decoded = Buffer.from(m[2] as string, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        if (this.throttled(ex)) return;
        const basic = { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
        this.ctx.gateway.basicToken(basic.user, basic.password, (r) => {
          this.ctx.logins?.record(sourceOf(this.stream.remote), r.ok);
          if (r.ok) next(typeof r.value === 'string' ? r.value : null, basic);
          else this.answer(ex, route, none, r);
        });
        return;
      }
    }
    this.answer(ex, route, none, { ok: false, code: 'unauthorized', message: 'malformed Authorization header: use "Bearer <token>" or "Basic <base64 user:password>"' });
  }

  /** Answers 429 (with Retry-After) if the source failed to log in too often lately. */
  private throttled(ex: Exchange): boolean {
    const source = sourceOf(this.stream.remote);
    const waitMs = this.ctx.logins?.waitMs(source) ?? 0;
    if (waitMs === 0) return false;
    this.respond(ex, 429, { ok: false, code: 'too_many_requests', message: `too many failed logins from ${source}; retry in ${waitMs} ms` }, [['retry-after', String(Math.ceil(waitMs / 1000))]]);
    return true;
  }

  private local(ex: Exchange, route: LocalRoute): void {
    const gw = this.ctx.gateway;
    switch (route.name) {
      case 'health': {
        const s = gw.status();
        // A sharded node has no one leader: it is healthy when every group it holds knows one.
        const leaderless = s.shards?.hosted.filter((g) => g.leader === null).map((g) => g.shard) ?? [];
        const healthy = s.role !== 'stopped' && (s.shards !== undefined ? s.role !== 'starting' && leaderless.length === 0 : s.leader !== null);
        const why = s.role === 'stopped' || (s.shards !== undefined && s.role === 'starting') ? 'node is not serving (starting, or stopped)' : s.shards !== undefined ? `no leader known for shard${leaderless.length === 1 ? '' : 's'} ${leaderless.slice(0, 16).join(', ')}${leaderless.length > 16 ? ', …' : ''}` : 'no leader known';
        this.respond(ex, healthy ? 200 : 503, healthy ? { ok: true, status: 'ok', node: s.id, role: s.role, leader: s.leader, ...(s.shards !== undefined ? { shardsLeading: s.shards.leading } : {}) } : { ok: false, code: 'unavailable', message: why, node: s.id, role: s.role });
        return;
      }
      case 'status':
        this.respond(ex, 200, { ok: true, ...gw.status(), ...this.ctx.statusExtra() });
        return;
      case 'metrics':
        this.respondRaw(ex, 200, [['content-type', 'text/plain; version=0.0.4; charset=utf-8']], this.ctx.metrics());
        return;
      case 'openapi':
        this.respond(ex, 200, openApiDocument(this.ctx.version));
        return;
    }
  }

  private fail(ex: Exchange, err: unknown): void {
    if (err instanceof HttpError) {
      if (err.closeConnection) ex.closeAfter = true;
      this.respond(ex, err.status, { ok: false, code: err.code, message: err.message });
      return;
    }
    this.ctx.log.log('error', 'http.handler_failed', { method: ex.head.method, path: ex.head.target.slice(0, 200), error: (err as Error).stack ?? String(err) });
    this.respond(ex, 500, { ok: false, code: 'internal', message: 'internal error (logged on the node)' });
  }

  /** A request that cannot be read any further: answer it and close (no request after it is read). */
  private refuse(status: number, code: string, message: string): void {
    let ex = this.receiving;
    if (ex === null || ex.response !== null) {
      // The error is in a head that never parsed: a stand-in exchange carries the answer.
      ex = { head: { method: '-', target: '-', version: '1.1', headers: new Map(), keepAlive: false, contentLength: 0, expectContinue: false }, route: null, params: {}, query: null, chunks: null, response: null, closeAfter: true };
      this.queue.push(ex);
    }
    this.receiving = null;
    ex.closeAfter = true;
    this.closing = true;
    this.respond(ex, status, { ok: false, code, message });
  }

  private respond(ex: Exchange, status: number, body: Record<string, unknown>, headers: Headers = []): void {
    this.respondRaw(ex, status, [JSON_TYPE, ...headers], JSON.stringify(body) + '\n');
  }

  private respondRaw(ex: Exchange, status: number, headers: Headers, body: string): void {
    if (ex.response !== null) return; // answered already (a late result after an error)
    this.ctx.responses.get({ status: String(status) }).inc();
    const all: Headers = [...headers, ['date', httpDate(this.ctx.clock.wallMs())]];
    if (ex.closeAfter) all.push(['connection', 'close']);
    else if (ex.head.version === '1.0') all.push(['connection', 'keep-alive']);
    ex.response = formatResponse(status, all, body);
    if (!this.flushQueued) {
      this.flushQueued = true;
      this.ctx.soon(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }

  /** Writes the answers that are ready, in request order; closes after one that says so. */
  private flush(): void {
    let out: (string | Buffer)[] | null = null;
    while (this.queue.length > 0 && (this.queue[0] as Exchange).response !== null) {
      const ex = this.queue.shift() as Exchange;
      (out ??= []).push(ex.response as string | Buffer);
      if (ex.closeAfter) {
        this.closing = true;
        this.queue.length = 0;
        break;
      }
    }
    if (out !== null && !this.stream.closed) {
      for (const piece of out) this.stream.write(piece);
      this.lastActivityMs = this.ctx.clock.monotonicMs();
    }
    if (this.closing && this.queue.length === 0 && !this.stream.closed) this.stream.finish();
    this.updateFlow();
    this.armTimer();
  }

  /** Pauses reading while too many requests wait for answers or the client does not read them. */
  private updateFlow(): void {
    const shouldPause = this.queue.length >= PIPELINE_MAX || this.stream.needsDrain;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.stream.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }

  /**
   * One timer per connection, at the earliest deadline that can apply: a head not complete
   * within headersMs, a request not complete within requestMs, or a connection idle for idleMs.
   * Deadlines only move later with activity, so the timer is re-armed only when it fires early.
   */
  private armTimer(): void {
    if (this.closing) return;
    const deadline = this.deadlineMs();
    if (deadline === null || this.timerAtMs <= deadline) return;
    this.timer?.cancel();
    this.timerAtMs = deadline;
    this.timer = this.ctx.clock.timer(Math.max(0, deadline - this.ctx.clock.monotonicMs()), () => {
      this.timer = null;
      this.timerAtMs = Infinity;
      this.onTimer();
    });
  }

  private deadlineMs(): number | null {
    // A client that does not read its answers holds them in memory: idle, whatever else waits.
    if (this.stream.needsDrain) return this.lastActivityMs + this.timeouts.idleMs;
    if (this.requestStartMs !== null) return this.requestStartMs + (this.headReceived ? this.timeouts.requestMs : this.timeouts.headersMs);
    if (this.queue.length === 0) return this.lastActivityMs + this.timeouts.idleMs;
    return null; // waiting for answers: the gateway's own deadline applies
  }

  private onTimer(): void {
    if (this.closing || this.stream.closed) return;
    const now = this.ctx.clock.monotonicMs();
    const deadline = this.deadlineMs();
    if (deadline !== null && now >= deadline) {
      if (this.stream.needsDrain) {
        this.closing = true;
        this.stream.destroy();
      } else if (this.requestStartMs !== null) this.refuse(408, 'timeout', `the request did not arrive within ${this.headReceived ? this.timeouts.requestMs : this.timeouts.headersMs} ms`);
      else {
        this.closing = true;
        this.stream.finish();
      }
      return;
    }
    this.armTimer();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A request body as the route sees it: none, JSON, or — only under Content-Type
 * application/octet-stream, and only where the route allows it — the raw text as a string value.
 * Every other type is read as JSON, because clients send JSON under many labels (curl -d says
 * form-urlencoded, fetch with a string body says text/plain) and storing such a body verbatim as
 * a string would silently store the wrong thing.
 */
export function parseBody(bytes: Buffer, contentType: string | undefined, route: OpRoute): HttpBody {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'bad_request', 'the request body is not valid UTF-8');
  }
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/octet-stream') {
    if (route.body?.text) return { kind: 'text', text };
    throw new HttpError(415, 'unsupported_media_type', 'only PUT of a key takes a raw application/octet-stream body; send JSON');
  }
  if (text.trim() === '') return { kind: 'none' };
  if (jsonNestingExceeds(text)) throw new HttpError(400, 'bad_request', `the request body nests arrays or objects deeper than ${JSON_DEPTH_MAX} levels`);
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch (err) {
    throw new HttpError(400, 'bad_request', `the request body is not JSON (${(err as Error).message}); a raw value needs Content-Type: application/octet-stream`);
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let dateCache = { second: -1, text: '' };

/**
 * The date header field (RFC 9110 §5.6.7: IMF-fixdate), from the Env's wall clock, computed once per
 * second. Written by hand because the calendar routines take the real clock's type.
 */
export function httpDate(wallMs: number): string {
  const second = Math.floor(wallMs / 1000);
  if (second === dateCache.second) return dateCache.text;
  const days = Math.floor(second / 86400);
  const secs = second - days * 86400;
  // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const two = (n: number) => String(n).padStart(2, '0');
  const text = `${DAYS[(((days + 4) % 7) + 7) % 7]}, ${two(day)} ${MONTHS[month - 1]} ${String(year).padStart(4, '0')} ${two(Math.floor(secs / 3600))}:${two(Math.floor((secs % 3600) / 60))}:${two(secs % 60)} GMT`;
  dateCache = { second, text };
  return text;
}
