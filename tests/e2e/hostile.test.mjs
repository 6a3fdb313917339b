// Hostile flow content and hostile pages: markup, event-handler attributes and
// script URLs in titles, Markdown, button labels, image alts and interpolated user
// traits must never run script or create elements beyond segflow's own; unsafe
// links lose their href; unsafe URLs in content are refused up front; page markup
// that imitates segflow's cannot drive its UI; broken selectors fail softly.
//
// Every payload sets a `window.__pwned` flag or opens a dialog if it ever runs.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { sleep, startCollector, useBrowser } from './harness.mjs';
import {
  NEXT, clickButton, content, flow, flowTrace, gone, openFlows, shown, traceOf, ui,
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
    assert.deepEqual(f.hrefs, ['https://example.com/ok', '/docs?a=1'], 'only safe links keep an href');
    assert.deepEqual(f.imgs, [{ src: '/pixel.png', alt: `"><img src=x onerror=${pwn(14)}> <img src=x onerror=${pwn(15)}>` }]);
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
      assert.ok(out.startsWith(`invalid_argument: ${path}: only http(s) and relative URLs`), `${JSON.stringify(block)} → ${out}`);
    }
    // Nothing of them was loaded.
    const started = await page.evaluate(() => window.segflow.start('x').then(() => 'started', (e) => e.code));
    assert.equal(started, 'invalid_argument');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
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
});
