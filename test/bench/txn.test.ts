import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { distinctKeys, keyChooser, parseFlags, TxnCounts, type TxnFlags } from '../../bench/txn.js';
import { SeededRng } from '../../src/env/rng.js';

// `npm run bench:txn` (issue 21, item 6): its flags, its key draws and its counting, and its smoke
// path against one real sharded cluster. No timing is asserted: figures are the bench's to print.

const root = join(import.meta.dirname, '..', '..');
const T = suite('npm run bench:txn');

T('flags: defaults, narrowing, and what is wrong said plainly', () => {
  const d = parseFlags([]) as TxnFlags;
  assert.equal([d.clients, d.shapes, d.repeat, d.only], [[1, 8, 64], ['unsharded', 'sharded'], 3, null]);
  const q = parseFlags(['--quick', '--json', '--clients', '1,8,8', '--shape', 'sharded', '--only', 'server']) as TxnFlags;
  assert.equal([q.quick, q.json, q.clients, q.shapes, q.repeat, q.only], [true, true, [1, 8], ['sharded'], 1, 'server']);
  const bad: [string[], RegExp][] = [
    [['--bogus'], /unknown argument "--bogus"/],
    [['--clients', '0'], /--clients expects .* 1 to 256, got "0"/],
    [['--clients', '8,x'], /--clients expects/],
    [['--clients', '257'], /--clients expects/],
    [['--shape', 'ring'], /--shape expects unsharded or sharded/],
    [['--shape'], /--shape expects a value/],
    [['--repeat', '0'], /--repeat expects a whole number from 1 to 20/],
    [['--only', 'both'], /--only expects server or checker/],
    [['--case', 'nope'], /no checker case named "nope"; cases: check-10k/],
    [['--case', 'check-10k', '--only', 'server'], /cannot go with --only server/],
  ];
  for (const [argv, message] of bad) {
    const r = parseFlags(argv);
    assert.ok('error' in r && message.test(r.error), `${argv.join(' ')}: ${JSON.stringify(r)}`);
  }
});

T('keys: zipfian (theta 0.99) piles onto the first ranks, uniform does not; a transaction\'s keys are distinct', () => {
  const draws = 20_000;
  const share = (d: 'uniform' | 'zipfian') => {
    const choose = keyChooser(d, 10_000);
    const rng = new SeededRng(`keys/${d}`);
    const hits = new Map<number, number>();
    for (let i = 0; i < draws; i++) {
      const k = choose(rng);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 10_000, String(k));
      hits.set(k, (hits.get(k) ?? 0) + 1);
    }
    return { top: (hits.get(0) ?? 0) / draws, distinct: hits.size };
  };
  const z = share('zipfian');
  const u = share('uniform');
  // Zipf(0.99) over 10,000 ranks gives rank 1 about 1/H ≈ 10%; uniform gives each key 0.01%.
  assert.ok(z.top > 0.07 && z.top < 0.14, JSON.stringify(z));
  assert.ok(u.top < 0.002 && u.distinct > 8_000, JSON.stringify(u));
  assert.ok(z.distinct < u.distinct * 0.6, `${z.distinct} vs ${u.distinct}`);
  const rng = new SeededRng('distinct');
  const hot = keyChooser('zipfian', 10_000);
  for (let i = 0; i < 500; i++) {
    const ks = distinctKeys(hot, rng, 2);
    assert.is(new Set(ks).size, 2, JSON.stringify(ks));
  }
});

