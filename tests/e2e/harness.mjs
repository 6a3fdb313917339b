// Shared helpers of the end-to-end tests (no tests in here).
//
// Everything is built beforehand (scripts/test.sh does it; by hand:
// `cargo build --release -p segflow-collector && bash scripts/build-pkg.sh`); this
// file only starts things: a segflow-collector per test on a free port with its own
// temporary database, write keys and fault flags, serving the test pages and pkg/
// (so pages are same-origin with the API), optionally a tiny Node server for
// cross-origin pages, and headless Chromium from /usr/bin/chromium. Everything
// started is stopped at the end, also when a test fails or the process exits.

import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// SEGFLOW_PKG_DIR points the tests at another build of the package (default pkg/).
export const PKG_DIR = process.env.SEGFLOW_PKG_DIR ? resolve(process.env.SEGFLOW_PKG_DIR) : join(ROOT, 'pkg');
export const PAGES_DIR = join(ROOT, 'tests/e2e/pages');
export const WWW_DIR = join(ROOT, 'www');
export const COLLECTOR_BIN =
  process.env.SEGFLOW_COLLECTOR_BIN || join(resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target'), 'release/segflow-collector');
export const CHROMIUM = process.env.SEGFLOW_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** Fails early, with the command to run, when the build products are missing. */
export function checkBuilt() {
  const missing = [];
  if (!['segflow.js', 'segflow_core_bg.wasm', 'segflow_content_bg.wasm'].every((f) => existsSync(join(PKG_DIR, f)))) {
    missing.push('pkg/ (bash scripts/build-pkg.sh)');
  }
  if (!existsSync(COLLECTOR_BIN)) missing.push(`${COLLECTOR_BIN} (cargo build --release -p segflow-collector)`);
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (bash scripts/setup.sh --test)`);
  if (missing.length) throw new Error(`end-to-end tests need: ${missing.join(', ')}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns a truthy value (returned) or `timeout` ms pass (throws
 * with `message` and the last value seen).
 */
export async function waitFor(fn, { timeout = 10_000, interval = 100, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message}; last: ${JSON.stringify(last)?.slice(0, 500)}`);
    }
    await sleep(interval);
  }
}

// Children still running when the process exits are killed, whatever happened.
const children = new Set();
const tempDirs = new Set();
function killChildren() {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killChildren();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/**
 * Starts a segflow-collector on a free loopback port with a fresh database.
 *
 * options: writeKeys (['KEY' | 'KEY=ENV'], none = open mode), failRate,
 * failStatus (status of the failRate failures, 500..599; default 500),
 * failRetryAfter (seconds: the failRate failures carry `Retry-After`),
 * rateLimitEvery, latencyMs, dropRate, seed, hangNth (a request number or an array
 * of them, 1-based: those ingestion requests are never answered and store nothing),
 * args (extra CLI args), statics (['PREFIX=DIR']; default: tests/e2e/pages at /,
 * pkg/ at /pkg and www/ at /www).
 */
export async function startCollector(options = {}) {
  const {
    writeKeys = [], failRate, failStatus, failRetryAfter, rateLimitEvery, latencyMs, dropRate, seed, hangNth,
    args = [],
  } = options;
  const statics = options.statics ?? [`/=${PAGES_DIR}`, `/pkg=${PKG_DIR}`, `/www=${WWW_DIR}`];
  const dir = await mkdtemp(join(tmpdir(), 'segflow-e2e-'));
  tempDirs.add(dir);
  const argv = ['--port', '0', '--db', join(dir, 'events.db')];
  for (const mount of statics) argv.push('--static', mount);
  for (const key of writeKeys) argv.push('--write-key', key);
  if (failRate !== undefined) argv.push('--fail-rate', String(failRate));
  if (failStatus !== undefined) argv.push('--fail-status', String(failStatus));
  if (failRetryAfter !== undefined) argv.push('--fail-retry-after', String(failRetryAfter));
  if (rateLimitEvery !== undefined) argv.push('--rate-limit-every', String(rateLimitEvery));
  if (latencyMs !== undefined) argv.push('--latency-ms', String(latencyMs));
  if (dropRate !== undefined) argv.push('--drop-rate', String(dropRate));
  if (seed !== undefined) argv.push('--seed', String(seed));
  for (const n of hangNth === undefined ? [] : [].concat(hangNth)) argv.push('--hang-nth', String(n));
  argv.push(...args);

  const child = spawn(COLLECTOR_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise((r) => child.once('exit', (code, signal) => {
    children.delete(child);
    r({ code, signal });
  }));
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector did not start in 10 s:\n${output}`)), 10_000);
    const onData = (chunk) => {
      output += chunk;
      const m = /segflow-collector listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) { clearTimeout(timer); resolveUrl(m[1]); }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (c) => { output += c; });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`collector exited (${code ?? signal}) before listening:\n${output}`));
    });
  });

  let stopped = false;
  const collector = {
    url,
    port: Number(new URL(url).port),
    apiHost: `${url}/v1`,
    dir,
    output: () => output,
    /** GET /api/events with the given filters (limit defaults to 10,000). */
    async events(query = {}) {
      const q = new URLSearchParams({ limit: '10000', ...query });
      const res = await fetch(`${url}/api/events?${q}`);
      if (!res.ok) throw new Error(`/api/events answered ${res.status}: ${await res.text()}`);
      return (await res.json()).events;
    },
    /** GET /api/stats. */
    async stats() {
      const res = await fetch(`${url}/api/stats`);
      if (!res.ok) throw new Error(`/api/stats answered ${res.status}`);
      return res.json();
    },
    /**
     * GET /api/duplicates (query: { writeKey } or none): the messageIds that arrived
     * again after being stored, as [{ writeKey, messageId, count }] in the order of
     * their first repeat.
     */
    async duplicates(query = {}) {
      const q = new URLSearchParams(query);
      const res = await fetch(`${url}/api/duplicates?${q}`);
      if (!res.ok) throw new Error(`/api/duplicates answered ${res.status}: ${await res.text()}`);
      return (await res.json()).duplicates;
    },
    /** Polls /api/events until at least `count` events match, then returns them. */
    async waitForEvents(query, count, { timeout = 10_000 } = {}) {
      let events = [];
      await waitFor(async () => {
        events = await collector.events(query);
        return events.length >= count;
      }, { timeout, interval: 100, message: `${count} events matching ${JSON.stringify(query)}` })
        .catch((e) => { e.message += ` (have ${events.length})`; throw e; });
      return events;
    },
    /** Stops the collector (SIGTERM, SIGKILL after 5 s) and deletes its database. */
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
  return collector;
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json',
};

