//! The content module's way to the core module, and its batches.
//!
//! The core's functions arrive at `contentInit` as the core module's API object
//! (`api` in `js/core.js`), of which it uses `__stateKey`, `__traits`, `__company`,
//! `__get`, `__set`, `__pageUrl` and `__track` (see `crate::web::host`). Everything the content module hands to the core or to
//! the page (tracks, listener payloads, errors, the custom navigate function, page
//! loads) is queued with [`defer`] and carried out, in order, when the outermost
//! [`batch`] ends, never while the flow state is borrowed. A listener the core
//! then calls may call segflow again: its work runs as a batch of its own whose
//! page code joins the end of the queue, as in the core module.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::batches::Batches;
use crate::web::local::Local;
use core::cell::RefCell;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::json::{self, Json};

/// The core module's functions, as the loader passed them.
struct Host {
    state_key: Function,
    traits: Function,
    company: Function,
    get: Function,
    set: Function,
    page_url: Function,
    track: Function,
}

/// Work for the end of the current batch.
pub enum Deferred {
    /// A track through the core: listener name (a generated event) or none (a
    /// `track` action), the event name, the properties as JSON text.
    Track(Option<&'static str>, String, String),
    /// Call `f(arg)` (the custom navigate function).
    Call(Function, JsValue),
    /// Load this URL.
    Navigate(String),
}

static HOST: Local<RefCell<Option<Host>>> = Local::new(RefCell::new(None));
static BATCHES: Local<Batches<Deferred>> = Local::new(Batches::new());

/// Reads the host object's functions; `false` when one is missing.
pub fn install(host: &JsValue) -> bool {
    let f = |name: &str| -> Option<Function> {
        Reflect::get(host, &JsValue::from_str(name))
            .ok()
            .filter(|v| v.is_function())
            .map(Function::from)
    };
    let parts = (
        f("__stateKey"),
        f("__traits"),
        f("__company"),
        f("__get"),
        f("__set"),
        f("__pageUrl"),
        f("__track"),
    );
    let (
        Some(state_key),
        Some(traits),
        Some(company),
        Some(get),
        Some(set),
        Some(page_url),
        Some(track),
    ) = parts
    else {
        return false;
    };
    HOST.with(|h| {
        *h.borrow_mut() = Some(Host {
            state_key,
            traits,
            company,
            get,
            set,
            page_url,
            track,
        })
    });
    true
}

/// Calls one host function; `None` when there is no host or it threw.
fn host_call(pick: fn(&Host) -> &Function, args: &[JsValue]) -> Option<JsValue> {
    let f = HOST.with(|h| h.try_borrow().ok()?.as_ref().map(|h| pick(h).clone()))?;
    let out = match args {
        [] => f.call0(&JsValue::UNDEFINED),
        [a] => f.call1(&JsValue::UNDEFINED, a),
        [a, b] => f.call2(&JsValue::UNDEFINED, a, b),
        [a, b, c, ..] => f.call3(&JsValue::UNDEFINED, a, b, c),
    };
    out.ok()
}

fn host_string(pick: fn(&Host) -> &Function, args: &[JsValue]) -> Option<String> {
    host_call(pick, args).and_then(|v| v.as_string())
}

/// The storage key of the current user's content progress.
pub fn state_key() -> String {
    host_string(|h| &h.state_key, &[]).unwrap_or_default()
}

/// The storage key of the current user's event counts (`"events"`) or
/// checklist progress (`"checklists"`).
pub fn key(kind: &str) -> String {
    host_string(|h| &h.state_key, &[JsValue::from_str(kind)]).unwrap_or_default()
}

/// The current user's traits.
pub fn traits() -> Json {
    host_string(|h| &h.traits, &[])
        .and_then(|t| json::parse(&t).ok())
        .unwrap_or(Json::Object(Vec::new()))
}

/// The current group's (company's) traits.
pub fn company() -> Json {
    host_string(|h| &h.company, &[])
        .and_then(|t| json::parse(&t).ok())
        .unwrap_or(Json::Object(Vec::new()))
}

/// Stored flow progress.
pub fn get(key: &str) -> Option<String> {
    host_string(|h| &h.get, &[JsValue::from_str(key)])
}

/// Stores flow progress, or removes it (`None`).
pub fn set(key: &str, value: Option<&str>) {
    let value = value.map(JsValue::from_str).unwrap_or(JsValue::NULL);
    host_call(|h| &h.set, &[JsValue::from_str(key), value]);
}

/// The page URL after the app's URL filter.
pub fn page_url() -> String {
    host_string(|h| &h.page_url, &[]).unwrap_or_default()
}

/// Runs `f` as a batch (see the module docs).
pub fn batch<T>(f: impl FnOnce() -> T) -> T {
    BATCHES.with(|b| b.batch(run, f))
}

/// Queues work for the end of the current batch (or runs it now, as a batch of
/// its own, when none is running).
pub fn defer(d: Deferred) {
    BATCHES.with(|b| b.defer(run, d));
}

fn run(d: Deferred) {
    match d {
        Deferred::Track(listener, event, props) => {
            let listener = listener.map(JsValue::from_str).unwrap_or(JsValue::NULL);
            host_call(
                |h| &h.track,
                &[
                    listener,
                    JsValue::from_str(&event),
                    JsValue::from_str(&props),
                ],
            );
        }
        Deferred::Call(f, arg) => {
            if let Err(e) = f.call1(&JsValue::UNDEFINED, &arg) {
                crate::web::warn("segflow: a callback threw", Some(e));
            }
        }
        Deferred::Navigate(url) => {
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign(&url);
            }
        }
    }
}
