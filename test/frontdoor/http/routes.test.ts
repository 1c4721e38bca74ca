import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openApiDocument } from '../../../src/frontdoor/http/openapi.js';
import { errorStatus, HttpError, matchRoute, ROUTES, type HttpInput, type OpRoute } from '../../../src/frontdoor/http/routes.js';
import { validateOp } from '../../../src/node/protocol.js';

// The route table: matching (aliases, percent-encoding, 405), what each route builds, status
// codes for every error code, and an OpenAPI document that covers exactly the table.

const R = suite('routes');

const input = (params: Record<string, string>, body: HttpInput['body'] = { kind: 'none' }, query = ''): HttpInput => ({ params, query: new URLSearchParams(query), body, salt: () => new Uint8Array(16).fill(7) });

function route(method: string, path: string): { route: OpRoute; params: Record<string, string> } {
  const m = matchRoute(method, path);
  assert.is(m.kind, 'route', `${method} ${path}`);
  return m as never;
}

R('keys match under /kv, /key and /db/{db}/kv, percent-decoded within one segment', () => {
  assert.equal(route('GET', '/kv/a%2Fb%20c').params, { key: 'a/b c' });
  assert.is(route('GET', '/key/k').route.operationId, 'getKeyAlias');
  assert.equal(route('PUT', '/db/shop/kv/k').params, { db: 'shop', key: 'k' });
  assert.equal(route('POST', '/kv/k/cas').route.operationId, 'casKey');
  assert.equal(matchRoute('PATCH', '/kv/k'), { kind: 'method', allowed: ['GET', 'PUT', 'DELETE'] });
  assert.equal(matchRoute('GET', '/kv/a/b'), { kind: 'none' }, 'a raw slash is not part of a key');
  assert.throws(() => matchRoute('GET', '/kv/%E0%A4%A'), (e: unknown) => e instanceof HttpError && e.status === 400);
});

R('routes build the node operations they document', () => {
  const put = route('PUT', '/kv/k');
  assert.equal(put.route.build(input(put.params, { kind: 'json', value: { value: [1] } })), { op: { f: 'write', key: 'k', value: [1] }, db: '' });
  assert.equal(put.route.build(input(put.params, { kind: 'text', text: 'raw' })), { op: { f: 'write', key: 'k', value: 'raw' }, db: '' });
  const range = route('GET', '/db/shop/kv');
  assert.equal(range.route.build(input(range.params, { kind: 'none' }, 'start=a&end=&limit=5&reverse=1')), { op: { f: 'range', start: 'a', end: null, limit: 5, reverse: true }, db: 'shop' });
  const batch = route('POST', '/batch');
  const ops = [{ op: 'put', key: 'a', value: 1 }, { op: 'delete', key: 'b' }, { op: 'cas', key: 'c', expected: null, value: 2 }, { op: 'append', key: 'd', value: 'x' }];
  const built = batch.route.build(input(batch.params, { kind: 'json', value: { ops } }));
  assert.equal(built.op, { f: 'batch', ops: [{ f: 'write', key: 'a', value: 1 }, { f: 'delete', key: 'b' }, { f: 'cas', key: 'c', expected: null, value: 2 }, { f: 'append', key: 'd', value: 'x' }] });
  assert.is(validateOp(built.op, 'op'), null);
  const user = route('PUT', '/users/ann');
  const op = user.route.build(input(user.params, { kind: 'json', value: { password: 'long enough' } })).op as { f: string; hash: string };
  assert.is(op.f, 'user.put');
  assert.match(op.hash, /^scrypt\$16384\$8\$1\$/, 'the front end hashes the password');
  assert.not.ok(op.hash.includes('long enough'));
  const login = route('POST', '/auth/login');
  assert.equal(login.route.build(input({}, { kind: 'json', value: { username: 'a', password: 'b' } })).op, { f: 'auth.login', user: 'a', password: 'b' });
});

R('malformed bodies are HttpError 400 saying what was expected', () => {
  const bad = (method: string, path: string, body: HttpInput['body'], message: RegExp) => {
    const r = route(method, path);
    assert.throws(() => r.route.build(input(r.params, body)), (e: unknown) => e instanceof HttpError && e.status === 400 && message.test(e.message), `${method} ${path}`);
  };
  bad('PUT', '/kv/k', { kind: 'none' }, /must be JSON/);
  bad('PUT', '/kv/k', { kind: 'json', value: 5 }, /JSON object/);
  bad('POST', '/kv/k/append', { kind: 'json', value: { value: 5 } }, /"value" must be a string/);
  bad('POST', '/batch', { kind: 'json', value: { ops: [{ op: 'put' }] } }, /ops\[0\]/);
  bad('POST', '/users/ann/grants', { kind: 'json', value: { db: 'x', perms: ['fly'] } }, /"perms" must be a list of read, write, admin/);
});

R('every error code has a status; unknown codes are 500', () => {
  const expected: Record<string, number> = { bad_request: 400, unauthorized: 401, forbidden: 403, no_such_db: 404, not_found: 404, cas_mismatch: 409, type_error: 409, already_exists: 409, too_large: 413, unavailable: 503, not_leader: 503, timeout: 504, internal: 500, whatever: 500 };
  for (const [code, status] of Object.entries(expected)) assert.is(errorStatus(code), status, code);
});

R('the OpenAPI document lists exactly the table, with unique operation ids and security where needed', () => {
  const doc = openApiDocument('9.9.9') as { info: { version: string }; paths: Record<string, Record<string, { operationId: string; security: unknown[]; requestBody?: unknown }>> };
  assert.is(doc.info.version, '9.9.9');
  const ops = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
  assert.is(ops.length, ROUTES.length);
  assert.is(new Set(ops.map((o) => o.op.operationId)).size, ops.length, 'operation ids are unique');
  for (const r of ROUTES) {
    const o = ops.find((x) => x.path === r.path && x.method === r.method);
    assert.ok(o, `${r.method} ${r.path} documented`);
    assert.is(o?.op.security.length, r.auth ? 2 : 0);
    assert.is(o?.op.requestBody !== undefined, r.body !== undefined);
  }
  assert.ok(JSON.stringify(doc).length < 200_000);
});

R.run();
