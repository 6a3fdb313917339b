//! Both modules' boundary with JavaScript, without wasm-bindgen: plain wasm
//! imports of numbers and `(pointer, length)` pairs, answered by `js/boundary.js`
//! and each module's own glue (`js/core.js`, `js/content.js`), which instantiates
//! the module itself. An import a module does not use is not in its wasm.
//!
//! Why not wasm-bindgen: the core module crosses the boundary through few, simple
//! functions (strings in and out, a handful of page values held by number), and
//! wasm-bindgen's runtime, export shims, externref table and generated glue cost
//! 6.3 KB of what the page loads first (wasm and JS, gzipped: 64.2 KB then 57.9 KB),
//! measured when this replaced them. The content module's DOM calls are plain
//! imports too (`content::dom`), for the same reason.
//!
//! The conventions, all answered by `js/boundary.js`:
//! - **Strings to JS** go as a pointer and a byte length into this module's memory
//!   (always valid UTF-8: they are `&str`).
//! - **Strings from JS** are *staged*: the import encodes the string with
//!   `TextEncoder` and returns its byte length (or -1 for none); [`taken`] then
//!   allocates that many bytes and has JS copy them in (`take`). `TextEncoder`
//!   always writes valid UTF-8 (a lone surrogate becomes U+FFFD), which is what
//!   makes [`taken`]'s unchecked conversion sound.
//! - **The arguments of the current API call** are read by index (`arg_*`):
//!   0, 1, 2 are the call's own; [`Arg::get`] reads a property of one into a new
//!   index, valid until the call returns.
//! - **Page values kept longer** (listeners, the URL filter, the content hook,
//!   payloads and errors on their way to page code) are *held* by JS under a
//!   number ([`Held`]) until released.
//! - **A call's result and error**: [`ret`] and [`fail`] give the held value the
//!   current call returns or throws.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::error::Error;

/// The imports, as the glue provides them under the module name `s` (one
/// letter: the name is repeated for every import in the wasm).
mod js {
    #[link(wasm_import_module = "s")]
    extern "C" {
        pub fn take(to: *mut u8);
        pub fn now() -> f64;
        pub fn random(to: *mut u8, len: usize);
        pub fn warn(p: *const u8, n: usize);
        pub fn href() -> i32;
        pub fn page_facts() -> i32;
        pub fn page() -> i32;
        pub fn canonical() -> i32;
        pub fn browser() -> i32;
        pub fn ua_data() -> i32;
        pub fn time_zone() -> i32;
        pub fn store_get(area: u32, kp: *const u8, kn: usize) -> i32;
        pub fn store_set(area: u32, kp: *const u8, kn: usize, vp: *const u8, vn: usize) -> u32;
        pub fn store_remove(area: u32, kp: *const u8, kn: usize);
        pub fn store_keys(pp: *const u8, pn: usize) -> i32;
        pub fn cookie_get() -> i32;
        pub fn cookie_set(p: *const u8, n: usize);
        pub fn base64(p: *const u8, n: usize) -> i32;
        pub fn post(
            id: f64,
            up: *const u8,
            un: usize,
            bp: *const u8,
            bn: usize,
            ap: *const u8,
            an: i32,
            keepalive: u32,
        );
        pub fn abort(id: f64);
        pub fn set_timer(delay_ms: f64);
        pub fn microtask(kind: u32);
        pub fn with_lock(p: *const u8, n: usize, kind: u32);
        pub fn watch_page(heartbeat_ms: f64);
        pub fn apply_filter(f: u32, p: *const u8, n: usize) -> i32;
        pub fn claim_kept(api: u32, names: u32, p: *const u8, n: usize);
        pub fn listen(plugin: u32, registered: u32);
        pub fn reset_analytics(plugin: u32);
        pub fn arg_kind(i: u32) -> u32;
        pub fn arg_str(i: u32) -> i32;
        pub fn arg_num(i: u32) -> f64;
        pub fn arg_truthy(i: u32) -> u32;
        pub fn arg_json(i: u32, np: *const u8, nn: usize, depth: u32) -> i32;
        pub fn arg_get(i: u32, kp: *const u8, kn: usize) -> i32;
        pub fn hold_arg(i: u32) -> u32;
        pub fn hold_json(p: *const u8, n: usize) -> u32;
        pub fn hold_str(p: *const u8, n: usize) -> u32;
        pub fn hold_error(
            cp: *const u8,
            cn: usize,
            mp: *const u8,
            mn: usize,
            ep: *const u8,
            en: usize,
        ) -> u32;
        pub fn release(h: u32);
        pub fn same(i: u32, h: u32) -> u32;
        pub fn held_str(h: u32) -> i32;
        pub fn dup(h: u32) -> u32;
        pub fn invoke(f: u32, v: u32, callback: u32);
        pub fn waiter(id: f64) -> u32;
        pub fn settle(id: f64, v: u32);
        pub fn ret(v: u32);
        pub fn fail(v: u32);
    }
}

