// The demo page (www/index.html, what `make demo` serves) works end to end with the
// built package: it initialises from its query string, sends its page call, and its
// buttons send what they say.

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
    const events = all.filter((e) => e.event !== 'Page Viewed');
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
  });
});
