// The JS half of a wasm module's boundary without wasm-bindgen (src/web/abi.rs
// explains it: numbers and strings only, page values held here by number). Both
// modules' glue (js/core.js, js/content.js) import it and `provide` their own
// imports; each glue is bundled with its own copy, so each module has its own
// state (scripts/build-pkg.sh).

import { codedError, objectToJson, warn } from './glue.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ascii = /^[\0-\x7f]*$/;

/// What `v` is, as `Kind` in src/web/abi.rs numbers it.
const kind = (v) => {
  if (v === undefined) return 0;
  if (v === null) return 1;
  const k = ['string', 'number', 'boolean', 'function', 'object'].indexOf(typeof v);
  return k < 0 ? 7 : k + 2;
};

let wasm;
let imports;
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
export const bytes = (p, n) => memory().subarray(p >>> 0, (p >>> 0) + (n >>> 0));
export const str = (p, n) => decoder.decode(bytes(p, n));
/// Stages `s` for the module (its byte length), or -1 when it is not a string.
/// ASCII text (nearly all of it: JSON, URLs, ids) is staged as it is and copied
/// in by `take` character by character; other text is encoded once here. (A
/// TextEncoder.encode per string was 15% of track()'s time, measured.)
export const stage = (s) => {
  if (typeof s != 'string') return -1;
  staged = ascii.test(s) ? s : encoder.encode(s);
  return staged.length;
};
/// Holds `v` for the module; its number.
export const hold = (v) => {
  held.set(++lastHeld, v);
  return lastHeld;
};
/// The value held under `h`, released.
export const unhold = (h) => {
  const v = held.get(h);
  held.delete(h);
  return v;
};
/// The value held under `h`.
export const get = (h) => held.get(h);
/// Argument `i` of the API call under way.
export const arg = (i) => args[i];
/// The module's exports (once it is instantiated).
export const exports = () => wasm;

// Writes the text `s` into the module's 32-byte buffer at `p` (staged and
// copied as `take` does) when it fits; its byte length.
const put = (s, p) => {
  const n = stage(s);
  if (n <= 32) common.take(p);
  return n;
};

// The imports both modules use.
const common = {
  take: (p) => {
    p >>>= 0;
    const m = memory();
    if (typeof staged != 'string') m.set(staged, p);
    else for (let i = 0; i < staged.length; i++) m[p + i] = staged.charCodeAt(i);
  },
  now: Date.now,
  // The conversions the core takes from the platform (src/core/platform.rs).
  num_text: (n, p) => put(String(n), p),
  num_value: (p, n) => Number(str(p, n)),
  iso_text: (ms, p) => put(new Date(ms).toISOString(), p),
  warn: (p, n) => warn(str(p, n)),
  arg_kind: (i) => kind(args[i]),
  arg_str: (i) => stage(args[i]),
  arg_num: (i) => args[i],
  arg_truthy: (i) => !!args[i],
  arg_json: (i, p, n, depth) => {
    try { return stage(objectToJson(args[i], str(p, n), depth)); } catch (e) { err = e; failed = true; return -1; }
  },
  // A key that Object.prototype has is read only as an own property: a
  // polluted Object.prototype must not become options (a Proxy, or a class's
  // prototype, is read as usual). -1 when reading throws (null, a getter).
  arg_get: (i, p, n, k) => {
    try { k = str(p, n); return args.push(k in Object.prototype && !Object.hasOwn(args[i], k) ? undefined : args[i][k]) - 1; } catch (_) { return -1; }
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
  ret: (h) => { out = unhold(h); },
  fail: (h) => {
    err = unhold(h);
    failed = true;
  },
};

/// The module's imports: the common ones and `own`, the module's own. Once per
/// bundle: the state above is one module's (each glue is bundled with its own
/// copy of this file, scripts/build-pkg.sh).
///
/// Each is guarded: an exception (from a page function it calls that the page
/// patched: a timer, `JSON.parse`, `Map.prototype.set`...) is logged and the
/// import answers -1 ("none" for a string, no held value), so it never unwinds
/// through the module's frames, which would leave its state borrowed for good.
export function provide(own) {
  const all = { ...common, ...own };
  for (const name in all) {
    const f = all[name];
    all[name] = (...a) => {
      try {
        return f(...a);
      } catch (err) {
        warn('segflow:', err);
        return -1;
      }
    };
  }
  imports = { s: all };
}

/// The API function `name`, carried to the module's API export `entry` with its
/// arguments (src/web/entry.rs). A call made from inside another (page code the
/// module runs) keeps the outer call's arguments and result apart.
export const call = (entry, name) => (...a) => {
  const outer = [args, out, err, failed];
  // Arguments 0 to 2 are the call's own; properties read off them come after.
  args = [a[0], a[1], a[2]];
  out = err = undefined;
  failed = false;
  try {
    wasm[entry](stage(name));
    if (failed) throw err;
    return out;
  } finally {
    [args, out, err, failed] = outer;
  }
};

const compiled = (module) => (module instanceof WebAssembly.Module ? module : new WebAssembly.Module(module));

/// Instantiates the module from `module` (its bytes or a compiled module), once.
export function initSync({ module }) {
  if (!wasm) wasm = new WebAssembly.Instance(compiled(module), imports).exports;
}

/// Instantiates the module, once, from `source`: a `fetch` Response or a Promise
/// of one, a URL, the module's bytes or a compiled module. It compiles while the
/// file downloads when the server sends it as exactly `application/wasm` (what
/// streaming compilation requires), else from the whole file.
export async function instantiate(source) {
  if (wasm) return;
  let res = await source;
  if (res instanceof WebAssembly.Module || res instanceof ArrayBuffer || ArrayBuffer.isView(res)) {
    initSync({ module: res });
    return;
  }
  if (typeof res == 'string' || res instanceof URL) res = await fetch(res);
  if (!res.ok) throw new Error(`${res.url} answered ${res.status}`);
  const result = typeof WebAssembly.instantiateStreaming == 'function' && res.headers.get('Content-Type') === 'application/wasm'
    ? await WebAssembly.instantiateStreaming(res, imports)
    : await WebAssembly.instantiate(await res.arrayBuffer(), imports);
  if (!wasm) wasm = result.instance.exports;
}
