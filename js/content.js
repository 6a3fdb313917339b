// The content module's JS: it instantiates the wasm (js/boundary.js; src/web/abi.rs
// explains the boundary) and answers its DOM imports (src/web/content/dom.rs) with
// the small helpers below: elements, events, timers, observers, fetches, each
// held here by number. Everything asynchronous comes back through the module's
// `content_wake(kind, id, value)` export, with the kinds of
// src/web/content/wake.rs. The helpers carry what happened; the module decides
// what it means.

import { call, exports, get, hold, initSync, instantiate, provide, stage, str, unhold } from './boundary.js';
import { codedError, href, pageFacts, warn } from './glue.js';

/// Calls the module's wake with `value` held for it; an exception never reaches
/// the page. Returns what the module answered (an error for `loadContent`).
function fire(kind, id = 0, value) {
  try {
    const r = exports().content_wake(kind, id, value === undefined ? 0 : hold(value));
    return r ? unhold(r) : undefined;
  } catch (err) {
    warn('segflow:', err);
  }
}

/// GETs `url` and hands its text to `wake(kind, 0, text)`; resolves once that is
/// done, or rejects with the error `wake` returned, or (a coded Error) unless 2xx.
function fetchText(url, kind) {
  // A fetch that throws at once (none in this page, or one replaced) rejects too.
  // So does a body that breaks off after the status, or an answer that is no Response.
  const failed = (err) => { throw codedError('content_unavailable', `GET ${url} failed: ${err && err.message}`); };
  return new Promise((got) => got(fetch(url, { credentials: 'same-origin' }))).then((res) => {
    if (!res || typeof res.text != 'function') failed(new TypeError('the answer is not a Response'));
    if (!res.ok) throw codedError('content_unavailable', `GET ${url} answered ${res.status}`);
    return new Promise((got) => got(res.text())).catch(failed);
  }, failed)
    .then((text) => {
      const err = fire(kind, 0, text);
      if (err !== undefined) throw err;
    });
}

/// GETs a segflow collector's `/v1/state` for the signed-in user (the signature in
/// `X-Segflow-Signature`, no cookies) and calls `wake(kind, id, text)` with the
/// answer; a failure is a console warning (the next page load tries again).
function fetchState(url, signature, kind, id) {
  fetch(url, { headers: { 'X-Segflow-Signature': signature }, credentials: 'omit' })
    .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`answered ${res.status}`))))
    .then((text) => fire(kind, id, text), (err) => warn(`segflow: stateHost: GET ${url} failed: ${err && err.message}`));
}

/// Scrolls `el` into the middle of the viewport when it is not fully visible, and
/// into view in any scrolling box that clips it (at once, so the tooltip can be
/// placed right after).
function reveal(el) {
  const r = el.getBoundingClientRect();
  const fits = r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
  // Within the window it may still be clipped by a scrolling box of the app's:
  // 'nearest' scrolls each box (and the window) only as far as needed, or not at all.
  el.scrollIntoView({ block: fits ? 'nearest' : 'center', inline: 'nearest', behavior: 'instant' });
}

/// The first element matching `selector`, or with `visible`, the first that is
/// rendered (has a box: not `display: none`, not detached); null for none (also
/// for an invalid selector: the import's guard).
function query(selector, visible) {
  if (!visible) return document.querySelector(selector);
  for (const el of document.querySelectorAll(selector)) if (el.getClientRects().length > 0) return el;
  return null;
}

/// `url` resolved against the page by the browser's URL parser (the document's
/// base URL: a `<base href>` counts), as `protocol origin pageOrigin href` joined by
/// spaces (none of the first three holds one; a parsed href has its spaces
/// escaped); throws when it does not parse.
function resolveUrl(url) {
  const u = new URL(url, document.baseURI);
  return `${u.protocol} ${u.origin} ${location.origin} ${u.href}`;
}

