// What segflow sends, compared field by field with what Segment's own browser SDK
// (analytics-next 1.84.3) sent for the same calls on the same kind of page
// (tests/fixtures/analytics-next-1.84.3/*.json, recorded on
// http://127.0.0.1:<port>/index.html?utm_source=bench titled "anchor", locale en-US,
// time zone UTC).
//
// Fields analytics-next sends that segflow does not, by design:
// - `writeKey` in every message: segflow sends it once per request, at the top of the
//   batch body (with `basicAuth: true` also in an Authorization header), which Segment accepts.
// - `_metadata` ({bundled, unbundled, bundledIds}): describes analytics.js's
//   device-mode plugins; segflow has none.
// - `sentAt` in every message: segflow stamps it once per request on the batch, which
//   Segment (and the collector) apply to every message of the batch.
// - analytics-next posts each call to its own endpoint (/v1/i, /v1/g, /v1/p, /v1/t);
//   segflow always posts batches to /v1/batch.
// Everything else must match in meaning; `context.library` differs on purpose.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  PKG_DIR, ROOT, flush, initSegflow, newContext, openPage, startCollector, useBrowser, waitReady,
} from './harness.mjs';

const FIXTURES = join(ROOT, 'tests/fixtures/analytics-next-1.84.3');
const fixture = (name) => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));
const ANALYTICS_NEXT_ONLY = ['_metadata', 'sentAt', 'writeKey'];
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const PKG_VERSION = JSON.parse(readFileSync(join(PKG_DIR, 'package.json'), 'utf8')).version;

/** The fixture's page object with the recording's origin replaced by `origin`. */
function pageFor(fixturePage, origin) {
  return { ...fixturePage, url: fixturePage.url.replace(/^http:\/\/127\.0\.0\.1:\d+/, origin) };
}

