// segflow under a strict Content-Security-Policy, as many security-minded apps ship
// it: no inline scripts or styles. The flow UI must still be styled and placed (its
// stylesheet is adopted, not an inline <style>), events must still go out, and the
// browser must report no violation.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { describe, it } from 'node:test';

import { PKG_DIR, ROOT, newContext, startCollector, useBrowser, waitFor } from './harness.mjs';

const PAGES = join(ROOT, 'tests/e2e/pages');
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

/**
 * Serves tests/e2e/pages at / and pkg/ at /pkg with `policy` as the page's CSP, and
 * passes /v1/* on to the collector at `api` (a first-party API path, so the policy
 * needs no connect-src of its own).
 */
async function cspServer(t, policy, api) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/favicon.ico') { res.writeHead(204).end(); return; }
    if (path.startsWith('/v1/')) {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const answer = await fetch(`${api}${req.url}`, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] || 'text/plain' },
        body: req.method === 'POST' ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') || 'application/json' });
      res.end(Buffer.from(await answer.arrayBuffer()));
      return;
    }
    const [base, rel] = path.startsWith('/pkg/') ? [PKG_DIR, path.slice(5)] : [PAGES, path.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base + sep)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] || 'application/octet-stream', 'content-security-policy': policy, 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return `http://127.0.0.1:${server.address().port}`;
}

