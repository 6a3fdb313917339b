// segflow's entry point (pkg/segflow.js): the whole API at once, in about 2 KB,
// safe to import anywhere (nothing touches window, document or storage at import
// time or in Node). It loads the two wasm modules and carries calls to them; what
// happens to a call is decided in Rust.
//
// - The core module (identity, messages, delivery, storage, page tracking) starts
//   loading at `init` (or `load()`). Calls made before it is ready are queued (data
//   calls with a copy of their arguments, as they were, and the time they were
//   made, which their messages keep) and replayed in order;
//   Promises returned meanwhile settle with the real results, and a replayed call
//   that throws rejects its Promise or, when it returns nothing, goes to the
//   `error` listeners with the same `code`.
// - The content module (flows) is fetched only once there is content: `content`
//   given to `init`, `loadContent` or `start`. It starts once the core's `init`
//   succeeded, gets the core's functions (see src/web/host.rs) and hears about
//   users, tracked events and navigations through the core's hook.
// - A module that fails to load is reported once (`error` listeners, code
//   `load_failed`; each listener once, as `on`/`off` left them) and its pending
//   Promises reject with that error. When it is the
//   core, the calls that carry data are kept in localStorage (under a key of this
//   page's own, at most 1,000 calls, written once per task) and replayed, once, by
//   the next page whose `init` succeeds with the same write key.
// - `analyticsPlugin()` is a destination plugin for analytics.js (analytics-next):
//   it hands each message analytics.js built to the core (`__heard`, queued like any
//   call), which follows the user, group and traits and counts tracked events for
//   content, sending nothing to Segment again. `init({listenToAnalyticsJs: true})`
//   registers it on `window.analytics`.
// - Outside a browser (server-side rendering) every call does nothing: getters
//   return `false`/`null`, Promises resolve.

const browser = typeof document == 'object'; // a page (not Node, not a worker)
const KEPT = 'segflow:loader:kept:';
const MAX_KEPT = 1000;
// Calls that carry data, kept when the core module cannot load.
// The first five are also what analytics.js hands its plugins.
const DATA = ['identify', 'track', 'group', 'page', 'alias', 'identifyAnonymous', 'updateUser', 'updateGroup', 'reset', 'setStreaming', 'setPageTrackingDisabled'];
let core, content, coreLoad, contentLoad, coreFailed, contentFailed, inited, writeKey, keptKey, unsaved, heardBy;
const queue = []; // [name, args, [resolve, reject]?, entry state] for the core module
const later = []; // the same for the content module; a 4th item: the init it needs

const noop = () => {};
const report = (err) => core && core.__report(err);
const failure = (what, cause) => {
  const err = new Error(`segflow: the ${what} module did not load: ${cause && cause.message}`);
  err.code = 'load_failed';
  return err;
};
const settle = (mod, [name, args, p]) => {
  try {
    const out = mod[name](...args);
    if (p) Promise.resolve(out).then(...p);
  } catch (err) {
    p ? p[1](err) : report(err);
  }
};
// JSON's text of a call's arguments as the core would send them (a BigInt as its
// number), or none (it throws) when the core would refuse one of the values: a
// function or symbol, NaN or Infinity, an invalid Date, a BigInt beyond 2^53, and
// what JSON refuses itself (a cycle, a toJSON or getter that throws).
function sendable(args) {
  return JSON.stringify(args, function (k, x) {
    if (typeof x == 'bigint') x = Number.isSafeInteger(Number(x)) ? Number(x) : NaN;
    if (typeof x == 'number' ? !isFinite(x) : 'functionsymbol'.includes(typeof x) || (this[k] instanceof Date && isNaN(this[k]))) throw 0;
    return x;
  });
}
// The arguments as they were: JSON's copy (a class's toJSON, a Proxy such as Vue's
// reactive objects, getters: read now). Arguments the core would refuse are kept as
// given, and it refuses them when replayed, as it would have at once.
// (JSON's null for an absent argument is absent to the core too.)
const copy = (args) => {
  try { return JSON.parse(sendable(args)); } catch (_) { return args; }
};

