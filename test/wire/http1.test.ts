import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_HTTP_LIMITS, DISCARD_FACTOR, formatRequest, formatResponse, HttpWireError, RequestParser, ResponseParser, type RequestEvent, type ResponseEvent } from '../../src/wire/http1.js';

// HTTP/1.1 messages both ways: what a request or response is, whatever way the bytes are cut,
// and every way a message can be malformed or too large — refused with the status to answer,
// never with another kind of exception.

interface Req {
  method: string;
  target: string;
  headers: Record<string, string>;
  body: string;
}

/** Parses a whole byte string cut at the given points; returns the requests, and the error if any. */
function parseRequests(bytes: Buffer, cuts: number[] = [], limits = DEFAULT_HTTP_LIMITS): { reqs: Req[]; error: HttpWireError | null } {
  const p = new RequestParser(limits);
  const events: RequestEvent[] = [];
  let error: HttpWireError | null = null;
  let from = 0;
  for (const at of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (at <= from && at !== bytes.length) continue;
    try {
      p.push(bytes.subarray(from, Math.max(from, at)), events);
    } catch (err) {
      if (!(err instanceof HttpWireError)) throw err;
      error = err;
      break;
    }
    from = Math.max(from, at);
  }
  const reqs: Req[] = [];
  let cur: Req | null = null;
  let body: Buffer[] = [];
  for (const ev of events) {
    if (ev.type === 'head') {
      cur = { method: ev.head.method, target: ev.head.target, headers: Object.fromEntries(ev.head.headers), body: '' };
      body = [];
    } else if (ev.type === 'body') body.push(ev.bytes);
    else if (cur !== null) {
      cur.body = Buffer.concat(body).toString('utf8');
      reqs.push(cur);
      cur = null;
    }
  }
  return { reqs, error };
}

const H = suite('HTTP/1.1 requests');

H('a request with a Content-Length body, then another on the same connection', () => {
  const text = 'PUT /kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{"value":1}GET /kv/a HTTP/1.1\r\nhost: x\r\n\r\n';
  const { reqs, error } = parseRequests(Buffer.from(text));
  assert.is(error, null);
  assert.equal(reqs.map((r) => [r.method, r.target, r.body]), [['PUT', '/kv/a', '{"value":1}'], ['GET', '/kv/a', '']]);
  assert.is(reqs[0]?.headers['content-type'], 'application/json', 'names are lower-cased');
});

H('chunked bodies, with extensions and trailers', () => {
  const text = 'POST /batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n';
  const { reqs, error } = parseRequests(Buffer.from(text));
  assert.is(error, null);
  assert.equal(reqs.map((r) => r.body), ['hello world', '']);
});

