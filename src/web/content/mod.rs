//! The content module: flows (the engine in the page, its UI, placement) built as
//! a wasm module of its own (feature `content`) and loaded by `js/loader.js` only
//! when there is content to evaluate. It reaches the core module only through the
//! functions the loader hands to [`api::content_init`] (see `crate::web::host` for
//! the list), and hears about users, tracked events and navigations through
//! [`api::content_notify`].

#[allow(unused_imports)]
use crate::prelude::*;

pub mod api;
mod bridge;
mod checklists;
mod facts;
mod flows;
mod render;
mod wake;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/content.js")]
extern "C" {
    fn bind(wake: &js_sys::Function);
    fn listen(target: &JsValue, kind: &str, wake_kind: u32, capture: bool);
    #[wasm_bindgen(js_name = timeout)]
    fn js_timeout(kind: u32, id: f64, ms: f64) -> i32;
    fn cancel(handle: i32);
    fn microtask(kind: u32);
    #[wasm_bindgen(js_name = observeMutations)]
    fn observe_mutations(kind: u32);
}

/// `wake(kind, id)` in `ms` ms (at most 2^31 - 1: a longer delay would make
/// `setTimeout` fire at once); the handle is for [`cancel`].
fn timeout(kind: u32, id: f64, ms: u64) -> i32 {
    js_timeout(kind, id, ms.min(i32::MAX as u64) as f64)
}
