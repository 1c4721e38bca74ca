import { assert } from '../util/assert.js';
import type { Explanation } from './explain.js';
import { showValue } from './json.js';
import type { KeyResult, LinearizabilityResult } from './linearizability.js';
import { MODELS } from './linearizability.js';
import { describeOp, type History, type Operation } from './operation.js';
import { renderExplanation } from './render-text.js';

/**
 * One self-contained HTML page (inline CSS, SVG, a canvas and a few lines of script; nothing
 * fetched) per check, with a section per history:
 * - a banner with the verdict; for a violation, the failing keys listed large at the top, linked
 *   to their details;
 * - the timeline of the whole history, for every verdict: a lane per process, lanes grouped per
 *   key, each operation a bar from invoke to completion on the time axis (the recorders' `time`
 *   when every event has one, else event order), coloured by outcome (ok, fail, info); the
 *   operations an explanation names drawn thick, red and labelled. Up to SVG_OPS_MAX operations
 *   as SVG (hover or focus a bar for its details); up to CANVAS_OPS_MAX on a canvas drawn from
 *   packed numbers; past that, per key, how many operations of each outcome fall in each slice
 *   of time;
 * - per failing key, the explanation and a close-up: its neighbourhood, the failing operations
 *   large and labelled, the longest partial linearization numbered, a line where the history
 *   stops being linearizable.
 * A pure function of the histories and results: the simulator's run report can embed a section.
 */
export interface HtmlReport {
  readonly history: History;
  readonly result: LinearizabilityResult;
}

/** Operations drawn per failing key's close-up at most, and failing keys drawn per file. */
export const HTML_OPS_MAX = 400;
export const HTML_KEYS_MAX = 5;
/** The whole-history timeline: SVG bars up to this many operations, a canvas up to the next, else aggregates. */
export const SVG_OPS_MAX = 2_000;
export const CANVAS_OPS_MAX = 100_000;
/** Aggregated timelines: keys shown (the busiest) and time slices per key. */
const AGGREGATE_KEYS_MAX = 40;
const AGGREGATE_SLICES = 120;

const WIDTH_PX = 1100;
const LANE_PX = 22;
const OVERVIEW_LANE_PX = 14;
const CANVAS_LANE_PX = 4;
const KEY_HEADER_PX = 18;
const MARGIN_LEFT_PX = 90;
const AXIS_PX = 24;

export function renderHtml(reports: readonly HtmlReport[]): string {
  return renderHtmlPage(reports.map((r, i) => renderHtmlSection(r, i)));
}

/** The page around sections made by renderHtmlSection (worker threads render theirs apart). */
export function renderHtmlPage(sections: readonly string[]): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>kv-lab check</title>
<style>${STYLE}</style>
</head>
<body>
<h1>kv-lab check</h1>
${sections.join('\n')}
<div id="details" class="details" role="status">Hover or focus an operation for its details.</div>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** One history's section; `index` (its place on the page) makes its anchors unique. */
export function renderHtmlSection(report: HtmlReport, index: number): string {
  const { result, history } = report;
  assert(result.opCount === history.ops.length, 'the result is of this history');
  // Anchors from the position, not the source: the source is user text.
  const id = `h${index}`;
  const verdict = result.verdict === 'ok' ? 'linearizable' : result.verdict === 'violation' ? 'NOT linearizable' : 'unknown';
  const failing = result.keys.filter((k) => k.verdict === 'violation');
  const banner = failing.length === 0 ? '' : `<div class="banner violation"><strong>NOT linearizable:</strong> ${failing.slice(0, HTML_KEYS_MAX)
    .map((k, i) => `<a href="#${id}-k${i}">key ${esc(JSON.stringify(k.key))}${k.explanation === undefined ? '' : ` (${k.explanation.ops.length === 1 ? 'an operation no order allows' : `${k.explanation.ops.length} operations cannot be ordered`})`}</a>`)
    .join(', ')}${failing.length > HTML_KEYS_MAX ? ` and ${failing.length - HTML_KEYS_MAX} more keys` : ''}</div>`;
  const head = `<section class="file"><h2>${esc(result.source)}: <span class="verdict ${result.verdict}">${verdict}</span></h2>
${banner}
<p>${result.opCount} operations on ${result.keyCount} ${result.keyCount === 1 ? 'key' : 'keys'}, model: ${esc(MODELS[result.model].describe)}.</p>`;
  const named = new Set(failing.flatMap((k) => k.explanation?.ops.map((op) => op.id) ?? []));
  const keys = result.keys.slice(0, HTML_KEYS_MAX).map((k, i) => renderKey(report, k, `${id}-k${i}`)).join('\n');
  const more = result.keys.length > HTML_KEYS_MAX ? `<p>… and ${result.keys.length - HTML_KEYS_MAX} more keys.</p>` : '';
  return `${head}\n<h3>Timeline</h3>\n${overview(history, named, id)}\n${keys}\n${more}</section>`;
}

