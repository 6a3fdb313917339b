//! The content module's way to the page: plain wasm imports (as the core
//! module's, see [`abi`](crate::web::abi)) answered by `js/content.js`. Page
//! values (elements, the shadow roots, events, the core's API object, promises)
//! are [`Held`] by JS under a number and released when the `Held` drops; 0
//! stands for none (`null`).
//!
//! Why not web-sys: its bindings, wasm-bindgen's runtime, export shims and
//! externref table, and the generated glue cost 7.9 KB of the content module
//! (wasm and JS, gzipped: 90.3 KB then 82.4 KB), measured when this replaced
//! them. Each import here
//! is one small DOM operation; what to do with it stays in Rust.
//!
//! Every import catches what the page may throw (an invalid selector, a
//! detached element, a sandboxed API) and answers as if there was nothing.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::abi::{taken, Held};

/// The imports, under the module name `s` (see `js/content.js`).
mod js {
    #[link(wasm_import_module = "s")]
    extern "C" {
        pub fn global(which: u32) -> u32;
        pub fn listen(target: u32, tp: *const u8, tn: usize, kind: u32, capture: u32);
        pub fn timeout(kind: u32, id: f64, ms: f64) -> i32;
        pub fn cancel(handle: i32);
        pub fn observe_mutations(kind: u32);
        pub fn observe_size(el: u32, kind: u32) -> u32;
        pub fn unobserve_size(h: u32);
        pub fn fetch_text(up: *const u8, un: usize, kind: u32) -> u32;
        pub fn fetch_state(up: *const u8, un: usize, sp: *const u8, sn: usize, kind: u32, id: f64);
        pub fn query(sp: *const u8, sn: usize, visible: u32) -> u32;
        pub fn reveal(el: u32);
        pub fn resolve_url(p: *const u8, n: usize) -> i32;
        pub fn shadow(tp: *const u8, tn: usize, cp: *const u8, cn: usize) -> u32;
        pub fn root_host(root: u32) -> u32;
        pub fn is_open(root: u32) -> u32;
        pub fn create(tp: *const u8, tn: usize, cp: *const u8, cn: usize) -> u32;
        pub fn add_text(parent: u32, p: *const u8, n: usize);
        pub fn set_text(el: u32, p: *const u8, n: usize);
        pub fn attr(el: u32, np: *const u8, nn: usize, vp: *const u8, vn: i32);
        pub fn get_attr(el: u32, np: *const u8, nn: usize) -> i32;
        pub fn style(el: u32, np: *const u8, nn: usize, vp: *const u8, vn: i32);
        pub fn class_has(el: u32, np: *const u8, nn: usize) -> u32;
        pub fn class_set(el: u32, np: *const u8, nn: usize, on: u32);
        pub fn append(parent: u32, child: u32, first: u32);
        pub fn remove(el: u32);
        pub fn connected(el: u32) -> u32;
        pub fn rendered(el: u32) -> u32;
        pub fn rtl(el: u32) -> u32;
        pub fn rect(el: u32, out: *mut f64);
        pub fn viewport(out: *mut f64);
        pub fn find(el: u32, sp: *const u8, sn: usize, last: u32) -> u32;
        pub fn children(el: u32) -> u32;
        pub fn child(el: u32, i: u32) -> u32;
        pub fn tag(el: u32) -> i32;
        pub fn contains(a: u32, b: u32) -> u32;
        pub fn is_same(a: u32, b: u32) -> u32;
        pub fn root_is(el: u32, root: u32) -> u32;
        pub fn active(root: u32) -> u32;
        pub fn focus(el: u32);
        pub fn closest(el: u32, sp: *const u8, sn: usize) -> u32;
        pub fn ev_first(ev: u32) -> u32;
        pub fn ev_in_path(ev: u32, h: u32) -> u32;
        pub fn ev_key(ev: u32, code: u32) -> i32;
        pub fn ev_mods(ev: u32) -> u32;
        pub fn ev_prevent(ev: u32, stop: u32);
        pub fn assign(p: *const u8, n: usize);
        pub fn host(
            api: u32,
            np: *const u8,
            nn: usize,
            ap: *const u8,
            an: i32,
            bp: *const u8,
            bn: i32,
            cp: *const u8,
            cn: i32,
        ) -> i32;
        pub fn report(api: u32, error: u32);
    }
}