/// The shadow root of a new `<tag>` element, styled by `css`: a constructed,
/// adopted stylesheet, which a Content-Security-Policy without `'unsafe-inline'`
/// styles does not block (an inline `<style>` it does), or a `<style>` element
/// where the browser has no constructed stylesheets. The root as `attachShadow`
/// gave it: a page that forces roots closed leaves `host.shadowRoot` null.
function shadow(tag, css) {
  const host = document.createElement(tag);
  const root = host.attachShadow({ mode: 'open' });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  } catch (_) {
    const style = document.createElement('style');
    style.textContent = css;
    root.append(style);
  }
  return root;
}

// Every import is guarded: what the page may throw (an invalid selector, a
// detached or odd element, a sandboxed API) answers 0 (none, false, or '' for
// text: '' is staged) instead of crossing the module mid-call; and what it
// answers is a number here, so that a patched method's odd value (a Symbol, an
// object whose valueOf throws) is never converted by the wasm call itself.
const guarded = (imports) => {
  for (const name of Object.keys(imports)) {
    const f = imports[name];
    imports[name] = (...a) => {
      try {
        const r = f(...a);
        return typeof r == 'number' ? r : r ? 1 : 0;
      } catch (_) { return stage(''); }
    };
  }
  return imports;
};

// The module's timers by its own number: what the page's setTimeout answered,
// which is not always a number (polyfills and fake timers answer objects), goes
// back to the page's clearTimeout as it was, and only while the timer is pending.
const timers = new Map();
let lastTimer = 0;

const node = (v) => (v ? hold(v) : 0);
// `n` f64 of the module's memory at `p` (8-byte aligned).
const floats = (p, n) => new Float64Array(exports().memory.buffer, p >>> 0, n);
const text = (p, n) => (n < 0 ? null : str(p, n));

