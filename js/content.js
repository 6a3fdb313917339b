// Helpers the content module's shell calls (DOM queries, content fetches, sizes,
// events, timers). Everything asynchronous comes back to the module through the one
// function it hands over with `bind`: `wake(kind, id, value)`, with the kinds of
// src/web/content/wake.rs. They carry what happened; the module decides what it means.

import { warn } from './glue.js';

let wake = () => {};

/// Calls the module's callback; an exception never reaches the page.
function fire(kind, id, value) {
  try { return wake(kind, id, value); } catch (err) { warn('segflow:', err); }
}

/// The module's one callback (see the top of this file).
export function bind(f) {
  wake = f;
}

/// `target.addEventListener(type, …)`, calling `wake(kind, 0, event)`.
export function listen(target, type, kind, capture) {
  target.addEventListener(type, (e) => fire(kind, 0, e), capture);
}

/// `wake(kind, id)` in `ms` ms; returns the handle for `clearTimeout`.
export function timeout(kind, id, ms) {
  return setTimeout(() => fire(kind, id), ms);
}

/// `clearTimeout(handle)`.
export function cancel(handle) {
  clearTimeout(handle);
}

/// `wake(kind)` in a microtask (after the current script, before rendering).
export function microtask(kind) {
  queueMicrotask(() => fire(kind, 0));
}

/// `wake(kind)` after DOM changes: elements added or removed anywhere, or their
/// `class`, `style` or `hidden` attributes changed.
export function observeMutations(kind) {
  new MutationObserver(() => fire(kind, 0)).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ['class', 'style', 'hidden'],
  });
}

function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/// Whether `el` or an ancestor matches `selector` (false for a bad selector).
export function closestMatches(el, selector) {
  try { return !!(el && el.closest && el.closest(selector)); } catch (_) { return false; }
}

/// The first element matching `selector`, or null (also for an invalid selector).
export function query(selector) {
  try { return document.querySelector(selector); } catch (_) { return null; }
}

/// GETs `url` and hands its text to `wake(kind, 0, text)`; resolves once that is
/// done, or rejects with the error `wake` returned, or (a coded Error) unless 2xx.
export function fetchText(url, kind) {
  return fetch(url, { credentials: 'same-origin' }).then((res) => {
    if (!res.ok) throw codedError('content_unavailable', `segflow: GET ${url} answered ${res.status}`);
    return res.text();
  }, (err) => { throw codedError('content_unavailable', `segflow: GET ${url} failed: ${err && err.message}`); })
    .then((text) => {
      const err = fire(kind, 0, text);
      if (err !== undefined) throw err;
    });
}

/// GETs a segflow collector's `/v1/state` for the signed-in user (the signature in
/// `X-Segflow-Signature`, no cookies) and calls `wake(kind, id, text)` with the
/// answer; a failure is a console warning (the next page load tries again).
export function fetchState(url, signature, kind, id) {
  fetch(url, { headers: { 'X-Segflow-Signature': signature }, credentials: 'omit' })
    .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`answered ${res.status}`))))
    .then((text) => fire(kind, id, text), (err) => warn(`segflow: stateHost: GET ${url} failed: ${err && err.message}`));
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

/// Calls `wake(kind)` whenever `el` changes size (images loading, fonts); returns a
/// handle for `unobserveSize`, or undefined without ResizeObserver.
export function observeSize(el, kind) {
  if (typeof ResizeObserver === 'undefined') return undefined;
  const ro = new ResizeObserver(() => fire(kind, 0));
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

/// `url` resolved against the page by the browser's URL parser (the document's
/// base URL: a `<base href>` counts), as `protocol origin pageOrigin href` joined by
/// spaces (none of the first three holds one; a parsed href has its spaces
/// escaped), or undefined when it does not parse.
export function resolveUrl(url) {
  try {
    const u = new URL(url, document.baseURI);
    return `${u.protocol} ${u.origin} ${location.origin} ${u.href}`;
  } catch (_) {
    return undefined;
  }
}

/// Gives `root` the stylesheet `css` as a constructed, adopted stylesheet, which a
/// Content-Security-Policy without `'unsafe-inline'` styles does not block (an
/// inline `<style>` it does). False where the browser cannot (the caller then
/// falls back to a `<style>` element).
export function adoptStyles(root, css) {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
    return true;
  } catch (_) {
    return false;
  }
}
