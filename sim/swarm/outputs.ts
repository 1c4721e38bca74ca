import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { esc } from '../../src/check/render-html.js';
import { assert } from '../../src/util/assert.js';
import type { Shard, SwarmPlan } from './plan.js';
import type { SwarmRun } from './task.js';

/**
 * What a swarm leaves in its folder:
 *
 *   summary.json   what was found: the plan, per scenario its counts, every run's verdict and trace
 *                  digest. Decided by the plan alone, so shards merged equal an unsharded swarm
 *                  byte for byte (a shard's own says which shard it is).
 *   summary.md     the same for people (GitHub renders it: a job summary, a PR comment): a table of
 *                  scenarios with wall times, then each failure with the command that reproduces it.
 *   junit.xml      one testcase per scenario × seed, in the Apache Ant JUnit format that CI
 *                  systems read (see junitXml); a failure carries the explanation.
 *   index.html     a page linking each failing run's report.html.
 *   timings.json   how it ran: per shard the host, start, wall time and jobs, per run its wall time.
 *   runs/<scenario>/<seed>/   each failing run's folder, report.html included.
 */

export interface ShardTiming {
  shard: string;
  hostname: string;
  /** Local time the shard started, ISO 8601 without a zone (as JUnit's timestamp wants). */
  startedAt: string;
  wallMs: number;
  jobs: number;
}

export interface SwarmResult {
  plan: SwarmPlan;
  /** Set on a shard's own outputs; null once complete (unsharded, or merged). */
  shard: Shard | null;
  /** In plan order. */
  runs: SwarmRun[];
  timings: { shards: ShardTiming[]; runWallMs: Record<string, number> };
}

export interface ScenarioTotals {
  file: string;
  scenario: string;
  seeds: number;
  passed: number;
  failed: number;
  /** Passing runs of a scenario that expects a check to fail: the anomaly was caught. */
  expectedFailCaught: number;
}

export const SUMMARY_FORMAT = 'kv-lab-swarm/1';

export const runKey = (r: { file: string; seed: number }): string => `${r.file}#${r.seed}`;

export function scenarioTotals(result: Pick<SwarmResult, 'plan' | 'runs'>): ScenarioTotals[] {
  const byFile = new Map<string, ScenarioTotals>();
  for (const file of result.plan.files) byFile.set(file, { file, scenario: '', seeds: 0, passed: 0, failed: 0, expectedFailCaught: 0 });
  for (const r of result.runs) {
    const t = byFile.get(r.file);
    assert(t !== undefined, () => `run of ${r.file}, which is not in the plan`);
    t.scenario = r.scenario;
    t.seeds++;
    if (r.passed) t.passed++;
    else t.failed++;
    if (r.passed && r.caught.length > 0) t.expectedFailCaught++;
  }
  return [...byFile.values()].filter((t) => t.seeds > 0);
}

/** sha256 over every run's file, seed, verdict and trace digest, in plan order: equal digests, equal swarms. */
export function swarmDigest(runs: readonly SwarmRun[]): string {
  const h = createHash('sha256');
  for (const r of runs) h.update(`${r.file}\t${r.seed}\t${r.passed ? 'pass' : 'fail'}\t${r.digest}\n`);
  return h.digest('hex');
}

export function summaryJson(result: SwarmResult): string {
  const failed = result.runs.filter((r) => !r.passed).length;
  const totals = scenarioTotals(result);
  return `${JSON.stringify({
    format: SUMMARY_FORMAT,
    plan: result.plan,
    ...(result.shard !== null ? { shard: `${result.shard.index}/${result.shard.count}` } : {}),
    runs: result.runs.length,
    passed: result.runs.length - failed,
    failed,
    expectedFailCaught: totals.reduce((s, t) => s + t.expectedFailCaught, 0),
    digest: swarmDigest(result.runs),
    scenarios: totals,
    results: result.runs,
  }, null, 1)}\n`;
}

const n = (v: number) => v.toLocaleString('en-US');

