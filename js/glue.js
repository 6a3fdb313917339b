// Small helpers the wasm shell calls. They run as plain JS because walking a value the
// page passed in is far cheaper here than across the wasm boundary, property by property.

function invalid(message) {
  const err = new Error(message);
  err.code = 'invalid_argument';
  return err;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function walk(value, path, seen) {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw invalid(`${path} is ${value}, which JSON cannot carry`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      if (value > MAX_SAFE || value < -MAX_SAFE) throw invalid(`${path} is a BigInt beyond 2^53`);
      return value.toString();
    case 'undefined':
      return undefined;
    case 'function':
    case 'symbol':
      throw invalid(`${path} is a ${typeof value}, which cannot be sent`);
    default:
      break;
  }
  if (value === null) return 'null';
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(`${path} is an invalid Date`);
    return JSON.stringify(value.toISOString());
  }
  if (seen.includes(value)) throw invalid(`${path} refers back to itself (a cycle)`);
  seen.push(value);
  let out;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      const item = walk(value[i], `${path}[${i}]`, seen);
      out += (i ? ',' : '') + (item === undefined ? 'null' : item);
    }
    out += ']';
  } else if (typeof value.toJSON === 'function') {
    seen.pop();
    return walk(value.toJSON(), path, seen);
  } else {
    out = '{';
    let first = true;
    for (const key of Object.keys(value)) {
      const item = walk(value[key], `${path}.${key}`, seen);
      if (item === undefined) continue;
      out += (first ? '' : ',') + JSON.stringify(key) + ':' + item;
      first = false;
    }
    out += '}';
  }
  seen.pop();
  return out;
}

/// JSON text of a plain object given by the page (`undefined`/`null` give `{}`), or an
/// `invalid_argument` Error for values JSON cannot carry faithfully.
export function objectToJson(value, name) {
  if (value === undefined || value === null) return '{}';
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`${name} must be an object`);
  return walk(value, name, []);
}

/// An Error whose `code` property is one of segflow's stable codes.
export function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/// Calls `fn(acquired)` exactly once: with `true` while holding an exclusive lock
/// named `name` across this origin's tabs (the Web Locks API where present, else a
/// short lease in localStorage), or with `false` when the lock could not be had.
export function withLock(name, fn) {
  let called = false;
  const run = (acquired) => {
    if (called) return;
    called = true;
    try { fn(acquired); } catch (err) { console.error('segflow:', err); }
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

/// `navigator.userAgentData` as JSON text (brands, mobile, platform), or undefined.
export function userAgentDataJson() {
  const d = typeof navigator !== 'undefined' && navigator.userAgentData;
  if (!d) return undefined;
  try {
    return JSON.stringify({ brands: d.brands, mobile: d.mobile, platform: d.platform });
  } catch (_) {
    return undefined;
  }
}

/// The IANA time zone name, or undefined.
export function timeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (_) { return undefined; }
}

/// Calls `fn(value)` and returns its result when it is a string, else `value`.
export function applyFilter(fn, value) {
  try {
    const out = fn(value);
    return typeof out === 'string' ? out : value;
  } catch (err) {
    // Never leak what the filter was meant to hide: keep the origin only.
    console.warn('segflow: urlFilter threw; only the origin is sent', err);
    try { return new URL(value).origin + '/'; } catch (_) { return ''; }
  }
}

// Requests in flight by id, so the client can abort one whose deadline passed.
const inflight = new Map();

/// POSTs `body` to `url` as request `id`. Resolves to `[status, retryAfterMs]`
/// (-1 when absent; status 0 for an opaque answer, which the client counts as a
/// network error); rejects on a network error or an abort. By default the request
/// is CORS-simple (`text/plain`, the write key in the body, no Authorization
/// header), so no preflight precedes it; `auth` adds `Authorization` (option
/// `basicAuth`) for proxies that want it. `keepalive` requests outlive the page.
export function post(id, url, body, auth, keepalive) {
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
    return [res.status, ms];
  }).finally(() => { inflight.delete(id); });
}

/// Aborts request `id` if it is still in flight.
export function abortRequest(id) {
  const controller = inflight.get(id);
  inflight.delete(id);
  if (controller) {
    try { controller.abort(); } catch (_) { /* already settled */ }
  }
}

/// `btoa(text)`, or undefined when `text` is not Latin-1.
export function base64(text) {
  try { return btoa(text); } catch (_) { return undefined; }
}

/// Calls `onChange()` after every single-page-app navigation: `history.pushState` and
/// `replaceState` (wrapped once, keeping their arguments, `this` and return value, so
/// the host router is unaffected), `popstate` and `hashchange`.
export function watchNavigation(onChange) {
  const notify = () => { try { onChange(); } catch (err) { console.error('segflow:', err); } };
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

/// Whether `el` or an ancestor matches `selector` (false for a bad selector).
export function closestMatches(el, selector) {
  try { return !!(el && el.closest && el.closest(selector)); } catch (_) { return false; }
}

/// The first element matching `selector`, or null (also for an invalid selector).
export function query(selector) {
  try { return document.querySelector(selector); } catch (_) { return null; }
}

/// GETs `url` and resolves to its text; rejects (with a coded Error) unless 2xx.
export function fetchText(url) {
  return fetch(url, { credentials: 'same-origin' }).then((res) => {
    if (!res.ok) throw codedError('content_unavailable', `segflow: GET ${url} answered ${res.status}`);
    return res.text();
  }, (err) => { throw codedError('content_unavailable', `segflow: GET ${url} failed: ${err && err.message}`); });
}

/// Scrolls `el` into the middle of the viewport when it is not fully visible (at
/// once, so the tooltip can be placed right after).
export function revealTarget(el) {
  try {
    const r = el.getBoundingClientRect();
    const fits = r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
    if (!fits) el.scrollIntoView({ block: 'center', inline: 'nearest', behavior: 'instant' });
  } catch (_) { /* detached or odd element: leave the page as it is */ }
}

/// Calls `fn()` in a microtask (after the current script, before rendering).
export function afterMicrotask(fn) {
  Promise.resolve().then(() => fn()).catch((err) => console.error('segflow:', err));
}

/// Calls `fn()` whenever `el` changes size (images loading, fonts); returns a handle
/// for `unobserveSize`, or undefined without ResizeObserver.
export function observeSize(el, fn) {
  if (typeof ResizeObserver === 'undefined') return undefined;
  const ro = new ResizeObserver(() => { try { fn(); } catch (err) { console.error('segflow:', err); } });
  ro.observe(el);
  return ro;
}

/// Stops an `observeSize` observer.
export function unobserveSize(handle) {
  if (handle && handle.disconnect) handle.disconnect();
}

/// The first element matching `selector` that is rendered (has a box: not
/// `display: none`, not detached), or null (also for an invalid selector).
export function queryVisible(selector) {
  let list;
  try { list = document.querySelectorAll(selector); } catch (_) { return null; }
  for (const el of list) if (el.getClientRects().length > 0) return el;
  return null;
}
