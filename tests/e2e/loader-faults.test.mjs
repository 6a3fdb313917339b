// The loader under faults: a core module that cannot load (kept calls, across
// pages, tabs and write keys, corrupt storage, BigInts, bounded cost), a content
// module that cannot load, Promises that must settle, init called twice, queued
// arguments the page mutates, and the core's content interface given bad input.
// Each case failed on the first version of the loader (found in review).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { flush, newContext, sleep, startCollector, useBrowser } from './harness.mjs';

const CORE = /segflow_core_bg\.wasm$/;
const CONTENT = /segflow_content_bg\.wasm$/;
const KEPT = 'segflow:loader:kept:';
const flow = (id) => ({ id, name: id, steps: [{ id: 's', type: 'modal', blocks: [{ type: 'title', text: id }] }] });
const TOUR_A = { version: 1, flows: [flow('from-a')] };
const TOUR_B = { version: 1, flows: [flow('from-b')] };
const T = { timeout: 60_000 };

async function collectorFor(t, ...writeKeys) {
  const collector = await startCollector({ writeKeys });
  t.after(() => collector.stop());
  return collector;
}

async function loaderPage(context, collector, { blockCore = false, blockContent = false } = {}) {
  const page = await context.newPage();
  page.logs = [];
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  if (blockCore) await page.route(CORE, (r) => r.abort('connectionrefused'));
  if (blockContent) await page.route(CONTENT, (r) => r.abort('connectionrefused'));
  await page.goto(`${collector.url}/loader.html`);
  await page.waitForFunction(() => window.imported);
  return page;
}

/** A page whose core module fails to load: init, the given tracks, then waits for the failure. */
async function failedLoad(context, collector, writeKey, events) {
  const page = await loaderPage(context, collector, { blockCore: true });
  await page.evaluate(async ({ writeKey, apiHost, events }) => {
    const s = window.segflow;
    s.init({ writeKey, apiHost, pageTracking: false });
    for (const e of events) s.track(e);
    await s.default().catch(() => {});
    await new Promise((r) => setTimeout(r, 50)); // kept calls are written once per task
  }, { writeKey, apiHost: collector.apiHost, events });
  return page;
}

/** A page that loads, inits with `writeKey` (after `await load()` when `late`) and flushes. */
async function goodLoad(context, collector, writeKey, { late = false } = {}) {
  const page = await loaderPage(context, collector);
  await page.evaluate(async ({ writeKey, apiHost, late }) => {
    const s = window.segflow;
    if (late) await s.default();
    s.init({ writeKey, apiHost, pageTracking: false, flushAt: 1 });
    await s.flush();
  }, { writeKey, apiHost: collector.apiHost, late });
  return page;
}

const names = async (collector, writeKey) => (await collector.events({ writeKey })).map((e) => e.event);
const keptKeys = (page) => page.evaluate((k) => Object.keys(localStorage).filter((key) => key.startsWith(k)), KEPT);

