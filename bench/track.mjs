// segflow benchmark (not a test): in headless Chromium, against a real collector,
//   - the cost of one track() call (warm-up, then rounds of 1,000 calls timed with
//     performance.now(); median and p95 of the per-round averages, µs per call),
//   - requests per 1,000 events (POSTs to /v1/batch) for a burst, a steady stream
//     and a sparse stream of events, with the default flushAt (20) and interval (1 s),
//   - the gzipped size (zlib level 9) of pkg/segflow_bg.wasm and the JS that loads it.
//
// Run it with `bash scripts/bench.sh` (builds what is missing and starts the
// collector). Standalone: `node bench/track.mjs` starts its own collector from
// target/release/segflow-collector. Options: --rounds N (20), --calls N (1000),
// --warmup N (2000), --json (also print the results as one JSON line).
// Environment: SEGFLOW_COLLECTOR_URL (a running collector serving bench/ at / and
// pkg/ at /pkg), SEGFLOW_PKG_DIR (default pkg/), SEGFLOW_BENCH_WRITE_KEY.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { CHROMIUM, PKG_DIR, ROOT, launchBrowser, startCollector } from '../tests/e2e/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    calls: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(opts.rounds);
const CALLS = Number(opts.calls);
const WARMUP = Number(opts.warmup);
const WRITE_KEY = process.env.SEGFLOW_BENCH_WRITE_KEY || 'bench-key';
const GOAL_US = 20;

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
const fmt = (n, digits = 1) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function gzipped(path) {
  const raw = readFileSync(path);
  return { raw: raw.length, gz: gzipSync(raw, { level: 9 }).length };
}

/** Files under pkg/snippets (wasm-bindgen's inline JS modules, loaded with segflow.js). */
function snippetFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.js')) out.push(p);
    }
  };
  try { walk(join(dir, 'snippets')); } catch { /* no snippets */ }
  return out;
}

