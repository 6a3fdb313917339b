// segflow beside analytics.js: the real @segment/analytics-next from node_modules
// (bundled for the page with esbuild, inline settings, its Segment.io destination
// posting to the local collector; no CDN, no other origin) and segflow pointed at the
// same collector. segflow's destination plugin hears what analytics.js identifies,
// groups and tracks, follows it, and never sends any of it to Segment a second time.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  PKG_DIR, PAGES_DIR, ROOT, flush, newContext, openPage, startCollector, useBrowser, waitFor,
} from './harness.mjs';

const SEGFLOW_KEY = 'ajs-segflow-key';
const AJS_KEY = 'ajs-analytics-key';
const T = { timeout: 60_000 };

// The test page: the package's loader (not loaded: tests call init) and analytics-next,
// with helpers to load analytics-next as an app does, or to install the snippet's stub.
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>analytics.js beside segflow</title></head>
<body>
  <p>segflow beside analytics.js</p>
  <script type="module">
    import * as segflow from '/pkg/segflow.js';
    import { AnalyticsBrowser, setVersionType } from '/ajs/analytics-next.js';
    window.segflow = segflow;
    // AnalyticsBrowser.load with inline settings (as bench/pages/analytics-next.html):
    // its Segment.io destination posts to the collector. persist: false keeps
    // analytics.js's ids in memory only (nothing shared through storage).
    window.loadAnalytics = async ({ writeKey, apiHost, persist = true, snippet = false }) => {
      // The snippet's stub is read (and replayed) by the web build only.
      if (snippet) setVersionType('web');
      const api = new URL(apiHost);
      const [analytics] = await AnalyticsBrowser.load({
        writeKey,
        cdnSettings: {
          integrations: { 'Segment.io': { apiKey: writeKey, apiHost: api.host + api.pathname, protocol: api.protocol.replace(':', '') } },
          metrics: { sampleRate: 0 },
        },
      }, persist ? {} : { disableClientPersistence: true });
      window.ajs = analytics;
      return true;
    };
    // What Segment's snippet does: assigns an array to window.analytics, then adds
    // stub methods that queue their calls in it.
    window.installSnippet = () => {
      const analytics = window.analytics = window.analytics || [];
      analytics.methods = ['identify', 'track', 'group', 'page', 'alias', 'register', 'ready', 'on'];
      analytics.factory = (m) => function stub(...args) { analytics.push([m, ...args]); return analytics; };
      for (const m of analytics.methods) analytics[m] = analytics.factory(m);
    };
    // How many times analytics-next has segflow's plugin registered.
    window.registrations = () => window.ajs.queue.plugins.filter((p) => p.name === 'segflow').length;
    window.ready = true;
  </script>
