// Tables and docs/benchmarks.md of bench/compare.mjs's results (formatting only: every
// number comes from the results object of one run).

const en = (n, digits) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const kib = (b) => `${en(b / 1024, 1)} KiB`;
const mib = (b) => `${en(b / (1024 * 1024), 2)} MiB`;
const ms = (x) => (x === null || x === undefined ? 'n/a' : `${en(x, x < 100 ? 1 : 0)} ms`);
const us = (x) => `${en(x, 1)} µs`; // a round of 500 calls resolves 0.2 µs per call
const int = (n) => n.toLocaleString('en-US');
const per1000 = (x) => en(x, x < 10 ? 2 : 1);

/** segflow ÷ analytics-next, with two significant digits. */
function ratio(a, b) {
  if (a === null || b === null || a === undefined || b === undefined) return 'n/a';
  if (b === 0) return a === 0 ? '— (both 0)' : '∞';
  const r = a / b;
  if (r === 0) return '0×';
  return `${r >= 1 ? en(r, r >= 10 ? 0 : 2) : Number(r.toPrecision(2)).toString()}×`;
}

/** For costs: the ratio plus "N× cheaper" (or "N× dearer"). */
function costRatio(a, b) {
  const base = ratio(a, b);
  if (!a || !b) return base;
  const f = b / a;
  return f >= 1 ? `${base} (${en(f, f >= 10 ? 0 : 1)}× cheaper)` : `${base} (${en(1 / f, 1)}× dearer)`;
}

const withWasm = (h) => h.usedSize + h.wasmMemoryBytes;

/** The side-by-side rows: [metric, segflow, analytics-next, segflow ÷ analytics-next]. */
export function mainRows(results) {
  const s = results.sdks.segflow;
  const a = results.sdks['analytics-next'];
  const lost = (x) => `${x.eventsLost.toLocaleString('en-US')} of ${x.eventsTracked.toLocaleString('en-US')}`;
  const drain = results.config.drainEvents.toLocaleString('en-US');
  return [
    ['1. bytes loaded until ready (gzip -9)', kib(s.load.gzBytes), kib(a.load.gzBytes), ratio(s.load.gzBytes, a.load.gzBytes)],
    ['2. navigation start → ready', ms(s.load.readyMs), ms(a.load.readyMs), ratio(s.load.readyMs, a.load.readyMs)],
    ['3. track() median, µs per call', us(s.trackUs.median), us(a.trackUs.median), costRatio(s.trackUs.median, a.trackUs.median)],
    ['3. track() p95, µs per call', us(s.trackUs.p95), us(a.trackUs.p95), costRatio(s.trackUs.p95, a.trackUs.p95)],
    ['4. requests per 1,000 events', per1000(s.requests.per1000), per1000(a.requests.per1000), ratio(s.requests.per1000, a.requests.per1000)],
    ['4. CORS preflights per 1,000 events', per1000(s.requests.preflightsPer1000), per1000(a.requests.preflightsPer1000), ratio(s.requests.preflightsPer1000, a.requests.preflightsPer1000)],
    [`5. last track() → all stored (${drain} events)`, ms(s.drainMs.median), ms(a.drainMs.median), ratio(s.drainMs.median, a.drainMs.median)],
    ['6. events lost (tracked − stored)', lost(s), lost(a), s.eventsLost === 0 && a.eventsLost === 0 ? '— (both 0)' : ratio(s.eventsLost, a.eventsLost)],
    ['7. JS heap used after the run (after GC)', mib(s.heap.afterRun.usedSize), mib(a.heap.afterRun.usedSize), ratio(s.heap.afterRun.usedSize, a.heap.afterRun.usedSize)],
    ['7. JS heap + wasm linear memory after the run', mib(withWasm(s.heap.afterRun)), mib(withWasm(a.heap.afterRun)), ratio(withWasm(s.heap.afterRun), withWasm(a.heap.afterRun))],
  ];
}

