import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * .ci/run with npm and npx replaced by stubs on PATH (the real ones would take ten minutes): it
 * runs the README's test command, then the swarm slice over every shipped scenario into
 * reports/ci, and its last line sums both; either failing fails CI.
 */
const C = suite('.ci/run');
const root = join(import.meta.dirname, '..', '..');
const bin = mkdtempSync(join(tmpdir(), 'kv-lab-ci-'));
const calls = join(bin, 'calls');
writeFileSync(join(bin, 'npm'), `#!/bin/sh
echo "npm $*" >> "${calls}"
[ "$1" = test ] || exit 0
printf '%s\\n' "$STUB_TEST_OUT"
exit "$STUB_TEST_RC"
`);
writeFileSync(join(bin, 'npx'), `#!/bin/sh
echo "npx $*" >> "${calls}"
printf '%s\\n' "$STUB_SWARM_OUT"
exit "$STUB_SWARM_RC"
`);
chmodSync(join(bin, 'npm'), 0o755);
chmodSync(join(bin, 'npx'), 0o755);

function ci(test: [string, number], swarm: [string, number], env: Record<string, string> = {}) {
  writeFileSync(calls, '');
  const r = spawnSync('bash', [join(root, '.ci', 'run')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, STUB_TEST_OUT: test[0], STUB_TEST_RC: String(test[1]), STUB_SWARM_OUT: swarm[0], STUB_SWARM_RC: String(swarm[1]), ...env },
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { code: r.status, last: lines[lines.length - 1], calls: readFileSync(calls, 'utf8').trim().split('\n') };
}

const SLICE_OK = 'pass  scenarios/crash.yaml  2/2 seeds passed\n\n72 runs in 2 min 40 s on 2 job(s): 72 passed, 0 failed\nswarm digest abc';
const SLICE_FAIL = '72 runs in 2 min 40 s on 2 job(s): 71 passed, 1 failed\nswarm digest abc';

C('the tests, then the slice of every shipped scenario into reports/ci; the last line sums both', () => {
  const r = ci(['310 passed, 0 failed', 0], [SLICE_OK, 0]);
  assert.is(r.code, 0);
  assert.is(r.last, '382 passed, 0 failed');
  assert.equal(r.calls, ['npm install', 'npm test', 'npx kv-lab swarm --seeds 1..2 --jobs auto --out reports/ci']);
  assert.is(ci(['310 passed, 0 failed', 0], [SLICE_OK, 0], { KV_LAB_CI_SEEDS: '1..5' }).calls[2], 'npx kv-lab swarm --seeds 1..5 --jobs auto --out reports/ci');
});

C('a scenario that stops passing fails CI', () => {
  const r = ci(['310 passed, 0 failed', 0], [SLICE_FAIL, 1]);
  assert.is(r.code, 1);
  assert.is(r.last, '381 passed, 1 failed');
});

C('a failing test fails CI, and the slice still runs', () => {
  const r = ci(['309 passed, 1 failed', 1], [SLICE_OK, 0]);
  assert.is(r.code, 1);
  assert.is(r.last, '381 passed, 1 failed');
  assert.is(r.calls.length, 3);
});

C('no totals from either counts as one failure each', () => {
  const r = ci(['error TS2304: Cannot find name', 2], ['kv-lab: no such scenario file or directory: x', 2]);
  assert.is(r.code, 2);
  assert.is(r.last, '0 passed, 2 failed');
});

C.run();
