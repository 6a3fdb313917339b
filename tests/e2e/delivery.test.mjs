// Delivery: every event reaches the collector exactly once through server faults,
// reloads, page hide, offline periods and several tabs; refused events are dropped
// (and said so), not retried forever; streaming off sends and keeps nothing.
//
// Each test starts its own collector (fresh database and counters).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer } from 'node:http';

import {
  closedPort, flush, gotoReady, indexesOf, initSegflow, newContext, openPage, queuedEvents, queuedKeys,
  segflowEvents, sleep, startCollector, startPageServer, trackMany, useBrowser, waitFor,
} from './harness.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);

/** Starts a collector for one test, stopped when the test ends. */
async function collectorFor(t, options) {
  const collector = await startCollector(options);
  t.after(() => collector.stop());
  return collector;
}

/**
 * Asserts that the collector never received an event it had already stored: the
 * rows alone cannot show a double send, since it keeps one row per messageId.
 */
async function assertNoDuplicates(collector) {
  const { duplicates } = await collector.stats();
  assert.equal(duplicates, 0, `no event was sent twice (${JSON.stringify(await collector.duplicates())})`);
}

/** Asserts that `events` hold each index 0..n-1 exactly once, with distinct messageIds. */
function assertExactlyOnce(events, n, what) {
  assert.equal(events.length, n, `${what}: ${n} rows stored (got ${events.length})`);
  assert.deepEqual(indexesOf(events), range(n), `${what}: each event once`);
  assert.equal(new Set(events.map((e) => e.messageId)).size, n, `${what}: distinct messageIds`);
}

