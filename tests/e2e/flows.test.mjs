// Flows in a real browser: the built package runs onboarding flows in
// tests/e2e/pages/flows.html (a small fake app) and every generated event is checked
// twice: as the page's on() listeners see it and as it reaches the collector (a
// Segment `track` with the Title Case name, the user's ids and company_id).
//
// One collector serves the file; each test has its own writeKey (events are read
// back by it) and its own browser context (its own localStorage).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  flush, newContext, openPage, sleep, startCollector, useBrowser, waitFor,
} from './harness.mjs';
import {
  BACK, NEXT, PAGE_PROPS, boot, clickButton, collectorTrace, content, flow, flowLog, flowTrace,
  generatedAtCollector, gone, modal, openFlows, rectOf, shown, storedProgress, traceOf, ui,
} from './flows-helpers.mjs';

const T = { timeout: 30_000 };

/** A tooltip step. */
function tooltip(id, target, extra = {}, buttons = [NEXT]) {
  return {
    id,
    name: `Step ${id}`,
    type: 'tooltip',
    target,
    blocks: [
      { type: 'title', text: `Tooltip ${id}` },
      { type: 'text', markdown: `Points at \`${target}\`.` },
      ...buttons.map((b) => ({ type: 'button', ...b })),
    ],
    ...extra,
  };
}

/** A bubble step. */
function bubble(id, corner, buttons = [NEXT], extra = {}) {
  return {
    id,
    name: `Step ${id}`,
    type: 'bubble',
    ...(corner ? { corner } : {}),
    blocks: [{ type: 'text', markdown: `Bubble ${id}` }, ...buttons.map((b) => ({ type: 'button', ...b }))],
    ...extra,
  };
}

const close = (a, b, tolerance = 2) => Math.abs(a - b) <= tolerance;

