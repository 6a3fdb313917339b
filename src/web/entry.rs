//! The core module's exports: `call(name)` for the API and `wake(kind, a, b, c)`
//! for everything asynchronous (see [`wake`](super::wake)).
//!
//! `call` runs the API function `name` (its JS name: `track`, `identify`,
//! `__heard`, ...; staged by `js/core.js`, see [`abi`](super::abi)) with the
//! current call's arguments 0, 1 and 2; `api` in `js/core.js` turns it back into
//! one function per name for the loader. One export instead of one per function
//! keeps a JS wrapper and a wasm shim per function out of the module (1.8 KB of
//! what the page loads first, gzipped, measured when it replaced wasm-bindgen's).
//!
//! An unknown name fails with `invalid_argument`; each function checks its own
//! arguments, as documented in [`api`](super::api) and [`host`](super::host).

#[allow(unused_imports)]
use crate::prelude::*;

use super::abi::{self, Arg, Fail, Held};
use super::{api, driver, heard, host};
use crate::core::error::Error;

fn done(r: Result<(), Fail>) -> Result<Option<Held>, Fail> {
    r.map(|()| None)
}

/// A string result (`__traits` and `__company` answer JSON *text*, which the
/// content module parses).
fn string(text: String) -> Result<Option<Held>, Fail> {
    Ok(Some(Held::str(&text)))
}

fn json(value: &str) -> Result<Option<Held>, Fail> {
    Ok(Some(Held::json(value)))
}

fn boolean(b: bool) -> Result<Option<Held>, Fail> {
    json(if b { "true" } else { "false" })
}

/// Runs the API function whose name is staged, `name_len` bytes long (see the
/// module docs); its result or error goes to `js/core.js` ([`abi::ret`],
/// [`abi::fail`]).
#[no_mangle]
pub extern "C" fn call(name_len: i32) {
    let name = abi::taken(name_len).unwrap_or_default();
    let (a, b, c) = (Arg(0), Arg(1), Arg(2));
    let out = match name.as_str() {
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
        "setPageTrackingDisabled" => {
            done(api::switch(a, &name).and_then(api::set_page_tracking_disabled))
        }
        "setStreaming" => done(api::switch(a, &name).and_then(api::set_streaming)),
        "isIdentified" => api::is_identified().and_then(boolean),
        "user" => api::user().map(Some),
        "flush" => api::flush().map(Some),
        "on" => done(api::on(a, b)),
        "off" => done(api::off(a, b)),
        "__heard" => {
            heard::heard(a, b);
            Ok(None)
        }
        "__listen" => {
            heard::listen(a, b);
            Ok(None)
        }
        "__contentHook" => {
            host::content_hook(a);
            Ok(None)
        }
        "__stateKey" => host::state_key(a.string()).and_then(string),
        "__traits" => host::traits().and_then(string),
        "__company" => host::company().and_then(string),
        "__get" => host::get(&a.string().unwrap_or_default()).map(|v| v.map(|v| Held::str(&v))),
        "__set" => done(host::set(&a.string().unwrap_or_default(), b.string())),
        "__pageUrl" => string(host::page_url()),
        "__track" => {
            host::track(
                a.string(),
                &b.string().unwrap_or_default(),
                &c.string().unwrap_or_default(),
            );
            Ok(None)
        }
        "__report" => {
            host::report(a);
            Ok(None)
        }
        "__inited" => boolean(host::inited()),
        "__at" => {
            host::at(a.number());
            Ok(None)
        }
        "__claim" => {
            host::claim(a, b);
            Ok(None)
        }
        // The loader hands the core the content calls it cannot run because no
        // init succeeded: they, like any call then, answer not_initialized.
        _ if !host::inited() => Err(Fail::Core(driver::not_initialized())),
        _ => Err(Fail::Core(Error::invalid("no such call"))),
    };
    match out {
        Ok(Some(value)) => abi::ret(value),
        Ok(None) => {}
        Err(f) => abi::fail(f),
    }
}

/// Every callback from `js/core.js` (see [`wake`](super::wake)). Never throws.
#[no_mangle]
pub extern "C" fn wake(kind: u32, a: f64, b: f64, c: f64) {
    super::lifecycle::on_wake(kind, a, b, c);
}