async function main() {
  let collector = null;
  let url = process.env.SEGFLOW_COLLECTOR_URL;
  if (!url) {
    collector = await startCollector({ writeKeys: [WRITE_KEY], statics: [`/=${join(ROOT, 'bench')}`, `/pkg=${PKG_DIR}`] });
    url = collector.url;
  }
  const apiHost = `${url}/v1`;
  const statsOf = async () => (await fetch(`${url}/api/stats`)).json();
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
    let posts = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url() === `${apiHost}/batch`) posts++;
    });
    await page.goto(`${url}/index.html`);
    await page.waitForFunction(() => window.ready || window.loadError, null, { timeout: 30_000 });
    const loadError = await page.evaluate(() => window.loadError);
    if (loadError) throw new Error(`segflow failed to load: ${loadError}`);
    const browserVersion = browser.version();
    const statsBefore = await statsOf();

    const setup = await page.evaluate(({ writeKey, apiHost }) => {
      const t0 = performance.now();
      // Automatic page_viewed off: the counts below are exactly the tracked events.
      window.segflow.init({ writeKey, apiHost, pageTracking: false });
      const initMs = performance.now() - t0;
      window.dropped = 0;
      window.segflow.on('dropped', (e) => { window.dropped += e.count; });
      return { initMs, loadMs: window.loadMs };
    }, { writeKey: WRITE_KEY, apiHost });

    // --- track() cost -------------------------------------------------------------
    // Each round: CALLS synchronous track() calls, timed as a whole (performance.now()
    // is coarsened to 100 µs in pages that are not cross-origin isolated, so single
    // calls cannot be timed). Between rounds flush() settles, untimed, so every round
    // starts from an empty queue, as a page that tracks in bursts would.
    const eventBytes = await page.evaluate(async (n) => {
      for (let i = 0; i < n; i++) window.segflow.track('Warm Up', { i, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
      const key = Object.keys(localStorage).find((k) => /:q:[^:]+:\d+$/.test(k));
      window.segflowEventBytes = key ? localStorage.getItem(key).length : 0;
      await window.segflow.flush();
      return window.segflowEventBytes;
    }, WARMUP);
    const postsBeforeRounds = posts;
    const perCall = await page.evaluate(async ({ rounds, calls }) => {
      const out = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) {
          window.segflow.track('Report Exported', { i, round: r, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
        }
        out.push(((performance.now() - t0) * 1000) / calls);
        await window.segflow.flush();
      }
      return out;
    }, { rounds: ROUNDS, calls: CALLS });
    const burstPosts = posts - postsBeforeRounds;
    // Diagnostic: the same rounds with Storage.prototype.setItem stubbed out, i.e.
    // segflow's own work (validation, message building, queueing) without persisting.
    const noPersist = await page.evaluate(async ({ rounds, calls }) => {
      const setItem = Storage.prototype.setItem;
      Storage.prototype.setItem = function () {};
      const out = [];
      try {
        for (let r = 0; r < rounds; r++) {
          const t0 = performance.now();
          for (let i = 0; i < calls; i++) {
            window.segflow.track('Report Exported', { i, round: r, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
          }
          out.push(((performance.now() - t0) * 1000) / calls);
          await window.segflow.flush();
        }
      } finally {
        Storage.prototype.setItem = setItem;
      }
      return out.sort((a, b) => a - b)[Math.floor(out.length / 2)];
    }, { rounds: Math.min(ROUNDS, 10), calls: CALLS });
    // Baseline for context: what persisting alone costs, i.e. localStorage.setItem of a
    // value as long as one stored event, same number of calls (keys removed after).
    const baseline = await page.evaluate(({ rounds, calls }) => {
      const value = 'x'.repeat(window.segflowEventBytes || 900);
      const out = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) localStorage.setItem(`bench:baseline:${i}`, value + i);
        out.push(((performance.now() - t0) * 1000) / calls);
        for (let i = 0; i < calls; i++) localStorage.removeItem(`bench:baseline:${i}`);
      }
      return out.sort((a, b) => a - b)[Math.floor(out.length / 2)];
    }, { rounds: Math.min(ROUNDS, 10), calls: CALLS });
    const sorted = [...perCall].sort((a, b) => a - b);
    const median = quantile(sorted, 0.5);
    const p95 = quantile(sorted, 0.95);

    // --- requests per 1,000 events --------------------------------------------------
    // Steady: 10 events every 20 ms (500 events/s). Sparse: 1 event every 50 ms, so
    // the 1 s flushInterval, not flushAt, decides.
    const stream = async (count, perTick, tickMs) => {
      const before = posts;
      await page.evaluate(async ({ count, perTick, tickMs }) => {
        let i = 0;
        while (i < count) {
          for (let k = 0; k < perTick && i < count; k++, i++) window.segflow.track('Streamed', { i });
          await new Promise((r) => setTimeout(r, tickMs));
        }
        await window.segflow.flush();
      }, { count, perTick, tickMs });
      return ((posts - before) * 1000) / count;
    };
    const steadyPer1000 = await stream(1000, 10, 20);
    const sparseCount = 60;
    const sparsePer1000 = await stream(sparseCount, 1, 50);

    const tracked = WARMUP + (ROUNDS + Math.min(ROUNDS, 10)) * CALLS + 1000 + sparseCount;
    const dropped = await page.evaluate(() => window.dropped);
    const statsAfter = await statsOf();
    const stored = statsAfter.accepted - statsBefore.accepted;

    // --- sizes -------------------------------------------------------------------
    const wasm = gzipped(join(PKG_DIR, 'segflow_bg.wasm'));
    const js = gzipped(join(PKG_DIR, 'segflow.js'));
    const snippets = snippetFiles(PKG_DIR).map((p) => ({ path: relative(PKG_DIR, p), ...gzipped(p) }));
    const snippetsGz = snippets.reduce((s, f) => s + f.gz, 0);
    const snippetsRaw = snippets.reduce((s, f) => s + f.raw, 0);

    // --- report ------------------------------------------------------------------
    const rows = [
      ['track() median', `${fmt(median, 2)} µs/call`, `goal < ${GOAL_US} µs: ${median < GOAL_US ? 'met' : 'NOT met'}`],
      ['track() p95', `${fmt(p95, 2)} µs/call`, `${ROUNDS} rounds × ${CALLS} calls, after ${WARMUP} warm-up calls`],
      ['track() without persisting', `${fmt(noPersist, 2)} µs/call`, 'diagnostic: median with localStorage.setItem stubbed out'],
      ['localStorage.setItem alone', `${fmt(baseline, 2)} µs/call`, `baseline: median of setItem calls with a ${eventBytes}-char value (one stored event)`],
      ['track() min / max', `${fmt(sorted[0], 2)} / ${fmt(sorted[sorted.length - 1], 2)} µs/call`, 'per-round averages'],
      ['requests / 1,000 events (burst)', fmt((burstPosts * 1000) / (ROUNDS * CALLS)), `${burstPosts} POSTs for ${ROUNDS * CALLS} events: 1,000 at once, then flush()`],
      ['requests / 1,000 events (steady)', fmt(steadyPer1000), '10 events every 20 ms, default flushAt 20'],
      ['requests / 1,000 events (sparse)', fmt(sparsePer1000), `1 event every 50 ms (${sparseCount} events), flushInterval 1 s decides`],
      ['segflow_bg.wasm gzip -9', `${fmt(wasm.gz / 1024)} KiB`, `${wasm.gz} B (raw ${wasm.raw} B)`],
      ['segflow.js gzip -9', `${fmt(js.gz / 1024)} KiB`, `${js.gz} B (raw ${js.raw} B)`],
      ['snippets/*.js gzip -9', `${fmt(snippetsGz / 1024)} KiB`, `${snippetsGz} B (raw ${snippetsRaw} B, ${snippets.length} file(s))`],
      ['total download gzip -9', `${fmt((wasm.gz + js.gz + snippetsGz) / 1024)} KiB`, `${wasm.gz + js.gz + snippetsGz} B`],
      ['wasm load + instantiate', `${fmt(setup.loadMs)} ms`, 'await load() in the page, localhost'],
      ['init()', `${fmt(setup.initMs, 2)} ms`, ''],
      ['events stored / tracked', `${stored} / ${tracked}`, dropped ? `${dropped} dropped` : 'none dropped'],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    console.log(`\nsegflow benchmark: Chromium ${browserVersion} headless (${CHROMIUM}), collector ${url}, pkg ${relative(ROOT, PKG_DIR) || PKG_DIR}`);
    console.log(`${'metric'.padEnd(w0)}  ${'value'.padEnd(w1)}  notes`);
    console.log(`${'-'.repeat(w0)}  ${'-'.repeat(w1)}  ${'-'.repeat(20)}`);
    for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
    if (opts.json) {
      console.log(JSON.stringify({
        trackMedianUs: median, trackP95Us: p95, perRoundUs: perCall,
        requestsPer1000: { burst: (burstPosts * 1000) / (ROUNDS * CALLS), steady: steadyPer1000, sparse: sparsePer1000 },
        noPersistUs: noPersist, setItemBaselineUs: baseline, eventBytes,
        gzipBytes: { wasm: wasm.gz, js: js.gz, snippets: snippetsGz }, loadMs: setup.loadMs, initMs: setup.initMs,
        stored, tracked, dropped,
      }));
    }
    if (stored !== tracked) {
      console.error(`warning: the collector stored ${stored} of ${tracked} events`);
      process.exitCode = 1;
    }
  } finally {
    await browser.close();
    await collector?.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
