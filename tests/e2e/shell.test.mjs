// Browser tests of the core module's shell, in headless Chromium: the module as
// built (pkg/segflow_core.js and its wasm), imported by itself, without the
// loader, so each call goes straight across the boundary of src/web/abi.rs (its
// own glue, no wasm-bindgen): arguments read by index, strings staged both ways,
// page values held by number, results and errors handed back, and calls made
// from inside other calls. What the calls send is checked at a real collector.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { newContext, startCollector, useBrowser } from './harness.mjs';

const KEY = 'shell-key';

describe('the core module by itself', () => {
  const env = useBrowser();
  let collector;
  before(async () => { collector = await startCollector({ writeKeys: [KEY] }); });
  after(() => collector?.stop());

  /** A page with the core module loaded (not initialised) as `window.core`. */
  async function corePage(t) {
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    page.logs = [];
    page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
    await page.goto(`${collector.url}/shell.html`);
    await page.evaluate(async () => {
      const m = await import('/pkg/segflow_core.js');
      await m.default();
      window.core = m.api;
      // The coded error a call throws, or 'none'.
      window.codeOf = (f) => { try { f(); return 'none'; } catch (e) { return `${e.code}: ${e.message}`; } };
    });
    return page;
  }

  it('runs a visitor\'s whole life and the collector stores it as sent', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      const out = {};
      out.beforeInit = codeOf(() => core.track('x'));
      core.init({ writeKey: KEY, apiHost, flushAt: 50, companyEventProperty: 'company_id' });
      out.again = codeOf(() => core.init({ writeKey: 'k' }));
      out.emptyId = codeOf(() => core.identify(''));
      out.blankId = codeOf(() => core.identify('   '));
      out.identifiedBefore = core.isIdentified();
      out.nan = codeOf(() => core.track('e', { n: NaN }));
      out.fn = codeOf(() => core.track('e', { f() {} }));
      const cyclic = {};
      cyclic.self = cyclic;
      out.cyclic = codeOf(() => core.track('e', cyclic));
      out.huge = codeOf(() => core.track('e', { blob: 'x'.repeat(40 * 1024) }));
      out.unknown = codeOf(() => core.noSuchCall());
      core.identify('user-42', { email: 'a@example.com', logins: { add: 1 } });
      core.group('company-7', { name: 'Acme' });
      out.trackReturns = core.track('Button Clicked', { button: 'save' });
      core.page('Home');
      out.identified = core.isIdentified();
      out.user = core.user();
      out.storedAnon = localStorage.getItem('ajs_anonymous_id');
      out.cookie = document.cookie;
      out.flushed = await core.flush();
      out.queued = Object.keys(localStorage).filter((k) => k.includes(':q:'));
      out.href = location.href;
      return out;
    }, { apiHost: collector.apiHost, KEY });

    assert.match(r.beforeInit, /^not_initialized: /);
    assert.match(r.again, /^already_initialized: /);
    assert.match(r.emptyId, /^invalid_argument: segflow: userId must be a non-empty string/);
    assert.equal(r.blankId, 'invalid_argument: segflow: userId must be a non-empty string, not only spaces');
    assert.equal(r.identifiedBefore, false);
    assert.match(r.nan, /^invalid_argument: segflow: properties\.n is NaN/);
    assert.match(r.fn, /^invalid_argument: segflow: properties\.f is a function/);
    assert.match(r.cyclic, /^invalid_argument: segflow: properties\.self refers back to itself/);
    assert.match(r.huge, /^payload_too_large: /);
    assert.equal(r.unknown, 'invalid_argument: segflow: no such call');
    assert.equal(r.trackReturns, undefined);
    assert.equal(r.identified, true);
    const anon = r.user.anonymousId;
    assert.equal(r.user.userId, 'user-42');
    assert.equal(r.storedAnon, JSON.stringify(anon));
    assert.ok(r.cookie.includes(`ajs_anonymous_id=${anon}`), r.cookie);
    assert.deepEqual(r.flushed, { pending: 0 });
    assert.deepEqual(r.queued, []);

    const list = await collector.waitForEvents({ writeKey: KEY, anonymousId: anon }, 5);
    // The automatic page view (Userflow's `page_viewed`) comes first.
    assert.deepEqual(list.map((e) => e.type), ['track', 'identify', 'group', 'track', 'page']);
    assert.equal(list[0].event, 'Page Viewed');
    assert.equal(list[0].properties.page_url, r.href);
    for (const e of list.slice(1)) {
      assert.equal(e.userId, 'user-42');
      assert.equal(e.context.library.name, 'segflow');
      assert.match(e.messageId, /^segflow-/);
    }
    assert.equal(list[1].traits.logins, 1);
    assert.equal(list[3].event, 'Button Clicked');
    assert.equal(list[3].properties.company_id, 'company-7');
    assert.equal(list[4].name, 'Home');
  });

  it('neither stores nor sends during a burst of calls: at the end of their task, stored, then one request', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost, flushAt: 20, flushInterval: 60000, pageTracking: false });
      await new Promise((ok) => setTimeout(ok, 50)); // init's own effects are done
      const log = [];
      const f = window.fetch;
      const set = Storage.prototype.setItem;
      window.fetch = function (url, init) {
        log.push(`fetch ${JSON.parse(init.body).batch.length}`);
        return f.call(this, url, init);
      };
      Storage.prototype.setItem = function (k, v) {
        if (k.includes(':q:')) log.push(`store ${v.split('\n').length}`);
        return set.call(this, k, v);
      };
      for (let i = 0; i < 50; i++) core.track('Burst', { i });
      const during = log.slice();
      await new Promise((ok) => setTimeout(ok, 0)); // the end of the task ran
      window.fetch = f;
      Storage.prototype.setItem = set;
      const flushed = await core.flush();
      return { during, after: log, flushed, anon: core.user().anonymousId };
    }, { apiHost: collector.apiHost, KEY });
    assert.deepEqual(r.during, [], 'nothing stored or sent while the calls ran');
    assert.deepEqual(r.after, ['store 50', 'fetch 50'], 'stored, then all 50 in one request (flushAt 20 was passed)');
    assert.deepEqual(r.flushed, { pending: 0 });
    const list = await collector.waitForEvents({ writeKey: KEY, anonymousId: r.anon }, 50);
    assert.deepEqual(list.map((e) => e.properties.i), [...Array(50).keys()]);
  });

  it('carries any text across intact, both ways (UTF-8, astral, lone surrogates, NUL)', async (t) => {
    const page = await corePage(t);
    const text = 'Zoë 😀 中文 \u0000 end';
    const r = await page.evaluate(async ({ apiHost, KEY, text }) => {
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost });
      const heard = [];
      core.on('delivered', (p) => heard.push(p));
      core.identify(`id ${text}`, { name: text, lone: 'a\ud800b' });
      core.track(`event ${text}`, { text });
      await core.flush();
      return { user: core.user(), heard };
    }, { apiHost: collector.apiHost, KEY, text });
    assert.equal(r.user.userId, `id ${text}`);
    assert.equal(r.user.traits.name, text);
    // A lone surrogate cannot be UTF-8: it arrives as U+FFFD, as JSON.stringify and
    // TextEncoder have it, never as broken bytes.
    assert.equal(r.user.traits.lone, 'a\ufffdb');
    const [e] = await collector.waitForEvents({ writeKey: KEY, userId: `id ${text}`, event: `event ${text}` }, 1);
    assert.equal(e.properties.text, text);
    assert.ok(r.heard.length >= 1);
  });

  it('keeps a call\'s arguments, result and error apart from the calls page code makes inside it', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(({ apiHost, KEY }) => {
      localStorage.clear();
      const inside = [];
      // The URL filter is page code the module runs in the middle of a call: a call
      // it makes must neither see nor change the outer call's arguments or result.
      core.init({
        writeKey: KEY,
        apiHost,
        urlFilter: (url) => {
          inside.push(core.isIdentified(), core.user().userId, codeOf(() => core.track('')));
          return `${url}#filtered`;
        },
      });
      core.identify('outer-user');
      history.pushState({}, '', '?moved=1'); // the next call sees a new page
      const outer = core.track('Outer', { n: 1 });
      const outerUser = core.user();
      const failed = codeOf(() => core.track('Bad', { f() {} }));
      return { inside, outer, outerUser: outerUser.userId, failed };
    }, { apiHost: collector.apiHost, KEY });
    assert.equal(r.outer, undefined);
    assert.equal(r.outerUser, 'outer-user');
    assert.match(r.failed, /^invalid_argument: segflow: properties\.f is a function/);
    assert.ok(r.inside.length >= 3, JSON.stringify(r.inside));
    // Each inner call had its own answer: a boolean, the id, a coded error.
    assert.equal(typeof r.inside[0], 'boolean');
    assert.ok(r.inside.some((v) => typeof v == 'string' && v.startsWith('invalid_argument: segflow: event')), JSON.stringify(r.inside));
  });

  it('calls each listener with its payload, survives one that throws, and off() removes exactly that function', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost });
      const calls = [];
      const a = (p) => calls.push(['a', p.count]);
      const b = (p) => calls.push(['b', p.count]);
      core.on('delivered', () => { throw new Error('listener boom'); });
      core.on('delivered', a);
      core.on('delivered', b);
      core.on('delivered', a); // again (a framework effect that runs twice): added once
      core.off('delivered', () => {}); // another function: removes nothing
      core.track('One');
      await core.flush();
      const first = calls.splice(0);
      core.off('delivered', a);
      core.track('Two');
      await core.flush();
      const second = calls.splice(0);
      // A listener that removes a later one during the same event: the later one
      // is not called (as EventTarget does), and not afterwards either.
      const c = () => calls.push(['c']);
      core.on('delivered', () => { calls.push(['remover']); core.off('delivered', c); });
      core.on('delivered', c);
      core.track('Three');
      await core.flush();
      return { first, second, third: calls.map(([n]) => n), offBad: codeOf(() => core.off('nope', a)), onBad: codeOf(() => core.on('delivered', 1)) };
    }, { apiHost: collector.apiHost, KEY });
    assert.deepEqual(r.first.map(([n]) => n).sort(), ['a', 'b'], 'each once, as addEventListener does');
    assert.ok(r.first.every(([, count]) => count >= 1), JSON.stringify(r.first));
    assert.deepEqual(r.second.map(([n]) => n), ['b']);
    assert.deepEqual(r.third, ['b', 'remover']);
    assert.match(r.offBad, /^invalid_argument: segflow: unknown event/);
    assert.equal(r.onBad, 'invalid_argument: segflow: the listener must be a function');
    assert.ok(page.logs.some((l) => l.startsWith('error: segflow: a listener threw')), page.logs.join('\n'));
    assert.ok(!page.logs.some((l) => l.startsWith('pageerror')), page.logs.join('\n'));
  });

  it('refuses properties and traits it cannot send, also when page code misbehaves inside them', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(({ apiHost, KEY }) => {
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost });
      const outcome = (f) => {
        try { f(); return 'returned'; } catch (e) { return e === undefined ? 'threw undefined' : `${e.code}: ${e.message}`; }
      };
      return {
        // A toJSON that forgets to return: JSON has nothing to send.
        noReturn: outcome(() => core.track('A', { toJSON() {} })),
        traitsNoReturn: outcome(() => core.identify('u1', { toJSON() {} })),
        user: core.user().userId,
        asArray: outcome(() => core.track('A', { toJSON: () => [1] })),
        // The error names where the value is, keys and indexes down to it.
        nested: outcome(() => core.track('A', { a: [1, { 'b c': [0, NaN] }] })),
        // Page code that throws (`undefined`, a number, an Error, in a getter, a
        // Proxy trap or a toJSON): a coded Error naming where, with what was
        // thrown as its cause.
        throwsUndefined: outcome(() => core.track('A', { get x() { throw undefined; } })),
        throwsNumber: outcome(() => core.track('A', { a: { get b() { throw 42; } } })),
        proxy: outcome(() => core.track('A', new Proxy({}, { ownKeys() { throw new Error('no keys'); } }))),
        toJson: outcome(() => core.identify('u2', { toJSON() { throw new TypeError('bad'); } })),
        // The page's own error that happens to carry our code is still the page's.
        lookalike: outcome(() => core.track('A', { toJSON() { throw Object.assign(new Error('mine'), { code: 'invalid_argument' }); } })),
        cause: (() => { try { core.track('A', { get x() { throw 42; } }); } catch (e) { return [e instanceof Error, e.cause]; } })(),
      };
    }, { apiHost: collector.apiHost, KEY });
    assert.equal(r.noReturn, 'invalid_argument: segflow: properties must be an object');
    assert.equal(r.traitsNoReturn, 'invalid_argument: segflow: traits must be an object');
    assert.equal(r.user, null);
    assert.equal(r.asArray, 'invalid_argument: segflow: properties must be an object');
    assert.equal(r.throwsUndefined, 'invalid_argument: segflow: properties.x threw when read: undefined');
    assert.equal(r.throwsNumber, 'invalid_argument: segflow: properties.a.b threw when read: 42');
    assert.equal(r.proxy, 'invalid_argument: segflow: properties threw when read: no keys');
    assert.equal(r.toJson, 'invalid_argument: segflow: traits threw when read: bad');
    assert.equal(r.lookalike, 'invalid_argument: segflow: properties threw when read: mine');
    assert.deepEqual(r.cause, [true, 42]);
    assert.equal(r.nested, 'invalid_argument: segflow: properties.a[1].b c[1] is NaN, which JSON cannot carry');
  });

  it('sends what JSON.stringify would for wrapper objects and an array\'s own toJSON', async (t) => {
    const page = await corePage(t);
    const sent = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost });
      const list = [1, 2];
      list.toJSON = () => 'one, two';
      const props = { s: new String('s'), n: new Number(3), b: new Boolean(false), list, nested: [new String('x')] };
      core.track('Wrapped', props);
      await core.flush();
      return JSON.parse(JSON.stringify(props));
    }, { apiHost: collector.apiHost, KEY });
    assert.deepEqual(sent, { s: 's', n: 3, b: false, list: 'one, two', nested: ['x'] }, 'what JSON.stringify gives');
    const [e] = (await collector.events({ writeKey: KEY })).filter((x) => x.event === 'Wrapped');
    assert.deepEqual(e.properties, sent);
  });

  it('begins every error message with "segflow: " exactly once, whichever layer refused the call', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(({ apiHost, KEY }) => {
      localStorage.clear();
      const out = {};
      const message = (f) => { try { f(); return 'returned'; } catch (e) { return e.message; } };
      out.beforeInit = message(() => core.track('x'));
      out.config = message(() => core.init({ writeKey: KEY, apiHost, flushAt: 'x' }));
      out.noKey = message(() => core.init({ writeKey: '' }));
      out.emptyContent = message(() => core.init({ writeKey: KEY, apiHost, content: ' ' }));
      out.longKey = message(() => core.init({ writeKey: 'k'.repeat(40 * 1024), apiHost }));
      out.longHost = message(() => core.init({ writeKey: KEY, apiHost: `https://${'h'.repeat(40 * 1024)}` }));
      core.init({ writeKey: KEY, apiHost });
      out.again = message(() => core.init({ writeKey: KEY }));
      out.glueNotObject = message(() => core.track('e', 5));
      out.glueNaN = message(() => core.track('e', { n: NaN }));
      out.glueThrows = message(() => core.track('e', { get x() { throw 1; } }));
      out.event = message(() => core.track(''));
      out.userId = message(() => core.identify(''));
      out.attribute = message(() => core.identify('u1', { logins: { add: 'many' } }));
      out.signature = message(() => core.identify('u1', {}, { signature: 'nothex' }));
      out.groupSignature = message(() => core.group('g1', {}, { signature: 5 }));
      out.updateGroupSignature = message(() => { core.group('g1'); core.updateGroup({}, { signature: 5 }); });
      out.listener = message(() => core.on('nope', () => {}));
      out.unknown = message(() => core.noSuchCall());
      out.tooLarge = message(() => core.track('e', { blob: 'x'.repeat(40 * 1024) }));
      return out;
    }, { apiHost: collector.apiHost, KEY });
    for (const [what, m] of Object.entries(r)) {
      assert.match(m, /^segflow: (?!segflow:)\S/, `${what}: ${m}`);
    }
    assert.equal(r.attribute, 'segflow: attribute logins needs a number');
    assert.equal(r.emptyContent, 'segflow: content must be an object in the content schema or a URL');
    assert.equal(r.longKey, 'segflow: writeKey must be a string of at most 32 KB', 'a string option too long to take in is not "not a string"');
    assert.equal(r.groupSignature, 'segflow: signature must be a string');
    assert.equal(r.updateGroupSignature, r.groupSignature, 'updateGroup checks its options as group does');
    assert.equal(r.longHost, 'segflow: apiHost must be a string of at most 32 KB');
  });

  it('keeps working when the page\'s console throws while segflow reports a throwing listener', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      const escaped = [];
      addEventListener('error', (e) => escaped.push(String(e.message)));
      addEventListener('unhandledrejection', (e) => escaped.push(String(e.reason)));
      core.init({ writeKey: KEY, apiHost });
      const broken = () => { throw new Error('console is broken'); };
      console.error = broken;
      console.warn = broken;
      let heard = 0;
      core.on('delivered', () => { heard++; throw new Error('listener boom'); });
      // A flush that never settles is a failure too, not a hung test.
      const settled = (p) => Promise.race([p, new Promise((ok) => setTimeout(() => ok('not settled in 5 s'), 5000))]);
      let first;
      let second;
      try {
        core.track('First');
        first = await settled(core.flush());
        core.track('Second');
        second = await settled(core.flush());
      } catch (e) {
        escaped.push(`thrown: ${e.message}`);
      }
      await new Promise((ok) => setTimeout(ok, 50));
      return { first, second, heard, escaped };
    }, { apiHost: collector.apiHost, KEY });
    assert.deepEqual(r.first, { pending: 0 });
    assert.deepEqual(r.second, { pending: 0 });
    assert.ok(r.heard >= 2, `listener called ${r.heard} times`);
    assert.deepEqual(r.escaped, []);
  });

  it('loads its wasm served as application/wasm with parameters, or with another type', async (t) => {
    for (const contentType of ['application/wasm; charset=utf-8', 'application/octet-stream']) {
      const context = await newContext(env.browser, t);
      await context.route('**/segflow_core_bg.wasm', async (route) => {
        const res = await route.fetch();
        await route.fulfill({ response: res, headers: { ...res.headers(), 'content-type': contentType } });
      });
      const page = await context.newPage();
      await page.goto(`${collector.url}/shell.html`);
      const r = await page.evaluate(async () => {
        const m = await import('/pkg/segflow_core.js');
        try {
          await m.default();
        } catch (e) {
          return `init failed: ${e.message}`;
        }
        return m.api.__inited();
      });
      assert.equal(r, false, contentType);
    }
  });

  it('refuses a call with megabytes of text as payload_too_large without growing its memory for good', async (t) => {
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    await page.goto(`${collector.url}/shell.html`);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      // The module's memory, seen through the instance the glue creates.
      let memory;
      for (const f of ['instantiate', 'instantiateStreaming']) {
        const original = WebAssembly[f];
        WebAssembly[f] = (...a) => original.apply(WebAssembly, a).then((r) => { memory = r.instance.exports.memory; return r; });
      }
      const m = await import('/pkg/segflow_core.js');
      await m.default();
      const core = m.api;
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost });
      core.identify('big-user');
      core.track('warm-up', { a: 1 });
      await core.flush();
      const before = memory.buffer.byteLength;
      const big = 'x'.repeat(8 * 1024 * 1024);
      const wide = '\u00e9'.repeat(4 * 1024 * 1024); // 8 MiB of UTF-8 too
      const codes = {};
      const attempt = (name, f) => { try { f(); codes[name] = 'none'; } catch (e) { codes[name] = e.code; } };
      attempt('track properties', () => core.track('e', { blob: big }));
      attempt('track properties (non-ASCII)', () => core.track('e', { blob: wide }));
      attempt('track event name', () => core.track(big));
      attempt('identify traits', () => core.identify('big-user', { blob: big }));
      attempt('updateUser', () => core.updateUser({ blob: big }));
      attempt('group traits', () => core.group('g', { blob: big }));
      attempt('page properties', () => core.page('intro', { blob: big }));
      const after = memory.buffer.byteLength;
      core.track('after', { ok: true });
      const flushed = await core.flush();
      return { codes, grew: after - before, flushed };
    }, { apiHost: collector.apiHost, KEY });
    for (const [call, code] of Object.entries(r.codes)) assert.equal(code, 'payload_too_large', call);
    assert.ok(r.grew < 1024 * 1024, `the module's memory grew by ${r.grew} B`);
    assert.deepEqual(r.flushed, { pending: 0 });
    const list = await collector.waitForEvents({ writeKey: KEY, userId: 'big-user' }, 3);
    assert.deepEqual(list.filter((e) => e.type == 'track').map((e) => e.event), ['warm-up', 'after']);
  });

  it('sends a property cut in the middle of an emoji (a lone surrogate) as U+FFFD, and the API takes it', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      const dropped = [];
      core.init({ writeKey: KEY, apiHost });
      core.on('dropped', (e) => dropped.push(e));
      core.identify('surrogate-user');
      const title = 'Great product \u{1f600}'.slice(0, 15); // ends in \ud83d
      core.track('Review Submitted', { title, ['k\udc00']: 1, whole: '\u{1f600}' });
      const flushed = await core.flush();
      return { dropped, flushed };
    }, { apiHost: collector.apiHost, KEY });
    assert.deepEqual(r.dropped, []);
    assert.deepEqual(r.flushed, { pending: 0 });
    const [e] = (await collector.waitForEvents({ writeKey: KEY, userId: 'surrogate-user' }, 2)).filter((e) => e.event === 'Review Submitted');
    assert.deepEqual(e.properties, { title: 'Great product \ufffd', 'k\ufffd': 1, whole: '\u{1f600}' });
  });

  it('reads only the options\' own properties: a polluted Object.prototype changes nothing', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      // What a vulnerable dependency of the page may have done.
      Object.assign(Object.prototype, { flushAt: 'x', stream: 'yes', signature: 5, membership: 7, integrations: 'x', context: 'x' });
      const out = {};
      try {
        out.init = codeOf(() => core.init({ writeKey: KEY, apiHost }));
        out.identify = codeOf(() => core.identify('proto-user', { plan: 'pro' }, {}));
        out.group = codeOf(() => core.group('proto-co', {}, {}));
        out.track = codeOf(() => core.track('Proto Checked', { n: 1 }, {}));
      } finally {
        for (const k of ['flushAt', 'stream', 'signature', 'membership', 'integrations', 'context']) delete Object.prototype[k];
      }
      out.flushed = await core.flush();
      return out;
    }, { apiHost: collector.apiHost, KEY });
    assert.deepEqual(r, { init: 'none', identify: 'none', group: 'none', track: 'none', flushed: { pending: 0 } });
    const [e] = (await collector.waitForEvents({ writeKey: KEY, userId: 'proto-user' }, 3)).filter((e) => e.event === 'Proto Checked');
    assert.deepEqual(e.properties, { n: 1 });
    assert.ok(!('integrations' in e) || typeof e.integrations === 'object', `integrations: ${JSON.stringify(e.integrations)}`);
  });

  it('refuses a switch that is not true or false (setStreaming(\'false\')) and keeps its state', async (t) => {
    const page = await corePage(t);
    const r = await page.evaluate(async ({ apiHost, KEY }) => {
      localStorage.clear();
      core.init({ writeKey: KEY, apiHost });
      core.identify('switch-user');
      const out = {
        off: codeOf(() => core.setStreaming(false)),
        text: codeOf(() => core.setStreaming('false')),
        none: codeOf(() => core.setStreaming()),
        page: codeOf(() => core.setPageTrackingDisabled('true')),
      };
      core.track('While Off');
      out.on = codeOf(() => core.setStreaming(true));
      core.track('While On');
      out.flushed = await core.flush();
      return out;
    }, { apiHost: collector.apiHost, KEY });
    assert.equal(r.off, 'none');
    for (const k of ['text', 'none', 'page']) assert.match(r[k], /^invalid_argument: segflow: set\w+\(\) takes true or false/, k);
    assert.equal(r.on, 'none');
    await new Promise((res) => setTimeout(res, 300));
    const names = (await collector.waitForEvents({ writeKey: KEY, userId: 'switch-user' }, 2)).map((e) => e.event ?? e.type);
    assert.ok(names.includes('While On') && !names.includes('While Off'), `streaming stayed off after 'false': ${names}`);
  });

  it('reports a wasm file that does not load as a rejected init, not an exception in the page', async (t) => {
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    await page.goto(`${collector.url}/shell.html`);
    const r = await page.evaluate(async () => {
      const m = await import('/pkg/segflow_core.js');
      const missing = await m.default({ module_or_path: fetch('/pkg/no-such.wasm') }).then(() => 'loaded', (e) => e.message);
      const notWasm = await m.default({ module_or_path: fetch('/shell.html') }).then(() => 'loaded', (e) => e.constructor.name);
      return { missing, notWasm };
    });
    assert.match(r.missing, /answered 404/);
    assert.equal(r.notWasm, 'CompileError');
  });
});