// SAFETY (every `unsafe` below): the imports take plain numbers and pointers
// into live strings or buffers of this module, and keep none of them.

fn opt(s: Option<&str>) -> (*const u8, i32) {
    s.map_or((core::ptr::null(), -1), |s| (s.as_ptr(), s.len() as i32))
}

/// The document (`which` 0), the window (1) or `<body>` (2), when there is one.
fn global(which: u32) -> Option<Held> {
    Held::from_raw(unsafe { js::global(which) })
}

/// The document.
pub fn document() -> Option<Held> {
    global(0)
}

/// The window.
pub fn window() -> Option<Held> {
    global(1)
}

/// `<body>`.
pub fn body() -> Option<Held> {
    global(2)
}

/// `target.addEventListener(kind_name, …, capture)`, calling the module's wake
/// with `kind` and the event.
pub fn listen(target: &Held, name: &str, kind: u32, capture: bool) {
    unsafe {
        js::listen(
            target.raw(),
            name.as_ptr(),
            name.len(),
            kind,
            capture as u32,
        )
    }
}

/// Wake `kind` with `id` in `ms` ms (at most 2^31 - 1: a longer delay would make
/// `setTimeout` fire at once); the handle, `js/content.js`'s own number for the
/// timer (not what the page's `setTimeout` answered), is for [`cancel`].
pub fn timeout(kind: u32, id: f64, ms: u64) -> i32 {
    unsafe { js::timeout(kind, id, ms.min(i32::MAX as u64) as f64) }
}

/// Clears the timer `handle` if it is still pending (nothing once it fired).
pub fn cancel(handle: i32) {
    unsafe { js::cancel(handle) }
}

pub use crate::web::abi::microtask;

/// Wake `kind` after DOM changes (see `observeMutations` in `js/content.js`).
pub fn observe_mutations(kind: u32) {
    unsafe { js::observe_mutations(kind) }
}

/// Wake `kind` whenever `el` changes size; the observer, where there is one.
pub fn observe_size(el: &Held, kind: u32) -> Option<Held> {
    Held::from_raw(unsafe { js::observe_size(el.raw(), kind) })
}

/// Stops an [`observe_size`] observer.
pub fn unobserve_size(observer: &Held) {
    unsafe { js::unobserve_size(observer.raw()) }
}

/// GETs `url`; its text comes to wake `kind`. The promise `loadContent` returns.
pub fn fetch_text(url: &str, kind: u32) -> Option<Held> {
    Held::from_raw(unsafe { js::fetch_text(url.as_ptr(), url.len(), kind) })
}

/// GETs the user's server-side state (see `fetchState` in `js/content.js`).
pub fn fetch_state(url: &str, signature: &str, kind: u32, id: f64) {
    unsafe {
        js::fetch_state(
            url.as_ptr(),
            url.len(),
            signature.as_ptr(),
            signature.len(),
            kind,
            id,
        )
    }
}

/// The first element matching `selector` (none for an invalid selector).
pub fn query(selector: &str) -> Option<Held> {
    Held::from_raw(unsafe { js::query(selector.as_ptr(), selector.len(), 0) })
}

/// The first element matching `selector` that is rendered (has a box).
pub fn query_visible(selector: &str) -> Option<Held> {
    Held::from_raw(unsafe { js::query(selector.as_ptr(), selector.len(), 1) })
}

/// Scrolls `el` into view when it is not fully visible.
pub fn reveal(el: &Held) {
    unsafe { js::reveal(el.raw()) }
}

/// `url` resolved against the page (see `resolveUrl` in `js/content.js`).
pub fn resolve_url(url: &str) -> Option<String> {
    taken(unsafe { js::resolve_url(url.as_ptr(), url.len()) })
}

