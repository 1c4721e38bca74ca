import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

// `npm run fuzz` in short (issue 16): a real node, every port driven for a few seconds with
// random and mutated requests; the report is complete, and the node neither crashed nor
// answered 5xx (exit 0).

const root = join(import.meta.dirname, '..', '..');
const F = suite('npm run fuzz');

F('a few seconds against one real node: no crash, no 5xx, figures reported', async () => {
  const run = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench', 'fuzz.ts'), '--seconds', '4', '--nodes', '1', '--workers', '4', '--seed', '7', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
  assert.is(run.code, 0, run.out + run.err);
  const report = JSON.parse(run.out) as { requests: number; connections: number; crashes: number; fiveXx: number; probe: { ok: number }; rssMb: Record<string, { startMb: number; endMb: number; peakMb: number }>; byKind: Record<string, number> };
  assert.ok(report.connections > 10 && report.requests >= report.connections, JSON.stringify(report));
  assert.is(report.crashes, 0);
  assert.is(report.fiveXx, 0);
  assert.ok(report.probe.ok >= 1, 'the well-behaved client was served');
  const n1 = report.rssMb.n1;
  assert.ok(n1 !== undefined && n1.startMb > 0 && n1.peakMb >= n1.startMb && n1.endMb > 0, JSON.stringify(report.rssMb));
  assert.ok(Object.keys(report.byKind).some((k) => k.startsWith('peer.')) && Object.keys(report.byKind).some((k) => k.startsWith('http.')) && Object.keys(report.byKind).some((k) => k.startsWith('line.') || k.startsWith('native.')), 'every port');
});

F.run();