// The core module could not load: data calls go to this page's kept entry, written
// once per task, appending to what is there (another page may have taken it).
function keep(name, args, at) {
  if (!unsaved) {
    unsaved = [];
    queueMicrotask(() => {
      try {
        const key = KEPT + keptKey;
        let kept = [];
        try { kept = JSON.parse(localStorage.getItem(key))[1] || []; } catch (_) { /* none yet */ }
        for (const call of unsaved) {
          try { kept.push(sendable(call)); } catch (_) { /* the core would refuse it too */ }
        }
        unsaved = null;
        localStorage.setItem(key, JSON.stringify([writeKey, kept.slice(-MAX_KEPT)]));
      } catch (_) { /* storage unavailable */ }
    });
  }
  unsaved.push([name, args, at]);
}

// Runs `init` on the loaded core: on success, the calls earlier pages kept (replayed,
// once, by the core: `claimKept` in js/core.js), the analytics.js plugin (see
// `init`) and its content.
function initCore(options, state) {
  core.init(options);
  if (inited || !core.__inited()) return;
  inited = state.ok = true;
  core.__claim(core, DATA);
  core.__listen(plugin, heardBy);
  if (state.content) wantContent();
  startContent();
}

function drain() {
  while (queue.length) {
    const call = queue.shift();
    if (call[0] == 'init') {
      try { initCore(call[1][0], call[3]); } catch (err) { report(err); }
    } else {
      // A data call's messages keep the time it was made (its 5th item; none: now).
      core.__at(call[4]);
      settle(core, call);
      core.__at(null);
    }
  }
  startContent();
}

// A wasm module: its JS (`imported`, the import() already under way) instantiated with
// its wasm from `url`, fetched alongside it rather than once the JS has loaded (one
// round trip fewer; each URL and import literal where it is used, for bundlers).
// Resolves to the JS module. A failed fetch is the glue's to report; without fetch
// (jsdom), the glue tries itself and reports.
const fetchModule = (imported, url) => {
  let wasm;
  try {
    wasm = fetch(url);
    wasm.catch(noop);
  } catch (_) { /* see above */ }
  return imported.then((m) => m.default({ module_or_path: wasm }).then(() => m));
};

function loadCore() {
  if (!browser || coreLoad) return Promise.resolve(coreLoad); // the same Promise, once made
  coreLoad = fetchModule(import('./segflow_core.js'), new URL('segflow_core_bg.wasm', import.meta.url)).then((m) => {
    core = m.api;
    hook();
    drain();
  }, (cause) => {
    const err = (coreFailed = failure('core', cause));
    keptKey = Math.random(); // this page's own entry
    // The error listeners as on/off left them (a Set: one call each, in the order
    // added, as the core would keep them), told once the queue is settled.
    const told = new Set();
    for (const [name, args, p, , at] of queue.splice(0)) {
      if (args[0] == 'error') name == 'on' ? told.add(args[1]) : name == 'off' && told.delete(args[1]);
      if (p) p[1](err);
      else if (DATA.includes(name)) keep(name, args, at);
      else if (name == 'init' && writeKey == null) writeKey = args[0] && args[0].writeKey;
    }
    for (const [, , p] of later.splice(0)) if (p) p[1](err);
    for (const fn of told) try { fn(err); } catch (_) { /* page code */ }
    throw err;
  });
  coreLoad.catch(noop); // reported above; load() callers still see the rejection
  return coreLoad;
}

function startContent() {
  // The core runs, its queue is done and no init succeeded: content calls cannot
  // run. Each goes to the core, which answers a call made without init with
  // not_initialized (a rejection, or the error listeners). Those an init placed
  // go with it (its failure was reported). The core's own answer, not `inited`:
  // a listener may call while a successful init is still running.
  if (core && !queue.length && !core.__inited()) for (const call of later.splice(0)) call[3] || settle(core, call);
  if (!inited || !contentLoad || content || contentFailed) return;
  contentLoad.then((m) => {
    if (content) return;
    m.contentInit(core);
    content = m;
    while (later.length) {
      const call = later.shift();
      if (!call[3] || call[3].ok) settle(m, call);
    }
  }, noop);
}

// The core's notes for the content module (see src/web/host.rs), asked for once the
// core runs and content is wanted: until then the core makes none.
const hook = () => core && contentLoad && core.__contentHook((note) => {
  if (content) content.contentNotify(note);
  else if (!contentFailed && note[0] == 'e' && later.length < MAX_KEPT) later.push(['contentNotify', [note]]);
});

function wantContent() {
  if (!browser || contentLoad) return;
  contentLoad = fetchModule(import('./segflow_content.js'), new URL('segflow_content_bg.wasm', import.meta.url));
  hook();
  contentLoad.catch((cause) => {
    const err = (contentFailed = failure('content', cause));
    for (const [, , p] of later.splice(0)) if (p) p[1](err);
    if (core) report(err);
    else queue.push(['__report', [err]]);
  });
}