describe('messages match analytics-next', () => {
  const env = useBrowser();

  it('identify, group, page and track carry what analytics-next sends', { timeout: 60_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['WK'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html?utm_source=bench`);

    // The raw requests, to check what the client itself wrote (the collector
    // rewrites timestamps and drops per-message write keys).
    const requests = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${collector.url}/v1/`)) {
        requests.push({ url: r.url(), method: r.method(), headers: r.headers(), body: r.postData() });
      }
    });

    await initSegflow(page, { writeKey: 'WK', apiHost: collector.apiHost });
    const startedAt = Date.now();
    await page.evaluate(() => {
      window.segflow.identify('user-42', { email: 'a@example.com', plan: 'pro' });
      window.segflow.group('company-7', { name: 'Acme' });
      window.segflow.page();
      window.segflow.track('Flow Started', { flow_id: 'f1', i: 0 });
    });
    await flush(page);
    const browserFacts = await page.evaluate(() => ({
      userAgent: navigator.userAgent,
      userAgentData: navigator.userAgentData
        ? { brands: navigator.userAgentData.brands, mobile: navigator.userAgentData.mobile, platform: navigator.userAgentData.platform }
        : undefined,
      locale: navigator.language,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      anonymousId: window.segflow.user().anonymousId,
    }));

    // --- the requests -------------------------------------------------------------
    assert.ok(requests.length >= 1, 'at least one request was sent');
    const sent = [];
    for (const req of requests) {
      assert.equal(req.method, 'POST');
      assert.equal(new URL(req.url).pathname, '/v1/batch');
      assert.equal(req.headers.authorization, undefined,
        'no Authorization header: the write key is in the body, as analytics-next sends it, so no CORS preflight');
      assert.match(req.headers['content-type'], /^text\/plain/, 'text/plain like analytics-next (a CORS-simple request)');
      const body = JSON.parse(req.body);
      assert.deepEqual(Object.keys(body).sort(), ['batch', 'sentAt', 'writeKey']);
      assert.equal(body.writeKey, 'WK');
      assert.match(body.sentAt, ISO_MS, 'sentAt is ISO-8601 UTC with milliseconds');
      for (const m of body.batch) {
        assert.ok(Date.parse(body.sentAt) >= Date.parse(m.timestamp), 'sentAt is stamped at send time, after the call');
        sent.push(m);
      }
    }
    assert.deepEqual(sent.map((m) => m.type), ['identify', 'group', 'page', 'track'], 'calls are sent in order');

    // --- each message against its fixture ---------------------------------------
    const stored = await collector.events({ writeKey: 'WK' });
    assert.equal(stored.length, 4, 'the collector stored the 4 messages');
    const origin = collector.url;
    const expectedLibrary = { name: 'segflow', version: PKG_VERSION };

    for (const [i, name] of ['identify', 'group', 'page', 'track'].entries()) {
      const fx = fixture(name).body;
      const raw = sent[i];
      const got = stored.find((e) => e.messageId === raw.messageId);
      assert.ok(got, `${name}: stored under the messageId the client sent`);

      // Same top-level fields as analytics-next, minus the ones listed at the top.
      const fxKeys = Object.keys(fx).filter((k) => !ANALYTICS_NEXT_ONLY.includes(k)).sort();
      assert.deepEqual(Object.keys(raw).sort(), fxKeys, `${name}: top-level fields`);
      for (const k of ANALYTICS_NEXT_ONLY) assert.ok(k in fx, `fixture ${name} has ${k} (list above is accurate)`);

      // Identity and call fields.
      assert.equal(raw.type, fx.type);
      assert.equal(got.type, fx.type);
      assert.equal(got.userId, fx.userId, `${name}: userId`);
      assert.match(got.anonymousId, UUID_V4, `${name}: anonymousId is a uuid v4 like analytics-next's`);
      assert.match(fx.anonymousId, UUID_V4);
      assert.equal(got.anonymousId, browserFacts.anonymousId, `${name}: anonymousId is the page's`);
      assert.deepEqual(got.integrations, fx.integrations, `${name}: integrations`);
      for (const k of ['event', 'traits', 'groupId', 'properties']) {
        if (k in fx) {
          const want = k === 'properties' && name === 'page' ? pageFor(fx.properties, origin) : fx[k];
          assert.deepEqual(got[k], want, `${name}: ${k}`);
        } else {
          assert.ok(!(k in got), `${name}: no ${k} (analytics-next sends none)`);
        }
      }

      // messageId and timestamps.
      assert.match(raw.messageId, /^segflow-\d{13}-[0-9a-f-]{36}$/, `${name}: messageId segflow-<ms>-<uuid>`);
      assert.match(fx.messageId, /^ajs-next-\d{13}-[0-9a-f-]{36}$/);
      assert.ok(raw.messageId.length < 100, 'messageId under 100 characters');
      assert.match(raw.timestamp, ISO_MS, `${name}: timestamp is ISO-8601 UTC with milliseconds`);
      assert.match(fx.timestamp, ISO_MS);
      const ts = Date.parse(raw.timestamp);
      assert.ok(ts >= startedAt - 1000 && ts <= Date.now() + 1000, `${name}: timestamp is the call time`);
      assert.equal(Number(raw.messageId.split('-')[1]), ts, `${name}: messageId carries the call time`);
      assert.equal(got.originalTimestamp, raw.timestamp, `${name}: the collector kept the client timestamp`);
      assert.match(got.sentAt, ISO_MS);

      // Context, field by field.
      const ctx = got.context;
      const fctx = fx.context;
      assert.deepEqual(ctx.page, pageFor(fctx.page, origin), `${name}: context.page`);
      assert.deepEqual(ctx.campaign, fctx.campaign, `${name}: context.campaign`);
      assert.equal(ctx.locale, fctx.locale, `${name}: context.locale`);
      assert.equal(ctx.locale, browserFacts.locale);
      assert.equal(ctx.timezone, fctx.timezone, `${name}: context.timezone`);
      assert.equal(ctx.timezone, browserFacts.timezone);
      assert.equal(ctx.userAgent, browserFacts.userAgent, `${name}: context.userAgent`);
      assert.match(ctx.userAgent, /HeadlessChrome\/\d+/);
      assert.ok(ctx.userAgentData, `${name}: context.userAgentData present`);
      assert.deepEqual(Object.keys(ctx.userAgentData).sort(), Object.keys(fctx.userAgentData).sort());
      assert.deepEqual(ctx.userAgentData, browserFacts.userAgentData, `${name}: context.userAgentData`);
      assert.deepEqual(ctx.library, expectedLibrary, `${name}: context.library is segflow's`);
      assert.equal(fctx.library.name, 'analytics.js');
      const ctxKeys = Object.keys(raw.context).sort();
      assert.deepEqual(ctxKeys, Object.keys(fctx).sort(), `${name}: the same context fields`);
      assert.equal(ctx.ip, '127.0.0.1', 'context.ip is filled by the server, as Segment does');
    }
  });

  it('context.campaign maps every utm_* parameter like analytics.js', { timeout: 30_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['WK'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    const search = '?utm_source=news%20letter&utm_medium=email&utm_campaign=spring+sale&utm_term=a%26b&utm_content=hero&other=1';
    const page = await openPage(context, `${collector.url}/index.html${search}#frag`);
    await initSegflow(page, { writeKey: 'WK', apiHost: collector.apiHost });
    await page.evaluate(() => window.segflow.track('Campaign Seen'));
    await flush(page);
    const [event] = await collector.events({ writeKey: 'WK' });
    assert.deepEqual(event.context.campaign, {
      source: 'news letter', medium: 'email', name: 'spring sale', term: 'a&b', content: 'hero',
    });
    assert.equal(event.context.page.search, search, 'search keeps the raw query, without the fragment');
    assert.equal(event.context.page.path, '/index.html');
    assert.deepEqual(event.properties, {}, 'track() without properties sends {}');
  });

  it('urlFilter rewrites the page URL and referrer before they leave the browser', { timeout: 30_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['WK'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    await page.goto(`${collector.url}/index.html?token=secret1#x`);
    // Navigate by a link so that the next page has a referrer holding a secret too.
    await page.evaluate(() => { location.href = '/index.html?token=secret2&utm_source=mail'; });
    await page.waitForURL(/secret2/);
    await waitReady(page);
    await initSegflow(page, {
      writeKey: 'WK',
      apiHost: collector.apiHost,
      urlFilterSource: String((url) => url.replace(/token=[^&#]*/, 'token=REDACTED')),
    });
    await page.evaluate(() => { window.segflow.page('Filtered'); window.segflow.track('Filtered Event'); });
    await flush(page);
    const events = await collector.events({ writeKey: 'WK' });
    assert.equal(events.length, 2);
    const text = JSON.stringify(events);
    assert.ok(!text.includes('secret'), `no secret leaves the browser: ${text.slice(0, 300)}`);
    const pageEvent = events.find((e) => e.type === 'page');
    assert.equal(pageEvent.context.page.url, `${collector.url}/index.html?token=REDACTED&utm_source=mail`);
    assert.equal(pageEvent.context.page.referrer, `${collector.url}/index.html?token=REDACTED`);
    assert.equal(pageEvent.properties.url, pageEvent.context.page.url);
    assert.equal(pageEvent.properties.name, 'Filtered');
    assert.equal(pageEvent.name, 'Filtered');
    assert.equal(pageEvent.properties.search, '?token=REDACTED&utm_source=mail');
  });

  it('a urlFilter that returns no string (a forgotten return) fails closed, as one that throws: only the origin is sent, with a warning', { timeout: 30_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['WK'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    await page.goto(`${collector.url}/index.html?token=secret1`);
    await waitReady(page);
    await initSegflow(page, {
      writeKey: 'WK',
      apiHost: collector.apiHost,
      // eslint-disable-next-line no-unused-expressions
      urlFilterSource: String((url) => { url.replace(/token=[^&#]*/, 'token=REDACTED'); }),
    });
    await page.evaluate(() => { window.segflow.page('Unfiltered'); window.segflow.track('Unfiltered Event'); });
    await flush(page);
    const events = await collector.events({ writeKey: 'WK' });
    assert.equal(events.length, 2);
    const text = JSON.stringify(events);
    assert.ok(!text.includes('secret'), `no secret leaves the browser: ${text.slice(0, 400)}`);
    const pageEvent = events.find((e) => e.type === 'page');
    assert.equal(pageEvent.context.page.url, `${collector.url}/`);
    assert.ok(warnings.some((w) => w.startsWith('segflow: urlFilter')), warnings.join('\n'));
  });

  it('a canonical link overrides context.page.url and path, as in analytics.js', { timeout: 30_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['WK'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html?utm_source=canon`);
    await page.evaluate(() => {
      const link = document.createElement('link');
      link.rel = 'canonical';
      link.href = '/docs/getting-started'; // relative: resolved against the page
      document.head.append(link);
    });
    await initSegflow(page, { writeKey: 'WK', apiHost: collector.apiHost });
    await page.evaluate(() => window.segflow.page('Docs'));
    await flush(page);
    const [event] = await collector.events({ writeKey: 'WK' });
    assert.equal(event.context.page.url, `${collector.url}/docs/getting-started?utm_source=canon`);
    assert.equal(event.context.page.path, '/docs/getting-started');
    assert.equal(event.context.page.search, '?utm_source=canon');
    assert.equal(event.properties.url, event.context.page.url);
    assert.deepEqual(event.context.campaign, { source: 'canon' });
  });
});
