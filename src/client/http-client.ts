import type { Clock, Timer } from '../env/clock.js';
import type { Dialer, Stream } from '../env/stream.js';
import { isDefinite, isReadOnly, type ErrorCode, type KvOp, type Permission } from '../node/protocol.js';
import { assert } from '../util/assert.js';
import type { Json } from '../util/json.js';
import { formatRequest, HttpWireError, ResponseParser, type ResponseEvent, type ResponseHead } from '../wire/http1.js';
import type { Outcome } from './client.js';

/**
 * A client of the HTTP API (what the CLI uses; fine for scripts too), over HTTP/1.1 keep-alive
 * connections that it opens through a Dialer — real TCP (src/host) or the simulator's streams, so
 * the lab's HTTP clients are this very client. Any node will do — a follower forwards to the
 * leader — so the client only fails over to the next URL when a node cannot be reached at all. A
 * request that reached a node and then lost its connection is not retried: its outcome is
 * unknown, and the error says so.
 *
 * Two faces: promise methods for programs (get, put, …) and `invoke`, a callback form returning
 * an Outcome like KvClient's, for the simulator (whose scheduler a promise would escape).
 */

export interface HttpClientOptions {
  /** Base URLs of the nodes, in order of preference (http://127.0.0.1:8000). */
  urls: string[];
  dial: Dialer;
  clock: Clock;
  /** HTTP Basic credentials, or a bearer token. */
  username?: string;
  password?: string;
  token?: string;
  /** Database of key operations ('' the default one). */
  database?: string;
  timeoutMs?: number;
  /** Open connections per node; more requests at once are pipelined on them. */
  connectionsMax?: number;
}

/** An error answer, or a failure to get one. `code` is the API's error code, or `unreachable`. */
export class KvHttpError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number | null,
    readonly url: string,
  ) {
    super(message);
    this.name = 'KvHttpError';
  }
}

export interface RangeOptions {
  start?: string;
  end?: string;
  limit?: number;
  reverse?: boolean;
}

export type BatchOp =
  | { op: 'put'; key: string; value: Json }
  | { op: 'delete'; key: string }
  | { op: 'cas'; key: string; expected: Json; value: Json }
  | { op: 'append'; key: string; value: string };

type Body = Record<string, unknown>;

/** How one request ended: a parsed answer, or a failure to get one. */
/**
 * A failure as plain data: the simulator's clients end thousands of operations with one, and an
 * Error captures a stack trace each time (1.3% of an HTTP scenario's CPU). The promise API makes
 * a KvHttpError of it.
 */
export interface HttpFailure {
  code: string;
  message: string;
  status: number | null;
  url: string;
}

export type HttpAnswer = { ok: true; status: number; body: Body; url: string } | { ok: false; error: HttpFailure; sent: boolean };

interface Waiting {
  method: string;
  url: string;
  done: (a: HttpAnswer) => void;
  timer: Timer;
  status: number;
  chunks: Buffer[];
}

/** Bytes of a response body the client keeps (a range page is at most a few MiB). */
const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

/** One keep-alive connection: requests written in order, responses read in order. */
class HttpConnection {
  private readonly parser = new ResponseParser({ headBytesMax: 64 * 1024, headersMax: 200, bodyBytesMax: RESPONSE_BYTES_MAX });
  readonly waiting: Waiting[] = [];
  /** Some byte came back on this connection: it reached a server. */
  private answered = false;
  dead = false;

  constructor(
    private readonly stream: Stream,
    readonly base: string,
    private readonly onDead: (c: HttpConnection) => void,
  ) {
    stream.setHandler({
      data: (chunk) => this.data(chunk),
      end: () => this.ended(),
      close: (reason, detail) => this.fail(reason === 'refused' ? 'refused' : 'reset', detail ?? ''),
      drain: () => {},
    });
  }

  send(w: Waiting, bytes: string): void {
    assert(!this.dead, 'HttpConnection.send on a dead connection');
    this.waiting.push(w);
    this.stream.write(bytes);
  }

  /** Abandons the connection (a request on it timed out): every request on it ends. */
  kill(why: 'timeout'): void {
    this.fail(why);
    this.stream.destroy();
  }

