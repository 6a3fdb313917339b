// Regression tests for delivery, storage and flow defects (each of them fails on the
// build before the fixes, and passes once the SDK behaves as README.md specifies):
//
// - request deadline: a batch POST that never gets an answer is aborted after
//   `requestTimeout` (default 10 s), counted as a network error and retried; before,
//   one hung request stopped delivery for the rest of the page's life.
// - `stream: false` on a later page load (same tab after a reload, or another tab
//   after the first closed) leaves the stored events of earlier loads in localStorage,
//   unsent, until `setStreaming(true)` sends each once; before, they were deleted.
// - a long outage drops nothing on attempt count (before: `max_attempts` after 10
//   attempts, i.e. about 3 minutes); only events older than `maxEventAgeDays`
//   (default 7, fractional allowed) are dropped, with reason `expired`.
// - stored events keep their first-queued time and attempt count across reloads: the
//   age limit counts from the first queueing, and the backoff continues from the
//   stored attempt count (after 9 stored failures the next wait is ~60 s, not 0.5 s).
// - batches are CORS-simple by default (`text/plain`, write key in the body, no
//   Authorization header), so a cross-origin page causes no preflight;
//   `basicAuth: true` brings the `Authorization: Basic` header back.
// - flow progress keys are namespaced like queue keys
//   (`segflow:v1:[<environment>:]<writeKey>:flows:{u|a}:<id>`), so two write keys or
//   two environments on one origin do not share progress.
// - `alias(newId)` switches the flow engine to the new user id's progress key.
// - a `urlFilter` may call segflow (`user()`, `isIdentified()`) without getting a
//   re-entrancy error.
// - the collector counts no duplicates in any of these tests (no page is unloaded
//   with requests to the collector in flight).
//
// Long waits (retries over minutes, event ages over days) use Playwright's fake clock
// (`context.clock`), installed before the page loads: it fakes Date.now and the timers
// the SDK arms. Real network requests still go out; a loopback port nothing listens
// on (`closedPort`) gives immediate connection-refused network errors.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';

import {
  closedPort, flush, gotoReady, indexesOf, initSegflow, localStorageOf, newContext, openPage,
  queuedEvents, queuedKeys, segflowEvents, sleep, startCollector, startPageServer, trackMany,
  useBrowser, waitFor,
} from './harness.mjs';
import { NEXT, boot, clickButton, content, flow, flowTrace, modal, openFlows, shown, ui } from './flows-helpers.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Starts a collector for one test, stopped when the test ends. */
async function collectorFor(t, options) {
  const collector = await startCollector(options);
  t.after(() => collector.stop());
  return collector;
}

/** A cross-origin page server for one test. */
async function pageServerFor(t) {
  const site = await startPageServer();
  t.after(() => site.close());
  return site;
}

/** `http://127.0.0.1:<closed port>/v1`: every request fails with connection refused. */
async function deadApiHost() {
  return `http://127.0.0.1:${await closedPort()}/v1`;
}

/** Asserts that `events` hold each index 0..n-1 exactly once, with distinct messageIds. */
function assertExactlyOnce(events, n, what) {
  assert.equal(events.length, n, `${what}: ${n} rows stored (got ${events.length})`);
  assert.deepEqual(indexesOf(events), range(n), `${what}: each event once`);
  assert.equal(new Set(events.map((e) => e.messageId)).size, n, `${what}: distinct messageIds`);
}

/**
 * In `page` (a later load), `init({stream: false})`: the `stored` events of `whose`
 * stay in localStorage, unsent; after `setStreaming(true)` each goes out once, with
 * its stored messageId, and leaves storage. (Another tab's events are adopted 10 s
 * after it left, at a heartbeat: up to 20 s.)
 */
