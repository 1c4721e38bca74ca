import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../env/log.js';
import type { Result } from '../../node/protocol.js';
import type { Gateway } from '../gateway.js';
import { Counter, Family } from '../metrics.js';
import { openApiDocument } from './openapi.js';
import { errorStatus, HttpError, matchRoute, type HttpBody, type HttpInput, type LocalRoute, type OpRoute, type Route } from './routes.js';

/**
 * The HTTP front end of a node: routes by the table in routes.ts, turns each request into one
 * gateway operation, and answers JSON. Bodies are bounded (BODY_BYTES_MAX), headers and slow
 * clients are bounded by node's own timeouts, and every failure is a JSON error with a status
 * code — a bug in a handler is a 500 and a log line, never a dead process.
 */

/** Largest request body accepted; a value is at most 1 MiB, a batch at most this. */
export const BODY_BYTES_MAX = 8 * 1024 * 1024;

export interface HttpFrontEndOptions {
  gateway: Gateway;
  log: Logger;
  host: string;
  port: number;
  version: string;
  /** Extra fields of /status (where every member listens). */
  statusExtra: () => Record<string, unknown>;
  /** The /metrics text. */
  metrics: () => string;
}

type Send = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => void;

export class HttpFrontEnd {
  private server: http.Server | null = null;
  readonly responses = new Family<Counter>(() => new Counter(), 100);

  constructor(private readonly options: HttpFrontEndOptions) {}

