import type { Json } from '../../util/json.js';
import { hashPassword } from '../../node/auth.js';
import { assert } from '../../util/assert.js';
import {
  BATCH_OPS_MAX,
  PERMISSIONS,
  RANGE_BYTES_MAX,
  RANGE_LIMIT_MAX,
  TXN_ID_PATTERN,
  TXN_OPS_MAX,
  type ErrorCode,
  type KvOp,
  type Permission,
  type ReadOp,
  type TxnWriteOp,
  type WriteOp,
} from '../../node/protocol.js';

/**
 * The HTTP API as one table: every route's method, path, documentation, the node operation it
 * becomes and how its result is answered. The server (server.ts) routes by this table and
 * openapi.ts generates /openapi.json from it, so the documentation cannot drift from what runs
 * (Maelstrom declares its RPCs once in the same spirit).
 *
 * Conventions: a success body has `"ok": true`; an error body is
 * `{"ok": false, "code": "<code>", "message": "…"}` with the status of errorStatus(code).
 * Keys travel percent-encoded in one path segment (a "/" in a key is %2F).
 */

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export type HttpBody = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'text'; text: string };

export interface HttpInput {
  params: Record<string, string>;
  query: URLSearchParams;
  body: HttpBody;
  /** Fresh random bytes (the salt of a new password hash), from the Env's Rng. */
  salt?: () => Uint8Array;
}

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** JSON Schema (the OpenAPI 3.1 dialect) for documentation. */
export type Schema = Record<string, unknown>;

export interface QueryParam {
  name: string;
  schema: Schema;
  description: string;
}

interface RouteBase {
  method: Method;
  path: string;
  operationId: string;
  summary: string;
  tag: 'keys' | 'transactions' | 'databases' | 'users' | 'auth' | 'operations';
  /** Whether the route takes credentials (when the cluster requires them). */
  auth: boolean;
  query?: QueryParam[];
  body?: { schema: Schema; description: string; text?: boolean; optional?: true };
  response: Schema;
  /** Status of a success, when not 200. */
  okStatus?: number;
}

/** A route that becomes one node operation. */
export interface OpRoute extends RouteBase {
  kind: 'op';
  build(input: HttpInput): { op: KvOp; db: string };
  /** `next`: where a range cut short by its byte bound continues (Result.next). */
  answer(value: Json, entries: [string, Json][] | undefined, input: HttpInput, next?: string): HttpAnswer;
}

/** A route the server answers from the process itself. */
export interface LocalRoute extends RouteBase {
  kind: 'local';
  name: 'health' | 'status' | 'metrics' | 'openapi';
}

export type Route = OpRoute | LocalRoute;

/** A request the server refuses before it reaches the node. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The connection cannot be reused (a body was cut off mid-stream). */
    readonly closeConnection = false,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function bad(message: string): never {
  throw new HttpError(400, 'bad_request', message);
}

/** HTTP status of each error code. */
export function errorStatus(code: ErrorCode | string): number {
  switch (code) {
    case 'bad_request':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'no_such_db':
    case 'not_found':
      return 404;
    case 'method_not_allowed':
      return 405;
    case 'cas_mismatch':
    case 'type_error':
    case 'already_exists':
    case 'aborted':
      return 409;
    case 'too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'too_many_requests':
      return 429;
    case 'not_leader':
    case 'unavailable':
      return 503;
    case 'timeout':
      return 504;
    default:
      return 500;
  }
}

// ---- input helpers ----

function jsonBody(input: HttpInput, what: string): Record<string, unknown> {
  if (input.body.kind !== 'json') bad(`the body must be JSON: ${what}`);
  const v = input.body.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`the body must be a JSON object: ${what}`);
  return v as Record<string, unknown>;
}

function field(body: Record<string, unknown>, name: string, what: string): unknown {
  if (!(name in body)) bad(`the body has no "${name}": ${what}`);
  return body[name];
}

function str(body: Record<string, unknown>, name: string, what: string): string {
  const v = field(body, name, what);
  if (typeof v !== 'string') bad(`"${name}" must be a string: ${what}`);
  return v;
}

