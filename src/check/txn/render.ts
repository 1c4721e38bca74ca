import type { CycleStep } from './explain.js';
import type { TxnAnomaly, TxnCheckResult } from './index.js';
import { FORBIDDEN } from './models.js';

/**
 * The isolation checker's results as text (what `kv-lab check --model txn` prints) and as a
 * section of a self-contained HTML page with each cycle drawn: transactions on a circle, each
 * edge an arrow labelled by its kind, and the reason for each edge listed under it, in the
 * colours of the linearizability pages (src/check/render-html.ts).
 */

/** Explanations printed per file at most, and per class; the rest are counted in the headline (--json has up to 8 per class). */
export const TEXT_ANOMALIES_MAX = 20;
export const TEXT_PER_CLASS_MAX = 2;
/** Characters of one anomaly's text at most: long cycles are cut, not dumped. */
export const ANOMALY_TEXT_CHARS_MAX = 4000;

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  G0: 'write cycle (dirty write): write-write edges only',
  G1a: 'aborted read: a committed transaction saw a write of one that aborted',
  G1b: 'intermediate read: a version its writer overwrote in the same transaction',
  G1c: 'circular information flow: write-write and write-read edges only',
  'G-single': 'read skew: a cycle with exactly one read-write (anti-dependency) edge',
  'G2-item': 'write skew: a cycle with two or more read-write edges',
  'G0-realtime': 'G0 through real-time order',
  'G1c-realtime': 'G1c through real-time order',
  'G-single-realtime': 'G-single through real-time order',
  'G2-item-realtime': 'G2-item through real-time order',
  internal: 'a transaction did not see its own write',
  'fuzzy-read': 'a transaction read a key twice and saw others\' writes appear between (non-repeatable read)',
  'incompatible-order': 'two reads of a list that no single order of appends explains',
  'garbage-read': 'a value nobody wrote',
  'duplicate-append': 'one append seen twice in a list',
  'lost-append': 'an acknowledged append missing from a later read',
  'lost-update': 'two transactions read one version and both wrote over it',
};

export function describeClass(cls: string): string {
  return DESCRIPTIONS[cls] ?? cls;
}

export function renderTxnVerdict(r: TxnCheckResult): string {
  const what = `${r.txnCount} transactions: ${r.okCount} ok, ${r.failCount} aborted, ${r.infoCount} unknown; ${r.keyCount} keys`;
  const head = r.verdict === 'ok' ? r.consistency
    : r.verdict === 'violation' ? `NOT ${r.consistency} (${r.forbiddenFound.join(', ')})`
      : `unknown for ${r.consistency} (the search budget ran out)`;
  return `${r.source}: ${head} (${what})`;
}

/** Counts by class: `G-single 2, G2-item 1 (allowed)`. */
export function renderCounts(r: TxnCheckResult): string {
  const allowed = FORBIDDEN[r.consistency];
  return Object.entries(r.counts).map(([cls, n]) => `${cls} ${n}${allowed.has(cls as never) ? '' : ' (allowed)'}`).join(', ');
}

/** A cycle as one line: `T1 ─ww→ T2 ─rw→ T1`. */
export function drawCycle(cycle: readonly CycleStep[]): string {
  if (cycle.length === 0) return '';
  return `T${(cycle[0] as CycleStep).from} ${cycle.map((s) => `─${s.kind}→ T${s.to}`).join(' ')}`;
}

export function renderAnomaly(a: TxnAnomaly): string {
  const lines = [`${a.class}${a.forbidden ? '' : ' (allowed by this model)'}: ${describeClass(a.class)}`];
  if (a.cycle !== undefined) {
    const more = (a.cycleLength ?? a.cycle.length) - a.cycle.length;
    lines.push(`  ${drawCycle(a.cycle)}${more > 0 ? ` … (${more} more edges back to T${a.cycle[0]?.from})` : ''}`);
    for (const s of a.cycle) lines.push(`  - ${s.why}`);
  } else {
    lines.push(`  ${a.text}`);
  }
  for (const t of a.transactions) lines.push(`    ${t}`);
  const text = lines.join('\n');
  return text.length <= ANOMALY_TEXT_CHARS_MAX ? text : `${text.slice(0, ANOMALY_TEXT_CHARS_MAX - 1)}…`;
}