function renderKey(report: HtmlReport, key: KeyResult, anchor: string): string {
  const title = `<h3 id="${anchor}">key ${esc(JSON.stringify(key.key))}: ${key.verdict === 'violation' ? 'NOT linearizable' : key.verdict}</h3>`;
  if (key.explanation === undefined) {
    const why = key.verdict === 'unknown' ? (key.unknownReason === 'skipped' ? 'not decided: another key already decided the verdict'
      : `the ${key.unknownReason ?? 'step'} budget ran out`) : `not explained (${key.unexplained ?? 'too many failing keys'})`;
    return `<div class="key">${title}<p>${esc(why)}</p></div>`;
  }
  const e = key.explanation;
  const text = renderExplanation(e, MODELS[report.result.model].describe);
  return `<div class="key">${title}
<pre class="explanation">${esc(text)}</pre>
${closeUp(report.history, e, key.longestOrder ?? [])}
</div>`;
}

/** Where an op starts and ends on the time axis: recorded times when every event has one, else event positions. */
function axisOf(history: History): (op: Operation, end: boolean) => number {
  return (op, end) => {
    if (history.timed) return (end ? op.returnTimeNs : op.callTimeNs) ?? (op.callTimeNs as number);
    return end ? (op.returnEvent < 0 ? history.eventCount : op.returnEvent) : op.callEvent;
  };
}

/** Lanes per process, grouped per key (keys in order of first appearance). */
interface Layout {
  readonly groups: { readonly key: string; readonly top: number; readonly lanes: Map<number, number> }[];
  readonly height: number;
}

function layout(ops: readonly Operation[], lanePx: number): Layout {
  const byKey = new Map<string, Set<number>>();
  for (const op of ops) {
    let processes = byKey.get(op.key);
    if (processes === undefined) byKey.set(op.key, (processes = new Set()));
    processes.add(op.process);
  }
  const groups: Layout['groups'] = [];
  let y = AXIS_PX;
  for (const [key, processes] of byKey) {
    const lanes = new Map([...processes].sort((a, b) => a - b).map((p, i) => [p, y + KEY_HEADER_PX + i * lanePx] as const));
    groups.push({ key, top: y, lanes });
    y += KEY_HEADER_PX + processes.size * lanePx;
  }
  return { groups, height: y + 6 };
}

/** Past this height a drawing of lanes is no longer a picture one can read (nor, for a canvas, draw). */
const LANES_HEIGHT_PX_MAX = 16_000;

/** The whole history's timeline, drawn as SVG, on a canvas, or aggregated, by size. */
function overview(history: History, named: ReadonlySet<number>, id: string): string {
  const n = history.ops.length;
  if (n === 0) return '<p class="note">No operations.</p>';
  if (n <= SVG_OPS_MAX && layout(history.ops, OVERVIEW_LANE_PX).height <= LANES_HEIGHT_PX_MAX) return overviewSvg(history, named);
  if (n <= CANVAS_OPS_MAX && layout(history.ops, CANVAS_LANE_PX).height <= LANES_HEIGHT_PX_MAX) return overviewCanvas(history, named, id);
  return overviewAggregate(history, named);
}

function timeScale(history: History, ops: readonly Operation[]): { x: (t: number) => number; t0: number; t1: number } {
  const at = axisOf(history);
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = Number.NEGATIVE_INFINITY;
  for (const op of ops) {
    t0 = Math.min(t0, at(op, false));
    t1 = Math.max(t1, at(op, true));
  }
  if (!(t1 > t0)) t1 = t0 + 1;
  return { t0, t1, x: (t) => MARGIN_LEFT_PX + ((t - t0) / (t1 - t0)) * (WIDTH_PX - MARGIN_LEFT_PX - 10) };
}

function axisLabels(history: History, t0: number, t1: number): string {
  return `<text class="axis" x="${MARGIN_LEFT_PX}" y="14">${history.timed ? `t = ${t0} ns` : `event ${t0}`}</text>` +
    `<text class="axis end" x="${WIDTH_PX - 4}" y="14">${history.timed ? `${t1} ns` : `event ${t1}`}</text>`;
}