/** The value of a PUT: `{"value": …}` as JSON, or the raw body as a string (application/octet-stream). */
function putValue(input: HttpInput): Json {
  if (input.body.kind === 'text') return input.body.text;
  return field(jsonBody(input, '{"value": …}'), 'value', '{"value": …}') as Json;
}

function db(input: HttpInput): string {
  return input.params.db ?? '';
}

function key(input: HttpInput): string {
  return input.params.key as string;
}

function queryInt(input: HttpInput, name: string, min: number, max: number, fallback: number): number {
  const raw = input.query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) bad(`query parameter ${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function queryBool(input: HttpInput, name: string): boolean {
  const raw = input.query.get(name);
  if (raw === null || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  return bad(`query parameter ${name} must be true or false, got ${JSON.stringify(raw)}`);
}

const BATCH_OPS: Record<string, string> = { put: 'write', delete: 'delete', cas: 'cas', append: 'append' };

function batchOp(raw: unknown, i: number): WriteOp {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(`ops[${i}] must be an object`);
  const o = raw as Record<string, unknown>;
  const what = `ops[${i}] is {"op": "put"|"delete"|"cas"|"append", "key": …}`;
  const kind = typeof o.op === 'string' ? BATCH_OPS[o.op] : undefined;
  if (kind === undefined) bad(what);
  const k = str(o, 'key', what);
  switch (kind) {
    case 'write':
      return { f: 'write', key: k, value: field(o, 'value', what) as Json };
    case 'delete':
      return { f: 'delete', key: k };
    case 'cas':
      return { f: 'cas', key: k, expected: field(o, 'expected', what) as Json, value: field(o, 'value', what) as Json };
    default:
      return { f: 'append', key: k, value: str(o, 'value', what) };
  }
}

function perms(body: Record<string, unknown>, what: string): Permission[] {
  const v = field(body, 'perms', what);
  if (!Array.isArray(v) || !v.every((p) => (PERMISSIONS as readonly unknown[]).includes(p))) bad(`"perms" must be a list of ${PERMISSIONS.join(', ')}`);
  return v as Permission[];
}

/** The stored hash of a new password: salted here, in the front end, never in the node. */
function passwordHash(body: Record<string, unknown>, input: HttpInput): string {
  if ('passwordHash' in body) return str(body, 'passwordHash', '{"passwordHash": "scrypt$…"}');
  const password = str(body, 'password', '{"password": "…"} or {"passwordHash": "scrypt$…"}');
  if (password.length < 8 || password.length > 1024) bad('a password must have 8 to 1024 characters');
  assert(input.salt !== undefined, 'a password route needs a source of salt');
  return hashPassword(password, input.salt());
}

// ---- schemas for the documentation ----

const anyJson: Schema = { description: 'any JSON value' };
const okTrue: Schema = { type: 'boolean', const: true };
function okSchema(properties: Record<string, Schema>): Schema {
  return { type: 'object', required: ['ok', ...Object.keys(properties)], properties: { ok: okTrue, ...properties } };
}
const keyValue = okSchema({ key: { type: 'string' }, value: anyJson });
const keyOnly = okSchema({ key: { type: 'string' } });

// ---- the table ----

/** Key routes exist under three prefixes: /kv (canonical), /key (the seeds' alias), /db/{db}/kv. */
const KEY_PREFIXES: { prefix: string; note: string }[] = [
  { prefix: '/kv', note: '' },
  { prefix: '/key', note: ' (alias of /kv)' },
  { prefix: '/db/{db}/kv', note: ' in a named database' },
];

function keyRoutes(prefix: string, note: string, alias: string): OpRoute[] {
  const id = (name: string) => `${name}${alias}`;
  return [
    {
      kind: 'op', method: 'GET', path: `${prefix}/{key}`, operationId: id('getKey'), tag: 'keys', auth: true,
      summary: `Read a key${note}. 404 when absent (a key holding null reads as absent).`,
      response: keyValue,
      build: (i) => ({ op: { f: 'read', key: key(i) }, db: db(i) }),
      answer: (value, _e, i) =>
        value === null ? { status: 404, body: { ok: false, code: 'not_found', message: `no key ${JSON.stringify(key(i))}` } } : { status: 200, body: { ok: true, key: key(i), value } },
    },
    {
      kind: 'op', method: 'PUT', path: `${prefix}/{key}`, operationId: id('putKey'), tag: 'keys', auth: true,
      summary: `Write a key${note}.`,
      body: { schema: { type: 'object', required: ['value'], properties: { value: anyJson } }, description: '{"value": …}; or, as application/octet-stream, the raw body (UTF-8) as a string value', text: true },
      response: keyOnly,
      build: (i) => ({ op: { f: 'write', key: key(i), value: putValue(i) }, db: db(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, key: key(i) } }),
    },
    {
      kind: 'op', method: 'DELETE', path: `${prefix}/{key}`, operationId: id('deleteKey'), tag: 'keys', auth: true,
      summary: `Delete a key${note} (succeeds when absent too).`,
      response: keyOnly,
      build: (i) => ({ op: { f: 'delete', key: key(i) }, db: db(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, key: key(i) } }),
    },
    {
      kind: 'op', method: 'POST', path: `${prefix}/{key}/cas`, operationId: id('casKey'), tag: 'keys', auth: true,
      summary: `Compare-and-set${note}: write value if the key holds expected (null: absent). 409 otherwise.`,
      body: { schema: { type: 'object', required: ['expected', 'value'], properties: { expected: anyJson, value: anyJson } }, description: '{"expected": …, "value": …}' },
      response: keyValue,
      build: (i) => {
        const b = jsonBody(i, '{"expected": …, "value": …}');
        return { op: { f: 'cas', key: key(i), expected: field(b, 'expected', '{"expected": …, "value": …}') as Json, value: field(b, 'value', '{"expected": …, "value": …}') as Json }, db: db(i) };
      },
      answer: (value, _e, i) => ({ status: 200, body: { ok: true, key: key(i), value } }),
    },
    {
      kind: 'op', method: 'POST', path: `${prefix}/{key}/append`, operationId: id('appendKey'), tag: 'keys', auth: true,
      summary: `Append a string to a key's string value${note} (absent: starts empty). 409 if the value is not a string.`,
      body: { schema: { type: 'object', required: ['value'], properties: { value: { type: 'string' } } }, description: '{"value": "…"}' },
      response: keyOnly,
      build: (i) => ({ op: { f: 'append', key: key(i), value: str(jsonBody(i, '{"value": "…"}'), 'value', '{"value": "…"}') }, db: db(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, key: key(i) } }),
    },
  ];
}

