// Hostile flow content and hostile pages: markup, event-handler attributes and
// script URLs in titles, Markdown, button labels, image alts and interpolated user
// traits must never run script or create elements beyond segflow's own; unsafe
// links lose their href; unsafe URLs in content are refused up front; page markup
// that imitates segflow's cannot drive its UI; broken selectors fail softly.
//
// Every payload sets a `window.__pwned` flag or opens a dialog if it ever runs.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { sleep, startCollector, useBrowser, waitFor } from './harness.mjs';
import {
  NEXT, clickButton, content, flow, flowTrace, gone, modal, openFlows, shown, traceOf, ui,
} from './flows-helpers.mjs';

const T = { timeout: 30_000 };

const pwn = (n) => `window.__pwned=${n}`;
const XSS = {
  title: `<script>${pwn(1)}</script><img src=x onerror="${pwn(2)}"> {{name}}`,
  markdown: [
    `Hi {{name}} <img src=x onerror=${pwn(3)}> <b onclick="${pwn(4)}">bold?</b> <svg onload=${pwn(5)}>`,
    '',
    `[js](javascript:${pwn(6)}) [mixed](JaVaScRiPt:${pwn(7)}) [tab](java\tscript:${pwn(8)}) [nl](java\nscript:${pwn(9)})`,
    `[data](data:text/html,<script>${pwn(10)}</script>) [entity](&#106;avascript:${pwn(11)}) [vb](vbscript:msgbox) [ok](https://example.com/ok) [rel](/docs?a=1)`,
    '',
    `- <a href="javascript:${pwn(12)}">raw anchor</a>`,
    `- {{bio}}`,
  ].join('\n'),
  label: `<b onmouseover=${pwn(13)}>Go</b> {{name}}`,
  alt: `"><img src=x onerror=${pwn(14)}> {{name}}`,
};
const TRAITS = {
  name: `<img src=x onerror=${pwn(15)}>`,
  bio: `**[trap](javascript:${pwn(16)})** <iframe src="javascript:${pwn(17)}"></iframe>`,
};
const ALLOWED_TAGS = new Set(['style', 'div', 'h2', 'p', 'strong', 'em', 'a', 'ul', 'ol', 'li', 'img', 'button', 'span']);