provide(guarded({
  href: () => stage(href()),
  page_facts: () => stage(pageFacts()),
  held_str: (v) => stage(get(v)),
  dup: (v) => hold(get(v)),
  global: (w) => node(w == 0 ? document : w == 1 ? window : document.body),
  listen: (t, p, n, kind, capture) => get(t).addEventListener(str(p, n), (e) => fire(kind, 0, e), !!capture),
  timeout: (kind, id, ms) => {
    const n = ++lastTimer;
    timers.set(n, setTimeout(() => { timers.delete(n); fire(kind, id); }, ms));
    return n;
  },
  cancel: (n) => { if (timers.has(n)) clearTimeout(timers.get(n)); timers.delete(n); },
  microtask: (kind) => queueMicrotask(() => fire(kind)),
  // Elements added or removed anywhere, or their `class`, `style` or `hidden`
  // attributes changed.
  observe_mutations: (kind) => new MutationObserver(() => fire(kind)).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ['class', 'style', 'hidden', 'open'],
  }),
  observe_size: (e, kind) => {
    if (typeof ResizeObserver == 'undefined') return 0;
    const ro = new ResizeObserver(() => fire(kind));
    ro.observe(get(e));
    return hold(ro);
  },
  unobserve_size: (o) => get(o).disconnect(),
  fetch_text: (p, n, kind) => hold(fetchText(str(p, n), kind)),
  fetch_state: (up, un, sp, sn, kind, id) => fetchState(str(up, un), str(sp, sn), kind, id),
  query: (p, n, visible) => node(query(str(p, n), visible)),
  reveal: (e) => reveal(get(e)),
  resolve_url: (p, n) => {
    try { return stage(resolveUrl(str(p, n))); } catch (_) { return -1; }
  },
  shadow: (tp, tn, cp, cn) => hold(shadow(str(tp, tn), str(cp, cn))),
  root_host: (r) => node(get(r).host),
  // Open: the page can reach it from the host (whatever a polyfill says its mode is).
  is_open: (r) => get(r).host.shadowRoot === get(r),
  create: (tp, tn, cp, cn) => {
    const e = document.createElement(str(tp, tn));
    if (cn) e.className = str(cp, cn);
    return hold(e);
  },
  add_text: (e, p, n) => get(e).append(str(p, n)),
  set_text: (e, p, n) => { get(e).textContent = str(p, n); },
  attr: (e, np, nn, vp, vn) => {
    const v = text(vp, vn);
    if (v === null) get(e).removeAttribute(str(np, nn));
    else get(e).setAttribute(str(np, nn), v);
  },
  get_attr: (e, p, n) => stage(get(e).getAttribute(str(p, n))),
  style: (e, np, nn, vp, vn) => {
    const v = text(vp, vn);
    if (v === null) get(e).style.removeProperty(str(np, nn));
    else get(e).style.setProperty(str(np, nn), v);
  },
  class_has: (e, p, n) => get(e).classList.contains(str(p, n)),
  class_set: (e, p, n, on) => get(e).classList.toggle(str(p, n), !!on),
  append: (e, c, first) => (first ? get(e).prepend(get(c)) : get(e).appendChild(get(c))),
  remove: (e) => get(e).remove(),
  connected: (e) => get(e).isConnected,
  rendered: (e) => get(e).isConnected && get(e).getClientRects().length > 0,
  rtl: (e) => getComputedStyle(get(e)).direction == 'rtl',
  rect: (e, p) => {
    const r = get(e).getBoundingClientRect();
    floats(p, 4).set([r.x, r.y, r.width, r.height]);
  },
  viewport: (p) => floats(p, 2).set([innerWidth, innerHeight]),
  find: (e, p, n, last) => {
    const list = get(e).querySelectorAll(str(p, n));
    return node(list[last ? list.length - 1 : 0]);
  },
  children: (e) => get(e).children.length,
  child: (e, i) => node(get(e).children[i]),
  tag: (e) => stage(get(e).localName),
  contains: (e, o) => get(e).contains(get(o)),
  is_same: (e, o) => get(e) === get(o),
  root_is: (e, r) => get(e).getRootNode() === get(r),
  active: (r) => node(get(r).activeElement),
  // (Never scrolls: segflow's UI is fixed, and focus given back stays where it is on screen.)
  focus: (e) => get(e).focus({ preventScroll: true }),
  closest: (e, p, n) => node(get(e).closest(str(p, n))),
  ev_first: (ev) => {
    const t = get(ev).composedPath()[0];
    return t instanceof Element ? hold(t) : 0;
  },
  ev_in_path: (ev, e) => get(ev).composedPath().includes(get(e)),
  ev_key: (ev, code) => stage(code ? get(ev).code : get(ev).key),
  ev_mods: (ev) => {
    const e = get(ev);
    return (e.altKey ? 1 : 0) | (e.shiftKey ? 2 : 0) | (e.ctrlKey ? 4 : 0) | (e.metaKey ? 8 : 0);
  },
  ev_prevent: (ev, stop) => {
    get(ev).preventDefault();
    if (stop) get(ev).stopPropagation();
  },
  assign: (p, n) => location.assign(str(p, n)),
  // A function of the core module's API (src/web/host.rs), with strings or null.
  // Answers -1 (no string) when it threw.
  host: (api, np, nn, ap, an, bp, bn, cp, cn) => {
    try { return stage(get(api)[str(np, nn)](text(ap, an), text(bp, bn), text(cp, cn))); } catch (_) { return -1; }
  },
  // The core's `__report(error)`: the `error` listeners.
  report: (api, e) => { get(api).__report(get(e)); },
}));


// The content module's API, as the loader calls it (src/web/content/api.rs).
export const contentInit = call('content_call', 'contentInit');
export const contentNotify = call('content_call', 'contentNotify');
export const contentLoad = call('content_call', 'contentLoad');
export const contentStart = call('content_call', 'contentStart');
export const contentEndChecklist = call('content_call', 'contentEndChecklist');
export const contentEndAll = call('content_call', 'contentEndAll');
export const contentNavigate = call('content_call', 'contentNavigate');
export const contentZIndex = call('content_call', 'contentZIndex');
export { initSync };

/// Instantiates the module, once, from `module_or_path` (see `instantiate` in
/// js/boundary.js); by default segflow_content_bg.wasm beside this file.
export default function init({ module_or_path: source } = {}) {
  return instantiate(source || new URL('segflow_content_bg.wasm', import.meta.url));
}