function rangeRoute(prefix: string, note: string, alias: string): OpRoute {
  return {
    kind: 'op', method: 'GET', path: prefix, operationId: `range${alias}`, tag: 'keys', auth: true,
    summary: `Keys in [start, end) in key order${note}, at most limit entries and at most ${RANGE_BYTES_MAX} bytes of keys and values. When a page ends before the range does (limit entries, or the byte bound), "next" says where the rest begins: pass it as start (with reverse, as end).`,
    query: [
      { name: 'start', schema: { type: 'string' }, description: 'first key (default: the smallest)' },
      { name: 'end', schema: { type: 'string' }, description: 'end key, excluded (default: none)' },
      { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: RANGE_LIMIT_MAX }, description: 'most entries (default 100)' },
      { name: 'reverse', schema: { type: 'boolean' }, description: 'descending from the end' },
    ],
    response: okSchema({ count: { type: 'integer' }, entries: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, value: anyJson } } }, next: { type: 'string' } }),
    build: (i) => {
      const end = i.query.get('end');
      return {
        op: { f: 'range', start: i.query.get('start') ?? '', end: end === null || end === '' ? null : end, limit: queryInt(i, 'limit', 1, RANGE_LIMIT_MAX, 100), reverse: queryBool(i, 'reverse') },
        db: db(i),
      };
    },
    answer: (_v, entries, i, cut) => {
      const list = (entries ?? []).map(([k, v]) => ({ key: k, value: v }));
      const limit = queryInt(i, 'limit', 1, RANGE_LIMIT_MAX, 100);
      const reverse = queryBool(i, 'reverse');
      const last = list[list.length - 1];
      // A full page may have more after it: forwards the rest starts just after its last key,
      // backwards it ends (excluded) at it. A page the byte bound cut says so itself.
      const full = list.length === limit && last !== undefined ? (reverse ? last.key : `${last.key}\u0000`) : undefined;
      const next = cut ?? full;
      return { status: 200, body: { ok: true, count: list.length, entries: list, ...(next !== undefined ? { next } : {}) } };
    },
  };
}