export function seconds(ms: number): string {
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  // Rounded before it is split, so that 3 min 59.6 s reads "4 min 0 s", not "3 min 60 s" (a
  // merged raft swarm's summary.md printed that).
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Wall time of the whole: the slowest shard (shards run side by side). */
function wallOf(result: SwarmResult): number {
  return Math.max(0, ...result.timings.shards.map((s) => s.wallMs));
}

function runWall(result: SwarmResult, r: SwarmRun): number {
  return result.timings.runWallMs[runKey(r)] ?? 0;
}

/** Markdown that reads well where GitHub shows it: a job summary, a pull request, the file itself. */
export function summaryMd(result: SwarmResult): string {
  const failed = result.runs.filter((r) => !r.passed);
  const totals = scenarioTotals(result);
  const { plan } = result;
  const seeds = `${plan.seeds.first}..${plan.seeds.last}`;
  const head = failed.length === 0 ? `✅ kv-lab swarm: all ${n(result.runs.length)} runs passed` : `❌ kv-lab swarm: ${n(failed.length)} of ${n(result.runs.length)} runs failed`;
  const shards = result.timings.shards;
  const how = [
    `${totals.length} scenario(s) × seeds ${seeds}`,
    plan.explore ? 'exploring open knobs (--explore)' : '',
    plan.protocol !== null ? `clients over ${plan.protocol}` : '',
    result.shard !== null ? `shard ${result.shard.index}/${result.shard.count}` : shards.length > 1 ? `${shards.length} shards merged` : '',
    `wall ${seconds(wallOf(result))}${shards.length > 0 ? ` on ${shards.map((s) => s.jobs).reduce((a, b) => a + b, 0)} job(s)` : ''}`,
  ].filter((x) => x !== '');
  const lines: string[] = [`## ${head}`, '', how.join(' · '), ''];
  lines.push('| | scenario | file | seeds | passed | failed | expected-fail caught | wall time of its runs |');
  lines.push('|---|---|---|---:|---:|---:|---:|---:|');
  for (const t of totals) {
    const wall = result.runs.filter((r) => r.file === t.file).reduce((s, r) => s + runWall(result, r), 0);
    lines.push(`| ${t.failed === 0 ? '✅' : '❌'} | ${mdCell(t.scenario)} | \`${mdCell(t.file)}\` | ${n(t.seeds)} | ${n(t.passed)} | ${n(t.failed)} | ${n(t.expectedFailCaught)} | ${seconds(wall)} |`);
  }
  if (failed.length > 0) {
    lines.push('', `### Failures (${n(failed.length)})`, '', '| scenario | seed | what failed | reproduce |', '|---|---:|---|---|');
    for (const r of failed.slice(0, 200)) lines.push(`| ${mdCell(r.scenario)} | ${r.seed} | ${mdCell(r.failed.map((f) => `${f.check} ${f.verdict}`).join(', '))} | \`${mdCell(r.reproduce)}\` |`);
    if (failed.length > 200) lines.push('', `… and ${n(failed.length - 200)} more: summary.json lists them all.`);
    lines.push('');
    for (const r of failed.slice(0, 20)) {
      lines.push(`<details><summary>${esc(r.scenario)} seed ${r.seed}: ${esc(r.failed.map((f) => f.check).join(', '))}</summary>`, '');
      lines.push('```text', ...r.failed.map((f) => `${f.check} ${f.verdict.toUpperCase()}\n${f.summary.replace(/```/g, "'''")}`), '```', '');
      if (r.explored !== undefined) lines.push(`Explored: \`${mdCell(JSON.stringify(r.explored))}\``, '');
      lines.push('</details>', '');
    }
  }
  lines.push('', `Swarm digest \`${swarmDigest(result.runs)}\` (equal digests: the same runs with the same outcomes).`);
  return `${lines.join('\n')}\n`;
}

/** A table cell: pipes escaped, one line. */
function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * JUnit XML in the Apache Ant format — the one Jenkins, GitHub's test reporters and GitLab read —
 * held to its strictest schema (Windy Road's JUnit.xsd for Ant's JUnit task): <testsuites> with
 * no attributes; per scenario a <testsuite> with name, package, id (from 0), timestamp (no zone),
 * hostname, tests, failures, errors and time, holding <properties>, its testcases, <system-out>
 * and <system-err> in that order; per seed a <testcase> with name, classname and time, and on a
 * failure a <failure> with a message and a type, the explanation as its text.
 */
export function junitXml(result: SwarmResult): string {
  const totals = scenarioTotals(result);
  const first = result.timings.shards[0];
  const startedAt = result.timings.shards.map((s) => s.startedAt).sort()[0] ?? '1970-01-01T00:00:00';
  const hostname = result.timings.shards.length === 1 && first !== undefined ? first.hostname : result.timings.shards.length > 1 ? 'shards' : 'localhost';
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites>'];
  totals.forEach((t, id) => {
    const runs = result.runs.filter((r) => r.file === t.file);
    const time = runs.reduce((s, r) => s + runWall(result, r), 0) / 1000;
    out.push(`  <testsuite name="${xml(t.scenario)}" package="${xml(t.file)}" id="${id}" timestamp="${startedAt}" hostname="${xml(hostname || 'localhost')}" tests="${runs.length}" failures="${t.failed}" errors="0" skipped="0" time="${time.toFixed(3)}">`);
    out.push('    <properties>');
    out.push(`      <property name="seeds" value="${result.plan.seeds.first}..${result.plan.seeds.last}"/>`);
    if (result.plan.explore) out.push('      <property name="explore" value="true"/>');
    if (result.plan.protocol !== null) out.push(`      <property name="protocol" value="${xml(result.plan.protocol)}"/>`);
    out.push('    </properties>');
    for (const r of runs) {
      const head = `    <testcase name="seed ${r.seed}" classname="${xml(r.file)}" time="${(runWall(result, r) / 1000).toFixed(3)}"`;
      if (r.passed) {
        out.push(`${head}/>`);
        continue;
      }
      const message = r.failed.map((f) => `${f.check} ${f.verdict}`).join(', ');
      const body = [...r.failed.map((f) => `${f.check} ${f.verdict.toUpperCase()}\n${f.summary}`), `reproduce: ${r.reproduce}`, ...(r.report !== null ? [`report: ${r.report}`] : [])].join('\n\n');
      out.push(`${head}>`, `      <failure message="${xml(message)}" type="${xml(r.failed[0]?.check ?? 'fail')}">${xml(body)}</failure>`, '    </testcase>');
    }
    out.push('    <system-out/>', '    <system-err/>', '  </testsuite>');
  });
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** Text for XML: the five escapes, and characters XML 1.0 forbids dropped. */
function xml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** index.html: the totals, and each failing run with a link to its report. Self-contained. */
export function indexHtml(result: SwarmResult): string {
  const failed = result.runs.filter((r) => !r.passed);
  const totals = scenarioTotals(result);
  const rows = totals.map((t) => `<tr class="${t.failed === 0 ? 'pass' : 'fail'}"><td>${t.failed === 0 ? '✔' : '✘'}</td><td>${esc(t.scenario)}</td><td><code>${esc(t.file)}</code></td><td>${n(t.seeds)}</td><td>${n(t.passed)}</td><td>${n(t.failed)}</td><td>${n(t.expectedFailCaught)}</td></tr>`).join('\n');
  const failures = failed.slice(0, 2000).map((r) => `<li class="failure" data-file="${esc(r.file)}" data-seed="${r.seed}">
<h3>${r.report !== null ? `<a href="${esc(r.report)}">${esc(r.scenario)} seed ${r.seed}</a>` : `${esc(r.scenario)} seed ${r.seed}`} <span class="checks">${esc(r.failed.map((f) => `${f.check} ${f.verdict}`).join(', '))}</span></h3>
<p><code>${esc(r.reproduce)}</code></p>
<pre>${esc(r.failed.map((f) => f.summary).join('\n\n').split('\n').slice(0, 12).join('\n'))}</pre></li>`).join('\n');
  const title = failed.length === 0 ? `all ${n(result.runs.length)} runs passed` : `${n(failed.length)} of ${n(result.runs.length)} runs failed`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>kv-lab swarm: ${title}</title>
<style>${INDEX_STYLE}</style>
</head>
<body>
<h1>kv-lab swarm: <span class="${failed.length === 0 ? 'ok' : 'bad'}">${title}</span></h1>
<p>Seeds ${result.plan.seeds.first}..${result.plan.seeds.last}${result.plan.explore ? ', exploring open knobs' : ''}${result.plan.protocol !== null ? `, clients over ${esc(result.plan.protocol)}` : ''}; wall ${seconds(wallOf(result))}. Swarm digest <code>${swarmDigest(result.runs)}</code>.</p>
<table id="scenarios"><tr><th></th><th>scenario</th><th>file</th><th>seeds</th><th>passed</th><th>failed</th><th>expected-fail caught</th></tr>
${rows}
</table>
<h2>Failing runs (${n(failed.length)})</h2>
${failed.length === 0 ? '<p>None.</p>' : `<ol id="failures">${failures}</ol>${failed.length > 2000 ? `<p>… and ${n(failed.length - 2000)} more (summary.json).</p>` : ''}`}
</body>
</html>
`;
}

const INDEX_STYLE = `
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } .ok { color: #2e7d32; } .bad { color: #c62828; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #eee; padding: 3px 10px; text-align: left; }
tr.fail td { background: #fdf1f1; } tr.pass td:first-child { color: #2e7d32; } tr.fail td:first-child { color: #c62828; }
li.failure { margin-bottom: 14px; } li.failure h3 { font-size: 15px; margin: 4px 0; } .checks { font-weight: normal; color: #c62828; }
pre { background: #f6f6f6; padding: 8px; font-size: 12px; white-space: pre-wrap; max-height: 240px; overflow: auto; }
`;

export function timingsJson(result: SwarmResult): string {
  return `${JSON.stringify(result.timings, null, 1)}\n`;
}

/** Writes every output file into dir; returns their paths. */
export function writeOutputs(dir: string, result: SwarmResult): string[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ['summary.json', summaryJson(result)],
    ['summary.md', summaryMd(result)],
    ['junit.xml', junitXml(result)],
    ['index.html', indexHtml(result)],
    ['timings.json', timingsJson(result)],
  ];
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}
