import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Exposition, Family, Histogram, Counter, labelText, numericLeaves } from '../../src/frontdoor/metrics.js';

// Histograms count into the right buckets (cumulative, as Prometheus reads them), the exposition
// text follows the format, and numbers a node adds to its status later become metrics.

const M = suite('metrics');

M('a histogram puts each observation in the first bucket whose bound holds it', () => {
  const h = new Histogram([0.001, 0.01, 0.1]);
  for (const s of [0.0005, 0.001, 0.002, 0.05, 0.5]) h.observe(s);
  assert.equal(h.cumulative(), [2, 3, 4, 5], 'bounds are inclusive (le), the last slot is +Inf');
  assert.is(h.count, 5);
  assert.ok(Math.abs(h.sum - 0.5535) < 1e-12);
  assert.throws(() => new Histogram([1, 1]), /bounds must increase/);
});

M('cumulative counts never decrease and end at the count (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 100, noNaN: true })), (xs) => {
      const h = new Histogram();
      xs.forEach((x) => h.observe(x));
      const c = h.cumulative();
      c.forEach((v, i) => assert.ok(i === 0 || v >= (c[i - 1] as number)));
      assert.is(c[c.length - 1], xs.length);
    }),
  );
});

M('the exposition text has HELP and TYPE once per family, escaped labels and +Inf buckets', () => {
  const requests = new Family(() => new Counter());
  requests.get({ op: 'read', outcome: 'ok' }).inc(3);
  requests.get({ op: 'read', outcome: 'ok' }).inc();
  const lat = new Family(() => new Histogram([0.5]));
  lat.get({ op: 'a"b\\c\nd' }).observe(0.1);
  const text = new Exposition()
    .scalar('x_total', 'counter', 'Things.', requests.entries().map((s) => ({ labels: s.labels, value: s.value.value })))
    .histogram('lat_seconds', 'Latency.', lat.entries())
    .scalar('empty', 'gauge', 'Not rendered.', [])
    .text();
  assert.is(
    text,
    [
      '# HELP x_total Things.',
      '# TYPE x_total counter',
      'x_total{op="read",outcome="ok"} 4',
      '# HELP lat_seconds Latency.',
      '# TYPE lat_seconds histogram',
      'lat_seconds_bucket{op="a\\"b\\\\c\\nd",le="0.5"} 1',
      'lat_seconds_bucket{op="a\\"b\\\\c\\nd",le="+Inf"} 1',
      'lat_seconds_sum{op="a\\"b\\\\c\\nd"} 0.1',
      'lat_seconds_count{op="a\\"b\\\\c\\nd"} 1',
      '',
    ].join('\n'),
  );
  assert.throws(() => new Exposition().scalar('a', 'gauge', 'h', [{ value: 1 }]).scalar('a', 'gauge', 'h', [{ value: 1 }]), /rendered twice/);
  assert.throws(() => new Exposition().scalar('bad-name', 'gauge', 'h', [{ value: 1 }]), /bad metric name/);
  assert.is(labelText({}), '');
});

M('a family refuses more label sets than its bound', () => {
  const f = new Family(() => new Counter(), 2);
  f.get({ a: '1' });
  f.get({ a: '2' });
  f.get({ a: '1' });
  assert.throws(() => f.get({ a: '3' }), /more than 2 label sets/);
});

M('numericLeaves flattens a status into snake_case names, skipping non-numbers', () => {
  const leaves = numericLeaves({ term: 3, commitIndex: 7, leader: 'n1', counters: { requests: 2 }, storage: { sizeBytes: 10, levels: [1, 2] }, nan: NaN });
  assert.equal(leaves, [['term', 3], ['commit_index', 7], ['counters_requests', 2], ['storage_size_bytes', 10]]);
});

M.run();
