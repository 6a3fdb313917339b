// The loader (pkg/segflow.js): calls made before the wasm modules have loaded are
// queued and replayed in order with their real results; the content module is
// fetched only when there is content and never holds up a track; a core module
// that cannot load is reported once and its events are kept for the next load.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { newContext, startCollector, useBrowser, waitFor } from './harness.mjs';

const CORE = /segflow_core_bg\.wasm$/;
const CONTENT = /segflow_content_bg\.wasm$/;
const TOUR = {
  version: 1,
  flows: [{ id: 'tour', name: 'Tour', steps: [{ id: 'hello', type: 'modal', blocks: [{ type: 'title', text: 'Hello' }, { type: 'button', label: 'Done', action: { type: 'end' }, primary: true }] }] }],
};

async function collectorFor(t, writeKey) {
  const collector = await startCollector({ writeKeys: [writeKey] });
  t.after(() => collector.stop());
  return collector;
}

/** Opens the loader page; records which wasm files the page requested, and page errors. */
async function loaderPage(context, collector) {
  const page = await context.newPage();
  page.wasm = [];
  page.logs = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) page.wasm.push(r.url()); });
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.goto(`${collector.url}/loader.html`);
  await page.waitForFunction(() => window.imported);
  return page;
}

const tracks = (events) => events.filter((e) => e.type === 'track').map((e) => e.event);

