import type { Json } from '../util/json.js';
import type { Permission } from '../node/protocol.js';

/**
 * A client of the HTTP API (what the CLI uses; fine for scripts too). Any node will do — a
 * follower forwards to the leader — so the client only fails over to the next URL when a node
 * cannot be reached at all. A request that reached a node and then lost its connection is not
 * retried: its outcome is unknown, and the error says so.
 */

export interface HttpClientOptions {
  /** Base URLs of the nodes, in order of preference (http://127.0.0.1:8000). */
  urls: string[];
  /** HTTP Basic credentials, or a bearer token. */
  username?: string;
  password?: string;
  token?: string;
  /** Database of key operations ('' the default one). */
  database?: string;
  timeoutMs?: number;
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

export class HttpKvClient {
  private readonly timeoutMs: number;
  /** Index of the URL that answered last: keep using it. */
  private current = 0;

  constructor(private readonly options: HttpClientOptions) {
    if (options.urls.length === 0) throw new Error('HttpKvClient needs at least one URL');
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  get database(): string {
    return this.options.database ?? '';
  }

  private authorization(): string | null {
    if (this.options.token !== undefined) return `Bearer ${this.options.token}`;
    if (this.options.username !== undefined) return `Basic ${Buffer.from(`${this.options.username}:${this.options.password ?? ''}`).toString('base64')}`;
    return null;
  }

  /** One request; returns the JSON body of a 2xx answer, throws KvHttpError otherwise. */
  async request(method: string, path: string, body?: unknown): Promise<Body> {
    const urls = this.options.urls;
    let lastError: KvHttpError | null = null;
    for (let i = 0; i < urls.length; i++) {
      const index = (this.current + i) % urls.length;
      const url = `${(urls[index] as string).replace(/\/+$/, '')}${path}`;
      const headers: Record<string, string> = {};
      const auth = this.authorization();
      if (auth !== null) headers.authorization = auth;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const code = cause?.code ?? (cause?.message === 'bad port' ? 'a port fetch refuses to use' : undefined);
        if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || cause?.message === 'bad port') {
          // Never reached the node: safe to try the next one, whatever the method.
          lastError = new KvHttpError('unreachable', `cannot reach ${urls[index]} (${code})`, null, url);
          continue;
        }
        const timedOut = (err as Error).name === 'TimeoutError';
        throw new KvHttpError(timedOut ? 'timeout' : 'unreachable', `${timedOut ? `no answer within ${this.timeoutMs} ms` : `connection to ${urls[index]} failed (${code ?? (err as Error).message})`}${method === 'GET' ? '' : '; the outcome is unknown'}`, null, url);
      }
      this.current = index;
      const text = await res.text();
      let parsed: Body;
      try {
        parsed = JSON.parse(text) as Body;
      } catch {
        if (res.ok) return { ok: true, text };
        throw new KvHttpError('internal', `HTTP ${res.status} from ${url}: ${text.slice(0, 200)}`, res.status, url);
      }
      if (res.ok) return parsed;
      throw new KvHttpError(String(parsed.code ?? 'internal'), String(parsed.message ?? `HTTP ${res.status}`), res.status, url);
    }
    throw lastError as KvHttpError;
  }

  private keyPath(key: string, suffix = ''): string {
    const db = this.database;
    return `${db === '' ? '/kv' : `/db/${encodeURIComponent(db)}/kv`}/${encodeURIComponent(key)}${suffix}`;
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

  async range(opts: RangeOptions = {}): Promise<{ entries: { key: string; value: Json }[]; next?: string }> {
    const q = new URLSearchParams();
    if (opts.start !== undefined) q.set('start', opts.start);
    if (opts.end !== undefined) q.set('end', opts.end);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.reverse) q.set('reverse', 'true');
    const db = this.database;
    const body = await this.request('GET', `${db === '' ? '/kv' : `/db/${encodeURIComponent(db)}/kv`}?${q}`);
    return { entries: body.entries as { key: string; value: Json }[], ...(typeof body.next === 'string' ? { next: body.next } : {}) };
  }

  async batch(ops: BatchOp[]): Promise<void> {
    const db = this.database;
    await this.request('POST', db === '' ? '/batch' : `/db/${encodeURIComponent(db)}/batch`, { ops });
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
