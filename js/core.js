// The core module's JS: it instantiates the wasm (src/web/abi.rs explains the
// boundary: numbers and strings only, page values held here by number) and answers
// its imports with the small helpers below (requests, the cross-tab lock, timers,
// page events, navigation, storage). Everything asynchronous comes back through the
// module's `wake(kind, a, b, c)` export, with the kinds of src/web/wake.rs. The
// helpers carry what happened; the module decides what it means.

import { codedError, href, objectToJson, pageFacts, warn } from './glue.js';

let wasm;
let wake = () => {};

/// Calls the module's `wake`; an exception never reaches the page.
function fire(kind, a = 0, b = 0, c = 0) {
  try { wake(kind, a, b, c); } catch (err) { warn('segflow:', err); }
}

let timer;

/// Arms the one timer to fire `wake(0)` in `delay` ms, replacing any armed one;
/// a negative delay only clears it.
function setTimer(delay) {
  clearTimeout(timer);
  if (delay >= 0) timer = setTimeout(() => fire(0), delay);
}

/// Calls `wake(kind)` in a microtask (after the current script, before rendering).
function microtask(kind) {
  queueMicrotask(() => fire(kind));
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

/// Calls `fn(value)` and returns its result when it is a string, else `value`.
function applyFilter(fn, value) {
  try {
    const out = fn(value);
    return typeof out === 'string' ? out : value;
  } catch (err) {
    // Never leak what the filter was meant to hide: keep the origin only.
    warn('segflow: urlFilter threw; only the origin is sent', err);
    try { return new URL(value).origin + '/'; } catch (_) { return ''; }
  }
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
  return sent.then((res) => {
    const ra = res.headers.get('Retry-After');
    let ms = -1;
    if (ra !== null) {
      const secs = Number(ra);
      if (ra.trim() !== '' && Number.isFinite(secs) && secs >= 0) ms = secs * 1000;
      else {
        const at = Date.parse(ra);
        if (!Number.isNaN(at)) ms = Math.max(0, at - Date.now());
      }
    }
    inflight.delete(id);
    fire(3, id, res.status, ms);
  }, () => {
    inflight.delete(id);
    fire(3, id, -1, -1);
  });
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

// The boundary (see src/web/abi.rs): strings staged for the module to take, the
// arguments of the API call under way, page values held by number, and the call's
// result or error.
const encoder = new TextEncoder();
const decoder = new TextDecoder();
let staged;
let args = [];
let out;
let err;
let failed = false;
const held = new Map();
let lastHeld = 0;

// A view of the module's memory, made again only when the memory grew (which
// detaches the old one).
let view = new Uint8Array(0);
const memory = () => (view.buffer === wasm.memory.buffer ? view : (view = new Uint8Array(wasm.memory.buffer)));
// Pointers and lengths arrive as signed i32: `>>> 0` reads them as wasm means them.
const bytes = (p, n) => memory().subarray(p >>> 0, (p >>> 0) + (n >>> 0));
const str = (p, n) => decoder.decode(bytes(p, n));
const ascii = /^[\0-\x7f]*$/;
/// Stages `s` for the module (its byte length), or -1 when it is not a string.
/// ASCII text (nearly all of it: JSON, URLs, ids) is staged as it is and copied
/// in by `take` character by character; other text is encoded once here. (A
/// TextEncoder.encode per string was 15% of track()'s time, measured.)
const stage = (s) => {
  if (typeof s != 'string') return -1;
  staged = ascii.test(s) ? s : encoder.encode(s);
  return staged.length;
};
const hold = (v) => {
  held.set(++lastHeld, v);
  return lastHeld;
};
const unhold = (h) => {
  const v = held.get(h);
  held.delete(h);
  return v;
};
/// What `v` is, as `Kind` in src/web/abi.rs numbers it.
const kind = (v) => {
  if (v === undefined) return 0;
  if (v === null) return 1;
  const k = ['string', 'number', 'boolean', 'function', 'object'].indexOf(typeof v);
  return k < 0 ? 7 : k + 2;
};

const imports = {
  take: (p) => {
    p >>>= 0;
    const m = memory();
    if (typeof staged != 'string') m.set(staged, p);
    else for (let i = 0; i < staged.length; i++) m[p + i] = staged.charCodeAt(i);
  },
  now: Date.now,
  random: (p, n) => randomBytes(bytes(p, n)),
  warn: (p, n) => warn(str(p, n)),
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
  apply_filter: (h, p, n) => stage(applyFilter(held.get(h), str(p, n))),
  claim_kept: (a, b, p, n) => claimKept(args[a], args[b], str(p, n)),
  listen: (a, b) => listenToAnalytics(args[a], args[b]),
  arg_kind: (i) => kind(args[i]),
  arg_str: (i) => stage(args[i]),
  arg_num: (i) => args[i],
  arg_truthy: (i) => !!args[i],
  arg_json: (i, p, n, depth) => {
    try { return stage(objectToJson(args[i], str(p, n), depth)); } catch (e) { err = e; failed = true; return -1; }
  },
  arg_get: (i, p, n) => {
    try { return args.push(args[i][str(p, n)]) - 1; } catch (_) { return -1; }
  },
  hold_arg: (i) => hold(args[i]),
  hold_json: (p, n) => hold(JSON.parse(str(p, n))),
  hold_str: (p, n) => hold(str(p, n)),
  hold_error: (cp, cn, mp, mn, ep, en) => hold(codedError(str(cp, cn), str(mp, mn), en ? str(ep, en) : undefined)),
  release: (h) => held.delete(h),
  same: (i, h) => Object.is(args[i], held.get(h)),
  invoke: (f, v, callback) => {
    try { held.get(f)(held.get(v)); } catch (e) { warn(callback ? 'segflow: a callback threw' : 'segflow: a listener threw', e); }
  },
  waiter: (id) => hold(waiter(id)),
  settle: (id, h) => settle(id, held.get(h)),
  ret: (h) => { out = unhold(h); },
  fail: (h) => {
    err = unhold(h);
    failed = true;
  },
};

/// The API as the loader sees it: one function per name, each carried to the
/// module's `call(name)` export with its arguments (src/web/entry.rs). Never
/// awaited (a Proxy answers `then` too). A call made from inside another (page code
/// the module runs) keeps the outer call's arguments and result apart.
export const api = new Proxy({}, {
  get: (_, name) => (...a) => {
    const outer = [args, out, err, failed];
    // Arguments 0 to 2 are the call's own; properties read off them come after.
    args = [a[0], a[1], a[2]];
    out = err = undefined;
    failed = false;
    try {
      wasm.call(stage(String(name)));
      if (failed) throw err;
      return out;
    } finally {
      [args, out, err, failed] = outer;
    }
  },
});

const started = (instance) => {
  wasm = instance.exports;
  wake = wasm.wake;
};

const compiled = (module) => (module instanceof WebAssembly.Module ? module : new WebAssembly.Module(module));

/// Instantiates the module from `module` (its bytes or a compiled module), once.
export function initSync({ module }) {
  if (!wasm) started(new WebAssembly.Instance(compiled(module), { s: imports }));
}

/// Instantiates the module, once, from `module_or_path`: a `fetch` Response or a
/// Promise of one, a URL, the module's bytes or a compiled module; by default
/// segflow_core_bg.wasm beside this file. It compiles while the file downloads
/// when the server sends it as exactly `application/wasm` (what streaming
/// compilation requires), else from the whole file.
export default async function init({ module_or_path: source } = {}) {
  if (wasm) return;
  let res = await (source || new URL('segflow_core_bg.wasm', import.meta.url));
  if (res instanceof WebAssembly.Module || res instanceof ArrayBuffer || ArrayBuffer.isView(res)) {
    initSync({ module: res });
    return;
  }
  if (typeof res == 'string' || res instanceof URL) res = await fetch(res);
  if (!res.ok) throw new Error(`${res.url} answered ${res.status}`);
  const result = typeof WebAssembly.instantiateStreaming == 'function' && res.headers.get('Content-Type') === 'application/wasm'
    ? await WebAssembly.instantiateStreaming(res, { s: imports })
    : await WebAssembly.instantiate(await res.arrayBuffer(), { s: imports });
  if (!wasm) started(result.instance);
}
