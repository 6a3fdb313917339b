//! The content module's way to the core module, and its batches.
//!
//! The core's functions arrive at `contentInit` as the core module's API object
//! (`api` in `js/core.js`), of which it uses `__stateKey`, `__traits`, `__company`,
//! `__get`, `__set`, `__pageUrl`, `__track` and `__report` (see `crate::web::host`). Everything the content module hands to the core or to
//! the page (tracks, listener payloads, errors, the custom navigate function, page
//! loads) is queued with [`defer`] and carried out, in order, when the outermost
//! [`batch`] ends, never while the flow state is borrowed. A listener the core
//! then calls may call segflow again: its work runs as a batch of its own whose
//! page code joins the end of the queue, as in the core module.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::batches::Batches;
use crate::web::local::Local;
use core::cell::Cell;

use crate::core::error::{Error, ErrorCode};
use crate::core::json::{self, Json};
use crate::web::abi::{Arg, Held, Kind};

/// The functions of the core module's API object this module uses.
const NEEDED: [&str; 8] = [
    "__stateKey",
    "__traits",
    "__company",
    "__get",
    "__set",
    "__pageUrl",
    "__track",
    "__report",
];

/// Work for the end of the current batch.
pub enum Deferred {
    /// A track through the core: listener name (a generated event) or none (a
    /// `track` action), the event name, the properties as JSON text.
    Track(Option<&'static str>, String, String),
    /// Call `f(url)` (the custom navigate function).
    Call(Held, String),
    /// Load this URL.
    Navigate(String),
    /// Call the core's `error` listeners with this error.
    Report(Error),
}

/// The core module's API object, as the loader passed it: the number JS holds
/// it under, for good (0 before `contentInit`).
static HOST: Local<Cell<u32>> = Local::new(Cell::new(0));
static BATCHES: Local<Batches<Deferred>> = Local::new(Batches::new());

/// Whether `contentInit` gave this module the core's API object.
pub fn has_host() -> bool {
    HOST.with(Cell::get) != 0
}

/// Keeps the core's API object; `false` when one of its functions is missing.
pub fn install(host: Arg) -> bool {
    let has = |name: &str| host.get(name).is_some_and(|f| f.kind() == Kind::Function);
    if !NEEDED.iter().all(|name| has(name)) {
        return false;
    }
    HOST.with(|h| h.set(host.hold().into_raw()));
    true
}

/// Calls the core's function `name` with up to three strings (`None`: null);
/// its result, when it is a string (`None` also when there is no host or it
/// threw).
fn host_call(name: &str, a: Option<&str>, b: Option<&str>, c: Option<&str>) -> Option<String> {
    let api = HOST.with(Cell::get);
    (api != 0).then(|| super::dom::host(api, name, a, b, c))?
}

/// The storage key of the current user's content progress.
pub fn state_key() -> String {
    host_call("__stateKey", None, None, None).unwrap_or_default()
}

/// The storage key of the current user's event counts (`"events"`) or
/// checklist progress (`"checklists"`).
pub fn key(kind: &str) -> String {
    host_call("__stateKey", Some(kind), None, None).unwrap_or_default()
}

fn object(name: &str) -> Json {
    host_call(name, None, None, None)
        .and_then(|t| json::parse(&t).ok())
        .unwrap_or(Json::Object(Vec::new()))
}

/// The current user's traits.
pub fn traits() -> Json {
    object("__traits")
}

/// The current group's (company's) traits.
pub fn company() -> Json {
    object("__company")
}

/// Stored flow progress.
pub fn get(key: &str) -> Option<String> {
    host_call("__get", Some(key), None, None)
}

/// Stores flow progress, or removes it (`None`).
pub fn set(key: &str, value: Option<&str>) {
    host_call("__set", Some(key), value, None);
}

/// The page URL after the app's URL filter.
pub fn page_url() -> String {
    host_call("__pageUrl", None, None, None).unwrap_or_default()
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
            host_call("__track", listener, Some(&event), Some(&props));
        }
        Deferred::Call(f, url) => f.invoke(&Held::str(&url), true),
        Deferred::Navigate(url) => super::dom::assign(&url),
        Deferred::Report(e) => {
            let api = HOST.with(Cell::get);
            if api != 0 {
                super::dom::report(api, &Held::error(&e, ""));
            }
        }
    }
}

/// Tells the `error` listeners (at the end of the batch) that the page did not let
/// segflow create its UI, so `what` (`step "s" of flow "f"`, `checklist "c"`) was
/// not shown; it is shown when it is next started on a page that allows it.
pub fn ui_unavailable(what: &str) {
    defer(Deferred::Report(Error {
        code: ErrorCode::UiUnavailable,
        message: String::from(
            "the page did not let segflow create its UI (a shadow root in <body>), so ",
        ) + what
            + " was not shown",
    }));
}
