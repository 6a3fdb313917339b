// segflow's entry point (pkg/segflow.js): the whole API at once, in a few hundred
// bytes, safe to import anywhere (nothing touches window, document or storage at
// import time or in Node). It holds no logic of its own: it loads the two wasm
// modules and carries calls to them.
//
// - The core module (identity, messages, delivery, storage, page tracking) starts
//   loading at `init` (or `load()`). Calls made before it is ready are queued and
//   replayed in order; Promises returned meanwhile settle with the real results,
//   and a replayed call that throws rejects its Promise or, when it returns
//   nothing, goes to the `error` listeners with the same `code`.
// - The content module (flows) is fetched only once there is content: `content`
//   given to `init`, `loadContent` or `start`. It starts once the core's `init`
//   succeeded, gets the core's functions (see src/web/host.rs) and hears about
//   users, tracked events and navigations through the core's hook.
// - A core module that fails to load is reported once (`error` listeners, code
//   `load_failed`); the calls that carry data are kept in localStorage and
//   replayed by the next page load whose `init` has the same write key.
// - Outside a browser (server-side rendering) every call does nothing: getters
//   return `false`/`null`, Promises resolve.

const browser = typeof window == 'object' && typeof document == 'object';
const KEPT = 'segflow:loader:kept';
// Calls that carry data, kept when the core module cannot load.
const DATA = ['identify', 'identifyAnonymous', 'updateUser', 'group', 'updateGroup', 'track', 'page', 'alias', 'reset', 'setStreaming', 'setPageTrackingDisabled'];
let core, content, coreLoad, contentLoad, inited, failed, kept;
const queue = []; // [name, args, [resolve, reject]?] for the core module
const later = []; // the same for the content module
let writeKey;

const report = (err) => core.__report(err);
const settle = (mod, [name, args, p]) => {
  let out;
  try {
    out = mod[name](...args);
  } catch (err) {
    return p ? p[1](err) : report(err);
  }
  if (p) Promise.resolve(out).then(p[0], p[1]);
};

const storage = (f) => { try { return f(localStorage); } catch (_) { /* unavailable */ } };
const keep = () => storage((s) => s.setItem(KEPT, JSON.stringify([writeKey, queue.filter((c) => DATA.includes(c[0]))])));

function drain() {
  while (queue.length) {
    const call = queue.shift();
    settle(core, call);
    if (call[0] == 'init' && !inited) {
      inited = core.__inited();
      if (inited && kept) {
        if (kept[0] == writeKey) for (const c of kept[1]) settle(core, c);
        kept = null;
      }
    }
  }
  startContent();
}

function loadCore() {
  if (!browser || coreLoad) return coreLoad;
  coreLoad = import('./segflow_core.js').then(async (m) => (await m.default(), m)).then((m) => {
    kept = storage((s) => {
      const k = JSON.parse(s.getItem(KEPT));
      s.removeItem(KEPT);
      return k;
    });
    core = m;
    m.__contentHook((note) => {
      if (content) content.contentNotify(note);
      else if (contentLoad && note[0] == 'e') later.push(['contentNotify', [note]]);
    });
    drain();
  }, (cause) => {
    const err = (failed = new Error(`segflow: could not load: ${cause && cause.message}`));
    err.code = 'load_failed';
    for (const [name, args, p] of queue.splice(0)) {
      if (name == 'on' && args[0] == 'error') try { args[1](err); } catch (_) { /* page code */ }
      if (p) p[1](err);
      else queue.push([name, args]);
    }
    keep();
    throw err;
  });
  coreLoad.catch(() => {}); // reported above; load() callers still see the rejection
  return coreLoad;
}

function startContent() {
  if (!inited || !contentLoad || content) return;
  contentLoad.then((m) => {
    if (content) return;
    m.contentInit({ stateKey: core.__stateKey, traits: core.__traits, get: core.__get, set: core.__set, pageUrl: core.__pageUrl, track: core.__track });
    content = m;
    while (later.length) settle(m, later.shift());
  }, report);
}

function wantContent() {
  if (browser && !contentLoad) {
    contentLoad = import('./segflow_content.js').then(async (m) => (await m.default(), m));
    contentLoad.catch(() => {});
    startContent();
  }
}

const push = (list, call) => {
  if (!browser) return;
  list.push(call);
  if (failed && list == queue) keep();
};
const promised = (list, name, args) => (browser ? new Promise((ok, no) => push(list, [name, args, [ok, no]])) : Promise.resolve(name == 'flush' ? { pending: 0 } : undefined));
const to = (name) => (...args) => (core ? core[name](...args) : push(queue, [name, args]));
const get = (name, none) => () => (core ? core[name]() : none);
const toContent = (name, wants, isPromise) => (...args) => {
  if (content) {
    if (!isPromise) return content[name](...args);
    try { return Promise.resolve(content[name](...args)); } catch (err) { return Promise.reject(err); }
  }
  if (wants) wantContent();
  return isPromise ? promised(later, name, args) : push(later, [name, args]);
};

/** Starts loading segflow; resolves once the core module is ready (never in Node). */
export default function load() {
  return browser ? loadCore() : Promise.resolve();
}

export function init(options) {
  if (options && typeof options == 'object') writeKey = options.writeKey;
  const content = options && options.content;
  if (core) {
    core.init(options);
    inited = core.__inited();
  } else {
    push(queue, ['init', [options]]);
    loadCore();
  }
  if (content != null && typeof content == 'object' || typeof content == 'string') {
    push(later, ['contentLoad', [content], [() => {}, (err) => core && report(err)]]);
    wantContent();
  }
  startContent();
}

export const identify = to('identify');
export const identifyAnonymous = to('identifyAnonymous');
export const updateUser = to('updateUser');
export const group = to('group');
export const updateGroup = to('updateGroup');
export const track = to('track');
export const page = to('page');
export const alias = to('alias');
export const reset = to('reset');
export const setStreaming = to('setStreaming');
export const setPageTrackingDisabled = to('setPageTrackingDisabled');
export const on = to('on');
export const off = to('off');
export const flush = () => (core ? core.flush() : promised(queue, 'flush', []));
export const isIdentified = get('isIdentified', false);
export const user = get('user', null);
export const loadContent = toContent('contentLoad', 1, 1);
export const start = toContent('contentStart', 1, 1);
export const endAll = toContent('contentEndAll');
export const setCustomNavigate = toContent('contentNavigate');
export const setBaseZIndex = toContent('contentZIndex');
