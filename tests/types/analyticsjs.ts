// Compile-time checks of the analytics.js parts of pkg/segflow.d.ts against
// analytics-next's own types (run with tests/types/usage.ts by `tsc -p tests/types`).
import * as segflow from '../../pkg/segflow.js';
import { AnalyticsBrowser, type Plugin } from '@segment/analytics-next';

export async function registers(): Promise<void> {
  const analytics = AnalyticsBrowser.load({ writeKey: 'k' });
  // What the README says: the plugin is an analytics-next plugin as it is.
  await analytics.register(segflow.analyticsPlugin());
  const plugin: Plugin = segflow.analyticsPlugin();
  const name: 'segflow' = segflow.analyticsPlugin().name;
  void plugin; void name;
  segflow.init({ writeKey: 'k', listenToAnalyticsJs: true });
}

export function wrongUsage(): void {
  // @ts-expect-error listenToAnalyticsJs is a boolean
  segflow.init({ writeKey: 'k', listenToAnalyticsJs: 'yes' });
  // @ts-expect-error analyticsPlugin takes no options
  segflow.analyticsPlugin({ name: 'other' });
}