describe('strict Content-Security-Policy', () => {
  const env = useBrowser();

  it('shows styled, placed steps and sends events with no CSP violation', { timeout: 60_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['csp-key'] });
    t.after(() => collector.stop());
    // Exactly the policy of issue 9: the API is reached first-party, through /v1.
    const policy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'";
    const url = await cspServer(t, policy, collector.url);
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`${url}/csp.html`);
    await page.waitForFunction(() => window.ready);
    const content = {
      version: 1,
      flows: [
        { id: 'modal', name: 'Modal', steps: [{ id: 'm', type: 'modal', blocks: [{ type: 'title', text: 'Hello' }, { type: 'button', label: 'Next', action: { type: 'next' }, primary: true }] }] },
        { id: 'tip', name: 'Tip', steps: [{ id: 't', type: 'tooltip', target: '#target', placement: 'bottom', blocks: [{ type: 'text', markdown: 'Here' }, { type: 'button', label: 'OK', action: { type: 'next' }, primary: true }] }] },
      ],
    };
    await page.evaluate(async ({ apiHost, content }) => {
      window.segflow.init({ writeKey: 'csp-key', apiHost, pageTracking: false, flushAt: 1 });
      window.segflow.identify('csp-user');
      await window.segflow.loadContent(content);
      await window.segflow.start('modal');
    }, { apiHost: `${url}/v1`, content });
    const facts = () => page.evaluate(() => {
      const root = document.querySelector('segflow-ui').shadowRoot;
      const step = root.querySelector('.step');
      const cs = getComputedStyle(step);
      const backdrop = root.querySelector('.backdrop');
      const r = step.getBoundingClientRect();
      return {
        position: cs.position, radius: cs.borderTopLeftRadius, background: cs.backgroundColor,
        backdrop: backdrop ? getComputedStyle(backdrop).backgroundColor : null,
        rect: { x: r.x, y: r.y, w: r.width, h: r.height }, viewport: { w: innerWidth, h: innerHeight },
        adopted: root.adoptedStyleSheets.length, styleElements: root.querySelectorAll('style').length,
      };
    });
    await page.waitForTimeout(400); // the step's entry animation (0.22 s) moves it a little
    const modal = await facts();
    assert.equal(modal.position, 'fixed');
    assert.equal(modal.radius, '12px');
    assert.equal(modal.background, 'rgb(255, 255, 255)');
    assert.equal(modal.backdrop, 'rgba(17, 24, 39, 0.55)');
    assert.ok(Math.abs(modal.rect.x + modal.rect.w / 2 - modal.viewport.w / 2) < 2, `modal centred horizontally: ${JSON.stringify(modal)}`);
    assert.ok(Math.abs(modal.rect.y + modal.rect.h / 2 - modal.viewport.h / 2) < 2, `modal centred vertically: ${JSON.stringify(modal)}`);
    assert.deepEqual([modal.adopted, modal.styleElements], [1, 0], 'an adopted stylesheet, no inline <style>');
    await page.evaluate(() => window.segflow.start('tip'));
    await waitFor(() => page.evaluate(() => document.querySelector('segflow-ui').shadowRoot.querySelector('.step.tooltip')), { message: 'tooltip' });
    const tip = await facts();
    const target = await page.evaluate(() => { const r = document.getElementById('target').getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    assert.equal(tip.position, 'fixed');
    assert.ok(tip.rect.y >= target.y + target.h && tip.rect.y < target.y + target.h + 40, `tooltip right below its target: ${JSON.stringify({ tip: tip.rect, target })}`);
    await collector.waitForEvents({ writeKey: 'csp-key', type: 'track' }, 2);
    // A checklist a quarter done: its progress bar is a quarter full (its width is
    // set through the CSSOM, which the policy allows, not a style attribute).
    await page.evaluate(async () => {
      await window.segflow.loadContent({
        version: 1,
        checklists: [{ id: 'cl', name: 'Setup', tasks: ['a', 'b', 'c', 'd'].map((id) => ({ id, name: `Task ${id}`, complete_when: [{ event: `${id}_done` }] })) }],
      });
      await window.segflow.start('cl');
      window.segflow.track('a_done');
    });
    const bar = await waitFor(() => page.evaluate(() => {
      const root = document.querySelector('segflow-checklist')?.shadowRoot;
      if (!root) return null;
      if (!root.querySelector('.panel')) root.querySelector('.launcher')?.click();
      const fill = root.querySelector('.fill');
      if (!fill || root.querySelector('[role=progressbar]').getAttribute('aria-valuenow') !== '1') return null;
      return { fill: fill.getBoundingClientRect().width, bar: fill.parentElement.getBoundingClientRect().width };
    }), { message: 'the checklist panel, 1 of 4 done' });
    assert.ok(bar.bar > 0 && Math.abs(bar.fill - bar.bar / 4) < 1, `progress bar a quarter full: ${JSON.stringify(bar)}`);
    assert.deepEqual(await page.evaluate(() => window.violations), []);
    assert.deepEqual(logs.filter((l) => /Content.Security.Policy|violat|pageerror|error:/i.test(l)), []);
  });

  it('under a policy without \'wasm-unsafe-eval\': no exception in the page, one load_failed that names the missing source, calls kept', { timeout: 60_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['csp-nowasm'] });
    t.after(() => collector.stop());
    const policy = "default-src 'self'; script-src 'self'; style-src 'self'";
    const url = await cspServer(t, policy, collector.url);
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    const logs = [];
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`${url}/csp.html`);
    await page.waitForFunction(() => window.ready);
    const r = await page.evaluate(async ({ apiHost }) => {
      const errors = [];
      const s = window.segflow;
      s.on('error', (e) => errors.push({ code: e.code, message: e.message }));
      s.init({ writeKey: 'csp-nowasm', apiHost, pageTracking: false });
      s.track('Kept', { n: 1 });
      let flushed;
      try { await s.flush(); flushed = 'resolved'; } catch (e) { flushed = e.code; }
      await new Promise((ok) => setTimeout(ok, 100));
      const kept = Object.keys(localStorage).filter((k) => k.startsWith('segflow:loader:kept:'));
      return { errors, flushed, kept: kept.length };
    }, { apiHost: `${url}/v1` });
    assert.deepEqual(logs, []);
    assert.equal(r.flushed, 'load_failed');
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.equal(r.errors[0].code, 'load_failed');
    assert.match(r.errors[0].message, /'wasm-unsafe-eval'/, 'says what the policy needs');
    assert.equal(r.kept, 1, 'the calls are kept for a page that can load the module');
  });
});
