/**
 * The HTML page, checked structurally (no browser here): self-contained, well nested, the whole
 * history's timeline for every verdict (lanes per process grouped per key, bars coloured by
 * outcome; a canvas, then aggregates, for large histories), the failing operations marked large
 * and labelled, a close-up of each failing key, values escaped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import { checkHistory, historyFromEvents } from '../../src/check/index.js';
import { CANVAS_OPS_MAX, HTML_OPS_MAX, renderHtml, renderHtmlPage, renderHtmlSection, SVG_OPS_MAX } from '../../src/check/render-html.js';
import { syntheticHistory } from './synthetic.js';
import { script } from './script.js';

function page(events: ReturnType<typeof script>): { html: string; result: ReturnType<typeof checkHistory> } {
  const history = historyFromEvents(events, 'h.jsonl');
  const result = checkHistory(history, { model: 'kv' });
  return { html: renderHtml([{ history, result }]), result };
}

/** Every opened element is closed in order (void elements aside); throws on the first mismatch. */
function assertWellNested(html: string): void {
  const voids = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
  const stack: string[] = [];
  const body = html.replace(/<script>[\s\S]*?<\/script>/g, '').replace(/<style>[\s\S]*?<\/style>/g, '');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m as unknown as [string, string, string, string];
    if (selfClosing === '/' || voids.has(name.toLowerCase())) continue;
    if (closing === '') stack.push(name);
    else assert.is(stack.pop(), name, `</${name}> closes the wrong element`);
  }
  assert.equal(stack, []);
}

const stale = script(`
  p1 invoke write 1
  p1 ok write
  p2 invoke write 2
  p3 invoke read
  p2 ok write
  p3 ok read 1
  p4 invoke read
  p4 ok read 1`);

test('the page is self-contained and well nested', () => {
  const { html } = page(stale);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.not.match(html, /https?:\/\//);
  assert.not.match(html, /<(link|img|iframe)\b/);
  assert.not.match(html, /\b(src|href)="(?!#)/, 'links only within the page');
  assertWellNested(html);
});

test('a violation: the timeline and a close-up, the failing operations named, large and labelled in both', () => {
  const { html, result } = page(stale);
  const e = result.keys[0]?.explanation;
  assert.ok(e !== undefined);
  for (const p of [1, 2, 3, 4]) assert.match(html, new RegExp(`>p${p}</text>`));
  assert.is(html.match(/<g class="op /g)?.length, 8, 'four bars in the timeline, four in the close-up');
  assert.is(html.match(/<g class="op violating/g)?.length, e.ops.length);
  assert.is(html.match(/<g class="op named/g)?.length, e.ops.length);
  assert.is(html.match(/<g class="op (named|violating)[^>]*>(?:(?!<\/g>).)*<text class="op"/g)?.length, 2 * e.ops.length, 'each failing op is labelled');
  assert.match(html, /class="banner violation"><strong>NOT linearizable:<\/strong> <a href="#h0-k0">key &quot;x&quot; \(3 operations cannot be ordered\)/);
  assert.match(html, /id="h0-k0"/);
  assert.match(html, /linearizable up to here \(line 7\)/);
  assert.match(html, /data-details="op 3 on key &quot;x&quot;: p4 read → 1 \(lines 7–8\)/);
});

test('a linearizable history draws its whole timeline: lanes per process grouped per key, bars by outcome', () => {
  const { html, result } = page(script(`
    p1 invoke write 1 @a
    p2 invoke write 2 @b
    p1 ok write @a
    p2 info write @b
    p3 invoke cas [1, 3] @a
    p3 fail cas @a
    p4 invoke read @a
    p4 ok read 1 @a`));
  assert.is(result.verdict, 'ok');
  assert.is(html.match(/<g class="op /g)?.length, 4, 'one bar per operation');
  assert.match(html, /<g class="op ok"/);
  assert.match(html, /<g class="op fail"/);
  assert.match(html, /<g class="op info open"/);
  assert.match(html, /<text class="keyname"[^>]*>key &quot;a&quot;<\/text>/);
  assert.match(html, /<text class="keyname"[^>]*>key &quot;b&quot;<\/text>/);
  assert.is(html.match(/>p[1-4]<\/text>/g)?.length, 4, 'a lane per process and key: p1, p3, p4 under a, p2 under b');
  assert.not.match(html, /class="banner/);
  assertWellNested(html);
});

test('sections are pure: the same report renders the same, and a page joins sections', () => {
  const history = historyFromEvents(stale, 'h.jsonl');
  const result = checkHistory(history, { model: 'kv' });
  assert.is(renderHtmlSection({ history, result }, 3), renderHtmlSection({ history, result }, 3));
  assert.is(renderHtml([{ history, result }]), renderHtmlPage([renderHtmlSection({ history, result }, 0)]));
});

test('values are escaped', () => {
  const { html } = page(script('p1 invoke write "<script>alert(1)</script>"\np1 ok write\np2 invoke read\np2 ok read "&"'));
  assert.not.match(html, /<script>alert/);
  assert.match(html, /&lt;script&gt;/);
});

test('a large history: a canvas timeline from packed numbers, and a close-up of only the failing key\'s neighbourhood', () => {
  const events = syntheticHistory({ ops: 20_000, keys: 2, processes: 30, infoFraction: 0.1,
    mix: { read: 50, write: 30, cas: 20 }, corrupt: true }, new SeededRng('html'));
  const { html, result } = page(events);
  assert.is(result.verdict, 'violation');
  assert.ok(20_000 > SVG_OPS_MAX && 20_000 <= CANVAS_OPS_MAX);
  assert.match(html, /<canvas class="overview" id="h0-canvas"/);
  const data = /<script type="application\/json" class="timeline-data" data-canvas="h0-canvas">(.*?)<\/script>/.exec(html);
  assert.ok(data !== null);
  const parsed = JSON.parse(data[1] as string) as { ops: number[]; keys: unknown[] };
  assert.is(parsed.ops.length, 4 * 20_000, 'four numbers per operation');
  assert.is(parsed.keys.length, 2);
  const bars = html.match(/<g class="op /g)?.length ?? 0;
  assert.ok(bars > 10 && bars <= HTML_OPS_MAX, `${bars} bars in the close-up`);
  assert.ok(html.length < 1_000_000, `${html.length} bytes`);
  assertWellNested(html);
});

test('past the canvas\'s limit, per-key aggregates', () => {
  const events = syntheticHistory({ ops: CANVAS_OPS_MAX + 1, keys: 50, processes: 5, infoFraction: 0,
    mix: { read: 50, write: 50 }, corrupt: false }, new SeededRng('html/big'));
  const { html, result } = page(events);
  assert.is(result.verdict, 'ok');
  assert.not.match(html, /<canvas/);
  assert.match(html, /too many to draw one by one/);
  assert.ok((html.match(/<rect class="agg ok"/g)?.length ?? 0) > 40 * 50);
  assert.ok(html.length < 3_000_000, `${html.length} bytes`);
  assertWellNested(html);
});

test.run();