describe('flows in the browser', () => {
  const env = useBrowser();
  let collector;
  before(async () => { collector = await startCollector(); });
  after(() => collector?.stop());

  const open = (t, options) => openFlows(env.browser, t, collector, options);

  it('clicks through a multi-step flow with next, back and go_to_step and completes it', T, async (t) => {
    const writeKey = 'flows-multi';
    const doc = content(flow('tour', [
      modal('s1', [NEXT]),
      modal('s2', [BACK, { label: 'Skip ahead', action: { type: 'go_to_step', step: 's4' } }, NEXT]),
      modal('s3', [NEXT]),
      modal('s4', [BACK, { label: 'Done', action: { type: 'next' }, primary: true }]),
    ], { show_progress: true, version_id: 'v-9', version_number: 9 }));
    const { page } = await open(t, { writeKey, userId: 'u-multi', groupId: 'co-1', content: doc });
    await page.evaluate(() => window.segflow.start('tour'));

    let u = await shown(page, 's1');
    assert.equal(u.progress, '1 of 4');
    assert.equal(u.title, 'Title s1');
    assert.deepEqual(u.buttons, ['Next']);
    await clickButton(page, 'Next');
    u = await shown(page, 's2');
    assert.equal(u.progress, '2 of 4');
    assert.deepEqual(u.buttons, ['Back', 'Skip ahead', 'Next']);
    await clickButton(page, 'Back');
    await shown(page, 's1');
    await clickButton(page, 'Next');
    await shown(page, 's2');
    await clickButton(page, 'Skip ahead');
    u = await shown(page, 's4');
    assert.equal(u.progress, '4 of 4');
    await clickButton(page, 'Done');
    await gone(page);

    const expected = [
      'flowStarted:tour:program', 'flowStepSeen:s1', 'flowStepSeen:s2', 'flowStepSeen:s1', 'flowStepSeen:s2',
      'flowStepSeen:s4', 'flowCompleted:tour', 'flowEnded:tour:completed',
    ];
    assert.deepEqual(await flowTrace(page), expected);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: expected.length });
    assert.deepEqual(collectorTrace(events), [
      'Flow Started:tour:program', 'Flow Step Seen:s1', 'Flow Step Seen:s2', 'Flow Step Seen:s1',
      'Flow Step Seen:s2', 'Flow Step Seen:s4', 'Flow Completed:tour', 'Flow Ended:tour:completed',
    ]);
    const anonymousId = await page.evaluate(() => window.segflow.user().anonymousId);
    for (const e of events) {
      assert.equal(e.type, 'track');
      assert.equal(e.userId, 'u-multi');
      assert.equal(e.anonymousId, anonymousId);
      assert.equal(e.properties.company_id, 'co-1', 'the active group rides along as company_id');
      assert.equal(e.properties.flow_id, 'tour');
      assert.equal(e.properties.flow_name, 'Flow tour');
      assert.equal(e.properties.flow_version_id, 'v-9');
      assert.equal(e.properties.flow_version_number, 9);
      assert.equal(e.properties.page_url, `${collector.url}/flows.html`);
      assert.equal(e.properties.viewport_width, 1280);
      assert.equal(e.properties.viewport_height, 720);
      assert.equal(e.properties.locale_code, 'en-US');
    }
    // Step events carry the step's id, name, 0-based number and rounded progress.
    const seen = events.filter((e) => e.event === 'Flow Step Seen').map((e) => e.properties);
    assert.deepEqual(seen.map((p) => [p.flow_step_id, p.flow_step_name, p.flow_step_number, p.flow_step_progress]), [
      ['s1', 'Step s1', 0, 25], ['s2', 'Step s2', 1, 50], ['s1', 'Step s1', 0, 25], ['s2', 'Step s2', 1, 50], ['s4', 'Step s4', 3, 100],
    ]);
    assert.deepEqual(Object.keys(seen[0]).sort(), [
      'company_id', 'flow_id', 'flow_name', 'flow_step_id', 'flow_step_name', 'flow_step_number', 'flow_step_progress',
      'flow_version_id', 'flow_version_number', ...PAGE_PROPS,
    ].sort());
    // Listeners get exactly the properties Segment gets (minus the company
    // property), plus `flow.id` as Userflow.js's listeners do.
    const log = await flowLog(page);
    assert.equal(log.length, events.length);
    log.forEach(([, payload], i) => {
      const { company_id: _, ...props } = events[i].properties;
      assert.deepEqual(payload, { ...props, flow: { id: props.flow_id } });
    });
  });

  it('renders a modal centred over a backdrop, a bubble in its corner and a hidden step that waits for its trigger', T, async (t) => {
    const writeKey = 'flows-kinds';
    const doc = content(flow('kinds', [
      { id: 'wait', type: 'hidden', triggers: [{ when: { type: 'element_appears', selector: '#late-hidden' }, action: { type: 'next' } }] },
      modal('m', [NEXT]),
      bubble('b1', 'top-left'),
      bubble('b2', undefined, [{ label: 'Finish', action: { type: 'end' }, primary: true }]),
    ]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => { window.segflow.start('kinds'); window.app.renderLater('late-hidden', 400); });
    // The hidden step shows nothing but counts as seen.
    assert.deepEqual(await flowTrace(page), ['flowStarted:kinds:program', 'flowStepSeen:wait']);
    assert.equal((await ui(page)).shown, false);
    const t0 = Date.now();
    let u = await shown(page, 'm');
    assert.ok(Date.now() - t0 >= 250, 'the modal waited for the element to appear');
    assert.deepEqual(u.classes, ['step', 'modal']);
    assert.equal(u.backdrop, true);
    assert.ok(close(u.rect.x + u.rect.width / 2, 640) && close(u.rect.y + u.rect.height / 2, 360), `modal centred: ${JSON.stringify(u.rect)}`);
    assert.ok(u.rect.width >= 320, `a modal has a comfortable width, not the width of its longest word (${u.rect.width})`);
    // The backdrop covers the page: a click on the page lands on it, not on the app.
    const hit = await page.evaluate(() => document.elementFromPoint(5, 5)?.localName);
    assert.equal(hit, 'segflow-ui');

    await clickButton(page, 'Next');
    u = await shown(page, 'b1');
    assert.deepEqual(u.classes, ['step', 'bubble', 'top-left']);
    assert.equal(u.backdrop, false);
    assert.ok(close(u.rect.x, 24) && close(u.rect.y, 24), `top-left bubble: ${JSON.stringify(u.rect)}`);
    // No backdrop: the app stays usable around a bubble.
    assert.notEqual(await page.evaluate(() => document.elementFromPoint(640, 360)?.localName), 'segflow-ui');
    await clickButton(page, 'Next');
    u = await shown(page, 'b2');
    assert.deepEqual(u.classes, ['step', 'bubble', 'bottom-right'], 'bottom-right is the default corner');
    assert.ok(close(u.rect.right, 1280 - 24) && close(u.rect.bottom, 720 - 24), `bottom-right bubble: ${JSON.stringify(u.rect)}`);
    await clickButton(page, 'Finish');
    await gone(page);
    const trace = ['flowStarted:kinds:program', 'flowStepSeen:wait', 'flowStepSeen:m', 'flowStepSeen:b1', 'flowStepSeen:b2',
      'flowCompleted:kinds', 'flowEnded:kinds:completed'];
    assert.deepEqual(await flowTrace(page), trace);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: trace.length });
    assert.equal(events.length, trace.length);
    // Not identified: the anonymous id only.
    assert.ok(events.every((e) => e.userId === undefined || e.userId === null));
    assert.ok(events.every((e) => e.anonymousId === events[0].anonymousId && e.anonymousId));
  });

  it('keeps a tooltip taller than the viewport inside it: its text scrolls, the arrow still points at the target, its buttons stay reachable', T, async (t) => {
    const writeKey = 'flows-tall-tooltip';
    const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i + 1} of a long explanation.`).join('\n\n');
    const tall = {
      id: 'tall', name: 'Tall', type: 'tooltip', target: '#settings',
      blocks: [{ type: 'title', text: 'A lot to say' }, { type: 'text', markdown: long }, { type: 'button', ...NEXT }],
    };
    const doc = content(flow('tall', [tall, tooltip('after', '#settings')], { dismissible: true }));
    const { page } = await open(t, { writeKey, content: doc, contextOptions: { viewport: { width: 1000, height: 480 } } });
    await page.evaluate(() => window.segflow.start('tall'));
    const u = await shown(page, 'tall');
    const r = await rectOf(page, '#settings');
    assert.ok(u.rect.y >= 0 && u.rect.bottom <= 480, `within the viewport: ${JSON.stringify(u.rect)}`);
    assert.ok(close(u.arrow.x, r.cx), `the arrow points at the target: ${JSON.stringify(u.arrow)} ${JSON.stringify(r)}`);
    // The close button stays in its corner while the text scrolls.
    const corner = await page.evaluate(() => {
      const root = document.querySelector('segflow-ui').shadowRoot;
      const step = root.querySelector('.step').getBoundingClientRect();
      const c = root.querySelector('button.close').getBoundingClientRect();
      return { dx: step.right - c.right, dy: c.y - step.y };
    });
    assert.ok(corner.dx >= 0 && corner.dx < 20 && corner.dy >= 0 && corner.dy < 20, JSON.stringify(corner));
    await clickButton(page, 'Next');
    await shown(page, 'after');
  });

  it('lays a step out right to left in a right-to-left page: text from the right, close button and lists mirrored, "1 of 2" in reading order', T, async (t) => {
    const writeKey = 'flows-rtl';
    const step1 = {
      id: 'r1', name: 'R1', type: 'modal',
      blocks: [
        { type: 'title', text: 'مرحبا' },
        { type: 'text', markdown: 'نص قصير\n\n- أول\n- ثان' },
        { type: 'button', ...NEXT },
      ],
    };
    const doc = content(flow('rtl', [step1, modal('r2')], { dismissible: true, show_progress: true }));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => { document.documentElement.dir = 'rtl'; window.segflow.start('rtl'); });
    await shown(page, 'r1');
    const m = await page.evaluate(() => {
      const root = document.querySelector('segflow-ui').shadowRoot;
      const rect = (el) => el.getBoundingClientRect();
      const textRect = (el) => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect(); };
      const step = rect(root.querySelector('.step'));
      const h2 = root.querySelector('h2');
      const progress = root.querySelector('.progress');
      // Where each digit of "1 of 2" is drawn.
      const digitX = (d) => {
        const node = progress.firstChild;
        const i = node.textContent.indexOf(d);
        const r = document.createRange();
        r.setStart(node, i);
        r.setEnd(node, i + 1);
        return r.getBoundingClientRect().x;
      };
      const li = root.querySelector('li');
      return {
        titleRightGap: step.right - textRect(h2).right,
        closeLeftGap: rect(root.querySelector('button.close')).x - step.x,
        bulletSide: getComputedStyle(li.parentElement).paddingRight,
        progressRightGap: step.right - rect(progress).right,
        oneBeforeTwo: digitX('1') < digitX('2'),
        text: progress.textContent,
      };
    });
    assert.ok(m.titleRightGap < 40, `the title starts at the right: ${JSON.stringify(m)}`);
    assert.ok(m.closeLeftGap < 20, `the close button is in the left corner: ${JSON.stringify(m)}`);
    assert.equal(m.bulletSide, '22px', 'list indented on the right');
    assert.ok(m.progressRightGap < 40, `the progress starts the footer, at the right: ${JSON.stringify(m)}`);
    assert.equal(m.text, '1 of 2');
    assert.ok(m.oneBeforeTwo, '"1 of 2" reads 1 of 2, not 2 of 1');
    // The arrow keys follow the layout: the arrow pointing at the next step (left,
    // here) goes next, the one pointing back goes back.
    await page.keyboard.press('ArrowRight');
    await sleep(150);
    assert.equal(await page.locator('segflow-ui .step[data-step=r1]').count(), 1, 'ArrowRight (back, right to left) does not go next');
    await page.keyboard.press('ArrowLeft');
    await shown(page, 'r2');
    // A page right to left by CSS alone (no dir attribute): the layout and the keys
    // follow the direction the UI is laid out in.
    await page.evaluate(() => {
      window.segflow.endAll();
      document.documentElement.removeAttribute('dir');
      document.documentElement.style.direction = 'rtl';
      window.segflow.start('rtl');
    });
    await shown(page, 'r1');
    await page.keyboard.press('ArrowLeft');
    await shown(page, 'r2');
  });

  it('shows its steps over the app\'s own modal <dialog>, usable, without making the dialog inert, and moves back once it closes', T, async (t) => {
    const writeKey = 'flows-app-dialog';
    const doc = content(
      flow('over', [modal('o1', [{ label: 'Got it', action: { type: 'next' }, primary: true }])]),
      flow('inside', [tooltip('i1', '#in-dialog', { placement: 'bottom' }, [{ label: 'Done', action: { type: 'next' }, primary: true }])]),
    );
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => {
      const d = document.createElement('dialog');
      d.id = 'app-dialog';
      d.innerHTML = '<p>Settings</p><button id="in-dialog">Save</button> <button id="close-dialog">Close</button>';
      d.querySelector('#close-dialog').onclick = () => d.close();
      d.querySelector('#in-dialog').onclick = () => { window.saved = (window.saved || 0) + 1; };
      document.body.append(d);
      d.showModal();
    });
    // A modal step started while the app's dialog is open: on top and clickable.
    await page.evaluate(() => window.segflow.start('over'));
    await shown(page, 'o1');
    const onTop = () => page.evaluate(() => {
      const root = document.querySelector('segflow-ui').shadowRoot;
      const r = root.querySelector('.step').getBoundingClientRect();
      const hit = document.elementFromPoint(r.x + r.width / 2, r.y + 10);
      return hit?.localName;
    });
    assert.equal(await onTop(), 'segflow-ui', 'the step is not covered by the dialog');
    assert.equal(await page.evaluate(() => document.getElementById('app-dialog').hasAttribute('inert')), false, 'the dialog is not made inert');
    await clickButton(page, 'Got it');
    await gone(page);
    assert.deepEqual(await flowTrace(page), ['flowStarted:over:program', 'flowStepSeen:o1', 'flowCompleted:over', 'flowEnded:over:completed']);
    // The dialog works as before.
    await page.locator('#in-dialog').click({ timeout: 3000 });
    assert.equal(await page.evaluate(() => window.saved), 1);
    // A tooltip on a button inside the dialog: next to it and clickable.
    await page.evaluate(() => window.segflow.start('inside'));
    const u = await shown(page, 'i1');
    const r = await rectOf(page, '#in-dialog');
    assert.ok(close(u.rect.y, r.bottom + 12), `below its target: ${JSON.stringify(u.rect)} ${JSON.stringify(r)}`);
    assert.equal(await onTop(), 'segflow-ui');
    await clickButton(page, 'Done');
    await gone(page);
    // Once the dialog is closed, a step shows in the page as usual.
    await page.locator('#close-dialog').click();
    await page.evaluate(() => window.segflow.start('over'));
    await shown(page, 'o1');
    assert.equal(await onTop(), 'segflow-ui');
    assert.equal(await page.evaluate(() => document.querySelector('segflow-ui').parentElement.localName), 'body');
  });

  it('places a tooltip next to its target inside a modal <dialog> that has a transform (a containing block for fixed elements)', T, async (t) => {
    const writeKey = 'flows-transformed-dialog';
    const doc = content(flow('inside', [tooltip('i1', '#in-dialog', { placement: 'bottom' }, [{ label: 'Done', action: { type: 'next' }, primary: true }])]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => {
      const d = document.createElement('dialog');
      // A design system's dialog: offset and scaled-in with a transform, which makes
      // it the containing block of position: fixed descendants.
      d.style.cssText = 'transform: translate(40px, 30px); margin: 120px auto auto 200px; padding: 24px';
      d.innerHTML = '<p>Settings</p><button id="in-dialog">Save</button>';
      document.body.append(d);
      d.showModal();
    });
    await page.evaluate(() => window.segflow.start('inside'));
    const u = await shown(page, 'i1');
    const r = await rectOf(page, '#in-dialog');
    assert.ok(close(u.rect.y, r.bottom + 12), `below its target: ${JSON.stringify(u.rect)} ${JSON.stringify(r)}`);
    assert.ok(close(u.arrow.x, r.cx), `the arrow at the target's centre: ${JSON.stringify(u.arrow)} ${JSON.stringify(r)}`);
    await clickButton(page, 'Done');
    await gone(page);
  });

  it('does not pull focus into a later step after the user moved it away from where the last step left it', T, async (t) => {
    const writeKey = 'flows-focus-moved';
    const doc = content(flow('late', [
      modal('m1', [NEXT]),
      { id: 't1', name: 'T1', type: 'tooltip', target: '#late-target', blocks: [{ type: 'title', text: 'Late' }, { type: 'button', ...NEXT }] },
    ]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.locator('#settings').focus();
    await page.evaluate(() => window.segflow.start('late'));
    await shown(page, 'm1');
    await page.keyboard.press('Enter'); // Next: the tooltip waits for its target
    await waitFor(() => page.evaluate(() => document.activeElement?.id === 'settings'), { message: 'focus back on Settings' });
    // The user moves focus away (clicks empty page space), then the target appears.
    await page.evaluate(() => document.activeElement.blur());
    await page.evaluate(() => document.body.append(Object.assign(document.createElement('button'), { id: 'late-target', textContent: 'Late' })));
    await shown(page, 't1');
    await sleep(100);
    assert.equal(await page.evaluate(() => document.activeElement?.localName), 'body', 'the tooltip is announced, not focused');
  });

  it('follows a tooltip target that a CSS transition or animation moves', T, async (t) => {
    const writeKey = 'flows-transition';
    const doc = content(flow('moving', [tooltip('m1', '#settings')]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('moving'));
    let u = await shown(page, 'm1');
    let r = await rectOf(page, '#settings');
    assert.ok(close(u.arrow.x, r.cx), 'at the target first');
    // The app slides the target (a class or style change, then a transition).
    await page.evaluate(() => new Promise((done) => {
      const el = document.querySelector('#settings');
      el.style.transition = 'transform .25s ease-out';
      el.addEventListener('transitionend', () => setTimeout(done, 100), { once: true });
      el.style.transform = 'translateX(160px)';
    }));
    u = await ui(page);
    r = await rectOf(page, '#settings');
    assert.ok(close(u.arrow.x, r.cx), `the arrow follows to the target's new place: ${JSON.stringify(u.arrow)} ${JSON.stringify(r)}`);
    // A keyframe animation (a class added) that moves it down.
    await page.evaluate(() => new Promise((done) => {
      const el = document.querySelector('#settings');
      const s = document.createElement('style');
      s.textContent = '@keyframes slide { to { transform: translate(160px, 60px); } } .slid { animation: slide .25s forwards; }';
      document.head.append(s);
      el.addEventListener('animationend', () => setTimeout(done, 100), { once: true });
      el.classList.add('slid');
    }));
    u = await ui(page);
    r = await rectOf(page, '#settings');
    assert.ok(close(u.arrow.x, r.cx) && close(u.rect.y, r.bottom + 12), `follows the animation too: ${JSON.stringify(u.rect)} ${JSON.stringify(r)}`);
  });

  it('scrolls a tooltip target into view inside the app\'s own scrolling box, not only in the window', T, async (t) => {
    const writeKey = 'flows-scroll-box';
    const doc = content(flow('boxed', [tooltip('b1', '#deep-in-box')]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => {
      const box = document.createElement('div');
      box.id = 'box';
      box.style.cssText = 'position: fixed; top: 120px; left: 40px; width: 220px; height: 120px; overflow: auto; border: 1px solid';
      box.innerHTML = '<div style="height: 300px"></div><button id="deep-in-box">Deep</button><div style="height: 600px"></div>';
      document.body.append(box);
    });
    await page.evaluate(() => window.segflow.start('boxed'));
    const u = await shown(page, 'b1');
    const inBox = await page.evaluate(() => {
      const b = document.querySelector('#box').getBoundingClientRect();
      const r = document.querySelector('#deep-in-box').getBoundingClientRect();
      return r.top >= b.top && r.bottom <= b.bottom;
    });
    assert.ok(inBox, 'the target was scrolled into its box\'s view');
    const r = await rectOf(page, '#deep-in-box');
    assert.ok(close(u.arrow.x, r.cx) && close(u.rect.y, r.bottom + 12), `points at it: ${JSON.stringify(u.rect)} ${JSON.stringify(r)}`);
  });

  it('places a tooltip next to its target with the arrow on the target, and flips it when there is no room', T, async (t) => {
    const writeKey = 'flows-tooltip';
    const doc = content(flow('tips', [
      tooltip('right', '#new-project', { placement: 'right' }),
      tooltip('below', '#settings'),
      tooltip('flip-up', '#bottom-target', { placement: 'bottom' }),
      tooltip('flip-left', '#right-target', { placement: 'right' }),
    ]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('tips'));

    let u = await shown(page, 'right');
    let r = await rectOf(page, '#new-project');
    assert.deepEqual(u.classes, ['step', 'tooltip']);
    assert.equal(u.side, 'right');
    assert.ok(close(u.rect.x, r.right + 12), `tooltip starts 12 px right of the target: ${u.rect.x} vs ${r.right}`);
    assert.ok(close(u.arrow.x, u.rect.x, 1) && close(u.arrow.y, r.cy), `arrow on the left edge at the target's centre: ${JSON.stringify(u.arrow)} ${JSON.stringify(r)}`);
    assert.equal(u.backdrop, false);

    await clickButton(page, 'Next');
    u = await shown(page, 'below');
    r = await rectOf(page, '#settings');
    assert.equal(u.side, 'bottom', 'bottom is the default placement');
    assert.ok(close(u.rect.y, r.bottom + 12));
    assert.ok(close(u.arrow.x, r.cx) && close(u.arrow.y, u.rect.y, 1), `arrow on the top edge under the target: ${JSON.stringify(u.arrow)}`);

    await clickButton(page, 'Next');
    u = await shown(page, 'flip-up');
    r = await rectOf(page, '#bottom-target');
    assert.equal(u.side, 'top', 'no room below: flipped above');
    assert.ok(close(u.rect.bottom, r.y - 12), `above the target: ${u.rect.bottom} vs ${r.y}`);
    assert.ok(close(u.arrow.x, r.cx) && close(u.arrow.y, u.rect.bottom, 1));

    await clickButton(page, 'Next');
    u = await shown(page, 'flip-left');
    r = await rectOf(page, '#right-target');
    assert.equal(u.side, 'left', 'no room on the right: flipped left');
    assert.ok(close(u.rect.right, r.x - 12));
    assert.ok(u.rect.x >= 8 && u.rect.bottom <= 720 - 8, 'inside the viewport');

    // It follows the target when the page scrolls or resizes.
    await page.setViewportSize({ width: 1000, height: 600 });
    await waitFor(async () => {
      const [now, target] = [await ui(page), await rectOf(page, '#right-target')];
      return close(now.rect.right, target.x - 12);
    }, { timeout: 3_000, message: 'tooltip follows a resize' });
  });

  it('dismisses with × and with Escape (flow_ended user_closed)', T, async (t) => {
    const writeKey = 'flows-dismiss';
    const doc = content(flow('a', [modal('a1')]), flow('b', [bubble('b1')]));
    const { page } = await open(t, { writeKey, userId: 'u-dismiss', content: doc });
    await page.evaluate(() => window.segflow.start('a'));
    await shown(page, 'a1');
    await page.locator('segflow-ui button.close[data-sf=close]').click();
    await gone(page);
    await page.evaluate(() => window.segflow.start('b'));
    await shown(page, 'b1');
    // A bubble does not take focus: Escape in the page is the page's, until the user
    // goes to the step (Alt+Shift+F).
    await page.keyboard.press('Escape');
    assert.equal((await ui(page)).stepId, 'b1', 'Escape outside the step leaves it');
    await page.keyboard.press('Alt+Shift+KeyF');
    await page.keyboard.press('Escape');
    await gone(page);
    const trace = ['flowStarted:a:program', 'flowStepSeen:a1', 'flowEnded:a:user_closed',
      'flowStarted:b:program', 'flowStepSeen:b1', 'flowEnded:b:user_closed'];
    assert.deepEqual(await flowTrace(page), trace);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: trace.length });
    assert.deepEqual(collectorTrace(events), ['Flow Started:a:program', 'Flow Step Seen:a1', 'Flow Ended:a:user_closed',
      'Flow Started:b:program', 'Flow Step Seen:b1', 'Flow Ended:b:user_closed']);
  });

  it('ends the running flow with replaced when another starts (start() and a start_flow button), and endAll ends with program', T, async (t) => {
    const writeKey = 'flows-replace';
    const doc = content(
      flow('a', [modal('a1', [{ label: 'Other tour', action: { type: 'start_flow', flow: 'b' }, primary: true }])]),
      flow('b', [bubble('b1')]),
    );
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => { window.segflow.start('a'); window.segflow.start('b'); });
    await shown(page, 'b1');
    await page.evaluate(() => window.segflow.start('a'));
    await shown(page, 'a1');
    await clickButton(page, 'Other tour');
    await shown(page, 'b1');
    await page.evaluate(() => window.segflow.endAll());
    await gone(page);
    const trace = [
      'flowStarted:a:program', 'flowStepSeen:a1', 'flowEnded:a:replaced', 'flowStarted:b:program', 'flowStepSeen:b1',
      'flowEnded:b:replaced', 'flowStarted:a:program', 'flowStepSeen:a1',
      'flowEnded:a:replaced', 'flowStarted:b:action', 'flowStepSeen:b1', 'flowEnded:b:program',
    ];
    assert.deepEqual(await flowTrace(page), trace);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: trace.length });
    assert.equal(events.length, trace.length);
    assert.deepEqual(collectorTrace(events).filter((e) => e.startsWith('Flow Ended')),
      ['Flow Ended:a:replaced', 'Flow Ended:b:replaced', 'Flow Ended:a:replaced', 'Flow Ended:b:program']);
    // Unknown ids reject start()'s Promise, with a code, and change nothing.
    const thrown = await page.evaluate(() => window.segflow.start('nope').then(() => null, (e) => ({ code: e.code, message: e.message, isError: e instanceof Error })));
    assert.equal(thrown.code, 'invalid_argument');
    assert.equal(thrown.isError, true);
    assert.match(thrown.message, /nope/);
  });

  it('start(id, {once: true}) starts a flow only if the user has not seen it, across reloads', T, async (t) => {
    const writeKey = 'flows-once';
    const doc = content(flow('a', [modal('a1')]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('a', { once: true }));
    await shown(page, 'a1');
    await page.evaluate(() => window.segflow.endAll());
    await page.evaluate(() => window.segflow.start('a', { once: true }));
    await sleep(200);
    assert.equal((await ui(page)).shown, false);
    assert.deepEqual(await flowTrace(page), ['flowStarted:a:program', 'flowStepSeen:a1', 'flowEnded:a:program']);
    // Progress is stored per visitor: an anonymous visitor under a:<anonymousId>.
    const anonymousId = await page.evaluate(() => window.segflow.user().anonymousId);
    const stored = await storedProgress(page, `a:${anonymousId}`);
    assert.ok(stored && JSON.parse(stored).seen.includes('a'), `stored progress: ${stored}`);

    await flush(page);
    await page.reload();
    await page.waitForFunction(() => window.ready);
    await boot(page, collector, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('a', { once: true }));
    await sleep(200);
    assert.equal((await ui(page)).shown, false, 'still seen after a reload');
    assert.deepEqual(await flowTrace(page), []);
    // Without once it starts again.
    await page.evaluate(() => window.segflow.start('a'));
    await shown(page, 'a1');
    assert.deepEqual(await flowTrace(page), ['flowStarted:a:program', 'flowStepSeen:a1']);
  });

  it('resumes on the same step after a reload, without a second flow_started', T, async (t) => {
    const writeKey = 'flows-reload';
    const doc = content(flow('tour', [modal('s1'), modal('s2'), modal('s3')], { show_progress: true }));
    const { page } = await open(t, { writeKey, userId: 'u-reload', content: doc });
    await page.evaluate(() => window.segflow.start('tour'));
    await shown(page, 's1');
    await clickButton(page, 'Next');
    await shown(page, 's2');
    const stored = await storedProgress(page, 'u:u-reload');
    assert.equal(JSON.parse(stored).run.step, 's2', `stored progress: ${stored}`);
    await flush(page);

    await page.reload();
    await page.waitForFunction(() => window.ready);
    await boot(page, collector, { writeKey, userId: 'u-reload', content: doc });
    const u = await shown(page, 's2');
    assert.equal(u.progress, '2 of 3');
    assert.deepEqual(await flowTrace(page), ['flowStepSeen:s2']);
    await clickButton(page, 'Next');
    await shown(page, 's3');
    await clickButton(page, 'Next');
    await gone(page);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: 7 });
    assert.deepEqual(collectorTrace(events), [
      'Flow Started:tour:program', 'Flow Step Seen:s1', 'Flow Step Seen:s2',
      'Flow Step Seen:s2', 'Flow Step Seen:s3', 'Flow Completed:tour', 'Flow Ended:tour:completed',
    ]);
    assert.ok(events.every((e) => e.userId === 'u-reload'));
    // Done: nothing left to resume.
    const after = JSON.parse(await storedProgress(page, 'u:u-reload'));
    assert.equal(after.run, undefined);
    assert.deepEqual(after.seen, ['tour']);
  });

  it('shows a tooltip once its late-rendered target appears', T, async (t) => {
    const writeKey = 'flows-late';
    const doc = content(flow('late', [tooltip('tip', '#late-1', { placement: 'right' })]));
    const { page } = await open(t, { writeKey, content: doc });
    const t0 = Date.now();
    await page.evaluate(() => { window.app.renderLater('late-1', 1000); window.segflow.start('late'); });
    assert.deepEqual(await flowTrace(page), ['flowStarted:late:program'], 'not seen before it is displayed');
    assert.equal((await ui(page)).shown, false);
    const u = await shown(page, 'tip');
    assert.ok(Date.now() - t0 >= 900, 'shown when the target appeared');
    const r = await rectOf(page, '#late-1');
    assert.equal(u.side, 'right');
    assert.ok(close(u.rect.x, r.right + 12) && close(u.arrow.y, r.cy));
    assert.deepEqual(await flowTrace(page), ['flowStarted:late:program', 'flowStepSeen:tip']);

    // A target that is in the DOM but not displayed (a closed menu) is not there yet
    // for the user: the step is seen when it is displayed.
    await clickButton(page, 'Next');
    await gone(page);
    await page.evaluate(() => { window.segflow.loadContent({ version: 1, flows: [{ id: 'hid', name: 'Hid', steps: [
      { id: 'tip2', type: 'tooltip', target: '#hidden-target', placement: 'bottom', blocks: [{ type: 'text', markdown: 'Here it is' }] },
    ] }] }); });
    const t1 = Date.now();
    await page.evaluate(() => { window.app.revealLater('hidden-target', 600); window.segflow.start('hid'); });
    await sleep(300);
    assert.deepEqual((await flowTrace(page)).slice(-1), ['flowStarted:hid:program'], 'not seen while its target is display:none');
    const u2 = await shown(page, 'tip2');
    assert.ok(Date.now() - t1 >= 550);
    const r2 = await rectOf(page, '#hidden-target');
    assert.ok(close(u2.rect.y, r2.bottom + 12) && close(u2.arrow.x, r2.cx), `next to the revealed target: ${JSON.stringify(u2.rect)} ${JSON.stringify(r2)}`);
    assert.deepEqual((await flowTrace(page)).slice(-2), ['flowStarted:hid:program', 'flowStepSeen:tip2']);
  });

  it('ends with tooltip_target_missing when the target never appears, or falls back to a bubble', T, async (t) => {
    const writeKey = 'flows-missing';
    const doc = content(
      flow('end', [modal('intro'), tooltip('tip', '#never', { target_timeout_ms: 500 })]),
      flow('fallback', [tooltip('tip2', '#never', { target_timeout_ms: 500, on_target_missing: 'bubble' })]),
    );
    const { page } = await open(t, { writeKey, userId: 'u-missing', content: doc });
    await page.evaluate(() => window.segflow.start('end'));
    await shown(page, 'intro');
    const t0 = Date.now();
    await clickButton(page, 'Next');
    await gone(page);
    await traceOf(page, 4);
    assert.ok(Date.now() - t0 >= 450, 'waited for target_timeout_ms');
    assert.deepEqual(await flowTrace(page), ['flowStarted:end:program', 'flowStepSeen:intro', 'tooltipTargetMissing:tip', 'flowEnded:end:tooltip_target_missing']);

    await page.evaluate(() => window.segflow.start('fallback'));
    const u = await shown(page, 'tip2', 3_000);
    assert.deepEqual(u.classes, ['step', 'bubble', 'bottom-right']);
    assert.equal(u.title, 'Tooltip tip2');
    assert.ok(close(u.rect.right, 1280 - 24) && close(u.rect.bottom, 720 - 24));
    assert.deepEqual((await flowTrace(page)).slice(4), ['flowStarted:fallback:program', 'tooltipTargetMissing:tip2', 'flowStepSeen:tip2']);
    await clickButton(page, 'Next');
    await gone(page);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: 9 });
    assert.deepEqual(collectorTrace(events), [
      'Flow Started:end:program', 'Flow Step Seen:intro', 'Tooltip Target Missing:tip', 'Flow Ended:end:tooltip_target_missing',
      'Flow Started:fallback:program', 'Tooltip Target Missing:tip2', 'Flow Step Seen:tip2', 'Flow Completed:fallback',
      'Flow Ended:fallback:completed',
    ]);
    const missing = events.find((e) => e.event === 'Tooltip Target Missing').properties;
    assert.equal(missing.flow_step_number, 1);
    assert.equal(missing.flow_step_progress, 100);
    assert.equal(missing.flow_step_name, 'Step tip');
  });

  it('follows a re-rendered target and hides the tooltip while the target is display:none', T, async (t) => {
    const writeKey = 'flows-rerender';
    const doc = content(flow('rr', [tooltip('tip', '#new-project', {
      placement: 'bottom',
      triggers: [{ when: { type: 'target_clicked' }, action: { type: 'next' } }],
    }), modal('after')]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('rr'));
    let u = await shown(page, 'tip');
    const before = await rectOf(page, '#new-project');
    assert.ok(close(u.arrow.x, before.cx));

    // The app replaces the element (a framework re-render) and moves it.
    await page.evaluate(() => window.app.rerender('new-project', 'margin-left: 300px'));
    await waitFor(async () => {
      const [now, r] = [await ui(page), await rectOf(page, '#new-project')];
      return r.x > before.x + 250 && close(now.arrow.x, r.cx) && now.visible;
    }, { timeout: 3_000, message: 'the tooltip follows the new element' });

    await page.evaluate(() => window.app.rerender('new-project', 'display: none'));
    await waitFor(async () => !(await ui(page)).visible, { timeout: 3_000, message: 'hidden while the target is not displayed' });
    assert.deepEqual(await flowTrace(page), ['flowStarted:rr:program', 'flowStepSeen:tip'], 'still the current step, only hidden');

    await page.evaluate(() => { document.getElementById('new-project').style.display = ''; });
    await waitFor(async () => (await ui(page)).visible, { timeout: 3_000, message: 'shown again' });
    // target_clicked watches the new element too.
    await page.click('#new-project');
    await shown(page, 'after');
    assert.deepEqual(await flowTrace(page), ['flowStarted:rr:program', 'flowStepSeen:tip', 'flowStepSeen:after']);
  });

  it('waits target_timeout_ms for a shown tooltip\'s target that goes, then ends with tooltip_target_missing or falls back to a bubble', T, async (t) => {
    const writeKey = 'flows-lost';
    const doc = content(
      flow('lost', [tooltip('tip', '#new-project', { target_timeout_ms: 600 }), modal('after')]),
      flow('lost2', [tooltip('tip2', '#new-project', { target_timeout_ms: 600, on_target_missing: 'bubble' })]),
      flow('auto', [modal('auto1')], { start: [{ event: 'go' }] }),
    );
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('lost'));
    await shown(page, 'tip');
    // Removed, then back within the timeout: shown again, seen once.
    await page.evaluate(() => { const el = document.getElementById('new-project'); window.saved = [el, el.parentNode, el.nextSibling]; el.remove(); });
    await waitFor(async () => !(await ui(page)).visible, { timeout: 3_000, message: 'hidden while the target is gone' });
    await sleep(200);
    await page.evaluate(() => { const [el, parent, next] = window.saved; parent.insertBefore(el, next); });
    await shown(page, 'tip', 3_000);
    await sleep(700);
    assert.deepEqual(await flowTrace(page), ['flowStarted:lost:program', 'flowStepSeen:tip'], 'back in time: the same visit');

    // Removed for good: after target_timeout_ms the flow ends, and does not block others.
    const t0 = Date.now();
    await page.evaluate(() => window.saved[0].remove());
    await traceOf(page, 4);
    assert.ok(Date.now() - t0 >= 550, 'waited for target_timeout_ms');
    assert.deepEqual((await flowTrace(page)).slice(2), ['tooltipTargetMissing:tip', 'flowEnded:lost:tooltip_target_missing']);
    await gone(page);
    await page.evaluate(() => window.segflow.track('go'));
    await shown(page, 'auto1');
    await clickButton(page, 'Next');
    await gone(page);

    // Falls back to a bubble when the content says so; still seen once.
    await page.evaluate(() => { const [el, parent, next] = window.saved; parent.insertBefore(el, next); });
    const n = (await flowTrace(page)).length;
    await page.evaluate(() => window.segflow.start('lost2'));
    await shown(page, 'tip2');
    await page.evaluate(() => window.saved[0].remove());
    await waitFor(async () => (await ui(page)).classes?.includes('bubble'), { timeout: 3_000, message: 'shown as a bubble' });
    assert.deepEqual((await flowTrace(page)).slice(n), ['flowStarted:lost2:program', 'flowStepSeen:tip2', 'tooltipTargetMissing:tip2']);
  });

  it('fires triggers: target_clicked, element_appears, url_matches (the router\'s pushState intact), event_tracked and wait', T, async (t) => {
    const writeKey = 'flows-triggers';
    const go = { type: 'next' };
    const doc = content(flow('trig', [
      tooltip('click-it', '#new-project', { triggers: [{ when: { type: 'target_clicked' }, action: go }] }, []),
      bubble('appear', null, [], { triggers: [{ when: { type: 'element_appears', selector: '#late-trigger' }, action: go }] }),
      bubble('url', null, [], { triggers: [
        { when: { type: 'url_matches', pattern: '/nope*' }, action: { type: 'end' } },
        { when: { type: 'url_matches', pattern: '/app/settings*' }, action: go },
      ] }),
      bubble('event', null, [], { triggers: [{ when: { type: 'event_tracked', event: 'project_created' }, action: go }] }),
      { id: 'wait', type: 'hidden', triggers: [{ when: { type: 'wait', seconds: 0.4 }, action: go }] },
      modal('end'),
    ]));
    const { page } = await open(t, { writeKey, userId: 'u-trig', content: doc });
    await page.evaluate(() => window.segflow.start('trig'));
    await shown(page, 'click-it');
    await page.click('#other-button');
    await sleep(100);
    assert.equal((await ui(page)).stepId, 'click-it', 'a click elsewhere does not count');
    await page.click('#new-project');
    await shown(page, 'appear');
    await page.evaluate(() => window.app.renderLater('late-trigger', 100));
    await shown(page, 'url');
    await page.evaluate(() => window.segflow.track('something_else'));
    await page.click('#spa-link');
    await shown(page, 'event');
    // The host router's pushState still did its job: its return value and state.
    const router = await page.evaluate(() => ({ result: window.routerResult, state: history.state, path: location.pathname, shown: document.getElementById('route').textContent }));
    assert.deepEqual(router, { result: undefined, state: { route: 'settings', n: 1 }, path: '/app/settings', shown: '/app/settings' });
    await page.evaluate(() => window.segflow.track('project_created', { id: 7 }));
    const t0 = Date.now();
    await shown(page, 'end');
    assert.ok(Date.now() - t0 >= 350, 'the wait trigger waited');
    assert.deepEqual(await flowTrace(page), ['flowStarted:trig:program', 'flowStepSeen:click-it', 'flowStepSeen:appear',
      'flowStepSeen:url', 'flowStepSeen:event', 'flowStepSeen:wait', 'flowStepSeen:end']);
    const events = await collector.waitForEvents({ writeKey, event: 'project_created' }, 1);
    assert.equal(events[0].userId, 'u-trig');
    // Generated events are sent from the page the user is on.
    const seen = (await generatedAtCollector(page, collector, writeKey, { expect: 7 })).filter((e) => e.event === 'Flow Step Seen');
    assert.equal(seen.at(-1).properties.page_url, `${collector.url}/app/settings`);
  });

  it('runs navigate (through setCustomNavigate, else a page load) and track actions, staying on the step', T, async (t) => {
    const writeKey = 'flows-actions';
    const doc = content(flow('act', [bubble('b', null, [
      { label: 'Open settings', action: { type: 'navigate', url: '/app/settings?tab=members' } },
      { label: 'Tell me more', action: { type: 'track', event: 'tour_cta_clicked' } },
      { label: 'Leave', action: { type: 'navigate', url: '/index.html?from=flow' } },
    ], { triggers: [{ when: { type: 'event_tracked', event: 'tour_cta_clicked' }, action: { type: 'go_to_step', step: 'b2' } }] }),
    bubble('b2', null, [{ label: 'Leave', action: { type: 'navigate', url: '/index.html?from=flow' } }])]));
    const { page } = await open(t, { writeKey, userId: 'u-act', groupId: 'co-9', content: doc });
    await page.evaluate(() => {
      window.navigated = [];
      window.segflow.setCustomNavigate((url) => { window.navigated.push(url); window.app.navigate(url); });
      window.segflow.start('act');
    });
    await shown(page, 'b');
    await clickButton(page, 'Open settings');
    await waitFor(() => page.evaluate(() => window.navigated.length === 1));
    assert.deepEqual(await page.evaluate(() => window.navigated), ['/app/settings?tab=members']);
    assert.equal(new URL(page.url()).pathname, '/app/settings', 'the app router navigated; no page load');
    assert.equal(await page.evaluate(() => typeof window.segflow), 'object');
    assert.equal((await ui(page)).stepId, 'b', 'navigate keeps the flow on its step');

    await clickButton(page, 'Tell me more');
    // The track action is a real track call, and event_tracked triggers see it.
    await shown(page, 'b2');
    const tracked = await collector.waitForEvents({ writeKey, event: 'tour_cta_clicked' }, 1);
    assert.equal(tracked[0].userId, 'u-act');
    assert.equal(tracked[0].properties.company_id, 'co-9');

    await page.evaluate(() => window.segflow.setCustomNavigate(null));
    await Promise.all([page.waitForURL(/\/index\.html\?from=flow$/), clickButton(page, 'Leave')]);
    assert.equal(new URL(page.url()).search, '?from=flow', 'without a custom navigate: a page load');
  });

  it('starts flows by URL and event conditions (on load, on SPA navigation, after another flow ends), once unless repeat', T, async (t) => {
    const writeKey = 'flows-rules';
    const doc = content(
      flow('on-load', [bubble('l1', null, [{ label: 'OK', action: { type: 'end' } }])], { start: [{ url: '/flows.html' }] }),
      flow('on-settings', [bubble('s1', null, [{ label: 'OK', action: { type: 'end' } }])], { start: [{ url: '/app/settings*' }] }),
      flow('on-signup', [bubble('e1', null, [{ label: 'OK', action: { type: 'end' } }])], { start: [{ event: 'signed_up' }], repeat: true }),
    );
    const { page } = await open(t, { writeKey, userId: 'u-rules', content: doc });
    await shown(page, 'l1');
    // No flow starts by its conditions while another runs...
    await page.evaluate(() => window.segflow.track('signed_up'));
    await sleep(100);
    assert.equal((await ui(page)).stepId, 'l1');
    // ...but once it ends, the one whose condition now holds does.
    await clickButton(page, 'OK');
    await shown(page, 'e1');
    await clickButton(page, 'OK');
    await gone(page);
    // `repeat` (frequency unlimited) does not bring it straight back, nor does
    // another page (its condition does not look at the URL).
    await page.click('#spa-link');
    await shown(page, 's1');
    await clickButton(page, 'OK');
    await gone(page);
    // Seen flows do not start again; the event again starts the `repeat` one.
    await page.evaluate(() => { window.app.navigate('/elsewhere'); window.app.navigate('/app/settings/x'); });
    await sleep(100);
    assert.equal((await ui(page)).shown, false);
    await page.evaluate(() => window.segflow.track('signed_up'));
    await shown(page, 'e1');
    const trace = await flowTrace(page);
    assert.deepEqual(trace.filter((e) => e.startsWith('flowStarted')), [
      'flowStarted:on-load:url', 'flowStarted:on-signup:event', 'flowStarted:on-settings:url', 'flowStarted:on-signup:event',
    ]);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: trace.length });
    assert.deepEqual(collectorTrace(events).filter((e) => e.startsWith('Flow Started')), [
      'Flow Started:on-load:url', 'Flow Started:on-signup:event', 'Flow Started:on-settings:url', 'Flow Started:on-signup:event',
    ]);
    const dups = await (await fetch(`${collector.url}/api/duplicates?writeKey=${writeKey}`)).json();
    assert.deepEqual(dups.duplicates, [], 'each generated event stored once, none resent');
  });

  it('starts flows by general start conditions: traits, elements, priority and a delay checked again', T, async (t) => {
    const writeKey = 'flows-conditions';
    const doc = content(
      flow('low', [bubble('low1', null, [{ label: 'OK', action: { type: 'end' } }])], {
        start: [{ user: 'plan', op: 'equals', value: 'pro' }],
      }),
      flow('high', [bubble('high1', null, [{ label: 'OK', action: { type: 'end' } }])], {
        priority: 10, start: [{ all: [{ user: 'plan', op: 'equals', value: 'pro' }, { user: 'seats', op: 'greater_than', value: 3 }] }],
      }),
      flow('banner', [bubble('b1', null, [{ label: 'OK', action: { type: 'end' } }])], {
        start_delay_seconds: 0.4, start: [{ element: '#promo-banner' }],
      }),
    );
    const { page } = await open(t, { writeKey, userId: 'u-cond', traits: { plan: 'free' }, content: doc });
    await sleep(150);
    assert.equal((await ui(page)).shown, false, 'no condition holds yet');
    // A trait change: both `low` and `high` hold; the higher priority starts.
    await page.evaluate(() => window.segflow.updateUser({ plan: 'pro', seats: 5 }));
    await shown(page, 'high1');
    await clickButton(page, 'OK');
    await shown(page, 'low1');
    await clickButton(page, 'OK');
    await gone(page);
    // An element that comes and goes before its delay ends: nothing starts.
    await page.evaluate(() => { const d = document.createElement('div'); d.id = 'promo-banner'; document.body.append(d); });
    await sleep(100);
    await page.evaluate(() => document.getElementById('promo-banner').remove());
    await sleep(600);
    assert.equal((await ui(page)).shown, false, 'checked again when the delay ends');
    // One that stays: it starts once the delay has passed.
    const t0 = Date.now();
    await page.evaluate(() => { const d = document.createElement('div'); d.id = 'promo-banner'; document.body.append(d); });
    await shown(page, 'b1');
    assert.ok(Date.now() - t0 >= 350, `started after its delay (${Date.now() - t0} ms)`);
    const trace = await flowTrace(page);
    assert.deepEqual(trace.filter((e) => e.startsWith('flowStarted')), [
      'flowStarted:high:condition', 'flowStarted:low:condition', 'flowStarted:banner:condition',
    ]);
    await clickButton(page, 'OK');
    await flush(page);
    // A reload: seen flows (frequency once) stay seen though all conditions hold.
    await page.reload();
    await page.waitForFunction(() => window.ready);
    await page.evaluate(() => { const d = document.createElement('div'); d.id = 'promo-banner'; document.body.append(d); });
    await boot(page, collector, { writeKey, userId: 'u-cond', traits: { plan: 'pro', seats: 5 }, content: doc });
    await sleep(700);
    assert.equal((await ui(page)).shown, false, 'no flow starts again after a reload');
    assert.deepEqual(await flowTrace(page), []);
  });

  it('emits page_viewed on load and on pushState, popstate and hashchange, unless setPageTrackingDisabled(true)', T, async (t) => {
    const writeKey = 'flows-pages';
    const { page } = await open(t, { writeKey, userId: 'u-pages', groupId: 'co-p', pageTracking: true });
    await page.evaluate(() => window.app.navigate('/app/one'));
    await page.evaluate(() => window.app.navigate('/app/two'));
    await page.evaluate(() => history.replaceState(null, '', '/app/two')); // same URL: not a new page
    await page.evaluate(() => history.back());
    await traceOf(page, 3);
    await page.click('#hash-link');
    await traceOf(page, 4);
    await page.evaluate(() => window.segflow.setPageTrackingDisabled(true));
    await page.evaluate(() => window.app.navigate('/app/untracked'));
    await page.evaluate(() => { location.hash = '#quiet'; });
    await sleep(150);
    await page.evaluate(() => window.segflow.setPageTrackingDisabled(false));
    await page.evaluate(() => window.app.navigate('/app/tracked-again'));
    const trace = await traceOf(page, 5);
    await sleep(100);
    assert.deepEqual(await flowTrace(page), [
      'pageViewed:/app/one', 'pageViewed:/app/two', 'pageViewed:/app/one', 'pageViewed:/app/one#billing', 'pageViewed:/app/tracked-again',
    ]);
    assert.equal(trace.length, 5);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: 6 });
    assert.deepEqual(collectorTrace(events), [
      'Page Viewed:/flows.html', 'Page Viewed:/app/one', 'Page Viewed:/app/two', 'Page Viewed:/app/one',
      'Page Viewed:/app/one#billing', 'Page Viewed:/app/tracked-again',
    ]);
    const last = events.at(-1);
    assert.equal(last.type, 'track');
    assert.equal(last.userId, 'u-pages');
    assert.equal(last.properties.company_id, 'co-p');
    assert.deepEqual(Object.keys(last.properties).sort(), ['company_id', ...PAGE_PROPS].sort());
    assert.equal(last.context.page.path, '/app/tracked-again');
  });

  it('lets listeners start and end flows from inside their callbacks (chained flows keep consistent state)', T, async (t) => {
    const writeKey = 'flows-reentrant';
    const doc = content(flow('a', [modal('a1')]), flow('b', [modal('b1'), modal('b2')]), flow('c', [tooltip('c1', '#new-project')]));
    const { page } = await open(t, { writeKey, userId: 'u-chain', content: doc });
    await page.evaluate(() => {
      const s = window.segflow;
      // "When onboarding is done, start the next tour" and "never show c".
      s.on('flowEnded', (p) => { if (p.flow_id === 'a' && p.flow_end_reason === 'completed') s.start('b'); });
      s.on('flowStarted', (p) => { if (p.flow_id === 'c') s.endAll(); });
      s.start('a');
    });
    await shown(page, 'a1');
    await clickButton(page, 'Next');
    await shown(page, 'b1');
    assert.deepEqual(await flowTrace(page), [
      'flowStarted:a:program', 'flowStepSeen:a1', 'flowCompleted:a', 'flowEnded:a:completed', 'flowStarted:b:program', 'flowStepSeen:b1',
    ], 'listeners see events in the order they happened');
    const stored = JSON.parse(await storedProgress(page, 'u:u-chain'));
    assert.deepEqual({ run: stored.run?.flow, step: stored.run?.step, seen: stored.seen }, { run: 'b', step: 'b1', seen: ['a', 'b'] },
      'the stored progress is the chained flow, not the state from before the listener ran');
    await page.evaluate(() => window.segflow.start('c'));
    await sleep(150);
    assert.equal((await ui(page)).shown, false, 'a flow ended by a flowStarted listener leaves nothing on screen');
    assert.deepEqual((await flowTrace(page)).slice(6), ['flowEnded:b:replaced', 'flowStarted:c:program', 'flowStepSeen:c1', 'flowEnded:c:program']);
    const events = await generatedAtCollector(page, collector, writeKey, { expect: 10 });
    assert.deepEqual(collectorTrace(events), (await flowTrace(page)).map((e) => e
      .replace(/^flow(\w)/, (_, c) => `Flow ${c}`).replace('StepSeen', 'Step Seen').replace(/^Flow S(tarted|tep)/, 'Flow S$1')));
  });

  it('boots after init and identify in the same tick: listeners see the first events and rules run for the identified user', T, async (t) => {
    const writeKey = 'flows-boot';
    const doc = content(flow('welcome', [modal('w1'), modal('w2')], { start: [{ url: '/flows.html' }] }));
    const page = await openPage(await newContext(env.browser, t), `${collector.url}/flows.html`);
    const bootPage = () => page.evaluate(({ apiHost, doc, writeKey }) => {
      window.flowLog = [];
      const s = window.segflow;
      // The usual page-load sequence: init with content, listeners, identify.
      s.init({ writeKey, apiHost, content: doc, flushInterval: 100 });
      for (const name of ['flowStarted', 'flowStepSeen', 'flowEnded', 'pageViewed']) s.on(name, (p) => window.flowLog.push([name, p]));
      s.identify('u-boot');
    }, { apiHost: collector.apiHost, doc, writeKey });
    await bootPage();
    await shown(page, 'w1');
    assert.deepEqual(await flowTrace(page), ['flowStarted:welcome:url', 'flowStepSeen:w1']);
    await clickButton(page, 'Next');
    await shown(page, 'w2');
    await flush(page);
    await page.reload();
    await page.waitForFunction(() => window.ready);
    await bootPage();
    await shown(page, 'w2');
    assert.deepEqual(await flowTrace(page), ['flowStepSeen:w2'], 'resumed, not restarted');
    const events = await generatedAtCollector(page, collector, writeKey, { expect: 6 });
    assert.deepEqual(collectorTrace(events), ['Page Viewed:/flows.html', 'Flow Started:welcome:url', 'Flow Step Seen:w1',
      'Flow Step Seen:w2', 'Page Viewed:/flows.html', 'Flow Step Seen:w2']);
    // init sends the page view at once, as analytics.js's first page call (the first
    // time anonymously); every flow event belongs to the identified user.
    assert.equal(events[0].userId ?? null, null);
    assert.ok(events.slice(1).every((e) => e.userId === 'u-boot'), 'no flow event went out for an anonymous visitor');

    // A user identified later gets the start rules of the page they are on.
    await page.evaluate(() => window.segflow.identify('u-later'));
    await shown(page, 'w1');
    assert.deepEqual((await flowTrace(page)).slice(1), ['flowStarted:welcome:url', 'flowStepSeen:w1']);
  });

  it('scrolls a tooltip target below the fold into view, and hides the tooltip while the target is scrolled away', T, async (t) => {
    const writeKey = 'flows-scroll';
    const doc = content(flow('far', [tooltip('tip', '#far-target', { placement: 'top' })]));
    const { page } = await open(t, { writeKey, content: doc });
    await page.evaluate(() => window.segflow.start('far'));
    const u = await shown(page, 'tip');
    const r = await rectOf(page, '#far-target');
    assert.ok(r.y >= 0 && r.bottom <= 720, `the target was scrolled into view: ${JSON.stringify(r)}`);
    assert.equal(u.side, 'top');
    assert.ok(close(u.rect.bottom, r.y - 12) && close(u.arrow.x, r.cx), `tooltip on its target: ${JSON.stringify(u.rect)} ${JSON.stringify(r)}`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await waitFor(async () => !(await ui(page)).visible, { timeout: 3_000, message: 'hidden while its target is off screen' });
    await page.evaluate(() => document.getElementById('far-target').scrollIntoView({ block: 'center' }));
    await waitFor(async () => {
      const [now, target] = [await ui(page), await rectOf(page, '#far-target')];
      return now.visible && close(now.rect.bottom, target.y - 12);
    }, { timeout: 3_000, message: 'back next to its target' });
  });

  it('loads content from a URL, and rejects bad content with invalid_argument naming the JSON path', T, async (t) => {
    const writeKey = 'flows-load';
    const { page } = await open(t, { writeKey });
    const outcome = (arg) => page.evaluate((arg) => window.segflow.loadContent(arg).then(
      () => 'resolved',
      (e) => ({ code: e.code, message: e.message, isError: e instanceof Error }),
    ), arg);
    assert.equal(await outcome('/content/tour.json'), 'resolved');
    await page.evaluate(() => window.segflow.start('remote-tour'));
    const u = await shown(page, 'hello');
    assert.equal(u.title, 'Loaded from a URL');
    await clickButton(page, 'Done');
    await gone(page);

    const invalid = await outcome('/content/invalid.json');
    assert.equal(invalid.code, 'invalid_argument');
    assert.equal(invalid.isError, true);
    assert.match(invalid.message, /flows\[0\]\.steps\[1\]\.type: expected one of modal, tooltip, bubble, hidden/);
    const truncated = await outcome('/content/truncated.json');
    assert.equal(truncated.code, 'invalid_argument');
    assert.match(truncated.message, /not valid JSON/);
    const missing = await outcome('/content/missing.json');
    assert.equal(missing.code, 'content_unavailable');
    assert.match(missing.message, /404/);
    // Nothing, or not a document: said so, not as a missing field of one.
    for (const nothing of [null, undefined, 5, true]) {
      const none = await outcome(nothing);
      assert.equal(none.code, 'invalid_argument', String(nothing));
      assert.equal(none.message, 'segflow: loadContent takes an object in the content schema or a URL', String(nothing));
    }
    const object = await outcome({ version: 1, flows: [{ id: 'x', name: 'X', steps: [{ id: 's', type: 'modal', blocks: [{ type: 'button', label: 'Go', action: { type: 'go_to_step', step: 'zz' } }] }] }] });
    assert.equal(object.code, 'invalid_argument');
    assert.match(object.message, /flows\[0\]\.steps\[0\]\.blocks\[0\]\.action\.step: no step with this id in the flow/);
    // A rejected document changes nothing: its flow is not loaded, the good one still is.
    const err = await page.evaluate(() => window.segflow.start('broken').then(() => null, (e) => e.code));
    assert.equal(err, 'invalid_argument');
    await page.evaluate(() => window.segflow.start('remote-tour'));
    await shown(page, 'hello');

    // init({content: url}) loads it in the background; failures go to on('error').
    const { page: page2 } = await open(t, { writeKey: 'flows-load-2', init: { content: '/content/invalid.json' } });
    await waitFor(() => page2.evaluate(() => window.errors.length > 0), { timeout: 5_000, message: 'error event' });
    assert.match((await page2.evaluate(() => window.errors))[0], /^invalid_argument: segflow: flows\[0\]\.steps\[1\]\.type/);
  });
});
