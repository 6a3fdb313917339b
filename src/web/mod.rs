//! The browser shell: carries out what the core decides, through small JS helpers
//! (`js/core.js`, `js/glue.js`) and, in the content module, web-sys.
//!
//! It is built as two wasm modules from this one crate (see `scripts/build-pkg.sh`
//! and `js/loader.js`, which loads them and carries calls between them):
//!
//! - feature `analytics`, the **core module**, loaded at `init`: [`entry`] (its one
//!   export for the API, which `js/core-api.js` turns into an object with a
//!   function per name), [`api`] (the JS API), [`heard`] (calls heard from analytics.js through segflow's plugin),
//!   [`host`] (the small interface the content module is given),
//!   [`lifecycle`] (start-up, page events, heartbeat, navigation and page
//!   tracking), [`driver`] (the core client's loop: storage, requests, timers,
//!   work under the cross-tab lock), [`page`] (the page's URL, title and referrer,
//!   through the URL filter), [`dispatch`] (page listeners and the batching of page
//!   code) and [`storage`];
//! - feature `content`, the **content module**, loaded only when there is content:
//!   [`content`] (flows, rendering, placement), which reaches the core only through
//!   the functions of [`host`] that the loader hands it.
//!
//! Imports go one way, with no cycles: [`entry`] uses [`api`], [`heard`] and
//! [`host`]; [`api`] uses [`lifecycle`], [`driver`],
//! [`dispatch`] and [`host`]; [`heard`] uses [`driver`], [`dispatch`] and
//! [`host`]; [`host`] and [`lifecycle`] use [`driver`] and [`dispatch`];
//! [`driver`] uses [`page`], [`dispatch`] and [`storage`]. Nothing
//! imports back, and the two modules share nothing but the pure core, [`batches`]
//! (each module has its own queue), [`local`] and the small helpers below.

#[allow(unused_imports)]
use crate::prelude::*;

#[cfg(feature = "analytics")]
mod api;
mod batches;
#[cfg(feature = "content")]
mod content;
#[cfg(feature = "analytics")]
mod dispatch;
#[cfg(feature = "analytics")]
mod driver;
#[cfg(feature = "analytics")]
mod entry;
#[cfg(feature = "analytics")]
mod heard;
#[cfg(feature = "analytics")]
mod host;
#[cfg(feature = "analytics")]
mod lifecycle;
mod local;
#[cfg(feature = "analytics")]
mod page;
#[cfg(feature = "analytics")]
mod storage;
#[cfg(feature = "analytics")]
mod wake;

#[cfg(feature = "analytics")]
pub use api::*;
#[cfg(feature = "content")]
pub use content::api::*;

use wasm_bindgen::prelude::*;

use crate::core::error::{Error, ErrorCode};

#[wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = objectToJson)]
    fn object_to_json_at_most(value: &JsValue, name: &str, depth: u32) -> Result<String, JsValue>;
    #[wasm_bindgen(js_name = codedError)]
    fn coded_error(code: &str, message: &str) -> JsValue;
    /// `codedError(code, message)` with the fields of the JSON object `extra`.
    #[cfg(feature = "analytics")]
    #[wasm_bindgen(js_name = codedError)]
    fn coded_error_with(code: &str, message: &str, extra: &str) -> JsValue;
    /// `JSON.parse(text)` (`null` for text that is not JSON, which the core
    /// never gives).
    #[wasm_bindgen(js_name = parseJson)]
    fn parse_json(text: &str) -> JsValue;
    /// `console.warn(message)`, or with `err`, `console.error(message, err)`.
    fn warn(message: &str, err: Option<JsValue>);
    /// The page's URL as the browser has it (before any URL filter).
    fn href() -> String;
    #[wasm_bindgen(js_name = pageFacts)]
    fn page_facts() -> String;
}

