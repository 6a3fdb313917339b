// Helpers shared by the flow end-to-end tests (flows, a11y, hostile): booting segflow
// with content in tests/e2e/pages/flows.html, recording the generated events the page's
// listeners see, and reading the ones that reached the collector. No tests in here.

import assert from 'node:assert/strict';

import { flush, newContext, openPage, waitFor } from './harness.mjs';

/** Listener names of the generated flow events (and page views). */
export const FLOW_LISTENERS = [
  'flowStarted', 'flowStepSeen', 'flowCompleted', 'flowEnded', 'tooltipTargetMissing', 'pageViewed',
];

/** The Segment name of a listener name: `flowStepSeen` → `Flow Step Seen`. */
export const segmentName = (listener) => listener.replace(/^./, (c) => c.toUpperCase()).replace(/[A-Z]/g, (c, i) => (i ? ` ${c}` : c));

/** Properties every generated event carries after its own. */
export const PAGE_PROPS = ['page_url', 'viewport_width', 'viewport_height', 'locale_code'];

/** A flow with sensible defaults: `flow('f', [steps], {extra})`. */
export function flow(id, steps, extra = {}) {
  return { id, name: `Flow ${id}`, steps, ...extra };
}

/** Content document of `flows`. */
export function content(...flows) {
  return { version: 1, flows };
}

/** A modal step with a title, text and the given buttons. */
export function modal(id, buttons = [{ label: 'Next', action: { type: 'next' }, primary: true }], extra = {}) {
  return {
    id,
    name: `Step ${id}`,
    type: 'modal',
    blocks: [
      { type: 'title', text: `Title ${id}` },
      { type: 'text', markdown: `Body of **${id}**.` },
      ...buttons.map((b) => ({ type: 'button', ...b })),
    ],
    ...extra,
  };
}

export const NEXT = { label: 'Next', action: { type: 'next' }, primary: true };
export const BACK = { label: 'Back', action: { type: 'back' } };

/**
 * Opens tests/e2e/pages/flows.html in a fresh context and boots segflow: `init`
 * (page tracking off unless asked), listeners for every flow event recording into
 * `window.flowLog` as `[listener, payload]`, `identify(userId)` when given,
 * `group(groupId)` when given, and `loadContent(content)` when given.
 */
export async function openFlows(browser, t, collector, options = {}) {
  const context = options.context ?? await newContext(browser, t, options.contextOptions);
  const page = await openPage(context, `${collector.url}/${options.path ?? 'flows.html'}`);
  await boot(page, collector, options);
  return { context, page };
}

/** Boots segflow in an already loaded flows page (see `openFlows`). */
export async function boot(page, collector, options = {}) {
  const {
    writeKey, userId, traits, groupId, content: doc, pageTracking = false, init = {},
  } = options;
  assert.ok(writeKey, 'each test uses its own writeKey');
  const err = await page.evaluate(async ({ writeKey, apiHost, userId, traits, groupId, doc, pageTracking, init, listeners }) => {
    const s = window.segflow;
    window.flowLog = [];
    window.errors = [];
    try {
      s.init({ writeKey, apiHost, pageTracking, flushInterval: 100, companyEventProperty: 'company_id', ...init });
      for (const name of listeners) s.on(name, (p) => window.flowLog.push([name, p]));
      s.on('error', (e) => window.errors.push(`${e.code}: ${e.message}`));
      if (userId) s.identify(userId, traits);
      if (groupId) s.group(groupId);
      if (doc) await s.loadContent(doc);
      return null;
    } catch (e) {
      return `${e.code}: ${e.message}`;
    }
  }, { writeKey, apiHost: collector.apiHost, userId, traits, groupId, doc, pageTracking, init, listeners: FLOW_LISTENERS });
  assert.equal(err, null, 'booting segflow failed');
}

/** What the page's listeners saw: `[[listener, payload], ...]`. */
export const flowLog = (page) => page.evaluate(() => window.flowLog);

/** The listener log as short strings: `flowStepSeen:s1`, `flowEnded:completed`. */
export async function flowTrace(page) {
  return (await flowLog(page)).map(([name, p]) => {
    if (name === 'flowStarted') return `${name}:${p.flow_id}:${p.flow_start_reason}`;
    if (name === 'flowEnded') return `${name}:${p.flow_id}:${p.flow_end_reason}`;
    if (name === 'flowStepSeen' || name === 'tooltipTargetMissing') return `${name}:${p.flow_step_id}`;
    if (name === 'pageViewed') return `${name}:${new URL(p.page_url).pathname}${new URL(p.page_url).hash}`;
    return `${name}:${p.flow_id}`;
  });
}

/** Waits until the listener trace has `n` entries (or more); returns it. */
export async function traceOf(page, n, timeout = 5_000) {
  let trace = [];
  await waitFor(async () => (trace = await flowTrace(page)).length >= n, { timeout, message: `${n} flow events` })
    .catch((e) => { e.message += `; trace: ${JSON.stringify(trace)}`; throw e; });
  return trace;
}

