import type { Progress, RunSummary } from '../../sim/runner.js';

const fmt = (n: number) => n.toLocaleString('en-US');

/** The human summary of one run. */
export function printSummary(s: RunSummary, outDir: string | null): void {
  const out: string[] = [];
  out.push(`${s.scenario}  seed ${s.seed}  ${s.passed ? 'PASS' : 'FAIL'}`);
  const real = (s as { real?: boolean }).real === true;
  if (real) {
    out.push(`  real processes on loopback   wall ${(s.wallMs / 1000).toFixed(2)}s   faults ${s.faultsApplied}   cluster files in ${(s as { clusterDir?: string }).clusterDir ?? '?'}`);
  } else {
    out.push(`  virtual ${(s.virtualMs / 1000).toFixed(2)}s   wall ${(s.wallMs / 1000).toFixed(2)}s   events ${fmt(s.events)}   faults ${s.faultsApplied}`);
    const m = s.messages;
    out.push(`  messages ${fmt(m.sent)} sent, ${fmt(m.delivered)} delivered, ${fmt(m.lost)} lost, ${fmt(m.blocked)} blocked, ${fmt(m.duplicated)} duplicated`);
    const c = s.streams;
    if (c !== undefined && c.connections > 0) out.push(`  clients over ${s.protocol}: ${fmt(c.connections)} connections, ${fmt(c.refused)} refused, ${fmt(c.resets)} reset, ${fmt(c.stalls)} segments stalled`);
  }
  out.push(`  ops ${fmt(s.ops.invoked)}: ${fmt(s.ops.ok)} ok, ${fmt(s.ops.fail)} fail, ${fmt(s.ops.info)} info`);
  for (const e of s.nodeExits.slice(0, 3)) out.push(`  ${e.node} exited at ${(e.atMs / 1000).toFixed(3)}s (restarted by its supervisor): ${e.reason}`);
  if (s.nodeExits.length > 3) out.push(`  … ${s.nodeExits.length - 3} more node exits`);
  out.push('  checks:');
  // Names line up in one column, as wide as the longest (13 fits the original six).
  const width = Math.max(13, ...Object.keys(s.checks).map((n) => n.length));
  for (const [name, c] of Object.entries(s.checks)) {
    const lines = c.summary.split('\n');
    const verdict = c.verdict.toUpperCase() + (c.expected === 'fail' ? (c.verdict === 'fail' ? ' (as expected)' : ' (expected FAIL: the anomaly was not caught)') : '');
    out.push(`    ${name.padEnd(width)} ${verdict.padEnd(7)} ${lines[0]}`);
    for (const l of lines.slice(1)) out.push(`    ${''.padEnd(width)} ${''.padEnd(7)} ${l}`);
  }
  out.push(`  digest ${s.digest}${real ? ' (of the history: a real run is not replayed bit for bit)' : ''}`);
  if (outDir !== null) out.push(`  written to ${outDir}/${s.scenario}/${s.seed}/ (${real ? 'summary.json, history.jsonl, cluster/' : 'report.html, summary.json, history.jsonl, trace.jsonl'})`);
  if (!s.passed) out.push(`  reproduce: ${s.reproduce}`);
  process.stdout.write(out.join('\n') + '\n');
}

/** A live progress bar on a terminal: virtual time, operations, faults in effect. */
export function progressPrinter(name: string, seed: number): { update: (p: Progress) => void; done: () => void } {
  let last = 0;
  const width = 24;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 80) return;
      last = now;
      const frac = Math.min(1, p.nowNs / p.endNs);
      const filled = Math.round(frac * width);
      const bar = '='.repeat(filled) + ' '.repeat(width - filled);
      const faults = p.activeFaults.length > 0 ? `  faults: ${p.activeFaults.join('; ')}` : '';
      const line = `${name} seed ${seed} [${bar}] ${p.phase} ${(p.nowNs / 1e9).toFixed(1)}s/${(p.endNs / 1e9).toFixed(1)}s  ops ${fmt(p.ops.invoked)}${faults}`;
      process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    },
    done() {
      process.stderr.write('\r\x1b[2K');
    },
  };
}
