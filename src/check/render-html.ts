import type { Explanation } from './explain.js';
import { showValue } from './json.js';
import type { KeyResult, LinearizabilityResult } from './linearizability.js';
import { MODELS } from './linearizability.js';
import { describeOp, type History, type Operation } from './operation.js';
import { renderExplanation } from './render-text.js';

/**
 * One self-contained HTML page (inline CSS, SVG and a few lines of script; nothing fetched) that
 * shows each failing key: a lane per process, each operation a bar from invoke to completion on
 * the time axis (the recorders' `time` when every event has one, else event order), the violating
 * operations in red, operations of unknown outcome that matter in orange, the longest partial
 * linearization numbered in green, and a line where the history stops being linearizable. Hover
 * or focus a bar for its details. Large histories show only the failing operations' neighbourhood.
 */
export interface HtmlReport {
  readonly history: History;
  readonly result: LinearizabilityResult;
}

/** Operations drawn per failing key at most, and failing keys drawn per file. */
export const HTML_OPS_MAX = 400;
export const HTML_KEYS_MAX = 5;

const WIDTH_PX = 1100;
const LANE_PX = 22;
const MARGIN_LEFT_PX = 70;
const AXIS_PX = 24;

export function renderHtml(reports: readonly HtmlReport[]): string {
  const body = reports.map(renderReport).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>kv-lab check</title>
<style>${STYLE}</style>
</head>
<body>
<h1>kv-lab check</h1>
${body}
<div id="details" class="details" role="status">Hover or focus an operation for its details.</div>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function renderReport(report: HtmlReport): string {
  const { result } = report;
  const verdict = result.verdict === 'ok' ? 'linearizable' : result.verdict === 'violation' ? 'NOT linearizable' : 'unknown';
  const head = `<section class="file"><h2>${esc(result.source)}: <span class="verdict ${result.verdict}">${verdict}</span></h2>
<p>${result.opCount} operations on ${result.keyCount} keys, model: ${esc(MODELS[result.model].describe)}.</p>`;
  const keys = result.keys.slice(0, HTML_KEYS_MAX).map((k) => renderKey(report, k)).join('\n');
  const more = result.keys.length > HTML_KEYS_MAX ? `<p>… and ${result.keys.length - HTML_KEYS_MAX} more keys.</p>` : '';
  return `${head}\n${keys}\n${more}</section>`;
}

function renderKey(report: HtmlReport, key: KeyResult): string {
  const title = `<h3>key ${esc(JSON.stringify(key.key))}: ${key.verdict}</h3>`;
  if (key.explanation === undefined) {
    const why = key.verdict === 'unknown' ? `the ${key.unknownReason ?? 'step'} budget ran out` : 'not explained (too many failing keys)';
    return `<div class="key">${title}<p>${esc(why)}</p></div>`;
  }
  const e = key.explanation;
  const text = renderExplanation(e, MODELS[report.result.model].describe);
  return `<div class="key">${title}
<pre class="explanation">${esc(text)}</pre>
${timeline(report.history, e, key.longestOrder ?? [])}
</div>`;
}

/** The ops of the key near the explanation: its span, padded, at most HTML_OPS_MAX nearest. */
function neighbourhood(history: History, e: Explanation): Operation[] {
  const named = e.ops.concat(e.context);
  const first = Math.min(...named.map((op) => op.callEvent));
  const last = Math.max(e.failingEvent, ...named.map((op) => op.returnEvent));
  const pad = Math.max(20, Math.floor((last - first) / 5));
  const near = history.ops.filter((op) => op.key === e.key && op.callEvent <= last + pad &&
    (op.returnEvent < 0 ? op.callEvent >= first - pad : op.returnEvent >= first - pad));
  const must = new Set(named.map((op) => op.id));
  const distance = (op: Operation): number => (must.has(op.id) ? -1 : Math.abs(op.callEvent - e.failingEvent));
  return near.sort((a, b) => distance(a) - distance(b)).slice(0, Math.max(HTML_OPS_MAX, must.size)).sort((a, b) => a.id - b.id);
}

function timeline(history: History, e: Explanation, longestOrder: readonly number[]): string {
  const ops = neighbourhood(history, e);
  const at = (op: Operation, end: boolean): number | undefined =>
    history.timed ? (end ? op.returnTimeNs : op.callTimeNs) : end ? (op.returnEvent < 0 ? undefined : op.returnEvent) : op.callEvent;
  const failing = ops.find((op) => op.returnEvent === e.failingEvent);
  const starts = ops.map((op) => at(op, false) as number);
  const ends = ops.map((op) => at(op, true) ?? (at(op, false) as number));
  const t0 = Math.min(...starts);
  const t1 = Math.max(...ends, t0 + 1);
  const x = (t: number): number => MARGIN_LEFT_PX + ((t - t0) / (t1 - t0)) * (WIDTH_PX - MARGIN_LEFT_PX - 10);
  const processes = [...new Set(ops.map((op) => op.process))].sort((a, b) => a - b);
  const lane = new Map(processes.map((p, i) => [p, i]));
  const height = AXIS_PX + processes.length * LANE_PX + 10;
  const violating = new Set(e.ops.map((op) => op.id));
  const context = new Set(e.context.map((op) => op.id));
  const orderOf = new Map(longestOrder.map((id, i) => [id, i + 1]));
  const parts: string[] = [];
  const cut = failing === undefined ? undefined : at(failing, true);
  if (cut !== undefined) {
    parts.push(`<rect class="prefix" x="${MARGIN_LEFT_PX}" y="${AXIS_PX}" width="${fmt(x(cut) - MARGIN_LEFT_PX)}" height="${height - AXIS_PX}" />`);
    parts.push(`<line class="cut" x1="${fmt(x(cut))}" y1="4" x2="${fmt(x(cut))}" y2="${height}" />`);
    const label = e.prefixShortest ? `linearizable up to here (line ${e.failingLine - 1})` : `not linearizable by here (line ${e.failingLine})`;
    parts.push(`<text class="axis" x="${fmt(x(cut) + 4)}" y="14">${label}</text>`);
  }
  for (const p of processes) {
    const y = AXIS_PX + (lane.get(p) as number) * LANE_PX;
    parts.push(`<text class="lane" x="4" y="${y + 15}">p${p}</text><line class="lane" x1="${MARGIN_LEFT_PX}" y1="${y + LANE_PX}" x2="${WIDTH_PX}" y2="${y + LANE_PX}" />`);
  }
  ops.forEach((op, i) => parts.push(bar(op, x(starts[i] as number), x(ends[i] as number), AXIS_PX + (lane.get(op.process) as number) * LANE_PX,
    violating.has(op.id) ? 'violating' : context.has(op.id) ? 'context' : orderOf.has(op.id) ? 'linearized' : 'other', orderOf.get(op.id))));
  const axis = `<text class="axis" x="${MARGIN_LEFT_PX}" y="14">${history.timed ? `t = ${t0} ns` : `event ${t0}`}</text>` +
    `<text class="axis end" x="${WIDTH_PX - 4}" y="14">${history.timed ? `${t1} ns` : `event ${t1}`}</text>`;
  const note = `<p class="note">${ops.length} operations of this key around the violation` +
    `${ops.length >= HTML_OPS_MAX ? ` (the nearest ${HTML_OPS_MAX})` : ''}. Red: cannot be ordered; orange: unknown outcome, considered; ` +
    `green: the longest order the search found, numbered; dashed: unknown outcome.</p>`;
  return `${note}\n<svg width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}">${axis}${parts.join('')}</svg>`;
}

function bar(op: Operation, x0: number, x1: number, y: number, kind: string, order: number | undefined): string {
  const label = describeOp(op, (v) => showValue(v, 24));
  const lines = op.returnLine > 0 ? `lines ${op.callLine}–${op.returnLine}` : `line ${op.callLine}, never completed`;
  const time = op.callTimeNs === undefined ? '' : `, t ${op.callTimeNs}–${op.returnTimeNs ?? '?'} ns`;
  const details = `op ${op.id}: ${describeOp(op, (v) => showValue(v, 200))} (${lines}${time})${order === undefined ? '' : `, #${order} in the longest order`}`;
  const open = op.status === 'info' ? ' open' : '';
  const width = Math.max(3, x1 - x0);
  const text = width > 40 ? `<text class="op" x="${fmt(x0 + 3)}" y="${y + 15}">${esc(order === undefined ? label : `${order}. ${label}`)}</text>` : '';
  return `<g class="op ${kind}${open}" tabindex="0" data-details="${esc(details)}"><title>${esc(details)}</title>` +
    `<rect x="${fmt(x0)}" y="${y + 3}" width="${fmt(width)}" height="${LANE_PX - 6}" rx="3" />${text}</g>`;
}

function fmt(n: number): string {
  return n.toFixed(1);
}

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 17px; } h3 { font-size: 15px; margin-bottom: 4px; }
.verdict.ok { color: #17803d; } .verdict.violation { color: #c62828; } .verdict.unknown { color: #b26a00; }
pre.explanation { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
svg { border: 1px solid #ddd; background: #fff; }
text.lane, text.axis { font: 11px monospace; fill: #555; } text.axis.end { text-anchor: end; }
line.lane { stroke: #eee; } line.cut { stroke: #c62828; stroke-dasharray: 4 3; } rect.prefix { fill: #e8f5e9; opacity: 0.5; }
g.op rect { stroke-width: 1; } g.op text { font: 11px monospace; fill: #111; pointer-events: none; }
g.op.other rect { fill: #e0e0e0; stroke: #9e9e9e; }
g.op.linearized rect { fill: #c8e6c9; stroke: #388e3c; }
g.op.violating rect { fill: #ef9a9a; stroke: #c62828; stroke-width: 2; }
g.op.context rect { fill: #ffe0b2; stroke: #ef6c00; }
g.op.open rect { stroke-dasharray: 4 2; }
g.op:hover rect, g.op:focus rect { stroke: #000; stroke-width: 2; }
.details { position: sticky; bottom: 0; background: #fffde7; border-top: 1px solid #ccc; padding: 8px; font: 12px monospace; }
.note { font-size: 12px; color: #555; }
`;

const SCRIPT = `
(function () {
  var panel = document.getElementById('details');
  function show(event) {
    var g = event.target.closest ? event.target.closest('g.op') : null;
    if (g) panel.textContent = g.getAttribute('data-details');
  }
  document.addEventListener('mouseover', show);
  document.addEventListener('focusin', show);
})();
`;