H('keep-alive: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive; Expect: 100-continue', () => {
  const head = (t: string) => {
    const events: RequestEvent[] = [];
    new RequestParser().push(Buffer.from(t), events);
    const h = events[0];
    assert.ok(h !== undefined && h.type === 'head');
    return h.head;
  };
  assert.is(head('GET / HTTP/1.1\r\nHost: x\r\n\r\n').keepAlive, true);
  assert.is(head('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').keepAlive, false);
  assert.is(head('GET / HTTP/1.0\r\n\r\n').keepAlive, false);
  assert.is(head('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive, true);
  assert.is(head('PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n').expectContinue, true);
  assert.is(head('\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n').method, 'GET', 'blank lines before a request are ignored');
});

H('malformed messages are refused with the status to answer', () => {
  const cases: [string, number][] = [
    ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
    ['GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\rBad: y\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
    ['GET / HTTP/1.1\r\n\r\n', 400],
    ['GET  / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\rX', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n', 400],
  ];
  for (const [text, status] of cases) {
    const { error } = parseRequests(Buffer.from(text));
    assert.ok(error !== null, `accepted: ${JSON.stringify(text)}`);
    assert.is(error.status, status, JSON.stringify(text));
  }
});

H('limits: the head, the number of fields, the body (declared or chunked)', () => {
  const limits = { headBytesMax: 200, headersMax: 5, bodyBytesMax: 10 };
  assert.is(parseRequests(Buffer.from(`GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`), [], limits).error?.status, 431);
  assert.is(parseRequests(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${'A: b\r\n'.repeat(6)}\r\n`), [], limits).error?.status, 431);
  assert.is(parseRequests(Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n'), [], limits).error?.status, 413);
  // A declared body over the limit is read and dropped (up to DISCARD_FACTOR× the limit) so that the
  // client gets its 413; the request after it is read as usual.
  const over = parseRequests(Buffer.from(`PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n${'z'.repeat(20)}GET /next HTTP/1.1\r\nHost: x\r\n\r\n`), [], limits);
  assert.is(over.error, null);
  assert.equal(over.reqs.map((r) => [r.target, r.body]), [['/', ''], ['/next', '']]);
  assert.is(parseRequests(Buffer.from(`PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * DISCARD_FACTOR + 1}\r\n\r\n`), [], limits).error?.status, 413);
});

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/);
const reqArb = fc.record({
  method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'),
  target: fc.stringMatching(/^\/[A-Za-z0-9%/?=&._~-]{0,30}$/),
  // Names distinct however they are cased (repeated fields are joined, which the assertion below
  // would have to undo); values any visible ASCII, commas included.
  headers: fc
    .uniqueArray(fc.tuple(token.filter((t) => !['host', 'content-length', 'transfer-encoding', 'connection'].includes(t.toLowerCase())), fc.stringMatching(/^[ -~]{0,20}$/).map((v) => v.trim())), { maxLength: 5, selector: ([k]) => k.toLowerCase() })
    .map((pairs) => Object.fromEntries(pairs)),
  body: fc.string({ maxLength: 200 }),
});

H('whatever way the bytes are cut, the same requests come out (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(reqArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), (reqs, cuts) => {
      const bytes = Buffer.from(reqs.map((r) => formatRequest(r.method, r.target, [['host', 'h'], ...Object.entries(r.headers)], r.body === '' && r.method === 'GET' ? null : r.body)).join(''));
      const { reqs: got, error } = parseRequests(bytes, cuts);
      assert.is(error, null);
      assert.equal(got.map((g) => [g.method, g.target, g.body]), reqs.map((r) => [r.method, r.target, r.body]));
      for (const [i, r] of reqs.entries()) for (const [k, v] of Object.entries(r.headers)) assert.is(got[i]?.headers[k.toLowerCase()], v);
    }),
    { numRuns: 300 },
  );
});

H('arbitrary bytes: only HttpWireError, never another exception, and no unbounded buffering (fast-check)', () => {
  const limits = { headBytesMax: 512, headersMax: 10, bodyBytesMax: 256 };
  const start = fc.constantFrom('', 'GET / HTTP/1.1\r\nHost: x\r\n', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', 'PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n');
  fc.assert(
    fc.property(start, fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (prefix, chunks) => {
      const p = new RequestParser(limits);
      const events: RequestEvent[] = [];
      try {
        p.push(Buffer.from(prefix), events);
        for (const c of chunks) p.push(Buffer.from(c), events);
      } catch (err) {
        assert.ok(err instanceof HttpWireError, `threw ${String(err)}`);
        assert.ok([400, 413, 431, 501, 505].includes(err.status));
      }
      const bodyBytes = events.reduce((n, e) => n + (e.type === 'body' ? e.bytes.length : 0), 0);
      assert.ok(bodyBytes <= 256 * 9, 'body bytes beyond every bound');
    }),
    { numRuns: 500 },
  );
});

const R = suite('HTTP/1.1 responses');

function parseResponses(bytes: Buffer, cuts: number[] = [], close = false): { status: number; body: string }[] {
  const p = new ResponseParser();
  const events: ResponseEvent[] = [];
  let from = 0;
  for (const at of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b).concat(bytes.length)) {
    if (at < from) continue;
    p.push(bytes.subarray(from, at), events);
    from = at;
  }
  if (close) p.close(events);
  const out: { status: number; body: string }[] = [];
  let status = 0;
  let body: Buffer[] = [];
  for (const e of events) {
    if (e.type === 'head') {
      status = e.head.status;
      body = [];
    } else if (e.type === 'body') body.push(e.bytes);
    else out.push({ status, body: Buffer.concat(body).toString('utf8') });
  }
  return out;
}

R('formatResponse and the parser agree however the bytes are cut; 1xx are skipped (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ status: fc.constantFrom(200, 201, 400, 404, 409, 413, 503), body: fc.string({ maxLength: 100 }) }), { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 10 }), (rs, cuts) => {
      const bytes = Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), ...rs.map((r) => Buffer.from(formatResponse(r.status, [['content-type', 'application/json']], r.body) as string))]);
      assert.equal(parseResponses(bytes, cuts), rs.map((r) => ({ status: r.status, body: r.body })));
    }),
    { numRuns: 200 },
  );
});

R('chunked responses, and bodies that end with the connection', () => {
  assert.equal(parseResponses(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')), [{ status: 200, body: 'abc' }]);
  assert.equal(parseResponses(Buffer.from('HTTP/1.0 200 OK\r\n\r\nuntil the end'), [], true), [{ status: 200, body: 'until the end' }]);
  assert.equal(parseResponses(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), [{ status: 204, body: '' }]);
  assert.throws(() => parseResponses(Buffer.from('HTTP/9 200\r\n\r\n')), (e: unknown) => e instanceof HttpWireError && e.status === 502);
});

H.run();
R.run();