T('counts: attempts, retries, aborts by the server\'s reason, other errors, and the abort rate', () => {
  const c = new TxnCounts();
  const ok = (value: string | null = null) => ({ type: 'ok' as const, value, node: 'n1' });
  c.outcome({ f: 'txn.begin' }, ok('1.1'));
  c.outcome({ f: 'txn.op', txn: '1.1', op: { f: 'read', key: 'a' } }, { type: 'fail', code: 'aborted', message: 'wounded transaction 1.1: …', node: 'n1' });
  c.outcome({ f: 'txn.rollback', txn: '1.1' }, { type: 'fail', code: 'aborted', message: 'failed …', node: 'n1' });
  c.outcome({ f: 'txn.begin', retryOf: '1.1' }, ok('1.2'));
  c.outcome({ f: 'txn.commit', txn: '1.2' }, { type: 'fail', code: 'aborted', message: 'conflict …', node: 'n1' });
  c.outcome({ f: 'txn.begin', retryOf: '1.2' }, ok('1.3'));
  c.committedTxn(30, 10, true);
  c.outcome({ f: 'txn.begin' }, ok('1.4'));
  c.outcome({ f: 'txn.op', txn: '1.4', op: { f: 'write', key: 'a', value: 'v' } }, { type: 'fail', code: 'unavailable', message: 'busy', node: 'n1' });
  c.outcome({ f: 'txn.begin' }, { type: 'fail', code: 'too_many_requests', message: 'no', node: 'n1' });
  c.outcome({ f: 'txn.commit', txn: '1.5' }, { type: 'info', reason: 'timeout' });
  const s = c.summary(2);
  assert.equal([s.attempts, s.retries, s.committed, s.opsPerSec, s.multiShard], [6, 2, 1, 0.5, 1]);
  assert.equal(s.aborts, { wounded: 1, conflict: 1 });
  assert.equal(s.errors, { unavailable: 1, 'begin too_many_requests': 1, unknown: 1 });
  assert.is(s.samples.wounded, 'txn.op: wounded transaction 1.1: …');
  // Six attempts ended (a BEGIN refused is an attempt too), one committed.
  assert.is(s.abortRate, 0.8333);
  assert.equal([s.p50Ms, s.commitP50Ms], [30, 10]);
  const clean = new TxnCounts();
  clean.outcome({ f: 'txn.begin' }, ok('2.1'));
  clean.committedTxn(5, 2, false);
  clean.outcome({ f: 'txn.begin' }, ok('2.2'));
  clean.outcome({ f: 'txn.op', txn: '2.2', op: { f: 'read', key: 'a' } }, { type: 'fail', code: 'aborted', message: 'lock_timeout …', node: 'n1' });
  assert.is(clean.summary(1).abortRate, 0.5);
});

function bench(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench', 'txn.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

T('a bad flag: exit 2 with the usage, no stack trace', async () => {
  const r = await bench(['--clients', 'many']);
  assert.is(r.code, 2, r.out + r.err);
  assert.match(r.err, /bench:txn: --clients expects .*\nusage: npm run bench:txn/);
  assert.not.match(r.err, /\n\s+at /);
});

T('smoke: --quick against a real 3-node, 16-shard cluster commits transactions, reports them, and leaves nothing behind', async () => {
  const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith('kv-lab-bench-txn-')).sort();
  const before = ours();
  const r = await bench(['--quick', '--source', '--only', 'server', '--shape', 'sharded', '--clients', '2', '--json']);
  assert.is(r.code, 0, r.out + r.err);
  const report = JSON.parse(r.out) as { bench: string; results: Record<string, unknown>[]; ratios: Record<string, number>; loadAvg: { start: number[] } };
  assert.is(report.bench, 'txn');
  assert.equal(report.results.map((x) => x.case), ['put-c2', 'txn-uniform-c2', 'txn-zipfian-c2']);
  for (const x of report.results) {
    assert.is(x.shape, 'sharded');
    assert.ok((x.opsPerSec as number) > 0 && (x.p50Ms as number) > 0 && (x.p99Ms as number) >= (x.p50Ms as number), JSON.stringify(x));
  }
  for (const x of report.results.slice(1)) {
    assert.ok((x.committed as number) > 0 && (x.attempts as number) >= (x.committed as number), JSON.stringify(x));
    assert.ok((x.abortRate as number) >= 0 && (x.abortRate as number) <= 1, JSON.stringify(x));
    assert.ok((x.multiShard as number) > 0, 'keys hashed over 16 shards: some transaction spans two');
  }
  assert.ok(report.ratios['c2 sharded: zipfian / uniform txn/s'] !== undefined && report.ratios['c2 sharded: uniform txn/s / PUT/s'] !== undefined, JSON.stringify(report.ratios));
  assert.is(report.loadAvg.start.length, 3);
  assert.equal(ours(), before, 'the bench removed its temporary directory');
});

T.run();