export function renderTxnResult(r: TxnCheckResult, explain = true): string {
  const lines = [renderTxnVerdict(r)];
  const counts = renderCounts(r);
  if (counts !== '') lines.push(`  anomalies: ${counts}`);
  if (explain) {
    const shown = shownAnomalies(r);
    for (const a of shown) lines.push(indent(renderAnomaly(a)));
    if (r.anomalies.length > shown.length) lines.push(`  (${r.anomalies.length - shown.length} more explained anomalies not shown; --json has them all)`);
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

/** Every class gets its first explanations before any class gets more, in the report's order. */
function shownAnomalies(r: TxnCheckResult): TxnAnomaly[] {
  const perClass = new Map<string, number>();
  return r.anomalies.filter((a) => {
    const n = (perClass.get(a.class) ?? 0) + 1;
    perClass.set(a.class, n);
    return n <= TEXT_PER_CLASS_MAX;
  }).slice(0, TEXT_ANOMALIES_MAX);
}

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const CYCLE_NODES_DRAWN_MAX = 12;

/** A cycle drawn as SVG: its transactions on a circle, arrows labelled with each edge's kind. */
export function cycleSvg(cycle: readonly CycleStep[]): string {
  const steps = cycle.slice(0, CYCLE_NODES_DRAWN_MAX);
  const n = steps.length;
  const size = 160 + 40 * n;
  const c = size / 2;
  const radius = c - 40;
  const at = (i: number): [number, number] => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return [c + radius * Math.cos(angle), c + radius * Math.sin(angle)];
  };
  const parts: string[] = [];
  steps.forEach((s, i) => {
    const [x1, y1] = at(i);
    const [x2, y2] = at((i + 1) % n);
    const dx = x2 - x1;
    const dy = y2 - y1;
    const len = Math.hypot(dx, dy) || 1;
    // Each arrow bends away from the circle's centre (its left, going round), so that labels
    // stay outside and T1 → T2 and T2 → T1 do not lie on one line.
    const [nx, ny] = [dy / len, -dx / len];
    const bend = 28;
    const [cx, cy] = [(x1 + x2) / 2 + nx * bend, (y1 + y2) / 2 + ny * bend];
    const shrink = (fx: number, fy: number, tx: number, ty: number): [number, number] => {
      const d = Math.hypot(tx - fx, ty - fy) || 1;
      return [fx + ((tx - fx) / d) * 22, fy + ((ty - fy) / d) * 22];
    };
    const [sx, sy] = shrink(x1, y1, cx, cy);
    const [ex, ey] = shrink(x2, y2, cx, cy);
    const d = `M ${sx.toFixed(1)} ${sy.toFixed(1)} Q ${cx.toFixed(1)} ${cy.toFixed(1)} ${ex.toFixed(1)} ${ey.toFixed(1)}`;
    parts.push(`<path class="edge ${s.kind}" d="${d}" fill="none" marker-end="url(#arrow)"><title>${esc(s.why)}</title></path>`);
    const [lx, ly] = [(x1 + x2) / 2 + nx * (bend + 10), (y1 + y2) / 2 + ny * (bend + 10)];
    parts.push(`<text class="edge" x="${lx.toFixed(1)}" y="${(ly + 4).toFixed(1)}">${s.kind}${s.key === null ? '' : ` ${esc(s.key.slice(0, 12))}`}</text>`);
  });
  steps.forEach((s, i) => {
    const [x, y] = at(i);
    parts.push(`<circle class="txn" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="18" /><text class="txn" x="${x.toFixed(1)}" y="${(y + 4).toFixed(1)}">T${s.from}</text>`);
  });
  return `<svg width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" /></marker></defs>
${parts.join('\n')}
</svg>`;
}

export function renderTxnHtmlSection(r: TxnCheckResult): string {
  const items = shownAnomalies(r).map((a) => {
    const drawing = a.cycle === undefined ? '' : cycleSvg(a.cycle);
    return `<h3>${esc(a.class)}${a.forbidden ? '' : ' (allowed)'}: ${esc(describeClass(a.class))}</h3>
${drawing}
<pre class="explanation">${esc(renderAnomaly(a))}</pre>`;
  });
  return `<section>
<h2 class="verdict ${r.verdict}">${esc(renderTxnVerdict(r))}</h2>
<p>${esc(renderCounts(r))}</p>
${items.join('\n')}
</section>`;
}

export function renderTxnHtmlPage(sections: readonly string[]): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>kv-lab check --model txn</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h2 { font-size: 17px; } h3 { font-size: 15px; margin-bottom: 4px; }
.verdict.ok { color: #17803d; } .verdict.violation { color: #c62828; } .verdict.unknown { color: #b26a00; }
pre.explanation { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
svg { border: 1px solid #ddd; background: #fff; display: block; }
circle.txn { fill: #ffe0b2; stroke: #ef6c00; } text.txn { font: bold 12px monospace; text-anchor: middle; }
path.edge { stroke: #555; stroke-width: 1.5; } path.edge.rw { stroke: #c62828; stroke-dasharray: 5 3; }
path.edge.wr { stroke: #1565c0; } path.edge.rt, path.edge.process { stroke: #888; stroke-dasharray: 2 3; }
text.edge { font: 11px monospace; fill: #333; text-anchor: middle; }
</style>
</head>
<body>
<h1>kv-lab check --model txn</h1>
${sections.join('\n')}
</body>
</html>
`;
}