describe('the loader', () => {
  const env = useBrowser();

  it('queues calls made before the core has loaded and replays them in order, settling their Promises with the real results', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'early-key');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    assert.deepEqual(page.wasm, [], 'importing the package loads no wasm');
    const early = await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      const seen = { errors: [], delivered: 0 };
      // All of this runs before any wasm has loaded (one synchronous block).
      const before = { identified: s.isIdentified(), user: s.user() };
      window.calledAt = Date.now();
      s.on('error', (e) => seen.errors.push({ code: e.code, message: e.message, isError: e instanceof Error }));
      s.on('delivered', (e) => { seen.delivered += e.count; });
      s.init({ writeKey: 'early-key', apiHost, pageTracking: false, flushAt: 100 });
      s.identify('early-user', { plan: 'pro' });
      for (let i = 0; i < 5; i++) s.track('Early', { i });
      s.track('Bad', { n: NaN }); // would throw after load: goes to the error listeners instead
      s.track('After Bad');
      const flushed = s.flush();
      const bogusOn = s.on('no-such-event', () => {});
      const result = await flushed;
      return { before, result, seen, bogusOn, after: { identified: s.isIdentified(), userId: s.user().userId } };
    }, collector.apiHost);
    assert.deepEqual(early.before, { identified: false, user: null }, 'getters before load');
    assert.deepEqual(early.result, { pending: 0 }, 'flush() from before load resolves with the real result, after delivery');
    assert.equal(early.seen.delivered, 7, 'identify and 6 tracks delivered, reported to the listener added before load');
    assert.deepEqual(early.seen.errors.map((e) => e.code), ['invalid_argument', 'invalid_argument'], 'the NaN track and the unknown event name, reported once each');
    assert.ok(early.seen.errors.every((e) => e.isError));
    assert.match(early.seen.errors[0].message, /NaN/);
    assert.deepEqual(early.after, { identified: true, userId: 'early-user' });
    const events = await collector.events({ writeKey: 'early-key' });
    assert.deepEqual(events.map((e) => e.type), ['identify', 'track', 'track', 'track', 'track', 'track', 'track']);
    assert.deepEqual(tracks(events), ['Early', 'Early', 'Early', 'Early', 'Early', 'After Bad']);
    assert.deepEqual(events.filter((e) => e.event === 'Early').map((e) => e.properties.i), [0, 1, 2, 3, 4], 'in call order');
    assert.ok(events.every((e) => e.userId === 'early-user'), 'identify replayed before the tracks');
    const calledAt = await page.evaluate(() => window.calledAt);
    for (const e of events) {
      const at = Date.parse(e.timestamp);
      assert.ok(at >= calledAt && at <= calledAt + 50, `${e.type} ${e.event ?? ''}: stamped when called (${e.timestamp}, called at ${new Date(calledAt).toISOString()})`);
    }
    assert.equal(page.wasm.length, 1, 'no content: only the core module was fetched');
    assert.match(page.wasm[0], CORE);
    // After load, calls run at once and throw synchronously again.
    const thrown = await page.evaluate(() => { try { window.segflow.track('x', { n: NaN }); return null; } catch (e) { return e.code; } });
    assert.equal(thrown, 'invalid_argument');
    assert.deepEqual(page.logs, []);
  });

  it('sends a call queued before load as JSON would have sent it then: a toJSON on a class\'s prototype kept, later changes not seen', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'early-json-key');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      // A money or date library's value: its toJSON is on the prototype.
      class Money {
        constructor(cents) { this.cents = cents; }
        toJSON() { return `${(this.cents / 100).toFixed(2)} EUR`; }
      }
      s.init({ writeKey: 'early-json-key', apiHost, pageTracking: false });
      const props = { step: 1, price: new Money(1250), at: new Date(0), tags: ['a'] };
      s.track('Priced', props);
      props.step = 2;
      props.tags.push('b');
      s.identify('u-json', { balance: new Money(99), since: new Date(86_400_000) });
      await s.flush();
    }, collector.apiHost);
    const events = await collector.events({ writeKey: 'early-json-key' });
    const priced = events.find((e) => e.event === 'Priced');
    assert.deepEqual(priced.properties, { step: 1, price: '12.50 EUR', at: '1970-01-01T00:00:00.000Z', tags: ['a'] });
    const identify = events.find((e) => e.type === 'identify');
    assert.equal(identify.traits.balance, '0.99 EUR');
    assert.equal(identify.traits.since, '1970-01-02T00:00:00.000Z');
    assert.deepEqual(page.logs, []);
  });

  it('sends a call queued before load as it was then when structuredClone or JSON alone cannot copy it: a Proxy (a Vue reactive object), a BigInt', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'early-proxy-key');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      s.init({ writeKey: 'early-proxy-key', apiHost, pageTracking: false });
      // Vue's reactive(): a Proxy, which structuredClone refuses (DataCloneError).
      const state = { plan: 'free', seats: [1] };
      const reactive = new Proxy(state, {});
      s.identify('u-proxy', reactive);
      reactive.plan = 'pro';
      reactive.seats.push(2);
      // A BigInt, which JSON.stringify refuses (and the core takes, up to 2^53).
      const big = { n: 7n, step: 1 };
      s.track('Big', big);
      big.n = 8n;
      big.step = 2;
      await s.flush();
    }, collector.apiHost);
    const events = await collector.events({ writeKey: 'early-proxy-key' });
    const identify = events.find((e) => e.type === 'identify');
    assert.deepEqual(identify.traits, { plan: 'free', seats: [1] }, 'the Proxy as it was when called');
    const big = events.find((e) => e.event === 'Big');
    assert.deepEqual(big.properties, { n: 7, step: 1 }, 'the BigInt call as it was when called');
    assert.deepEqual(page.logs, []);
  });

  it('replays a call queued before load as a call made then would have gone: a cycle a toJSON breaks sent, values the core refuses refused with the same code', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'early-refused-key');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const r = await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      const errors = [];
      s.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
      s.init({ writeKey: 'early-refused-key', apiHost, pageTracking: false });
      // A tree node (an ORM entity): its class's toJSON breaks the parent/children cycle.
      class Node {
        constructor(id, parent) { this.id = id; this.parent = parent; this.children = []; if (parent) parent.children.push(this); }
        toJSON() { return { id: this.id }; }
      }
      const leaf = new Node('leaf', new Node('root'));
      s.track('Tree', { node: leaf });
      // Values the core refuses, each in its own call.
      class Bad { toJSON() { throw new Error('no'); } }
      s.track('Throws', { m: new Bad() });
      s.track('NaN in a Proxy', new Proxy({ n: NaN }, {}));
      s.track('Big', { n: 2n ** 60n });
      s.track('Function', { f() {} });
      s.track('Invalid date', { at: new Date('nope') });
      s.track('After');
      await s.flush();
      return { errors };
    }, collector.apiHost);
    const events = await collector.events({ writeKey: 'early-refused-key' });
    assert.deepEqual(events.map((e) => e.event), ['Tree', 'After'], 'only the calls the core takes are sent');
    assert.deepEqual(events[0].properties, { node: { id: 'leaf' } });
    assert.equal(r.errors.length, 5, r.errors.join('\n'));
    assert.ok(r.errors.every((e) => e.startsWith('invalid_argument: segflow: ')), r.errors.join('\n'));
    assert.match(r.errors[0], /properties\.m/);
    assert.match(r.errors[1], /NaN/);
    assert.match(r.errors[2], /BigInt beyond 2\^53/);
    assert.match(r.errors[3], /function/);
    assert.match(r.errors[4], /invalid Date/);
    assert.deepEqual(page.logs, []);
  });

  it('settles content calls without a successful init: they reject with not_initialized, made before load or after, never left pending', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'no-init-key');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const r = await page.evaluate(async () => {
      const s = window.segflow;
      const within = (p) => Promise.race([
        p.then(() => 'resolved', (e) => `${e.code}`),
        new Promise((ok) => setTimeout(() => ok('pending'), 3000)),
      ]);
      const errors = [];
      s.on('error', (e) => errors.push(e.code));
      // Before load: an init that fails (a missing environment variable), then content calls.
      s.init({ writeKey: undefined });
      const start = s.start('tour');
      const load = s.loadContent({ version: 1, flows: [] });
      s.endAll();
      const before = { start: await within(start), load: await within(load) };
      // After load, still no init.
      await s.default();
      const after = { start: await within(s.start('tour')), load: await within(s.loadContent({ version: 1, flows: [] })) };
      return { before, after, errors };
    });
    assert.deepEqual(r.before, { start: 'not_initialized', load: 'not_initialized' }, 'queued before load');
    assert.deepEqual(r.after, { start: 'not_initialized', load: 'not_initialized' }, 'made after load');
    assert.deepEqual(r.errors, ['invalid_argument', 'not_initialized'], 'the failed init, then endAll() that could not run');
    assert.deepEqual(page.logs, []);
  });

  it('runs a content call that a listener makes during init, with the content that init was given', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'init-listener-key');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const r = await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      await s.default();
      const doc = { version: 1, flows: [{ id: 'tour', name: 'Tour', steps: [{ id: 'a', type: 'modal', blocks: [{ type: 'title', text: 'Hi' }] }] }] };
      let started;
      // init's own page view reaches this listener while init runs.
      s.on('pageViewed', () => { started ??= s.start('tour'); });
      s.init({ writeKey: 'init-listener-key', apiHost, content: doc });
      const outcome = await Promise.race([
        started.then(() => 'resolved', (e) => `${e.code}: ${e.message}`),
        new Promise((ok) => setTimeout(() => ok('pending'), 5000)),
      ]);
      await new Promise((ok) => setTimeout(ok, 300));
      const root = document.querySelector('segflow-ui')?.shadowRoot;
      return { outcome, step: root?.querySelector('.step')?.dataset.step ?? null };
    }, collector.apiHost);
    assert.deepEqual(r, { outcome: 'resolved', step: 'a' });
    assert.deepEqual(page.logs, []);
  });

  it('fetches the content module only for content, in parallel, without holding up tracks; start() before load settles with the real result', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'content-key');
    const context = await newContext(env.browser, t);
    // The content module answers only when the test lets it.
    let release;
    const gate = new Promise((r) => { release = r; });
    await context.route(CONTENT, async (route) => { await gate; await route.continue(); });
    const page = await loaderPage(context, collector);
    await page.evaluate(({ apiHost, tour }) => {
      const s = window.segflow;
      window.flowEvents = [];
      s.on('flowStarted', (e) => window.flowEvents.push(e.flow_id));
      s.init({ writeKey: 'content-key', apiHost, pageTracking: false, flushAt: 1 });
      s.identify('content-user');
      window.unknown = s.start('nope').then(() => 'started', (e) => e.code);
      window.loaded = s.loadContent(tour).then(() => 'loaded', (e) => e.code);
      window.started = s.start('tour').then(() => 'started', (e) => e.code);
      s.track('While Content Loads');
    }, { apiHost: collector.apiHost, tour: TOUR });
    // The track goes out while the content module is still held back.
    await collector.waitForEvents({ writeKey: 'content-key', type: 'track' }, 1);
    assert.deepEqual(tracks(await collector.events({ writeKey: 'content-key' })), ['While Content Loads']);
    assert.ok(page.wasm.some((u) => CONTENT.test(u)), 'content module requested in parallel');
    assert.deepEqual(await page.evaluate(() => window.flowEvents), [], 'no flow before the content module is there');
    release();
    const settled = await page.evaluate(() => Promise.all([window.unknown, window.loaded, window.started]));
    assert.deepEqual(settled, ['invalid_argument', 'loaded', 'started'], 'each Promise settles with its real result, in call order');
    assert.deepEqual(await page.evaluate(() => window.flowEvents), ['tour']);
    const started = await waitFor(async () => (await collector.events({ writeKey: 'content-key' })).find((e) => e.event === 'Flow Started'), { message: 'Flow Started at the collector' });
    assert.equal(started.userId, 'content-user');
    assert.deepEqual(page.logs, []);
  });

  it('fetches each module\'s wasm alongside its JS, not after it (one round trip fewer)', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'parallel-key');
    const context = await newContext(env.browser, t);
    const gates = [];
    for (const js of [/segflow_core\.js$/, /segflow_content\.js$/]) {
      let release;
      gates.push({ js, done: new Promise((r) => { release = r; }), release: () => release() });
      const gate = gates[gates.length - 1];
      await context.route(js, async (route) => { await gate.done; await route.continue(); });
    }
    const page = await loaderPage(context, collector);
    await page.evaluate(({ apiHost, tour }) => {
      window.segflow.init({ writeKey: 'parallel-key', apiHost, pageTracking: false, content: tour });
      window.ready = window.segflow.default().then(() => 'ready');
    }, { apiHost: collector.apiHost, tour: TOUR });
    // Both JS files are held back: their wasm is requested all the same.
    await waitFor(() => page.wasm.some((u) => CORE.test(u)) && page.wasm.some((u) => CONTENT.test(u)), { message: 'both wasm files requested while their JS is held' });
    for (const gate of gates) gate.release();
    assert.equal(await page.evaluate(() => window.ready), 'ready');
    assert.equal(await page.evaluate(() => window.segflow.isIdentified()), false, 'the core runs');
    assert.deepEqual(page.logs, []);
  });

  it('an event tracked while the content module loads starts the flow waiting for it, whichever module is ready first', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'notes-key');
    const onEvent = { version: 1, flows: [{ ...TOUR.flows[0], id: 'on-go', start: [{ event: 'Go' }] }] };
    for (const order of ['content given to init, before the core runs', 'content loaded once the core runs']) {
      const context = await newContext(env.browser, t);
      let release;
      const gate = new Promise((r) => { release = r; });
      await context.route(CONTENT, async (route) => { await gate; await route.continue(); });
      const page = await loaderPage(context, collector);
      await page.evaluate(async ({ apiHost, flows, early }) => {
        const s = window.segflow;
        window.flowEvents = [];
        s.on('flowStarted', (e) => window.flowEvents.push(e.flow_id));
        const options = { writeKey: 'notes-key', apiHost, pageTracking: false };
        if (early) {
          s.init({ ...options, content: flows });
        } else {
          s.init(options);
          await s.default();
          s.loadContent(flows);
        }
        s.identify(early ? 'early-user' : 'late-user');
        s.track('Go');
      }, { apiHost: collector.apiHost, flows: onEvent, early: order.startsWith('content given') });
      assert.deepEqual(await page.evaluate(() => window.flowEvents), [], `${order}: nothing yet`);
      release();
      await waitFor(() => page.evaluate(() => window.flowEvents.length === 1), { message: `${order}: the flow started` });
      assert.deepEqual(await page.evaluate(() => window.flowEvents), ['on-go'], order);
      assert.deepEqual(page.logs, []);
    }
  });

  it('reports a core module that cannot load once, keeps the events, and the next page load sends them', { timeout: 60_000 }, async (t) => {
    const collector = await collectorFor(t, 'fail-key');
    const context = await newContext(env.browser, t);
    await context.route(CORE, (route) => route.abort('connectionrefused'));
    const page = await loaderPage(context, collector);
    const failed = await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      const errors = [];
      s.on('error', (e) => errors.push(e.code));
      s.init({ writeKey: 'fail-key', apiHost, pageTracking: false });
      s.identify('kept-user');
      s.track('Kept 1');
      const flushed = await s.flush().then(() => 'resolved', (e) => e.code);
      s.track('Kept 2'); // after the failure: kept too
      await new Promise((r) => setTimeout(r, 50)); // kept calls are written once per task
      return { errors, flushed, kept: Object.keys(localStorage).some((k) => k.startsWith('segflow:loader:kept:')) };
    }, collector.apiHost);
    assert.deepEqual(failed, { errors: ['load_failed'], flushed: 'load_failed', kept: true });
    assert.equal(await page.evaluate(() => window.segflow.default().then(() => 'loaded', (e) => e.code)), 'load_failed', 'load() rejects');
    assert.deepEqual(page.logs, [], 'reported once: no unhandled rejection besides');
    assert.equal((await collector.events({ writeKey: 'fail-key' })).length, 0);
    await context.unroute(CORE);
    // The next load with the same write key replays them (no call needed but init).
    await page.goto(`${collector.url}/loader.html`);
    await page.waitForFunction(() => window.imported);
    await page.evaluate((apiHost) => {
      window.segflow.init({ writeKey: 'fail-key', apiHost, pageTracking: false, flushAt: 1 });
    }, collector.apiHost);
    const events = await collector.waitForEvents({ writeKey: 'fail-key' }, 3);
    assert.deepEqual(events.map((e) => e.type + ':' + (e.event || e.userId)), ['identify:kept-user', 'track:Kept 1', 'track:Kept 2']);
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('segflow:loader:kept:'))), [], 'kept calls are replayed once');
    await page.reload();
    await page.waitForFunction(() => window.imported);
    await page.evaluate((apiHost) => window.segflow.init({ writeKey: 'fail-key', apiHost, pageTracking: false }), collector.apiHost);
    await page.evaluate(() => window.segflow.flush());
    assert.equal((await collector.events({ writeKey: 'fail-key' })).length, 3, 'not replayed twice');
  });
});