describe('delivery', () => {
  const env = useBrowser();

  it('delivers every event exactly once through 500s and 429s (cross-origin page)', { timeout: 120_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['faulty-key'], failRate: 0.3, rateLimitEvery: 4, seed: 7 });
    // A real site posts to another origin: this also exercises CORS (preflight for
    // the Authorization header, Retry-After exposed to the page).
    const site = await startPageServer();
    t.after(() => site.close());
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${site.url}/index.html`);
    // When each POST left and each answer came back, to check the waits between them.
    const timeline = [];
    const isBatchPost = (req) => req.method() === 'POST' && req.url() === `${collector.apiHost}/batch`;
    page.on('request', (r) => { if (isBatchPost(r)) timeline.push({ at: Date.now(), what: 'send' }); });
    page.on('response', (r) => { if (isBatchPost(r.request())) timeline.push({ at: Date.now(), what: r.status() }); });
    await initSegflow(page, { writeKey: 'faulty-key', apiHost: collector.apiHost, flushAt: 25 });

    // 300 events in 12 bursts of 25: the first 6 each wait for their batch to settle
    // (many requests, so many fault draws), the last 6 pile up while requests are
    // retried and backing off.
    for (let burst = 0; burst < 12; burst++) {
      await trackMany(page, 'Faulty', burst * 25, burst * 25 + 25);
      if (burst < 6) await flush(page, { timeout: 60_000 });
      else await sleep(50);
    }
    await flush(page, { timeout: 90_000 });

    const events = await collector.events({ writeKey: 'faulty-key' });
    assertExactlyOnce(events, 300, 'through faults');
    const stats = await collector.stats();
    t.diagnostic(`requests ${stats.requests}, faults ${JSON.stringify(stats.faults)}, duplicates ${stats.duplicates}`);
    assert.ok(stats.faults.failed >= 1, `500s were injected: ${JSON.stringify(stats.faults)}`);
    assert.ok(stats.faults.rateLimited >= 1, `429s were injected: ${JSON.stringify(stats.faults)}`);
    assert.ok(stats.requests > stats.faults.failed + stats.faults.rateLimited, 'requests were retried until accepted');
    // No hammering: after a 429 (Retry-After: 1) the next attempt waits about 1 s,
    // after a 500 at least the first backoff (0.5 s, -10% jitter).
    let checked = 0;
    timeline.forEach((entry, i) => {
      if (entry.what !== 429 && entry.what !== 500) return;
      const next = timeline.slice(i + 1).find((e) => e.what === 'send');
      if (!next) return;
      const wait = next.at - entry.at;
      const min = entry.what === 429 ? 850 : 400;
      assert.ok(wait >= min, `after a ${entry.what} the next request came ${wait} ms later (expected >= ${min} ms)`);
      checked++;
    });
    assert.ok(checked >= 2, `waits after faults were checked (${checked})`);
    const seen = await segflowEvents(page);
    assert.deepEqual(seen.dropped, [], 'nothing dropped');
    const delivered = seen.delivered.flatMap((d) => d.messageIds);
    assert.equal(delivered.length, 300, 'each event reported delivered once');
    assert.deepEqual(new Set(delivered), new Set(events.map((e) => e.messageId)));
    assert.deepEqual(await queuedKeys(page), [], 'nothing left in localStorage');
    await assertNoDuplicates(collector);
  });

  it('keeps undelivered events across a reload and sends them once the API answers', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['reload-key'] });
    const deadHost = `http://127.0.0.1:${await closedPort()}/v1`;
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    let failed = 0;
    page.on('requestfailed', (r) => { if (r.url().startsWith(deadHost)) failed++; });
    await initSegflow(page, { writeKey: 'reload-key', apiHost: deadHost, flushAt: 5 });
    await trackMany(page, 'Survivor', 0, 20);
    // Sends fail (connection refused) and are retried; the events wait in localStorage.
    await waitFor(() => failed >= 2, { timeout: 10_000, message: 'two failed attempts' });
    assert.equal((await queuedEvents(page)).length, 20, 'all 20 events are stored while undelivered');

    await gotoReady(page, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'reload-key', apiHost: collector.apiHost });
    await collector.waitForEvents({ writeKey: 'reload-key' }, 20);
    await flush(page);
    await sleep(300); // would any duplicate request still arrive?
    assertExactlyOnce(await collector.events({ writeKey: 'reload-key' }), 20, 'after reload');
    assert.deepEqual(await queuedKeys(page), [], 'stored events removed once delivered');
    // The first page's requests went to a dead host: nothing reached the collector twice.
    await assertNoDuplicates(collector);
  });

  it('sends queued events with keepalive when the page goes away (cross-origin)', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['hide-key'] });
    const site = await startPageServer();
    t.after(() => site.close());
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${site.url}/index.html`);
    await initSegflow(page, { writeKey: 'hide-key', apiHost: collector.apiHost, flushInterval: 600_000, flushAt: 1000 });
    await trackMany(page, 'Leaving', 0, 10);
    await sleep(200);
    assert.equal((await collector.events({ writeKey: 'hide-key' })).length, 0, 'nothing sent before the page hides');

    await page.goto('about:blank');
    const events = await collector.waitForEvents({ writeKey: 'hide-key' }, 10);
    assertExactlyOnce(events, 10, 'keepalive');

    // The page could not see the answer, so the events stayed stored: the next visit
    // sends them again with the same messageIds, and no row is added.
    await gotoReady(page, `${site.url}/index.html`);
    await initSegflow(page, { writeKey: 'hide-key', apiHost: collector.apiHost });
    await waitFor(async () => (await queuedEvents(page)).length === 0, { timeout: 10_000, message: 'stored events re-sent and removed' });
    assertExactlyOnce(await collector.events({ writeKey: 'hide-key' }), 10, 'after the next visit');
    // The page unloaded with its keepalive request in flight: the only events that may
    // reach the collector twice are those 10.
    const duplicates = await collector.duplicates({ writeKey: 'hide-key' });
    const inFlight = new Set(events.map((e) => e.messageId));
    assert.ok(duplicates.every((d) => inFlight.has(d.messageId) && d.count === 1),
      `only the events in flight at the unload were resent, once: ${JSON.stringify(duplicates)}`);
  });

  it('holds events while offline and sends them when back online, without spinning', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['offline-key'] });
    const context = await newContext(env.browser, t);
    // Count timers the page arms: an idle offline queue must not poll in a loop.
    await context.addInitScript(() => {
      window.timeoutCalls = 0;
      const setTimeout0 = window.setTimeout;
      window.setTimeout = function (...args) { window.timeoutCalls++; return setTimeout0.apply(this, args); };
    });
    const page = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'offline-key', apiHost: collector.apiHost });
    await context.setOffline(true);
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    await trackMany(page, 'Offline', 0, 5);
    await sleep(1500); // longer than flushInterval (1 s)
    assert.equal((await collector.events({ writeKey: 'offline-key' })).length, 0, 'nothing sent while offline');
    assert.equal((await queuedEvents(page)).length, 5, 'the 5 events are stored');
    const t0 = await page.evaluate(() => window.timeoutCalls);
    await sleep(1000);
    const timers = (await page.evaluate(() => window.timeoutCalls)) - t0;
    assert.ok(timers <= 5, `an idle offline queue armed ${timers} timers in 1 s (expected a handful at most; it should wait for 'online')`);

    await context.setOffline(false);
    const events = await collector.waitForEvents({ writeKey: 'offline-key' }, 5, { timeout: 5000 });
    assertExactlyOnce(events, 5, 'after coming online');
    await assertNoDuplicates(collector);
  });

  it('setStreaming(false) stops sending at once and keeps no new events', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['stream-key'] });
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'stream-key', apiHost: collector.apiHost, flushInterval: 600_000, flushAt: 1000 });
    await trackMany(page, 'Before Off', 0, 2);
    await page.evaluate(() => window.segflow.setStreaming(false));
    await trackMany(page, 'While Off', 0, 3);
    const whileOff = await page.evaluate(() => window.segflow.flush());
    assert.deepEqual(whileOff, { pending: 2 }, 'flush() settles at once while off: the 2 earlier events wait');
    await sleep(300);
    assert.equal((await collector.events({ writeKey: 'stream-key' })).length, 0, 'nothing sent while streaming is off');
    assert.equal((await queuedEvents(page)).length, 2, 'only the events from before are kept');

    await page.evaluate(() => window.segflow.setStreaming(true));
    await flush(page);
    await trackMany(page, 'After On', 0, 1);
    await flush(page);
    const events = await collector.events({ writeKey: 'stream-key' });
    assert.deepEqual(events.map((e) => e.event).sort(), ['After On', 'Before Off', 'Before Off'],
      'events from while streaming was off are never sent');
    assert.deepEqual(await queuedKeys(page), []);
    await assertNoDuplicates(collector);
  });

  it('two tabs tracking at once: every event stored exactly once, none sent twice', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['tabs-key'] });
    const context = await newContext(env.browser, t);
    const tabs = [await openPage(context, `${collector.url}/index.html`), await openPage(context, `${collector.url}/index.html`)];
    for (const tab of tabs) await initSegflow(tab, { writeKey: 'tabs-key', apiHost: collector.apiHost, flushAt: 7 });
    for (let round = 0; round < 10; round++) {
      await Promise.all(tabs.map((tab, n) => trackMany(tab, `Tab ${n}`, round * 10, round * 10 + 10)));
      await sleep(20);
    }
    await Promise.all(tabs.map((tab) => flush(tab)));
    await sleep(300);
    for (const n of [0, 1]) {
      assertExactlyOnce(await collector.events({ event: `Tab ${n}` }), 100, `tab ${n}`);
    }
    const stats = await collector.stats();
    assert.equal(stats.duplicates, 0, 'no event was sent by both tabs');
    for (const tab of tabs) assert.deepEqual(await queuedKeys(tab), []);
  });

  it('a closed tab\'s stored events are adopted by another open tab', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['adopt-key'] });
    const deadHost = `http://127.0.0.1:${await closedPort()}/v1`;
    const context = await newContext(env.browser, t);
    const survivor = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(survivor, { writeKey: 'adopt-key', apiHost: collector.apiHost });
    // The other tab cannot reach the API (say, a stale proxy host) and then closes.
    const leaving = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(leaving, { writeKey: 'adopt-key', apiHost: deadHost, flushAt: 1000, flushInterval: 600_000 });
    await trackMany(leaving, 'Orphan', 0, 10);
    await leaving.close({ runBeforeUnload: true });
    // The survivor looks for orphans every 5 s.
    const events = await collector.waitForEvents({ writeKey: 'adopt-key' }, 10, { timeout: 15_000 });
    await flush(survivor);
    assertExactlyOnce(events, 10, 'adopted');
    assert.deepEqual(await queuedKeys(survivor), []);
    await assertNoDuplicates(collector);
  });

  it('a refused write key (401) drops the events with reason "rejected" after a bounded split, and does not retry', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['the-right-key'] });
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'a-wrong-key', apiHost: collector.apiHost });
    await trackMany(page, 'Refused', 0, 3);
    await flush(page, { timeout: 10_000 });
    const seen = await segflowEvents(page);
    // 401 may be about one unsigned message (identity verification), so the batch
    // is split to find it; a wrong key refuses every half, and each event is
    // reported dropped once.
    assert.ok(seen.dropped.length >= 1, `dropped events: ${JSON.stringify(seen.dropped)}`);
    for (const dropped of seen.dropped) {
      assert.equal(dropped.reason, 'rejected');
      assert.equal(dropped.status, 401);
      assert.equal(dropped.messageIds.length, dropped.count);
      assert.ok(dropped.messageIds.every((id) => /^segflow-\d+-/.test(id)));
    }
    const ids = seen.dropped.flatMap((d) => d.messageIds);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3, 'each event reported once');
    assert.equal(seen.error.length, seen.dropped.length, 'one error per dropped report');
    for (const error of seen.error) {
      assert.equal(error.code, 'delivery_failure');
      assert.equal(error.message, 'segflow: events were dropped');
      assert.equal(error.reason, 'rejected');
    }
    assert.equal(seen.error.reduce((n, e) => n + e.count, 0), 3);
    assert.deepEqual(seen.delivered, []);

    const requests = (await collector.stats()).requests;
    // 3 events: at most 4 * log2(3) + 4 split requests after the first.
    assert.ok(requests >= 1 && requests <= 13, `${requests} requests`);
    await sleep(1500); // longer than the first backoffs (0.5 s, 1 s)
    assert.equal((await collector.stats()).requests, requests, 'not retried later');
    assert.deepEqual(await queuedKeys(page), [], 'dropped events are removed from storage');
    assert.equal((await collector.events()).length, 0);
  });

  it('a wrong apiHost path (404) keeps the events and retries; they arrive once the route answers', { timeout: 60_000 }, async (t) => {
    // A server whose /v1/batch answers 404 until `ready`, then stores.
    const api = { posts: 0, ready: false, accepted: [] };
    const server = createServer((req, res) => {
      const cors = {
        'access-control-allow-origin': req.headers.origin || '*',
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': req.headers['access-control-request-headers'] || 'Authorization, Content-Type',
      };
      if (req.method === 'OPTIONS') { res.writeHead(204, cors).end(); return; }
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c) => { text += c; });
      req.on('end', () => {
        api.posts++;
        if (!api.ready) { res.writeHead(404, cors).end('not found'); return; }
        api.accepted.push(...JSON.parse(text).batch);
        res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end('{"success":true}');
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => server.close(() => r())));
    const collector = await collectorFor(t);
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'k', apiHost: `http://127.0.0.1:${server.address().port}/v1` });
    await trackMany(page, 'Waiting', 0, 4);
    await waitFor(() => api.posts >= 2, { message: 'retried after the 404' });
    let seen = await segflowEvents(page);
    assert.deepEqual(seen.dropped, [], 'nothing dropped on 404');
    assert.equal((await queuedKeys(page)).length > 0, true, 'still stored');
    api.ready = true;
    await waitFor(() => api.accepted.length >= 4, { timeout: 20_000, message: 'delivered once the route answers' });
    await sleep(300);
    assert.deepEqual(api.accepted.map((m) => m.properties.i), [0, 1, 2, 3], 'each once, in order');
    seen = await segflowEvents(page);
    assert.deepEqual(seen.dropped, []);
  });

  it('keeps working after a page function it calls throws once (timers, microtasks, JSON, Map, fetch): no exception reaches the page, nothing lost or sent twice', { timeout: 120_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['fault-once'] });
    // Each fault replaces a page global so that its next call (after `arm()`) fails.
    const FAULTS = {
      setTimeout: 'const o = setTimeout; window.setTimeout = function () { if (fault.armed) { fault.armed = false; throw new Error("setTimeout"); } return o.apply(this, arguments); };',
      clearTimeout: 'const o = clearTimeout; window.clearTimeout = function () { if (fault.armed) { fault.armed = false; throw new Error("clearTimeout"); } return o.apply(this, arguments); };',
      queueMicrotask: 'const o = queueMicrotask; window.queueMicrotask = function () { if (fault.armed) { fault.armed = false; throw new Error("queueMicrotask"); } return o.apply(this, arguments); };',
      'JSON.parse': 'const o = JSON.parse; JSON.parse = function () { if (fault.armed) { fault.armed = false; throw new Error("JSON.parse"); } return o.apply(this, arguments); };',
      'Map.prototype.set': 'const o = Map.prototype.set; Map.prototype.set = function () { if (fault.armed) { fault.armed = false; throw new Error("Map.set"); } return o.apply(this, arguments); };',
      'fetch answers undefined': 'const o = fetch; window.fetch = function () { if (fault.armed) { fault.armed = false; return undefined; } return o.apply(this, arguments); };',
      'fetch answers a plain object': 'const o = fetch; window.fetch = function () { if (fault.armed) { fault.armed = false; return Promise.resolve({ ok: true, status: 200 }); } return o.apply(this, arguments); };',
    };
    for (const [i, [name, patch]] of Object.entries(FAULTS).entries()) {
      const context = await newContext(env.browser, t);
      const page = await openPage(context, `${collector.url}/index.html`);
      const userId = `fault-user-${i}`;
      await initSegflow(page, { writeKey: 'fault-once', apiHost: collector.apiHost, flushInterval: 50 });
      const r = await page.evaluate(async ({ patch, userId }) => {
        const thrown = [];
        const attempt = (what, f) => { try { return f(); } catch (e) { thrown.push(`${what}: ${e && e.code}: ${e && e.message}`); } };
        window.fault = { armed: false };
        (0, eval)(patch);
        attempt('identify', () => window.segflow.identify(userId));
        await window.segflow.flush();
        window.fault.armed = true;
        attempt('track during', () => window.segflow.track('during'));
        await new Promise((r) => setTimeout(r, 100));
        window.fault.armed = false;
        attempt('track after', () => window.segflow.track('after'));
        attempt('user', () => window.segflow.user());
        const flushed = await Promise.race([
          (async () => { for (;;) { const f = await window.segflow.flush(); if (f.pending === 0) return f; await new Promise((r) => setTimeout(r, 100)); } })(),
          new Promise((r) => setTimeout(() => r('flush did not settle within 15 s'), 15_000)),
        ]);
        return { thrown, flushed };
      }, { patch, userId });
      assert.deepEqual(r.thrown, [], `${name}: calls threw`);
      assert.deepEqual(r.flushed, { pending: 0 }, name);
      const events = await collector.waitForEvents({ writeKey: 'fault-once', userId }, 3);
      assert.deepEqual(events.filter((e) => e.type === 'track').map((e) => e.event).sort(), ['after', 'during'], name);
      assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), [], name);
      await context.close();
    }
    await assertNoDuplicates(collector);
  });
});
