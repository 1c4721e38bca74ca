import type { LinearizabilityResult } from '../../src/check/index.js';
import { historyFromEvents } from '../../src/check/index.js';
import type { HistoryEvent } from '../../src/check/history.js';
import { esc, renderHtmlPage, renderHtmlSection } from '../../src/check/render-html.js';
import { assert } from '../../src/util/assert.js';
import type { RunSummary } from '../runner.js';
import type { CheckView, ReportData } from './model.js';
import { REPORT_SCRIPT } from './script.js';

/**
 * report.html: one self-contained page per run (inline style, data and script; nothing is
 * fetched). Top to bottom: the verdict and how to reproduce it; each check with its verdict and
 * explanation, failing ones first, each with a button that highlights what it names; the
 * timeline (fault bands, node lanes with down/paused spans, roles and terms, the operations each
 * node answered, client lanes with every operation coloured by outcome); throughput and latency
 * p50/p99 over the same window; the faults and leaders as tables; and the linearizability
 * checker's own section (renderHtmlSection: lanes per process per key, the failing operations
 * large and labelled), drawn by the checker's code rather than a second time here.
 */

export function renderReport(data: ReportData, summary: RunSummary, history: readonly HistoryEvent[], lin: LinearizabilityResult | null): string {
  assert(data.ops.lane.length === data.ops.startUs.length, 'packed operations have one entry per array');
  const checker = checkerParts();
  const verdict = summary.passed ? 'PASS' : 'FAIL';
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${esc(`${summary.scenario} seed ${summary.seed}: ${verdict}`)}</title>
<style>${checker.style}${STYLE}</style>
</head>
<body>
<header>
<h1>${esc(summary.scenario)} <span class="seed">seed ${summary.seed}</span> <span class="badge ${summary.passed ? 'pass' : 'fail'}">${verdict}</span></h1>
<p class="file">${esc(summary.file)} · protocol ${esc(summary.protocol)} · digest <code>${esc(summary.digest)}</code></p>
${summary.passed ? '' : `<p class="reproduce">Reproduce: <code>${esc(summary.reproduce)}</code></p>`}
${facts(summary, data)}
</header>
<section id="checks"><h2>Checks</h2>
${data.checks.map(checkCard).join('\n')}
</section>
<section id="timeline-section"><h2>Timeline</h2>
${legend()}
<p class="controls"><button id="whole" type="button">whole run</button> <span id="window"></span></p>
<p id="highlight" class="highlight" role="status"></p>
<div class="canvas-box"><canvas id="timeline" aria-label="timeline of faults, nodes and client operations"></canvas></div>
<p id="hover" class="hover" role="status">Point at an operation, a node or a fault for its details.</p>
<h2>Throughput and latency</h2>
<p class="note">Operations completed per second (ok green, failed grey, unknown orange) and the latency of those that succeeded (p50 blue, p99 red dashed), over the window above; overall p50 ${data.latency.p50Ms.toFixed(2)} ms, p99 ${data.latency.p99Ms.toFixed(2)} ms, max ${data.latency.maxMs.toFixed(2)} ms over ${data.latency.count.toLocaleString('en-US')} operations.</p>
<div class="canvas-box"><canvas id="metrics" aria-label="throughput and latency over time"></canvas></div>
</section>
${faultTable(data)}
${leaderTable(data)}
${linSection(history, lin)}
<div id="details" class="details" role="status">Hover or focus an operation of the checker's timeline for its details.</div>
<script type="application/json" id="report-data">${json}</script>
<script>${checker.script}</script>
<script>${REPORT_SCRIPT}</script>
</body>
</html>
`;
}

function facts(s: RunSummary, d: ReportData): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const rows: [string, string][] = [
    ['virtual time', `${(s.virtualMs / 1000).toFixed(2)} s (wall ${(s.wallMs / 1000).toFixed(2)} s)`],
    ['events', n(s.events)],
    ['operations', `${n(s.ops.invoked)}: ${n(s.ops.ok)} ok, ${n(s.ops.fail)} fail, ${n(s.ops.info)} info`],
    ['faults', `${n(s.faultsApplied)} applied`],
    ['messages', `${n(s.messages.sent)} sent, ${n(s.messages.delivered)} delivered, ${n(s.messages.lost)} lost, ${n(s.messages.blocked)} blocked`],
    ['leaders', d.leaders.length === 0 ? 'none recorded' : `${d.leaders.length} (last: ${esc(d.leaders[d.leaders.length - 1]?.node ?? '')} in term ${d.leaders[d.leaders.length - 1]?.term})`],
  ];
  if (s.nodeExits.length > 0) rows.push(['node exits', esc(s.nodeExits.slice(0, 3).map((e) => `${e.node} at ${(e.atMs / 1000).toFixed(3)} s: ${e.reason}`).join('; '))]);
  if (d.truncated) rows.push(['note', 'the run recorded more faults or role changes than the report keeps; the first ones are drawn']);
  return `<table class="facts">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function checkCard(c: CheckView): string {
  const state = c.expected ? (c.verdict === 'fail' ? 'expected' : 'fail') : c.verdict === 'fail' ? 'fail' : c.verdict;
  const label = c.verdict.toUpperCase() + (c.expected ? (c.verdict === 'fail' ? ' (as expected)' : ' (expected FAIL: not caught)') : '');
  const names = c.ops.length > 0 || c.nodes.length > 0 || c.atUs !== null;
  const what = [c.ops.length > 0 ? `${c.ops.length} operation(s): ${c.ops.slice(0, 12).map((i) => `#${i}`).join(', ')}${c.ops.length > 12 ? ', …' : ''}` : '',
    c.nodes.length > 0 ? `nodes ${c.nodes.join(', ')}` : '', c.atUs !== null ? `at ${(c.atUs / 1000).toFixed(3)} ms` : ''].filter((x) => x !== '').join('; ');
  return `<div class="check ${state}" data-check="${esc(c.name)}">
<h3><span class="name">${esc(c.name)}</span> <span class="verdict">${esc(label)}</span></h3>
<pre>${esc(c.summary)}</pre>
${c.verdict === 'fail' && names ? `<p>Names ${esc(what)}. <button class="show" type="button">show on the timeline</button></p>` : ''}
</div>`;
}

function legend(): string {
  const sw = (cls: string, text: string) => `<span class="sw ${cls}"></span>${text}`;
  return `<p class="note legend">${sw('ok', 'ok')} ${sw('fail', 'failed')} ${sw('info', 'outcome unknown')} ${sw('hl', 'named by the check you picked')} · nodes: ${sw('leader', 'leader (with its term)')} ${sw('candidate', 'candidate')} ${sw('down', 'down')} ${sw('paused', 'paused')} · faults: ${sw('partition', 'partition')} ${sw('crash', 'crash')} ${sw('pausef', 'pause')} ${sw('disk', 'disk')} ${sw('clock', 'clock')} ${sw('network', 'network')} ${sw('membership', 'membership')}</p>`;
}

/** Tables keep a bound: the page must open fast whatever the run did. */
const TABLE_ROWS_MAX = 500;

function faultTable(d: ReportData): string {
  if (d.bands.length === 0) return '<h2>Faults</h2><p class="note">No fault was applied.</p>';
  const t = (us: number) => `${(us / 1000).toFixed(3)} ms`;
  const rows = d.bands.slice(0, TABLE_ROWS_MAX).map((b) => `<tr><td>${t(b.startUs)}</td><td>${b.instant ? '—' : t(b.endUs)}</td><td>${b.category}</td><td>${esc(b.label)}</td></tr>`).join('');
  const more = d.bands.length > TABLE_ROWS_MAX ? `<p class="note">… and ${d.bands.length - TABLE_ROWS_MAX} more.</p>` : '';
  return `<details id="faults"><summary><h2>Faults (${d.bands.length})</h2></summary><table class="list"><tr><th>from</th><th>to</th><th>kind</th><th>fault</th></tr>${rows}</table>${more}</details>`;
}

function leaderTable(d: ReportData): string {
  if (d.leaders.length === 0) return '';
  const rows = d.leaders.slice(0, TABLE_ROWS_MAX).map((l) => `<tr><td>${(l.atUs / 1000).toFixed(3)} ms</td><td>${l.term}</td><td>${esc(l.node)}</td></tr>`).join('');
  return `<details id="leaders"><summary><h2>Leaders (${d.leaders.length})</h2></summary><table class="list"><tr><th>from</th><th>term</th><th>leader</th></tr>${rows}</table></details>`;
}

/** The checker's own view of the history: its timeline per key and, on a violation, the close-up. */
function linSection(history: readonly HistoryEvent[], lin: LinearizabilityResult | null): string {
  if (lin === null) return '';
  const h = historyFromEvents(history, lin.source);
  if (h.ops.length !== lin.opCount) return '';
  return `<section id="lin"><h2>Linearizability, per key</h2>\n${renderHtmlSection({ history: h, result: lin }, 0)}</section>`;
}

/** The checker page's style and script, taken from the page it makes so that they are defined once. */
function checkerParts(): { style: string; script: string } {
  const page = renderHtmlPage([]);
  const style = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1];
  assert(style !== undefined && script !== undefined, 'the checker page has a style and a script');
  return { style, script };
}