async function keptWhileOffThenSentOnce(page, collector, writeKey, stored, whose) {
  await initSegflow(page, { writeKey, apiHost: collector.apiHost, stream: false });
  await sleep(1500); // longer than flushInterval
  assert.deepEqual(new Set(await queuedEvents(page)), new Set(stored),
    `the events of ${whose} are still in localStorage while streaming is off`);
  assert.equal((await collector.events({ writeKey })).length, 0, 'nothing sent while streaming is off');

  await page.evaluate(() => window.segflow.setStreaming(true));
  const events = await collector.waitForEvents({ writeKey }, 10, { timeout: 20_000 });
  await flush(page);
  await sleep(300);
  assertExactlyOnce(await collector.events({ writeKey }), 10, 'after setStreaming(true)');
  assert.deepEqual(new Set(events.map((e) => e.messageId)), new Set(stored), 'with their stored messageIds');
  await waitFor(async () => (await queuedKeys(page)).length === 0, { timeout: 5_000, message: 'stored events removed once delivered' });
  await assertNoDuplicates(collector);
}

async function assertNoDuplicates(collector) {
  const stats = await collector.stats();
  assert.equal(stats.duplicates, 0, `the collector saw no duplicate messageId (stats: ${JSON.stringify(stats)})`);
}

/**
 * A tiny Segment-like API on 127.0.0.1 (own port, so pages talk to it cross-origin):
 * `POST /v1/batch` answers 200 `{"success":true}` and records the body, except the
 * first `hang` POSTs, which are read but never answered. `OPTIONS` answers the CORS
 * preflight (no Access-Control-Max-Age: every preflight reaches the server) and is
 * counted. Every POST's arrival time and headers are kept.
 */
