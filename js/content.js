// Helpers the content module's shell calls (DOM queries, content fetches, sizes).

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

/// GETs `url` and resolves to its text; rejects (with a coded Error) unless 2xx.
export function fetchText(url) {
  return fetch(url, { credentials: 'same-origin' }).then((res) => {
    if (!res.ok) throw codedError('content_unavailable', `segflow: GET ${url} answered ${res.status}`);
    return res.text();
  }, (err) => { throw codedError('content_unavailable', `segflow: GET ${url} failed: ${err && err.message}`); });
}

/// GETs a segflow collector's `/v1/state` for the signed-in user (the signature in
/// `X-Segflow-Signature`, no cookies) and calls `done(text)` with the answer; a
/// failure is a console warning (the next page load tries again).
export function fetchState(url, signature, done) {
  fetch(url, { headers: { 'X-Segflow-Signature': signature }, credentials: 'omit' })
    .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`answered ${res.status}`))))
    .then(done, (err) => console.warn(`segflow: stateHost: GET ${url} failed: ${err && err.message}`));
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