/// The staged string of `len` bytes (see the module docs), or `None` for -1.
pub fn taken(len: i32) -> Option<String> {
    let len = usize::try_from(len).ok()?;
    let mut bytes: Vec<u8> = Vec::with_capacity(len);
    // SAFETY: `take` copies exactly the `len` staged bytes into the buffer, which
    // has room for them; they are UTF-8 from `TextEncoder` (see the module docs).
    unsafe {
        js::take(bytes.as_mut_ptr());
        bytes.set_len(len);
        Some(String::from_utf8_unchecked(bytes))
    }
}

/// A core rule on the byte length of a string the page passes (such as
/// `message::check_arg`), asked before the string is copied in: the module's
/// memory grows to hold what it takes in and never shrinks.
pub type Limit = fn(usize) -> Result<(), Error>;

/// The staged string of `len` bytes (`None` for -1), or the error `limit` gives
/// for that length, without copying it in.
fn taken_within(len: i32, limit: Limit) -> Result<Option<String>, Fail> {
    if let Ok(n) = usize::try_from(len) {
        limit(n)?;
    }
    Ok(taken(len))
}

fn text(len: i32) -> String {
    taken(len).unwrap_or_default()
}

/// A page value JS holds for this module (see the module docs): released when
/// dropped, so each is released exactly once.
#[derive(PartialEq, Eq)]
pub struct Held(u32);

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY (all imports here): plain numbers and pointers into live strings.
        unsafe { js::release(self.0) }
    }
}

impl Held {
    /// Takes over the page value JS holds under `h` (0: none).
    pub fn from_raw(h: u32) -> Option<Held> {
        (h != 0).then_some(Held(h))
    }

    /// The number JS holds it under (for the imports that take one).
    pub fn raw(&self) -> u32 {
        self.0
    }

    /// Hands it to JS for good (JS releases it), as its number.
    pub fn into_raw(self) -> u32 {
        let h = self.0;
        core::mem::forget(self);
        h
    }

    /// Another hold of the same value, released on its own.
    pub fn dup(&self) -> Held {
        Held(unsafe { js::dup(self.0) })
    }

    /// Its text, when it is a string.
    pub fn text(&self) -> Option<String> {
        taken(unsafe { js::held_str(self.0) })
    }

    /// `JSON.parse(text)` (the core writes only valid JSON).
    pub fn json(text: &str) -> Held {
        Held(unsafe { js::hold_json(text.as_ptr(), text.len()) })
    }

    /// The string `text`.
    pub fn str(text: &str) -> Held {
        Held(unsafe { js::hold_str(text.as_ptr(), text.len()) })
    }

    /// A JS `Error` with `e`'s message and its `code`, and with the fields of
    /// the JSON object `extra`, when not empty.
    pub fn error(e: &Error, extra: &str) -> Held {
        let code = e.code.as_str();
        let m = &e.message;
        Held(unsafe {
            js::hold_error(
                code.as_ptr(),
                code.len(),
                m.as_ptr(),
                m.len(),
                extra.as_ptr(),
                extra.len(),
            )
        })
    }

    /// The `flush()` promise that [`settle`] resolves.
    pub fn waiter(id: u64) -> Held {
        Held(unsafe { js::waiter(id as f64) })
    }

    /// Signs out the analytics.js that loaded the held plugin (the loader's
    /// `analyticsPlugin()`), if one did: its `reset()`. A throw is logged.
    pub fn reset_analytics(&self) {
        unsafe { js::reset_analytics(self.0) }
    }

    /// Calls the held function with `value`; a throw is logged (as a listener's,
    /// or with `callback`, as a callback's) and goes no further.
    pub fn invoke(&self, value: &Held, callback: bool) {
        unsafe { js::invoke(self.0, value.0, callback as u32) }
    }

    /// The held URL filter applied to `url` (see `applyFilter` in `js/core.js`).
    pub fn filter(&self, url: &str) -> String {
        text(unsafe { js::apply_filter(self.0, url.as_ptr(), url.len()) })
    }
}