function batchRoute(path: string, alias: string): OpRoute {
  return {
    kind: 'op', method: 'POST', path, operationId: `batch${alias}`, tag: 'keys', auth: true,
    summary: 'Apply several writes atomically: all or none (a failing cas fails the batch).',
    body: {
      schema: {
        type: 'object', required: ['ops'],
        properties: { ops: { type: 'array', minItems: 1, maxItems: BATCH_OPS_MAX, items: { type: 'object', required: ['op', 'key'], properties: { op: { enum: Object.keys(BATCH_OPS) }, key: { type: 'string' }, value: anyJson, expected: anyJson } } } },
      },
      description: '{"ops": [{"op": "put", "key": "a", "value": 1}, {"op": "delete", "key": "b"}, …]}',
    },
    response: okSchema({ count: { type: 'integer' } }),
    build: (i) => {
      const ops = field(jsonBody(i, '{"ops": […]}'), 'ops', '{"ops": […]}');
      if (!Array.isArray(ops) || ops.length === 0 || ops.length > BATCH_OPS_MAX) bad(`"ops" must be a list of 1..${BATCH_OPS_MAX} writes`);
      return { op: { f: 'batch', ops: ops.map(batchOp) }, db: db(i) };
    },
    answer: (_v, _e, i) => ({ status: 200, body: { ok: true, count: ((i.body as { value: { ops: unknown[] } }).value.ops).length } }),
  };
}

// ---- transactions ----

function txnId(input: HttpInput): string {
  const id = input.params.txn as string;
  if (!TXN_ID_PATTERN.test(id)) bad(`${JSON.stringify(id)} is not a transaction id (POST /txn answers one, like "3.17")`);
  return id;
}

const TXN_OPS: Record<string, string> = { get: 'read', put: 'write', delete: 'delete', append: 'append' };

/** One entry of POST /txn/commit's "ops". */
function oneshotOp(raw: unknown, i: number): ReadOp | TxnWriteOp {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(`ops[${i}] must be an object`);
  const o = raw as Record<string, unknown>;
  const what = `ops[${i}] is {"op": "get"|"put"|"delete"|"append", "key": …, "value"?: …}`;
  const kind = typeof o.op === 'string' ? TXN_OPS[o.op] : undefined;
  if (kind === undefined) bad(what);
  const k = str(o, 'key', what);
  switch (kind) {
    case 'read':
      return { f: 'read', key: k };
    case 'write':
      return { f: 'write', key: k, value: field(o, 'value', what) as Json };
    case 'delete':
      return { f: 'delete', key: k };
    default:
      return { f: 'append', key: k, value: str(o, 'value', what) };
  }
}

/**
 * Interactive transactions under a prefix (/txn, or /db/{db}/txn: a transaction lives in the
 * database it was begun in, and its operations must name the same one).
 */
