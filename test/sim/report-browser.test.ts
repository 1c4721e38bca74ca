import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { chromiumMissing, withPage } from '../../scripts/chromium.js';
import { writeOutputs, type SwarmResult } from '../../sim/swarm/outputs.js';
import type { SwarmPlan } from '../../sim/swarm/plan.js';
import { runPool } from '../../sim/swarm/pool.js';

/**
 * report.html and a swarm's index.html in headless Chromium (Debian's, driven by playwright-core;
 * skipped with the reason when it is not installed): no console error, nothing fetched, the
 * timeline and the checks drawn, and a click on a failing check highlighting its operations.
 */
const B = suite('report.html in a browser');
const tmp = mkdtempSync(join(tmpdir(), 'kv-lab-browser-'));
const file = join(tmp, 'amnesia.yaml');
writeFileSync(file, `name: tiny-amnesia
description: an in-memory node crashes and comes back empty
duration: 1s
cluster: { nodes: 1, engine: memory }
workload: { clients: 2, keys: 2, mix: { read: 50, write: 50 } }
faults:
  - { at: 300ms, for: 100ms, kind: pause, node: n1 }
  - { at: 600ms, kind: crash, node: n1 }
`);

/** Opens a file and records every console error, page error and request that is not the file itself. */
async function open(page: Page, path: string): Promise<{ errors: string[]; fetched: string[] }> {
  const errors: string[] = [];
  const fetched: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (!url.startsWith('file://')) {
      fetched.push(url);
      return route.abort();
    }
    return route.continue();
  });
  await page.goto(pathToFileURL(path).href);
  return { errors, fetched };
}

B('report.html and index.html: drawn, nothing fetched, a failing check highlights its operations', async () => {
  const missing = await chromiumMissing();
  if (missing !== null) {
    console.log(`  skipped: ${missing}`);
    return;
  }
  const plan: SwarmPlan = { files: [file], seeds: { first: 1, last: 1 }, protocol: null, explore: false };
  const out = join(tmp, 'swarm');
  const results = await runPool([{ file, seed: 1 }], { jobs: 1, plan, outDir: out });
  const result: SwarmResult = { plan, shard: null, runs: results.map((r) => r.run), timings: { shards: [], runWallMs: {} } };
  assert.not.ok(result.runs[0]?.passed, 'the run fails, so index.html links its report');
  writeOutputs(out, result);

  await withPage(async (page) => {
    const seen = await open(page, join(out, 'index.html'));
    assert.is(await page.locator('h1').textContent(), 'kv-lab swarm: 1 of 1 runs failed');
    await page.click('#failures a');
    // Page code as text: this project's TypeScript knows no DOM.
    await page.waitForFunction('(window.kvReport?.drawn ?? 0) > 0', null, { timeout: 20_000 });
    assert.match(page.url(), /runs\/tiny-amnesia\/1\/report\.html$/);

    // The timeline is drawn: its canvas has a size and holds more than the background.
    const drawn = (await page.evaluate(`(() => {
      const c = document.getElementById('timeline');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200)) coloured++;
      return { w: c.width, h: c.height, coloured };
    })()`)) as { w: number; h: number; coloured: number };
    assert.ok(drawn.w >= 700 && drawn.h > 100 && drawn.coloured > 1000, JSON.stringify(drawn));
    const checks = await page.locator('#checks .check').count();
    assert.ok(checks >= 3, `${checks} checks shown`);
    assert.is(await page.locator('.check.fail').first().getAttribute('data-check'), 'linearizable');

    // Nothing highlighted until a failing check is clicked; then its operations are.
    const before = await page.evaluate('window.kvReport.highlighted.ops.length');
    assert.is(before, 0);
    await page.click('.check.fail[data-check="linearizable"] button.show');
    const after = (await page.evaluate(`(() => {
      const r = window.kvReport;
      return { ops: r.highlighted.ops, named: r.data.checks.find((c) => c.name === 'linearizable').ops };
    })()`)) as { ops: number[]; named: number[] };
    assert.ok(after.ops.length >= 2, JSON.stringify(after));
    assert.equal(after.ops, after.named);
    assert.match(await page.locator('#highlight').textContent() ?? '', /^linearizable: \d+ operation\(s\) highlighted/);
    assert.is(await page.locator('.check.selected').getAttribute('data-check'), 'linearizable');
    assert.equal(seen.errors, [], 'console errors');
    assert.equal(seen.fetched, [], 'requests beyond the file');
  });
});

B.run();