/// A `<tag>` element (not in the page) with a shadow root styled by `css` (see
/// `shadow` in `js/content.js`), that root, and whether it is open: a page may
/// force every root closed, and then an event listener outside the root (on the
/// document, on the host) sees the host as the event's target, never what is
/// inside; listen on the root itself for those.
pub fn shadow_host(tag: &str, css: &str) -> Option<(Held, Held, bool)> {
    let root =
        Held::from_raw(unsafe { js::shadow(tag.as_ptr(), tag.len(), css.as_ptr(), css.len()) })?;
    let host = Held::from_raw(unsafe { js::root_host(root.raw()) })?;
    let open = unsafe { js::is_open(root.raw()) } == 1;
    Some((host, root, open))
}

/// A new `<tag>` element with the class attribute `class` (none when empty).
pub fn create(tag: &str, class: &str) -> Option<Held> {
    Held::from_raw(unsafe { js::create(tag.as_ptr(), tag.len(), class.as_ptr(), class.len()) })
}

/// Where a node is: a `Held` element, shadow root or document.
impl Held {
    /// Appends a text node of `s`.
    pub fn add_text(&self, s: &str) {
        unsafe { js::add_text(self.raw(), s.as_ptr(), s.len()) }
    }

    /// Replaces its content with the text `s` ('' empties it).
    pub fn set_text(&self, s: &str) {
        unsafe { js::set_text(self.raw(), s.as_ptr(), s.len()) }
    }

    /// Sets attribute `name` to `value`.
    pub fn set_attr(&self, name: &str, value: &str) {
        self.attr(name, Some(value))
    }

    /// Sets attribute `name` to `value`, or removes it (`None`).
    pub fn attr(&self, name: &str, value: Option<&str>) {
        let (vp, vn) = opt(value);
        unsafe { js::attr(self.raw(), name.as_ptr(), name.len(), vp, vn) }
    }

    /// Attribute `name`, when it has it.
    pub fn get_attr(&self, name: &str) -> Option<String> {
        taken(unsafe { js::get_attr(self.raw(), name.as_ptr(), name.len()) })
    }

    /// Sets style property `name` to `value`, or removes it (`None`).
    pub fn style(&self, name: &str, value: Option<&str>) {
        let (vp, vn) = opt(value);
        unsafe { js::style(self.raw(), name.as_ptr(), name.len(), vp, vn) }
    }

    /// Whether its class list has `name`.
    pub fn has_class(&self, name: &str) -> bool {
        unsafe { js::class_has(self.raw(), name.as_ptr(), name.len()) == 1 }
    }

    /// Adds (`on`) or removes class `name`.
    pub fn set_class(&self, name: &str, on: bool) {
        unsafe { js::class_set(self.raw(), name.as_ptr(), name.len(), on as u32) }
    }

    /// Appends `child`.
    pub fn append(&self, child: &Held) {
        unsafe { js::append(self.raw(), child.raw(), 0) }
    }

    /// Inserts `child` as its first child.
    pub fn prepend(&self, child: &Held) {
        unsafe { js::append(self.raw(), child.raw(), 1) }
    }

    /// Takes it out of the page.
    pub fn remove(&self) {
        unsafe { js::remove(self.raw()) }
    }

    /// Whether it is in the page.
    pub fn connected(&self) -> bool {
        unsafe { js::connected(self.raw()) == 1 }
    }

    /// Whether it is rendered (has a box: in the page, not `display: none`).
    pub fn rendered(&self) -> bool {
        unsafe { js::rendered(self.raw()) == 1 }
    }

    /// Whether it is laid out right to left (its computed `direction`).
    pub fn rtl(&self) -> bool {
        unsafe { js::rtl(self.raw()) == 1 }
    }

    /// Its bounding rectangle in viewport coordinates: x, y, width, height.
    pub fn rect(&self) -> [f64; 4] {
        let mut r = [0.0; 4];
        unsafe { js::rect(self.raw(), r.as_mut_ptr()) };
        r
    }

    /// The first element inside it matching `selector` (`last`: the last one).
    pub fn find(&self, selector: &str, last: bool) -> Option<Held> {
        Held::from_raw(unsafe {
            js::find(self.raw(), selector.as_ptr(), selector.len(), last as u32)
        })
    }

