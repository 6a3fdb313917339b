// The small app every build runs (Vite, webpack, and the plain page without a
// bundler). It gets segflow's default export and namespace from its entry, so the
// same code runs whether 'segflow' was resolved by a bundler or '/pkg/segflow.js' was
// imported by the browser. Query parameters: writeKey, user, build.
//
// On load it starts segflow, identifies the user and tracks "App Booted"; the
// "Start tour" button loads a one-step modal flow and starts it. Progress and
// failures are published on window for the test: ready / loadError, tourDone /
// tourError, appLog (listener calls).

/** The flow content the tour button loads (docs/CONTENT.md). */
export const TOUR = {
  version: 1,
  flows: [
    {
      id: 'welcome',
      name: 'Welcome tour',
      steps: [
        {
          id: 'hello',
          name: 'Hello',
          type: 'modal',
          blocks: [
            { type: 'title', text: 'Welcome to the bundled app' },
            { type: 'text', markdown: 'This modal comes from **segflow**.' },
            { type: 'button', label: 'Got it', action: { type: 'end' }, primary: true },
          ],
        },
      ],
    },
  ],
};

const describe = (err) => String((err && (err.code ? `${err.code}: ${err.message}` : err.stack)) || err);

export async function run(load, segflow) {
  const params = new URLSearchParams(location.search);
  const build = params.get('build') || 'unknown';
  window.appLog = [];

  const status = document.createElement('p');
  status.id = 'status';
  status.textContent = `segflow (${build}) loading`;
  const tour = document.createElement('button');
  tour.id = 'tour';
  tour.textContent = 'Start tour';
  tour.disabled = true;
  document.body.append(status, tour);

  try {
    await load();
    segflow.init({
      writeKey: params.get('writeKey'),
      apiHost: `${location.origin}/v1`,
      pageTracking: false,
      flushInterval: 100,
    });
    segflow.on('flowStarted', (e) => window.appLog.push(['flowStarted', e.flow_id, e.flow_start_reason]));
    segflow.on('error', (e) => window.appLog.push(['error', describe(e)]));
    segflow.identify(params.get('user'), { plan: 'trial' });
    segflow.track('App Booted', { build });
  } catch (err) {
    window.loadError = describe(err);
    status.textContent = `segflow failed: ${window.loadError}`;
    return;
  }

  tour.addEventListener('click', async () => {
    tour.disabled = true;
    try {
      await segflow.loadContent(TOUR);
      await segflow.start('welcome');
      window.tourDone = true;
    } catch (err) {
      window.tourError = describe(err);
    }
  });
  tour.disabled = false;
  status.textContent = `segflow (${build}) ready`;
  window.segflow = segflow;
  window.ready = true;
}
