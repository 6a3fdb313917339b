// Saves docs/screenshot-modal.png, docs/screenshot-tooltip.png,
// docs/screenshot-checklist.png and docs/screenshot-checklist-launcher.png: the demo
// page (www/index.html) in headless Debian Chromium, with the onboarding tour's
// welcome modal and its tooltip step on screen, then the getting-started checklist
// open and collapsed.
//
// Run after building: `cargo build --release -p segflow-collector &&
// bash scripts/build-pkg.sh && node scripts/screenshots.mjs`. It starts its own
// collector on a free port (temporary database) and stops it at the end.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const COLLECTOR = process.env.SEGFLOW_COLLECTOR_BIN || join(resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target'), 'release/segflow-collector');
const CHROMIUM = process.env.SEGFLOW_CHROMIUM || '/usr/bin/chromium';
const VIEWPORT = { width: 1000, height: 650 };

async function startCollector(dir) {
  const child = spawn(COLLECTOR, [
    '--port', '0', '--db', join(dir, 'events.db'), '--write-key', 'screenshot-key',
    '--static', `/=${join(ROOT, 'www')}`, '--static', `/pkg=${join(ROOT, 'pkg')}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector did not start:\n${output}`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) { clearTimeout(timer); resolveUrl(m[1]); }
    });
    child.stderr.setEncoding('utf8').on('data', (c) => { output += c; });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`collector exited (${code}):\n${output}`)); });
  });
  return { url, stop: () => { child.kill('SIGTERM'); } };
}

/** Waits until step `id` is on screen, placed and done animating. */
async function stepShown(page, id) {
  await page.waitForFunction((id) => {
    const el = document.querySelector('segflow-ui')?.shadowRoot?.querySelector('.step');
    return el && el.dataset.step === id && getComputedStyle(el).visibility === 'visible'
      && el.getAnimations().every((a) => a.playState !== 'running');
  }, id, { timeout: 10_000 });
}

const dir = await mkdtemp(join(tmpdir(), 'segflow-shots-'));
const collector = await startCollector(dir);
const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--font-render-hinting=none'],
});
try {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const q = new URLSearchParams({ writeKey: 'screenshot-key', apiHost: `${collector.url}/v1` });
  await page.goto(`${collector.url}/index.html?${q}`);
  await page.waitForFunction(() => window.segflow, null, { timeout: 15_000 });
  await page.click('#start-tour');
  await stepShown(page, 'welcome');
  await page.screenshot({ path: join(ROOT, 'docs/screenshot-modal.png') });
  await page.locator('segflow-ui .step button', { hasText: 'Show me around' }).click();
  await stepShown(page, 'new-project');
  await page.mouse.move(5, 640); // no hover effect in the picture
  await page.screenshot({ path: join(ROOT, 'docs/screenshot-tooltip.png') });
  // The getting-started checklist: open with one task done, then collapsed.
  await page.evaluate(() => window.segflow.endAll());
  await page.locator('segflow-checklist [data-cl="task:hello"]').click();
  await page.waitForFunction(() => document.querySelector('segflow-checklist')?.shadowRoot
    ?.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow') === '1', null, { timeout: 10_000 });
  await page.mouse.move(995, 5);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(ROOT, 'docs/screenshot-checklist.png') });
  await page.locator('segflow-checklist .launcher').click();
  await page.waitForFunction(() => !document.querySelector('segflow-checklist')?.shadowRoot?.querySelector('.panel'), null, { timeout: 10_000 });
  await page.mouse.move(995, 5);
  await page.screenshot({ path: join(ROOT, 'docs/screenshot-checklist-launcher.png'), clip: { x: VIEWPORT.width - 420, y: VIEWPORT.height - 120, width: 420, height: 120 } });
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  console.log('saved docs/screenshot-modal.png, docs/screenshot-tooltip.png, docs/screenshot-checklist.png and docs/screenshot-checklist-launcher.png');
} finally {
  await browser.close();
  collector.stop();
  await rm(dir, { recursive: true, force: true });
}
