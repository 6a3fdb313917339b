// Identity shared with analytics.js on the same site: segflow must adopt the ids
// analytics.js stored (localStorage JSON-encoded, or cookies), store its own where
// analytics.js reads them, follow analytics.js's rules for new anonymous ids, and
// leave everything untouched when a call is refused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  flush, gotoReady, initSegflow, localStorageOf, newContext, openPage, startCollector, thrownBy, useBrowser,
} from './harness.mjs';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const AJS_ANON = '0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';
const AJS_ANON_2 = '1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d';
const YEAR_S = 365 * 24 * 3600;

/** localStorage minus segflow's own tab heartbeats and queue (which change by themselves). */
async function identityStorage(page) {
  const ls = await localStorageOf(page);
  return Object.fromEntries(Object.entries(ls).filter(([k]) => !k.startsWith('segflow:')));
}

/**
 * What analytics.js would read for an id on this page: localStorage first (JSON, or
 * plain), then the cookie (plain, or URL-escaped JSON).
 */
function ajsRead(page, key) {
  return page.evaluate((key) => {
    const decode = (raw) => {
      if (raw === null || raw === undefined || raw === '') return null;
      try { const v = JSON.parse(raw); return typeof v === 'string' ? v : String(v); } catch { return raw; }
    };
    const fromLs = decode(localStorage.getItem(key));
    if (fromLs !== null) return fromLs;
    const pair = document.cookie.split('; ').find((p) => p.startsWith(`${key}=`));
    return pair ? decode(decodeURIComponent(pair.slice(key.length + 1))) : null;
  }, key);
}

/** The page's cookies as name → cookie. */
async function cookieMap(context) {
  return Object.fromEntries((await context.cookies()).map((c) => [c.name, c]));
}

