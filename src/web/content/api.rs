//! The content module's exports. The loader (`js/loader.js`) calls them for the
//! public `loadContent`, `start`, `endAll`, `setCustomNavigate` and
//! `setBaseZIndex`, after [`content_init`]; like the core module's API, each
//! either returns normally or throws a JS `Error` with a stable `code`, and
//! never panics.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::{bridge, checklists, facts, flows, wake};
use crate::core::error::{Error, ErrorCode};
use crate::core::json::{self, Json};
use crate::web::{error, js_error, object_to_json_at_most};

#[wasm_bindgen(module = "/js/content.js")]
extern "C" {
    #[wasm_bindgen(js_name = fetchText)]
    fn fetch_text(url: &str, kind: u32) -> Promise;
}

/// Every callback from `js/content.js` (see [`wake`](super::wake)). Never throws;
/// for [`wake::LOADED`] it returns the error `loadContent` rejects with, if any.
fn on_wake(kind: u32, id: f64, value: JsValue) -> JsValue {
    let event = || value.unchecked_ref::<web_sys::Event>();
    match kind {
        wake::CLICK => flows::on_click(event()),
        wake::KEYDOWN => flows::on_keydown(event()),
        wake::MOUSEDOWN => flows::on_mousedown(event()),
        wake::FOCUSIN => flows::on_focusin(event()),
        wake::MOVED | wake::STEP_RESIZED => flows::reposition(),
        wake::MUTATION => flows::on_mutation(),
        wake::WAIT_TIMEOUT => flows::wait_timed_out(id as u32),
        wake::FLOW_TIMER => flows::timer_fired(id as u64),
        wake::BOOT => flows::boot(),
        wake::REFOCUS => flows::refocus(),
        wake::CHECKLIST_TIMER => checklists::timer_fired(id as u64),
        wake::CHECKLIST_CLICK => checklists::on_click(event()),
        wake::CHECKLIST_KEYDOWN => checklists::on_keydown(event()),
        wake::STATE => facts::server_state(
            id as u32,
            &value.as_string().unwrap_or_default(),
            checklists::refresh,
        ),
        wake::LOADED => {
            let text = value.as_string().unwrap_or_default();
            return match flows::parse(&text) {
                Ok(content) => {
                    load(content);
                    JsValue::UNDEFINED
                }
                Err(e) => js_error(e),
            };
        }
        _ => {}
    }
    JsValue::UNDEFINED
}

fn not_started() -> JsValue {
    error(
        ErrorCode::NotInitialized,
        "segflow: the content module was not started",
    )
}

fn started() -> Result<(), JsValue> {
    if flows::installed() {
        Ok(())
    } else {
        Err(not_started())
    }
}

/// Starts the content module with the core module's functions (see
/// `crate::web::host`): installs the flow runner and schedules its boot.
#[wasm_bindgen(js_name = contentInit)]
pub fn content_init(host: JsValue) -> Result<(), JsValue> {
    if !bridge::install(&host) {
        return Err(js_error(Error::invalid(
            "segflow: contentInit needs the core module's functions",
        )));
    }
    // The one callback, `Fn`: a handler may run again inside itself (focusing
    // an element fires `focusin` at once, a listener may `click()`).
    let f = Closure::<dyn Fn(u32, f64, JsValue) -> JsValue>::new(on_wake).into_js_value();
    super::bind(f.unchecked_ref());
    bridge::batch(|| {
        flows::install();
        checklists::install();
        facts::load_server_state();
    });
    Ok(())
}

/// A note from the core module: `"user"`, `"url"` or `"event:[name, properties]"`.
#[wasm_bindgen(js_name = contentNotify)]
pub fn content_notify(note: &str) {
    if !flows::installed() {
        return;
    }
    match note {
        "user" => bridge::batch(|| {
            // Switch everything to the new user before anything is evaluated.
            facts::hold(true);
            facts::user_changed();
            flows::user_changed();
            checklists::user_changed();
            facts::hold(false);
            facts::load_server_state();
            checklists::refresh();
        }),
        "url" => flows::url_changed(),
        _ => {
            let Some(text) = note.strip_prefix("event:") else {
                return;
            };
            let Ok(Json::Array(parts)) = json::parse(text) else {
                return;
            };
            let Some(event) = parts.first().and_then(Json::as_str) else {
                return;
            };
            let props = parts.get(1).cloned().unwrap_or(Json::Null);
            // Counted first, so that the conditions the next two look at see it.
            facts::record(event, &props);
            flows::event_tracked(event);
            checklists::event_tracked();
        }
    }
}

