import { ROUTES, errorStatus, type Route } from './routes.js';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route table so that it describes
 * exactly what the server routes. Pure; /openapi.json serves it.
 */

const ERROR_SCHEMA = {
  type: 'object',
  required: ['ok', 'code', 'message'],
  properties: {
    ok: { type: 'boolean', const: false },
    code: {
      type: 'string',
      enum: ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'no_such_db', 'method_not_allowed', 'cas_mismatch', 'type_error', 'already_exists', 'aborted', 'too_large', 'unavailable', 'not_leader', 'timeout', 'internal'],
    },
    message: { type: 'string' },
  },
};

/** Error statuses a route can answer, for its documentation. */
function errorStatuses(route: Route): number[] {
  const codes = new Set<string>(['bad_request', 'too_large', 'unavailable', 'timeout', 'internal']);
  if (route.auth) ['unauthorized', 'forbidden'].forEach((c) => codes.add(c));
  if (route.path.includes('{db}') || route.tag === 'keys') codes.add('no_such_db');
  if (route.operationId.startsWith('getKey')) codes.add('not_found');
  if (/cas|append|createDatabase/.test(route.operationId)) codes.add('cas_mismatch');
  if (route.operationId === 'login') codes.add('unauthorized');
  if (route.tag === 'transactions' && route.method !== 'POST' || /commitTxn|oneShotTxn/.test(route.operationId)) codes.add('aborted');
  return [...new Set([...codes].map(errorStatus))].sort((a, b) => a - b);
}

function operation(route: Route): Record<string, unknown> {
  const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
    description: m[1] === 'key' ? 'the key, percent-encoded (a "/" is %2F)' : m[1] === 'db' ? 'database name: 1-64 letters, digits, _ and -' : m[1] === 'txn' ? 'transaction id, as POST /txn answers it' : 'user name',
  }));
  const queryParams = (route.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, schema: q.schema, description: q.description }));
  const responses: Record<string, unknown> = {
    [String(route.okStatus ?? 200)]: {
      description: 'success',
      content: route.kind === 'local' && route.name === 'metrics' ? { 'text/plain': { schema: route.response } } : { 'application/json': { schema: route.response } },
    },
  };
  for (const status of errorStatuses(route)) responses[String(status)] = { $ref: '#/components/responses/Error' };
  const op: Record<string, unknown> = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    parameters: [...pathParams, ...queryParams],
    responses,
  };
  if (route.body !== undefined) {
    const content: Record<string, unknown> = { 'application/json': { schema: route.body.schema } };
    if (route.body.text) content['application/octet-stream'] = { schema: { type: 'string' } };
    op.requestBody = { required: route.body.optional !== true, description: route.body.description, content };
  }
  op.security = route.auth ? [{ bearerAuth: [] }, { basicAuth: [] }] : [];
  return op;
}

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const item = (paths[route.path] ??= {});
    item[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'kv-lab',
      version,
      description:
        'The HTTP API of a kv-lab node. Any node answers: a follower forwards to the leader. Success bodies carry "ok": true; errors are {"ok": false, "code", "message"}. Credentials: a bearer token from POST /auth/login, or HTTP Basic.',
    },
    servers: [{ url: 'http://127.0.0.1:8000' }],
    tags: [
      { name: 'keys', description: 'reading and writing keys' },
      { name: 'transactions', description: 'interactive transactions: begin, read and write, commit or roll back; and one-shot ones' },
      { name: 'databases', description: 'keyspaces: create, list, delete' },
      { name: 'users', description: 'users, passwords and per-database permissions' },
      { name: 'auth', description: 'logging in' },
      { name: 'operations', description: 'health, status, metrics, this document' },
    ],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' }, basicAuth: { type: 'http', scheme: 'basic' } },
      responses: { Error: { description: 'an error', content: { 'application/json': { schema: ERROR_SCHEMA } } } },
    },
  };
}