const STYLE = `
body { max-width: 1400px; }
header h1 { font-size: 22px; margin: 0 0 4px; } .seed { color: #666; font-weight: normal; }
.badge { padding: 2px 10px; border-radius: 4px; color: #fff; font-size: 16px; vertical-align: middle; }
.badge.pass { background: #2e7d32; } .badge.fail { background: #c62828; }
.file { color: #555; margin: 2px 0; } .reproduce code { background: #fff3e0; padding: 2px 6px; }
table.facts th { text-align: left; padding-right: 12px; color: #555; font-weight: normal; }
table.list { border-collapse: collapse; font: 12px monospace; } table.list td, table.list th { border-bottom: 1px solid #eee; padding: 2px 8px; text-align: left; }
details summary h2 { display: inline; font-size: 17px; }
.check { border-left: 6px solid #2e7d32; background: #f6fbf6; margin: 8px 0; padding: 4px 12px; }
.check.fail { border-color: #c62828; background: #fdf1f1; } .check.expected { border-color: #ef6c00; background: #fff8ee; }
.check.unknown { border-color: #b26a00; background: #fffbe6; } .check.skipped { border-color: #9e9e9e; background: #f7f7f7; }
.check.selected { outline: 2px solid #d50000; }
#details { position: static; }
.check h3 { margin: 6px 0; font-size: 15px; } .check .verdict { font-weight: normal; color: #333; }
.check pre { white-space: pre-wrap; font-size: 12px; margin: 4px 0; max-height: 320px; overflow: auto; }
.canvas-box { width: 100%; overflow-x: auto; } canvas { border: 1px solid #ddd; }
.hover, .highlight { font: 12px monospace; min-height: 16px; } .highlight { color: #b71c1c; font-weight: bold; }
.controls button, .check button { font-size: 12px; }
.sw.hl { background: #d50000; } .sw.leader { background: #1565c0; } .sw.candidate { background: #fbc02d; }
.sw.down { background: #424242; } .sw.paused { background: #9575cd; }
.sw.partition { background: rgba(255,152,0,0.6); } .sw.crash { background: rgba(66,66,66,0.5); } .sw.pausef { background: rgba(126,87,194,0.5); }
.sw.disk { background: rgba(121,85,72,0.5); } .sw.clock { background: rgba(33,150,243,0.5); } .sw.network { background: rgba(0,150,136,0.5); }
.sw.membership { background: rgba(233,30,99,0.5); }
`;