/// Loads parsed content: flows into the flow runner, checklists into the
/// checklist runner.
fn load(mut content: crate::core::content::Content) {
    let lists = core::mem::take(&mut content.checklists);
    checklists::add(lists);
    flows::load(content);
}

/// `loadContent(source)`: an object in the content schema, or the URL of a JSON
/// document in it. Rejects with `invalid_argument` for content that does not
/// follow the schema (the message names the offending path) or
/// `content_unavailable` when the URL cannot be read.
#[wasm_bindgen(js_name = contentLoad)]
pub fn content_load(source: JsValue) -> Result<Promise, JsValue> {
    started()?;
    if let Some(url) = source.as_string() {
        // The text comes back to `on_wake` (wake::LOADED), which loads it.
        return Ok(fetch_text(&url, wake::LOADED));
    }
    let parsed = object_to_json_at_most(
        &source,
        "content",
        crate::core::content::model::MAX_CONTENT_DEPTH,
    )
    .and_then(|text| flows::parse(&text).map_err(js_error));
    match parsed {
        Ok(content) => {
            load(content);
            Ok(Promise::resolve(&JsValue::UNDEFINED))
        }
        Err(e) => Ok(Promise::reject(&e)),
    }
}

/// `start(contentId, {once})`: starts a flow or checklist now (start reason
/// `program`); with `{ once: true }` only if this user has not started it before.
#[wasm_bindgen(js_name = contentStart)]
pub fn content_start(flow_id: JsValue, options: JsValue) -> Result<(), JsValue> {
    started()?;
    let id = match flow_id.as_string() {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(js_error(Error::invalid(
                "segflow: contentId must be a non-empty string",
            )))
        }
    };
    let once = if options.is_undefined() || options.is_null() {
        false
    } else if options.is_object() {
        match Reflect::get(&options, &"once".into()) {
            Ok(v) if v.is_undefined() || v.is_null() => false,
            Ok(v) => v
                .as_bool()
                .ok_or_else(|| js_error(Error::invalid("segflow: once must be a boolean")))?,
            Err(_) => false,
        }
    } else {
        return Err(js_error(Error::invalid(
            "segflow: options must be an object",
        )));
    };
    if checklists::has(&id) {
        checklists::start(&id, once).map_err(js_error)
    } else {
        flows::start(&id, once).map_err(js_error)
    }
}

/// `endChecklist()`: ends the active checklist (reason `program`).
#[wasm_bindgen(js_name = contentEndChecklist)]
pub fn content_end_checklist() -> Result<(), JsValue> {
    started()?;
    checklists::end();
    Ok(())
}

/// `endAll()`: ends the active flow (reason `program`).
#[wasm_bindgen(js_name = contentEndAll)]
pub fn content_end_all() -> Result<(), JsValue> {
    started()?;
    flows::end_all();
    Ok(())
}

/// `setCustomNavigate(fn | null)`.
#[wasm_bindgen(js_name = contentNavigate)]
pub fn content_navigate(navigate: JsValue) -> Result<(), JsValue> {
    started()?;
    if navigate.is_null() || navigate.is_undefined() {
        flows::set_navigate(None);
    } else if navigate.is_function() {
        flows::set_navigate(Some(Function::from(navigate)));
    } else {
        return Err(js_error(Error::invalid(
            "segflow: setCustomNavigate takes a function or null",
        )));
    }
    Ok(())
}

/// `setBaseZIndex(n)`.
#[wasm_bindgen(js_name = contentZIndex)]
pub fn content_z_index(z_index: JsValue) -> Result<(), JsValue> {
    started()?;
    let z = z_index
        .as_f64()
        .filter(|z| {
            z.is_finite() && z.abs() <= i32::MAX as f64 && *z == crate::core::float::trunc(*z)
        })
        .ok_or_else(|| js_error(Error::invalid("segflow: setBaseZIndex takes an integer")))?;
    flows::set_z_index(z as i32);
    Ok(())
}