/// What a value the page passed is, as far as the API cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// A string.
    Str,
    /// A number.
    Num,
    /// A boolean.
    Bool,
    /// A function.
    Function,
    /// An object (arrays included), not a function.
    Object,
    /// A BigInt or a Symbol.
    Other,
}

/// One argument of the current API call, or a property read off one (see the
/// module docs).
#[derive(Clone, Copy)]
pub struct Arg(pub u32);

impl Arg {
    /// What it is.
    pub fn kind(self) -> Kind {
        match unsafe { js::arg_kind(self.0) } {
            0 => Kind::Undefined,
            1 => Kind::Null,
            2 => Kind::Str,
            3 => Kind::Num,
            4 => Kind::Bool,
            5 => Kind::Function,
            6 => Kind::Object,
            _ => Kind::Other,
        }
    }

    /// `undefined` or `null`.
    pub fn is_none(self) -> bool {
        matches!(self.kind(), Kind::Undefined | Kind::Null)
    }

    /// Its text, when it is a string.
    pub fn string(self) -> Option<String> {
        taken(unsafe { js::arg_str(self.0) })
    }

    /// Its text, when it is a string whose length `limit` allows (else the
    /// error it gives, and the text is not copied in).
    pub fn text(self, limit: Limit) -> Result<Option<String>, Fail> {
        taken_within(unsafe { js::arg_str(self.0) }, limit)
    }

    /// Its value, when it is a number.
    pub fn number(self) -> Option<f64> {
        (self.kind() == Kind::Num).then(|| unsafe { js::arg_num(self.0) })
    }

    /// Whether JS counts it as true.
    pub fn truthy(self) -> bool {
        unsafe { js::arg_truthy(self.0) == 1 }
    }

    /// `value[key]` (`undefined` when `Object.prototype` has `key` and `value`
    /// has it not as its own: a polluted prototype is not read), or `None` when
    /// reading it threw (a throwing getter, or a value that has no properties).
    pub fn get(self, key: &str) -> Option<Arg> {
        let i = unsafe { js::arg_get(self.0, key.as_ptr(), key.len()) };
        u32::try_from(i).ok().map(Arg)
    }

    /// JSON text of it as an object (`objectToJson` in `js/glue.js`: `{}` for
    /// `undefined` and `null`), at most `depth` deep, or [`Fail::Thrown`] with
    /// the `invalid_argument` error that function threw, which the call then
    /// throws; JSON text whose length `limit` refuses is not copied in, and
    /// fails with its error.
    pub fn json(self, name: &str, depth: u32, limit: Limit) -> Result<String, Fail> {
        taken_within(
            unsafe { js::arg_json(self.0, name.as_ptr(), name.len(), depth) },
            limit,
        )?
        .ok_or(Fail::Thrown)
    }

    /// Holds it beyond the current call.
    pub fn hold(self) -> Held {
        Held(unsafe { js::hold_arg(self.0) })
    }

    /// Whether it is the very value `held` holds (`Object.is`).
    pub fn is(self, held: &Held) -> bool {
        unsafe { js::same(self.0, held.0) == 1 }
    }

    /// Hands it and `other` to `claimKept` in `js/core.js` with `write_key`.
    pub fn claim_kept(self, names: Arg, write_key: &str) {
        unsafe { js::claim_kept(self.0, names.0, write_key.as_ptr(), write_key.len()) }
    }

    /// Hands it (the loader's plugin) and `registered` to `listenToAnalytics` in
    /// `js/core.js`.
    pub fn listen(self, registered: Arg) {
        unsafe { js::listen(self.0, registered.0) }
    }
}

/// Why an API call failed: a core error (thrown as a JS `Error` with its code),
/// or an error JS already holds for the call to throw (see [`Arg::json`]).
#[derive(Debug)]
pub enum Fail {
    /// A core error.
    Core(Error),
    /// The error `js/core.js` holds for the current call.
    Thrown,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Core(e)
    }
}

/// The current call returns `value`.
pub fn ret(value: Held) {
    unsafe { js::ret(value.0) };
    core::mem::forget(value); // `ret` took it
}

/// The current call throws `fail`.
pub fn fail(fail: Fail) {
    if let Fail::Core(e) = fail {
        let h = Held::error(&e, "");
        unsafe { js::fail(h.0) };
        core::mem::forget(h); // `fail` took it
    }
}