/**
 * A tiny static server for cross-origin pages: tests/e2e/pages at / and pkg/ at /pkg,
 * on its own port (so a page on it talks to the collector cross-origin, as a real
 * site talks to api.segment.io).
 */
export async function startPageServer() {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const [base, rel] = path.startsWith('/pkg/') ? [PKG_DIR, path.slice(5)] : [PAGES_DIR, path.slice(1) || 'index.html'];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base + sep)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort() {
  const srv = createNetServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Headless Debian Chromium; never downloads a browser. */
export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Registers suite-level before/after hooks that check the build, launch one browser
 * for the file and close it at the end. Returns `{ browser }` (set once `before` ran).
 */
export function useBrowser() {
  const env = { browser: null };
  before(async () => {
    checkBuilt();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
  });
  return env;
}

/**
 * A fresh browser context (its own localStorage and cookies) with the locale and time
 * zone of the analytics-next fixtures; closed by `t.after` when `t` is given.
 */
export async function newContext(browser, t, options = {}) {
  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', ...options });
  if (t) t.after(() => context.close().catch(() => {}));
  return context;
}

/**
 * Opens `url` in a new page of `context` and waits for the test page's
 * `window.ready` (segflow loaded, not initialised). Page errors and console errors
 * are kept in `page.logs` for failure messages.
 */
export async function openPage(context, url) {
  const page = await context.newPage();
  page.logs = [];
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') page.logs.push(`${m.type()}: ${m.text()}`); });
  await gotoReady(page, url);
  return page;
}

/** Navigates `page` to `url` and waits for segflow to be loaded there. */
export async function gotoReady(page, url) {
  await page.goto(url);
  await waitReady(page);
}

/** Waits for the test page in `page` to have loaded segflow (throws if it failed to). */
export async function waitReady(page) {
  await page.waitForFunction(() => window.ready || window.loadError, null, { timeout: 15_000 });
  const err = await page.evaluate(() => window.loadError);
  if (err) {
    throw new Error(`segflow failed to load in the page: ${err}`);
  }
}

/**
 * Calls `segflow.init(options)` (with `pageTracking: false` unless given) in the page and records the `delivered`, `dropped`
 * and `error` events in `window.segflowEvents`. `options.urlFilter` cannot cross
 * into the page; pass `urlFilterSource` (a function's source text) instead.
 */
export async function initSegflow(page, options) {
  await page.evaluate(({ options, filter }) => {
    // Automatic page_viewed events are switched off unless a test asks for them, so
    // event counts below are exactly what each test sends.
    const opts = { pageTracking: false, ...options };
    // eslint-disable-next-line no-eval
    if (filter) opts.urlFilter = (0, eval)(`(${filter})`);
    window.segflow.init(opts);
    window.segflowEvents = { delivered: [], dropped: [], error: [] };
    for (const name of ['delivered', 'dropped', 'error']) {
      window.segflow.on(name, (e) => {
        window.segflowEvents[name].push(name === 'error'
          ? { code: e.code, reason: e.reason, count: e.count, message: e.message }
          : e);
      });
    }
  }, { options, filter: options.urlFilterSource });
}

/** The `delivered` / `dropped` / `error` events the page saw so far. */
export function segflowEvents(page) {
  return page.evaluate(() => window.segflowEvents);
}

/**
 * Calls `segflow.flush()` in the page until it resolves with `{pending: 0}` (every
 * event queued before it was delivered or dropped), at most `timeout` ms in all.
 * (`flush()` itself resolves early, with the number still pending, when events must
 * wait for a retry.) Returns how many times it was called.
 */
export async function flush(page, { timeout = 30_000 } = {}) {
  const rounds = await page.evaluate(async (timeout) => {
    const end = Date.now() + timeout;
    for (let round = 1; ; round++) {
      const left = end - Date.now();
      if (left <= 0) return -1;
      const result = await Promise.race([
        window.segflow.flush(),
        new Promise((r) => setTimeout(() => r(null), left)),
      ]);
      if (result === null) return -1;
      if (result.pending === 0) return round;
      await new Promise((r) => setTimeout(r, 50));
    }
  }, timeout);
  if (rounds < 0) {
    throw new Error(`segflow.flush() did not settle with nothing pending within ${timeout} ms${page.logs?.length ? `; page log:\n${page.logs.slice(-20).join('\n')}` : ''}`);
  }
  return rounds;
}

/** Every localStorage entry of the page's origin, as an object. */
export function localStorageOf(page) {
  return page.evaluate(() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])));
}