function txnRoutes(prefix: string, note: string, alias: string): OpRoute[] {
  const id = (name: string) => `${name}${alias}`;
  const inTxn = (i: HttpInput, op: ReadOp | TxnWriteOp) => ({ op: { f: 'txn.op' as const, txn: txnId(i), op }, db: db(i) });
  const txnKey = okSchema({ txn: { type: 'string' }, key: { type: 'string' } });
  return [
    {
      kind: 'op', method: 'POST', path: prefix, operationId: id('beginTxn'), tag: 'transactions', auth: true,
      summary: `Begin a transaction${note}: strictly serializable, strict two-phase locking at the leader. Answers its id; abandoned ones abort after 10 s. A retry of an aborted transaction may name it ({"retryOf": id}) to keep its age, so that it is not wounded forever.`,
      body: { schema: { type: 'object', properties: { retryOf: { type: 'string' } } }, description: 'optional: {"retryOf": "<the aborted transaction\'s id>"}', optional: true },
      response: okSchema({ txn: { type: 'string' } }),
      build: (i) => {
        if (i.body.kind === 'none') return { op: { f: 'txn.begin' }, db: db(i) };
        const b = jsonBody(i, '{"retryOf": "…"} or no body');
        if (!('retryOf' in b)) return { op: { f: 'txn.begin' }, db: db(i) };
        const retryOf = str(b, 'retryOf', '{"retryOf": "3.17"}');
        if (!TXN_ID_PATTERN.test(retryOf)) bad(`"retryOf" must be a transaction id, got ${JSON.stringify(retryOf)}`);
        return { op: { f: 'txn.begin', retryOf }, db: db(i) };
      },
      answer: (value) => ({ status: 200, body: { ok: true, txn: value } }),
    },
    {
      kind: 'op', method: 'GET', path: `${prefix}/{txn}/kv/{key}`, operationId: id('txnGet'), tag: 'transactions', auth: true,
      summary: `Read a key inside a transaction${note} (its own writes included); value null when absent.`,
      response: okSchema({ txn: { type: 'string' }, key: { type: 'string' }, value: anyJson }),
      build: (i) => inTxn(i, { f: 'read', key: key(i) }),
      answer: (value, _e, i) => ({ status: 200, body: { ok: true, txn: i.params.txn, key: key(i), value } }),
    },
    {
      kind: 'op', method: 'PUT', path: `${prefix}/{txn}/kv/{key}`, operationId: id('txnPut'), tag: 'transactions', auth: true,
      summary: `Write a key inside a transaction${note} (buffered until COMMIT).`,
      body: { schema: { type: 'object', required: ['value'], properties: { value: anyJson } }, description: '{"value": …}; or the raw body as a string value', text: true },
      response: txnKey,
      build: (i) => inTxn(i, { f: 'write', key: key(i), value: putValue(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, txn: i.params.txn, key: key(i) } }),
    },
    {
      kind: 'op', method: 'DELETE', path: `${prefix}/{txn}/kv/{key}`, operationId: id('txnDelete'), tag: 'transactions', auth: true,
      summary: `Delete a key inside a transaction${note}.`,
      response: txnKey,
      build: (i) => inTxn(i, { f: 'delete', key: key(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, txn: i.params.txn, key: key(i) } }),
    },
    {
      kind: 'op', method: 'POST', path: `${prefix}/{txn}/kv/{key}/append`, operationId: id('txnAppend'), tag: 'transactions', auth: true,
      summary: `Append a string to a key inside a transaction${note}.`,
      body: { schema: { type: 'object', required: ['value'], properties: { value: { type: 'string' } } }, description: '{"value": "…"}' },
      response: txnKey,
      build: (i) => inTxn(i, { f: 'append', key: key(i), value: str(jsonBody(i, '{"value": "…"}'), 'value', '{"value": "…"}') }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, txn: i.params.txn, key: key(i) } }),
    },
    {
      kind: 'op', method: 'GET', path: `${prefix}/{txn}/kv`, operationId: id('txnRange'), tag: 'transactions', auth: true,
      summary: `Keys in [start, end) inside a transaction${note} (its own writes included; locks the database against writers until the end).`,
      query: [
        { name: 'start', schema: { type: 'string' }, description: 'first key (default: the smallest)' },
        { name: 'end', schema: { type: 'string' }, description: 'end key, excluded (default: none)' },
        { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: RANGE_LIMIT_MAX }, description: 'most entries (default 100)' },
        { name: 'reverse', schema: { type: 'boolean' }, description: 'descending from the end' },
      ],
      response: okSchema({ count: { type: 'integer' }, entries: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, value: anyJson } } } }),
      build: (i) => {
        const end = i.query.get('end');
        return inTxn(i, { f: 'range', start: i.query.get('start') ?? '', end: end === null || end === '' ? null : end, limit: queryInt(i, 'limit', 1, RANGE_LIMIT_MAX, 100), reverse: queryBool(i, 'reverse') });
      },
      answer: (_v, entries) => {
        const list = (entries ?? []).map(([k, v]) => ({ key: k, value: v }));
        return { status: 200, body: { ok: true, count: list.length, entries: list } };
      },
    },
    {
      kind: 'op', method: 'POST', path: `${prefix}/{txn}/commit`, operationId: id('commitTxn'), tag: 'transactions', auth: true,
      summary: `Commit${note}: every write applies atomically, or 409 {"code": "aborted"} with the reason first in the message (wounded, timeout, leader_changed, conflict, unknown, …). 504: unknown, ask again.`,
      response: okSchema({ txn: { type: 'string' } }),
      build: (i) => ({ op: { f: 'txn.commit', txn: txnId(i) }, db: db(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, txn: i.params.txn } }),
    },
    {
      kind: 'op', method: 'POST', path: `${prefix}/{txn}/rollback`, operationId: id('rollbackTxn'), tag: 'transactions', auth: true,
      summary: `Roll back${note}: its locks go, its writes are dropped (ok for one already ended).`,
      response: okSchema({ txn: { type: 'string' } }),
      build: (i) => ({ op: { f: 'txn.rollback', txn: txnId(i) }, db: db(i) }),
      answer: (_v, _e, i) => ({ status: 200, body: { ok: true, txn: i.params.txn } }),
    },
    {
      kind: 'op', method: 'POST', path: `${prefix}/commit`, operationId: id('oneShotTxn'), tag: 'transactions', auth: true,
      summary: `Run a list of reads and writes as one transaction${note}, in order; "results" holds what each get read (null for writes).`,
      body: {
        schema: { type: 'object', required: ['ops'], properties: { ops: { type: 'array', minItems: 1, maxItems: TXN_OPS_MAX, items: { type: 'object', required: ['op', 'key'], properties: { op: { enum: Object.keys(TXN_OPS) }, key: { type: 'string' }, value: anyJson } } } } },
        description: '{"ops": [{"op": "get", "key": "a"}, {"op": "put", "key": "b", "value": 1}, {"op": "append", "key": "l", "value": "x "}]}',
      },
      response: okSchema({ results: { type: 'array', items: anyJson } }),
      build: (i) => {
        const ops = field(jsonBody(i, '{"ops": […]}'), 'ops', '{"ops": […]}');
        if (!Array.isArray(ops) || ops.length === 0 || ops.length > TXN_OPS_MAX) bad(`"ops" must be a list of 1..${TXN_OPS_MAX} reads and writes`);
        return { op: { f: 'txn.oneshot', ops: ops.map(oneshotOp) }, db: db(i) };
      },
      answer: (value) => ({ status: 200, body: { ok: true, results: value } }),
    },
  ];
}

