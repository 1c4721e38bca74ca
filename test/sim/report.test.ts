import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reportData, type ReportData } from '../../sim/report/model.js';
import { METRICS_JS } from '../../sim/report/script.js';
import { runScenario, type RunResult } from '../../sim/runner.js';
import { nodeIds, parseScenario } from '../../sim/scenario.js';

/**
 * report.html: the model it draws is built from the run (every operation, the faults as the
 * trace recorded them, node states, leaders and terms, each check with what it names), the page
 * is one self-contained file, and the recorder that feeds it changes nothing in the run. The
 * page in a real browser: test/sim/report-browser.test.ts.
 */
const R = suite('report.html');
const tmp = mkdtempSync(join(tmpdir(), 'kv-lab-report-'));

const RAFT = parseScenario(`name: report-raft
description: three Raft nodes; the leader crashes, then a partition, then a pause
duration: 2s
cluster: { nodes: 3, replication: raft }
workload: { clients: 3, keys: 3 }
faults:
  - { at: 300ms, for: 300ms, kind: crash, node: leader }
  - { at: 900ms, for: 300ms, kind: partition, shape: isolate, node: n2 }
  - { at: 1400ms, for: 200ms, kind: pause, node: n3 }
`, 'report-raft.yaml');

const AMNESIA = parseScenario(`name: report-amnesia
description: an in-memory node crashes and comes back empty
duration: 1s
cluster: { nodes: 1, engine: memory }
workload: { clients: 2, keys: 2, mix: { read: 50, write: 50 } }
faults:
  - { at: 600ms, kind: crash, node: n1 }
`, 'report-amnesia.yaml');

function modelOf(r: RunResult, scenario = RAFT): ReportData {
  assert.ok(r.recorded !== null, 'a run that writes its folder records what the report draws');
  return reportData({ summary: r.summary, history: r.history, recorded: r.recorded, linearizability: r.linearizability, nodeIds: nodeIds(scenario) });
}

let raft: RunResult;

R('the recorder adds nothing to the run: the same digest with and without report.html', () => {
  raft = runScenario(RAFT, { seed: 4, outDir: tmp });
  const bare = runScenario(RAFT, { seed: 4, outDir: null });
  assert.is(raft.summary.digest, bare.summary.digest);
  assert.ok(raft.summary.passed, JSON.stringify(raft.summary.checks));
});

R('every operation is drawn, with its outcome, lane and the node that answered', () => {
  const d = modelOf(raft);
  const s = raft.summary;
  assert.is(d.ops.lane.length, s.ops.invoked);
  const count = (v: number) => d.ops.status.filter((x) => x === v).length;
  assert.is(count(0), s.ops.ok);
  assert.is(count(1), s.ops.fail);
  assert.is(count(2), s.ops.info);
  for (const a of Object.values(d.ops)) assert.is(a.length, s.ops.invoked, 'parallel arrays');
  assert.ok(d.ops.startUs.every((t, i) => d.ops.endUs[i] === -1 || (d.ops.endUs[i] as number) >= t), 'operations end after they start');
  assert.ok(d.lanes.includes('final reads'));
  assert.ok(d.ops.node.some((n) => n >= 0), 'answers name their node');
  assert.is(d.endUs, Math.round(s.virtualMs * 1000));
  assert.ok(d.latency.count === s.ops.ok && d.latency.p50Ms > 0 && d.latency.p99Ms >= d.latency.p50Ms);
});

R('faults are bands with their kind and nodes; crashes and pauses are node spans; leaders have terms', () => {
  const d = modelOf(raft);
  assert.equal(d.bands.map((b) => b.category), ['crash', 'partition', 'pause']);
  const crash = d.bands.find((b) => b.category === 'crash');
  assert.ok(crash !== undefined && crash.startUs === 300_000 && crash.endUs === 600_000 && crash.nodes.length === 1, JSON.stringify(d.bands));
  const part = d.bands.find((b) => b.category === 'partition');
  assert.ok(part !== undefined && part.startUs === 900_000 && part.endUs === 1_200_000 && part.nodes.includes('n2'), JSON.stringify(part));
  const pause = d.bands.find((b) => b.category === 'pause');
  assert.ok(pause !== undefined && pause.nodes[0] === 'n3');
  const down = d.spans.find((x) => x.state === 'down');
  assert.ok(down !== undefined && down.node === crash.nodes[0] && down.startUs === 300_000 && down.endUs >= 600_000, JSON.stringify(d.spans));
  assert.ok(d.spans.some((x) => x.state === 'paused' && x.node === 'n3' && x.startUs === 1_400_000 && x.endUs === 1_600_000));
  // The crashed leader is replaced by a leader of a later term.
  assert.ok(d.leaders.length >= 2, JSON.stringify(d.leaders));
  assert.ok(d.leaders.every((l, i) => i === 0 || l.term > (d.leaders[i - 1] as { term: number }).term));
  assert.ok(d.roleSpans.some((r) => r.role === 'leader' && r.node === crash.nodes[0] && r.endUs <= 300_000));
  assert.equal(d.checks.map((c) => c.name).sort(), Object.keys(raft.summary.checks).sort());
});