/** The keys of segflow's stored queue (`segflow:v1:...:q:<tab>:<seq>`) in the page's origin. */
export async function queuedKeys(page) {
  const ls = await localStorageOf(page);
  return Object.keys(ls).filter((k) => /^segflow:v1:.*:q:[^:]+:\d+$/.test(k));
}

/**
 * The message ids of the events in segflow's stored queue. Events are stored in
 * chunks (one localStorage write per task): one `messageId<TAB>json` line each.
 */
export async function queuedEvents(page) {
  const ls = await localStorageOf(page);
  return Object.keys(ls)
    .filter((k) => /^segflow:v1:.*:q:[^:]+:\d+$/.test(k))
    .flatMap((k) => ls[k].split('\n').map((line) => line.split('\t')[0]));
}

/** Runs `track(event, {i})` for i in [from, to) in the page. */
export function trackMany(page, event, from, to, extra = {}) {
  return page.evaluate(({ event, from, to, extra }) => {
    for (let i = from; i < to; i++) window.segflow.track(event, { i, ...extra });
  }, { event, from, to, extra });
}

/**
 * Calls `segflow[method](...args)` in the page and returns the thrown error's
 * `{code, message}`, or null when it did not throw.
 */
export function thrownBy(page, method, ...args) {
  return page.evaluate(({ method, args }) => {
    try {
      window.segflow[method](...args);
      return null;
    } catch (e) {
      return { code: e.code, message: e.message, isError: e instanceof Error };
    }
  }, { method, args });
}

/** Asserts that the values of `key` in `events` are exactly 0..n-1, each once. */
export function indexesOf(events, key = 'i') {
  return events.map((e) => e.properties?.[key]).sort((a, b) => a - b);
}