  /** Resolves with the port it listens on (useful with port 0). */
  listen(): Promise<number> {
    const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, maxHeaderSize: 16 * 1024 }, (req, res) => this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.options.log.log('error', 'http.server_error', { error: err.message }));
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting connections and closes idle ones; requests in progress may finish. */
  stopAccepting(): void {
    this.server?.close();
    this.server?.closeIdleConnections();
  }

  /** Closes every connection that is left. */
  closeAll(): void {
    this.server?.closeAllConnections();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send: Send = (status, body, headers = {}) => {
      if (res.headersSent) return;
      this.responses.get({ status: String(status) }).inc();
      const text = JSON.stringify(body) + '\n';
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    try {
      this.route(req, res, send);
    } catch (err) {
      this.fail(req, send, err);
    }
  }

  private fail(req: http.IncomingMessage, send: Send, err: unknown): void {
    if (err instanceof HttpError) {
      send(err.status, { ok: false, code: err.code, message: err.message }, err.closeConnection ? { connection: 'close' } : {});
      return;
    }
    this.options.log.log('error', 'http.handler_failed', { method: req.method, path: req.url, error: (err as Error).stack ?? String(err) });
    send(500, { ok: false, code: 'internal', message: 'internal error (logged on the node)' });
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, send: Send): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    if (match.kind === 'none') {
      req.resume();
      send(404, { ok: false, code: 'not_found', message: `no route ${req.method} ${url.pathname}; see GET /openapi.json` });
      return;
    }
    if (match.kind === 'method') {
      req.resume();
      send(405, { ok: false, code: 'method_not_allowed', message: `${req.method} is not allowed on ${url.pathname}; use ${match.allowed.join(', ')}` }, { allow: match.allowed.join(', ') });
      return;
    }
    const { route, params } = match;
    if (route.kind === 'local') {
      req.resume();
      this.local(route, res, send);
      return;
    }
    this.readBody(req, route, (body) => {
      try {
        const input: HttpInput = { params, query: url.searchParams, body };
        const { op, db } = route.build(input);
        this.credentials(req, route, send, (token) => {
          this.options.gateway.execute('http', op, db, token, (result) => {
            try {
              this.answer(req, route, input, result, send);
            } catch (err) {
              this.fail(req, send, err);
            }
          });
        });
      } catch (err) {
        this.fail(req, send, err);
      }
    }, (err) => this.fail(req, send, err));
  }

  private answer(req: http.IncomingMessage, route: OpRoute, input: HttpInput, result: Result, send: Send): void {
    if (result.ok) {
      const a = route.answer(result.value, result.entries, input);
      send(a.status, a.body);
      return;
    }
    const status = errorStatus(result.code);
    if (status === 401 || status === 403) {
      this.options.log.log('warn', 'http.denied', { remote: req.socket.remoteAddress, method: req.method, route: route.operationId, code: result.code, message: result.message });
    }
    const headers: Record<string, string> = {};
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="kv-lab", Basic realm="kv-lab", charset="UTF-8"';
    if (status === 503) headers['retry-after'] = '1';
    send(status, { ok: false, code: result.code, message: result.message, ...(result.leader !== undefined ? { leader: result.leader } : {}) }, headers);
  }

  /** The bearer token of a request: given as Bearer, or obtained for Basic credentials. */
  private credentials(req: http.IncomingMessage, route: Route, send: Send, next: (token: string | null) => void): void {
    const header = req.headers.authorization;
    if (!route.auth || header === undefined || !this.options.gateway.authEnabled) {
      next(null);
      return;
    }
    const m = /^(\S+)\s+(\S+)\s*$/.exec(header);
    const scheme = m?.[1]?.toLowerCase();
    if (m !== null && scheme === 'bearer') {
      next(m[2] as string);
      return;
    }
    if (m !== null && scheme === 'basic') {
      const decoded = Buffer.from(m[2] as string, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        this.options.gateway.basicToken(decoded.slice(0, colon), decoded.slice(colon + 1), (r) => {
          if (r.ok) next(typeof r.value === 'string' ? r.value : null);
          else this.answer(req, route as OpRoute, { params: {}, query: new URLSearchParams(), body: { kind: 'none' } }, r, send);
        });
        return;
      }
    }
    this.answer(req, route as OpRoute, { params: {}, query: new URLSearchParams(), body: { kind: 'none' } }, { ok: false, code: 'unauthorized', message: 'malformed Authorization header: use "Bearer <token>" or "Basic <base64 user:password>"' }, send);
  }

  private readBody(req: http.IncomingMessage, route: OpRoute, done: (body: HttpBody) => void, fail: (err: unknown) => void): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > BODY_BYTES_MAX) {
      // Answer at once, and read the declared body to its end so that the client, still sending,
      // receives the answer instead of a reset (the request timeout bounds a client that stalls).
      // Far beyond the limit, reading it is not worth it: answer and close.
      const drain = declared <= 8 * BODY_BYTES_MAX;
      if (drain) req.resume();
      fail(new HttpError(413, 'too_large', `request body of ${declared} bytes exceeds the limit of ${BODY_BYTES_MAX}`, !drain));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > BODY_BYTES_MAX) {
        refused = true;
        // A body of unknown length that went over: stop reading it, which leaves the connection
        // unusable, so it closes after the answer.
        req.pause();
        fail(new HttpError(413, 'too_large', `request body exceeds the limit of ${BODY_BYTES_MAX} bytes`, true));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (refused) return;
      try {
        done(parseBody(Buffer.concat(chunks), req.headers['content-type'], route));
      } catch (err) {
        fail(err);
      }
    });
  }

  private local(route: LocalRoute, res: http.ServerResponse, send: Send): void {
    const gw = this.options.gateway;
    switch (route.name) {
      case 'health': {
        const s = gw.status();
        const healthy = s.role !== 'stopped' && s.leader !== null;
        send(healthy ? 200 : 503, healthy ? { ok: true, status: 'ok', node: s.id, role: s.role, leader: s.leader } : { ok: false, code: 'unavailable', message: s.role === 'stopped' ? 'node is not serving (starting, or stopped)' : 'no leader known', node: s.id, role: s.role });
        return;
      }
      case 'status':
        send(200, { ok: true, ...gw.status(), ...this.options.statusExtra() });
        return;
      case 'metrics': {
        const text = this.options.metrics();
        this.responses.get({ status: '200' }).inc();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case 'openapi':
        send(200, openApiDocument(this.options.version));
        return;
    }
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
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch (err) {
    throw new HttpError(400, 'bad_request', `the request body is not JSON (${(err as Error).message}); a raw value needs Content-Type: application/octet-stream`);
  }
}