  private data(chunk: Buffer): void {
    this.answered = true;
    const events: ResponseEvent[] = [];
    try {
      this.parser.push(chunk, events);
    } catch (err) {
      if (!(err instanceof HttpWireError)) throw err;
      this.handle(events);
      this.fail('garbled', err.message);
      this.stream.destroy();
      return;
    }
    this.handle(events);
  }

  private handle(events: ResponseEvent[]): void {
    for (const ev of events) {
      const w = this.waiting[0];
      if (w === undefined) continue; // an answer nobody waits for: dropped
      if (ev.type === 'head') this.head(w, ev.head);
      else if (ev.type === 'body') w.chunks.push(ev.bytes);
      else {
        this.waiting.shift();
        w.timer.cancel();
        w.done(parseAnswer(w));
      }
    }
  }

  private head(w: Waiting, head: ResponseHead): void {
    w.status = head.status;
    if (!head.keepAlive) this.dead = true; // no new requests here; the ones written still get answers
  }

  private ended(): void {
    const events: ResponseEvent[] = [];
    this.parser.close(events);
    this.handle(events);
    this.fail('reset');
  }

  private fail(why: 'refused' | 'reset' | 'timeout' | 'garbled', detail = ''): void {
    const first = !this.dead || this.waiting.length > 0;
    this.dead = true;
    for (const w of this.waiting.splice(0)) {
      w.timer.cancel();
      const sent = why !== 'refused';
      const message =
        why === 'refused' ? `cannot reach ${this.base} (${detail || 'connection refused'})` :
        why === 'timeout' ? `no answer from ${this.base} in time` :
        why === 'garbled' ? `a malformed answer from ${this.base}: ${detail}` :
        `the connection to ${this.base} was lost${this.answered ? '' : ' before any answer'}${detail !== '' ? ` (${detail})` : ''}`;
      w.done({ ok: false, error: { code: why === 'timeout' ? 'timeout' : 'unreachable', message, status: null, url: w.url }, sent });
    }
    if (first) this.onDead(this);
  }
}

function parseAnswer(w: Waiting): HttpAnswer {
  const text = Buffer.concat(w.chunks).toString('utf8');
  let parsed: Body;
  try {
    parsed = JSON.parse(text) as Body;
  } catch {
    if (w.status >= 200 && w.status < 300) return { ok: true, status: w.status, body: { ok: true, text }, url: w.url };
    return { ok: false, error: { code: 'internal', message: `HTTP ${w.status} from ${w.url}: ${text.slice(0, 200)}`, status: w.status, url: w.url }, sent: true };
  }
  if (w.status >= 200 && w.status < 300) return { ok: true, status: w.status, body: parsed, url: w.url };
  return { ok: false, error: { code: String(parsed.code ?? 'internal'), message: String(parsed.message ?? `HTTP ${w.status}`), status: w.status, url: w.url }, sent: true };
}