</body>
</html>
`;

describe('hearing analytics.js (analytics-next) on the page', () => {
  const env = useBrowser();
  let collector;
  let dir;

  before(async () => {
    // analytics-next bundled as an app's bundler would (see bench/compare.mjs).
    dir = await mkdtemp(join(tmpdir(), 'segflow-ajs-'));
    const entry = join(dir, 'entry.js');
    await writeFile(entry, [
      "export { AnalyticsBrowser } from '@segment/analytics-next';",
      "export { setVersionType } from '@segment/analytics-next/dist/pkg/lib/version-type';",
    ].join('\n'));
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: { 'analytics-next': entry },
      nodePaths: [join(ROOT, 'node_modules')],
      bundle: true,
      format: 'esm',
      splitting: true,
      platform: 'browser',
      outdir: dir,
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'warning',
    });
    await writeFile(join(dir, 'page.html'), PAGE);
    collector = await startCollector({
      writeKeys: [SEGFLOW_KEY, AJS_KEY],
      statics: [`/=${PAGES_DIR}`, `/pkg=${PKG_DIR}`, `/ajs=${dir}`],
    });
  });
  after(async () => {
    await collector?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * A fresh context and the test page. Requests to any other origin fail the test;
   * `holdCore` holds the core module's wasm until `page.releaseCore()`. Console
   * warnings from segflow are kept in `page.segflowWarnings`.
   */
  async function open(t, { holdCore = false } = {}) {
    const context = await newContext(env.browser, t);
    const foreign = [];
    let release;
    const held = holdCore ? new Promise((r) => { release = r; }) : null;
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.origin !== collector.url) {
        foreign.push(url.href);
        return route.abort();
      }
      if (held && url.pathname.endsWith('/segflow_core_bg.wasm')) await held;
      return route.continue();
    });
    t.after(() => assert.deepEqual(foreign, [], 'no request leaves the collector\'s origin'));
    const page = await openPage(context, `${collector.url}/ajs/page.html`);
    page.segflowWarnings = [];
    page.on('console', (m) => { if (m.type() === 'warning' && m.text().startsWith('segflow:')) page.segflowWarnings.push(m.text()); });
    page.releaseCore = () => release();
    return page;
  }

  const AJS = () => ({ writeKey: AJS_KEY, apiHost: collector.apiHost });
  const SEGFLOW = (extra = {}) => ({ writeKey: SEGFLOW_KEY, apiHost: collector.apiHost, pageTracking: false, ...extra });

  /** Every event the collector stored with these filters. */
  const stored = (query) => collector.events(query);

  it('analytics.register(segflow.analyticsPlugin()): identify, group and track are followed, and Segment gets each once, from analytics.js', T, async (t) => {
    const page = await open(t);
    const user = `u-${Date.now()}`;
    await page.evaluate(async ({ seg, ajs }) => {
      window.segflow.init(seg);
      await window.segflow.default();
      await window.loadAnalytics(ajs);
      await window.ajs.register(window.segflow.analyticsPlugin());
    }, { seg: SEGFLOW(), ajs: AJS() });
    assert.equal(await page.evaluate(() => window.registrations()), 1);

    await page.evaluate(async (u) => { await window.ajs.identify(u, { plan: 'pro' }); }, user);
    let state = await page.evaluate(() => window.segflow.user());
    assert.equal(state.userId, user, 'segflow follows the identify');
    assert.equal(state.traits.plan, 'pro');
    assert.equal(await page.evaluate(() => window.segflow.isIdentified()), true);
    assert.equal(state.anonymousId, await page.evaluate(() => window.ajs.user().anonymousId()), 'one anonymous id for both');

    await page.evaluate(async () => { await window.ajs.group('co-42', { name: 'Acme', seats: 5 }); });
    state = await page.evaluate(() => window.segflow.user());
    assert.equal(state.groupId, 'co-42', 'segflow follows the group');
    assert.deepEqual(state.groupTraits, { name: 'Acme', seats: 5 });

    const event = `Heard ${user}`;
    await page.evaluate(async (e) => { await window.ajs.track(e, { n: 1 }); }, event);
    // segflow's own queue: nothing (page tracking is off, nothing was called on it).
    await flush(page);
    const tracks = await collector.waitForEvents({ event }, 1);
    await new Promise((r) => setTimeout(r, 500)); // anything late would show now
    const all = await stored({ event });
    assert.equal(all.length, 1, 'the track reached the collector exactly once');
    assert.equal(tracks[0].writeKey, AJS_KEY, 'from analytics.js');
    assert.equal(tracks[0].userId, user);
    assert.deepEqual(await stored({ writeKey: SEGFLOW_KEY, userId: user }), [], 'segflow sent none of it again');
    assert.equal((await stored({ userId: user, type: 'identify' })).length, 1);
    assert.equal((await stored({ userId: user, type: 'group' })).length, 1);
    assert.deepEqual(await collector.duplicates(), []);
  });

  it('a different user id from analytics.js switches segflow to it, with one console warning per page', T, async (t) => {
    const page = await open(t);
    await page.evaluate(async ({ seg, ajs }) => {
      window.segflow.init(seg);
      await window.segflow.default();
      window.segflow.identify('segflow-user', { role: 'admin' });
      window.segflow.group('co-1');
      await window.loadAnalytics(ajs);
      await window.ajs.register(window.segflow.analyticsPlugin());
    }, { seg: SEGFLOW(), ajs: AJS() });
    assert.deepEqual(page.segflowWarnings, []);

    await page.evaluate(async () => { await window.ajs.identify('ajs-user-2', { plan: 'free' }); });
    const state = await page.evaluate(() => window.segflow.user());
    assert.equal(state.userId, 'ajs-user-2', 'segflow follows the latest identify');
    assert.deepEqual(state.traits, { plan: 'free' }, 'the previous user\'s traits are forgotten');
    assert.equal(state.groupId, null, 'and their group');
    assert.equal(state.anonymousId, await page.evaluate(() => window.ajs.user().anonymousId()), 'analytics.js\'s new anonymous id');
    await waitFor(() => page.segflowWarnings.length === 1, { message: 'the warning' });
    assert.match(page.segflowWarnings[0], /^segflow: analytics\.js identified another user/);

    await page.evaluate(async () => { await window.ajs.identify('ajs-user-3'); });
    assert.equal(await page.evaluate(() => window.segflow.user().userId), 'ajs-user-3');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(page.segflowWarnings.length, 1, 'once per page');
    // The same user again is no switch.
    await page.evaluate(async () => { await window.ajs.identify('ajs-user-3', { more: true }); });
    assert.deepEqual(await page.evaluate(() => window.segflow.user().traits), { more: true });
    assert.equal(page.segflowWarnings.length, 1);
  });

  it('a call heard before segflow\'s core module is ready is queued and applied once it has loaded', T, async (t) => {
    const page = await open(t, { holdCore: true });
    // analytics.js keeps its ids in memory here: segflow can learn them only by hearing.
    await page.evaluate(async ({ seg, ajs }) => {
      await window.loadAnalytics({ ...ajs, persist: false });
      window.segflow.init(seg);
      await window.ajs.register(window.segflow.analyticsPlugin());
      await window.ajs.identify('early-user', { early: 1 });
      await window.ajs.group('early-co');
    }, { seg: SEGFLOW(), ajs: AJS() });
    assert.equal(await page.evaluate(() => window.segflow.user()), null, 'the core module is still loading');
    assert.equal(await page.evaluate(() => localStorage.getItem('ajs_user_id')), null, 'nothing to read from storage');
    page.releaseCore();
    await page.evaluate(() => window.segflow.default());
    const state = await page.evaluate(() => window.segflow.user());
    assert.equal(state.userId, 'early-user');
    assert.deepEqual(state.traits, { early: 1 });
    assert.equal(state.groupId, 'early-co');
    await flush(page);
    assert.deepEqual(await stored({ writeKey: SEGFLOW_KEY, userId: 'early-user' }), [], 'nothing sent twice');
  });

  it('init({listenToAnalyticsJs: true}) registers the plugin on an analytics.js already on the page, at once', T, async (t) => {
    const page = await open(t, { holdCore: true });
    await page.evaluate(async ({ seg, ajs }) => {
      await window.loadAnalytics({ ...ajs, persist: false });
      window.analytics = window.ajs;
      window.segflow.init(seg);
      // Right after init, before segflow has loaded: heard, and queued.
      await window.ajs.identify('listened-before', { via: 'listen' });
    }, { seg: SEGFLOW({ listenToAnalyticsJs: true }), ajs: AJS() });
    assert.equal(await page.evaluate(() => window.registrations()), 1, 'registered by init');
    page.releaseCore();
    await page.evaluate(() => window.segflow.default());
    assert.equal(await page.evaluate(() => window.registrations()), 1, 'not again once the core runs');
    const state = await page.evaluate(() => window.segflow.user());
    assert.equal(state.userId, 'listened-before');
    assert.deepEqual(state.traits, { via: 'listen' });
  });

  it('init({listenToAnalyticsJs: true}) registers on window.analytics assigned after init, once', T, async (t) => {
    const page = await open(t);
    await page.evaluate(async ({ seg, ajs }) => {
      window.segflow.init(seg);
      await window.segflow.default();
      await window.loadAnalytics({ ...ajs, persist: false });
      window.analytics = window.ajs; // the app puts it on window later
      await Promise.resolve();
      window.analytics = window.ajs; // and again: still one registration
      await new Promise((r) => setTimeout(r, 0));
      await window.ajs.identify('listened-after', { n: 1 });
    }, { seg: SEGFLOW({ listenToAnalyticsJs: true }), ajs: AJS() });
    assert.equal(await page.evaluate(() => window.registrations()), 1);
    assert.equal(await page.evaluate(() => window.segflow.user().userId), 'listened-after');
    assert.equal(await page.evaluate(() => window.analytics === window.ajs), true, 'window.analytics reads what was assigned');
    assert.equal(await page.evaluate(() => typeof Object.getOwnPropertyDescriptor(window, 'analytics').value), 'object', 'a plain property again');
  });

  it('init({listenToAnalyticsJs: true}) registers on the snippet\'s stub assigned after init, which analytics-next replays once', T, async (t) => {
    const page = await open(t);
    await page.evaluate(async ({ seg, ajs }) => {
      window.segflow.init(seg);
      await window.segflow.default();
      window.installSnippet(); // assigns the array, then adds its stub methods
      await Promise.resolve();
      window.analytics.identify('stub-user', { from: 'stub' }); // queued in the stub
      // analytics-next loads, replays the stub (its register first), then takes its place.
      await window.loadAnalytics({ ...ajs, persist: false, snippet: true });
      window.analytics = window.ajs;
      await new Promise((r) => setTimeout(r, 50));
    }, { seg: SEGFLOW({ listenToAnalyticsJs: true }), ajs: AJS() });
    assert.equal(await page.evaluate(() => window.registrations()), 1, 'registered once, through the stub');
    await waitFor(() => page.evaluate(() => window.segflow.user().userId === 'stub-user'), { message: 'the stub\'s identify heard' });
    assert.deepEqual(await page.evaluate(() => window.segflow.user().traits), { from: 'stub' });
  });

  it('analytics.reset() signs segflow out too: no user, traits or group, and one new anonymous id both share', T, async (t) => {
    const page = await open(t);
    const before = await page.evaluate(async ({ seg, ajs }) => {
      window.segflow.init(seg);
      await window.segflow.default();
      await window.loadAnalytics(ajs);
      window.analytics = window.ajs;
      await new Promise((r) => setTimeout(r, 0));
      await window.ajs.identify('signed-in', { plan: 'pro' });
      await window.ajs.group('co-1', { size: 3 });
      return window.segflow.user();
    }, { seg: SEGFLOW({ listenToAnalyticsJs: true }), ajs: AJS() });
    assert.equal(before.userId, 'signed-in');
    assert.equal(before.groupId, 'co-1');
    const after = await page.evaluate(async () => {
      window.ajs.reset();
      await new Promise((r) => setTimeout(r, 0));
      const state = window.segflow.user();
      // analytics.js makes its next anonymous id on demand: it reads the one segflow stored.
      return { ...state, ajsAnonymousId: window.ajs.user().anonymousId(), ajsUserId: window.ajs.user().id() };
    });
    assert.equal(after.userId, null, 'segflow forgot the user');
    assert.deepEqual(after.traits, {});
    assert.equal(after.groupId, null);
    assert.deepEqual(after.groupTraits, {});
    assert.notEqual(after.anonymousId, before.anonymousId, 'a new anonymous id');
    assert.equal(after.ajsUserId, null);
    assert.equal(after.ajsAnonymousId, after.anonymousId, 'the same anonymous id in both');
    // A second reset in analytics.js makes one more new id, heard once.
    const again = await page.evaluate(async () => {
      const a = window.segflow.user().anonymousId;
      window.ajs.reset();
      await new Promise((r) => setTimeout(r, 0));
      return [a, window.segflow.user().anonymousId, window.ajs.user().anonymousId()];
    });
    assert.notEqual(again[1], again[0]);
    assert.equal(again[2], again[1]);
  });

  it('segflow.reset() signs analytics.js out too: its next event is anonymous, with the anonymous id both share, and nobody is signed in again', T, async (t) => {
    const page = await open(t);
    const user = `reset-${Date.now()}`;
    const before = await page.evaluate(async ({ seg, ajs, user }) => {
      await window.loadAnalytics(ajs);
      // Registered by the app (no listenToAnalyticsJs), before segflow loads.
      await window.ajs.register(window.segflow.analyticsPlugin());
      window.segflow.init(seg);
      await window.segflow.default();
      await window.ajs.identify(user, { plan: 'pro' });
      return window.segflow.user();
    }, { seg: SEGFLOW(), ajs: AJS(), user });
    assert.equal(before.userId, user);
    const after = await page.evaluate(async () => {
      window.segflow.reset();
      const state = window.segflow.user();
      await window.ajs.track('after reset');
      await new Promise((r) => setTimeout(r, 0));
      return {
        state, now: window.segflow.user(),
        ajsUserId: window.ajs.user().id(), ajsAnonymousId: window.ajs.user().anonymousId(), ajsTraits: window.ajs.user().traits(),
      };
    });
    assert.equal(after.state.userId, null, 'segflow forgot the user');
    assert.equal(after.ajsUserId, null, 'analytics.js forgot the user');
    assert.deepEqual(after.ajsTraits, {});
    assert.equal(after.now.userId, null, 'analytics.js\'s next call does not sign the user in again');
    assert.notEqual(after.now.anonymousId, before.anonymousId, 'a new anonymous id');
    assert.equal(after.ajsAnonymousId, after.now.anonymousId, 'the same anonymous id in both');
    const [event] = await waitFor(async () => {
      const found = (await stored({ writeKey: AJS_KEY })).filter((e) => e.event === 'after reset');
      return found.length ? found : null;
    }, { message: 'analytics.js\'s event after the reset stored' });
    assert.equal(event.userId ?? null, null, 'sent without the old user id');
    assert.equal(event.anonymousId, after.now.anonymousId);
    // The next page: still signed out, in both.
    await page.reload();
    const reloaded = await page.evaluate(async ({ seg, ajs }) => {
      await new Promise((r) => { const check = () => (window.ready ? r() : setTimeout(check, 10)); check(); });
      await window.loadAnalytics(ajs);
      window.segflow.init(seg);
      await window.segflow.default();
      return { state: window.segflow.user(), ajsUserId: window.ajs.user().id() };
    }, { seg: SEGFLOW(), ajs: AJS() });
    assert.equal(reloaded.state.userId, null);
    assert.equal(reloaded.ajsUserId, null);
    assert.equal(reloaded.state.anonymousId, after.now.anonymousId);
  });

  it('a plugin registered twice (explicitly and by listenToAnalyticsJs) hears each call once', T, async (t) => {
    const page = await open(t);
    await page.evaluate(async ({ seg, ajs }) => {
      await window.loadAnalytics({ ...ajs, persist: false });
      window.analytics = window.ajs;
      await window.ajs.register(window.segflow.analyticsPlugin());
      window.segflow.init(seg);
      await window.segflow.default();
      // A trait change operation: segflow resolves it once per identify it follows,
      // so a second hearing of the same call would make it 2.
      await window.ajs.identify('twice', { logins: { add: 1 } });
    }, { seg: SEGFLOW({ listenToAnalyticsJs: true }), ajs: AJS() });
    assert.equal(await page.evaluate(() => window.registrations()), 2, 'analytics-next calls it twice');
    assert.deepEqual(await page.evaluate(() => window.segflow.user().traits), { logins: 1 }, 'followed once');
  });

  it('a track heard from analytics.js reaches the content module: a flow waiting for it starts', T, async (t) => {
    const page = await open(t);
    const flows = {
      version: 1,
      flows: [{
        id: 'on-export', name: 'On export', start: [{ event: 'Report Exported' }],
        steps: [{ id: 's1', type: 'modal', blocks: [{ type: 'title', text: 'Exported' }, { type: 'button', label: 'OK', action: { type: 'end' } }] }],
      }],
    };
    await page.evaluate(async ({ seg, ajs, flows }) => {
      window.started = [];
      window.segflow.init(seg);
      window.segflow.on('flowStarted', (e) => window.started.push(e));
      await window.segflow.loadContent(flows);
      await window.loadAnalytics(ajs);
      await window.ajs.register(window.segflow.analyticsPlugin());
      await window.ajs.identify('content-user');
      await window.ajs.track('Report Exported', { format: 'csv' });
    }, { seg: SEGFLOW(), ajs: AJS(), flows });
    const started = await waitFor(() => page.evaluate(() => window.started.length && window.started), { message: 'flowStarted' });
    assert.equal(started.length, 1);
    assert.equal(started[0].flow_id, 'on-export');
    assert.equal(started[0].flow_start_reason, 'event');
    await flush(page);
    assert.equal((await collector.waitForEvents({ event: 'Report Exported', userId: 'content-user' }, 1)).length, 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await stored({ event: 'Report Exported', userId: 'content-user' })).length, 1, 'the track itself once, from analytics.js');
  });

  it('a checklist task completes from an event tracked through analytics.js (with a property filter); each checklist event reaches Segment once', T, async (t) => {
    const page = await open(t);
    const user = `cl-${Date.now()}`;
    const content = {
      version: 1,
      checklists: [{
        id: 'ajs-setup', name: 'Set up',
        tasks: [
          { id: 'export', name: 'Export a CSV report', complete_when: [{ event: 'Report Exported', where: [{ property: 'format', op: 'equals', value: 'csv' }] }] },
          { id: 'pro', name: 'Go pro', complete_when: [{ user: 'plan', op: 'equals', value: 'pro' }] },
        ],
      }],
    };
    await page.evaluate(async ({ seg, ajs, content }) => {
      window.log = [];
      window.segflow.init(seg);
      for (const n of ['checklistStarted', 'checklistTaskCompleted', 'checklistCompleted']) {
        window.segflow.on(n, (e) => window.log.push(`${n}:${e.checklist_task_id ?? e.checklist.id}`));
      }
      await window.segflow.loadContent(content);
      await window.loadAnalytics(ajs);
      await window.ajs.register(window.segflow.analyticsPlugin());
    }, { seg: SEGFLOW(), ajs: AJS(), content });
    await page.evaluate(async (u) => {
      await window.ajs.identify(u, { plan: 'free' });
      await window.segflow.start('ajs-setup');
      await window.ajs.track('Report Exported', { format: 'pdf' });
    }, user);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await page.evaluate(() => window.log), ['checklistStarted:ajs-setup'], 'a pdf export does not pass the filter');
    await page.evaluate(async () => {
      await window.ajs.track('Report Exported', { format: 'csv' });
      await window.ajs.identify(undefined, { plan: 'pro' });
    });
    await waitFor(() => page.evaluate(() => window.log.length >= 4), { message: 'tasks completed' });
    assert.deepEqual(await page.evaluate(() => window.log), [
      'checklistStarted:ajs-setup', 'checklistTaskCompleted:export', 'checklistTaskCompleted:pro', 'checklistCompleted:ajs-setup',
    ]);
    await flush(page);
    const mine = await collector.waitForEvents({ writeKey: SEGFLOW_KEY, event: 'Checklist Completed', userId: user }, 1)
      .then(() => stored({ writeKey: SEGFLOW_KEY, userId: user }));
    await new Promise((r) => setTimeout(r, 300));
    const after = await stored({ writeKey: SEGFLOW_KEY, userId: user });
    assert.deepEqual(after.map((e) => e.event), ['Checklist Started', 'Checklist Shown', 'Checklist Task Completed', 'Checklist Task Completed', 'Checklist Completed'],
      'segflow sends its own checklist events, and none of analytics.js\'s calls');
    assert.equal(after.length, mine.length, 'nothing arrives late or twice');
    assert.equal((await stored({ event: 'Report Exported', userId: user })).length, 2, 'each track once, from analytics.js');
    assert.deepEqual(await collector.duplicates(), []);
  });

  it('the plugin is analytics-next\'s destination plugin shape, the same object each time, and never throws', T, async (t) => {
    const page = await open(t);
    const version = JSON.parse(await readFile(join(PKG_DIR, 'package.json'), 'utf8')).version;
    const shape = await page.evaluate(async (seg) => {
      const p = window.segflow.analyticsPlugin();
      const ctx = { event: { type: 'track', event: 'x' } };
      const out = {
        same: p === window.segflow.analyticsPlugin(),
        name: p.name, type: p.type, version: p.version, isLoaded: p.isLoaded(),
        load: await p.load().then(() => 'resolved'),
        returnsCtx: ['identify', 'track', 'group', 'page', 'alias'].every((k) => p[k](ctx) === ctx),
      };
      // Before init, before load, with nonsense: nothing throws into analytics.js.
      const cyclic = { type: 'track' };
      cyclic.self = cyclic;
      for (const bad of [undefined, null, {}, { event: cyclic }, { event: { type: 'identify', userId: {} } }]) {
        for (const k of ['identify', 'track', 'group', 'page', 'alias']) p[k](bad);
      }
      window.segflow.init(seg);
      await window.segflow.default();
      const errors = [];
      window.segflow.on('error', (e) => errors.push(e.code));
      for (const bad of [{}, { event: { userId: '' } }, { event: { type: 'identify', userId: 'x'.repeat(300) } }]) {
        for (const k of ['identify', 'track', 'group', 'page', 'alias']) p[k](bad);
      }
      await new Promise((r) => setTimeout(r, 0));
      out.errors = errors;
      out.user = window.segflow.user().userId;
      return out;
    }, SEGFLOW());
    assert.deepEqual({ ...shape, errors: undefined }, {
      same: true, name: 'segflow', type: 'destination', version, isLoaded: true, load: 'resolved', returnsCtx: true,
      errors: undefined, user: null,
    });
    assert.ok(shape.errors.length > 0 && shape.errors.every((c) => c === 'invalid_argument'), `refused messages go to the error listeners: ${shape.errors}`);
  });
});