const push = (list, call) => {
  if (browser) {
    if (coreFailed) return DATA.includes(call[0]) && keep(call[0], call[1], Date.now());
    list.push(call);
  }
};
const promised = (list, name, args) => {
  if (!browser) return Promise.resolve(name == 'flush' ? { pending: 0 } : undefined);
  const failed = coreFailed || (list == later && contentFailed);
  return failed ? Promise.reject(failed) : new Promise((ok, no) => push(list, [name, args, [ok, no]]));
};
const to = (name) => (...args) => (core ? core[name](...args) : push(queue, DATA.includes(name) ? [name, copy(args), 0, 0, Date.now()] : [name, args]));
const get = (name, none) => () => (core ? core[name]() : none);
const toContent = (name, wants, isPromise) => (...args) => {
  if (content) {
    // A Promise call that throws rejects instead (the executor catches).
    return isPromise ? new Promise((ok) => ok(content[name](...args))) : content[name](...args);
  }
  if (wants) wantContent();
  const out = isPromise ? promised(later, name, args) : push(later, [name, args]);
  startContent();
  return out;
};

// The destination plugin for analytics.js (`analytics.register(analyticsPlugin())`,
// @segment/analytics-next): each method hands the message analytics.js built to the
// core (`__heard`, through the queue above, so calls heard before the core is ready
// wait for it) and returns `ctx`. It never throws: analytics.js would count that as
// the plugin failing. One object, so registering it again is the same plugin (and
// the core ignores a message it heard already).
// analytics-next hands `load` itself: its `reset()` (sign-out) is heard as one too,
// once per analytics instance however often the plugin is registered; the plugin
// keeps the latest as `a`, which `segflow.reset()` signs out too (`reset_analytics`
// in js/core.js).
const heard = to('__heard');
const plugin = {
  name: 'segflow', type: 'destination', version: '0.1.0', isLoaded: () => true,
  load: async (_, a) => {
    try { if (a != plugin.a) a.on('reset', () => heard('reset', '{}')), plugin.a = a; } catch (_) { /* not analytics-next */ }
  },
};
for (const kind of DATA.slice(0, 5)) {
  plugin[kind] = (ctx) => {
    try { heard(kind, JSON.stringify(ctx.event)); } catch (_) { /* never into analytics.js */ }
    return ctx;
  };
}
export const analyticsPlugin = () => plugin;

/** Starts loading segflow; resolves once the core module is ready (at once, doing nothing, in Node). */
export { loadCore as default };

export function init(options) {
  // listenToAnalyticsJs: the plugin goes on window.analytics now if that can take it
  // (analytics-next, or the snippet's stub, which replays it), so nothing analytics.js
  // does from here on is missed; else the core watches for it once loaded
  // (`listenToAnalytics` in js/core.js; `heardBy` tells it this one took it).
  const a = browser && options && options.listenToAnalyticsJs === true && !heardBy && window.analytics;
  if (a && typeof a.register == 'function') a.register((heardBy = a, plugin));
  // (`content` is an object or a non-empty string, so truthy when given; the core
  // refuses an init with any other, and its content is then dropped.)
  const state = { content: options && options.content };
  if (state.content && !content) {
    // Placed now, so that it comes before content calls made after this init.
    push(later, ['contentLoad', [state.content], [noop, (err) => err != contentFailed && report(err)], state]);
  }
  if (core) initCore(options, state);
  else {
    push(queue, ['init', [options], null, state]);
    loadCore();
    if (state.content) wantContent();
  }
}

// (In DATA's order.)
export const [identify, track, group, page, alias, identifyAnonymous, updateUser, updateGroup, reset, setStreaming, setPageTrackingDisabled] = DATA.map(to);
export const on = to('on');
export const off = to('off');
export const flush = () => (core ? core.flush() : promised(queue, 'flush', []));
export const isIdentified = get('isIdentified', false);
export const user = get('user', null);
export const loadContent = toContent('contentLoad', 1, 1);
export const start = toContent('contentStart', 1, 1);
export const endAll = toContent('contentEndAll');
export const endChecklist = toContent('contentEndChecklist');
export const setCustomNavigate = toContent('contentNavigate');
export const setBaseZIndex = toContent('contentZIndex');
