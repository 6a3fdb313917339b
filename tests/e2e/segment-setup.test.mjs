// The collector in production, end to end, as the README's "Segment setup" wires
// it: the browser sends to a first-party collector that checks identity
// signatures and forwards to an upstream (a second collector standing in for
// Segment); the app's back end reaches segflow through the webhook, and a
// back-end event completes a checklist task in the browser through `stateHost`.
// Signatures are computed here with Node's crypto, independently of the Rust code.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';

import { flush, sleep, startCollector, useBrowser, waitFor } from './harness.mjs';
import { openFlows } from './flows-helpers.mjs';

const T = { timeout: 60_000 };
const KEY = 'prod-key';
const SECRET = 'identity-secret-1';
const WEBHOOK_SECRET = 'whsec-1';
const sign = (userId) => createHmac('sha256', SECRET).update(userId).digest('hex');

describe('Segment setup: proxy, identity verification and the destination half', () => {
  const env = useBrowser();
  let upstream;
  let proxy;
  before(async () => {
    upstream = await startCollector({ writeKeys: [`${KEY}=production`] });
    proxy = await startCollector({
      writeKeys: [`${KEY}=production`],
      args: [
        '--identity-secret', `${KEY}=${SECRET}`,
        '--webhook-secret', `${KEY}=${WEBHOOK_SECRET}`,
        '--forward', upstream.url, '--forward-backoff-ms', '50,500',
      ],
    });
  });
  after(async () => { await proxy?.stop(); await upstream?.stop(); });

  /** Posts one Segment message to the proxy's webhook, signed as Segment signs it. */
  async function webhook(message) {
    const body = JSON.stringify(message);
    const res = await fetch(`${proxy.url}/webhook/${KEY}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': createHmac('sha1', WEBHOOK_SECRET).update(body).digest('hex') },
      body,
    });
    assert.equal(res.status, 200, await res.text());
  }

  it('a signed user\'s events reach the upstream once, without the signature; unsigned ones are refused', T, async (t) => {
    const userId = 'user-signed';
    const { page } = await openFlows(env.browser, t, proxy, {
      writeKey: KEY, init: { apiHost: proxy.apiHost },
    });
    await page.evaluate(({ userId, sig }) => {
      window.segflow.identify(userId, { plan: 'pro' }, { signature: sig });
      for (let i = 0; i < 5; i++) window.segflow.track('Signed Event', { i });
    }, { userId, sig: sign(userId).toUpperCase() });
    await flush(page);
    const up = await upstream.waitForEvents({ writeKey: KEY, userId }, 6);
    assert.deepEqual(up.map((e) => e.type), ['identify', 'track', 'track', 'track', 'track', 'track']);
    for (const e of up) assert.equal(e.segflowSignature, undefined, 'removed before storing and forwarding');
    const stored = await proxy.events({ writeKey: KEY, userId });
    assert.equal(stored.length, 6);
    assert.ok(stored.every((e) => e.segflowSignature === undefined));
    assert.deepEqual(await upstream.duplicates({ writeKey: KEY }), [], 'nothing forwarded twice');

    // A wrong signature: the collector answers 401, the SDK drops the batch and says so.
    const { page: bad } = await openFlows(env.browser, t, proxy, { writeKey: KEY, init: { apiHost: proxy.apiHost } });
    await bad.evaluate(() => {
      window.dropped = [];
      window.segflow.on('dropped', (e) => window.dropped.push(e.reason));
      window.segflow.identify('user-forged', {}, { signature: 'ab'.repeat(32) });
      window.segflow.track('Forged Event');
    });
    await flush(bad);
    await waitFor(async () => (await bad.evaluate(() => window.dropped.length)) > 0, { message: 'dropped reported' });
    assert.deepEqual(await bad.evaluate(() => [...new Set(window.dropped)]), ['rejected']);
    assert.equal((await proxy.events({ writeKey: KEY, userId: 'user-forged' })).length, 0, 'nothing stored');
    const stats = await proxy.stats();
    assert.ok((stats.rejected.invalid_signature ?? 0) >= 1, JSON.stringify(stats.rejected));
  });

  it('an unsigned identify in a batch drops only that user\'s messages: the anonymous events before it still arrive, once', T, async (t) => {
    // One batch holds three anonymous events and, after an identify without its
    // signature, that user's messages. The proxy refuses the batch (401, one
    // message unsigned); the SDK splits it, so only the unsigned ones are dropped.
    const { page } = await openFlows(env.browser, t, proxy, { writeKey: KEY, init: { apiHost: proxy.apiHost } });
    await page.evaluate(() => {
      window.dropped = [];
      window.segflow.on('dropped', (e) => window.dropped.push(e));
      for (let i = 0; i < 3; i++) window.segflow.track('Before Sign-in', { i });
      window.segflow.identify('user-unsigned', { plan: 'free' });
      window.segflow.track('After Sign-in');
    });
    await flush(page);
    await waitFor(async () => (await page.evaluate(() => window.dropped.reduce((n, e) => n + e.count, 0))) >= 2, { message: 'the unsigned messages reported dropped' });
    const dropped = await page.evaluate(() => window.dropped);
    assert.deepEqual([...new Set(dropped.map((e) => `${e.reason} ${e.status}`))], ['rejected 401']);
    assert.equal(dropped.reduce((n, e) => n + e.count, 0), 2, JSON.stringify(dropped));
    const before = (await proxy.events({ writeKey: KEY })).filter((e) => e.event === 'Before Sign-in');
    assert.deepEqual(before.map((e) => e.properties.i).sort(), [0, 1, 2], 'each anonymous event stored once');
    assert.ok(before.every((e) => e.userId == null && e.anonymousId));
    assert.equal((await proxy.events({ writeKey: KEY, userId: 'user-unsigned' })).length, 0, 'nothing unsigned stored');
    const up = await upstream.waitForEvents({ writeKey: KEY, event: 'Before Sign-in' }, 3);
    assert.equal(up.length, 3);
    assert.deepEqual(await upstream.duplicates({ writeKey: KEY }), [], 'nothing forwarded twice');
  });

  it('a back-end event posted to the webhook completes a checklist task in the browser', T, async (t) => {
    const userId = 'user-backend';
    const content = {
      version: 1,
      checklists: [{
        id: 'onboarding', name: 'Onboarding',
        start: [{ user: 'plan', op: 'equals', value: 'pro' }],
        tasks: [
          { id: 'export', name: 'Export a report', complete_when: [{ event: 'Report Exported', where: [{ property: 'format', op: 'equals', value: 'pdf' }] }] },
          { id: 'other', name: 'Something else' },
        ],
      }],
    };
    // The back end, through Segment's Webhooks destination: traits and an event.
    await webhook({ type: 'identify', userId, messageId: 'wh-identify', traits: { plan: 'pro' } });
    await webhook({ type: 'track', userId, messageId: 'wh-track', event: 'Report Exported', properties: { format: 'pdf' }, timestamp: new Date().toISOString() });
    const { page } = await openFlows(env.browser, t, proxy, {
      writeKey: KEY, init: { apiHost: proxy.apiHost, stateHost: proxy.apiHost }, content,
    });
    await page.evaluate(() => {
      window.checklistLog = [];
      for (const n of ['checklistStarted', 'checklistTaskCompleted']) {
        window.segflow.on(n, (p) => window.checklistLog.push(`${n}:${p.checklist_task_id ?? p.checklist_start_reason}`));
      }
    });
    // Without a signature there is nothing to present: the page's own facts only.
    await page.evaluate((userId) => window.segflow.identify(userId), userId);
    await sleep(300);
    assert.deepEqual(await page.evaluate(() => window.checklistLog), [], 'plan is only known to the back end');
    // Signed: the state is read, the back end's `plan` starts the checklist and
    // its event completes the task.
    await page.evaluate(({ userId, sig }) => window.segflow.identify(userId, {}, { signature: sig }), { userId, sig: sign(userId) });
    await waitFor(async () => (await page.evaluate(() => window.checklistLog)).length >= 2, { message: 'started and completed from the back end' });
    assert.deepEqual(await page.evaluate(() => window.checklistLog), [
      'checklistStarted:condition', 'checklistTaskCompleted:export',
    ]);
    // The generated events go out signed and arrive upstream once.
    await flush(page);
    const up = await upstream.waitForEvents({ writeKey: KEY, userId, type: 'track' }, 3);
    assert.deepEqual(up.map((e) => e.event).filter((e) => e.startsWith('Checklist')), ['Checklist Started', 'Checklist Shown', 'Checklist Task Completed']);
    assert.deepEqual(await upstream.duplicates({ writeKey: KEY }), []);
  });

  it('the read side is not readable cross-origin, /v1/state only with the user\'s signature', T, async () => {
    const preflight = await fetch(`${proxy.url}/api/events`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    const events = await fetch(`${proxy.url}/api/events`, { headers: { origin: 'https://evil.example' } });
    assert.equal(events.headers.get('access-control-allow-origin'), null);
    // fetch() cannot set Host: a raw request, as a DNS-rebinding page's would arrive.
    const rebound = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: proxy.port, path: '/api/events', headers: { host: 'evil.example' } }, (res) => { res.resume(); resolve(res.statusCode); });
      req.on('error', reject);
    });
    assert.equal(rebound, 403, 'a DNS-rebinding Host is refused');
    const q = `writeKey=${KEY}&userId=user-backend`;
    assert.equal((await fetch(`${proxy.url}/v1/state?${q}`)).status, 401);
    const ok = await fetch(`${proxy.url}/v1/state?${q}`, { headers: { 'x-segflow-signature': sign('user-backend') } });
    assert.equal(ok.status, 200);
    const state = await ok.json();
    assert.equal(state.traits.plan, 'pro');
    assert.equal(state.events[0][0], 'Report Exported');
  });
});