const ADMIN_ROUTES: OpRoute[] = [
  {
    kind: 'op', method: 'POST', path: '/auth/login', operationId: 'login', tag: 'auth', auth: false,
    summary: 'Log in: trade a user name and password for a bearer token (token null: the cluster runs without authentication).',
    body: { schema: { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string' } } }, description: '{"username": "…", "password": "…"}' },
    response: okSchema({ token: { type: ['string', 'null'] }, tokenType: { const: 'Bearer' } }),
    build: (i) => {
      const b = jsonBody(i, '{"username": "…", "password": "…"}');
      const user = 'username' in b ? str(b, 'username', '{"username": "…"}') : str(b, 'user', '{"username": "…"}');
      return { op: { f: 'auth.login', user, password: str(b, 'password', '{"password": "…"}') }, db: '' };
    },
    answer: (value) => ({ status: 200, body: { ok: true, token: value, tokenType: 'Bearer' } }),
  },
  {
    kind: 'op', method: 'GET', path: '/db', operationId: 'listDatabases', tag: 'databases', auth: true,
    summary: 'List databases ("" is the default database).',
    response: okSchema({ databases: { type: 'array', items: { type: 'string' } } }),
    build: () => ({ op: { f: 'db.list' }, db: '' }),
    answer: (value) => ({ status: 200, body: { ok: true, databases: value } }),
  },
  {
    kind: 'op', method: 'PUT', path: '/db/{db}', operationId: 'createDatabase', tag: 'databases', auth: true, okStatus: 201,
    summary: 'Create a database (409 if it exists). Needs admin on the cluster.',
    response: okSchema({ db: { type: 'string' } }),
    build: (i) => ({ op: { f: 'db.create', name: i.params.db as string }, db: '' }),
    answer: (_v, _e, i) => ({ status: 201, body: { ok: true, db: i.params.db } }),
  },
  {
    kind: 'op', method: 'DELETE', path: '/db/{db}', operationId: 'deleteDatabase', tag: 'databases', auth: true,
    summary: 'Delete a database and every key in it. Needs admin on that database.',
    response: okSchema({ db: { type: 'string' }, keysDeleted: { type: 'integer' } }),
    build: (i) => ({ op: { f: 'db.delete', name: i.params.db as string }, db: '' }),
    answer: (value, _e, i) => ({ status: 200, body: { ok: true, db: i.params.db, keysDeleted: value } }),
  },
  {
    kind: 'op', method: 'GET', path: '/users', operationId: 'listUsers', tag: 'users', auth: true,
    summary: 'List users and their grants. Needs admin.',
    response: okSchema({ users: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, grants: { type: 'object' } } } } }),
    build: () => ({ op: { f: 'user.list' }, db: '' }),
    answer: (value) => ({ status: 200, body: { ok: true, users: value } }),
  },
  {
    kind: 'op', method: 'PUT', path: '/users/{user}', operationId: 'putUser', tag: 'users', auth: true,
    summary: 'Create a user or set its password (hashed with scrypt and a random salt here, never stored in clear). Needs admin.',
    body: { schema: { type: 'object', properties: { password: { type: 'string', minLength: 8 }, passwordHash: { type: 'string' } } }, description: '{"password": "…"} or {"passwordHash": "scrypt$N$r$p$salt$key"}' },
    response: okSchema({ user: { type: 'string' } }),
    build: (i) => ({ op: { f: 'user.put', name: i.params.user as string, hash: passwordHash(jsonBody(i, '{"password": "…"}'), i) }, db: '' }),
    answer: (_v, _e, i) => ({ status: 200, body: { ok: true, user: i.params.user } }),
  },
  {
    kind: 'op', method: 'DELETE', path: '/users/{user}', operationId: 'deleteUser', tag: 'users', auth: true,
    summary: 'Delete a user; its tokens stop working. Needs admin.',
    response: okSchema({ user: { type: 'string' } }),
    build: (i) => ({ op: { f: 'user.delete', name: i.params.user as string }, db: '' }),
    answer: (_v, _e, i) => ({ status: 200, body: { ok: true, user: i.params.user } }),
  },
  {
    kind: 'op', method: 'POST', path: '/users/{user}/grants', operationId: 'grantUser', tag: 'users', auth: true,
    summary: 'Set what a user may do in a database ("" the default one, "*" every one); an empty list revokes. Needs admin.',
    body: { schema: { type: 'object', required: ['db', 'perms'], properties: { db: { type: 'string' }, perms: { type: 'array', items: { enum: [...PERMISSIONS] } } } }, description: '{"db": "shop", "perms": ["read", "write"]}' },
    response: okSchema({ user: { type: 'string' }, grants: { type: 'object' } }),
    build: (i) => {
      const b = jsonBody(i, '{"db": "…", "perms": […]}');
      return { op: { f: 'user.grant', name: i.params.user as string, db: str(b, 'db', '{"db": "…"}'), perms: perms(b, '{"perms": […]}') }, db: '' };
    },
    answer: (value, _e, i) => ({ status: 200, body: { ok: true, user: i.params.user, grants: value } }),
  },
];

