// Checklists in a real browser: the widget in tests/e2e/pages/flows.html completes
// its tasks from a click, from a finished flow (started by a task) and from an
// event the app tracks; every checklist event reaches the collector exactly once
// (counted, and the collector's duplicate count checked); progress survives a
// reload; the widget is operable by keyboard and axe-core finds no violations in
// it, collapsed or expanded.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { flush, sleep, startCollector, useBrowser, waitFor, waitReady } from './harness.mjs';
import { boot, modal, openFlows } from './flows-helpers.mjs';

const T = { timeout: 45_000 };

const CHECKLIST_LISTENERS = [
  'checklistStarted', 'checklistShown', 'checklistHidden', 'checklistTaskClicked',
  'checklistTaskCompleted', 'checklistCompleted', 'checklistEnded',
];

/** A document with a one-step tour and the setup checklist. */
function doc(extra = {}) {
  return {
    version: 1,
    flows: [{ id: 'tour', name: 'Tour', steps: [modal('s1', [{ label: 'Done', action: { type: 'next' }, primary: true }])] }],
    checklists: [{
      id: 'setup',
      name: 'Set up',
      version_id: 'cv-1',
      version_number: 2,
      title: 'Get started, {{first_name | friend}}',
      text: 'Three **quick** things.',
      tasks: [
        { id: 'click', name: 'Say hello' },
        {
          id: 'tour', name: 'Take the tour', action: { type: 'start_flow', flow: 'tour' },
          complete_when: [{ flow: 'tour', state: 'completed' }],
        },
        { id: 'invite', name: 'Invite a teammate', description: 'They get an email.', complete_when: [{ event: 'teammate_invited' }] },
      ],
      ...extra,
    }],
  };
}

/** Clicks the Done button of the step on screen. */
const clickDone = (page) => page.locator('segflow-ui .step button.primary').click();

/** Facts about the widget. */
function widget(page) {
  return page.evaluate(() => {
    const host = document.querySelector('segflow-checklist');
    const root = host && host.shadowRoot;
    if (!root) return { shown: false };
    const launcher = root.querySelector('.launcher');
    const panel = root.querySelector('.panel');
    return {
      shown: !!launcher,
      expanded: launcher?.getAttribute('aria-expanded'),
      launcher: launcher?.textContent,
      open: !!panel,
      title: root.querySelector('h2')?.textContent ?? null,
      progress: root.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow') ?? null,
      tasks: [...root.querySelectorAll('li')].map((li) => ({
        text: li.textContent,
        done: li.classList.contains('is-done'),
        blocked: li.querySelector('.task')?.getAttribute('aria-disabled') === 'true',
      })),
      focused: root.activeElement?.getAttribute('data-cl') ?? null,
    };
  });
}

/** Records checklist listener payloads into window.checklistLog. */
async function listen(page) {
  await page.evaluate((names) => {
    window.checklistLog = [];
    for (const n of names) window.segflow.on(n, (p) => window.checklistLog.push([n, p]));
  }, CHECKLIST_LISTENERS);
}

const trace = (page) => page.evaluate(() => window.checklistLog.map(([n, p]) => {
  const extra = p.checklist_task_id ?? p.checklist_start_reason ?? p.checklist_end_reason;
  return extra ? `${n}:${extra}` : n;
}));

const clickTask = (page, id) => page.locator(`segflow-checklist [data-cl="task:${id}"]`).click();