    /// How many element children it has.
    pub fn children(&self) -> u32 {
        unsafe { js::children(self.raw()) }
    }

    /// Its element child `i`.
    pub fn child(&self, i: u32) -> Option<Held> {
        Held::from_raw(unsafe { js::child(self.raw(), i) })
    }

    /// Its tag name, lower case.
    pub fn tag(&self) -> String {
        taken(unsafe { js::tag(self.raw()) }).unwrap_or_default()
    }

    /// Whether `other` is it or inside it.
    pub fn contains(&self, other: &Held) -> bool {
        unsafe { js::contains(self.raw(), other.raw()) == 1 }
    }

    /// Whether it is the very node `other` holds.
    pub fn same(&self, other: &Held) -> bool {
        unsafe { js::is_same(self.raw(), other.raw()) == 1 }
    }

    /// Whether its root node is `root` (it is inside that shadow root).
    pub fn in_root(&self, root: &Held) -> bool {
        unsafe { js::root_is(self.raw(), root.raw()) == 1 }
    }

    /// The focused element of this shadow root or document.
    pub fn active(&self) -> Option<Held> {
        Held::from_raw(unsafe { js::active(self.raw()) })
    }

    /// Focuses it (page focus handlers run at once).
    pub fn focus(&self) {
        unsafe { js::focus(self.raw()) }
    }

    /// It or its closest ancestor matching `selector`.
    pub fn closest(&self, selector: &str) -> Option<Held> {
        Held::from_raw(unsafe { js::closest(self.raw(), selector.as_ptr(), selector.len()) })
    }

    /// An event's first target in its composed path, when it is an element.
    pub fn event_target(&self) -> Option<Held> {
        Held::from_raw(unsafe { js::ev_first(self.raw()) })
    }

    /// Whether an event's composed path passes through `node`.
    pub fn event_passes(&self, node: &Held) -> bool {
        unsafe { js::ev_in_path(self.raw(), node.raw()) == 1 }
    }

    /// A keyboard event's `key` (or with `code`, its `code`).
    pub fn event_key(&self, code: bool) -> String {
        taken(unsafe { js::ev_key(self.raw(), code as u32) }).unwrap_or_default()
    }

    /// A keyboard event's modifier keys.
    pub fn event_mods(&self) -> Mods {
        let m = unsafe { js::ev_mods(self.raw()) };
        Mods {
            alt: m & 1 != 0,
            shift: m & 2 != 0,
            ctrl: m & 4 != 0,
            meta: m & 8 != 0,
        }
    }

    /// `preventDefault()`, and with `stop`, `stopPropagation()`.
    pub fn prevent(&self, stop: bool) {
        unsafe { js::ev_prevent(self.raw(), stop as u32) }
    }
}

/// A keyboard event's modifier keys.
pub struct Mods {
    /// Alt (Option).
    pub alt: bool,
    /// Shift.
    pub shift: bool,
    /// Control.
    pub ctrl: bool,
    /// Meta (Command, Windows).
    pub meta: bool,
}

/// `innerWidth` and `innerHeight`.
pub fn viewport() -> (f64, f64) {
    let mut r = [0.0; 2];
    unsafe { js::viewport(r.as_mut_ptr()) };
    (r[0], r[1])
}

/// Calls `name` of the host object JS holds under `api` (the core module's API)
/// with up to three string arguments (`None`: null); its result when it is a
/// string.
pub fn host(
    api: u32,
    name: &str,
    a: Option<&str>,
    b: Option<&str>,
    c: Option<&str>,
) -> Option<String> {
    let ((ap, an), (bp, bn), (cp, cn)) = (opt(a), opt(b), opt(c));
    taken(unsafe { js::host(api, name.as_ptr(), name.len(), ap, an, bp, bn, cp, cn) })
}

/// Calls the core API object `api`'s `__report(error)` (a throw is ignored).
pub fn report(api: u32, error: &Held) {
    unsafe { js::report(api, error.raw()) }
}

/// `location.assign(url)`.
pub fn assign(url: &str) {
    unsafe { js::assign(url.as_ptr(), url.len()) }
}
