// Drives the hub's live /activity page in headless Chromium (system browser, playwright-core):
// with a signed-in user's session cookie, the service graph must show the edge
// $KEYWAY_EDGE ("caller->callee"), refresh from server-sent events within a second, and list
// verification failures. A screenshot goes to $KEYWAY_ARTIFACTS/activity.png.
//
// Environment: KEYWAY_HUB_URL, KEYWAY_SESSION, KEYWAY_EDGE, KEYWAY_ARTIFACTS,
// KEYWAY_CHROMIUM (default /usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`set ${name}`);
  return value;
}

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const session = env('KEYWAY_SESSION');
const edge = env('KEYWAY_EDGE');
const artifacts = env('KEYWAY_ARTIFACTS', 'artifacts');
const executablePath = env('KEYWAY_CHROMIUM', '/usr/bin/chromium');
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.addCookies([{ name: 'keyway_session', value: session, url: hub }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  const response = await page.goto(`${hub}/activity`);
  if (response.status() !== 200) throw new Error(`/activity answered ${response.status()}`);
  console.log('  - page loaded');
  await page.waitForSelector(`[data-edge="${edge}"]`, { timeout: 5000 });
  console.log(`  - edge ${edge} drawn`);
  const first = await page.getAttribute('body', 'data-updates');
  await page.waitForFunction(
    (before) => document.body.dataset.updates !== before, first, { timeout: 1500 });
  console.log('  - graph refreshed from the stream within 1.5 s');
  const rows = await page.locator('#failures tr').count();
  if (rows < 1) throw new Error('no verification failure listed');
  const text = await page.locator('#failures').innerText();
  if (!text.includes('missing_token')) throw new Error(`failures table: ${text}`);
  console.log(`  - ${rows} failure row(s) listed`);
  if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
  await page.screenshot({ path: join(artifacts, 'activity.png'), fullPage: true });
  console.log('  - screenshot saved');
} finally {
  await browser.close();
}
