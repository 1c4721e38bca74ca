/** `kv-lab ring` through the CLI's entry point: what it prints, --json, and bad flags (exit 2). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = join(import.meta.dirname, '..', '..');

function kvLab(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('prints balance and movement next to the optimum for each placement', () => {
  const r = kvLab('ring', '--nodes', '10', '--vnodes', '256', '--keys', '50000');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /ring: 10 nodes × 256 vnodes, 50,000 keys, hash murmur3-32/);
  assert.match(r.out, /ring \(3 probes\)\s+\d\.\d\d%\s+1\.\d{3}\s+\d+\.\d\d% \(9\.09%\) \d\.\d\d×\s+\d+\.\d\d% \(10\.00%\) \d\.\d\d×/);
  assert.match(r.out, /classic ring \(1 probe\)/);
  assert.match(r.out, /bounded loads \(ε=0\.05\)/);
  assert.match(r.out, /keys per node \(ring \(3 probes\)\):\n\s+n1 [\d,]+\s+n2 /);
  assert.not.match(r.out + r.err, /\n\s+at /);
});

test('--json prints one object whose figures agree with the targets', () => {
  const r = kvLab('ring', '--nodes', '10', '--keys', '100000', '--json');
  assert.is(r.code, 0, r.err);
  const report = JSON.parse(r.out) as { rows: { name: string; stdOverMean: number; maxOverMean: number; joinMoved: number; leaveMoved: number }[]; joinOptimal: number; leaveOptimal: number; counts: { id: string; keys: number }[] };
  assert.equal(report.rows.map((x) => x.name), ['ring', 'classic', 'bounded']);
  const ring = report.rows[0]!;
  assert.ok(ring.stdOverMean <= 0.05, `std/mean ${ring.stdOverMean}`);
  assert.ok(ring.joinMoved <= 1.1 * report.joinOptimal && ring.leaveMoved <= 1.1 * report.leaveOptimal);
  assert.ok(report.rows[2]!.maxOverMean <= 1.05 + 1e-9);
  assert.is(report.counts.reduce((s, c) => s + c.keys, 0), 100000);
});

test('bad flags exit 2 with a clear message and no stack trace', () => {
  for (const [args, message] of [
    [['--nodes', '0'], /--nodes expects an integer from 1 to 1,000, got "0"/],
    [['--vnodes', 'many'], /--vnodes expects an integer from 1 to 4,096, got "many"/],
    [['--keys', '-5'], /--keys expects an integer/],
    [['--epsilon', '0'], /--epsilon expects a number in \(0, 10\], got "0"/],
    [['--nodes', '1000', '--vnodes', '4096'], /too large: at most 2,000,000 tokens/],
    [['--bogus'], /unknown option '--bogus'/],
  ] as const) {
    const r = kvLab('ring', ...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.not.match(r.err, /\n\s+at /);
  }
});

test.run();
