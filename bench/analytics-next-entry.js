// esbuild entry of the analytics-next bundle the benchmark loads: what an app that
// installs @segment/analytics-next from npm and imports AnalyticsBrowser ships.
export { AnalyticsBrowser } from '@segment/analytics-next';
