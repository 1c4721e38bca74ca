import { assert } from '../util/assert.js';

/**
 * HTTP/1.1 message syntax (RFC 9112), both directions, incrementally: the front door parses
 * requests and writes responses with it, the HTTP client writes requests and parses responses.
 * Pure: bytes in, events out. What it accepts is deliberately narrow where laxity has caused
 * request smuggling elsewhere (a message with both Content-Length and Transfer-Encoding, repeated
 * Content-Lengths that disagree, obsolete line folding, whitespace before a colon, bare CR).
 *
 * Every size is bounded (HttpLimits); a message over a bound is an HttpWireError carrying the
 * status to answer (400, 408, 413, 431, 501, 505), never an exception of another kind.
 */

export interface HttpLimits {
  /** Request or status line plus headers, in bytes. */
  headBytesMax: number;
  /** Header fields per message. */
  headersMax: number;
  /** A body, decoded (after chunked framing). */
  bodyBytesMax: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { headBytesMax: 16 * 1024, headersMax: 100, bodyBytesMax: 8 * 1024 * 1024 };

/** A message the peer sent that cannot be read; `status` is what a server answers. */
export class HttpWireError extends Error {
  override name = 'HttpWireError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestHead {
  method: string;
  /** The request-target as sent (origin-form "/kv/a?x=1", or absolute-form). */
  target: string;
  version: '1.0' | '1.1';
  /** Field names in lower case; repeated fields joined with ", " (RFC 9110 §5.3). */
  headers: Map<string, string>;
  /** The connection stays open after this exchange (HTTP/1.1 unless `close`; 1.0 only with keep-alive). */
  keepAlive: boolean;
  /** Bytes the body declares: Content-Length, or null when chunked (or absent: 0). */
  contentLength: number | null;
  expectContinue: boolean;
}

export interface ResponseHead {
  status: number;
  reason: string;
  version: '1.0' | '1.1';
  headers: Map<string, string>;
  keepAlive: boolean;
}

export type RequestEvent =
  | { type: 'head'; head: RequestHead }
  | { type: 'body'; bytes: Buffer }
  /** The body (possibly empty) is complete; the next bytes start a new request. */
  | { type: 'end' };

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const LF_LF = Buffer.from('\n\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Field values may hold visible characters, spaces, tabs and obs-text; no other controls. */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const CHUNK_LINE_BYTES_MAX = 1024;
/** Bytes of a declared body past bodyBytesMax that are still read (and dropped) to answer 413. */
export const DISCARD_FACTOR = 8;

type Framing = { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' };

/** Where the message's head ends (the index after the blank line), or -1. */
function headEnd(buf: Buffer): number {
  const crlf = buf.indexOf(CRLF_CRLF);
  const lf = buf.indexOf(LF_LF);
  if (crlf < 0) return lf < 0 ? -1 : lf + 2;
  if (lf < 0 || crlf + 2 <= lf) return crlf + 4;
  return lf + 2;
}

/** Splits a head into lines (CRLF or bare LF; a bare CR is refused), without the blank line. */
function headLines(text: string): string[] {
  if (/\r(?!\n)/.test(text)) throw new HttpWireError(400, 'bad_request', 'a bare CR in the message head');
  return text.split(/\r?\n/);
}

function parseFields(lines: string[], limits: HttpLimits): Map<string, string> {
  if (lines.length > limits.headersMax) throw new HttpWireError(431, 'too_large', `more than ${limits.headersMax} header fields`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    if (line === '') continue;
    if (line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) throw new HttpWireError(400, 'bad_request', 'obsolete line folding in a header field');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpWireError(400, 'bad_request', `malformed header field ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpWireError(400, 'bad_request', `malformed header field name ${JSON.stringify(name.slice(0, 60))}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) throw new HttpWireError(400, 'bad_request', `a control character in header field ${name}`);
    const lower = name.toLowerCase();
    const prior = headers.get(lower);
    headers.set(lower, prior === undefined ? value : `${prior}, ${value}`);
  }
  return headers;
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.toLowerCase().split(',').some((t) => t.trim() === token);
}

/** Content-Length as a number; repeated equal values (as a proxy may join them) are one. */
function contentLength(value: string): number {
  const parts = value.split(',').map((p) => p.trim());
  const first = parts[0] as string;
  if (!/^\d{1,15}$/.test(first) || parts.some((p) => p !== first)) throw new HttpWireError(400, 'bad_request', `malformed Content-Length ${JSON.stringify(value.slice(0, 40))}`);
  return Number(first);
}

/** The body framing of a message with these headers (RFC 9112 §6.3), for a request or a response. */
function framing(headers: Map<string, string>, version: '1.0' | '1.1', isRequest: boolean): Framing {
  const te = headers.get('transfer-encoding');
  const cl = headers.get('content-length');
  if (te !== undefined) {
    if (cl !== undefined) throw new HttpWireError(400, 'bad_request', 'both Transfer-Encoding and Content-Length');
    if (version === '1.0') throw new HttpWireError(400, 'bad_request', 'Transfer-Encoding in an HTTP/1.0 message');
    if (te.trim().toLowerCase() !== 'chunked') throw new HttpWireError(501, 'not_implemented', `Transfer-Encoding ${JSON.stringify(te.slice(0, 40))} (only chunked is supported)`);
    return { kind: 'chunked' };
  }
  if (cl !== undefined) return { kind: 'length', remaining: contentLength(cl) };
  return isRequest ? { kind: 'length', remaining: 0 } : { kind: 'close' };
}

/**
 * The body decoder both parsers share: Content-Length, chunked (with extensions and trailers
 * skipped, bounded) or until the connection closes. feed() consumes what it can and says how much.
 */
class BodyDecoder {
  private state: 'data' | 'size' | 'chunk' | 'chunk-crlf' | 'trailers' | 'done' = 'data';
  private remaining = 0;
  private line: Buffer[] = [];
  private lineBytes = 0;
  private decoded = 0;

  constructor(
    private readonly framing: Framing,
    /** Past this many decoded bytes: 413 (or, when discarding, just count). */
    private readonly bodyBytesMax: number,
  ) {
    if (framing.kind === 'length') this.remaining = framing.remaining;
    else if (framing.kind === 'chunked') this.state = 'size';
    if (framing.kind === 'length' && framing.remaining === 0) this.state = 'done';
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Bytes of the body seen so far (decoded). */
  get bytes(): number {
    return this.decoded;
  }

  /** Consumes bytes from buf at offset; returns [new offset, body bytes decoded in this call]. */
  feed(buf: Buffer, offset: number, out: Buffer[]): number {
    let i = offset;
    while (i < buf.length && this.state !== 'done') {
      switch (this.state) {
        case 'data': {
          if (this.framing.kind === 'close') {
            this.take(buf.subarray(i), out);
            i = buf.length;
            break;
          }
          const n = Math.min(this.remaining, buf.length - i);
          this.take(buf.subarray(i, i + n), out);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'done';
          break;
        }
        case 'chunk': {
          const n = Math.min(this.remaining, buf.length - i);
          this.take(buf.subarray(i, i + n), out);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-crlf';
          break;
        }
        case 'size':
        case 'chunk-crlf':
        case 'trailers': {
          const nl = buf.indexOf(10, i);
          const end = nl < 0 ? buf.length : nl;
          this.lineBytes += end - i;
          if (this.lineBytes > CHUNK_LINE_BYTES_MAX) throw new HttpWireError(400, 'bad_request', 'a chunk-size or trailer line is too long');
          // After chunk data only CRLF may come: say so at the first wrong byte, not at a newline.
          if (this.state === 'chunk-crlf' && (this.lineBytes > 1 || (end > i && buf[i] !== 13))) throw new HttpWireError(400, 'bad_request', 'chunk data is not followed by CRLF');
          this.line.push(buf.subarray(i, end));
          i = nl < 0 ? buf.length : nl + 1;
          if (nl >= 0) this.lineDone();
          break;
        }
      }
    }
    return i;
  }

  /** The body ends because the connection closed: complete only for close-delimited bodies. */
  closeEnds(): boolean {
    if (this.framing.kind === 'close' && this.state === 'data') {
      this.state = 'done';
      return true;
    }
    return this.state === 'done';
  }

  private take(bytes: Buffer, out: Buffer[]): void {
    if (bytes.length === 0) return;
    this.decoded += bytes.length;
    if (this.decoded > this.bodyBytesMax) throw new HttpWireError(413, 'too_large', `the body exceeds the limit of ${this.bodyBytesMax} bytes`);
    out.push(bytes);
  }

  private lineDone(): void {
    const text = Buffer.concat(this.line).toString('latin1').replace(/\r$/, '');
    this.line = [];
    this.lineBytes = 0;
    if (this.state === 'chunk-crlf') {
      if (text !== '') throw new HttpWireError(400, 'bad_request', 'chunk data is not followed by CRLF');
      this.state = 'size';
    } else if (this.state === 'size') {
      const m = /^([0-9A-Fa-f]{1,12})[ \t]*(;.*)?$/.exec(text);
      if (m === null) throw new HttpWireError(400, 'bad_request', `malformed chunk size ${JSON.stringify(text.slice(0, 40))}`);
      const size = parseInt(m[1] as string, 16);
      if (size === 0) this.state = 'trailers';
      else {
        if (this.decoded + size > this.bodyBytesMax) throw new HttpWireError(413, 'too_large', `the body exceeds the limit of ${this.bodyBytesMax} bytes`);
        this.remaining = size;
        this.state = 'chunk';
      }
    } else if (text === '') this.state = 'done'; // the blank line after the trailers
  }
}

/**
 * Requests from a byte stream, one after another (pipelining included). push() returns the
 * events the bytes complete; after an HttpWireError the stream is unusable (answer and close).
 * A body whose declared length is over the limit is not delivered: the head comes with
 * `contentLength` over bodyBytesMax, then up to DISCARD_FACTOR× the limit is read and dropped so
 * that the client, still sending, receives the 413 instead of a reset; past that, an error.
 */
export class RequestParser {
  private head: Buffer = Buffer.alloc(0);
  private body: BodyDecoder | null = null;
  private discarding = 0;
  private failed = false;

  constructor(private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS) {
    assert(limits.headBytesMax > 0 && limits.bodyBytesMax >= 0, 'HttpLimits must be positive');
  }

  /** Between requests: no byte of the next one has arrived. */
  get idle(): boolean {
    return this.body === null && this.head.length === 0 && this.discarding === 0;
  }

  /**
   * Appends the events the bytes complete to `events`. Throws HttpWireError for a message that
   * cannot be read; the events of the requests before it are in `events` all the same.
   */
  push(chunk: Buffer, events: RequestEvent[]): void {
    assert(!this.failed, 'RequestParser.push after an error');
    try {
      let i = 0;
      while (i < chunk.length) i = this.step(chunk, i, events);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private step(chunk: Buffer, i: number, events: RequestEvent[]): number {
    if (this.discarding > 0) {
      const n = Math.min(this.discarding, chunk.length - i);
      this.discarding -= n;
      if (this.discarding === 0) events.push({ type: 'end' });
      return i + n;
    }
    if (this.body !== null) {
      const out: Buffer[] = [];
      const next = this.body.feed(chunk, i, out);
      for (const bytes of out) events.push({ type: 'body', bytes });
      if (this.body.done) {
        this.body = null;
        events.push({ type: 'end' });
      }
      return next;
    }
    return this.headStep(chunk, i, events);
  }

  private headStep(chunk: Buffer, i: number, events: RequestEvent[]): number {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    if (this.head.length === 0) {
      while (i < chunk.length && (chunk[i] === 13 || chunk[i] === 10)) i++;
      if (i === chunk.length) return i;
    }
    const before = this.head.length;
    // Heads are small (at most headBytesMax): joining the pieces of one is bounded work.
    this.head = before === 0 ? chunk.subarray(i) : Buffer.concat([this.head, chunk.subarray(i)]);
    const end = headEnd(this.head);
    if (end < 0) {
      if (this.head.length > this.limits.headBytesMax) throw new HttpWireError(431, 'too_large', `the request head exceeds ${this.limits.headBytesMax} bytes`);
      if (before === 0) this.head = Buffer.from(this.head); // own it: the chunk's memory is the stream's
      return chunk.length;
    }
    if (end > this.limits.headBytesMax) throw new HttpWireError(431, 'too_large', `the request head exceeds ${this.limits.headBytesMax} bytes`);
    const head = this.parseHead(this.head.subarray(0, end).toString('latin1'));
    const consumed = end - before;
    this.head = Buffer.alloc(0);
    events.push({ type: 'head', head });
    const f = framing(head.headers, head.version, true);
    if (f.kind === 'length' && f.remaining > this.limits.bodyBytesMax) {
      if (f.remaining > this.limits.bodyBytesMax * DISCARD_FACTOR) throw new HttpWireError(413, 'too_large', `a body of ${f.remaining} bytes exceeds the limit of ${this.limits.bodyBytesMax}`);
      this.discarding = f.remaining;
      return i + consumed;
    }
    const body = new BodyDecoder(f, this.limits.bodyBytesMax);
    if (body.done) events.push({ type: 'end' });
    else this.body = body;
    return i + consumed;
  }

  private parseHead(text: string): RequestHead {
    const lines = headLines(text);
    const requestLine = lines[0] as string;
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(requestLine);
    if (m === null) throw new HttpWireError(400, 'bad_request', `malformed request line ${JSON.stringify(requestLine.slice(0, 80))}`);
    if (m[3] !== '1' || (m[4] !== '0' && m[4] !== '1')) throw new HttpWireError(505, 'version_not_supported', `HTTP/${m[3]}.${m[4]} is not supported; use HTTP/1.1`);
    const version = m[4] === '1' ? '1.1' : '1.0';
    const headers = parseFields(lines.slice(1), this.limits);
    if (version === '1.1' && !headers.has('host')) throw new HttpWireError(400, 'bad_request', 'an HTTP/1.1 request needs a Host header');
    const f = framing(headers, version, true);
    const conn = headers.get('connection');
    return {
      method: m[1] as string,
      target: m[2] as string,
      version,
      headers,
      keepAlive: version === '1.1' ? !hasToken(conn, 'close') : hasToken(conn, 'keep-alive'),
      contentLength: f.kind === 'length' ? f.remaining : null,
      expectContinue: version === '1.1' && (headers.get('expect') ?? '').toLowerCase() === '100-continue',
    };
  }
}

export type ResponseEvent = { type: 'head'; head: ResponseHead } | { type: 'body'; bytes: Buffer } | { type: 'end' };

/**
 * Responses from a byte stream, for a client that sent the requests in order. Interim (1xx)
 * responses are skipped. `expectBody(false)` before a response arrives says it answers a HEAD.
 */
export class ResponseParser {
  private head: Buffer = Buffer.alloc(0);
  private body: BodyDecoder | null = null;
  private failed = false;

  constructor(private readonly limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, bodyBytesMax: 256 * 1024 * 1024 }) {}

  /** As RequestParser.push. */
  push(chunk: Buffer, events: ResponseEvent[]): void {
    assert(!this.failed, 'ResponseParser.push after an error');
    try {
      let i = 0;
      while (i < chunk.length) i = this.step(chunk, i, events);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  /** The connection closed: completes a close-delimited body; false if a response was cut off. */
  close(events: ResponseEvent[]): boolean {
    if (this.body !== null) {
      if (!this.body.closeEnds()) return false;
      this.body = null;
      events.push({ type: 'end' });
      return true;
    }
    return this.head.length === 0;
  }

  private step(chunk: Buffer, i: number, events: ResponseEvent[]): number {
    if (this.body !== null) {
      const out: Buffer[] = [];
      const next = this.body.feed(chunk, i, out);
      for (const bytes of out) events.push({ type: 'body', bytes });
      if (this.body.done) {
        this.body = null;
        events.push({ type: 'end' });
      }
      return next;
    }
    const before = this.head.length;
    this.head = before === 0 ? Buffer.from(chunk.subarray(i)) : Buffer.concat([this.head, chunk.subarray(i)]);
    const end = headEnd(this.head);
    if (end < 0) {
      if (this.head.length > this.limits.headBytesMax) throw new HttpWireError(431, 'too_large', `the response head exceeds ${this.limits.headBytesMax} bytes`);
      return chunk.length;
    }
    const text = this.head.subarray(0, end).toString('latin1');
    this.head = Buffer.alloc(0);
    const lines = headLines(text);
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] as string);
    if (m === null) throw new HttpWireError(502, 'bad_response', `malformed status line ${JSON.stringify((lines[0] as string).slice(0, 80))}`);
    const status = Number(m[2]);
    const version = m[1] === '1' ? '1.1' : '1.0';
    const headers = parseFields(lines.slice(1), this.limits);
    const next = i + (end - before);
    if (status >= 100 && status < 200) return next; // interim: 100 Continue and the like
    const conn = headers.get('connection');
    events.push({ type: 'head', head: { status, reason: m[3] ?? '', version, headers, keepAlive: version === '1.1' ? !hasToken(conn, 'close') : hasToken(conn, 'keep-alive') } });
    const noBody = status === 204 || status === 304;
    const body = new BodyDecoder(noBody ? { kind: 'length', remaining: 0 } : framing(headers, version, false), this.limits.bodyBytesMax);
    if (body.done) events.push({ type: 'end' });
    else this.body = body;
    return next;
  }
}

export const REASONS: ReadonlyMap<number, string> = new Map([
  [100, 'Continue'], [200, 'OK'], [201, 'Created'], [204, 'No Content'], [400, 'Bad Request'], [401, 'Unauthorized'],
  [403, 'Forbidden'], [404, 'Not Found'], [405, 'Method Not Allowed'], [408, 'Request Timeout'], [409, 'Conflict'],
  [413, 'Content Too Large'], [415, 'Unsupported Media Type'], [429, 'Too Many Requests'], [431, 'Request Header Fields Too Large'],
  [500, 'Internal Server Error'], [501, 'Not Implemented'], [502, 'Bad Gateway'], [503, 'Service Unavailable'],
  [504, 'Gateway Timeout'], [505, 'HTTP Version Not Supported'], [507, 'Insufficient Storage'],
]);

/**
 * A response head and body as bytes: Content-Length always (no chunked responses: every answer is
 * built whole). REQUIRES: header names and values without CR or LF.
 */
export function formatResponse(status: number, headers: Iterable<[string, string]>, body: string | Buffer): string | Buffer {
  assert(status >= 100 && status <= 999, () => `formatResponse: status ${status}`);
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  let head = `HTTP/1.1 ${status} ${REASONS.get(status) ?? 'Unknown'}\r\n`;
  for (const [name, value] of headers) {
    assert(!/[\r\n]/.test(name) && !/[\r\n]/.test(value), () => `a header with CR or LF: ${name}`);
    head += `${name}: ${value}\r\n`;
  }
  head += `content-length: ${length}\r\n\r\n`;
  return typeof body === 'string' ? head + body : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A request as bytes, for the client. REQUIRES: a target in origin-form without spaces. */
export function formatRequest(method: string, target: string, headers: Iterable<[string, string]>, body: string | null): string {
  assert(TOKEN.test(method) && !/[\s]/.test(target), () => `formatRequest: ${method} ${target}`);
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [name, value] of headers) {
    assert(!/[\r\n]/.test(name) && !/[\r\n]/.test(value), () => `a header with CR or LF: ${name}`);
    head += `${name}: ${value}\r\n`;
  }
  if (body !== null) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
  return `${head}\r\n${body ?? ''}`;
}
