// The demo page (www/index.html, what `make demo` serves) works end to end with the
// built package: it initialises from its query string, sends its page call, its
// buttons send what they say, and its onboarding tour runs from "Start tour" to the
// end, with its flow events in the page's log and at the collector.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { newContext, startCollector, useBrowser } from './harness.mjs';

describe('demo page', () => {
  const env = useBrowser();

  it('sends page, identify, group and track from www/index.html', { timeout: 30_000 }, async (t) => {
    const collector = await startCollector({ writeKeys: ['demo-e2e-key'] });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const q = new URLSearchParams({ writeKey: 'demo-e2e-key', apiHost: collector.apiHost });
    await page.goto(`${collector.url}/www/index.html?${q}`);
    await page.waitForFunction(() => window.segflow, null, { timeout: 15_000 });
    assert.deepEqual(errors, []);

    await page.click('#identify');
    await page.click('#group');
    await page.click('#track');
    await page.click('#flush');
    await page.getByText('flush() settled').waitFor({ timeout: 10_000 });

    const all = await collector.events({ writeKey: 'demo-e2e-key' });
    // Automatic page tracking (Userflow's page_viewed) is on in the demo.
    assert.equal(all.filter((e) => e.event === 'Page Viewed').length, 1);
    // The getting-started checklist's events are checked below.
    const events = all.filter((e) => e.event !== 'Page Viewed' && !e.event?.startsWith('Checklist '));
    assert.deepEqual(events.map((e) => e.type), ['page', 'identify', 'group', 'track']);
    const [pageCall, identify, group, track] = events;
    assert.equal(pageCall.name, 'Demo');
    assert.equal(pageCall.properties.title, 'segflow demo');
    assert.equal(identify.userId, 'user-42');
    assert.deepEqual(identify.traits, { email: 'ada@example.com', logins: 1 });
    assert.equal(group.groupId, 'company-7');
    assert.deepEqual(group.traits, { name: 'Acme' });
    assert.equal(track.event, 'Report Exported');
    assert.deepEqual(track.properties, { source: 'demo', company_id: 'company-7' },
      'the demo sets companyEventProperty: company_id');
    assert.ok(events.every((e) => e.anonymousId === pageCall.anonymousId));
    assert.match(await page.locator('#log').innerText(), /delivered \d+ event/);

    // The tour: welcome modal → tooltip on the real "New project" button → bubble → done.
    const step = page.locator('segflow-ui .step');
    const button = (label) => page.locator('segflow-ui .step .footer button', { hasText: label });
    const stepIs = (id) => page.waitForFunction((id) => {
      const el = document.querySelector('segflow-ui')?.shadowRoot?.querySelector('.step');
      return el && el.dataset.step === id && getComputedStyle(el).visibility === 'visible';
    }, id, { timeout: 5_000 });
    await page.click('#start-tour');
    await stepIs('welcome');
    assert.equal(await step.getAttribute('aria-modal'), 'true');
    assert.match(await step.locator('h2').innerText(), /^Hi there, welcome to Acme$/);
    assert.equal(await step.locator('.progress').innerText(), '1 of 4');
    await button('Show me around').click();
    await stepIs('new-project');
    assert.equal(await step.getAttribute('data-side'), 'right');
    const [tip, target] = [await step.boundingBox(), await page.locator('#new-project').boundingBox()];
    assert.ok(Math.abs(tip.x - (target.x + target.width + 12)) <= 2, 'the tooltip sits right of the button');
    // Clicking the real button (its target_clicked trigger) moves the tour on.
    await page.click('#new-project');
    await stepIs('invite');
    assert.match(await step.getAttribute('class'), /\bbubble\b.*\bbottom-right\b/);
    await button('Next').click();
    await stepIs('done');
    await button('Finish').click();
    await page.waitForFunction(() => !document.querySelector('segflow-ui')?.shadowRoot?.querySelector('.step'));

    const logText = await page.locator('#log').innerText();
    for (const line of ['flowStarted onboarding (program)', 'flowStepSeen onboarding step 1: welcome (25%)',
      'flowStepSeen onboarding step 3: invite (75%)', 'flowCompleted onboarding', 'flowEnded onboarding (completed)']) {
      assert.ok(logText.includes(line), `the log shows "${line}"`);
    }
    await page.click('#flush');
    const flowEvents = await collector.waitForEvents({ writeKey: 'demo-e2e-key', event: 'Flow Ended' }, 1)
      .then(() => collector.events({ writeKey: 'demo-e2e-key', type: 'track' }))
      .then((all) => all.filter((e) => e.event.startsWith('Flow ')));
    assert.deepEqual(flowEvents.map((e) => [e.event, e.properties.flow_step_id ?? e.properties.flow_end_reason ?? e.properties.flow_start_reason ?? null]), [
      ['Flow Started', 'program'], ['Flow Step Seen', 'welcome'], ['Flow Step Seen', 'new-project'],
      ['Flow Step Seen', 'invite'], ['Flow Step Seen', 'done'], ['Flow Completed', null], ['Flow Ended', 'completed'],
    ]);
    for (const e of flowEvents) {
      assert.equal(e.userId, 'user-42');
      assert.equal(e.properties.company_id, 'company-7');
      assert.equal(e.properties.flow_id, 'onboarding');
      assert.equal(e.properties.flow_version_number, 1);
    }
    // The getting-started checklist (bottom-right): its tasks completed from the
    // tracked "Report Exported", from the "New project" click (the app tracks
    // "Project Created") and from the tour finishing; the last one from a click.
    const checklist = page.locator('segflow-checklist');
    const progress = () => page.evaluate(() => document.querySelector('segflow-checklist')?.shadowRoot
      ?.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow'));
    await page.waitForFunction(() => document.querySelector('segflow-checklist')?.shadowRoot
      ?.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow') === '3', null, { timeout: 5_000 });
    await checklist.locator('[data-cl="task:hello"]').click();
    await page.waitForFunction(() => document.querySelector('segflow-checklist')?.shadowRoot
      ?.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow') === '4', null, { timeout: 5_000 });
    assert.equal(await progress(), '4');
    await page.click('#flush');
    await collector.waitForEvents({ writeKey: 'demo-e2e-key', event: 'Checklist Completed' }, 1);
    const done = (await collector.events({ writeKey: 'demo-e2e-key', type: 'track' }))
      .filter((e) => e.event === 'Checklist Task Completed' && e.userId === 'user-42')
      .map((e) => e.properties.checklist_task_id);
    assert.deepEqual(done, ['export', 'project', 'tour', 'hello']);
    assert.match(await page.locator('#log').innerText(), /checklistCompleted getting-started/);
    assert.deepEqual(await collector.duplicates({ writeKey: 'demo-e2e-key' }), []);
    assert.deepEqual(errors, []);
  });
});
