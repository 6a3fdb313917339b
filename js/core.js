// The core module's JS: it instantiates the wasm (js/boundary.js; src/web/abi.rs
// explains the boundary: numbers and strings only, page values held here by number)
// and answers its own imports with the small helpers below (requests, the cross-tab lock, timers,
// page events, navigation, storage). Everything asynchronous comes back through the
// module's `wake(kind, a, b, c)` export, with the kinds of src/web/wake.rs. The
// helpers carry what happened; the module decides what it means.

import { arg, bytes, call, exports, get, hold, initSync, instantiate, provide, stage, str } from './boundary.js';
import { href, pageFacts, warn } from './glue.js';

/// Calls the module's `wake`; an exception never reaches the page.
function fire(kind, x = 0, y = 0, z = 0) {
  try { exports().wake(kind, x, y, z); } catch (err) { warn('segflow:', err); }
}

let timer;

/// Arms the one timer to fire `wake(0)` in `delay` ms, replacing any armed one;
/// a negative delay only clears it.
function setTimer(delay) {
  clearTimeout(timer);
  if (delay >= 0) timer = setTimeout(() => fire(0), delay);
}

/// Calls `wake(kind)` in a microtask (after the current script, before rendering),
/// or, when the page broke `queueMicrotask`, in a Promise reaction or a timer.
function microtask(kind) {
  const run = () => fire(kind);
  try {
    queueMicrotask(run);
  } catch (_) {
    try { Promise.resolve().then(run); } catch (_) { setTimeout(run, 0); }
  }
}

/// Watches the page for the module: `online`/`offline` (`wake(6, 1 or 0)`), the
/// page lifecycle (`wake(7, type, persisted, hidden)`, type 0 `pagehide`, 1
/// `pageshow`, 2 `visibilitychange`, 3 `resume`), navigations (`wake(8)`, see
/// `watchNavigation`) and a heartbeat every `heartbeatMs` (`wake(9)`).
function watchPage(heartbeatMs) {
  addEventListener('online', () => fire(6, 1));
  addEventListener('offline', () => fire(6, 0));
  const types = ['pagehide', 'pageshow', 'visibilitychange', 'resume'];
  const page = (e) => fire(7, types.indexOf(e.type), e.persisted ? 1 : 0, document.visibilityState == 'hidden' ? 1 : 0);
  addEventListener('pagehide', page);
  addEventListener('pageshow', page);
  document.addEventListener('visibilitychange', page);
  document.addEventListener('resume', page);
  watchNavigation(() => fire(8));
  setInterval(() => fire(9), heartbeatMs);
}

/// Calls `wake(kind, acquired)` exactly once: with 1 while holding an exclusive
/// lock named `name` across this origin's tabs (the Web Locks API where present,
/// else a short lease in localStorage), or with 0 when the lock could not be had.
function withLock(name, kind) {
  let called = false;
  const run = (acquired) => {
    if (called) return;
    called = true;
    fire(kind, acquired ? 1 : 0);
  };
  if (typeof navigator !== 'undefined' && navigator.locks && navigator.locks.request) {
    try {
      navigator.locks.request(name, () => run(true)).catch(() => run(false));
    } catch (_) {
      run(false);
    }
    return;
  }
  const key = `${name}:lease`;
  let me;
  try {
    const now = Date.now();
    const held = Number((localStorage.getItem(key) || '0').split(':')[0]);
    if (held > now) { run(false); return; }
    me = `${now + 5000}:${Math.random()}`;
    localStorage.setItem(key, me);
    if (localStorage.getItem(key) !== me) { run(false); return; }
  } catch (_) {
    run(false);
    return;
  }
  try {
    run(true);
  } finally {
    try { if (localStorage.getItem(key) === me) localStorage.removeItem(key); } catch (_) { /* ignore */ }
  }
}

// localStorage (area 0) and sessionStorage (area 1); a throw (storage disabled,
// full, sandboxed) reads as nothing.
const area = (a) => (a ? sessionStorage : localStorage);

/// The value under `key`, or undefined.
function storeGet(a, key) {
  try { return area(a).getItem(key) ?? undefined; } catch (_) { return undefined; }
}

/// Stores `value` under `key`; false if the browser refused.
function storeSet(a, key, value) {
  try { area(a).setItem(key, value); return true; } catch (_) { return false; }
}