R('a failing check names the operations it is about, and they are the ones the checker named', () => {
  const r = runScenario(AMNESIA, { seed: 1, outDir: tmp });
  assert.not.ok(r.summary.passed);
  const d = modelOf(r, AMNESIA);
  assert.is(d.checks[0]?.verdict, 'fail', 'failing checks come first');
  const lin = d.checks.find((c) => c.name === 'linearizable');
  assert.ok(lin !== undefined && lin.ops.length >= 2, JSON.stringify(lin));
  const named = (r.linearizability?.keys ?? []).flatMap((k) => (k.explanation?.ops ?? []).map((o) => o.id));
  assert.ok(named.length > 0 && named.every((id) => lin.ops.includes(id)));
  // The amnesia shows after the crash: a read of nothing among the named operations.
  assert.ok(lin.ops.some((i) => (d.ops.startUs[i] as number) >= 600_000 && d.ops.value[i] === '→ null'), JSON.stringify(lin.ops.map((i) => d.ops.value[i])));
  const lost = d.checks.find((c) => c.name === 'lost-writes');
  assert.ok(lost !== undefined && lost.ops.length > 0);
  assert.ok(lost.ops.some((i) => d.lanes[d.ops.lane[i] as number] === 'final reads'), 'the read that did not find the write');
  assert.ok(lost.ops.some((i) => d.ops.status[i] === 0 && (d.ops.startUs[i] as number) < 600_000), 'the acknowledged write');
});

R('the page is one file: data and script inline, nothing fetched', () => {
  const html = readFileSync(join(tmp, 'report-amnesia', '1', 'report.html'), 'utf8');
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>report-amnesia seed 1: FAIL<\/title>/);
  assert.match(html, /<script type="application\/json" id="report-data">/);
  assert.match(html, /<div class="check fail" data-check="linearizable">/);
  assert.match(html, /<canvas id="timeline"/);
  assert.match(html, /Reproduce: <code>npx kv-lab run report-amnesia\.yaml --seed 1<\/code>/);
  assert.not.match(html, /<link\b|<img\b|<iframe\b|\bsrc\s*=|@import|url\(|https?:\/\//i);
  assert.not.match(html, /fetch\(|XMLHttpRequest|WebSocket|EventSource|import\(/);
  // The data block cannot end the script early, whatever the history holds.
  const data = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  assert.is(JSON.parse(data).ops.lane.length, JSON.parse(readFileSync(join(tmp, 'report-amnesia', '1', 'summary.json'), 'utf8')).ops.invoked);
});

R('throughput and latency per time bucket: the page\'s own code, run here', () => {
  const bucketMetrics = new Function(`${METRICS_JS}; return bucketMetrics;`)() as (ops: unknown, t0: number, t1: number, n: number) => Record<string, (number | null)[]>;
  // Four operations ending in two 1-second buckets: ok 10 ms and 30 ms, a failure, one ok of 100 ms.
  const ops = { startUs: [0, 100_000, 200_000, 1_000_000], endUs: [10_000, 130_000, 300_000, 1_100_000], status: [0, 0, 1, 0] };
  const m = bucketMetrics(ops, 0, 2_000_000, 2);
  assert.equal(m.okPerS, [2, 1]);
  assert.equal(m.failPerS, [1, 0]);
  assert.equal(m.p50Ms, [30, 100]);
  assert.equal(m.p99Ms, [30, 100]);
  const empty = bucketMetrics(ops, 5_000_000, 6_000_000, 4);
  assert.equal(empty.p50Ms, [null, null, null, null]);
});

R.run();