#[cfg(feature = "analytics")]
#[wasm_bindgen(module = "/js/core.js")]
extern "C" {
    fn bind(wake: &js_sys::Function);
    #[wasm_bindgen(js_name = watchPage)]
    fn watch_page(heartbeat_ms: f64);
    #[wasm_bindgen(js_name = setTimer)]
    fn set_timer(delay_ms: f64);
    fn microtask(kind: u32);
    #[wasm_bindgen(js_name = withLock)]
    fn with_lock(name: &str, kind: u32);
    #[wasm_bindgen(js_name = storeGet)]
    fn store_get(area: u32, key: &str) -> Option<String>;
    #[wasm_bindgen(js_name = storeSet)]
    fn store_set(area: u32, key: &str, value: &str) -> bool;
    #[wasm_bindgen(js_name = storeRemove)]
    fn store_remove(area: u32, key: &str);
    #[wasm_bindgen(js_name = storeKeys)]
    fn store_keys(prefix: &str) -> Vec<String>;
    fn cookie(assignment: Option<String>) -> String;
    fn browser() -> Vec<String>;
    #[wasm_bindgen(js_name = page)]
    fn page_now() -> String;
    fn canonical() -> String;
    fn waiter(id: f64) -> js_sys::Promise;
    fn settle(id: f64, value: &JsValue);
    #[wasm_bindgen(js_name = randomBytes)]
    fn fill_random(bytes: &mut [u8]);
    #[wasm_bindgen(js_name = userAgentDataJson)]
    fn user_agent_data_json() -> Option<String>;
    #[wasm_bindgen(js_name = timeZone)]
    fn time_zone() -> Option<String>;
    #[wasm_bindgen(js_name = applyFilter)]
    fn apply_filter(f: &js_sys::Function, value: &str) -> String;
    #[wasm_bindgen(js_name = post)]
    fn post(id: f64, url: &str, body: &str, auth: Option<String>, keepalive: bool);
    #[wasm_bindgen(js_name = abortRequest)]
    fn abort_request(id: f64);
    #[wasm_bindgen(js_name = base64)]
    fn base64(text: &str) -> Option<String>;
    #[wasm_bindgen(js_name = claimKept)]
    fn claim_kept(api: &JsValue, names: &JsValue, write_key: &str);
    #[wasm_bindgen(js_name = listenToAnalytics)]
    fn listen_to_analytics(plugin: &JsValue, registered: &JsValue);
}

/// JSON text of an object the page passed for a call (properties, traits,
/// integrations), nested at most [`MAX_PROPERTY_DEPTH`] deep.
///
/// [`MAX_PROPERTY_DEPTH`]: crate::core::message::MAX_PROPERTY_DEPTH
#[cfg(feature = "analytics")]
fn object_to_json(value: &JsValue, name: &str) -> Result<String, JsValue> {
    object_to_json_at_most(value, name, crate::core::message::MAX_PROPERTY_DEPTH)
}

/// A core error as a JS `Error` with a `code` property.
fn js_error(e: Error) -> JsValue {
    coded_error(e.code.as_str(), &e.message)
}

/// A JS `Error` with the given code.
fn error(code: ErrorCode, message: &str) -> JsValue {
    coded_error(code.as_str(), message)
}

#[cfg(feature = "analytics")]
/// Epoch milliseconds from the page's clock.
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

#[cfg(feature = "analytics")]
/// Random bytes drawn from `crypto.getRandomValues` (`Math.random` where it is
/// missing) 1 KB at a time: one call for 64 message ids rather than one each
/// (a call costs about half a microsecond, measured on track()).
static RANDOM: local::Local<core::cell::RefCell<(usize, [u8; 1024])>> =
    local::Local::new(core::cell::RefCell::new((1024, [0; 1024])));

#[cfg(feature = "analytics")]
/// 16 random bytes (see [`RANDOM`]).
fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    RANDOM.with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            fill_random(&mut out);
            return;
        };
        let (used, pool) = &mut *r;
        if *used + 16 > pool.len() {
            fill_random(pool);
            *used = 0;
        }
        if let Some(chunk) = pool.get(*used..*used + 16) {
            out.copy_from_slice(chunk);
        }
        *used += 16;
    });
    out
}

#[cfg(feature = "analytics")]
/// A fresh uuid v4.
fn uuid() -> String {
    crate::core::identity::uuid_v4(random_bytes())
}

/// The properties of a generated event (`catalog::event_properties`): its own
/// attributes and the page facts every generated event carries, with `page_url`
/// as the core's URL filter gave it.
fn generated_properties(event: &crate::core::catalog::GeneratedEvent, page_url: &str) -> String {
    let facts = page_facts();
    let mut lines = facts.split('\n');
    let locale = lines.next().unwrap_or_default();
    let mut number = || lines.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    crate::core::catalog::event_properties(
        event,
        &crate::core::catalog::PageFacts {
            page_url,
            viewport_width: number(),
            viewport_height: number(),
            locale_code: locale,
        },
    )
}
