//! The browser shell: carries out what the core decides, with web-sys calls.
//!
//! Imports go one way, with no cycles: [`api`] (the JS API) uses [`flows`] (the
//! flow UI), [`lifecycle`] (start-up, page events, heartbeat), [`driver`] (the
//! core client's loop: storage, requests, timers, work under the cross-tab
//! lock), [`page`] (the page's URL, title and referrer, through the URL
//! filter) and [`dispatch`] (page listeners and the batching of page code);
//! [`flows`] and [`lifecycle`] use [`driver`] and [`dispatch`]; [`driver`] uses
//! [`page`], [`dispatch`] and [`storage`]. Nothing imports back.

mod api;
mod dispatch;
mod driver;
mod flows;
mod lifecycle;
mod page;
mod render;
mod storage;

pub use api::*;

use wasm_bindgen::prelude::*;

use crate::core::error::{Error, ErrorCode};

#[wasm_bindgen(module = "/js/glue.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = objectToJson)]
    fn object_to_json(value: &JsValue, name: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(js_name = codedError)]
    fn coded_error(code: &str, message: &str) -> JsValue;
    #[wasm_bindgen(js_name = withLock)]
    fn with_lock(name: &str, f: &js_sys::Function);
    #[wasm_bindgen(js_name = userAgentDataJson)]
    fn user_agent_data_json() -> Option<String>;
    #[wasm_bindgen(js_name = timeZone)]
    fn time_zone() -> Option<String>;
    #[wasm_bindgen(js_name = applyFilter)]
    fn apply_filter(f: &js_sys::Function, value: &str) -> String;
    #[wasm_bindgen(js_name = fetchText)]
    fn fetch_text(url: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = post)]
    fn post(
        id: f64,
        url: &str,
        body: &str,
        auth: Option<String>,
        keepalive: bool,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = abortRequest)]
    fn abort_request(id: f64);
    #[wasm_bindgen(js_name = base64)]
    fn base64(text: &str) -> Option<String>;
    #[wasm_bindgen(js_name = afterMicrotask)]
    fn after_microtask(f: &JsValue);
}

/// A core error as a JS `Error` with a `code` property.
fn js_error(e: Error) -> JsValue {
    coded_error(e.code.as_str(), &e.message)
}

/// A JS `Error` with the given code.
fn error(code: ErrorCode, message: &str) -> JsValue {
    coded_error(code.as_str(), message)
}

/// Epoch milliseconds from the page's clock.
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// 16 random bytes from `crypto.getRandomValues`, falling back to `Math.random`.
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let ok = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok())
        .unwrap_or(false);
    if !ok {
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes
}

/// A fresh uuid v4.
fn uuid() -> String {
    crate::core::identity::uuid_v4(random_bytes())
}