describe('identity interoperates with analytics.js', () => {
  const env = useBrowser();
  let collector;
  const KEY = 'identity-key';

  // One collector for the file; each test uses a fresh browser context (its own
  // localStorage and cookies) and filters events by anonymousId, userId or event.
  before(async () => { collector = await startCollector({ writeKeys: [KEY] }); });
  after(() => collector?.stop());

  async function freshPage(t) {
    const context = await newContext(env.browser, t);
    const page = await openPage(context, `${collector.url}/index.html`);
    return { context, page };
  }

  it('adopts the anonymous id, user id and traits analytics.js stored JSON-encoded in localStorage', { timeout: 30_000 }, async (t) => {
    const { page } = await freshPage(t);
    await page.evaluate(({ anon }) => {
      // Exactly how analytics.js (next) writes them.
      localStorage.setItem('ajs_anonymous_id', JSON.stringify(anon));
      localStorage.setItem('ajs_user_id', JSON.stringify('ajs-user-1'));
      localStorage.setItem('ajs_user_traits', JSON.stringify({ plan: 'pro', logins: 2 }));
    }, { anon: AJS_ANON });
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    const user = await page.evaluate(() => window.segflow.user());
    assert.equal(user.anonymousId, AJS_ANON);
    assert.equal(user.userId, 'ajs-user-1');
    assert.deepEqual(user.traits, { plan: 'pro', logins: 2 });
    assert.equal(await page.evaluate(() => window.segflow.isIdentified()), true);

    await page.evaluate(() => {
      window.segflow.track('Adopted LS');
      window.segflow.updateUser({ logins: { add: 1 } });
    });
    await flush(page);
    const events = await collector.waitForEvents({ anonymousId: AJS_ANON }, 2);
    const track = events.find((e) => e.type === 'track');
    assert.equal(track.event, 'Adopted LS');
    assert.equal(track.userId, 'ajs-user-1');
    const identify = events.find((e) => e.type === 'identify');
    assert.deepEqual(identify.traits, { plan: 'pro', logins: 3 }, 'updateUser resolves ops against the adopted traits');
    // The values stay in analytics.js's format.
    const ls = await identityStorage(page);
    assert.equal(ls.ajs_anonymous_id, JSON.stringify(AJS_ANON));
    assert.equal(ls.ajs_user_id, JSON.stringify('ajs-user-1'));
    assert.deepEqual(JSON.parse(ls.ajs_user_traits), { plan: 'pro', logins: 3 });
  });

  it('adopts ids from cookies alone, plain or JSON-encoded', { timeout: 30_000 }, async (t) => {
    const context = await newContext(env.browser, t);
    await context.addCookies([
      { name: 'ajs_anonymous_id', value: AJS_ANON_2, url: collector.url },
      // Classic analytics.js wrote cookie values JSON-encoded and URL-escaped.
      { name: 'ajs_user_id', value: '%22cookie-user%22', url: collector.url },
      { name: 'ajs_group_id', value: 'cookie-group', url: collector.url },
    ]);
    const page = await openPage(context, `${collector.url}/index.html`);
    assert.equal(await page.evaluate(() => localStorage.getItem('ajs_anonymous_id')), null, 'nothing in localStorage beforehand');
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost, companyEventProperty: 'company_id' });
    const user = await page.evaluate(() => window.segflow.user());
    assert.equal(user.anonymousId, AJS_ANON_2);
    assert.equal(user.userId, 'cookie-user');
    assert.equal(user.groupId, 'cookie-group');
    await page.evaluate(() => window.segflow.track('Adopted Cookie'));
    await flush(page);
    const [event] = await collector.waitForEvents({ anonymousId: AJS_ANON_2 }, 1);
    assert.equal(event.userId, 'cookie-user');
    assert.equal(event.properties.company_id, 'cookie-group', 'the adopted group id is the company event property');
    // analytics.js on the same page still reads the same ids.
    assert.equal(await ajsRead(page, 'ajs_anonymous_id'), AJS_ANON_2);
    assert.equal(await ajsRead(page, 'ajs_user_id'), 'cookie-user');
    assert.equal(await ajsRead(page, 'ajs_group_id'), 'cookie-group');
  });

  it('prefers localStorage over the cookie, as analytics.js reads them', { timeout: 30_000 }, async (t) => {
    const context = await newContext(env.browser, t);
    await context.addCookies([{ name: 'ajs_anonymous_id', value: AJS_ANON_2, url: collector.url }]);
    const page = await openPage(context, `${collector.url}/index.html`);
    await page.evaluate((anon) => localStorage.setItem('ajs_anonymous_id', anon), AJS_ANON); // plain, not JSON
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    assert.equal(await page.evaluate(() => window.segflow.user().anonymousId), AJS_ANON);
  });

  it('stores ids where analytics.js reads them: JSON in localStorage, plain 1-year Lax cookies on /', { timeout: 30_000 }, async (t) => {
    const { context, page } = await freshPage(t);
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    // A fresh visitor gets a uuid v4 anonymous id, stored at once.
    const anon = await page.evaluate(() => window.segflow.user().anonymousId);
    assert.match(anon, UUID_V4);
    assert.equal(await page.evaluate(() => window.segflow.isIdentified()), false);
    let ls = await identityStorage(page);
    assert.equal(ls.ajs_anonymous_id, JSON.stringify(anon), 'anonymous id stored before any call');
    assert.equal((await cookieMap(context)).ajs_anonymous_id?.value, anon);

    const before = Date.now() / 1000;
    await page.evaluate(() => {
      window.segflow.identify('user 42/é', { email: 'a@example.com', plan: { set: 'pro' } });
      window.segflow.group('company-7', { name: 'Acme' });
    });
    ls = await identityStorage(page);
    assert.equal(ls.ajs_user_id, JSON.stringify('user 42/é'));
    assert.equal(ls.ajs_anonymous_id, JSON.stringify(anon), 'identify from anonymous keeps the anonymous id');
    assert.equal(ls.ajs_group_id, JSON.stringify('company-7'));
    assert.deepEqual(JSON.parse(ls.ajs_user_traits), { email: 'a@example.com', plan: 'pro' });
    assert.deepEqual(JSON.parse(ls.ajs_group_properties), { name: 'Acme' });

    const cookies = await cookieMap(context);
    for (const [name, value] of [['ajs_anonymous_id', anon], ['ajs_user_id', 'user 42/é'], ['ajs_group_id', 'company-7']]) {
      const c = cookies[name];
      assert.ok(c, `cookie ${name} set`);
      assert.equal(decodeURIComponent(c.value), value, `cookie ${name} holds the plain value`);
      assert.equal(c.path, '/', `${name}: path=/`);
      assert.equal(c.sameSite, 'Lax', `${name}: SameSite=Lax`);
      assert.equal(c.httpOnly, false, `${name}: readable by analytics.js`);
      assert.equal(c.secure, false, `${name}: not Secure by default`);
      assert.ok(Math.abs(c.expires - (before + YEAR_S)) < 2 * 24 * 3600, `${name}: expires in about a year (${c.expires - before} s)`);
    }
    // document.cookie, as analytics.js's cookie library sees it.
    for (const [key, value] of [['ajs_anonymous_id', anon], ['ajs_user_id', 'user 42/é'], ['ajs_group_id', 'company-7']]) {
      assert.equal(await ajsRead(page, key), value, `analytics.js reads ${key}`);
    }
    const docCookie = await page.evaluate(() => document.cookie);
    assert.match(docCookie, new RegExp(`(^|; )ajs_anonymous_id=${anon}(;|$)`));
    assert.match(docCookie, /(^|; )ajs_group_id=company-7(;|$)/);

    // The next page load (or analytics.js) reads the same identity back.
    await gotoReady(page, `${collector.url}/index.html`);
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    const user = await page.evaluate(() => window.segflow.user());
    assert.deepEqual(user, {
      userId: 'user 42/é', anonymousId: anon, groupId: 'company-7',
      traits: { email: 'a@example.com', plan: 'pro' }, groupTraits: { name: 'Acme' },
    });
  });

  it('a different user id starts a new anonymous id; reset() forgets everything', { timeout: 30_000 }, async (t) => {
    const { context, page } = await freshPage(t);
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    const anon0 = await page.evaluate(() => window.segflow.user().anonymousId);
    await page.evaluate(() => {
      window.segflow.track('Before Login');
      window.segflow.identify('switch-u1', { plan: 'free' });
      window.segflow.group('g1', { name: 'One' });
      window.segflow.identify('switch-u1', { seats: 3 }); // same user: same anonymous id, traits merge
    });
    const afterU1 = await page.evaluate(() => window.segflow.user());
    assert.equal(afterU1.anonymousId, anon0, 'anonymous → identified keeps the anonymous id (Segment stitches them)');
    assert.deepEqual(afterU1.traits, { plan: 'free', seats: 3 });

    await page.evaluate(() => window.segflow.identify('switch-u2', { plan: 'pro' }));
    const afterU2 = await page.evaluate(() => window.segflow.user());
    assert.equal(afterU2.userId, 'switch-u2');
    assert.match(afterU2.anonymousId, UUID_V4);
    assert.notEqual(afterU2.anonymousId, anon0, 'switching user ids starts a new anonymous id');
    assert.equal(afterU2.groupId, null, 'the previous user\'s group is not carried over');
    assert.deepEqual(afterU2.traits, { plan: 'pro' }, 'the previous user\'s traits are not carried over');
    assert.equal((await identityStorage(page)).ajs_anonymous_id, JSON.stringify(afterU2.anonymousId));

    await page.evaluate(() => { window.segflow.track('As U2'); window.segflow.reset(); });
    const afterReset = await page.evaluate(() => ({ user: window.segflow.user(), identified: window.segflow.isIdentified() }));
    assert.deepEqual({ ...afterReset.user, anonymousId: undefined },
      { userId: null, anonymousId: undefined, groupId: null, traits: {}, groupTraits: {} });
    assert.equal(afterReset.identified, false);
    assert.match(afterReset.user.anonymousId, UUID_V4);
    assert.ok(![anon0, afterU2.anonymousId].includes(afterReset.user.anonymousId), 'reset() starts a new anonymous id');
    const ls = await identityStorage(page);
    assert.equal(ls.ajs_user_id, undefined, 'reset() removes ajs_user_id');
    assert.equal(ls.ajs_group_id, undefined, 'reset() removes ajs_group_id');
    assert.equal(ls.ajs_anonymous_id, JSON.stringify(afterReset.user.anonymousId));
    assert.deepEqual(JSON.parse(ls.ajs_user_traits ?? '{}'), {});
    const cookies = await cookieMap(context);
    assert.equal(cookies.ajs_user_id, undefined, 'reset() removes the ajs_user_id cookie');
    assert.equal(cookies.ajs_group_id, undefined, 'reset() removes the ajs_group_id cookie');
    assert.equal(cookies.ajs_anonymous_id?.value, afterReset.user.anonymousId);

    await page.evaluate(() => window.segflow.track('After Reset'));
    await flush(page);
    const byName = async (event) => (await collector.events({ event }))[0];
    const before = await byName('Before Login');
    assert.equal(before.anonymousId, anon0);
    assert.equal(before.userId, undefined);
    const identifies = await collector.events({ userId: 'switch-u1', type: 'identify' });
    assert.equal(identifies.length, 2);
    assert.ok(identifies.every((e) => e.anonymousId === anon0));
    const asU2 = await byName('As U2');
    assert.equal(asU2.userId, 'switch-u2');
    assert.equal(asU2.anonymousId, afterU2.anonymousId);
    const after = await byName('After Reset');
    assert.equal(after.userId, undefined, 'no user id after reset()');
    assert.equal(after.anonymousId, afterReset.user.anonymousId);
  });

  it('attribute arithmetic and typed attributes convert numbers and dates exactly as JavaScript does', { timeout: 30_000 }, async (t) => {
    // Values a Rust float parser and writer without the standard library's get
    // wrong in the last digits (or past the largest double): the shipped module
    // takes JavaScript's own conversions (src/core/platform.rs).
    const { page } = await freshPage(t);
    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    const changes = {
      a: { add: '4.35679e+200' },
      b: { add: 1.7976931348623157e308 },
      c: { add: 9.999999999999999e22 },
      d: { set: 1795896102396, data_type: 'datetime' },
      e: { set: '1.2345678901234567e300', data_type: 'number' },
      f: { add: 0.1 },
      g: { set: 253402300800000, data_type: 'datetime' },
    };
    const expected = {
      a: 4.35679e200,
      b: 1.7976931348623157e308,
      c: 9.999999999999999e22,
      d: '2026-11-28T20:01:42.396Z',
      e: 1.2345678901234567e300,
      f: 0.30000000000000004,
      g: '+010000-01-01T00:00:00.000Z',
    };
    const traits = await page.evaluate((changes) => {
      window.segflow.identify('numbers-user', { f: 0.2 });
      window.segflow.updateUser(changes);
      return window.segflow.user().traits;
    }, changes);
    assert.deepEqual(traits, expected);
    // Beyond what a Date holds, a datetime is refused, and nothing changes.
    const refused = await page.evaluate(() => {
      try { window.segflow.updateUser({ h: { set: 8.64e15 + 1, data_type: 'datetime' } }); } catch (e) { return e.code; }
      return null;
    });
    assert.equal(refused, 'invalid_argument');
    await flush(page);
    const events = await collector.waitForEvents({ userId: 'numbers-user', type: 'identify' }, 2);
    assert.deepEqual(events.at(-1).traits, expected, 'Segment gets the same values');
    assert.match(events.at(-1).timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('refuses invalid calls with a coded Error and changes nothing', { timeout: 30_000 }, async (t) => {
    const { context, page } = await freshPage(t);

    // Before init.
    for (const [method, args] of [['track', ['x']], ['identify', ['u']], ['user', []], ['reset', []], ['flush', []]]) {
      const err = await thrownBy(page, method, ...args);
      assert.equal(err?.code, 'not_initialized', `${method}() before init: ${JSON.stringify(err)}`);
      assert.equal(err.isError, true, 'thrown values are Error objects');
    }
    // Listeners may be added before init (so that they hear init's own work), and
    // are checked like after it.
    assert.equal((await thrownBy(page, 'on', 'delivered', null))?.code, 'invalid_argument');
    assert.equal(await page.evaluate(() => { try { window.segflow.on('no-such-event', () => {}); return 'added'; } catch (e) { return e.code; } }), 'invalid_argument');
    assert.equal(await page.evaluate(() => { try { window.segflow.on('delivered', () => {}); return 'added'; } catch (e) { return e.code; } }), 'added');
    // Bad init options do not half-initialise segflow.
    for (const opts of [undefined, {}, { writeKey: '' }, { writeKey: '  ' }, { writeKey: 'k', apiHost: 'ftp://x' },
      { writeKey: 'k', flushAt: 0 }, { writeKey: 'k', flushInterval: -5 }, { writeKey: 'k', maxQueueEvents: 'many' }]) {
      const err = await thrownBy(page, 'init', opts);
      assert.equal(err?.code, 'invalid_argument', `init(${JSON.stringify(opts)}): ${JSON.stringify(err)}`);
    }
    assert.equal((await thrownBy(page, 'track', 'x'))?.code, 'not_initialized', 'a refused init leaves segflow uninitialised');

    await initSegflow(page, { writeKey: KEY, apiHost: collector.apiHost });
    assert.equal((await thrownBy(page, 'init', { writeKey: KEY }))?.code, 'already_initialized');
    await page.evaluate(() => {
      window.segflow.identify('valid-user', { plan: 'pro', n: 1 });
      window.segflow.group('valid-group', { name: 'Acme' });
    });
    await flush(page);
    const userBefore = await page.evaluate(() => window.segflow.user());
    const lsBefore = await identityStorage(page);
    const cookiesBefore = (await context.cookies()).map((c) => `${c.name}=${c.value}`).sort();
    const storedBefore = (await collector.events({ userId: 'valid-user' })).length;
    assert.equal(storedBefore, 2);

    const refused = await page.evaluate(() => {
      const s = window.segflow;
      const cyclic = {}; cyclic.self = cyclic;
      const calls = {
        'identify("")': () => s.identify(''),
        'identify(null)': () => s.identify(null),
        'identify({})': () => s.identify({}),
        'identify(NaN)': () => s.identify(NaN),
        'identify(256 chars)': () => s.identify('x'.repeat(256)),
        'identify(other, bad add)': () => s.identify('other-user', { n: { add: 'lots' } }),
        'identify(traits array)': () => s.identify('other-user', [1, 2]),
        'identify(traits string)': () => s.identify('other-user', 'plan=pro'),
        'updateUser(bad subtract)': () => s.updateUser({ n: { subtract: {} } }),
        'updateUser(NaN)': () => s.updateUser({ n: NaN }),
        'group("")': () => s.group(''),
        'group(other, bad add)': () => s.group('other-group', { n: { add: 'x' } }),
        'updateGroup(function)': () => s.updateGroup({ f() {} }),
        'track("")': () => s.track(''),
        'track(undefined)': () => s.track(),
        'track(42)': () => s.track(42),
        'track(props string)': () => s.track('E', 'props'),
        'track(props Infinity)': () => s.track('E', { x: Infinity }),
        'track(props cycle)': () => s.track('E', cyclic),
        'track(props symbol)': () => s.track('E', { x: Symbol('s') }),
        'track(invalid Date)': () => s.track('E', { d: new Date('nope') }),
        'page("")': () => s.page(''),
        'alias("")': () => s.alias(''),
        'on(unknown)': () => s.on('nope', () => {}),
        'on(no fn)': () => s.on('delivered', 42),
        'track(40 KB)': () => s.track('Too Big', { blob: 'x'.repeat(40_000) }),
        'identify(40 KB traits)': () => s.identify('other-user', { blob: 'x'.repeat(40_000) }),
      };
      const out = {};
      for (const [name, call] of Object.entries(calls)) {
        try { call(); out[name] = 'did not throw'; } catch (e) { out[name] = e instanceof Error ? e.code : `non-Error ${String(e)}`; }
      }
      return out;
    });
    const expected = Object.fromEntries(Object.keys(refused).map((k) => [k, 'invalid_argument']));
    expected['track(40 KB)'] = 'payload_too_large';
    expected['identify(40 KB traits)'] = 'payload_too_large';
    assert.deepEqual(refused, expected);

    assert.deepEqual(await page.evaluate(() => window.segflow.user()), userBefore, 'user() unchanged');
    assert.deepEqual(await identityStorage(page), lsBefore, 'localStorage unchanged');
    assert.deepEqual((await context.cookies()).map((c) => `${c.name}=${c.value}`).sort(), cookiesBefore, 'cookies unchanged');
    // Nothing was queued or sent: a marker event is the only new one.
    await page.evaluate(() => window.segflow.track('Marker'));
    await flush(page);
    const stored = await collector.events({ userId: 'valid-user' });
    assert.deepEqual(stored.slice(storedBefore).map((e) => e.event), ['Marker'], 'refused calls sent nothing');
    assert.equal((await collector.events({ userId: 'other-user' })).length, 0);
  });
});
