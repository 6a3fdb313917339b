// The npm package as users get it: packed from pkg/ (`npm pack`, so package.json's
// `files` decides what ships), installed into a temporary app's node_modules
// (`npm install --offline <tarball>`), and built with Vite and with webpack 5; plus a
// plain page importing /pkg/segflow.js with no bundler. Each build is served by a
// collector and loaded in Chromium, where the app (tests/bundlers/app) initialises
// segflow, identifies a user, tracks an event, then loads a one-step modal flow and
// starts it. The tests check the events at the collector, the modal in segflow's
// shadow root, that every .wasm file of pkg/ was fetched (compared by content, so
// the bundlers' hashed names do not matter) and emitted into the build, and that
// the page logged no error and asked nothing of any host but 127.0.0.1.
//
// SEGFLOW_KEEP_BUNDLES=1 keeps the temporary directory (tarball, app, build outputs)
// for a look afterwards; SEGFLOW_PKG_DIR (harness.mjs) tests another build of pkg/.
//
// Nothing here names the package's files: the .wasm and .js files are listed from
// pkg/ when the tests run, so the same tests hold for one wasm module or several
// loaded on demand.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { build as viteBuild } from 'vite';
import webpack from 'webpack';

import { shown, ui } from './flows-helpers.mjs';
import { PKG_DIR, ROOT, newContext, openPage, startCollector, useBrowser } from './harness.mjs';

const run = promisify(execFile);
const APP_DIR = join(ROOT, 'tests/bundlers/app');
const PLAIN_DIR = join(ROOT, 'tests/bundlers/plain');
const WEBPACK_HTML = join(ROOT, 'tests/bundlers/webpack/index.html');
const NPM_FLAGS = ['--offline', '--no-audit', '--no-fund', '--no-update-notifier', '--ignore-scripts'];

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Every file under `dir`, as paths relative to it with `/` separators. */
async function listFiles(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)).split(sep).join('/'))
    .sort();
}

/** The .wasm files under `dir`: [{ file, sha }] (sha256 of the bytes). */
async function wasmFiles(dir) {
  const files = (await listFiles(dir)).filter((f) => f.endsWith('.wasm'));
  return Promise.all(files.map(async (file) => ({ file, sha: sha256(await readFile(join(dir, file))) })));
}

