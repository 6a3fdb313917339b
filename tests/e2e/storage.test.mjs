// Storage that fails: localStorage unavailable (private mode, disabled, sandboxed) or
// full never throws into the page and loses nothing while the page lives; a full
// queue drops its oldest events and says so.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  closedPort, flush, indexesOf, initSegflow, newContext, openPage, queuedEvents,
  segflowEvents, startCollector, trackMany, useBrowser, waitFor,
} from './harness.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);

/** Opens `url` in a new page, collecting its console warnings and uncaught errors. */
async function openWatched(context, url) {
  const warnings = [];
  const errors = [];
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.ready || window.loadError);
  return { page, warnings, errors };
}

describe('storage', () => {
  const env = useBrowser();

  it('works in memory when localStorage is unavailable, with a warning and no exception', { timeout: 60_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['no-storage-key'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    // As in a sandboxed frame or with storage disabled: touching localStorage throws.
    await context.addInitScript(() => {
      Object.defineProperty(window, 'localStorage', {
        configurable: true,
        get() { throw new DOMException('The operation is insecure.', 'SecurityError'); },
      });
    });
    const { page, warnings, errors } = await openWatched(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'no-storage-key', apiHost: collector.apiHost });
    await page.evaluate(() => window.segflow.identify('user-9', { plan: 'pro' }));
    await trackMany(page, 'Memory Only', 0, 12);
    await flush(page);
    const events = await collector.events({ writeKey: 'no-storage-key', type: 'track' });
    assert.deepEqual(indexesOf(events), range(12));
    assert.ok(events.every((e) => e.userId === 'user-9'));
    assert.equal((await collector.stats()).duplicates, 0, 'none sent twice');
    assert.deepEqual(errors, []);
    assert.ok(warnings.some((w) => /localStorage is unavailable/.test(w)), `warned: ${JSON.stringify(warnings)}`);
  });

  it('keeps sending when localStorage is full (QuotaExceededError), warning once', { timeout: 60_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['full-key'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    // Full for segflow's queue: every write of a queue chunk throws, as a full quota does.
    await context.addInitScript(() => {
      const setItem = Storage.prototype.setItem;
      Storage.prototype.setItem = function patched(key, value) {
        if (/:q:/.test(key)) throw new DOMException('quota', 'QuotaExceededError');
        return setItem.call(this, key, value);
      };
    });
    const { page, warnings, errors } = await openWatched(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'full-key', apiHost: collector.apiHost, flushAt: 10 });
    const thrown = await page.evaluate(() => {
      try {
        for (let i = 0; i < 30; i++) window.segflow.track('Quota', { i });
        return null;
      } catch (e) {
        return String(e);
      }
    });
    assert.equal(thrown, null, 'track() never throws a QuotaExceededError into the page');
    await flush(page);
    assert.deepEqual(indexesOf(await collector.events({ writeKey: 'full-key' })), range(30));
    assert.equal((await collector.stats()).duplicates, 0, 'none sent twice');
    assert.deepEqual(errors, []);
    assert.equal(warnings.filter((w) => /localStorage is full/.test(w)).length, 1, 'one warning, not one per event');
  });

  it('drops the oldest events past maxQueueEvents and reports them as queue_full', { timeout: 60_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['bounded-key'] });
    t.after(() => collector.stop());
    const deadHost = `http://127.0.0.1:${await closedPort()}/v1`;
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'bounded-key', apiHost: deadHost, maxQueueEvents: 5, flushAt: 1000, flushInterval: 600_000 });
    await trackMany(page, 'Bounded', 0, 8);
    await waitFor(async () => (await segflowEvents(page)).dropped.length > 0, { message: 'a dropped event' });
    const { dropped } = await segflowEvents(page);
    assert.equal(dropped.reduce((n, d) => n + d.count, 0), 3);
    assert.ok(dropped.every((d) => d.reason === 'queue_full'));
    // The newest 5 are kept, in storage too.
    assert.equal((await queuedEvents(page)).length, 5);
  });
});
