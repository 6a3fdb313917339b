// Side-by-side benchmark (not a test) of segflow and Segment's analytics-next, in one
// headless Chromium run against the local collector. `make bench` runs it through
// scripts/bench.sh, which builds what is missing; docs/benchmarks.md says what each
// row measures. Steps:
//   1. bundle analytics-next from node_modules with esbuild (ESM, code split as an
//      app's bundler would, minified, then minified again by terser as pkg/ is:
//      scripts/minify.mjs) into target/bench/analytics-next/;
//   2. copy pkg/ to target/bench/pkg (a rebuild meanwhile cannot mix two builds) and
//      start a collector serving bench/pages at /, that copy at /pkg and the bundle at
//      /analytics-next; pages load from http://localhost:PORT, the API is
//      http://127.0.0.1:PORT/v1 (another origin, so CORS preflights would show);
//   3. cold loads of both pages, alternated, each in a fresh browser context: bytes
//      fetched until ready (gzip -9 of every response body) and time to ready;
//   4. one run per SDK in a fresh context: warm-up, timed rounds of track() calls, a
//      steady stream, bursts whose delivery is timed at the collector, JS heap, lost
//      events; then segflow-only diagnostics;
//   5. print the table and write docs/benchmarks.md (unless --no-write).
// Any request to an origin other than these two fails the run.
//
// Options: --rounds N (20) --calls N (500, calls per timed round) --warmup N (1000)
// --loads N (9 cold loads per SDK) --drains N (3 timed bursts) --drain-events N (1000)
// --steady N (1000) --out PATH (docs/benchmarks.md) --no-write --json --quick
// (a short smoke run: few rounds, nothing written). Environment: SEGFLOW_PKG_DIR
// (default pkg/), SEGFLOW_COLLECTOR_BIN, SEGFLOW_CHROMIUM (see tests/e2e/harness.mjs).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { CHROMIUM, PKG_DIR, ROOT, launchBrowser, sleep, startCollector } from '../tests/e2e/harness.mjs';
import { renderConsoleTables, renderMarkdown } from './report.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    calls: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '1000' },
    loads: { type: 'string', default: '9' },
    drains: { type: 'string', default: '3' },
    'drain-events': { type: 'string', default: '1000' },
    steady: { type: 'string', default: '1000' },
    out: { type: 'string', default: join(ROOT, 'docs/benchmarks.md') },
    'no-write': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  // The header comment of this file is the usage.
  const src = readFileSync(new URL(import.meta.url), 'utf8');
  console.log(src.slice(0, src.indexOf('\nimport ')).replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
const num = (name, quick) => {
  const n = Number(opts.quick && quick !== undefined ? quick : opts[name]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number`);
  return n;
};
const CFG = {
  rounds: Math.max(1, num('rounds', 4)),
  calls: Math.max(1, num('calls', 200)),
  warmup: num('warmup', 200),
  loads: Math.max(1, num('loads', 2)),
  drains: Math.max(1, num('drains', 1)),
  drainEvents: Math.max(1, num('drain-events', 200)),
  steady: num('steady', 200),
};
const WRITE = !opts['no-write'] && !opts.quick;

const SDKS = ['segflow', 'analytics-next'];
const WRITE_KEYS = { segflow: 'bench-segflow', 'analytics-next': 'bench-analytics-next' };
const EVENT = 'Report Exported';
const BUNDLE_DIR = join(ROOT, 'target/bench/analytics-next');
const PKG_SNAPSHOT = join(ROOT, 'target/bench/pkg');
const PAGES_DIR = join(ROOT, 'bench/pages');
const AJS_PKG = join(ROOT, 'node_modules/@segment/analytics-next/package.json');
const SETTLE_TIMEOUT_MS = 30_000;

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
};
const median = (values) => quantile(values, 0.5);
const nowMs = () => performance.timeOrigin + performance.now(); // wall clock, sub-ms

/** Bundles analytics-next as an app would ship it; returns the files written and their sizes. */
async function bundleAnalyticsNext() {
  const esbuild = await import('esbuild');
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  mkdirSync(BUNDLE_DIR, { recursive: true });
  const result = await esbuild.build({
    entryPoints: { 'analytics-next': join(ROOT, 'bench/analytics-next-entry.js') },
    bundle: true,
    format: 'esm',
    splitting: true, // dynamic import()s become chunks fetched only when used
    minify: true,
    platform: 'browser',
    outdir: BUNDLE_DIR,
    define: { 'process.env.NODE_ENV': '"production"' },
    metafile: true,
    logLevel: 'warning',
  });
  // Then minified again by terser, as segflow's package is (scripts/minify.mjs),
  // so that both are measured minified alike.
  const { minifyModule } = await import('../scripts/minify.mjs');
  const files = {};
  for (const path of Object.keys(result.metafile.outputs)) {
    const file = join(ROOT, path);
    if (file.endsWith('.js')) writeFileSync(file, await minifyModule(readFileSync(file, 'utf8')));
    files[relative(BUNDLE_DIR, file)] = readFileSync(file).length;
  }
  // { file: bytes } of every output, fetched or not (what was fetched is in sdks.*.load.files).
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}

/** A digest of every file under `root` (names and contents). */
function dirDigest(root) {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(`${relative(root, path)}\0`).update(readFileSync(path));
    }
  };
  walk(root);
  return hash.digest('hex');
}

/** { relative path: bytes } of every file under `root`. */
function listFiles(root) {
  const out = {};
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else out[relative(root, path)] = readFileSync(path).length;
    }
  };
  walk(root);
  return out;
}

/**
 * Copies the package to target/bench/pkg and serves that copy, so a rebuild of pkg/
 * during the run cannot mix two builds. Retries while pkg/ is being written.
 */
async function snapshotPkg() {
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = dirDigest(PKG_DIR);
    rmSync(PKG_SNAPSHOT, { recursive: true, force: true });
    cpSync(PKG_DIR, PKG_SNAPSHOT, { recursive: true });
    if (dirDigest(PKG_DIR) === before && dirDigest(PKG_SNAPSHOT) === before) return before;
    await sleep(2_000);
  }
  throw new Error(`${PKG_DIR} kept changing while it was copied; run the benchmark again`);
}

/** The pages must differ only in their module script. */
function checkPagesIdentical() {
  const strip = (sdk) => readFileSync(join(PAGES_DIR, `${sdk}.html`), 'utf8')
    .replace(/<script type="module">[\s\S]*?<\/script>/, '<script type="module"></script>');
  const [a, b] = SDKS.map(strip);
  if (a !== b) throw new Error('bench/pages/segflow.html and analytics-next.html differ outside their module script');
}

function machineInfo(browserVersion) {
  const cpuinfo = (() => { try { return readFileSync('/proc/cpuinfo', 'utf8'); } catch { return ''; } })();
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { return null; } };
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no']);
  const pkgJson = JSON.parse(readFileSync(join(PKG_SNAPSHOT, 'package.json'), 'utf8'));
  return {
    date: new Date().toISOString(),
    nproc: Number(sh('nproc', [])) || cpus().length,
    cpu: model,
    chromium: browserVersion,
    chromiumPath: CHROMIUM,
    node: process.version,
    segflowVersion: pkgJson.version,
    gitCommit: sh('git', ['rev-parse', 'HEAD']),
    gitDirty: Boolean(dirty),
    analyticsNextVersion: JSON.parse(readFileSync(AJS_PKG, 'utf8')).version,
    loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))), // 1, 5, 15 min: other work on the machine
  };
}

/**
 * Watches every request of a browser context: requests to any origin but the page's
 * and the API's are violations (the run fails); POSTs and OPTIONS to the API origin
 * are counted.
 */
function watchContext(context, origins, violations) {
  const counts = { posts: 0, options: 0, failed: [] };
  context.on('requestfailed', (r) => counts.failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  context.on('request', (r) => {
    const url = new URL(r.url());
    if (url.protocol === 'data:' || url.protocol === 'blob:') return;
    if (url.origin !== origins.page && url.origin !== origins.api) violations.push(`${r.method()} ${r.url()}`);
    if (url.origin === origins.api && url.pathname.startsWith('/v1/')) {
      if (r.method() === 'POST') counts.posts++;
      else if (r.method() === 'OPTIONS') counts.options++;
    }
  });
  return counts;
}

function pageUrl(origins, sdk) {
  const q = new URLSearchParams({ writeKey: WRITE_KEYS[sdk], apiHost: `${origins.api}/v1` });
  return `${origins.page}/${sdk}.html?${q}`;
}

/** Opens the SDK's page in `context`; resolves once it is ready. */
async function openReady(context, origins, sdk) {
  const page = await context.newPage();
  page.logs = [];
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') page.logs.push(`${m.type()}: ${m.text()}`); });
  const responses = [];
  page.on('response', (r) => responses.push(r));
  await page.goto(pageUrl(origins, sdk));
  await page.waitForFunction(() => window.benchReady || window.benchError, null, { timeout: 30_000 });
  const err = await page.evaluate(() => window.benchError);
  if (err) throw new Error(`${sdk} failed to load: ${err}\n${page.logs.join('\n')}`);
  const ready = await page.evaluate(() => window.benchReady);
  // What the page asked for before it was ready. Read a moment later, not at
  // readiness: Chromium adds a fetch()'s Resource Timing entry only after the body
  // was consumed (for a wasm module, by the streaming compiler), which can be
  // after the page went on; a resource the page needed is one it started before.
  await sleep(300);
  ready.resources = await page.evaluate((at) => performance.getEntriesByType('resource')
    .filter((e) => e.startTime <= at).map((e) => e.name), ready.readyMs);
  return { page, responses, ready };
}

/**
 * The responses the page needed before it was ready: every resource of its Resource
 * Timing that started before readiness (see `openReady`), matched to Playwright's
 * responses, with the gzip -9 size of each body. The HTML document is not counted.
 */
async function bytesUntilReady(responses, resources) {
  const wanted = [...resources];
  const end = Date.now() + 5_000;
  const pick = () => {
    const pool = [...responses];
    return wanted.map((url) => {
      const i = pool.findIndex((r) => r.url() === url);
      return i < 0 ? null : pool.splice(i, 1)[0];
    });
  };
  let matched = pick();
  while (matched.some((r) => !r) && Date.now() < end) { await sleep(20); matched = pick(); }
  const missing = wanted.filter((_, i) => !matched[i]);
  if (missing.length) throw new Error(`no response seen for ${missing.join(', ')}`);
  const files = [];
  for (const r of matched) {
    const body = await r.body();
    const u = new URL(r.url());
    files.push({ path: u.pathname, status: r.status(), raw: body.length, gz: gzipSync(body, { level: 9 }).length });
  }
  return { files, gz: files.reduce((s, f) => s + f.gz, 0), raw: files.reduce((s, f) => s + f.raw, 0) };
}

/** A cold load of the SDK's page in a fresh context: bytes and time to ready. */
async function coldLoad(browser, origins, sdk, violations) {
  const context = await browser.newContext();
  try {
    watchContext(context, origins, violations);
    const { responses, ready } = await openReady(context, origins, sdk);
    const bytes = await bytesUntilReady(responses, ready.resources);
    return { readyMs: ready.readyMs, ...bytes };
  } finally {
    await context.close();
  }
}

/**
 * Memory of the page after a forced GC, over the Chrome DevTools Protocol: the V8
 * heap (`Runtime.getHeapUsage`) and, separately, the wasm linear memory (the sum of
 * every live WebAssembly.Memory's buffer, found with `Runtime.queryObjects`), which
 * lives outside the JS heap.
 */
async function memoryUsage(cdp) {
  // Two collections: the first may leave objects with finalizers for the second.
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const h = await cdp.send('Runtime.getHeapUsage');
  const { result: proto } = await cdp.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype' });
  const { objects } = await cdp.send('Runtime.queryObjects', { prototypeObjectId: proto.objectId });
  const { result } = await cdp.send('Runtime.callFunctionOn', {
    objectId: objects.objectId,
    functionDeclaration: 'function () { return { count: this.length, bytes: this.reduce((s, m) => s + m.buffer.byteLength, 0) }; }',
    returnByValue: true,
  });
  await cdp.send('Runtime.releaseObject', { objectId: objects.objectId });
  await cdp.send('Runtime.releaseObject', { objectId: proto.objectId });
  return {
    usedSize: h.usedSize,
    totalSize: h.totalSize,
    backingStorageSize: h.backingStorageSize ?? null,
    wasmMemories: result.value.count,
    wasmMemoryBytes: result.value.bytes,
  };
}

// --- in-page code (runs in the browser via page.evaluate) --------------------------

/**
 * Fires `calls` track() calls, timed as a whole, then lets them settle untimed.
 * segflow: track() queues and returns; settle = flush() until nothing is pending.
 * analytics-next: track() returns a Promise; the loop only fires the calls (their
 * Promises are kept, not awaited); settle = await all of them.
 */
const pageRound = async ({ sdk, calls, round, event, settle, timeoutMs }) => {
  const promises = [];
  let t0;
  let t1;
  if (sdk === 'segflow') {
    const s = window.segflow;
    t0 = performance.now();
    for (let i = 0; i < calls; i++) s.track(event, { i, round, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
    t1 = performance.now();
  } else {
    const a = window.analytics;
    t0 = performance.now();
    for (let i = 0; i < calls; i++) promises.push(a.track(event, { i, round, plan: 'pro', amount: 42.5, tags: ['a', 'b'] }));
    t1 = performance.now();
  }
  const lastCallAt = performance.timeOrigin + t1;
  const settleAll = async () => {
    if (sdk === 'segflow') {
      for (;;) {
        const { pending } = await window.segflow.flush();
        if (pending === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    } else {
      await Promise.all(promises);
    }
  };
  if (settle) {
    const done = await Promise.race([settleAll().then(() => true), new Promise((r) => setTimeout(() => r(false), timeoutMs))]);
    if (!done) throw new Error(`${sdk}: events of round ${round} did not settle in ${timeoutMs} ms`);
  } else {
    window.benchSettle = settleAll;
  }
  return { us: ((t1 - t0) * 1000) / calls, lastCallAt };
};

/** `count` events, `perTick` every `tickMs` ms, then settled. */
const pageSteady = async ({ sdk, count, perTick, tickMs, event }) => {
  const promises = [];
  let i = 0;
  while (i < count) {
    for (let k = 0; k < perTick && i < count; k++, i++) {
      if (sdk === 'segflow') window.segflow.track(event, { i, steady: true, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
      else promises.push(window.analytics.track(event, { i, steady: true, plan: 'pro', amount: 42.5, tags: ['a', 'b'] }));
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  if (sdk === 'segflow') {
    for (;;) {
      const { pending } = await window.segflow.flush();
      if (pending === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } else {
    await Promise.all(promises);
  }
};

// --- one SDK's run -----------------------------------------------------------------

async function statsOf(collector) { return collector.stats(); }
const storedFor = (stats, sdk) => stats.environments?.[sdk] ?? 0;

/** Polls the collector until it stored `target` events of `sdk` (or timeout). */
async function waitStored(collector, sdk, target, { timeout = SETTLE_TIMEOUT_MS, interval = 10 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const stats = await statsOf(collector);
    const n = storedFor(stats, sdk);
    if (n >= target) return { at: nowMs(), stored: n };
    if (Date.now() > end) return { at: null, stored: n };
    await sleep(interval);
  }
}

function diffRejected(before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after.rejected ?? {})) {
    const d = v - (before.rejected?.[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

async function runSdk(browser, collector, origins, sdk, violations) {
  const context = await browser.newContext();
  const counts = watchContext(context, origins, violations);
  const statsStart = await statsOf(collector);
  const baseStored = storedFor(statsStart, sdk);
  let tracked = 0;
  try {
    const { page, ready } = await openReady(context, origins, sdk);
    const cdp = await context.newCDPSession(page);
    const heapAtReady = await memoryUsage(cdp);

    const round = async (calls, r, settle = true) => {
      const res = await page.evaluate(pageRound, { sdk, calls, round: r, event: EVENT, settle, timeoutMs: SETTLE_TIMEOUT_MS });
      tracked += calls;
      return res;
    };
    // Events the collector still lacked when a wait timed out: later waits do not wait
    // for them again (row 6 counts what is missing at the very end).
    let missing = 0;
    const expected = () => baseStored + tracked - missing;
    const noteMissing = (w, what) => {
      if (w.at !== null) return;
      missing = baseStored + tracked - w.stored;
      console.error(`warning: ${sdk}: the collector has ${w.stored - baseStored} of ${tracked} events after ${what}`);
    };
    const caughtUp = async (what) => noteMissing(await waitStored(collector, sdk, expected()), what);

    // Warm-up, in rounds like the timed ones.
    for (let done = 0, r = 0; done < CFG.warmup; r++) {
      const n = Math.min(CFG.calls, CFG.warmup - done);
      await round(n, -1 - r);
      done += n;
    }
    await caughtUp('the warm-up');
    const preflightsAt = async () => (await statsOf(collector)).preflights - statsStart.preflights;
    const preflights = { warmup: await preflightsAt() };
    const heapByPhase = { warmup: (await memoryUsage(cdp)).usedSize };

    // Timed rounds: every round starts with the SDK idle and the collector caught up.
    const perRoundUs = [];
    const postsBeforeRounds = counts.posts;
    for (let r = 0; r < CFG.rounds; r++) {
      perRoundUs.push((await round(CFG.calls, r)).us);
      await caughtUp(`round ${r}`);
    }
    const roundPosts = counts.posts - postsBeforeRounds;
    preflights.rounds = await preflightsAt() - preflights.warmup;
    heapByPhase.rounds = (await memoryUsage(cdp)).usedSize;

    // Steady stream: 10 events every 20 ms (500 events/s).
    const postsBeforeSteady = counts.posts;
    if (CFG.steady > 0) {
      await page.evaluate(pageSteady, { sdk, count: CFG.steady, perTick: 10, tickMs: 20, event: EVENT });
      tracked += CFG.steady;
      await caughtUp('the steady stream');
    }
    const steadyPosts = counts.posts - postsBeforeSteady;
    preflights.steady = await preflightsAt() - preflights.warmup - preflights.rounds;
    heapByPhase.steady = (await memoryUsage(cdp)).usedSize;

    // Timed deliveries: a burst, nothing else called (each SDK's defaults decide when
    // to send), and the time from the last track() call until the collector has all.
    const drainMs = [];
    const postsBeforeDrains = counts.posts;
    for (let d = 0; d < CFG.drains; d++) {
      const { lastCallAt } = await round(CFG.drainEvents, 1000 + d, false);
      const w = await waitStored(collector, sdk, expected(), { interval: 5 });
      drainMs.push(w.at === null ? null : w.at - lastCallAt);
      noteMissing(w, `burst ${d}`);
      await page.evaluate(async () => {
        await window.benchSettle();
        delete window.benchSettle; // its Promises must not stay reachable for the heap figure
      });
    }

    const drainPosts = counts.posts - postsBeforeDrains;
    const heapAfterRun = await memoryUsage(cdp);
    const comparableTracked = tracked;
    const comparablePosts = counts.posts;
    await caughtUp('the run');
    const statsComparable = await statsOf(collector);

    // Where track()'s time goes: a CPU profile of one more round's calls (untimed).
    const profile = await profileRound(cdp, page, sdk);
    tracked += CFG.calls;

    // segflow-only diagnostics (not in the side-by-side table).
    let diagnostics = null;
    if (sdk === 'segflow') diagnostics = await segflowDiagnostics(page, counts, (n) => { tracked += n; });

    // Everything tracked must end up stored: wait for stragglers, then count.
    const final = await waitStored(collector, sdk, baseStored + tracked, { timeout: 20_000, interval: 100 });
    const statsEnd = await statsOf(collector);
    const stored = storedFor(statsEnd, sdk) - baseStored;
    const result = {
      sdk,
      readyMsInRun: ready.readyMs,
      trackUs: { median: median(perRoundUs), p95: quantile(perRoundUs, 0.95), min: Math.min(...perRoundUs), max: Math.max(...perRoundUs), perRound: perRoundUs },
      eventsTracked: tracked,
      eventsStored: stored,
      eventsLost: tracked - stored,
      duplicatesAtCollector: statsEnd.duplicates - statsStart.duplicates,
      rejectedAtCollector: diffRejected(statsStart, statsEnd),
      requests: {
        events: comparableTracked,
        posts: comparablePosts,
        postsAtCollector: statsComparable.requests - statsStart.requests,
        preflightsAtCollector: statsComparable.preflights - statsStart.preflights,
        optionsSeenByPage: counts.options,
        per1000: (comparablePosts * 1000) / comparableTracked,
        preflightsPer1000: ((statsComparable.preflights - statsStart.preflights) * 1000) / comparableTracked,
        preflightsByPhase: { ...preflights, drains: statsComparable.preflights - statsStart.preflights - preflights.warmup - preflights.rounds - preflights.steady },
        failed: counts.failed.length,
        failedSample: counts.failed.slice(0, 10),
        rounds: { events: CFG.rounds * CFG.calls, posts: roundPosts, per1000: (roundPosts * 1000) / (CFG.rounds * CFG.calls) },
        steady: CFG.steady ? { events: CFG.steady, posts: steadyPosts, per1000: (steadyPosts * 1000) / CFG.steady } : null,
      },
      drainMs: { median: drainMs.some((x) => x === null) ? null : median(drainMs), all: drainMs, events: CFG.drainEvents, bursts: CFG.drains, posts: drainPosts },
      heap: { atReady: heapAtReady, afterRun: heapAfterRun, usedAfterPhase: { ...heapByPhase, bursts: heapAfterRun.usedSize } },
      trackProfile: profile,
      diagnostics,
      pageLog: page.logs.slice(-20),
      allStored: final.at !== null,
    };
    return result;
  } finally {
    await context.close();
  }
}

/**
 * A sampling CPU profile of one round of track() calls (the synchronous loop only;
 * the calls settle afterwards): the functions with the most self time, as shares of
 * the sampled time. Diagnostic; profiling slows the calls down.
 */
async function profileRound(cdp, page, sdk) {
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
  await cdp.send('Profiler.start');
  await page.evaluate(pageRound, { sdk, calls: CFG.calls, round: 2000, event: EVENT, settle: false, timeoutMs: SETTLE_TIMEOUT_MS });
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.send('Profiler.disable');
  await page.evaluate(async () => {
    await window.benchSettle();
    delete window.benchSettle;
  });
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const { callFrame } = nodes.get(id);
    if (callFrame.functionName === '(idle)') return;
    const dt = profile.timeDeltas[i] ?? 0;
    const file = callFrame.url ? callFrame.url.split('/').pop().split('?')[0] : '';
    const name = `${callFrame.functionName || '(anonymous)'}${file ? ` (${file})` : ''}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([fn, t]) => ({ fn, share: t / total }));
  return { sampledMs: total / 1000, top };
}

/** segflow only: its cost without persisting, what persisting alone costs, sparse streams. */
async function segflowDiagnostics(page, counts, addTracked) {
  const rounds = Math.min(CFG.rounds, 10);
  const calls = CFG.calls;
  const noPersistUs = await page.evaluate(async ({ rounds, calls, event }) => {
    const setItem = Storage.prototype.setItem;
    Storage.prototype.setItem = function () {};
    const out = [];
    try {
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) window.segflow.track(event, { i, round: r, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
        out.push(((performance.now() - t0) * 1000) / calls);
        await window.segflow.flush();
      }
    } finally {
      Storage.prototype.setItem = setItem;
    }
    return out;
  }, { rounds, calls, event: EVENT });
  addTracked(rounds * calls);
  // The length of one stored event line (what one track() persists), for the baseline.
  const eventChars = await page.evaluate(async ({ event }) => {
    for (let i = 0; i < 50; i++) window.segflow.track(event, { i, round: -100, plan: 'pro', amount: 42.5, tags: ['a', 'b'] });
    await new Promise((r) => setTimeout(r, 0)); // stored at the end of the task that queued them
    const lines = Object.keys(localStorage).filter((k) => /:q:[^:]+:\d+$/.test(k))
      .flatMap((k) => localStorage.getItem(k).split('\n'));
    await window.segflow.flush();
    return lines.length ? Math.round(lines.reduce((s, l) => s + l.length, 0) / lines.length) : 0;
  }, { event: EVENT });
  addTracked(50);
  const setItemUs = await page.evaluate(({ rounds, calls, chars }) => {
    const value = 'x'.repeat(chars);
    const out = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) localStorage.setItem(`bench:baseline:${i}`, value + i);
      out.push(((performance.now() - t0) * 1000) / calls);
      for (let i = 0; i < calls; i++) localStorage.removeItem(`bench:baseline:${i}`);
    }
    return out;
  }, { rounds, calls, chars: eventChars || 300 });
  const sparseCount = 60;
  const before = counts.posts;
  await page.evaluate(async ({ count, event }) => {
    for (let i = 0; i < count; i++) {
      window.segflow.track(event, { i, sparse: true });
      await new Promise((r) => setTimeout(r, 50));
    }
    await window.segflow.flush();
  }, { count: sparseCount, event: EVENT });
  addTracked(sparseCount);
  return {
    noPersistMedianUs: median(noPersistUs),
    setItemMedianUs: median(setItemUs),
    setItemValueChars: eventChars || 300,
    sparse: { events: sparseCount, everyMs: 50, posts: counts.posts - before, per1000: ((counts.posts - before) * 1000) / sparseCount },
  };
}

