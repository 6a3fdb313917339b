//! The core module's one export for the API: `call(name, a, b, c)` runs the API
//! function `name` (its JS name: `track`, `identify`, `__heard`, ...) with up to
//! three arguments. `js/core-api.js` (appended to the glue) turns it back into one
//! function per name for the loader. One export instead of one per function keeps wasm-bindgen's
//! per-export glue (a JS wrapper and a wasm shim each) out of the module:
//! 1.8 KB of what the page loads first (wasm and glue, gzipped), measured when
//! this replaced them.
//!
//! An unknown name fails with `invalid_argument`; each function checks its own
//! arguments, as documented in [`api`](super::api) and [`host`](super::host).

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;

use super::{api, error, heard, host};
use crate::core::error::ErrorCode;

fn done<E>(r: Result<(), E>) -> Result<JsValue, E> {
    r.map(|()| JsValue::UNDEFINED)
}

fn string(v: &JsValue) -> String {
    v.as_string().unwrap_or_default()
}

/// Runs the API function `name` with `a`, `b` and `c` (see the module docs).
#[wasm_bindgen]
pub fn call(name: &str, a: JsValue, b: JsValue, c: JsValue) -> Result<JsValue, JsValue> {
    match name {
        "init" => done(api::init(a)),
        "identify" => done(api::identify(a, b, c)),
        "identifyAnonymous" => done(api::identify_anonymous(a)),
        "updateUser" => done(api::update_user(a)),
        "group" => done(api::group(a, b, c)),
        "updateGroup" => done(api::update_group(a, b)),
        "track" => done(api::track(a, b)),
        "page" => done(api::page(a, b)),
        "alias" => done(api::alias(a, b)),
        "reset" => done(api::reset()),
        "setPageTrackingDisabled" => done(api::set_page_tracking_disabled(a.is_truthy())),
        "setStreaming" => done(api::set_streaming(a.is_truthy())),
        "isIdentified" => api::is_identified().map(JsValue::from),
        "user" => api::user(),
        "flush" => api::flush().map(JsValue::from),
        "on" => done(api::on(a, b)),
        "off" => done(api::off(a, b)),
        "__heard" => {
            heard::heard(a, b);
            Ok(JsValue::UNDEFINED)
        }
        "__listen" => {
            heard::listen(a, b);
            Ok(JsValue::UNDEFINED)
        }
        "__contentHook" => {
            host::content_hook(a.unchecked_into());
            Ok(JsValue::UNDEFINED)
        }
        "__stateKey" => host::state_key(a.as_string()).map(JsValue::from),
        "__traits" => host::traits().map(JsValue::from),
        "__company" => host::company().map(JsValue::from),
        "__get" => host::get(&string(&a)).map(JsValue::from),
        "__set" => done(host::set(&string(&a), b.as_string())),
        "__pageUrl" => Ok(host::page_url().into()),
        "__track" => {
            host::track(a.as_string(), &string(&b), &string(&c));
            Ok(JsValue::UNDEFINED)
        }
        "__report" => {
            host::report(a);
            Ok(JsValue::UNDEFINED)
        }
        "__inited" => Ok(host::inited().into()),
        "__at" => {
            host::at(a.as_f64());
            Ok(JsValue::UNDEFINED)
        }
        "__claim" => {
            host::claim(a, b);
            Ok(JsValue::UNDEFINED)
        }
        _ => Err(error(ErrorCode::InvalidArgument, "segflow: no such call")),
    }
}