describe('checklists in the browser', () => {
  const env = useBrowser();
  let collector;
  before(async () => { collector = await startCollector(); });
  after(() => collector?.stop());

  it('completes from a click, a finished flow and a tracked event; each event reaches Segment once; progress survives a reload', T, async (t) => {
    const writeKey = 'checklists-paths';
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-cl', traits: { first_name: 'Ada' }, content: doc() });
    await listen(page);
    await page.evaluate(() => window.segflow.start('setup'));
    await waitFor(async () => (await widget(page)).open, { message: 'panel open' });
    let w = await widget(page);
    assert.equal(w.title, 'Get started, Ada');
    assert.equal(w.expanded, 'true');
    assert.match(w.launcher, /3 tasks left/);
    assert.deepEqual(w.tasks.map((x) => x.done), [false, false, false]);

    // 1. A click.
    await clickTask(page, 'click');
    await waitFor(async () => (await widget(page)).progress === '1', { message: 'one done' });
    // 2. A flow the task starts, clicked through to its end.
    await clickTask(page, 'tour');
    await page.locator('segflow-ui .step button.primary').click();
    await waitFor(async () => (await widget(page)).progress === '2', { message: 'tour done' });
    // 3. An event the app tracks.
    await page.evaluate(() => window.segflow.track('teammate_invited', { via: 'email' }));
    await waitFor(async () => (await widget(page)).progress === '3', { message: 'all done' });
    w = await widget(page);
    assert.deepEqual(w.tasks.map((x) => x.done), [true, true, true]);
    assert.match(w.launcher, /0 tasks left/);

    const want = [
      'checklistStarted:program', 'checklistShown',
      'checklistTaskClicked:click', 'checklistTaskCompleted:click',
      'checklistTaskClicked:tour', 'checklistTaskCompleted:tour',
      'checklistTaskCompleted:invite', 'checklistCompleted',
    ];
    assert.deepEqual(await trace(page), want);
    // Listener payloads carry checklist.id as Userflow.js's do.
    const [, first] = (await page.evaluate(() => window.checklistLog))[0];
    assert.equal(first.checklist.id, 'setup');
    assert.equal(first.checklist_version_number, 2);

    // At the collector: each once, as Title Case tracks with the attributes.
    await flush(page);
    const names = new Set(CHECKLIST_LISTENERS.map((l) => l.replace(/^./, (c) => c.toUpperCase()).replace(/[A-Z]/g, (c, i) => (i ? ` ${c}` : c))));
    let stored = [];
    await waitFor(async () => (stored = (await collector.events({ writeKey, type: 'track' })).filter((e) => names.has(e.event))).length >= want.length, { message: 'checklist events stored' });
    assert.deepEqual(stored.map((e) => e.event), [
      'Checklist Started', 'Checklist Shown', 'Checklist Task Clicked', 'Checklist Task Completed',
      'Checklist Task Clicked', 'Checklist Task Completed', 'Checklist Task Completed', 'Checklist Completed',
    ]);
    for (const e of stored) {
      assert.equal(e.userId, 'u-cl');
      assert.equal(e.properties.checklist_id, 'setup');
      assert.equal(e.properties.checklist_name, 'Set up');
      assert.equal(e.properties.checklist_version_id, 'cv-1');
      assert.equal(e.properties.checklist, undefined, 'checklist.id is for listeners only');
    }
    assert.equal(new Set(stored.map((e) => e.messageId)).size, stored.length);
    assert.deepEqual(await collector.duplicates({ writeKey }), []);

    // A reload: the same progress, shown again (open), no new start or completion.
    const progress = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.includes('checklists:')).map((k) => [k, localStorage.getItem(k)]));
    assert.equal(progress.length, 1, JSON.stringify(progress));
    await page.reload();
    await waitReady(page);
    await boot(page, collector, { writeKey, userId: 'u-cl', traits: { first_name: 'Ada' }, content: doc() });
    await listen(page);
    await waitFor(async () => (await widget(page)).open, { message: 'panel back after reload' });
    w = await widget(page);
    assert.deepEqual(w.tasks.map((x) => x.done), [true, true, true]);
    await page.evaluate(() => window.segflow.track('teammate_invited'));
    await sleep(300);
    assert.deepEqual(await trace(page), [], 'nothing completes twice');
    await page.evaluate(() => window.segflow.endChecklist());
    await waitFor(async () => !(await widget(page)).shown, { message: 'ended' });
    assert.deepEqual(await trace(page), ['checklistEnded:program']);
    await flush(page);
    await sleep(200);
    const after = (await collector.events({ writeKey, type: 'track' })).filter((e) => names.has(e.event));
    assert.equal(after.filter((e) => e.event === 'Checklist Completed').length, 1, 'completed once');
    assert.equal(after.filter((e) => e.event === 'Checklist Ended').length, 1);
    assert.deepEqual(await collector.duplicates({ writeKey }), []);
  });

  it('starts by its conditions, keeps ordered tasks blocked, and is operable by keyboard', T, async (t) => {
    const writeKey = 'checklists-keys';
    const content = doc({
      start: [{ all: [{ url: '/flows.html*' }, { user: 'plan', op: 'equals', value: 'pro' }] }],
      completion_order: 'ordered',
      initial_display: 'collapsed',
    });
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-keys', traits: { plan: 'free' }, content });
    await listen(page);
    await sleep(300);
    assert.equal((await widget(page)).shown, false, 'plan is not pro yet');
    await page.evaluate(() => window.segflow.updateUser({ plan: 'pro' }));
    await waitFor(async () => (await widget(page)).shown, { message: 'started by its conditions' });
    let w = await widget(page);
    assert.equal(w.open, false, 'collapsed: launcher only');
    assert.equal(w.expanded, 'false');
    assert.deepEqual(await trace(page), ['checklistStarted:condition']);
    // Keyboard: focus the launcher, open with Enter: focus moves to the first open task.
    await page.locator('segflow-checklist .launcher').focus();
    await page.keyboard.press('Enter');
    await waitFor(async () => (await widget(page)).open, { message: 'opened by keyboard' });
    w = await widget(page);
    assert.equal(w.focused, 'task:click');
    assert.deepEqual(w.tasks.map((x) => x.blocked), [false, true, true]);
    assert.match(w.tasks[1].text, /locked/);
    // A blocked task ignores clicks (forced: it says it is disabled).
    await page.locator('segflow-checklist [data-cl="task:tour"]').click({ force: true });
    await sleep(200);
    assert.equal(await page.locator('segflow-ui .step').count(), 0, 'no flow from a blocked task');
    // Space on the first task completes it and unblocks the next.
    await page.locator('segflow-checklist [data-cl="task:click"]').focus();
    await page.keyboard.press('Space');
    await waitFor(async () => (await widget(page)).progress === '1', { message: 'done by keyboard' });
    w = await widget(page);
    assert.deepEqual(w.tasks.map((x) => x.blocked), [false, false, true]);
    // Escape collapses; focus returns to the launcher.
    await page.keyboard.press('Escape');
    await waitFor(async () => !(await widget(page)).open, { message: 'collapsed by Escape' });
    assert.equal((await widget(page)).focused, 'toggle');
    assert.deepEqual(await trace(page), [
      'checklistStarted:condition', 'checklistShown', 'checklistTaskClicked:click',
      'checklistTaskCompleted:click', 'checklistHidden',
    ]);
    // Dismiss from the panel.
    await page.locator('segflow-checklist .launcher').click();
    await page.locator('segflow-checklist [data-cl=dismiss]').click();
    await waitFor(async () => !(await widget(page)).shown, { message: 'dismissed' });
    assert.equal((await trace(page)).at(-1), 'checklistEnded:user_closed');
  });

  it('gives focus back to the task whose flow the keyboard finished, and announces each task completed, also by an event', T, async (t) => {
    const writeKey = 'checklists-return';
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-return', traits: { first_name: 'Ada' }, content: doc() });
    await page.evaluate(() => window.segflow.start('setup'));
    await waitFor(async () => (await widget(page)).open, { message: 'panel open' });
    const status = () => page.evaluate(() => {
      const root = document.querySelector('segflow-checklist').shadowRoot;
      const all = root.querySelectorAll('[role=status]');
      return { count: all.length, text: all[0]?.textContent ?? null, kept: all[0]?.kept === true, live: all[0]?.getAttribute('aria-live') };
    });
    // The live region is in place before anything is announced (a region
    // created with its text is not read out).
    let s = await status();
    assert.equal(s.count, 1, 'one live region');
    assert.equal(s.text, '');
    await page.evaluate(() => { document.querySelector('segflow-checklist').shadowRoot.querySelector('[role=status]').kept = true; });

    // Enter on the task starts its flow; the flow's modal takes focus.
    await page.locator('segflow-checklist [data-cl="task:tour"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('segflow-ui .step').waitFor();
    await waitFor(() => page.evaluate(() => document.activeElement?.localName === 'segflow-ui'), { message: 'the modal has focus' });
    await page.locator('segflow-ui .step button.primary').focus();
    await page.keyboard.press('Enter');
    await waitFor(async () => (await widget(page)).progress === '1', { message: 'tour done' });
    await waitFor(async () => (await page.locator('segflow-ui .step').count()) === 0, { message: 'flow gone' });
    await sleep(100);
    const w = await widget(page);
    assert.equal(await page.evaluate(() => document.activeElement?.localName), 'segflow-checklist', 'focus is back in the checklist, not on <body>');
    assert.equal(w.focused, 'task:tour', 'on the task that started the flow');
    s = await status();
    assert.equal(s.count, 1);
    assert.ok(s.kept, 'the same live region (not re-created with each render)');
    assert.equal(s.text, 'Done: Take the tour. 2 tasks left');

    // An event the app tracks completes a task: said in words too.
    await page.evaluate(() => window.segflow.track('teammate_invited'));
    await waitFor(async () => (await widget(page)).progress === '2', { message: 'invite done' });
    s = await status();
    assert.ok(s.kept);
    assert.equal(s.text, 'Done: Invite a teammate. 1 task left');
    assert.equal((await widget(page)).focused, 'task:tour', 'focus stays where it was');
  });

  it('keeps keyboard focus in a flow a task started when Next leads from its modal to a tooltip', T, async (t) => {
    const tour = {
      id: 'tour', name: 'Tour', steps: [
        modal('s1', [{ label: 'Next', action: { type: 'next' }, primary: true }]),
        { id: 's2', type: 'tooltip', target: '#settings', blocks: [{ type: 'title', text: 'Tip' }, { type: 'button', label: 'Done', action: { type: 'next' }, primary: true }] },
      ],
    };
    const content = { version: 1, flows: [tour], checklists: [{ id: 'setup', name: 'Set up', tasks: [{ id: 'tour', name: 'Take the tour', action: { type: 'start_flow', flow: 'tour' } }] }] };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'checklists-tooltip-focus', userId: 'u-tf', content });
    await page.evaluate(() => window.segflow.start('setup'));
    await page.locator('segflow-checklist [data-cl="task:tour"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('segflow-ui .step[data-step=s1]').waitFor();
    await waitFor(() => page.evaluate(() => document.activeElement?.localName === 'segflow-ui'), { message: 'the modal has focus' });
    await page.keyboard.press('Enter');
    await page.locator('segflow-ui .step[data-step=s2]').waitFor();
    await sleep(200);
    const focused = () => page.evaluate(() => {
      const a = document.activeElement;
      return `${a?.localName} ${a?.shadowRoot?.activeElement?.textContent ?? ''}`;
    });
    assert.equal(await focused(), 'segflow-ui Done', 'the tooltip took focus, not <body>');
    // So the keyboard goes on: Enter on Done ends the flow, and focus goes back to the task.
    await page.keyboard.press('Enter');
    await waitFor(async () => (await page.locator('segflow-ui .step').count()) === 0, { message: 'flow gone' });
    await sleep(100);
    assert.equal((await widget(page)).focused, 'task:tour', 'back on the task that started the flow');
  });

  it('says the last task done when a dismiss_when_complete checklist goes, and gives focus back to where it was, also after Dismiss', T, async (t) => {
    const content = { version: 1, checklists: [
      { id: 'c', name: 'C', dismiss_when_complete: true, tasks: [{ id: 'a', name: 'Alpha' }, { id: 'b', name: 'Beta' }] },
      { id: 'd', name: 'D', dismissible: true, tasks: [{ id: 'x', name: 'X' }] },
    ] };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'checklists-last-said', userId: 'u-ls', content });
    // The keyboard user was on the page's Settings button before going to the checklist.
    await page.locator('#settings').focus();
    await page.evaluate(() => window.segflow.start('c'));
    await page.locator('segflow-checklist [data-cl="task:a"]').waitFor();
    await page.evaluate(() => {
      window.said = [];
      const live = document.querySelector('segflow-checklist').shadowRoot.querySelector('[role=status]');
      new MutationObserver(() => window.said.push(live.textContent)).observe(live, { childList: true, subtree: true, characterData: true });
    });
    for (const id of ['a', 'b']) {
      await page.locator(`segflow-checklist [data-cl="task:${id}"]`).focus();
      await page.keyboard.press('Enter');
      await sleep(200);
    }
    assert.equal((await widget(page)).shown, false, 'the checklist went once complete');
    const said = await page.evaluate(() => window.said);
    assert.deepEqual(said, ['Done: Alpha. 1 task left', 'Done: Beta. 0 tasks left'], 'the last completion is said too');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'settings', 'focus is back where it was, not on <body>');
    // Dismiss (×) by keyboard: focus goes back too.
    await page.evaluate(() => window.segflow.start('d'));
    await page.locator('segflow-checklist [data-cl="task:x"]').waitFor();
    await page.locator('segflow-checklist [data-cl="dismiss"]').focus();
    await page.keyboard.press('Enter');
    await sleep(200);
    assert.equal((await widget(page)).shown, false, 'dismissed');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'settings', 'focus is back where it was after Dismiss');
    // Sign-out: the live region (kept in the page) no longer says the last user's tasks.
    await page.evaluate(() => window.segflow.reset());
    await sleep(100);
    assert.equal(await page.evaluate(() => document.querySelector('segflow-checklist')?.shadowRoot.querySelector('[role=status]').textContent), '');
  });

  it('gives focus back without scrolling the page when a mouse user completes the last task', T, async (t) => {
    const content = { version: 1, checklists: [{ id: 'c', name: 'C', dismiss_when_complete: true, tasks: [{ id: 'a', name: 'Alpha' }] }] };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'checklists-no-scroll', userId: 'u-ns', content });
    await page.evaluate(() => {
      document.body.append(Object.assign(document.createElement('div'), { style: 'height: 5000px' }));
      document.getElementById('settings').focus();
      scrollTo(0, 3000);
    });
    await page.evaluate(() => window.segflow.start('c'));
    await page.locator('segflow-checklist [data-cl="task:a"]').click();
    await waitFor(async () => !(await widget(page)).shown, { message: 'complete: gone' });
    assert.equal(await page.evaluate(() => scrollY), 3000, 'the page did not jump');
  });

  it('loads a checklist that names a flow loaded before, and refuses one that takes a loaded flow\'s id', T, async (t) => {
    const tour = { id: 'tour', name: 'Tour', steps: [modal('s1', [{ label: 'Done', action: { type: 'next' }, primary: true }])] };
    const { page } = await openFlows(env.browser, t, collector, { writeKey: 'checklists-two-docs', userId: 'u-2d', content: { version: 1, flows: [tour] } });
    const r = await page.evaluate(async () => {
      const s = window.segflow;
      const outcome = (p) => p.then(() => 'ok', (e) => `${e.code}: ${e.message}`);
      return {
        refers: await outcome(s.loadContent({ version: 1, checklists: [{ id: 'setup', name: 'Set up', tasks: [
          { id: 'tour', name: 'Take the tour', action: { type: 'start_flow', flow: 'tour' }, complete_when: [{ flow: 'tour', state: 'completed' }] }] }] })),
        clash: await outcome(s.loadContent({ version: 1, checklists: [{ id: 'tour', name: 'Not the tour', tasks: [{ id: 'a', name: 'A' }] }] })),
      };
    });
    assert.equal(r.refers, 'ok');
    assert.match(r.clash, /^invalid_argument: segflow: checklists\[0\]\.id: a flow has this id/);
    // The tour is still the flow, and the checklist's task starts it.
    await page.evaluate(() => window.segflow.start('setup'));
    await page.locator('segflow-checklist [data-cl="task:tour"]').click();
    await page.locator('segflow-ui .step[data-step=s1]').waitFor();
    await clickDone(page);
    await waitFor(async () => (await widget(page)).progress === '1', { message: 'the task completed with the flow' });
  });

  it('keeps its corner and mirrors its panel on a right-to-left page', T, async (t) => {
    const writeKey = 'checklists-rtl';
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-rtl', content: doc() });
    await page.evaluate(() => { document.documentElement.dir = 'rtl'; window.segflow.start('setup'); });
    await waitFor(async () => (await widget(page)).open, { message: 'panel open' });
    const m = await page.evaluate(() => {
      const root = document.querySelector('segflow-checklist').shadowRoot;
      const rect = (el) => el.getBoundingClientRect();
      const textRect = (el) => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect(); };
      const panel = rect(root.querySelector('.panel'));
      return {
        launcherRightGap: innerWidth - rect(root.querySelector('.launcher')).right,
        panelRightGap: innerWidth - panel.right,
        titleRightGap: panel.right - textRect(root.querySelector('h2')).right,
        toolsLeftGap: rect(root.querySelector('.tools')).x - panel.x,
        taskTextRightGap: rect(root.querySelector('.task')).right - textRect(root.querySelector('.task .name')).right,
      };
    });
    assert.ok(Math.abs(m.launcherRightGap - 24) < 2 && Math.abs(m.panelRightGap - 24) < 2, `in the bottom-right corner: ${JSON.stringify(m)}`);
    assert.ok(m.titleRightGap < 30, `the title starts at the right: ${JSON.stringify(m)}`);
    assert.ok(m.toolsLeftGap < 20, `collapse and dismiss at the left: ${JSON.stringify(m)}`);
    assert.ok(m.taskTextRightGap < 50, `task names start at the right: ${JSON.stringify(m)}`);
  });

  it('a task completes when a watched element appears, and a checklist starts when one is present', T, async (t) => {
    const writeKey = 'checklists-elements';
    const content = {
      version: 1,
      checklists: [{
        id: 'els', name: 'Elements', start: [{ element: '#app-ready' }],
        tasks: [{ id: 'saved', name: 'Save a draft', complete_when: [{ element: '.draft-saved' }] }, { id: 'b', name: 'B' }],
      }],
    };
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-el', content });
    await listen(page);
    await sleep(300);
    assert.equal((await widget(page)).shown, false, 'no #app-ready yet');
    await page.evaluate(() => { const d = document.createElement('div'); d.id = 'app-ready'; document.body.append(d); });
    await waitFor(async () => (await widget(page)).shown, { message: 'started when the element appeared' });
    await page.evaluate(() => { const d = document.createElement('p'); d.className = 'draft-saved'; document.body.append(d); });
    await waitFor(async () => (await widget(page)).progress === '1', { message: 'completed by the element' });
    assert.deepEqual(await trace(page), ['checklistStarted:condition', 'checklistShown', 'checklistTaskCompleted:saved']);
  });

  it('moves off an active flow\'s tooltip and its target, and back once the flow ends', T, async (t) => {
    const writeKey = 'checklists-avoid';
    const content = {
      version: 1,
      flows: [{
        id: 'tip', name: 'Tip', steps: [{
          id: 't1', type: 'tooltip', target: '#corner-button', placement: 'top',
          blocks: [{ type: 'text', markdown: 'Over here.' }, { type: 'button', label: 'Got it', action: { type: 'end' } }],
        }],
      }],
      checklists: [{ id: 'side', name: 'Side', corner: 'bottom-right', tasks: [{ id: 'a', name: 'A' }, { id: 'b', name: 'B' }] }],
    };
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-avoid', content });
    // A button in the bottom-right corner, where the checklist sits.
    await page.evaluate(() => {
      const b = document.createElement('button');
      b.id = 'corner-button';
      b.textContent = 'Corner';
      b.style.cssText = 'position:fixed;right:40px;bottom:40px;width:120px;height:40px';
      document.body.append(b);
    });
    await page.evaluate(() => window.segflow.start('side'));
    await waitFor(async () => (await widget(page)).open, { message: 'panel open' });
    const geometry = () => page.evaluate(() => {
      const w = document.querySelector('segflow-checklist').shadowRoot.querySelector('.w');
      const r = (el) => { const b = el.getBoundingClientRect(); return { x: b.x, y: b.y, right: b.right, bottom: b.bottom }; };
      const step = document.querySelector('segflow-ui')?.shadowRoot?.querySelector('.step');
      return { corner: w.className, widget: r(w), target: r(document.getElementById('corner-button')), step: step ? r(step) : null };
    });
    const overlap = (a, b) => a.x < b.right && b.x < a.right && a.y < b.bottom && b.y < a.bottom;
    let g = await geometry();
    assert.equal(g.corner, 'w bottom-right');
    assert.ok(overlap(g.widget, g.target), 'the set-up covers the target: the test would see a missing move');
    await page.evaluate(() => window.segflow.start('tip'));
    await waitFor(async () => (g = await geometry()).step && !g.corner.includes('bottom-right'), { message: 'the checklist moved' });
    assert.equal(g.corner, 'w bottom-left');
    assert.ok(!overlap(g.widget, g.target), 'clear of the target');
    assert.ok(!overlap(g.widget, g.step), 'clear of the tooltip');
    await page.locator('segflow-ui .step button', { hasText: 'Got it' }).click();
    await waitFor(async () => (await geometry()).corner === 'w bottom-right', { message: 'back in its corner' });
  });

  it('has no axe-core violations, collapsed and expanded', T, async (t) => {
    const writeKey = 'checklists-axe';
    const { page } = await openFlows(env.browser, t, collector, { writeKey, userId: 'u-axe', content: doc({ completion_order: 'ordered' }) });
    await page.addScriptTag({ path: new URL('../../node_modules/axe-core/axe.min.js', import.meta.url).pathname });
    const axe = () => page.evaluate(async () => {
      const r = await window.axe.run(document.querySelector('segflow-checklist'), { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
      return { violations: r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), passes: r.passes.length };
    });
    await page.evaluate(() => window.segflow.start('setup'));
    await waitFor(async () => (await widget(page)).open, { message: 'open' });
    await clickTask(page, 'click');
    await waitFor(async () => (await widget(page)).progress === '1', { message: 'one done' });
    await sleep(400); // the panel's fade-in is over
    let r = await axe();
    assert.deepEqual(r.violations, [], 'expanded');
    assert.ok(r.passes > 5, `axe looked inside the shadow root (${r.passes} rules passed)`);
    await page.locator('segflow-checklist [data-cl=toggle].launcher').click();
    await waitFor(async () => !(await widget(page)).open, { message: 'collapsed' });
    r = await axe();
    assert.deepEqual(r.violations, [], 'collapsed');
  });
});