// --- main --------------------------------------------------------------------------

async function main() {
  if (!existsSync(join(PKG_DIR, 'segflow.js'))) throw new Error(`no package in ${PKG_DIR} (bash scripts/build-pkg.sh)`);
  checkPagesIdentical();
  const digest = await snapshotPkg();
  const bundle = await bundleAnalyticsNext();
  const collector = await startCollector({
    writeKeys: SDKS.map((sdk) => `${WRITE_KEYS[sdk]}=${sdk}`),
    statics: [`/=${PAGES_DIR}`, `/pkg=${PKG_SNAPSHOT}`, `/analytics-next=${BUNDLE_DIR}`],
  });
  // Same server, two origins: the pages (and the SDK files) from localhost, the API on
  // 127.0.0.1, as a site talks to api.segment.io. Both resolve to the loopback.
  const origins = { page: `http://localhost:${collector.port}`, api: `http://127.0.0.1:${collector.port}` };
  const violations = [];
  const browser = await launchBrowser();
  try {
    const machine = machineInfo(browser.version());
    const started = Date.now();

    // Cold loads, alternated (ABAB..., then BABA... so neither always goes first).
    const loads = { segflow: [], 'analytics-next': [] };
    for (let i = 0; i < CFG.loads; i++) {
      const order = i % 2 === 0 ? SDKS : [...SDKS].reverse();
      for (const sdk of order) loads[sdk].push(await coldLoad(browser, origins, sdk, violations));
    }

    const runs = {};
    for (const sdk of SDKS) {
      process.stderr.write(`bench: ${sdk} run...\n`);
      runs[sdk] = await runSdk(browser, collector, origins, sdk, violations);
    }

    machine.loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
    const results = {
      machine,
      config: { ...CFG, event: EVENT, origins, quick: opts.quick, durationS: (Date.now() - started) / 1000 },
      analyticsNextBundle: bundle,
      sdks: Object.fromEntries(SDKS.map((sdk) => [sdk, {
        load: {
          gzBytes: median(loads[sdk].map((l) => l.gz)),
          rawBytes: median(loads[sdk].map((l) => l.raw)),
          readyMs: median(loads[sdk].map((l) => l.readyMs)),
          readyMsAll: loads[sdk].map((l) => l.readyMs),
          gzBytesAll: loads[sdk].map((l) => l.gz),
          files: loads[sdk][0].files,
        },
        ...runs[sdk],
      }])),
      pkg: { sha256: digest, files: listFiles(PKG_SNAPSHOT) },
      violations,
    };
    const { tables, text } = renderConsoleTables(results);
    console.log(text);
    if (opts.json) console.log(JSON.stringify(results));
    if (violations.length) {
      console.error(`FAIL: requests outside ${origins.page} and ${origins.api}:\n  ${violations.slice(0, 20).join('\n  ')}`);
      process.exitCode = 1;
      return;
    }
    if (runs.segflow.eventsLost !== 0) {
      console.error(`FAIL: segflow lost ${runs.segflow.eventsLost} events`);
      process.exitCode = 1;
    }
    if (WRITE && !process.exitCode) {
      writeFileSync(opts.out, renderMarkdown(results, tables));
      console.log(`\nwrote ${relative(process.cwd(), opts.out) || opts.out}`);
    }
  } finally {
    await browser.close();
    await collector.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