/**
 * Flushes the page and returns the generated events (Title Case track calls of the
 * flow catalog and Page Viewed) that reached the collector for `writeKey`, in order.
 */
export async function generatedAtCollector(page, collector, writeKey, { expect } = {}) {
  await flush(page);
  const names = new Set(FLOW_LISTENERS.map(segmentName));
  const read = async () => (await collector.events({ writeKey, type: 'track' })).filter((e) => names.has(e.event));
  if (expect === undefined) return read();
  let events = [];
  await waitFor(async () => (events = await read()).length >= expect, { timeout: 5_000, message: `${expect} generated events at the collector` })
    .catch((e) => { e.message += `; have ${JSON.stringify(events.map((x) => x.event))}`; throw e; });
  return events;
}

/** Collector events as short strings, like `flowTrace`. */
export function collectorTrace(events) {
  return events.map((e) => {
    const p = e.properties;
    const name = e.event;
    if (name === 'Flow Started') return `${name}:${p.flow_id}:${p.flow_start_reason}`;
    if (name === 'Flow Ended') return `${name}:${p.flow_id}:${p.flow_end_reason}`;
    if (name === 'Flow Step Seen' || name === 'Tooltip Target Missing') return `${name}:${p.flow_step_id}`;
    if (name === 'Page Viewed') return `${name}:${new URL(p.page_url).pathname}${new URL(p.page_url).hash}`;
    return `${name}:${p.flow_id}`;
  });
}

/** The step element in the shadow root (a Playwright locator; CSS pierces open shadow roots). */
export const step = (page) => page.locator('segflow-ui .step');

/** Facts about what segflow shows: step kind classes, texts, side, geometry. */
export function ui(page) {
  return page.evaluate(() => {
    const host = document.querySelector('segflow-ui');
    const root = host && host.shadowRoot;
    const el = root && root.querySelector('.step');
    if (!el) return { shown: false, host: !!host };
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    const arrow = el.querySelector('.arrow');
    const ar = arrow && arrow.getBoundingClientRect();
    return {
      shown: true,
      classes: [...el.classList].filter((c) => c !== 'dismissible'),
      dismissible: el.classList.contains('dismissible'),
      stepId: el.dataset.step,
      side: el.dataset.side ?? null,
      role: el.getAttribute('role'),
      ariaModal: el.getAttribute('aria-modal'),
      title: root.querySelector('h2')?.textContent ?? null,
      body: root.querySelector('.body')?.textContent ?? null,
      progress: root.querySelector('.progress')?.textContent ?? null,
      buttons: [...el.querySelectorAll('.footer button')].map((b) => b.textContent),
      backdrop: !!root.querySelector('.backdrop'),
      visible: cs.visibility === 'visible' && cs.display !== 'none' && r.width > 0,
      animating: el.getAnimations().some((a) => a.playState === 'running'),
      rect: { x: r.x, y: r.y, width: r.width, height: r.height, right: r.right, bottom: r.bottom },
      arrow: ar ? { x: ar.x + ar.width / 2, y: ar.y + ar.height / 2 } : null,
      viewport: { width: innerWidth, height: innerHeight },
    };
  });
}

/** Bounding box of a page element by CSS selector. */
export function rectOf(page, selector) {
  return page.evaluate((sel) => {
    const r = document.querySelector(sel).getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height, right: r.right, bottom: r.bottom, cx: r.x + r.width / 2, cy: r.y + r.height / 2 };
  }, selector);
}

/** Waits for a step with id `stepId` to be on screen and visible; returns `ui()`. */
export async function shown(page, stepId, timeout = 5_000) {
  let last;
  await waitFor(async () => {
    last = await ui(page);
    return last.shown && last.stepId === stepId && last.visible && !last.animating;
  }, { timeout, interval: 50, message: `step ${stepId} on screen` })
    .catch((e) => { e.message += `; ui: ${JSON.stringify(last)}`; throw e; });
  return last;
}

/** Waits until no step is on screen. */
export async function gone(page, timeout = 5_000) {
  await waitFor(async () => !(await ui(page)).shown, { timeout, interval: 50, message: 'no step on screen' });
}

/** Clicks the step's button with this label (inside the shadow root). */
export function clickButton(page, label) {
  return page.locator('segflow-ui .step .footer button', { hasText: label }).click();
}

/**
 * The flow progress stored for `who` (`u:<userId>` or `a:<anonymousId>`), under its
 * namespaced key `segflow:v1:[<env>:]<writeKey>:flows:<who>`, or null.
 */
export function storedProgress(page, who) {
  return page.evaluate((who) => {
    const keys = Object.keys(localStorage).filter((k) => k.startsWith('segflow:v1:') && k.endsWith(`:flows:${who}`));
    return keys.length ? localStorage.getItem(keys[0]) : null;
  }, who);
}