describe('the npm package in bundlers and in a plain page', () => {
  const env = useBrowser();
  let work; // temporary root: tarball, app copy with node_modules/segflow, build outputs
  let app; // the app copy the bundlers build
  let packed; // paths in the tarball, as `npm pack --json` lists them
  let pkgWasm; // pkg/'s .wasm files

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'segflow-bundlers-'));
    pkgWasm = await wasmFiles(PKG_DIR);
    assert.ok(pkgWasm.length >= 1, `pkg/ has no .wasm file: ${PKG_DIR}`);

    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work, ...NPM_FLAGS, PKG_DIR], { cwd: work });
    const [info] = JSON.parse(stdout);
    packed = info.files.map((f) => f.path);
    app = join(work, 'app');
    await cp(APP_DIR, app, { recursive: true });
    await run('npm', ['install', ...NPM_FLAGS, join(work, info.filename)], { cwd: app });
  });
  after(() => work && !process.env.SEGFLOW_KEEP_BUNDLES && rm(work, { recursive: true, force: true }));

  it('the packed tarball ships every JS and wasm file of pkg/, the types and an entry', async () => {
    const needed = (await listFiles(PKG_DIR)).filter((f) => /\.(m?js|wasm)$/.test(f));
    const missing = needed.filter((f) => !packed.includes(f));
    assert.deepEqual(missing, [], `pkg/package.json "files" leaves these out of the npm package: ${missing.join(', ')}`);
    const manifest = JSON.parse(await readFile(join(app, 'node_modules/segflow/package.json'), 'utf8'));
    assert.equal(manifest.name, 'segflow');
    assert.ok(manifest.types && packed.includes(manifest.types.replace(/^\.\//, '')), `types ${manifest.types} is shipped`);
    const entries = [manifest.main, manifest.module, typeof manifest.exports === 'string' ? manifest.exports : manifest.exports?.['.']]
      .flatMap((e) => (e && typeof e === 'object' ? Object.values(e) : [e]))
      .filter((e) => typeof e === 'string');
    assert.ok(entries.length > 0, 'package.json names an entry (main, module or exports)');
    for (const entry of entries) assert.ok(packed.includes(entry.replace(/^\.\//, '')), `entry ${entry} is shipped`);
  });

  it('works when built with Vite', { timeout: 40_000 }, async (t) => {
    const outDir = join(work, 'vite-dist');
    const warnings = [];
    const logger = {
      hasWarned: false,
      info() {},
      warn(msg) { warnings.push(msg); },
      warnOnce(msg) { warnings.push(msg); },
      error(msg) { warnings.push(`error: ${msg}`); },
      clearScreen() {},
      hasErrorLogged: () => false,
    };
    await viteBuild({
      root: app,
      configFile: false,
      base: '/',
      logLevel: 'warn',
      customLogger: logger,
      cacheDir: join(work, 'vite-cache'),
      build: { outDir, emptyOutDir: true, reportCompressedSize: false },
    });
    for (const w of warnings) t.diagnostic(`vite: ${w}`);
    await exercise(t, { build: 'vite', statics: [`/=${outDir}`], outDir });
  });

  it('works when built with webpack 5', { timeout: 40_000 }, async (t) => {
    const outDir = join(work, 'webpack-dist');
    const compiler = webpack({
      mode: 'production',
      context: app,
      entry: './main.js',
      devtool: false,
      output: {
        path: outDir,
        filename: 'main.js',
        chunkFilename: 'chunks/[name].[contenthash].js',
        assetModuleFilename: 'assets/[name].[contenthash][ext]',
        publicPath: 'auto',
        clean: true,
      },
      // The wasm is well over webpack's 244 KB advice; that is not what is tested.
      performance: { hints: false },
      infrastructureLogging: { level: 'error' },
    });
    const stats = await new Promise((resolve, reject) => {
      compiler.run((err, result) => compiler.close(() => (err ? reject(err) : resolve(result))));
    });
    const info = stats.toJson({ all: false, errors: true, warnings: true });
    for (const w of info.warnings) t.diagnostic(`webpack: ${w.message}`);
    assert.deepEqual(info.errors.map((e) => e.message), [], 'webpack build errors');
    await writeFile(join(outDir, 'index.html'), await readFile(WEBPACK_HTML));
    await exercise(t, { build: 'webpack', statics: [`/=${outDir}`], outDir });
  });

  it('works in a plain page importing /pkg/segflow.js with no bundler', { timeout: 30_000 }, async (t) => {
    await exercise(t, { build: 'plain', statics: [`/=${PLAIN_DIR}`, `/app=${APP_DIR}`, `/pkg=${PKG_DIR}`] });
  });

  /**
   * Serves one build from a fresh collector, loads it in a fresh browser context and
   * checks everything the file's header lists. `outDir`: the build output (whose
   * .wasm files must be pkg/'s).
   */
  async function exercise(t, { build, statics, outDir }) {
    const writeKey = `bundlers-${build}`;
    const userId = `user-${build}`;
    const collector = await startCollector({ writeKeys: [writeKey], statics });
    t.after(() => collector.stop());
    const context = await newContext(env.browser, t);

    // Every request the page makes; anything not on 127.0.0.1 is recorded and refused.
    const requests = [];
    const failed = [];
    const badStatus = [];
    const wasmLoads = [];
    await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort('blockedbyclient'));
    context.on('request', (req) => requests.push(req.url()));
    context.on('requestfailed', (req) => failed.push(`${req.url()}: ${req.failure()?.errorText}`));
    context.on('response', (res) => {
      if (res.status() >= 400) badStatus.push(`${res.status()} ${res.url()}`);
      const type = res.headers()['content-type'] || '';
      if (new URL(res.url()).pathname.endsWith('.wasm') || type.includes('application/wasm')) {
        wasmLoads.push(res.body().then((b) => ({ url: res.url(), sha: sha256(b), type }), (e) => ({ url: res.url(), error: String(e) })));
      }
    });

    const query = new URLSearchParams({ writeKey, user: userId, build });
    const page = await openPage(context, `${collector.url}/?${query}`);

    // (a) identify and track, sent by the app, arrive at the collector.
    const sent = await collector.waitForEvents({ writeKey, userId }, 2);
    assert.deepEqual(sent.map((e) => [e.type, e.event ?? null]).sort(), [['identify', null], ['track', 'App Booted']]);
    const booted = sent.find((e) => e.event === 'App Booted');
    assert.deepEqual(booted.properties, { build });
    assert.equal(booted.context.library.name, 'segflow');
    assert.equal(sent.find((e) => e.type === 'identify').traits.plan, 'trial');
    const loadedBeforeContent = (await Promise.all(wasmLoads)).length;
    assert.ok(loadedBeforeContent >= 1, 'the analytics wasm was fetched before any flow content');

    // (b) flow content, then start: the modal shows and "Flow Started" arrives.
    await page.click('#tour');
    await page.waitForFunction(() => window.tourDone || window.tourError, null, { timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.tourError ?? null), null, 'loadContent() and start() resolved');
    const modal = await shown(page, 'hello');
    assert.deepEqual(modal.classes, ['step', 'modal']);
    assert.equal(modal.ariaModal, 'true');
    assert.equal(modal.title, 'Welcome to the bundled app');
    assert.equal(modal.role, 'dialog');
    assert.deepEqual(modal.buttons.filter((b) => b === 'Got it'), ['Got it']);
    assert.equal((await ui(page)).stepId, 'hello');
    assert.deepEqual(await page.evaluate(() => window.appLog), [['flowStarted', 'welcome', 'program']]);
    const [started] = await collector.waitForEvents({ writeKey, event: 'Flow Started' }, 1);
    assert.equal(started.userId, userId);
    assert.equal(started.properties.flow_id, 'welcome');
    assert.equal(started.properties.flow_name, 'Welcome tour');
    assert.equal(started.properties.flow_start_reason, 'program');

    // (c) every wasm module of the package was fetched (by content), and only those;
    // the build emitted each of them.
    const loads = await Promise.all(wasmLoads);
    t.diagnostic(`${build} fetched ${loads.map((l) => new URL(l.url).pathname).join(', ')}`);
    assert.deepEqual(loads.filter((l) => l.error), [], 'wasm response bodies readable');
    const byContent = (list) => [...new Set(list.map((w) => w.sha))].sort();
    const names = (shas) => shas.map((sha) => pkgWasm.find((w) => w.sha === sha)?.file ?? `unknown ${sha.slice(0, 12)}`);
    assert.deepEqual(names(byContent(loads)), names(byContent(pkgWasm)),
      `the page fetched exactly pkg/'s wasm files; fetched: ${loads.map((l) => l.url).join(', ')}`);
    for (const l of loads) assert.match(l.type, /application\/wasm/, `${l.url} served as application/wasm`);
    if (outDir) {
      const emitted = await wasmFiles(outDir);
      const missing = pkgWasm.filter((w) => !emitted.some((e) => e.sha === w.sha)).map((w) => w.file);
      assert.deepEqual(missing, [], `${build} output lacks these wasm files of pkg/ (has ${emitted.map((e) => e.file).join(', ') || 'none'})`);
    }

    // (d) no foreign host, no failed or refused requests, no errors in the page.
    const foreign = requests.filter((u) => {
      const url = new URL(u);
      return !['data:', 'blob:'].includes(url.protocol) && url.hostname !== '127.0.0.1';
    });
    assert.deepEqual(foreign, [], 'requests to hosts other than 127.0.0.1');
    assert.deepEqual(failed, [], 'failed requests');
    assert.deepEqual(badStatus, [], 'requests answered with an error status');
    for (const w of page.logs.filter((l) => l.startsWith('warning:'))) t.diagnostic(`${build} page ${w}`);
    assert.deepEqual(page.logs.filter((l) => !l.startsWith('warning:')), [], 'page errors and console errors');
  }
});
