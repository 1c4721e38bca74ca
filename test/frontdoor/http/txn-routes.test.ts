import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openApiDocument } from '../../../src/frontdoor/http/openapi.js';
import { checkSizes } from '../../../src/frontdoor/gateway.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../../src/node/protocol.js';
import { errorStatus, HttpError, matchRoute, type HttpInput, type OpRoute } from '../../../src/frontdoor/http/routes.js';

// The transaction routes: what each builds, bad ids and bodies refused before the node, 409 for
// an abort, and the OpenAPI document listing them.

const T = suite('transaction routes');

const input = (params: Record<string, string>, body: HttpInput['body'] = { kind: 'none' }, query = ''): HttpInput => ({ params, query: new URLSearchParams(query), body });

function route(method: string, path: string): { route: OpRoute; params: Record<string, string> } {
  const m = matchRoute(method, path);
  assert.is(m.kind, 'route', `${method} ${path}`);
  return m as never;
}

const build = (method: string, path: string, body: HttpInput['body'] = { kind: 'none' }, query = '') => {
  const r = route(method, path);
  return r.route.build(input(r.params, body, query));
};

T('each route builds its transaction operation', () => {
  assert.equal(build('POST', '/txn'), { op: { f: 'txn.begin' }, db: '' });
  assert.equal(build('POST', '/db/shop/txn'), { op: { f: 'txn.begin' }, db: 'shop' });
  assert.equal(build('POST', '/txn', { kind: 'json', value: { retryOf: '3.16' } }), { op: { f: 'txn.begin', retryOf: '3.16' }, db: '' });
  assert.equal(build('GET', '/txn/3.17/kv/a%2Fb'), { op: { f: 'txn.op', txn: '3.17', op: { f: 'read', key: 'a/b' } }, db: '' });
  assert.equal(build('PUT', '/db/shop/txn/3.17/kv/k', { kind: 'json', value: { value: [1] } }), { op: { f: 'txn.op', txn: '3.17', op: { f: 'write', key: 'k', value: [1] } }, db: 'shop' });
  assert.equal(build('DELETE', '/txn/3.17/kv/k'), { op: { f: 'txn.op', txn: '3.17', op: { f: 'delete', key: 'k' } }, db: '' });
  assert.equal(build('POST', '/txn/3.17/kv/k/append', { kind: 'json', value: { value: '1 ' } }), { op: { f: 'txn.op', txn: '3.17', op: { f: 'append', key: 'k', value: '1 ' } }, db: '' });
  assert.equal(build('GET', '/txn/3.17/kv', { kind: 'none' }, 'start=a&limit=5'), { op: { f: 'txn.op', txn: '3.17', op: { f: 'range', start: 'a', end: null, limit: 5, reverse: false } }, db: '' });
  assert.equal(build('POST', '/txn/3.17/commit'), { op: { f: 'txn.commit', txn: '3.17' }, db: '' });
  assert.equal(build('POST', '/txn/3.17/rollback'), { op: { f: 'txn.rollback', txn: '3.17' }, db: '' });
  assert.equal(build('POST', '/txn/commit', { kind: 'json', value: { ops: [{ op: 'get', key: 'a' }, { op: 'put', key: 'b', value: 1 }, { op: 'append', key: 'l', value: 'x' }, { op: 'delete', key: 'c' }] } }), {
    op: { f: 'txn.oneshot', ops: [{ f: 'read', key: 'a' }, { f: 'write', key: 'b', value: 1 }, { f: 'append', key: 'l', value: 'x' }, { f: 'delete', key: 'c' }] },
    db: '',
  });
});

T('bad ids and bodies are 400s that say what is wrong', () => {
  const err = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.instance(e, HttpError);
      return `${(e as HttpError).status} ${(e as Error).message}`;
    }
    return 'no error';
  };
  assert.match(err(() => build('POST', '/txn/abc/commit')), /^400 "abc" is not a transaction id/);
  assert.match(err(() => build('POST', '/txn', { kind: 'json', value: { retryOf: 'x' } })), /^400 "retryOf" must be a transaction id/);
  assert.match(err(() => build('POST', '/txn/commit', { kind: 'json', value: { ops: [] } })), /^400 "ops" must be a list of 1\.\.1000/);
  assert.match(err(() => build('POST', '/txn/commit', { kind: 'json', value: { ops: [{ op: 'cas', key: 'a' }] } })), /ops\[0\] is \{"op": "get"\|"put"\|"delete"\|"append"/);
  assert.match(err(() => build('POST', '/txn/commit', { kind: 'json', value: { ops: [{ op: 'put', key: 'a' }] } })), /no "value"/);
  assert.is(errorStatus('aborted'), 409);
});

T('the OpenAPI document lists every transaction route under its tag, with 409 where aborts happen', () => {
  const doc = openApiDocument('test') as { paths: Record<string, Record<string, { tags: string[]; responses: Record<string, unknown> }>> };
  for (const [path, method] of [['/txn', 'post'], ['/txn/{txn}/kv/{key}', 'get'], ['/txn/{txn}/commit', 'post'], ['/txn/commit', 'post'], ['/db/{db}/txn/{txn}/rollback', 'post']] as const) {
    assert.equal(doc.paths[path]?.[method]?.tags, ['transactions'], `${method} ${path}`);
  }
  assert.ok('409' in (doc.paths['/txn/{txn}/commit']?.post?.responses ?? {}));
});

T('keys and values inside transactions are held to the same size limits (too_large, not bad_request)', () => {
  const long = 'k'.repeat(KEY_BYTES_MAX + 1);
  assert.is(checkSizes({ f: 'txn.op', txn: '1.1', op: { f: 'read', key: long } })?.ok, false);
  assert.is((checkSizes({ f: 'txn.op', txn: '1.1', op: { f: 'read', key: long } }) as { code: string }).code, 'too_large');
  assert.is((checkSizes({ f: 'txn.oneshot', ops: [{ f: 'write', key: 'a', value: 'v'.repeat(VALUE_BYTES_MAX + 1) }] }) as { code: string }).code, 'too_large');
  assert.is(checkSizes({ f: 'txn.op', txn: '1.1', op: { f: 'write', key: 'a', value: 1 } }), null);
});

T.run();