/// Resolves `flush()` promise `id` with `value`.
pub fn settle(id: u64, value: &Held) {
    unsafe { js::settle(id as f64, value.0) }
}

/// Epoch milliseconds from the page's clock.
pub fn now_ms() -> u64 {
    unsafe { js::now() as u64 }
}

/// Fills `bytes` from `crypto.getRandomValues`.
pub fn fill_random(bytes: &mut [u8]) {
    unsafe { js::random(bytes.as_mut_ptr(), bytes.len()) }
}

/// `console.warn(message)`.
pub fn warn(message: &str) {
    unsafe { js::warn(message.as_ptr(), message.len()) }
}

/// `location.href` ('' where there is none).
pub fn href() -> String {
    text(unsafe { js::href() })
}

/// `navigator.language`, `innerWidth` and `innerHeight`, one per line.
pub fn page_facts() -> String {
    text(unsafe { js::page_facts() })
}

/// `document.URL`, referrer and title, NUL-separated.
pub fn page_now() -> String {
    text(unsafe { js::page() })
}

/// The canonical link's absolute URL, or ''.
pub fn canonical() -> String {
    text(unsafe { js::canonical() })
}

/// The browser's facts at start, as a JSON array of strings (see `browser` in
/// `js/core.js`).
pub fn browser() -> String {
    text(unsafe { js::browser() })
}

/// `navigator.userAgentData` as JSON text, when there is one.
pub fn user_agent_data_json() -> Option<String> {
    taken(unsafe { js::ua_data() })
}

/// The IANA time zone name, when known.
pub fn time_zone() -> Option<String> {
    taken(unsafe { js::time_zone() })
}

/// The value under `key` in localStorage (area 0) or sessionStorage (area 1).
pub fn store_get(area: u32, key: &str) -> Option<String> {
    taken(unsafe { js::store_get(area, key.as_ptr(), key.len()) })
}

/// Stores `value` under `key`; false if the browser refused.
pub fn store_set(area: u32, key: &str, value: &str) -> bool {
    unsafe { js::store_set(area, key.as_ptr(), key.len(), value.as_ptr(), value.len()) == 1 }
}

/// Removes `key`.
pub fn store_remove(area: u32, key: &str) {
    unsafe { js::store_remove(area, key.as_ptr(), key.len()) }
}

/// localStorage's keys that start with `prefix`, as a JSON array.
pub fn store_keys(prefix: &str) -> String {
    text(unsafe { js::store_keys(prefix.as_ptr(), prefix.len()) })
}

/// `document.cookie`.
pub fn cookie_get() -> String {
    text(unsafe { js::cookie_get() })
}

/// Sets one cookie (`document.cookie = assignment`).
pub fn cookie_set(assignment: &str) {
    unsafe { js::cookie_set(assignment.as_ptr(), assignment.len()) }
}

/// `btoa(text)`, or `None` when `text` is not Latin-1.
pub fn base64(text: &str) -> Option<String> {
    taken(unsafe { js::base64(text.as_ptr(), text.len()) })
}

/// POSTs `body` to `url` as request `id` (see `post` in `js/core.js`).
pub fn post(id: u64, url: &str, body: &str, auth: Option<&str>, keepalive: bool) {
    let (ap, an) = auth.map_or((core::ptr::null(), -1), |a| (a.as_ptr(), a.len() as i32));
    unsafe {
        js::post(
            id as f64,
            url.as_ptr(),
            url.len(),
            body.as_ptr(),
            body.len(),
            ap,
            an,
            keepalive as u32,
        )
    }
}

/// Aborts request `id` if it is still in flight.
pub fn abort_request(id: u64) {
    unsafe { js::abort(id as f64) }
}

/// Arms the one timer for `delay_ms` (-1 clears it).
pub fn set_timer(delay_ms: f64) {
    unsafe { js::set_timer(delay_ms) }
}

/// `wake(kind)` in a microtask.
pub fn microtask(kind: u32) {
    unsafe { js::microtask(kind) }
}

/// `wake(kind, acquired)` once, holding the cross-tab lock `name` or not.
pub fn with_lock(name: &str, kind: u32) {
    unsafe { js::with_lock(name.as_ptr(), name.len(), kind) }
}

/// Starts watching the page (see `watchPage` in `js/core.js`).
pub fn watch_page(heartbeat_ms: f64) {
    unsafe { js::watch_page(heartbeat_ms) }
}