async function startFakeApi(t, { hang = 0 } = {}) {
  const api = {
    options: 0,
    /** Every POST /v1/batch, in arrival order: {at, headers, body, hung}. */
    posts: [],
    /** The parsed bodies of the answered POSTs. */
    accepted: [],
    /** The messages of the answered POSTs, in order. */
    messages() { return api.accepted.flatMap((b) => b.batch ?? []); },
  };
  const open = new Set();
  const server = createServer((req, res) => {
    const cors = {
      'access-control-allow-origin': req.headers.origin || '*',
      'access-control-allow-methods': 'POST, GET, OPTIONS',
      'access-control-allow-headers': req.headers['access-control-request-headers'] || 'Authorization, Content-Type',
      'access-control-expose-headers': 'Retry-After',
    };
    const path = new URL(req.url, 'http://x').pathname;
    if (req.method === 'OPTIONS') {
      api.options++;
      res.writeHead(204, cors).end();
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/batch') {
      res.writeHead(404, cors).end();
      return;
    }
    const at = Date.now();
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { text += c; });
    req.on('end', () => {
      let body = null;
      try { body = JSON.parse(text); } catch { /* recorded as null */ }
      const hung = api.posts.length < hang;
      api.posts.push({ at, headers: req.headers, body, hung });
      if (hung) return; // never answered; the connection stays open
      api.accepted.push(body);
      res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end('{"success":true}');
    });
  });
  server.on('connection', (s) => { open.add(s); s.on('close', () => open.delete(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  api.url = `http://127.0.0.1:${server.address().port}`;
  api.apiHost = `${api.url}/v1`;
  t.after(() => new Promise((r) => {
    for (const s of open) s.destroy();
    server.close(() => r());
  }));
  return api;
}

/** Counts the page's batch POSTs to `apiHost`: `sent` (requests) and `failed`. */
function countPosts(page, apiHost) {
  const counts = { sent: 0, failed: 0 };
  const isBatch = (r) => r.method() === 'POST' && r.url() === `${apiHost}/batch`;
  page.on('request', (r) => { if (isBatch(r)) counts.sent++; });
  page.on('requestfailed', (r) => { if (isBatch(r)) counts.failed++; });
  return counts;
}

/**
 * With the fake clock: jumps `step` ms ahead (firing the due retry timer) and waits
 * (real time) until the resulting attempt has failed, `times` times. Returns the
 * number of failures seen.
 */
/**
 * An outage under the fake clock: a collector, a page whose apiHost is a dead host,
 * `init(options)`, `count` events tracked and their first failed attempt. Returns
 * what the tests go on with (`queuedAt`: the page clock when they were tracked).
 */
async function outage(t, env, options, count) {
  const collector = await collectorFor(t, { writeKeys: [options.writeKey] });
  const deadHost = await deadApiHost();
  const context = await newContext(env.browser, t);
  await context.clock.install();
  const url = `${collector.url}/index.html`;
  const page = await openPage(context, url);
  const counts = countPosts(page, deadHost);
  const init = { apiHost: deadHost, flushAt: count, ...options };
  await initSegflow(page, init);
  const queuedAt = await page.evaluate(() => Date.now());
  await trackMany(page, 'Outage', 0, count);
  await waitFor(() => counts.failed >= 1, { timeout: 5_000, message: 'the first failed attempt' });
  return { collector, context, url, page, counts, init, queuedAt };
}

async function failRepeatedly(page, counts, { times, step = 70_000 }) {
  for (let i = 0; i < times; i++) {
    const before = counts.failed;
    await page.clock.fastForward(step);
    const dropped = await waitFor(async () => {
      if (counts.failed > before) return 'retried';
      const seen = await segflowEvents(page);
      return seen.dropped.length ? seen.dropped : false;
    }, { timeout: 5_000, interval: 20, message: `attempt ${i + 1} of ${times} after a ${step} ms jump` });
    // No further attempt because the events were dropped: the caller's assertions say why.
    if (dropped !== 'retried') break;
  }
  await sleep(100); // let the page handle the last failure
  return counts.failed;
}

/** The `dropped` events the page saw, as `reason:count` strings. */
async function droppedSummary(page) {
  return (await segflowEvents(page)).dropped.map((d) => `${d.reason}:${d.count}`);
}

describe('regressions', () => {
  const env = useBrowser();

  // 1. Request deadline.

  it('a batch request that never gets an answer is aborted after requestTimeout and retried', { timeout: 30_000 }, async (t) => {
    const api = await startFakeApi(t, { hang: 1 });
    const site = await pageServerFor(t);
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${site.url}/index.html`);
    await initSegflow(page, { writeKey: 'deadline-key', apiHost: api.apiHost, flushAt: 1, requestTimeout: 1000 });
    await trackMany(page, 'Deadline', 0, 20);

    const started = Date.now();
    await waitFor(() => api.messages().length >= 20, { timeout: 8_000, message: 'all 20 events at the API despite the first request hanging' })
      .catch((e) => { e.message += ` (posts: ${api.posts.length}, answered: ${api.accepted.length}, messages: ${api.messages().length})`; throw e; });
    t.diagnostic(`20 events delivered ${Date.now() - started} ms after tracking, in ${api.posts.length} POSTs`);
    assert.equal(api.posts[0].hung, true, 'the first POST was the hung one');
    const ids = api.messages().map((m) => m.messageId);
    assert.equal(ids.length, 20, `each event once among the answered requests (got ${ids.length})`);
    assert.equal(new Set(ids).size, 20, 'distinct messageIds');
    assert.deepEqual(api.messages().map((m) => m.properties.i).sort((a, b) => a - b), range(20));
    // The hung request's events were retried with their messageIds.
    const hungIds = (api.posts[0].body?.batch ?? []).map((m) => m.messageId);
    assert.ok(hungIds.length >= 1 && hungIds.every((id) => ids.includes(id)), 'the hung request\'s events were resent');
    // Not aborted before its deadline: the next POST came after requestTimeout plus the first backoff.
    const gap = api.posts[1].at - api.posts[0].at;
    assert.ok(gap >= 900, `the retry came ${gap} ms after the hung request (expected >= requestTimeout 1000 ms)`);
    await flush(page, { timeout: 10_000 });
    const seen = await segflowEvents(page);
    assert.deepEqual(seen.dropped, [], 'nothing dropped');
    assert.equal(seen.delivered.flatMap((d) => d.messageIds).length, 20, 'each event reported delivered once');
    assert.deepEqual(await queuedKeys(page), [], 'nothing left in localStorage');
  });

  it('the default request deadline is 10 s, driven by the page\'s timers (fake clock)', { timeout: 30_000 }, async (t) => {
    const api = await startFakeApi(t, { hang: 1 });
    const site = await pageServerFor(t);
    const context = await newContext(env.browser, t);
    await context.clock.install();
    const page = await openPage(context, `${site.url}/index.html`);
    await initSegflow(page, { writeKey: 'deadline-default-key', apiHost: api.apiHost, flushAt: 1 });
    await trackMany(page, 'Deadline Default', 0, 3);
    await waitFor(() => api.posts.length >= 1, { timeout: 5_000, message: 'the first POST' });

    await page.clock.runFor(8_500);
    await sleep(300);
    assert.equal(api.posts.length, 1, 'no second request before the 10 s deadline');
    // Past the deadline: aborted, then retried after the backoff (0.5 s ± 10%).
    await page.clock.runFor(2_000);
    for (let i = 0; i < 10 && api.messages().length < 3; i++) {
      await sleep(100);
      await page.clock.runFor(1_000);
    }
    await waitFor(() => api.messages().length >= 3, { timeout: 3_000, message: '3 events at the API after the 10 s deadline' })
      .catch((e) => { e.message += ` (posts: ${api.posts.length}, messages: ${api.messages().length})`; throw e; });
    assert.deepEqual(api.messages().map((m) => m.properties.i).sort(), [0, 1, 2]);
  });

  // 2. Streaming off on a later page load.

  it('init({stream: false}) after a reload keeps the stored events, unsent, until setStreaming(true)', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['stream-reload-key'] });
    const deadHost = await deadApiHost();
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    const counts = countPosts(page, deadHost);
    await initSegflow(page, { writeKey: 'stream-reload-key', apiHost: deadHost, flushAt: 10 });
    await trackMany(page, 'Kept While Off', 0, 10);
    await waitFor(() => counts.failed >= 1, { timeout: 10_000, message: 'a failed attempt' });
    const stored = await queuedEvents(page);
    assert.equal(stored.length, 10, 'the 10 events are stored');

    await gotoReady(page, `${collector.url}/index.html`);
    await keptWhileOffThenSentOnce(page, collector, 'stream-reload-key', stored, 'the previous load');
  });

  it('init({stream: false}) in a second tab keeps a closed tab\'s stored events until setStreaming(true)', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['stream-tab-key'] });
    const deadHost = await deadApiHost();
    const context = await newContext(env.browser, t);
    const first = await openPage(context, `${collector.url}/index.html`);
    const counts = countPosts(first, deadHost);
    await initSegflow(first, { writeKey: 'stream-tab-key', apiHost: deadHost, flushAt: 10 });
    await trackMany(first, 'Closed Tab', 0, 10);
    await waitFor(() => counts.failed >= 1, { timeout: 10_000, message: 'a failed attempt' });
    const stored = await queuedEvents(first);
    assert.equal(stored.length, 10, 'the 10 events are stored');
    await first.close({ runBeforeUnload: true });

    const second = await openPage(context, `${collector.url}/index.html`);
    await keptWhileOffThenSentOnce(second, collector, 'stream-tab-key', stored, 'the closed tab');
  });

  // 3. Long outages: no drop on attempt count; drop on age.

  it('a 15-minute outage drops nothing; the events wait in storage and go out after a reload (fake clock)', { timeout: 60_000 }, async (t) => {
    const { collector, page, counts } = await outage(t, env, { writeKey: 'outage-key' }, 5);
    const stored = await queuedEvents(page);
    assert.equal(stored.length, 5);

    // 14 jumps of 70 s (longer than the 60 s backoff cap + 10%): 15 failed attempts
    // over about 16 minutes of page time.
    const failures = await failRepeatedly(page, counts, { times: 14 });
    t.diagnostic(`${failures} failed attempts`);
    assert.deepEqual(await droppedSummary(page), [], `no event dropped during the outage (after ${failures} failed attempts)`);
    assert.ok(failures >= 12, `at least 12 failed attempts (got ${failures})`);
    assert.deepEqual(new Set(await queuedEvents(page)), new Set(stored), 'the events are still stored');

    await gotoReady(page, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: 'outage-key', apiHost: collector.apiHost });
    await collector.waitForEvents({ writeKey: 'outage-key' }, 5, { timeout: 10_000 });
    await flush(page);
    await sleep(300);
    assertExactlyOnce(await collector.events({ writeKey: 'outage-key' }), 5, 'after the outage');
    await waitFor(async () => (await queuedKeys(page)).length === 0, { timeout: 5_000, message: 'stored events removed once delivered' });
    await assertNoDuplicates(collector);
  });

  it('events older than maxEventAgeDays (default 7 days) are dropped with reason "expired" (fake clock)', { timeout: 60_000 }, async (t) => {
    const { collector, page, counts } = await outage(t, env, { writeKey: 'expiry-key' }, 5);
    const stored = await queuedEvents(page);
    assert.equal(stored.length, 5);

    // 6 days later (and a few attempts more): still kept.
    await failRepeatedly(page, counts, { times: 1, step: 6 * DAY });
    await failRepeatedly(page, counts, { times: 1 });
    assert.deepEqual(await droppedSummary(page), [], 'nothing dropped at 6 days');
    assert.deepEqual(new Set(await queuedEvents(page)), new Set(stored), 'still stored at 6 days');

    // Past 7 days: dropped as expired at the next attempt (or before it).
    await page.clock.fastForward(1.5 * DAY);
    for (let i = 0; i < 3 && (await segflowEvents(page)).dropped.length === 0; i++) {
      await sleep(200);
      await page.clock.fastForward(70_000);
    }
    await waitFor(async () => (await segflowEvents(page)).dropped.length > 0, { timeout: 3_000, message: 'a dropped event after 7.5 days' })
      .catch((e) => { throw new Error(`no dropped event with reason "expired" after 7.5 days (${counts.failed} failed attempts): ${e.message}`); });
    const { dropped } = await segflowEvents(page);
    assert.deepEqual(dropped.map((d) => d.reason), dropped.map(() => 'expired'), `reason "expired": ${JSON.stringify(dropped)}`);
    assert.deepEqual(new Set(dropped.flatMap((d) => d.messageIds)), new Set(stored), 'the 5 events were dropped');
    assert.equal(dropped.reduce((n, d) => n + d.count, 0), 5);
    assert.deepEqual(await queuedEvents(page), [], 'expired events are removed from storage');
    assert.equal((await collector.events({ writeKey: 'expiry-key' })).length, 0);
  });

  it('a fractional maxEventAgeDays (0.25 = 6 h) expires events after 6 h, not before (fake clock)', { timeout: 60_000 }, async (t) => {
    const { collector, page, counts } = await outage(t, env, { writeKey: 'expiry-frac-key', maxEventAgeDays: 0.25 }, 3);
    const stored = await queuedEvents(page);
    assert.equal(stored.length, 3);

    await failRepeatedly(page, counts, { times: 1, step: 5 * HOUR });
    assert.deepEqual(await droppedSummary(page), [], 'nothing dropped at 5 h');
    assert.equal((await queuedEvents(page)).length, 3, 'still stored at 5 h');

    await page.clock.fastForward(2 * HOUR);
    for (let i = 0; i < 3 && (await segflowEvents(page)).dropped.length === 0; i++) {
      await sleep(200);
      await page.clock.fastForward(70_000);
    }
    await waitFor(async () => (await segflowEvents(page)).dropped.length > 0, { timeout: 3_000, message: 'a dropped event after 7 h' })
      .catch((e) => { throw new Error(`no dropped event with reason "expired" after 7 h with maxEventAgeDays 0.25 (${counts.failed} failed attempts): ${e.message}`); });
    const { dropped } = await segflowEvents(page);
    assert.deepEqual(dropped.map((d) => d.reason), dropped.map(() => 'expired'), `reason "expired": ${JSON.stringify(dropped)}`);
    assert.deepEqual(new Set(dropped.flatMap((d) => d.messageIds)), new Set(stored));
    assert.deepEqual(await queuedEvents(page), [], 'expired events are removed from storage');
  });

  // 4. First-queued time and attempt count survive reloads.

  it('the age limit counts from the first queueing, across reloads (fake clock)', { timeout: 60_000 }, async (t) => {
    const { collector, context, url, page, counts, init: options, queuedAt } = await outage(t, env, { writeKey: 'age-reload-key', maxEventAgeDays: 7 }, 4);
    const stored = await queuedEvents(page);
    assert.equal(stored.length, 4);

    // Reload at T+5 days (the time jumps while no segflow page is open).
    await page.goto('about:blank');
    await context.clock.setSystemTime(queuedAt + 5 * DAY);
    await sleep(300); // a keepalive attempt may go out on pagehide
    const failedBefore = counts.failed;
    await gotoReady(page, url);
    const now5 = await page.evaluate(() => Date.now());
    assert.ok(Math.abs(now5 - (queuedAt + 5 * DAY)) < MINUTE, `the page's clock is at T+5 days (off by ${now5 - queuedAt - 5 * DAY} ms)`);
    await initSegflow(page, options);
    await waitFor(() => counts.failed > failedBefore, { timeout: 5_000, message: 'a failed attempt after the first reload' });
    await sleep(300);
    assert.deepEqual(await droppedSummary(page), [], 'not expired at 5 days');
    assert.deepEqual(new Set(await queuedEvents(page)), new Set(stored), 'still stored at 5 days');

    // Reload at T+7.5 days: 7.5 days since first queued, 2.5 since the last load.
    await page.goto('about:blank');
    await context.clock.setSystemTime(queuedAt + 7.5 * DAY);
    await gotoReady(page, url);
    const now75 = await page.evaluate(() => Date.now());
    assert.ok(Math.abs(now75 - (queuedAt + 7.5 * DAY)) < MINUTE, `the page's clock is at T+7.5 days (off by ${now75 - queuedAt - 7.5 * DAY} ms)`);
    await initSegflow(page, options);
    await waitFor(async () => (await segflowEvents(page)).dropped.length > 0, { timeout: 8_000, message: 'a dropped event' })
      .catch((e) => {
        throw new Error(`events first queued 7.5 days ago (maxEventAgeDays 7) were not dropped as "expired" after a reload: ${e.message}`);
      });
    const { dropped } = await segflowEvents(page);
    assert.deepEqual(dropped.map((d) => d.reason), dropped.map(() => 'expired'), `reason "expired": ${JSON.stringify(dropped)}`);
    assert.deepEqual(new Set(dropped.flatMap((d) => d.messageIds)), new Set(stored), 'the 4 stored events were dropped');
    assert.deepEqual(await queuedEvents(page), [], 'expired events are removed from storage');
    assert.equal((await collector.events({ writeKey: 'age-reload-key' })).length, 0);
  });

  it('the stored attempt count survives a reload: after 9 failures the next retry waits ~60 s, not 0.5 s (fake clock)', { timeout: 60_000 }, async (t) => {
    const { collector, context, url, page, counts, init: options } = await outage(t, env, { writeKey: 'attempts-key' }, 5);
    await failRepeatedly(page, counts, { times: 8 });
    assert.equal(counts.failed, 9, '9 failed attempts before the reload');
    assert.deepEqual(await droppedSummary(page), []);
    const stored = await queuedEvents(page);
    assert.equal(stored.length, 5);

    // Leave (a keepalive attempt may go out on pagehide), then count from the new load.
    await page.goto('about:blank');
    await sleep(300);
    const before = { ...counts };
    await gotoReady(page, url);
    await initSegflow(page, options);
    // About 5 s of page time, in small steps, letting each failure come back.
    for (let i = 0; i < 10; i++) {
      await page.clock.runFor(500);
      await sleep(80);
    }
    const sent = counts.sent - before.sent;
    t.diagnostic(`${sent} POSTs in the first ~5 s after the reload`);
    assert.ok(sent >= 1, 'the first attempt after the reload goes out at once');
    assert.equal(sent, 1, `after 9 stored failures the next retry waits ~60 s: ${sent} POSTs in the first ~5 s after the reload (expected 1; a reset attempt count gives 0.5 s, 1 s, 2 s backoffs)`);
    assert.deepEqual(await droppedSummary(page), [], 'nothing dropped');
    assert.deepEqual(new Set(await queuedEvents(page)), new Set(stored), 'still stored');
  });

  // 5. No CORS preflight by default.

  it('batches are CORS-simple (text/plain, write key in the body, no Authorization): 0 preflights per 1,000 events; basicAuth: true restores the header', { timeout: 60_000 }, async (t) => {
    const site = await pageServerFor(t);
    const api = await startFakeApi(t);
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${site.url}/index.html`);
    await initSegflow(page, { writeKey: 'simple-key', apiHost: api.apiHost });
    for (let burst = 0; burst < 10; burst++) {
      await trackMany(page, 'Simple', burst * 100, burst * 100 + 100);
      await flush(page, { timeout: 10_000 });
    }
    const ids = api.messages().map((m) => m.messageId);
    assert.equal(new Set(ids).size, 1000, `1,000 events delivered (got ${new Set(ids).size})`);
    t.diagnostic(`${api.posts.length} POSTs, ${api.options} OPTIONS`);
    assert.equal(api.options, 0, `${api.options} CORS preflight(s) for ${api.posts.length} batch POSTs of 1,000 events (expected 0)`);
    for (const post of api.posts) {
      assert.equal(post.headers.authorization, undefined, 'no Authorization header');
      assert.match(post.headers['content-type'] ?? '', /^text\/plain\b/, 'Content-Type: text/plain');
      assert.equal(post.body?.writeKey, 'simple-key', 'the write key is in the body');
    }

    // basicAuth: true sends the header again (and so is preflighted).
    const api2 = await startFakeApi(t);
    const context2 = await newContext(env.browser, t);
    const page2 = await openPage(context2, `${site.url}/index.html`);
    await initSegflow(page2, { writeKey: 'basic-key', apiHost: api2.apiHost, basicAuth: true });
    await trackMany(page2, 'Basic', 0, 20);
    await flush(page2, { timeout: 10_000 });
    assert.equal(api2.messages().length, 20);
    const expected = `Basic ${Buffer.from('basic-key:').toString('base64')}`;
    for (const post of api2.posts) assert.equal(post.headers.authorization, expected, 'Authorization: Basic base64(writeKey:)');
    assert.ok(api2.options >= 1, 'the Authorization header is preflighted');
  });

  // 6. Flow progress keys are namespaced.

  describe('flow progress', () => {
    const tour = content(flow('tour', [modal('s1'), modal('s2', [NEXT]), modal('s3')], { show_progress: true }));

    /** Starts `tour` and goes to its second step; returns the page's localStorage. */
    async function toSecondStep(page) {
      await page.evaluate(() => window.segflow.start('tour'));
      await shown(page, 's1');
      await clickButton(page, 'Next');
      await shown(page, 's2');
      await flush(page);
      return localStorageOf(page);
    }

    /** Reloads and boots segflow with `options`; returns whether the flow resumed. */
    async function reloadAndBoot(page, collector, options) {
      await page.reload();
      await page.waitForFunction(() => window.ready);
      await boot(page, collector, { content: tour, ...options });
      await sleep(500); // resuming happens one microtask after init
      const u = await ui(page);
      return { shown: u.shown ? u.stepId : null, trace: await flowTrace(page) };
    }

    const flowKeys = (ls) => Object.keys(ls).filter((k) => /(^|:)flows:/.test(k)).sort();

    it('another write key on the same origin does not resume the flow (keys segflow:v1:<writeKey>:flows:u:<id>)', { timeout: 30_000 }, async (t) => {
      const collector = await collectorFor(t);
      const { page } = await openFlows(env.browser, t, collector, { writeKey: 'ns-key-a', userId: 'u-ns', content: tour });
      const ls = await toSecondStep(page);

      const other = await reloadAndBoot(page, collector, { writeKey: 'ns-key-b', userId: 'u-ns' });
      assert.deepEqual(other, { shown: null, trace: [] },
        `the flow started under write key A must not resume under write key B (flow keys: ${JSON.stringify(flowKeys(ls))})`);
      await flush(page);

      const same = await reloadAndBoot(page, collector, { writeKey: 'ns-key-a', userId: 'u-ns' });
      assert.deepEqual(same, { shown: 's2', trace: ['flowStepSeen:s2'] }, 'it resumes under write key A');
      const stored = (await localStorageOf(page))['segflow:v1:ns-key-a:flows:u:u-ns'];
      assert.ok(stored, `progress stored under segflow:v1:ns-key-a:flows:u:u-ns (flow keys: ${JSON.stringify(flowKeys(ls))})`);
      assert.equal(JSON.parse(stored).run.step, 's2');
      assert.deepEqual(flowKeys(await localStorageOf(page)).filter((k) => k.startsWith('segflow:v1:flows:')), [], 'no un-namespaced flow keys');
      await flush(page);
      await assertNoDuplicates(collector);
    });

    it('another environment with the same write key does not resume the flow (keys segflow:v1:<env>:<writeKey>:flows:a:<anonymousId>)', { timeout: 30_000 }, async (t) => {
      const collector = await collectorFor(t);
      const writeKey = 'ns-env-key';
      const { page } = await openFlows(env.browser, t, collector, { writeKey, content: tour, init: { environment: 'production' } });
      const anonymousId = await page.evaluate(() => window.segflow.user().anonymousId);
      const ls = await toSecondStep(page);

      const other = await reloadAndBoot(page, collector, { writeKey, init: { environment: 'staging' } });
      assert.deepEqual(other, { shown: null, trace: [] },
        `the flow started in "production" must not resume in "staging" (flow keys: ${JSON.stringify(flowKeys(ls))})`);
      await flush(page);

      const same = await reloadAndBoot(page, collector, { writeKey, init: { environment: 'production' } });
      assert.deepEqual(same, { shown: 's2', trace: ['flowStepSeen:s2'] }, 'it resumes in "production"');
      const key = `segflow:v1:production:${writeKey}:flows:a:${anonymousId}`;
      const stored = (await localStorageOf(page))[key];
      assert.ok(stored, `progress stored under ${key} (flow keys: ${JSON.stringify(flowKeys(ls))})`);
      assert.equal(JSON.parse(stored).run.step, 's2');
      await flush(page);
      await assertNoDuplicates(collector);
    });

    // 7. alias tells the flow engine about the new user id.

    it('alias(newId) moves flow progress to the new user id: it resumes after a reload as that user', { timeout: 30_000 }, async (t) => {
      const collector = await collectorFor(t);
      const writeKey = 'alias-flow-key';
      const { page } = await openFlows(env.browser, t, collector, { writeKey, content: tour });
      await page.evaluate(() => window.segflow.alias('u-aliased'));
      const ls = await toSecondStep(page);
      const newKeys = flowKeys(ls).filter((k) => /(^|:)flows:u:u-aliased$/.test(k));
      assert.equal(newKeys.length, 1, `after alias, progress is stored under the new user id's key (flow keys: ${JSON.stringify(flowKeys(ls))})`);
      assert.equal(JSON.parse(ls[newKeys[0]]).run.step, 's2');

      const resumed = await reloadAndBoot(page, collector, { writeKey, userId: 'u-aliased' });
      assert.deepEqual(resumed, { shown: 's2', trace: ['flowStepSeen:s2'] }, 'resumes for identify(newId) after a reload');
      await flush(page);
      await assertNoDuplicates(collector);
    });
  });

  // 8. A urlFilter may call segflow.

  it('a urlFilter that calls segflow.user() and isIdentified() works (no re-entrancy error)', { timeout: 30_000 }, async (t) => {
    const collector = await collectorFor(t, { writeKeys: ['filter-key'] });
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html?token=secret-123&tab=2`);
    await page.evaluate(() => { window.filterCalls = []; });
    await initSegflow(page, {
      writeKey: 'filter-key',
      apiHost: collector.apiHost,
      urlFilterSource: String((url) => {
        const call = { url };
        try {
          const user = window.segflow.user();
          call.anonymousId = user.anonymousId;
          call.identified = window.segflow.isIdentified();
        } catch (e) {
          call.error = `${e.code}: ${e.message}`;
        }
        window.filterCalls.push(call);
        return url.replace(/token=[^&]*/, 'token=REDACTED');
      }),
    });
    await page.evaluate(() => window.segflow.track('Filtered', { i: 0 }));
    await flush(page);
    const calls = await page.evaluate(() => window.filterCalls);
    assert.ok(calls.length >= 1, 'the filter was called');
    const failed = calls.filter((c) => c.error);
    assert.deepEqual(failed.map((c) => c.error), [], 'segflow calls inside the urlFilter did not throw');
    const anonymousId = await page.evaluate(() => window.segflow.user().anonymousId);
    assert.ok(calls.some((c) => c.anonymousId === anonymousId && c.identified === false), `user() and isIdentified() answered inside the filter: ${JSON.stringify(calls)}`);

    const [event] = await collector.waitForEvents({ writeKey: 'filter-key', event: 'Filtered' }, 1);
    assert.equal(event.context.page.url, `${collector.url}/index.html?token=REDACTED&tab=2`, 'the filtered URL was sent');
    assert.equal(event.context.page.search, '?token=REDACTED&tab=2');
    assert.ok(!JSON.stringify(event).includes('secret-123'), 'the secret never left the page');
    await assertNoDuplicates(collector);
  });
});
