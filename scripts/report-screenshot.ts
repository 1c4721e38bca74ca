/**
 * npm run screenshot:report: the README's picture of a run's report, taken from a real run —
 * scenarios/bugs/read-without-read-index.yaml seed 1, a follower answering reads without asking
 * the leader, which the linearizability check catches — opened in headless Chromium with the
 * failing check clicked, so the picture shows the highlighted operations on the timeline.
 *
 * Usage: npm run screenshot:report [-- OUT.png]   (default docs/report.png)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runScenario } from '../sim/runner.js';
import { parseScenario } from '../sim/scenario.js';
import { chromiumMissing, withPage } from './chromium.js';

const FILE = 'scenarios/bugs/read-without-read-index.yaml';
const SEED = 1;
const out = process.argv[2] ?? join('docs', 'report.png');

const missing = await chromiumMissing();
if (missing !== null) {
  process.stderr.write(`screenshot:report: cannot take the screenshot: ${missing}\n`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'kv-lab-screenshot-'));
const scenario = parseScenario(readFileSync(FILE, 'utf8'), FILE);
const { summary } = runScenario(scenario, { seed: SEED, outDir: dir });
if (summary.passed) {
  process.stderr.write(`screenshot:report: ${FILE} seed ${SEED} passed; the picture is meant to show a caught bug\n`);
  process.exit(1);
}
const report = join(dir, summary.scenario, String(SEED), 'report.html');
await withPage(async (page) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(pathToFileURL(report).href);
  await page.waitForFunction('(window.kvReport?.drawn ?? 0) > 0');
  await page.click('.check.fail button.show');
  // The timeline with the highlighted operations, and throughput and latency below it.
  await page.locator('#timeline-section').screenshot({ path: out });
  if (errors.length > 0) throw new Error(`the page reported errors: ${errors.join('; ')}`);
}, { width: 1400, height: 1300 });
process.stdout.write(`${out}: ${FILE} seed ${SEED} (digest ${summary.digest.slice(0, 16)}…), the failing check clicked\n`);