describe('hostile content and pages', () => {
  const env = useBrowser();
  let collector;
  before(async () => { collector = await startCollector(); });
  after(() => collector?.stop());

  it('renders markup, handlers and script URLs as inert text, in every field and through {{interpolation}}', T, async (t) => {
    const doc = content(flow('evil', [
      {
        id: 'm',
        type: 'modal',
        blocks: [
          { type: 'title', text: XSS.title },
          { type: 'image', src: '/pixel.png', alt: XSS.alt },
          { type: 'text', markdown: XSS.markdown },
          { type: 'button', label: XSS.label, action: { type: 'next' }, primary: true },
        ],
      },
      { id: 'b', type: 'bubble', blocks: [{ type: 'text', markdown: '{{bio}}' }, { type: 'button', label: '{{name}}', action: { type: 'next' } }] },
    ]));
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-text', userId: 'u-evil', traits: TRAITS, content: doc });
    const dialogs = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    const lightImagesBefore = await page.evaluate(() => document.querySelectorAll('img, script, iframe, svg').length);
    await page.evaluate(() => window.segflow.start('evil'));
    await shown(page, 'm');

    const facts = () => page.evaluate(() => {
      const root = document.querySelector('segflow-ui').shadowRoot;
      const all = [...root.querySelectorAll('*')];
      return {
        tags: [...new Set(all.map((e) => e.localName))],
        handlers: all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.localName}[${a.name}]`)),
        hrefs: [...root.querySelectorAll('a')].map((a) => a.getAttribute('href')),
        imgs: [...root.querySelectorAll('img')].map((i) => ({ src: i.getAttribute('src'), alt: i.getAttribute('alt') })),
        title: root.querySelector('h2')?.textContent ?? null,
        text: root.querySelector('.step')?.textContent ?? '',
        button: root.querySelector('button.primary')?.textContent ?? null,
        lightDom: document.querySelectorAll('img, script, iframe, svg').length,
      };
    });
    const f = await facts();
    for (const tag of f.tags) assert.ok(ALLOWED_TAGS.has(tag), `unexpected element <${tag}> in the shadow root: ${f.tags}`);
    assert.deepEqual(f.handlers, [], 'no event-handler attribute anywhere');
    // Hrefs as the browser's URL parser resolved them against the page.
    assert.deepEqual(f.hrefs, ['https://example.com/ok', `${new URL(collector.url).origin}/docs?a=1`], 'only safe links keep an href');
    // Resolved against the page by the browser's URL parser.
    assert.deepEqual(f.imgs, [{ src: `${new URL(collector.url).origin}/pixel.png`, alt: `"><img src=x onerror=${pwn(14)}> <img src=x onerror=${pwn(15)}>` }]);
    assert.equal(f.title, `<script>${pwn(1)}</script><img src=x onerror="${pwn(2)}"> <img src=x onerror=${pwn(15)}>`, 'the title is literal text');
    assert.equal(f.button, `<b onmouseover=${pwn(13)}>Go</b> <img src=x onerror=${pwn(15)}>`);
    for (const literal of [`<svg onload=${pwn(5)}>`, 'js', 'mixed', 'tab', 'entity', `<a href="javascript:${pwn(12)}">raw anchor</a>`, '<iframe src=']) {
      assert.ok(f.text.includes(literal), `"${literal}" is shown as text`);
    }
    // An interpolated trait cannot add formatting or links: its ** and [](…) stay text.
    assert.ok(f.text.includes(`**[trap](javascript:${pwn(16)})**`));
    assert.equal(f.lightDom, lightImagesBefore, 'nothing was added to the page itself');

    // Poke at it: hover the button, click the text that looked like a link.
    await page.locator('segflow-ui .step button.primary').hover();
    await page.locator('segflow-ui .step .body li', { hasText: 'raw anchor' }).click();
    await clickButton(page, 'Go');
    await shown(page, 'b');
    const g = await facts();
    assert.deepEqual(g.hrefs, []);
    assert.equal(g.text.includes(`**[trap](javascript:${pwn(16)})**`), true);
    await sleep(300); // let any image error handler fire, if one existed
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no payload ran');
    assert.deepEqual(dialogs, []);
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('refuses unsafe URLs in images and navigate actions when content loads, naming the path', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-urls' });
    const load = (doc) => page.evaluate((doc) => window.segflow.loadContent(doc).then(() => 'loaded', (e) => `${e.code}: ${e.message}`), doc);
    const withBlock = (block) => content(flow('x', [{ id: 's', type: 'modal', blocks: [block] }]));
    const cases = [
      [{ type: 'image', src: `javascript:${pwn(20)}` }, 'flows[0].steps[0].blocks[0].src'],
      [{ type: 'image', src: 'JaVaScRiPt:alert(1)' }, 'flows[0].steps[0].blocks[0].src'],
      [{ type: 'image', src: 'data:image/svg+xml,<svg onload=alert(1)>' }, 'flows[0].steps[0].blocks[0].src'],
      [{ type: 'image', src: 'java\tscript:alert(1)' }, 'flows[0].steps[0].blocks[0].src'],
      [{ type: 'button', label: 'Go', action: { type: 'navigate', url: `javascript:${pwn(21)}` } }, 'flows[0].steps[0].blocks[0].action.url'],
      [{ type: 'button', label: 'Go', action: { type: 'navigate', url: ' \u0001javascript:alert(1)' } }, 'flows[0].steps[0].blocks[0].action.url'],
      [{ type: 'button', label: 'Go', action: { type: 'navigate', url: 'vbscript:msgbox' } }, 'flows[0].steps[0].blocks[0].action.url'],
    ];
    for (const [block, path] of cases) {
      const out = await load(withBlock(block));
      assert.ok(out.startsWith(`invalid_argument: segflow: ${path}: only http(s) and relative URLs`), `${JSON.stringify(block)} → ${out}`);
    }
    // Nothing of them was loaded.
    const started = await page.evaluate(() => window.segflow.start('x').then(() => 'started', (e) => e.code));
    assert.equal(started, 'invalid_argument');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  });

  it('shows steps of adversarial Markdown at the size limit at once, and refuses content over the limits, naming the path', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-size' });
    const LIMIT = 65536; // the longest string content may hold (README, "Limits")
    const units = ['[', '**a ', '{{', '[a](', '_a ', '*_', '[[', '{{a'];
    const doc = content(flow('slow', units.map((u, i) => ({
      id: `s${i}`, type: 'modal',
      blocks: [{ type: 'text', markdown: u.repeat(Math.floor(LIMIT / u.length)) }, { type: 'button', ...NEXT }],
    }))));
    assert.equal(await page.evaluate((doc) => window.segflow.loadContent(doc).then(() => 'loaded', (e) => e.message), doc), 'loaded');
    // Each step renders its 64 KB of Markdown when shown: time start() and each Next.
    const ms = await page.evaluate(async (n) => {
      const out = [];
      let t0 = performance.now();
      await window.segflow.start('slow');
      out.push(performance.now() - t0);
      for (let i = 1; i < n; i++) {
        const root = document.querySelector('segflow-ui').shadowRoot;
        const next = [...root.querySelectorAll('button')].find((b) => b.textContent === 'Next');
        t0 = performance.now();
        next.click();
        out.push(performance.now() - t0);
      }
      return out;
    }, units.length);
    for (const [i, m] of ms.entries()) assert.ok(m < 100, `${JSON.stringify(units[i])} x 64 KB shown in ${m.toFixed(1)} ms (< 100 ms)`);
    const over = content(flow('big', [{ id: 's', type: 'modal', blocks: [{ type: 'text', markdown: 'a'.repeat(LIMIT + 1) }] }]));
    const refused = await page.evaluate((doc) => window.segflow.loadContent(doc).then(() => 'loaded', (e) => `${e.code}: ${e.message}`), over);
    assert.equal(refused, 'invalid_argument: segflow: flows[0].steps[0].blocks[0].markdown: longer than 65536 bytes');
    const huge = content(flow('huge', Array.from({ length: 17 }, (_, i) => ({ id: `s${i}`, type: 'modal', blocks: [{ type: 'text', markdown: 'a'.repeat(LIMIT - 100) }] }))));
    const tooBig = await page.evaluate((doc) => window.segflow.loadContent(doc).then(() => 'loaded', (e) => `${e.code}: ${e.message}`), huge);
    assert.match(tooBig, /^invalid_argument: segflow: content is \d+ bytes of JSON; at most 1048576 are accepted$/);
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('ignores page markup that imitates segflow\'s buttons, and fails softly on broken selectors', T, async (t) => {
    const doc = content(
      flow('f', [{ id: 'b', type: 'bubble', blocks: [{ type: 'text', markdown: 'Hello' }, { type: 'button', ...NEXT }] }]),
      flow('bad', [
        { id: 'w', type: 'hidden', triggers: [{ when: { type: 'element_appears', selector: 'div[' }, action: { type: 'next' } }, { when: { type: 'wait', seconds: 0.2 }, action: { type: 'next' } }] },
        { id: 't', type: 'tooltip', target: '##nope <>', target_timeout_ms: 300, blocks: [{ type: 'text', markdown: 'never' }] },
      ]),
    );
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-page', content: doc });
    await page.evaluate(() => {
      // The app happens to use the same attribute names.
      for (const [sf, text] of [['close', 'Fake close'], ['btn:0', 'Fake next']]) {
        const b = document.createElement('button');
        b.dataset.sf = sf;
        b.textContent = text;
        document.querySelector('header').append(b);
      }
      window.segflow.start('f');
    });
    await shown(page, 'b');
    await page.getByText('Fake close').click();
    await page.getByText('Fake next').click();
    await sleep(150);
    assert.equal((await ui(page)).stepId, 'b', 'page elements with data-sf do not drive the flow');
    await clickButton(page, 'Next');
    await gone(page);

    await page.evaluate(() => window.segflow.start('bad'));
    await traceOf(page, 8, 3_000);
    assert.deepEqual((await flowTrace(page)).slice(4), ['flowStarted:bad:program', 'flowStepSeen:w', 'tooltipTargetMissing:t', 'flowEnded:bad:tooltip_target_missing']);
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('refuses input nested deeper than the limits with invalid_argument, never a RangeError, and sends what the limit allows', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-deep', userId: 'deep-user' });
    const out = await page.evaluate(() => {
      const nest = (n) => { let v = { leaf: 1 }; for (let i = 1; i < n; i++) v = { v }; return v; };
      const arr = (n) => { let v = [1]; for (let i = 1; i < n; i++) v = [v]; return v; };
      const codeOf = (f) => { try { f(); return 'ok'; } catch (e) { return `${e.constructor.name}:${e.code}:${e.message}`; } };
      const s = window.segflow;
      return {
        track8000: codeOf(() => s.track('Deep', { p: nest(8000) })),
        arrays8000: codeOf(() => s.track('Deep', { p: arr(8000) })),
        identify8000: codeOf(() => s.identify('deep-user', { t: nest(8000) })),
        group8000: codeOf(() => s.group('g', { t: nest(8000) })),
        track65: codeOf(() => s.track('Deep', nest(65))),
        track200: codeOf(() => s.track('Deep', nest(200))),
        track64: codeOf(() => s.track('Deep Enough', nest(64))),
      };
    });
    for (const key of ['track8000', 'arrays8000', 'identify8000', 'group8000', 'track65', 'track200']) {
      assert.match(out[key], /^Error:invalid_argument:.*nested more than 64 levels/, `${key}: ${out[key]}`);
    }
    assert.equal(out.track64, 'ok');
    const content = await page.evaluate(() => {
      let v = { leaf: 1 };
      for (let i = 1; i < 8000; i++) v = { v };
      return window.segflow.loadContent({ version: 1, flows: [], x: v }).then(() => 'loaded', (e) => `${e.constructor.name}:${e.code}:${e.message}`);
    });
    assert.match(content, /^Error:invalid_argument:segflow: content.*nested more than 127 levels/);
    await page.evaluate(() => window.segflow.flush());
    const events = await collector.events({ writeKey: 'hostile-deep' });
    assert.deepEqual(events.filter((e) => e.type === 'track').map((e) => e.event), ['Deep Enough'], 'the 64-deep event was accepted by the collector; nothing deeper was sent');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('reports no step or checklist seen on a page where segflow\'s UI cannot be created (attachShadow refused), tells the error listeners once, and shows them once it can', T, async (t) => {
    const doc = { ...content(flow('m', [modal('m1')])), checklists: [{ id: 'cl', name: 'CL', tasks: [{ id: 'a', name: 'A' }, { id: 'b', name: 'B', complete_when: [{ event: 'b_done' }] }] }] };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-noshadow', content: doc });
    const r = await page.evaluate(async () => {
      window.shownLog = [];
      window.segflow.on('checklistShown', (p) => window.shownLog.push(p.checklist.id));
      const attach = Element.prototype.attachShadow;
      Element.prototype.attachShadow = function refused() { throw new Error('no shadow DOM here'); };
      let first;
      try { await window.segflow.start('m'); first = 'resolved'; } catch (e) { first = `threw ${e.message}`; }
      let cl;
      try { await window.segflow.start('cl'); cl = 'resolved'; } catch (e) { cl = `threw ${e.message}`; }
      await new Promise((ok) => setTimeout(ok, 100));
      // The checklist changes (a task completed): not a second report.
      window.segflow.track('b_done');
      await new Promise((ok) => setTimeout(ok, 300));
      Element.prototype.attachShadow = attach;
      return { first, cl, hosts: document.querySelectorAll('segflow-ui, segflow-checklist').length, checklistShown: window.shownLog.slice() };
    });
    assert.deepEqual(r, { first: 'resolved', cl: 'resolved', hosts: 0, checklistShown: [] });
    assert.deepEqual((await flowTrace(page)).filter((l) => l.startsWith('flowStepSeen')), [], 'no step reported seen');
    // The developer learns why: one ui_unavailable for the step, one for the checklist.
    const errors = await page.evaluate(() => window.errors.slice());
    assert.equal(errors.length, 2, JSON.stringify(errors));
    assert.match(errors[0], /^ui_unavailable: .*step "m1" of flow "m"/);
    assert.match(errors[1], /^ui_unavailable: .*checklist "cl"/);
    // Once the page lets it, the next start shows the step and reports it seen.
    await page.evaluate(() => window.segflow.start('m'));
    await shown(page, 'm1');
    assert.deepEqual((await flowTrace(page)).filter((l) => l.startsWith('flowStepSeen')), ['flowStepSeen:m1']);
    assert.equal((await page.evaluate(() => window.errors.length)), 2, 'no error once the UI could be created');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('reports no step or checklist seen, and tells the error listeners, when the page will not let segflow\'s UI into <body> (appendChild throws)', T, async (t) => {
    const doc = { ...content(flow('m', [modal('m1')])), checklists: [{ id: 'cl', name: 'CL', tasks: [{ id: 'a', name: 'A' }] }] };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-noappend', content: doc });
    const r = await page.evaluate(async () => {
      window.shownLog = [];
      window.segflow.on('checklistShown', (p) => window.shownLog.push(p.checklist.id));
      const append = Node.prototype.appendChild;
      Node.prototype.appendChild = function refused(child) {
        if (this === document.body && /^segflow-/.test(child.localName)) throw new Error('no foreign elements in <body>');
        return append.call(this, child);
      };
      await window.segflow.start('m');
      await window.segflow.start('cl');
      await new Promise((ok) => setTimeout(ok, 300));
      Node.prototype.appendChild = append;
      return { hosts: [...document.querySelectorAll('segflow-ui, segflow-checklist')].filter((e) => e.isConnected).length, checklistShown: window.shownLog.slice(), errors: window.errors.slice() };
    });
    assert.equal(r.hosts, 0);
    assert.deepEqual(r.checklistShown, [], 'no checklist reported shown');
    assert.deepEqual((await flowTrace(page)).filter((l) => l.startsWith('flowStepSeen')), [], 'no step reported seen');
    assert.equal(r.errors.length, 2, JSON.stringify(r.errors));
    assert.match(r.errors[0], /^ui_unavailable: .*step "m1" of flow "m"/);
    assert.match(r.errors[1], /^ui_unavailable: .*checklist "cl"/);
    // Once the page lets it, the next start shows the step and reports it seen.
    await page.evaluate(() => window.segflow.start('m'));
    await shown(page, 'm1');
    assert.deepEqual((await flowTrace(page)).filter((l) => l.startsWith('flowStepSeen')), ['flowStepSeen:m1']);
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('runs a flow whose start condition is nested to the limit, and refuses content nested past it (the modules\' stacks hold both)', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-deep-ok', userId: 'deep-ok', traits: { plan: 'pro' }, content: { version: 1, flows: [] } });
    // Built in the page: Playwright's own argument passing is slow on deep values.
    const out = await page.evaluate(async () => {
      const doc = (k, extra = {}) => {
        let cond = { event: 'go' };
        for (let i = 0; i < k; i++) cond = { [i % 2 ? 'any' : 'all']: [cond] };
        return { version: 1, flows: [{ id: `deep${k}`, name: 'Deep', steps: [{ id: 'd1', type: 'modal', blocks: [{ type: 'title', text: 'Deep' }, { type: 'button', label: 'Next', action: { type: 'next' }, primary: true }] }], start: [cond], ...extra }] };
      };
      const load = (d) => window.segflow.loadContent(d).then(() => 'loaded', (e) => `${e.code}:${e.message}`);
      // JSON nested 127 levels (the limit) under a key the schema refuses.
      let v = { leaf: 1 };
      for (let i = 0; i < 123; i++) v = { v }; // 124 levels, from depth 4 (flows[0].x)
      // A regular expression with groups nested to their limit (50), and past it.
      // It is compiled and run inside conditions nested 32 deep (both limits at once).
      const rx = (n) => {
        let c = { all: [{ event: 'go2' }, { user: 'plan', op: 'matches', value: `${'('.repeat(n)}p.o${')'.repeat(n)}$` }] };
        for (let i = 0; i < 31; i++) c = { [i % 2 ? 'all' : 'any']: [c] };
        return { version: 1, flows: [{ id: `rx${n}`, name: 'Rx', steps: [{ id: `r${n}`, type: 'modal', blocks: [{ type: 'title', text: 'Rx' }] }], start: [c] }] };
      };
      return { at: await load(doc(32)), past: await load(doc(33)), json127: await load(doc(1, { x: v })), json128: await load(doc(1, { x: { v } })), rx50: await load(rx(50)), rx51: await load(rx(51)) };
    });
    assert.equal(out.at, 'loaded');
    assert.match(out.past, /^invalid_argument:.*conditions nested too deeply \(all and any at most 32 levels\)/);
    assert.match(out.json127, /^invalid_argument:segflow: flows\[0\]\.x: unknown field/);
    assert.match(out.json128, /^invalid_argument:.*nested more than 127 levels/);
    assert.equal(out.rx50, 'loaded');
    assert.match(out.rx51, /^invalid_argument:.*value/);
    await page.evaluate(() => window.segflow.track('go'));
    await shown(page, 'd1');
    await clickButton(page, 'Next');
    await gone(page);
    await page.evaluate(() => window.segflow.track('go2'));
    await shown(page, 'r50');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('lets page code re-enter segflow\'s own handlers (a listener that navigates, clicks or focuses) without an exception reaching the page', T, async (t) => {
    const doc = content(flow('f', [{ id: 'm', type: 'modal', blocks: [{ type: 'title', text: 'Hi' }, { type: 'button', ...NEXT }] }]));
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-reenter', pageTracking: true, content: doc });
    const out = await page.evaluate(async () => {
      const errors = [];
      window.addEventListener('error', (e) => errors.push(e.message));
      const s = window.segflow;
      const views = [];
      // A pageViewed listener that navigates again (once): segflow's navigation
      // handler runs inside itself.
      s.on('pageViewed', (e) => {
        views.push(new URL(e.page_url).pathname);
        if (views.length === 1) history.pushState({}, '', '/app/second');
      });
      // A flowStarted listener that clicks and focuses page elements: segflow's click
      // and focus handlers run inside themselves.
      s.on('flowStarted', () => {
        document.getElementById('other-button').click();
        document.getElementById('other-button').focus();
      });
      history.pushState({}, '', '/app/first');
      await s.start('f');
      await new Promise((r) => setTimeout(r, 200));
      return { errors, views };
    });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.views, ['/app/first', '/app/second']);
    assert.equal((await ui(page)).stepId, 'm', 'the step still shows');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('keeps links, images and navigate actions on the site: disguised hosts refused, URLs resolved with the browser\'s parser', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-redirect' });
    const load = (doc) => page.evaluate((doc) => window.segflow.loadContent(doc).then(() => 'loaded', (e) => `${e.code}: ${e.message}`), doc);
    const withBlock = (block) => content(flow('x', [{ id: 's', type: 'modal', blocks: [block] }]));
    for (const url of ['//evil.example/p', '\\\\evil.example/q', '/\\evil.example/r', '/\t/evil.example/s']) {
      const nav = await load(withBlock({ type: 'button', label: 'Go', action: { type: 'navigate', url } }));
      assert.match(nav, /^invalid_argument: segflow: flows\[0\]\.steps\[0\]\.blocks\[0\]\.action\.url: only http\(s\) and relative URLs/, `${JSON.stringify(url)} → ${nav}`);
      const img = await load(withBlock({ type: 'image', src: url }));
      assert.match(img, /^invalid_argument: segflow: flows\[0\]\.steps\[0\]\.blocks\[0\]\.src:/, `${JSON.stringify(url)} → ${img}`);
    }
    // In Markdown, such links lose their href.
    const origin = new URL(collector.url).origin;
    const md = '[a](//evil.example/p) [b](\\\\evil.example/q) [c](/\\evil.example/r) [same](/docs) [ext](https://docs.example/x)';
    assert.equal(await load(content(flow('links', [{ id: 's', type: 'modal', blocks: [{ type: 'text', markdown: md }, { type: 'button', label: 'Go', action: { type: 'navigate', url: '/settings' } }] }]))), 'loaded');
    const links = async () => page.evaluate(() => [...document.querySelector('segflow-ui').shadowRoot.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href'), a.getAttribute('target'), a.getAttribute('rel')]));
    await page.evaluate(() => window.segflow.start('links'));
    await shown(page, 's');
    assert.deepEqual(await links(), [
      ['same', `${origin}/docs`, null, null],
      ['ext', 'https://docs.example/x', '_blank', 'noopener noreferrer'],
    ]);
    await page.evaluate(() => window.segflow.endAll());
    // A page whose <base href> points elsewhere cannot send relative URLs there.
    await page.evaluate(() => { const b = document.createElement('base'); b.href = 'https://evil.example/'; document.head.prepend(b); });
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    await page.evaluate(() => window.segflow.start('links'));
    await shown(page, 's');
    assert.deepEqual(await links(), [['ext', 'https://docs.example/x', '_blank', 'noopener noreferrer']], 'the relative link resolved to another origin: text only');
    const before = page.url();
    await clickButton(page, 'Go');
    await sleep(300);
    assert.equal(page.url(), before, 'navigate to a relative URL that resolves to another origin is not followed');
    assert.ok(warnings.some((w) => w.includes('navigate refused')), warnings.join('\n'));
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('keeps working when a DOM method the page patched throws under segflow (the throw never crosses the module)', T, async (t) => {
    const doc = content(
      flow('tip', [{ id: 't', type: 'tooltip', target: 'header', blocks: [{ type: 'text', markdown: 'Tip' }, { type: 'button', ...NEXT }] }]),
      flow('m', [modal('m1')]),
    );
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-throws', content: doc });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The first three measurements throw (a monitoring script gone wrong), while
    // segflow places the tooltip.
    await page.evaluate(() => {
      const original = Element.prototype.getBoundingClientRect;
      let failures = 3;
      Element.prototype.getBoundingClientRect = function patched() {
        if (failures > 0) { failures--; throw new Error('patched getBoundingClientRect'); }
        return original.call(this);
      };
      window.segflow.start('tip');
    });
    // Placed again on the next resize, once measuring works.
    await page.setViewportSize({ width: 1100, height: 760 });
    await shown(page, 't');
    await clickButton(page, 'Next');
    await gone(page);
    await page.evaluate(() => window.segflow.start('m'));
    await shown(page, 'm1');
    assert.deepEqual(errors, []);
  });

  it('keeps working when a patched DOM method returns something that is not a boolean or a number', T, async (t) => {
    const doc = content(
      flow('tip', [{ id: 't', type: 'tooltip', target: 'header', blocks: [{ type: 'text', markdown: 'Tip' }, { type: 'button', ...NEXT }] }]),
      flow('m', [modal('m1')]),
    );
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-returns', content: doc });
    // Node.contains answers a Symbol once (which no wasm number can be made of).
    const first = await page.evaluate(async () => {
      const original = Node.prototype.contains;
      let odd = 1;
      Node.prototype.contains = function patched(o) {
        if (odd > 0) { odd--; return Symbol('odd'); }
        return original.call(this, o);
      };
      try { await window.segflow.start('m'); return 'resolved'; } catch (e) { return `threw ${e && e.message}`; }
    });
    assert.equal(first, 'resolved');
    await shown(page, 'm1');
    await clickButton(page, 'Next');
    await gone(page);
    // Nothing was left half-done: the next flow starts and runs.
    await page.evaluate(() => window.segflow.start('tip'));
    await shown(page, 't');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('cancels only its own timers when the page\'s setTimeout returns objects (as some polyfills and fake timers do)', T, async (t) => {
    const doc = content(flow('late', [{ id: 'tip', type: 'tooltip', target: '#late-1', blocks: [{ type: 'text', markdown: 'Tip' }, { type: 'button', ...NEXT }] }]));
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-timers', content: doc });
    // setTimeout answers an object; clearTimeout takes it back. Every value segflow
    // hands to clearTimeout must be one setTimeout answered: a number would clear
    // a timer of the page's own.
    await page.evaluate(() => {
      const set = window.setTimeout.bind(window);
      const clear = window.clearTimeout.bind(window);
      window.strayClears = [];
      window.setTimeout = (f, ms, ...a) => ({ native: set(f, ms, ...a) });
      window.clearTimeout = (h) => {
        if (h && typeof h == 'object') clear(h.native);
        else if (h !== undefined) { window.strayClears.push(h); clear(h); }
      };
      // The page's own timer, which nothing but the page may clear.
      window.pageTimerFired = false;
      window.setTimeout(() => { window.pageTimerFired = true; }, 1500);
      window.app.renderLater('late-1', 400);
      window.segflow.start('late');
    });
    // The target appears before the wait times out: segflow cancels the wait's timer.
    await shown(page, 'tip');
    await clickButton(page, 'Next');
    await gone(page);
    await waitFor(() => page.evaluate(() => window.pageTimerFired), { timeout: 5_000, message: 'the page\'s own timer still fires' });
    assert.deepEqual(await page.evaluate(() => window.strayClears), []);
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('rejects loadContent(url) with content_unavailable when the body breaks off after a 200, or the fetch answers no Response', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-body' });
    const out = await page.evaluate(async () => {
      await window.segflow.loadContent({ version: 1, flows: [] }); // the content module is loaded
      const outcome = async () => {
        try { await window.segflow.loadContent('/flows-content.json'); return 'resolved'; } catch (e) { return `${e && e.code}: ${e && e.message}`; }
      };
      // A connection that drops in the middle of the body.
      window.fetch = async () => ({ ok: true, status: 200, text: () => Promise.reject(new TypeError('network error')) });
      const broken = await outcome();
      // A patched fetch that answers something that is not a Response.
      window.fetch = async () => 42;
      const notResponse = await outcome();
      return { broken, notResponse };
    });
    assert.equal(out.broken, 'content_unavailable: segflow: GET /flows-content.json failed: network error');
    assert.equal(out.notResponse, 'content_unavailable: segflow: GET /flows-content.json failed: the answer is not a Response');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('rejects loadContent(url) with content_unavailable when the page\'s fetch throws at once', T, async (t) => {
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-fetch' });
    const out = await page.evaluate(async () => {
      const errors = [];
      window.segflow.on('error', (e) => errors.push(e && e.code));
      await window.segflow.loadContent({ version: 1, flows: [] }); // the content module is loaded
      window.fetch = () => { throw new TypeError('fetch is not available here'); };
      try { await window.segflow.loadContent('/flows-content.json'); return { r: 'resolved', errors }; } catch (e) { return { r: 'rejected', code: e && e.code, message: e && e.message, errors }; }
    });
    assert.equal(out.r, 'rejected', JSON.stringify(out));
    assert.equal(out.code, 'content_unavailable');
    assert.match(out.message, /fetch is not available here/);
  });

  it('shows flows and checklists, and their buttons work, when the page forces shadow roots closed', T, async (t) => {
    const doc = {
      ...content(
        flow('m', [modal('m1'), modal('m2')]),
        // A tooltip whose target (body) holds segflow's host: a click on the
        // step's own button is not a click on the target.
        flow('tb', [
          { id: 'tb1', type: 'tooltip', target: 'body', blocks: [{ type: 'text', markdown: 'Tip' }, { type: 'button', ...NEXT }], triggers: [{ when: { type: 'target_clicked' }, action: { type: 'end' } }] },
          modal('tb2'),
        ]),
      ),
      checklists: [{ id: 'cl', name: 'CL', tasks: [{ id: 'a', name: 'Task A' }, { id: 'b', name: 'Task B' }] }],
    };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-closed', init: {} });
    // An anti-tampering script: every shadow root is closed (host.shadowRoot is null).
    await page.evaluate(async (doc) => {
      const attach = Element.prototype.attachShadow;
      window.__roots = [];
      Element.prototype.attachShadow = function closed(init) {
        const root = attach.call(this, { ...init, mode: 'closed' });
        window.__roots.push(root);
        return root;
      };
      await window.segflow.loadContent(doc);
      await window.segflow.start('m');
    }, doc);
    const stepText = () => page.evaluate(() => {
      const root = window.__roots.find((r) => r.host.localName === 'segflow-ui');
      const step = root && root.querySelector('[data-step]');
      return step ? step.getAttribute('data-step') : null;
    });
    await waitFor(async () => (await stepText()) === 'm1', { message: 'm1 shown in the closed root' });
    assert.equal(await page.evaluate(() => document.querySelector('segflow-ui').shadowRoot), null, 'the root is closed');
    // A real click on the Next button, found through the root the page kept.
    const clickIn = async (host, text) => {
      const box = await page.evaluate(({ host, text }) => {
        const root = window.__roots.find((r) => r.host.localName === host);
        const b = text.startsWith('[') ? root.querySelector(text) : [...root.querySelectorAll('button')].find((x) => x.textContent.trim() === text);
        if (!b) return null;
        const r = b.getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }, { host, text });
      assert.ok(box, `${text} button in <${host}>`);
      await page.mouse.click(box.x, box.y);
    };
    await sleep(400); // the step's fade-in
    await clickIn('segflow-ui', 'Next');
    await waitFor(async () => (await stepText()) === 'm2', { message: 'Next went to m2' });
    await page.keyboard.press('Escape');
    await waitFor(async () => (await stepText()) === null, { message: 'Escape closed the flow' });
    assert.deepEqual((await flowTrace(page)).filter((l) => /^flow(StepSeen|Ended)/.test(l)), ['flowStepSeen:m1', 'flowStepSeen:m2', 'flowEnded:m:user_closed']);
    await page.evaluate(() => window.segflow.start('tb'));
    await waitFor(async () => (await stepText()) === 'tb1', { message: 'tb1 shown' });
    await sleep(400);
    await clickIn('segflow-ui', 'Next');
    await waitFor(async () => (await stepText()) === 'tb2', { message: 'Next went to tb2, the target trigger did not end the flow' });
    await page.keyboard.press('Escape');
    // The checklist: a task clicked in its closed root completes.
    await page.evaluate(async () => {
      window.done = [];
      window.segflow.on('checklistTaskCompleted', (p) => window.done.push(p.checklist_task_id));
      await window.segflow.start('cl');
    });
    await waitFor(() => page.evaluate(() => {
      const root = window.__roots.find((r) => r.host.localName === 'segflow-checklist');
      return !!(root && root.querySelector('.panel'));
    }), { message: 'checklist panel open in its closed root' });
    await sleep(300);
    await clickIn('segflow-checklist', '[data-cl="task:a"]');
    await waitFor(async () => (await page.evaluate(() => window.done)).includes('a'), { message: 'task a completed by its click' });
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });

  it('survives pages that replace <body>, move segflow\'s host or trap focus themselves while a modal is open', T, async (t) => {
    const doc = content(flow('m', [modal('m1'), modal('m2')]), flow('b', [{ id: 'b1', type: 'bubble', blocks: [{ type: 'text', markdown: 'Hi' }, { type: 'button', ...NEXT }] }]));
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'hostile-dom', content: doc });
    // 1. The page swaps <body> (Turbo Drive, htmx boost): the modal comes back, the
    //    new page behind it is inert, and keys do not drive an invisible flow.
    await page.evaluate(() => window.segflow.start('m'));
    await shown(page, 'm1');
    await page.evaluate(() => {
      const nb = document.createElement('body');
      nb.innerHTML = '<input id=a><button id=late-button>Late</button>';
      document.documentElement.replaceChild(nb, document.body);
    });
    await waitFor(() => page.evaluate(() => !!document.body.querySelector('segflow-ui')), { message: 'the UI back in the new body' });
    assert.equal((await ui(page)).stepId, 'm1');
    assert.deepEqual(await page.evaluate(() => [...document.body.children].filter((e) => e.localName !== 'segflow-ui').map((e) => `${e.id}:${e.inert}`)), ['a:true', 'late-button:true']);
    await page.keyboard.press('Escape');
    await gone(page);
    assert.deepEqual(await page.evaluate(() => [...document.body.children].filter((e) => e.localName !== 'segflow-ui').map((e) => `${e.id}:${e.inert}`)), ['a:false', 'late-button:false'], 'inert undone on the new body');
    // 2. The page moves the host into a wrapper: the wrapper is not made inert, the
    //    modal stays usable.
    await page.evaluate(() => { const w = document.createElement('div'); w.id = 'wrap'; document.body.append(w); w.append(document.querySelector('segflow-ui')); });
    await page.evaluate(() => window.segflow.start('m'));
    await shown(page, 'm1');
    assert.equal(await page.evaluate(() => document.getElementById('wrap').inert), false);
    await clickButton(page, 'Next');
    await shown(page, 'm2');
    // 3. A dialog of the page's own, added while the modal is open, with a focus
    //    trap of its own: it is inert too, and no focus fight reaches the page.
    const fight = await page.evaluate(async () => {
      const errors = [];
      window.addEventListener('error', (e) => errors.push(e.message));
      const d = document.createElement('div');
      d.id = 'late-dialog';
      d.innerHTML = '<input id=li>';
      document.body.append(d);
      await new Promise((r) => setTimeout(r, 50)); // the DOM observer sees it
      let n = 0;
      const trap = (e) => { n++; if (n < 500 && !d.contains(e.target)) document.getElementById('li').focus(); };
      document.addEventListener('focusin', trap, true);
      document.getElementById('li').focus();
      await new Promise((r) => setTimeout(r, 200));
      document.removeEventListener('focusin', trap, true);
      return { errors, inert: d.inert, n };
    });
    assert.deepEqual(fight.errors, []);
    assert.equal(fight.inert, true, 'a dialog added behind the modal is inert');
    assert.deepEqual(page.logs.filter((l) => l.startsWith('pageerror')), []);
  });
});