/** "http://host:port" → "host:port"; only plain http. */
function authority(base: string): string {
  const m = /^http:\/\/([^/?#]+)\/*$/.exec(base);
  if (m === null) throw new KvHttpError('bad_request', `expected a base URL such as http://127.0.0.1:8000, got ${JSON.stringify(base)}`, null, base);
  return m[1] as string;
}

export class HttpKvClient {
  private readonly timeoutMs: number;
  private readonly connectionsMax: number;
  private readonly bases: string[];
  /** Index of the URL that answered last: keep using it. */
  private current = 0;
  private readonly pools = new Map<string, HttpConnection[]>();
  private closed = false;

  constructor(private readonly options: HttpClientOptions) {
    if (options.urls.length === 0) throw new KvHttpError('bad_request', 'HttpKvClient needs at least one URL', null, '');
    this.bases = options.urls.map((u) => u.replace(/\/+$/, ''));
    this.bases.forEach(authority);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.connectionsMax = options.connectionsMax ?? 4;
  }

  get database(): string {
    return this.options.database ?? '';
  }

  private authorization(): string | null {
    if (this.options.token !== undefined) return `Bearer ${this.options.token}`;
    if (this.options.username !== undefined) return `Basic ${Buffer.from(`${this.options.username}:${this.options.password ?? ''}`).toString('base64')}`;
    return null;
  }

  /** Closes every connection; requests in progress end as unreachable. */
  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) for (const c of pool) c.kill('timeout');
    this.pools.clear();
  }

  /**
   * One request, callback form: the parsed JSON body of a 2xx answer, or the error. A node that
   * refuses the connection is skipped for the next one, whatever the method (nothing was sent).
   */
  send(method: string, path: string, body: unknown, done: (a: HttpAnswer) => void, from = 0): void {
    if (this.closed) {
      done({ ok: false, error: { code: 'unreachable', message: 'the client is closed', status: null, url: '' }, sent: false });
      return;
    }
    const index = (this.current + from) % this.bases.length;
    const base = this.bases[index] as string;
    const url = `${base}${path}`;
    const headers: [string, string][] = [['host', authority(base)]];
    const auth = this.authorization();
    if (auth !== null) headers.push(['authorization', auth]);
    const text = body === undefined ? null : JSON.stringify(body);
    if (text !== null) headers.push(['content-type', 'application/json']);
    const conn = this.connection(base);
    const w: Waiting = {
      method,
      url,
      status: 0,
      chunks: [],
      timer: this.options.clock.timer(this.timeoutMs, () => conn.kill('timeout')),
      done: (a) => {
        if (!a.ok && !a.sent && from + 1 < this.bases.length) {
          this.send(method, path, body, done, from + 1);
          return;
        }
        if (a.ok || a.sent) this.current = index;
        done(a);
      },
    };
    conn.send(w, formatRequest(method, path, headers, text));
  }

  /** A live connection to base with the fewest requests waiting, opening one if allowed. */
  private connection(base: string): HttpConnection {
    let pool = this.pools.get(base);
    if (pool === undefined) this.pools.set(base, (pool = []));
    const live = pool.filter((c) => !c.dead);
    const idle = live.find((c) => c.waiting.length === 0);
    if (idle !== undefined) return idle;
    if (live.length < this.connectionsMax) {
      const c = new HttpConnection(this.options.dial(authority(base)), base, (dead) => {
        const p = this.pools.get(base);
        if (p !== undefined) p.splice(p.indexOf(dead) >>> 0, p.includes(dead) ? 1 : 0);
      });
      pool.push(c);
      return c;
    }
    return live.reduce((a, b) => (b.waiting.length < a.waiting.length ? b : a));
  }

  /** One request; returns the JSON body of a 2xx answer, throws KvHttpError otherwise. */
  request(method: string, path: string, body?: unknown): Promise<Body> {
    return new Promise((resolve, reject) =>
      this.send(method, path, body, (a) => {
        if (a.ok) resolve(a.body);
        else reject(unknownOutcome(a, method));
      }),
    );
  }

  /**
   * One operation of the request protocol, callback form, with the outcome a history records:
   * `fail` only when it certainly did not take effect, `info` when it may have.
   */
  invoke(op: KvOp, done: (o: Outcome) => void): void {
    const { method, path, body } = this.route(op);
    const node = (url: string) => url.replace(/^http:\/\//, '').replace(/\/.*$/, '');
    this.send(method, path, body, (a) => {
      if (a.ok) {
        const b = a.body;
        if (op.f === 'range') {
          const list = (b.entries as { key: string; value: Json }[] | undefined) ?? [];
          // A page cut by the byte bound says where the rest begins (a full page's `next` is only
          // a hint that more may follow: the operation asked for no more).
          const cut = typeof b.next === 'string' && list.length < op.limit ? { next: b.next } : {};
          done({ type: 'ok', value: null, entries: list.map((e) => [e.key, e.value]), ...cut, node: node(a.url) });
        } else if (op.f === 'txn.op' && op.op.f === 'range') {
          done({ type: 'ok', value: null, entries: ((b.entries as { key: string; value: Json }[] | undefined) ?? []).map((e) => [e.key, e.value]), node: node(a.url) });
        } else done({ type: 'ok', value: op.f === 'read' || (op.f === 'txn.op' && op.op.f === 'read') ? ((b.value as Json | undefined) ?? null) : op.f === 'txn.begin' ? ((b.txn as Json | undefined) ?? null) : op.f === 'txn.oneshot' ? ((b.results as Json | undefined) ?? null) : null, node: node(a.url) });
        return;
      }
      const e = a.error;
      if (op.f === 'read' && e.code === 'not_found') {
        done({ type: 'ok', value: null, node: node(e.url) });
        return;
      }
      // A definite error code from a node, or a request never sent, did nothing; anything
      // else (a lost connection, a timeout, a 5xx) may have happened — unless it only read.
      const definite = (e.status !== null && isDefinite(e.code as ErrorCode)) || !a.sent;
      if (definite || isReadOnly(op)) done({ type: 'fail', code: (e.status === null && !a.sent ? 'unavailable' : e.code) as ErrorCode, message: e.message, node: node(e.url) });
      else done({ type: 'info', reason: `${e.code}: ${e.message}` });
    });
  }

  /** The route, method and body of an operation. */
  private route(op: KvOp): { method: string; path: string; body?: unknown } {
    switch (op.f) {
      case 'read':
        return { method: 'GET', path: this.keyPath(op.key) };
      case 'write':
        return { method: 'PUT', path: this.keyPath(op.key), body: { value: op.value } };
      case 'delete':
        return { method: 'DELETE', path: this.keyPath(op.key) };
      case 'cas':
        return { method: 'POST', path: this.keyPath(op.key, '/cas'), body: { expected: op.expected, value: op.value } };
      case 'append':
        return { method: 'POST', path: this.keyPath(op.key, '/append'), body: { value: op.value } };
      case 'range':
        return { method: 'GET', path: this.rangePath({ start: op.start, ...(op.end !== null ? { end: op.end } : {}), limit: op.limit, reverse: op.reverse }) };
      case 'txn.begin':
        return { method: 'POST', path: `${this.dbPrefix()}/txn`, ...(op.retryOf !== undefined ? { body: { retryOf: op.retryOf } } : {}) };
      case 'txn.commit':
      case 'txn.rollback':
        return { method: 'POST', path: `${this.dbPrefix()}/txn/${encodeURIComponent(op.txn)}/${op.f === 'txn.commit' ? 'commit' : 'rollback'}` };
      case 'txn.oneshot':
        return { method: 'POST', path: `${this.dbPrefix()}/txn/commit`, body: { ops: op.ops.map(oneshotBody) } };
      case 'txn.op': {
        const base = `${this.dbPrefix()}/txn/${encodeURIComponent(op.txn)}`;
        const inner = op.op;
        if (inner.f === 'range') {
          const q = new URLSearchParams({ start: inner.start, limit: String(inner.limit), ...(inner.end !== null ? { end: inner.end } : {}), ...(inner.reverse ? { reverse: 'true' } : {}) });
          return { method: 'GET', path: `${base}/kv?${q}` };
        }
        const path = `${base}/kv/${encodeURIComponent(inner.key)}`;
        if (inner.f === 'read') return { method: 'GET', path };
        if (inner.f === 'write') return { method: 'PUT', path, body: { value: inner.value } };
        if (inner.f === 'delete') return { method: 'DELETE', path };
        return { method: 'POST', path: `${path}/append`, body: { value: inner.value } };
      }
      default:
        throw new KvHttpError('bad_request', `HttpKvClient.invoke: ${op.f} has no single route here; use its method`, null, '');
    }
  }

  private keyPath(key: string, suffix = ''): string {
    return `${this.dbPrefix()}/kv/${encodeURIComponent(key)}${suffix}`;
  }

  private dbPrefix(): string {
    const db = this.database;
    return db === '' ? '' : `/db/${encodeURIComponent(db)}`;
  }

  private rangePath(opts: RangeOptions): string {
    const q = new URLSearchParams();
    if (opts.start !== undefined) q.set('start', opts.start);
    if (opts.end !== undefined) q.set('end', opts.end);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.reverse) q.set('reverse', 'true');
    return `${this.dbPrefix()}/kv?${q}`;
  }

  /** The value, or undefined when absent. */
  async get(key: string): Promise<Json | undefined> {
    try {
      return (await this.request('GET', this.keyPath(key))).value as Json;
    } catch (err) {
      if (err instanceof KvHttpError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  async put(key: string, value: Json): Promise<void> {
    await this.request('PUT', this.keyPath(key), { value });
  }

  async delete(key: string): Promise<void> {
    await this.request('DELETE', this.keyPath(key));
  }

  /** Writes value if key holds expected (null: absent); throws KvHttpError cas_mismatch otherwise. */
  async cas(key: string, expected: Json, value: Json): Promise<void> {
    await this.request('POST', this.keyPath(key, '/cas'), { expected, value });
  }

  async append(key: string, value: string): Promise<void> {
    await this.request('POST', this.keyPath(key, '/append'), { value });
  }

  /** One page; `next` when more may follow (pass it as start, or as end with reverse). */
  async range(opts: RangeOptions = {}): Promise<{ entries: { key: string; value: Json }[]; next?: string }> {
    const body = await this.request('GET', this.rangePath(opts));
    return { entries: body.entries as { key: string; value: Json }[], ...(typeof body.next === 'string' ? { next: body.next } : {}) };
  }

  /**
   * Up to opts.limit (default 100) entries, following `next` across pages: a node answers at most
   * RANGE_BYTES_MAX of keys and values at a time.
   */
  async rangeAll(opts: RangeOptions = {}): Promise<{ key: string; value: Json }[]> {
    const limit = opts.limit ?? 100;
    const out: { key: string; value: Json }[] = [];
    let page = await this.range({ ...opts, limit });
    for (;;) {
      out.push(...page.entries);
      if (page.next === undefined || out.length >= limit || page.entries.length === 0) return out;
      page = await this.range({ ...opts, ...(opts.reverse ? { end: page.next } : { start: page.next }), limit: limit - out.length });
    }
  }

  async batch(ops: BatchOp[]): Promise<void> {
    await this.request('POST', `${this.dbPrefix()}/batch`, { ops });
  }

  /** A bearer token for the credentials (null: the cluster runs without authentication). */
  async login(username: string, password: string): Promise<string | null> {
    return (await this.request('POST', '/auth/login', { username, password })).token as string | null;
  }

  async listDatabases(): Promise<string[]> {
    return (await this.request('GET', '/db')).databases as string[];
  }

  async createDatabase(name: string): Promise<void> {
    await this.request('PUT', `/db/${encodeURIComponent(name)}`);
  }

  /** Deletes a database and its keys; returns how many keys went. */
  async deleteDatabase(name: string): Promise<number> {
    return (await this.request('DELETE', `/db/${encodeURIComponent(name)}`)).keysDeleted as number;
  }

  async listUsers(): Promise<{ name: string; grants: Record<string, Permission[]> }[]> {
    return (await this.request('GET', '/users')).users as { name: string; grants: Record<string, Permission[]> }[];
  }

  /** Creates a user or sets its password, given as an scrypt hash (salted by the caller). */
  async putUser(name: string, passwordHash: string): Promise<void> {
    await this.request('PUT', `/users/${encodeURIComponent(name)}`, { passwordHash });
  }

  async deleteUser(name: string): Promise<void> {
    await this.request('DELETE', `/users/${encodeURIComponent(name)}`);
  }

  async grant(name: string, db: string, perms: Permission[]): Promise<Record<string, Permission[]>> {
    return (await this.request('POST', `/users/${encodeURIComponent(name)}/grants`, { db, perms })).grants as Record<string, Permission[]>;
  }

  async status(): Promise<Body> {
    return this.request('GET', '/status');
  }

  async health(): Promise<Body> {
    return this.request('GET', '/health');
  }
}

/** A failure to get an answer says whether the request may have taken effect. */
function unknownOutcome(a: { error: HttpFailure; sent: boolean }, method: string): KvHttpError {
  const e = a.error;
  const unknown = e.status === null && method !== 'GET' && a.sent;
  return new KvHttpError(e.code, unknown ? `${e.message}; the outcome is unknown` : e.message, e.status, e.url);
}

/** A one-shot transaction's operation as POST /txn/commit takes it. */
function oneshotBody(op: Extract<KvOp, { f: 'txn.oneshot' }>['ops'][number]): Record<string, unknown> {
  switch (op.f) {
    case 'read':
      return { op: 'get', key: op.key };
    case 'write':
      return { op: 'put', key: op.key, value: op.value };
    case 'delete':
      return { op: 'delete', key: op.key };
    case 'append':
      return { op: 'append', key: op.key, value: op.value };
    case 'range':
      throw new KvHttpError('bad_request', 'POST /txn/commit takes get, put, delete and append; run a range in an interactive transaction', null, '');
  }
}
