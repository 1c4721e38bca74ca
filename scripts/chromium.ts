import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';

/**
 * Headless Chromium for the report's browser tests and the README's screenshot: Debian's
 * /usr/bin/chromium driven by playwright-core (never a browser downloaded by a tool). The flags
 * keep it from reaching the network, which this machine's closed network refuses; playwright
 * starts it on a fresh profile directory of its own each time, which keeps runs apart.
 */

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Why the browser cannot be used here, or null when it can. */
export async function chromiumMissing(): Promise<string | null> {
  if (process.env.KV_LAB_NO_BROWSER === '1') return 'KV_LAB_NO_BROWSER=1';
  if (chromiumPath() === null) return `Chromium is not installed (looked for ${CHROMIUM_PATHS.join(', ')}; apt-get install -y chromium)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm install)';
  }
  return null;
}

export function chromiumPath(): string | null {
  return CHROMIUM_PATHS.find((p) => existsSync(p)) ?? null;
}

/** Runs fn with a fresh headless browser and page; closes the browser after. */
export async function withPage<T>(fn: (page: Page, browser: Browser) => Promise<T>, viewport = { width: 1400, height: 1000 }): Promise<T> {
  const path = chromiumPath();
  if (path === null) throw new Error('Chromium is not installed');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: path,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport });
    return await fn(page, browser);
  } finally {
    await browser.close();
  }
}
