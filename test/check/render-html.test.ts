/**
 * The HTML page, checked structurally (no browser here): self-contained, well nested, a lane per
 * process, one bar per operation of the neighbourhood, the violating ones marked, values escaped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/env/rng.js';
import { checkHistory, historyFromEvents } from '../../src/check/index.js';
import { HTML_OPS_MAX, renderHtml } from '../../src/check/render-html.js';
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
  assert.not.match(html, /\b(src|href)=/);
  assertWellNested(html);
});

test('a lane per process, a bar per operation, the violating ones marked', () => {
  const { html, result } = page(stale);
  const e = result.keys[0]?.explanation;
  assert.ok(e !== undefined);
  for (const p of [1, 2, 3, 4]) assert.match(html, new RegExp(`>p${p}</text>`));
  assert.is(html.match(/<g class="op /g)?.length, 4);
  assert.is(html.match(/<g class="op violating/g)?.length, e.ops.length);
  assert.match(html, /linearizable up to here \(line 7\)/);
  assert.match(html, /data-details="op 3: p4 read → 1 \(lines 7–8\)/);
});

test('values are escaped', () => {
  const { html } = page(script('p1 invoke write "<script>alert(1)</script>"\np1 ok write\np2 invoke read\np2 ok read "&"'));
  assert.not.match(html, /<script>alert/);
  assert.match(html, /&lt;script&gt;/);
});

test('a large history shows only the failing key’s neighbourhood', () => {
  const events = syntheticHistory({ ops: 20_000, keys: 2, processes: 30, infoFraction: 0.1,
    mix: { read: 50, write: 30, cas: 20 }, corrupt: true }, new SeededRng('html'));
  const { html, result } = page(events);
  assert.is(result.verdict, 'violation');
  const bars = html.match(/<g class="op /g)?.length ?? 0;
  assert.ok(bars > 10 && bars <= HTML_OPS_MAX, `${bars} bars`);
  assert.ok(html.length < 600_000, `${html.length} bytes`);
  assertWellNested(html);
});

test.run();