const LEGEND = '<p class="note legend"><span class="sw ok"></span> ok <span class="sw fail"></span> failed ' +
  '<span class="sw info"></span> outcome unknown <span class="sw named"></span> cannot be ordered (named by the explanation)</p>';

function overviewSvg(history: History, named: ReadonlySet<number>): string {
  const { groups, height } = layout(history.ops, OVERVIEW_LANE_PX);
  const { x, t0, t1 } = timeScale(history, history.ops);
  const at = axisOf(history);
  const parts: string[] = [axisLabels(history, t0, t1)];
  for (const g of groups) {
    parts.push(`<text class="keyname" x="4" y="${g.top + 13}">key ${esc(truncate(JSON.stringify(g.key), 60))}</text>` +
      `<line class="key" x1="0" y1="${g.top}" x2="${WIDTH_PX}" y2="${g.top}" />`);
    for (const [p, y] of g.lanes) parts.push(`<text class="lane" x="14" y="${y + 11}">p${p}</text>`);
  }
  const laneOf = new Map(groups.map((g) => [g.key, g.lanes] as const));
  for (const op of history.ops) {
    const y = laneOf.get(op.key)?.get(op.process) as number;
    const kind = named.has(op.id) ? 'named' : op.status;
    parts.push(bar(op, x(at(op, false)), x(at(op, true)), y, OVERVIEW_LANE_PX, kind, undefined, named.has(op.id)));
  }
  return `${LEGEND}\n<svg class="overview" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}">${parts.join('')}</svg>`;
}

/**
 * Past SVG_OPS_MAX bars an SVG page gets slow, so the timeline is a canvas drawn by the page's
 * script from packed numbers: per op, its lane's y, its x from and to, and its kind.
 */
function overviewCanvas(history: History, named: ReadonlySet<number>, id: string): string {
  const { groups, height } = layout(history.ops, CANVAS_LANE_PX);
  const { x, t0, t1 } = timeScale(history, history.ops);
  const at = axisOf(history);
  const laneOf = new Map(groups.map((g) => [g.key, g.lanes] as const));
  const kinds: Record<string, number> = { ok: 0, fail: 1, info: 2, named: 3 };
  const packed: number[] = [];
  for (const op of history.ops) {
    packed.push(laneOf.get(op.key)?.get(op.process) as number, Math.round(x(at(op, false))), Math.round(x(at(op, true))),
      kinds[named.has(op.id) ? 'named' : op.status] as number);
  }
  const keys = groups.map((g) => [g.top, truncate(g.key, 40)]);
  const data = JSON.stringify({ width: WIDTH_PX, height, ops: packed, keys, t0, t1, timed: history.timed });
  return `${LEGEND}\n<p class="note">${history.ops.length} operations: drawn on a canvas, a 4-pixel lane per process, grouped per key.</p>
<canvas class="overview" id="${id}-canvas" width="${WIDTH_PX}" height="${height}"></canvas>
<script type="application/json" class="timeline-data" data-canvas="${id}-canvas">${data.replace(/</g, '\\u003c')}</script>`;
}