/** Secondary rows, per SDK: [metric, segflow, analytics-next]. */
export function detailRows(results) {
  const s = results.sdks.segflow;
  const a = results.sdks['analytics-next'];
  const files = (x) => x.load.files.map((f) => `${f.path.split('/').pop()} ${kib(f.gz)}`).join(', ');
  const backing = (h) => (h.backingStorageSize === null ? 'n/a' : mib(h.backingStorageSize));
  const range = (xs) => `${ms(Math.min(...xs))} – ${ms(Math.max(...xs))}`;
  const phaseHeap = (x) => Object.values(x.heap.usedAfterPhase).map((b) => en(b / (1024 * 1024), 2)).join(' / ') + ' MiB';
  const phases = (x) => {
    const p = x.requests.preflightsByPhase;
    return `${x.requests.preflightsAtCollector}: ${p.warmup}, ${p.rounds}, ${p.steady}, ${p.drains}`;
  };
  const rejected = (x) => {
    const e = Object.entries(x.rejectedAtCollector);
    return e.length ? e.map(([k, v]) => `${k}: ${v}`).join(', ') : 'none';
  };
  const rows = [
    ['files loaded until ready (gzip -9 each)', files(s), files(a)],
    ['bytes loaded until ready, uncompressed', kib(s.load.rawBytes), kib(a.load.rawBytes)],
    [`navigation start → ready, range of ${results.config.loads} cold loads`, range(s.load.readyMsAll), range(a.load.readyMsAll)],
    ['track() min / max of the per-round averages', `${us(s.trackUs.min)} / ${us(s.trackUs.max)}`, `${us(a.trackUs.min)} / ${us(a.trackUs.max)}`],
    [`requests per 1,000 events, timed rounds (bursts of ${results.config.calls})`, per1000(s.requests.rounds.per1000), per1000(a.requests.rounds.per1000)],
    ['requests per 1,000 events, steady 500 events/s', s.requests.steady ? per1000(s.requests.steady.per1000) : 'n/a', a.requests.steady ? per1000(a.requests.steady.per1000) : 'n/a'],
    ['POSTs seen by the page / counted by the collector', `${int(s.requests.posts)} / ${int(s.requests.postsAtCollector)}`, `${int(a.requests.posts)} / ${int(a.requests.postsAtCollector)}`],
    ['CORS preflights (collector count): warm-up, rounds, steady, bursts', phases(s), phases(a)],
    ['requests that failed in the browser (network errors)', int(s.requests.failed), int(a.requests.failed)],
    [`last track() → all stored, each of ${results.config.drains} bursts`, s.drainMs.all.map(ms).join(', '), a.drainMs.all.map(ms).join(', ')],
    ['messages the collector rejected', rejected(s), rejected(a)],
    ['events stored twice (collector duplicates)', String(s.duplicatesAtCollector), String(a.duplicatesAtCollector)],
    ['JS heap used at ready (after GC)', mib(s.heap.atReady.usedSize), mib(a.heap.atReady.usedSize)],
    ['JS heap used after warm-up / rounds / steady / bursts (after GC)', phaseHeap(s), phaseHeap(a)],
    ['wasm linear memory at ready / after the run', `${mib(s.heap.atReady.wasmMemoryBytes)} / ${mib(s.heap.afterRun.wasmMemoryBytes)}`, `${mib(a.heap.atReady.wasmMemoryBytes)} / ${mib(a.heap.afterRun.wasmMemoryBytes)}`],
    ['ArrayBuffer backing stores after the run (V8 count; not the wasm memory)', backing(s.heap.afterRun), backing(a.heap.afterRun)],
  ];
  const prof = (x) => x.trackProfile.top.slice(0, 3).map((t) => `${t.fn} ${Math.round(t.share * 100)}%`).join(', ');
  rows.push(['most self time in a CPU profile of one round of track() calls and the rest of their task', prof(s), prof(a)]);
  const d = s.diagnostics;
  if (d) {
    rows.push(
      ['segflow: track() median without persisting', us(d.noPersistMedianUs), ''],
      [`segflow: localStorage.setItem alone (${d.setItemValueChars}-char value)`, us(d.setItemMedianUs), ''],
      [`segflow: requests per 1,000 events, sparse (1 every ${d.sparse.everyMs} ms)`, per1000(d.sparse.per1000), ''],
    );
  }
  return rows;
}

function boxTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(header, rows) {
  const esc = (c) => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const HEADER = (results) => ['metric', 'segflow', `analytics-next ${results.machine.analyticsNextVersion}`, 'segflow ÷ analytics-next'];

function machineLine(m) {
  return `${m.date.slice(0, 10)}, ${m.nproc} cores (${m.cpu}), Chromium ${m.chromium} headless, Node ${m.node}, `
    + `segflow ${m.segflowVersion} at ${m.gitCommit ? m.gitCommit.slice(0, 12) : 'unknown commit'}${m.gitDirty ? ' (with uncommitted changes)' : ''}, `
    + `analytics-next ${m.analyticsNextVersion}`
    + (m.loadAverageAtStart ? `; load average (1 min) ${m.loadAverageAtStart[0]} at the start, ${m.loadAverageAtEnd[0]} at the end` : '');
}

export function renderConsoleTables(results) {
  const main = mainRows(results);
  const details = detailRows(results);
  const text = [
    '',
    `segflow vs analytics-next: ${machineLine(results.machine)}`,
    '',
    boxTable(HEADER(results), main),
    '',
    boxTable(['detail', 'segflow', 'analytics-next'], details),
  ].join('\n');
  return { tables: { main, details }, text };
}

/** Findings that depend on the run's numbers, stated from them. */
function observations(results) {
  const s = results.sdks.segflow;
  const a = results.sdks['analytics-next'];
  const out = [];
  for (const [name, x] of [['segflow', s], ['analytics-next', a]]) {
    const rej = Object.entries(x.rejectedAtCollector);
    out.push(rej.length
      ? `The collector rejected some of ${name}'s messages: ${rej.map(([k, v]) => `${v} × \`${k}\``).join(', ')}.`
      : `The collector accepted every message ${name} sent (no rejections).`);
    if (x.eventsLost) out.push(`${name} lost ${x.eventsLost} of ${x.eventsTracked} events (still missing 20 s after the run).`);
    if (x.duplicatesAtCollector) out.push(`${name} sent ${x.duplicatesAtCollector} events twice (the collector de-duplicated them by messageId).`);
  }
  if (a.requests.preflightsAtCollector > 0) {
    out.push(`analytics-next ${results.machine.analyticsNextVersion} sends \`Authorization: Basic\` (the write key) with every request, so a cross-origin API needs a CORS preflight. `
      + 'Chromium caches a preflight\'s answer (at most 2 hours; the collector allows 24 h), '
      + `so this run took ${a.requests.preflightsAtCollector} preflight(s) for ${a.requests.postsAtCollector.toLocaleString('en-US')} requests, not one per request`
      + (a.requests.preflightsByPhase.warmup === a.requests.preflightsAtCollector
        ? ', all of them in the warm-up, when the first requests went out together before any answer was cached (how many varies from run to run); '
        : '; ')
      + 'a visit more than 2 hours after the last one pays again.');
  }
  for (const [name, x] of [['segflow', s], ['analytics-next', a]]) {
    if (x.requests.failed) out.push(`${x.requests.failed} of ${name}'s requests failed in the browser (e.g. ${x.requests.failedSample[0]}).`);
  }
  const top = a.trackProfile.top[0];
  if (top) {
    out.push(`In a CPU profile of one round of analytics-next's track() calls, the function with the most self time was \`${top.fn}\` (${Math.round(top.share * 100)}% of the samples).`
      + (/cookie/.test(top.fn)
        ? ' Its event factory and its Segment.io plugin call `user.id()` and `user.anonymousId()` for every event, and each of those reads the id from `document.cookie` and localStorage and writes it back to both (`UniversalStorage.getAndSync` and `getConsistent`, src/core/storage/universalStorage.ts).'
        : ''));
  }
  for (const [name, x] of [['segflow', s], ['analytics-next', a]]) {
    const values = Object.values(x.heap.usedAfterPhase);
    const peak = Math.max(...values);
    const end = x.heap.afterRun.usedSize;
    if (peak > end * 1.25) {
      out.push(`${name}'s JS heap after a forced GC was not steady: ${mib(peak)} at its peak (after the ${Object.keys(x.heap.usedAfterPhase)[values.indexOf(peak)]} phase) against ${mib(end)} at the end (row 7), so row 7 depends on when it is read.`);
    }
  }
  const perBurst = (x) => en(x.drainMs.posts / x.drainMs.bursts, x.drainMs.posts % x.drainMs.bursts ? 1 : 0);
  out.push(`Row 5 depends on the API's answer time: the collector commits every request in its own SQLite transaction (WAL, \`synchronous=FULL\`) before it answers, and Chromium opens at most 6 HTTP/1.1 connections per host. `
    + `A burst of ${a.drainMs.events.toLocaleString('en-US')} events took analytics-next ${perBurst(a)} requests (so as many commits, at most 6 at a time) and segflow ${perBurst(s)} (one in flight at a time). `
    + 'Against Segment\'s API over the internet, each request\'s round trip takes the place of the commit.');
  if (s.requests.preflightsAtCollector === 0) {
    out.push('segflow sends `Content-Type: text/plain` with the write key in the body and no `Authorization` header (a CORS-simple request): no preflight at all.');
  }
  if (s.requests.optionsSeenByPage === 0 && a.requests.optionsSeenByPage === 0 && a.requests.preflightsAtCollector > 0) {
    out.push('Preflights are counted by the collector (`/api/stats` `preflights`): Chromium makes them in its network service, and Playwright\'s `request` events do not show them.');
  }
  return out;
}