/// Removes `key`.
function storeRemove(a, key) {
  try { area(a).removeItem(key); } catch (_) { /* unavailable */ }
}

/// localStorage's keys that start with `prefix`, as a JSON array.
function storeKeys(prefix) {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k !== null && k.startsWith(prefix)) out.push(k);
    }
  } catch (_) { /* unavailable */ }
  return JSON.stringify(out);
}

/// `document.cookie`, or with `assignment`, sets one cookie.
function cookie(assignment) {
  try {
    if (assignment === undefined) return document.cookie;
    document.cookie = assignment;
  } catch (_) { /* sandboxed */ }
  return '';
}

/// What the core module reads of the browser at start, NUL-separated: the user
/// agent, the language, `location.hostname` (for the cookie domain) and whether it
/// is online ('1' or '0').
function browser() {
  return `${navigator.userAgent}\0${navigator.language || ''}\0${location.hostname}\0${navigator.onLine === false ? 0 : 1}`;
}

/// The page a call is made on: `document.URL`, referrer and title, separated by
/// NUL characters (read on every call, so cheap: see `canonical`).
function page() {
  return `${document.URL}\0${document.referrer}\0${document.title}`;
}

/// The canonical link's absolute `href`, or '' when there is none (a query of the
/// whole document: read only when the page changed).
function canonical() {
  const link = document.querySelector("link[rel='canonical'][href]");
  return (link && link.href) || '';
}

/// Fills `bytes` from `crypto.getRandomValues` (`Math.random` where it is missing).
function randomBytes(bytes) {
  try {
    crypto.getRandomValues(bytes);
  } catch (_) {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.random() * 256;
  }
}

/// `navigator.userAgentData` as JSON text (brands, mobile, platform), or undefined.
function userAgentDataJson() {
  const d = typeof navigator !== 'undefined' && navigator.userAgentData;
  if (!d) return undefined;
  try {
    return JSON.stringify({ brands: d.brands, mobile: d.mobile, platform: d.platform });
  } catch (_) {
    return undefined;
  }
}

/// The IANA time zone name, or undefined.
function timeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (_) { return undefined; }
}

/// Calls `fn(value)` and returns its result when it is a string. A filter that
/// throws or returns anything else (a forgotten `return`) fails closed: never
/// leak what it was meant to hide, keep the origin only.
function applyFilter(fn, value) {
  try {
    const out = fn(value);
    if (typeof out === 'string') return out;
    warn('segflow: urlFilter returned no string; only the origin is sent');
  } catch (err) {
    warn('segflow: urlFilter threw; only the origin is sent', err);
  }
  try { return new URL(value).origin + '/'; } catch (_) { return ''; }
}

// Requests in flight by id, so the client can abort one whose deadline passed.
const inflight = new Map();

/// POSTs `body` to `url` as request `id`, and answers with `wake(3, id, status,
/// retryAfterMs)`: `retryAfterMs` -1 when absent, status 0 for an opaque answer
/// (which the client counts as a network error), -1 for a network error or an
/// abort. By default the request
/// is CORS-simple (`text/plain`, the write key in the body, no Authorization
/// header), so no preflight precedes it; `auth` adds `Authorization` (option
/// `basicAuth`) for proxies that want it. `keepalive` requests outlive the page.
function post(id, url, body, auth, keepalive) {
  const headers = { 'Content-Type': 'text/plain' };
  if (auth) headers.Authorization = auth;
  const init = { method: 'POST', body, headers, keepalive, credentials: 'omit', mode: 'cors' };
  if (typeof AbortController !== 'undefined') {
    const controller = new AbortController();
    inflight.set(id, controller);
    init.signal = controller.signal;
  }
  let sent;
  try {
    sent = fetch(url, init);
  } catch (err) {
    sent = Promise.reject(err);
  }
  const answered = (status, ms) => {
    inflight.delete(id);
    fire(3, id, status, ms);
  };
  // A page's fetch may answer something that is not a Promise of a Response (a
  // broken mock): that counts as a network error, never an exception.
  Promise.resolve(sent).then((res) => {
    let status = -1;
    let ms = -1;
    try {
      const ra = res.headers.get('Retry-After');
      if (ra !== null) {
        const secs = Number(ra);
        if (ra.trim() !== '' && Number.isFinite(secs) && secs >= 0) ms = secs * 1000;
        else {
          const at = Date.parse(ra);
          if (!Number.isNaN(at)) ms = Math.max(0, at - Date.now());
        }
      }
      if (typeof res.status == 'number') status = res.status;
    } catch (_) {
      ms = -1;
    }
    answered(status, ms);
  }, () => answered(-1, -1));
}