const LOCAL_ROUTES: LocalRoute[] = [
  {
    kind: 'local', name: 'health', method: 'GET', path: '/health', operationId: 'health', tag: 'operations', auth: false,
    summary: 'Liveness and readiness: 200 while the node serves and knows a leader, else 503.',
    response: okSchema({ status: { const: 'ok' }, node: { type: 'string' }, role: { type: 'string' }, leader: { type: ['string', 'null'] } }),
  },
  {
    kind: 'local', name: 'status', method: 'GET', path: '/status', operationId: 'status', tag: 'operations', auth: false,
    summary: 'The node: role, term, leader, members, commit and applied index, counters, its engines\' figures added up (storage), a Raft member\'s repair or vote hold after corruption when it has one (recovery; per shard on a sharded node), and where every member listens.',
    response: okSchema({ id: { type: 'string' }, role: { type: 'string' }, term: { type: 'integer' }, leader: { type: ['string', 'null'] }, members: { type: 'array', items: { type: 'string' } }, storage: { type: 'object', description: 'The node\'s engines added up (one per shard when sharded): engines, diskBytes, memoryBytes, writes, userBytesWritten, diskBytesWritten, flushes, compactions, compactionBytesWritten, cacheHits, cacheMisses, writeStalls, failed.', additionalProperties: { type: 'number' } } }),
  },
  {
    kind: 'local', name: 'metrics', method: 'GET', path: '/metrics', operationId: 'metrics', tag: 'operations', auth: false,
    summary: 'Prometheus text: requests, latencies, raft term and indexes, storage sizes, the engines\' figures (kvlab_node_storage_*).',
    response: { type: 'string' },
  },
  {
    kind: 'local', name: 'openapi', method: 'GET', path: '/openapi.json', operationId: 'openapi', tag: 'operations', auth: false,
    summary: 'This API as an OpenAPI 3.1 document, generated from the route table.',
    response: { type: 'object' },
  },
];