/** Past CANVAS_OPS_MAX: per key (the busiest first), counts of each outcome per slice of time. */
function overviewAggregate(history: History, named: ReadonlySet<number>): string {
  const { t0, t1 } = timeScale(history, history.ops);
  const at = axisOf(history);
  const counts = new Map<string, Int32Array>();
  for (const op of history.ops) {
    let c = counts.get(op.key);
    if (c === undefined) counts.set(op.key, (c = new Int32Array(AGGREGATE_SLICES * 4)));
    const slice = Math.min(AGGREGATE_SLICES - 1, Math.floor(((at(op, false) - t0) / (t1 - t0)) * AGGREGATE_SLICES));
    const kind = named.has(op.id) ? 3 : op.status === 'ok' ? 0 : op.status === 'fail' ? 1 : 2;
    c[slice * 4 + kind]! += 1;
  }
  const total = (c: Int32Array): number => c.reduce((s, v) => s + v, 0);
  const keys = [...counts.entries()].sort((a, b) => total(b[1]) - total(a[1])).slice(0, AGGREGATE_KEYS_MAX);
  const rowPx = 24;
  const sliceWidth = (WIDTH_PX - MARGIN_LEFT_PX - 10) / AGGREGATE_SLICES;
  const parts: string[] = [axisLabels(history, t0, t1)];
  keys.forEach(([key, c], row) => {
    const y = AXIS_PX + row * rowPx;
    let peak = 1;
    for (let s = 0; s < AGGREGATE_SLICES; s++) peak = Math.max(peak, c[s * 4]! + c[s * 4 + 1]! + c[s * 4 + 2]! + c[s * 4 + 3]!);
    parts.push(`<text class="keyname" x="4" y="${y + 15}">${esc(truncate(JSON.stringify(key), 12))}</text>`);
    for (let s = 0; s < AGGREGATE_SLICES; s++) {
      let base = y + rowPx - 2;
      for (const [kind, name] of [[0, 'ok'], [1, 'fail'], [2, 'info'], [3, 'named']] as const) {
        const h = ((c[s * 4 + kind] as number) / peak) * (rowPx - 4);
        if (h <= 0) continue;
        base -= h;
        parts.push(`<rect class="agg ${name}" x="${fmt(MARGIN_LEFT_PX + s * sliceWidth)}" y="${fmt(base)}" width="${fmt(Math.max(1, sliceWidth - 0.5))}" height="${fmt(Math.max(h, kind === 3 ? 4 : 0))}" />`);
      }
    }
  });
  const height = AXIS_PX + keys.length * rowPx + 6;
  return `${LEGEND}\n<p class="note">${history.ops.length} operations on ${counts.size} keys: too many to draw one by one. Per key (the ` +
    `${keys.length} busiest), how many operations of each outcome start in each 1/${AGGREGATE_SLICES} of the run; the failing keys' close-ups are below.</p>
<svg class="overview" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}">${parts.join('')}</svg>`;
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

function closeUp(history: History, e: Explanation, longestOrder: readonly number[]): string {
  const ops = neighbourhood(history, e);
  const at = axisOf(history);
  const failing = ops.find((op) => op.returnEvent === e.failingEvent);
  const { x } = timeScale(history, ops);
  const processes = [...new Set(ops.map((op) => op.process))].sort((a, b) => a - b);
  const lane = new Map(processes.map((p, i) => [p, AXIS_PX + i * LANE_PX] as const));
  const height = AXIS_PX + processes.length * LANE_PX + 10;
  const violating = new Set(e.ops.map((op) => op.id));
  const context = new Set(e.context.map((op) => op.id));
  const orderOf = new Map(longestOrder.map((id, i) => [id, i + 1]));
  const parts: string[] = [];
  const cut = failing === undefined ? undefined : at(failing, true);
  if (cut !== undefined) {
    parts.push(`<rect class="prefix" x="${MARGIN_LEFT_PX}" y="${AXIS_PX}" width="${fmt(Math.max(0, x(cut) - MARGIN_LEFT_PX))}" height="${height - AXIS_PX}" />`);
    parts.push(`<line class="cut" x1="${fmt(x(cut))}" y1="4" x2="${fmt(x(cut))}" y2="${height}" />`);
    const label = e.prefixShortest ? `linearizable up to here (line ${e.failingLine - 1})` : `not linearizable by here (line ${e.failingLine})`;
    parts.push(`<text class="axis" x="${fmt(x(cut) + 4)}" y="14">${label}</text>`);
  }
  for (const p of processes) {
    const y = lane.get(p) as number;
    parts.push(`<text class="lane" x="4" y="${y + 15}">p${p}</text><line class="lane" x1="${MARGIN_LEFT_PX}" y1="${y + LANE_PX}" x2="${WIDTH_PX}" y2="${y + LANE_PX}" />`);
  }
  for (const op of ops) {
    const kind = violating.has(op.id) ? 'violating' : context.has(op.id) ? 'context' : orderOf.has(op.id) ? 'linearized' : 'other';
    parts.push(bar(op, x(at(op, false)), x(at(op, true)), lane.get(op.process) as number, LANE_PX, kind, orderOf.get(op.id), violating.has(op.id)));
  }
  const note = `<p class="note">${ops.length} operations of this key around the violation` +
    `${ops.length >= HTML_OPS_MAX ? ` (the nearest ${HTML_OPS_MAX})` : ''}. Red, thick and labelled: cannot be ordered; orange: unknown outcome, considered; ` +
    `green: the longest order the search found, numbered; dashed: unknown outcome.</p>`;
  return `${note}\n<svg width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}">${parts.join('')}</svg>`;
}

function bar(op: Operation, x0: number, x1: number, y: number, lanePx: number, kind: string, order: number | undefined, labelled: boolean): string {
  const label = describeOp(op, (v) => showValue(v, 24));
  const lines = op.returnLine > 0 ? `lines ${op.callLine}–${op.returnLine}` : `line ${op.callLine}, never completed`;
  const time = op.callTimeNs === undefined ? '' : `, t ${op.callTimeNs}–${op.returnTimeNs ?? '?'} ns`;
  const details = `op ${op.id} on key ${JSON.stringify(op.key)}: ${describeOp(op, (v) => showValue(v, 200))} (${lines}${time})` +
    `${order === undefined ? '' : `, #${order} in the longest order`}`;
  const open = op.status === 'info' ? ' open' : '';
  const width = Math.max(labelled ? 8 : 3, x1 - x0);
  // A named op always carries its label, even when its bar is short: it is what the page is about.
  const text = labelled || width > 40
    ? `<text class="op" x="${fmt(x0 + 3)}" y="${y + lanePx - 5}">${esc(order === undefined ? label : `${order}. ${label}`)}</text>` : '';
  return `<g class="op ${kind}${open}" tabindex="0" data-details="${esc(details)}"><title>${esc(details)}</title>` +
    `<rect x="${fmt(x0)}" y="${y + 2}" width="${fmt(width)}" height="${lanePx - 4}" rx="2" />${text}</g>`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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
.banner.violation { background: #c62828; color: #fff; padding: 10px 14px; font-size: 18px; border-radius: 4px; }
.banner a { color: #fff; }
pre.explanation { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
svg, canvas { border: 1px solid #ddd; background: #fff; display: block; }
text.lane, text.axis, text.keyname { font: 11px monospace; fill: #555; } text.axis.end { text-anchor: end; }
text.keyname { font-weight: bold; fill: #222; } line.key { stroke: #bbb; }
line.lane { stroke: #eee; } line.cut { stroke: #c62828; stroke-dasharray: 4 3; } rect.prefix { fill: #e8f5e9; opacity: 0.5; }
g.op rect { stroke-width: 1; } g.op text { font: 11px monospace; fill: #111; pointer-events: none; }
g.op.ok rect, rect.agg.ok { fill: #a5d6a7; stroke: #388e3c; }
g.op.fail rect, rect.agg.fail { fill: #bdbdbd; stroke: #616161; }
g.op.info rect, rect.agg.info { fill: #ffe0b2; stroke: #ef6c00; }
g.op.named rect, rect.agg.named { fill: #ef5350; stroke: #b71c1c; stroke-width: 3; }
g.op.named text { font-weight: bold; fill: #b71c1c; }
g.op.other rect { fill: #e0e0e0; stroke: #9e9e9e; }
g.op.linearized rect { fill: #c8e6c9; stroke: #388e3c; }
g.op.violating rect { fill: #ef5350; stroke: #b71c1c; stroke-width: 3; }
g.op.violating text { font-weight: bold; }
g.op.context rect { fill: #ffe0b2; stroke: #ef6c00; }
g.op.open rect { stroke-dasharray: 4 2; }
g.op:hover rect, g.op:focus rect { stroke: #000; stroke-width: 2; }
.legend .sw { display: inline-block; width: 14px; height: 10px; border: 1px solid #888; margin-left: 8px; }
.sw.ok { background: #a5d6a7; } .sw.fail { background: #bdbdbd; } .sw.info { background: #ffe0b2; } .sw.named { background: #ef5350; }
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
  var colours = ['#66bb6a', '#9e9e9e', '#ffa726', '#c62828'];
  document.querySelectorAll('script.timeline-data').forEach(function (node) {
    var data = JSON.parse(node.textContent);
    var canvas = document.getElementById(node.getAttribute('data-canvas'));
    var ctx = canvas.getContext('2d');
    ctx.font = '11px monospace';
    ctx.fillStyle = '#222';
    data.keys.forEach(function (k) { ctx.fillText('key ' + k[1], 4, k[0] + 12); });
    var ops = data.ops;
    for (var i = 0; i < ops.length; i += 4) {
      ctx.fillStyle = colours[ops[i + 3]];
      var w = Math.max(ops[i + 3] === 3 ? 4 : 1, ops[i + 2] - ops[i + 1]);
      ctx.fillRect(ops[i + 1], ops[i], w, ops[i + 3] === 3 ? 8 : 3);
    }
  });
})();
`;