// `flush()` promises waiting to be settled, by the client's waiter id.
const waiters = new Map();

/// A `flush()` promise that `settle(id, value)` resolves.
function waiter(id) {
  return new Promise((resolve) => waiters.set(id, resolve));
}

/// Resolves the `flush()` promise `id` with `value`.
function settle(id, value) {
  const resolve = waiters.get(id);
  waiters.delete(id);
  if (resolve) resolve(value);
}

/// Aborts request `id` if it is still in flight.
function abortRequest(id) {
  const controller = inflight.get(id);
  inflight.delete(id);
  if (controller) {
    try { controller.abort(); } catch (_) { /* already settled */ }
  }
}

/// `btoa(text)`, or undefined when `text` is not Latin-1.
function base64(text) {
  try { return btoa(text); } catch (_) { return undefined; }
}

/// Calls `onChange()` after every single-page-app navigation: `history.pushState` and
/// `replaceState` (wrapped once, keeping their arguments, `this` and return value, so
/// the host router is unaffected), `popstate` and `hashchange`.
function watchNavigation(onChange) {
  const notify = () => { try { onChange(); } catch (err) { warn('segflow:', err); } };
  const h = window.history;
  if (!h.__segflowPatched) {
    for (const name of ['pushState', 'replaceState']) {
      const original = h[name];
      h[name] = function patched(...args) {
        const result = original.apply(this, args);
        window.dispatchEvent(new Event('segflow:navigate'));
        return result;
      };
    }
    Object.defineProperty(h, '__segflowPatched', { value: true });
  }
  window.addEventListener('segflow:navigate', notify);
  window.addEventListener('popstate', notify);
  window.addEventListener('hashchange', notify);
}

// The loader's kept calls (see `keep` in js/loader.js, which writes them under this
// prefix when the core module could not load).
const KEPT = 'segflow:loader:kept:';

/// Replays, once, the calls that earlier pages kept for `writeKey` because their
/// core module could not load: each `[name, args, at]` whose name is in `names`
/// (the loader's calls that carry data) through `api` (this module's exports),
/// bracketed with `api.__at(at)` so its messages keep the time it was made. A call
/// that throws goes to the `error` listeners; corrupt entries are removed.
function claimKept(api, names, writeKey) {
  let s;
  try { s = localStorage; } catch (_) { return; }
  try {
    for (let i = s.length; i--;) {
      const key = s.key(i);
      if (!key || !key.startsWith(KEPT)) continue;
      let kept;
      try { kept = JSON.parse(s.getItem(key)); } catch (_) { /* corrupt */ }
      if (!Array.isArray(kept) || typeof kept[0] != 'string' || !Array.isArray(kept[1])) { s.removeItem(key); continue; }
      if (kept[0] !== writeKey) continue;
      s.removeItem(key);
      for (const text of kept[1]) {
        let call;
        try { call = JSON.parse(text); } catch (_) { continue; /* corrupt */ }
        if (!Array.isArray(call) || !names.includes(call[0]) || !Array.isArray(call[1])) continue;
        api.__at(typeof call[2] == 'number' ? call[2] : null);
        try { api[call[0]](...call[1]); } catch (err) { api.__report(err); }
        api.__at(null);
      }
    }
  } catch (_) { /* storage unavailable */ }
}