export const ROUTES: readonly Route[] = [
  ...KEY_PREFIXES.flatMap(({ prefix, note }, i) => keyRoutes(prefix, note, ['', 'Alias', 'InDb'][i] as string)),
  rangeRoute('/kv', '', ''),
  rangeRoute('/db/{db}/kv', ' in a named database', 'InDb'),
  batchRoute('/batch', ''),
  batchRoute('/db/{db}/batch', 'InDb'),
  ...txnRoutes('/txn', '', ''),
  ...txnRoutes('/db/{db}/txn', ' in a named database', 'InDb'),
  ...ADMIN_ROUTES,
  ...LOCAL_ROUTES,
];

// ---- matching ----

export type Match = { kind: 'route'; route: Route; params: Record<string, string> } | { kind: 'method'; allowed: Method[] } | { kind: 'none' };

interface Compiled {
  route: Route;
  segments: string[];
}

const COMPILED: Compiled[] = ROUTES.map((route) => ({ route, segments: route.path.split('/').slice(1) }));

/**
 * Finds the route for a method and a raw path (before percent-decoding, so that %2F stays inside
 * its segment). Throws HttpError 400 for a malformed percent-encoding.
 */
export function matchRoute(method: string, rawPath: string): Match {
  const segments = rawPath.split('/').slice(1);
  const allowed: Method[] = [];
  for (const c of COMPILED) {
    if (c.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segments.length && ok; i++) {
      const t = c.segments[i] as string;
      const s = segments[i] as string;
      if (t.startsWith('{')) {
        try {
          params[t.slice(1, -1)] = decodeURIComponent(s);
        } catch {
          throw new HttpError(400, 'bad_request', `malformed percent-encoding in the path segment ${JSON.stringify(s)}`);
        }
      } else ok = t === s;
    }
    if (!ok) continue;
    if (c.route.method === method) return { kind: 'route', route: c.route, params };
    allowed.push(c.route.method);
  }
  return allowed.length > 0 ? { kind: 'method', allowed } : { kind: 'none' };
}