/** The results as indented JSON: fractions to 4 decimals, arrays of numbers on one line. */
function rawJson(results) {
  const text = JSON.stringify(results, (_, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v), 2);
  return text.replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+|,\s*null)*)\s*\]/g, (_, inner) => `[${inner.split(/,\s*/).join(', ')}]`);
}

export function renderMarkdown(results, tables) {
  const m = results.machine;
  const c = results.config;
  const total = (x) => x.eventsTracked.toLocaleString('en-US');
  return `# Benchmarks: segflow and analytics-next side by side

Measured by \`make bench\` (\`bash scripts/bench.sh\`, which runs \`bench/compare.mjs\`) on
${machineLine(m)}. One headless Chromium run, both SDKs against the same local collector
(\`segflow-collector\`), ${c.durationS.toFixed(0)} s. This file is written by the benchmark; rerun it rather than
edit the numbers.

${mdTable(HEADER(results), tables.main)}

Ratios are segflow ÷ analytics-next: below 1 means segflow uses less (bytes, time,
requests, memory); for \`track()\`, "N× cheaper" is analytics-next's cost per call over
segflow's.

Times are wall-clock times on a machine other work may share (the load average is in
the first line); load times vary most, so the details give their range.

## Details

${mdTable(['detail', 'segflow', `analytics-next ${m.analyticsNextVersion}`], tables.details)}

## Findings of this run

${observations(results).map((o) => `- ${o}`).join('\n')}

## How to reproduce

\`\`\`sh
make bench                          # = bash scripts/bench.sh
bash scripts/bench.sh --json        # also print the raw JSON
bash scripts/bench.sh --no-write    # print only; leave docs/benchmarks.md alone
bash scripts/bench.sh --quick       # a short smoke run (never written)
\`\`\`

On a fresh clone \`scripts/bench.sh\` first installs what is missing: the npm dev
dependencies (\`npm ci\`: playwright-core, esbuild, terser, @segment/analytics-next), \`pkg/\`
(\`scripts/build-pkg.sh\`), the release collector (\`cargo build --release -p
segflow-collector\`) and Debian's Chromium (\`scripts/setup.sh --test\`). Nothing else is
downloaded; the pages make no request outside the loopback (checked: any request to
an origin other than the page's and the API's fails the run). Options:
\`--rounds N\` (${c.rounds}), \`--calls N\` (${c.calls} calls per round), \`--warmup N\` (${c.warmup}), \`--loads N\`
(${c.loads} cold loads per SDK), \`--drains N\` (${c.drains}), \`--drain-events N\` (${c.drainEvents}), \`--steady N\` (${c.steady}).

## Setup

- **Pages.** \`bench/pages/segflow.html\` and \`bench/pages/analytics-next.html\` have the
  same markup (the benchmark checks it) and differ only in their module script. They
  are served by the collector (\`--static\`) from \`${c.origins.page}\`; the API is
  \`${c.origins.api}/v1\`, another origin, as a site talks to api.segment.io. Each
  SDK runs in its own fresh browser context (own cache and localStorage), one after
  the other, in the same browser.
- **segflow** (\`pkg/\` as built, copied to \`target/bench/pkg/\` when the run starts): \`import load, * as segflow from '/pkg/segflow.js';
  await load(); segflow.init({ writeKey, apiHost, pageTracking: false })\`; ready once
  \`init\` returned. Defaults otherwise: a batch is sent once \`flushAt\` 20 events wait (at
  the end of the task that queued them) or at least every \`flushInterval\` 1 s, to \`POST {apiHost}/batch\`, one request in flight.
- **analytics-next** ${m.analyticsNextVersion} from \`node_modules\`, bundled at bench time by esbuild
  (\`bench/analytics-next-entry.js\`: \`export { AnalyticsBrowser } from
  '@segment/analytics-next'\`; minified ESM, code-split like an app's bundler, so its
  lazily imported parts are fetched only if used; each file then minified again by terser
  with segflow's own settings, \`scripts/minify.mjs\`, as \`pkg/\` is; into
  \`target/bench/analytics-next/\`).
  \`const [analytics] = await AnalyticsBrowser.load({ writeKey, cdnSettings: {
  integrations: { 'Segment.io': { apiKey, apiHost: '127.0.0.1:PORT/v1', protocol: 'http' } },
  metrics: { sampleRate: 0 } } }); await analytics.ready()\`: inline settings, so no CDN
  request. Defaults otherwise: one \`POST {apiHost}/t\` per event (its "standard"
  delivery; batching is opt-in with \`deliveryStrategy\`). \`metrics.sampleRate: 0\`
  turns off analytics-next's own telemetry (counters of its calls, \`POST /m\`, every
  30 s, to api.segment.io unless a metrics host is given; sample rate 1 when the
  settings say nothing), which the collector does not implement and the run may not
  send elsewhere.
- The same event for both: \`track('${c.event}', { i, round, plan: 'pro', amount: 42.5,
  tags: ['a', 'b'] })\`.

## What each row measures

1. **Bytes loaded until ready**: every response the page received before it was ready
   (its Resource Timing entries at readiness, matched to Playwright's \`response\`
   events), each body compressed with gzip -9 (zlib level 9), summed; the HTML page
   itself is not counted. Nothing is listed by hand: whatever the SDK fetched (JS
   modules, wasm) counts, and what it fetches later does not. Median of ${c.loads} cold
   loads per SDK, alternated, each in a fresh context (empty cache).
2. **Navigation start → ready**: \`performance.now()\` in the page when the SDK is
   ready (see Setup), from the same cold loads (median), on localhost.
3. **track() cost**: ${c.rounds} rounds of ${c.calls} calls after ${c.warmup} warm-up calls. A round's calls
   are timed as a whole with \`performance.now()\` (coarsened to 100 µs in pages that
   are not cross-origin isolated, so single calls cannot be timed) and divided by
   ${c.calls}; median and p95 over the rounds. analytics-next's \`track()\` returns a Promise:
   the timed loop only fires the calls (the synchronous cost). Work either SDK does
   after the calls is not in this figure: analytics-next's Promise chain and requests,
   and segflow's, which stores the round's events and sends them at the end of the
   task that made the calls (one \`fetch\` per batch, about 1 ms here, not per call).
   The CPU profile in the details covers the calls and the rest of their task. Between rounds, untimed,
   its Promises are awaited and segflow's \`flush()\` is awaited until nothing is
   pending, and the collector must have stored every event so far, so each round
   starts idle.
4. **Requests and CORS preflights per 1,000 events**: \`POST\`s to the API origin
   (Playwright \`request\` events; the collector's own count is in the details) and
   \`OPTIONS\` preflights (the collector's count) over all ${c.warmup + c.rounds * c.calls + c.steady + c.drains * c.drainEvents} events of rows 3 and 5 and the
   steady stream, each SDK with its defaults.
5. **Last track() → all stored**: a burst of ${c.drainEvents} \`track()\` calls with nothing else
   called (no \`flush()\`: each SDK's own schedule decides), from the page's clock at
   the last call until \`/api/stats\` (polled every 5 ms) counts every event of the
   SDK's write key as stored (the collector commits to SQLite before it answers).
   Median of ${c.drains} bursts.
6. **Events lost**: events tracked minus events stored by the collector for the SDK's
   write key (distinct messageIds), after waiting up to 20 s at the end. segflow
   must lose none (the run fails otherwise); segflow's total includes its diagnostics.
7. **JS heap used after the run**: \`Runtime.getHeapUsage().usedSize\` over the Chrome
   DevTools Protocol after \`HeapProfiler.collectGarbage\` (twice), right after row 5:
   the V8 JavaScript heap. A wasm module's linear memory is outside it, so the next
   row adds the \`byteLength\` of every live \`WebAssembly.Memory\` (found with
   \`Runtime.queryObjects\`; analytics-next has none). Linear memory only grows, so it
   shows the peak the run needed.

Per-SDK totals: segflow ${total(results.sdks.segflow)} events tracked, analytics-next ${total(results.sdks['analytics-next'])}.

## Raw results

\`\`\`json
${rawJson(results)}
\`\`\`
`;
}