/// `init({listenToAnalyticsJs: true})`, once the core module runs: registers
/// `plugin` (the loader's `analyticsPlugin()`) on `window.analytics`, unless the
/// loader already did at `init` (`registered`). If `window.analytics` cannot take
/// it yet (absent, or a stub without `register`), a setter on `window.analytics`
/// registers it on the first value the page assigns that has `register`
/// (analytics-next, or the snippet's stub, which replays it once analytics-next has
/// loaded). A setter rather than polling: it sees the assignment when it happens,
/// costs nothing until then and never runs a timer; `analytics.ready` would need
/// `window.analytics` to exist already. The check waits a microtask, because the
/// snippet adds its stub methods right after assigning the array. Once registered,
/// `window.analytics` is a plain property again, so analytics-next replacing its
/// stub with itself does not register the plugin twice.
function listenToAnalytics(plugin, registered) {
  if (registered) return;
  let current = window.analytics;
  let done;
  const attempt = () => {
    if (done || !current || typeof current.register != 'function') return;
    done = true;
    try { current.register(plugin); } catch (err) { warn('segflow:', err); }
    // A plain property again (see above); `current` is what the page assigned.
    try { Object.defineProperty(window, 'analytics', { value: current, writable: true, configurable: true, enumerable: true }); } catch (_) { /* redefined meanwhile */ }
  };
  attempt();
  if (done) return;
  try {
    Object.defineProperty(window, 'analytics', {
      configurable: true,
      enumerable: true,
      get: () => current,
      set: (value) => {
        current = value;
        Promise.resolve().then(attempt);
      },
    });
  } catch (_) {
    // A non-configurable global (a top-level `var analytics` in a classic script).
    warn('segflow: listenToAnalyticsJs cannot watch window.analytics; register analyticsPlugin() yourself');
  }
}

// The module's own imports (the common ones are js/boundary.js's).
provide({
  random: (p, n) => randomBytes(bytes(p, n)),
  href: () => stage(href()),
  page_facts: () => stage(pageFacts()),
  page: () => stage(page()),
  canonical: () => stage(canonical()),
  browser: () => stage(browser()),
  ua_data: () => stage(userAgentDataJson()),
  time_zone: () => stage(timeZone()),
  store_get: (a, p, n) => stage(storeGet(a, str(p, n))),
  store_set: (a, p, n, q, m) => storeSet(a, str(p, n), str(q, m)),
  store_remove: (a, p, n) => storeRemove(a, str(p, n)),
  store_keys: (p, n) => stage(storeKeys(str(p, n))),
  cookie_get: () => stage(cookie()),
  cookie_set: (p, n) => cookie(str(p, n)),
  base64: (p, n) => stage(base64(str(p, n))),
  // The body goes as a string, not bytes: code that wraps the page's fetch
  // (monitoring, tests) reads it as text.
  post: (id, up, un, bp, bn, ap, an, keepalive) => post(id, str(up, un), str(bp, bn), an < 0 ? undefined : str(ap, an), !!keepalive),
  abort: abortRequest,
  set_timer: setTimer,
  microtask,
  with_lock: (p, n, k) => withLock(str(p, n), k),
  watch_page: watchPage,
  apply_filter: (h, p, n) => stage(applyFilter(get(h), str(p, n))),
  claim_kept: (a, b, p, n) => claimKept(arg(a), arg(b), str(p, n)),
  listen: (a, b) => listenToAnalytics(arg(a), arg(b)),
  // segflow.reset(): `reset()` on the analytics.js that loaded the plugin (the
  // plugin's `a`, kept by its `load` in js/loader.js), if any (src/web/heard.rs).
  reset_analytics: (h) => {
    try { const a = get(h).a; if (a) a.reset(); } catch (err) { warn('segflow: analytics.reset() threw', err); }
  },
  waiter: (id) => hold(waiter(id)),
  settle: (id, h) => settle(id, get(h)),
});

/// The API as the loader sees it: one function per name, each carried to the
/// module's `call(name)` export with its arguments (src/web/entry.rs). Never
/// awaited (a Proxy answers `then` too).
export const api = new Proxy({}, { get: (_, name) => call('call', String(name)) });
export { initSync };

/// Instantiates the module, once, from `module_or_path` (see `instantiate` in
/// js/boundary.js); by default segflow_core_bg.wasm beside this file. A page whose
/// Content-Security-Policy refuses WebAssembly gets an error that says what to
/// allow (the browsers' own messages name 'unsafe-eval', which it is not).
export default function init({ module_or_path: source } = {}) {
  return instantiate(source || new URL('segflow_core_bg.wasm', import.meta.url)).catch((err) => {
    try {
      if (/Security|CSP|unsafe-eval/i.test(err.message)) err.message += "; segflow needs script-src 'wasm-unsafe-eval'";
    } catch (_) { /* not an Error, or its message is read-only: as it is */ }
    throw err;
  });
}