describe('the loader under faults', () => {
  const env = useBrowser();

  it('a page without fetch (as jsdom) gets no exception from init or any call: load_failed is reported, calls are kept', T, async (t) => {
    const collector = await collectorFor(t, 'k-nofetch');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const out = await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      const errors = [];
      const thrown = [];
      delete window.fetch;
      try {
        s.on('error', (e) => errors.push(e.code));
        s.init({ writeKey: 'k-nofetch', apiHost, pageTracking: false, content: { version: 1, flows: [] } });
        s.identify('no-fetch-user');
        s.track('Kept');
      } catch (err) {
        thrown.push(String(err));
      }
      const loaded = await s.default().then(() => 'loaded', (e) => e.code);
      await new Promise((r) => setTimeout(r, 50));
      return { thrown, errors, loaded, kept: Object.keys(localStorage).filter((k) => k.startsWith('segflow:loader:kept:')).length };
    }, collector.apiHost);
    assert.deepEqual(out.thrown, [], 'nothing thrown into the page');
    assert.equal(out.loaded, 'load_failed');
    assert.ok(out.errors.includes('load_failed'), `reported: ${out.errors}`);
    assert.equal(out.kept, 1, 'the data calls are kept for the next page');
    assert.deepEqual(page.logs, []);
  });

  it('replays kept calls once, whether the next page inits before or after load(), only for the same write key', T, async (t) => {
    const collector = await collectorFor(t, 'k1', 'other');
    const context = await newContext(env.browser, t);
    const failedAt = Date.now();
    await (await failedLoad(context, collector, 'k1', ['First'])).close();
    await (await failedLoad(context, collector, 'k1', ['Second'])).close();
    // Another write key leaves them alone.
    const other = await goodLoad(context, collector, 'other');
    assert.equal((await keptKeys(other)).length, 2, 'both failed pages kept their calls');
    await other.close();
    assert.deepEqual(await names(collector, 'other'), []);
    // The same write key, init after `await load()`: both pages' calls, once, each
    // stamped with the time it was made on the page that failed.
    await sleep(1200);
    const replayedFrom = Date.now();
    const same = await goodLoad(context, collector, 'k1', { late: true });
    const kept = await collector.waitForEvents({ writeKey: 'k1' }, 2);
    assert.deepEqual((await names(collector, 'k1')).sort(), ['First', 'Second']);
    for (const e of kept) {
      const at = Date.parse(e.timestamp);
      assert.ok(at >= failedAt - 1000 && at < replayedFrom - 1000, `${e.event} keeps its time: ${e.timestamp}`);
    }
    assert.deepEqual(await keptKeys(same), []);
    await (await goodLoad(context, collector, 'k1')).close();
    await sleep(500);
    assert.equal((await names(collector, 'k1')).length, 2, 'not replayed twice');
  });

  it('sends each kept call once when the failing tab goes on while other tabs load', T, async (t) => {
    const collector = await collectorFor(t, 'k4');
    const context = await newContext(env.browser, t);
    const failing = await failedLoad(context, collector, 'k4', ['Kept 1']);
    await goodLoad(context, collector, 'k4');
    await collector.waitForEvents({ writeKey: 'k4' }, 1);
    await failing.evaluate(async () => { window.segflow.track('Kept 2'); await new Promise((r) => setTimeout(r, 50)); });
    await goodLoad(context, collector, 'k4');
    await collector.waitForEvents({ writeKey: 'k4' }, 2);
    await sleep(800);
    assert.deepEqual(await names(collector, 'k4'), ['Kept 1', 'Kept 2']);
  });

  it('removes corrupt kept entries and goes on replaying; flush() settles', T, async (t) => {
    const collector = await collectorFor(t, 'k5');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const out = await page.evaluate(async ({ apiHost, KEPT }) => {
      localStorage.setItem(`${KEPT}a`, JSON.stringify(['k5', 5]));
      localStorage.setItem(`${KEPT}b`, '{oops');
      localStorage.setItem(`${KEPT}c`, JSON.stringify(['k5', ['not json', JSON.stringify(['__set', ['x', 'y']]), JSON.stringify(['track', ['Kept OK']])]]));
      const s = window.segflow;
      s.init({ writeKey: 'k5', apiHost, pageTracking: false, flushAt: 1 });
      s.track('Queued after init');
      const flushed = await s.flush().then((r) => r.pending, (e) => e.code);
      const load = await s.default().then(() => 'resolved', (e) => `rejected: ${e}`);
      return { load, flushed, left: Object.keys(localStorage).filter((k) => k.startsWith(KEPT)) };
    }, { apiHost: collector.apiHost, KEPT });
    assert.deepEqual(out, { load: 'resolved', flushed: 0, left: [] });
    assert.deepEqual(await names(collector, 'k5'), ['Kept OK', 'Queued after init'], 'only known data calls are replayed');
  });

  it('keeps calls with BigInt properties, at most 1,000 calls, at a cost per call that does not grow', T, async (t) => {
    const collector = await collectorFor(t, 'k6', 'k6b');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector, { blockCore: true });
    const out = await page.evaluate(async ({ apiHost, KEPT }) => {
      const s = window.segflow;
      s.init({ writeKey: 'k6', apiHost, pageTracking: false });
      s.track('Count', { n: 5n });
      await s.default().catch(() => {});
      const time = async (n) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) s.track('E', { i, pad: 'x'.repeat(100) });
        const ms = performance.now() - t0;
        await new Promise((r) => setTimeout(r, 0));
        return ms;
      };
      const first = await time(2000);
      const next = await time(2000);
      const key = Object.keys(localStorage).find((k) => k.startsWith(KEPT));
      const kept = JSON.parse(localStorage.getItem(key));
      return { first, next, count: kept[1].length, writeKey: kept[0], last: JSON.parse(kept[1].at(-1)) };
    }, { apiHost: collector.apiHost, KEPT });
    assert.equal(out.writeKey, 'k6');
    assert.equal(out.count, 1000, 'bounded: the newest 1,000 calls');
    assert.deepEqual(out.last.slice(0, 2), ['track', ['E', { i: 1999, pad: 'x'.repeat(100) }]]);
    assert.equal(typeof out.last[2], 'number', 'with the time it was made');
    assert.ok(out.next < 2 * out.first + 20, `cost per call does not grow: ${JSON.stringify(out)}`);
    // A BigInt call is kept (as a number) and sent by the next load.
    const page2 = await failedLoad(context, collector, 'k6b', []);
    await page2.evaluate(async () => { window.segflow.track('Big', { n: 5n }); await new Promise((r) => setTimeout(r, 50)); });
    await goodLoad(context, collector, 'k6b');
    const events = await collector.waitForEvents({ writeKey: 'k6b' }, 1);
    assert.deepEqual(events.map((e) => [e.event, e.properties.n]), [['Big', 5]]);
  });

  it('reports a failed core load to each error listener once, as addEventListener would: added twice is once, removed is none', T, async (t) => {
    const collector = await collectorFor(t, 'k12');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector, { blockCore: true });
    const heard = await page.evaluate(async ({ apiHost }) => {
      const s = window.segflow;
      const log = [];
      const twice = (e) => log.push(`twice ${e.code}`);
      const removed = (e) => log.push(`removed ${e.code}`);
      const again = (e) => log.push(`again ${e.code}`);
      s.on('error', twice);
      s.on('error', twice);
      s.on('error', removed);
      s.on('error', again);
      s.off('error', removed);
      s.off('error', again);
      s.on('error', again); // added back: heard, after the others
      s.on('dropped', () => log.push('dropped')); // not an error listener
      s.init({ writeKey: 'k12', apiHost, pageTracking: false });
      await s.default().catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
      return log;
    }, { apiHost: collector.apiHost });
    assert.deepEqual(heard, ['twice load_failed', 'again load_failed']);
    assert.deepEqual(page.logs, []);
  });

  it('rejects every pending and later Promise with load_failed when the core module cannot load', T, async (t) => {
    const collector = await collectorFor(t, 'k7');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector, { blockCore: true });
    const out = await page.evaluate(async ({ apiHost, tour }) => {
      const s = window.segflow;
      s.init({ writeKey: 'k7', apiHost, pageTracking: false });
      const early = [s.loadContent(tour), s.flush(), s.start('from-a')];
      await s.default().catch(() => {});
      const late = [s.flush(), s.start('from-a'), s.loadContent(tour)];
      const timeout = new Promise((r) => setTimeout(() => r('pending'), 3000));
      return Promise.all([...early, ...late].map((p) => Promise.race([p.then(() => 'resolved', (e) => e.code), timeout])));
    }, { apiHost: collector.apiHost, tour: TOUR_A });
    assert.deepEqual(out, Array(6).fill('load_failed'));
    assert.deepEqual(page.logs, []);
  });

  it('reports a content module that cannot load once, with a code, and rejects its Promises', T, async (t) => {
    const collector = await collectorFor(t, 'k8');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector, { blockContent: true });
    const out = await page.evaluate(async ({ apiHost, tour }) => {
      const s = window.segflow;
      const errors = [];
      await s.default();
      s.on('error', (e) => errors.push(e.code));
      s.init({ writeKey: 'k8', apiHost, pageTracking: false, content: tour });
      const settled = [s.start('from-a'), s.loadContent(tour)].map((p) => p.then(() => 'resolved', (e) => e.code));
      const timeout = new Promise((r) => setTimeout(() => r('pending'), 3000));
      const result = await Promise.all(settled.map((p) => Promise.race([p, timeout])));
      s.track('Still tracked');
      await s.flush();
      return { result, errors, late: await s.start('from-a').then(() => 'resolved', (e) => e.code) };
    }, { apiHost: collector.apiHost, tour: TOUR_A });
    assert.deepEqual(out, { result: ['load_failed', 'load_failed'], errors: ['load_failed'], late: 'load_failed' });
    assert.deepEqual(await names(collector, 'k8'), ['Still tracked']);
  });

  it('loads the content of an init only if that init succeeded', T, async (t) => {
    const collector = await collectorFor(t, 'k9');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const out = await page.evaluate(async ({ apiHost, a, b }) => {
      const s = window.segflow;
      const errors = [];
      s.on('error', (e) => errors.push(e.code));
      s.init({ writeKey: 'k9', apiHost, pageTracking: false, content: a });
      s.init({ writeKey: 'k9', apiHost, pageTracking: false, content: b }); // already_initialized
      const fromB = await s.start('from-b').then(() => 'started', (e) => e.code);
      const fromA = await s.start('from-a').then(() => 'started', (e) => e.code);
      return { errors, fromA, fromB };
    }, { apiHost: collector.apiHost, a: TOUR_A, b: TOUR_B });
    assert.deepEqual(out, { errors: ['already_initialized'], fromA: 'started', fromB: 'invalid_argument' });
  });

  it('sends queued calls with their arguments as they were when called', T, async (t) => {
    const collector = await collectorFor(t, 'm1');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      s.init({ writeKey: 'm1', apiHost, pageTracking: false, flushAt: 1 });
      const props = { step: 1 };
      s.track('Step', props);
      props.step = 2;
      s.track('Step', props);
      await s.flush();
    }, collector.apiHost);
    const events = await collector.waitForEvents({ writeKey: 'm1' }, 2);
    assert.deepEqual(events.map((e) => e.properties.step), [1, 2]);
  });

  it('checks what the content interface is given: bad properties text never reaches a batch or the stored queue', T, async (t) => {
    const collector = await collectorFor(t, 'k10');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    await context.route(/\/v1\/batch$/, (r) => r.abort('connectionrefused'));
    const out = await page.evaluate(async (apiHost) => {
      const s = window.segflow;
      window.dropped = [];
      const errors = [];
      await s.default();
      s.init({ writeKey: 'k10', apiHost, pageTracking: false, flushAt: 100 });
      s.on('dropped', (e) => window.dropped.push(e.reason));
      s.on('error', (e) => { if (e.code !== 'delivery_failure') errors.push(e.code); });
      const core = (await import('/pkg/segflow_core.js')).api; // the instance the loader uses
      s.track('Good 1');
      core.__track(null, 'Evil', '{"a":1}]');
      core.__track(null, 'Injected', '{},"x":1');
      core.__track(null, '', '{}');
      core.__track(null, 'Newline', '{\n"a":1}');
      s.track('Good 2');
      await new Promise((r) => setTimeout(r, 200));
      const stored = Object.keys(localStorage).filter((k) => /:q:/.test(k)).map((k) => localStorage.getItem(k).split('\n').length);
      return { errors, stored };
    }, collector.apiHost);
    assert.deepEqual(out.errors, ['invalid_argument', 'invalid_argument', 'invalid_argument']);
    assert.deepEqual(out.stored, [3], 'three events stored, one line each');
    await context.unroute(/\/v1\/batch$/);
    await flush(page);
    assert.deepEqual(await page.evaluate(() => window.dropped), []);
    const events = await collector.events({ writeKey: 'k10' });
    assert.deepEqual(events.map((e) => e.event), ['Good 1', 'Newline', 'Good 2']);
    assert.deepEqual(events[1].properties, { a: 1 });
  });

  it('refuses a second contentInit (already_initialized) and keeps running with the first core', T, async (t) => {
    const collector = await collectorFor(t, 'k11');
    const context = await newContext(env.browser, t);
    const page = await loaderPage(context, collector);
    const out = await page.evaluate(async ({ apiHost, TOUR }) => {
      const s = window.segflow;
      s.init({ writeKey: 'k11', apiHost, pageTracking: false, flushAt: 1 });
      s.identify('u11');
      await s.loadContent(TOUR);
      const content = await import('/pkg/segflow_content.js'); // the instance the loader started
      const fake = Object.assign(Object.create((await import('/pkg/segflow_core.js')).api), { __track: () => { window.fakeHeard = true; } });
      let again;
      try { content.contentInit(fake); again = 'returned'; } catch (e) { again = { code: e.code, message: e.message }; }
      await s.start('from-a');
      await new Promise((r) => setTimeout(r, 100));
      await s.flush();
      return { again, fakeHeard: !!window.fakeHeard };
    }, { apiHost: collector.apiHost, TOUR: TOUR_A });
    assert.deepEqual(out.again, { code: 'already_initialized', message: 'segflow: contentInit was already called' });
    assert.equal(out.fakeHeard, false, 'the content module still sends through the first core');
    const events = await collector.events({ writeKey: 'k11' });
    assert.ok(events.some((e) => e.event === 'Flow Started' && e.properties.flow_id === 'from-a'), JSON.stringify(events));
    assert.deepEqual(page.logs, []);
  });
});
