//! The JS API, shaped like Userflow.js and analytics.js.
//!
//! Every function either returns normally or throws a JS `Error` with a stable `code`
//! (`invalid_argument`, `payload_too_large`, `not_initialized`,
//! `already_initialized`). Nothing panics across this boundary. Each call reads
//! its arguments off JS values, hands them to the core client through
//! [`driver::call`], and runs as one [`dispatch::batch`]: listeners it causes are
//! called once it is done.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::dispatch::{self, batch};
use super::driver::{self, call, with_rt};
use super::{error, host, js_error, lifecycle, object_to_json};
use crate::core::client::{ClientConfig, Raw};
use crate::core::error::{Error, ErrorCode};
use crate::core::identity::validate_id;
use crate::core::json::{self, Json};

/// Delivery events, besides the generated events of the catalog (`flowStarted`, ...).
const DELIVERY_EVENTS: [&str; 3] = ["delivered", "dropped", "error"];

fn known_event(name: &str) -> bool {
    DELIVERY_EVENTS.contains(&name)
        || crate::core::catalog::CATALOG
            .iter()
            .any(|spec| spec.listener == name)
}

/// Reads `options[key]`: `None` when absent (undefined or null).
fn option(options: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(options, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// One init option as the core's [`Raw`] (a getter that throws reads as `Other`).
fn raw(options: &JsValue, key: &str) -> Raw {
    match Reflect::get(options, &JsValue::from_str(key)) {
        Ok(v) if v.is_undefined() || v.is_null() => Raw::Absent,
        Ok(v) => {
            if let Some(s) = v.as_string() {
                Raw::Str(s)
            } else if let Some(n) = v.as_f64() {
                Raw::Num(n)
            } else if let Some(b) = v.as_bool() {
                Raw::Bool(b)
            } else {
                Raw::Other
            }
        }
        Err(_) => Raw::Other,
    }
}

/// Fails with `not_initialized` before `init`.
fn ready() -> Result<(), JsValue> {
    with_rt(|_| ())
}

/// Starts segflow. Must come before every other call.
pub fn init(options: JsValue) -> Result<(), JsValue> {
    if driver::is_initialized() {
        return Err(error(
            ErrorCode::AlreadyInitialized,
            "segflow: init was already called",
        ));
    }
    if !options.is_object() {
        return Err(js_error(Error::invalid(
            "segflow: init needs an options object with a writeKey",
        )));
    }
    let integrations = match Reflect::get(&options, &"integrations".into()) {
        Ok(v) => object_to_json(&v, "integrations")?,
        Err(_) => String::from("{}"),
    };
    let config =
        ClientConfig::from_options(|k| raw(&options, k), integrations).map_err(js_error)?;
    let url_filter = match Reflect::get(&options, &"urlFilter".into()) {
        Ok(f) if f.is_function() => Some(Function::from(f)),
        Ok(f) if f.is_undefined() || f.is_null() => None,
        _ => {
            return Err(js_error(Error::invalid(
                "segflow: urlFilter must be a function",
            )))
        }
    };
    // Content is the content module's (the loader hands `options.content` to it);
    // here it is only checked to be of a type that module takes.
    if let Some(v) = option(&options, "content") {
        if v.as_string().is_none() && !v.is_object() {
            return Err(js_error(Error::invalid(
                "segflow: content must be an object in the content schema or a URL",
            )));
        }
    }
    batch(|| {
        super::page::set_filter(url_filter);
        lifecycle::start(config);
    });
    Ok(())
}

/// Turns the automatic `page_viewed` event off (`true`) or back on (`false`).
pub fn set_page_tracking_disabled(disabled: bool) -> Result<(), JsValue> {
    ready()?;
    lifecycle::set_page_tracking(!disabled);
    Ok(())
}

fn traits_arg(value: &JsValue, name: &str) -> Result<Json, JsValue> {
    let text = object_to_json(value, name)?;
    json::parse(&text).map_err(|_| {
        js_error(Error::invalid(
            String::from("segflow: ") + name + " must be an object",
        ))
    })
}

fn id_arg(value: &JsValue, name: &str) -> Result<String, JsValue> {
    let id = if let Some(s) = value.as_string() {
        s
    } else if let Some(n) = value.as_f64().filter(|n| n.is_finite()) {
        let mut s = String::new();
        json::write_number(n, &mut s);
        s
    } else {
        return Err(js_error(Error::invalid(
            String::from("segflow: ") + name + " must be a non-empty string or a finite number",
        )));
    };
    validate_id(&id, name).map_err(js_error)?;
    Ok(id)
}

fn optional_string(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(js_error(Error::invalid(
            "segflow: options must be an object",
        )));
    }
    let v = Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| {
        js_error(Error::invalid(
            String::from("segflow: ") + key + " must be a string",
        ))
    })
}

fn membership_arg(options: &JsValue) -> Result<Option<Json>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(js_error(Error::invalid(
            "segflow: options must be an object",
        )));
    }
    let m = Reflect::get(options, &"membership".into()).unwrap_or(JsValue::UNDEFINED);
    if m.is_undefined() || m.is_null() {
        return Ok(None);
    }
    traits_arg(&m, "membership").map(Some)
}

/// Identifies the signed-in user with the same user id Segment uses.
pub fn identify(user_id: JsValue, traits: JsValue, options: JsValue) -> Result<(), JsValue> {
    ready()?;
    let user_id = id_arg(&user_id, "userId")?;
    let changes = traits_arg(&traits, "traits")?;
    let signature = optional_string(&options, "signature")?;
    batch(|| {
        call(&mut |c, now| c.identify_signed(now, &user_id, &changes, signature.as_deref()))?;
        // The user or their traits changed: content conditions look again.
        driver::user_changed();
        host::notify("user");
        Ok(())
    })
}

/// Identifies a signed-out visitor by the anonymous id alone.
pub fn identify_anonymous(traits: JsValue) -> Result<(), JsValue> {
    ready()?;
    let changes = traits_arg(&traits, "traits")?;
    batch(|| {
        call(&mut |c, now| c.identify_anonymous(now, &changes))?;
        host::notify("user");
        Ok(())
    })
}

/// Changes the current user's traits (sent as an identify call).
pub fn update_user(traits: JsValue) -> Result<(), JsValue> {
    ready()?;
    let changes = traits_arg(&traits, "traits")?;
    batch(|| {
        call(&mut |c, now| c.update_user(now, &changes))?;
        host::notify("user");
        Ok(())
    })
}

/// Associates the user with a group (company).
pub fn group(company_id: JsValue, traits: JsValue, options: JsValue) -> Result<(), JsValue> {
    ready()?;
    let group_id = id_arg(&company_id, "groupId")?;
    let changes = traits_arg(&traits, "traits")?;
    let membership = membership_arg(&options)?;
    optional_string(&options, "signature")?;
    batch(|| {
        call(&mut |c, now| c.group(now, &group_id, &changes, membership.as_ref()))?;
        host::notify("user");
        Ok(())
    })
}

/// Changes the active group's traits (sent as a group call).
pub fn update_group(traits: JsValue, options: JsValue) -> Result<(), JsValue> {
    ready()?;
    let changes = traits_arg(&traits, "traits")?;
    let membership = membership_arg(&options)?;
    batch(|| {
        call(&mut |c, now| c.update_group(now, &changes, membership.as_ref()))?;
        host::notify("user");
        Ok(())
    })
}

fn event_name(value: &JsValue, what: &str) -> Result<String, JsValue> {
    match value.as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(js_error(Error::invalid(
            String::from("segflow: ") + what + " must be a non-empty string",
        ))),
    }
}

/// Records an event. Flows whose triggers or start rules wait for it react too.
pub fn track(event: JsValue, properties: JsValue) -> Result<(), JsValue> {
    ready()?;
    let event = event_name(&event, "event")?;
    let props = object_to_json(&properties, "properties")?;
    batch(|| {
        call(&mut |c, now| c.track(now, &event, &props))?;
        host::notify_event(&event, &props);
        Ok(())
    })
}

/// Records a page view. The page's path, referrer, search, title and url are added
/// to the properties (the page's own properties win).
pub fn page(name: JsValue, properties: JsValue) -> Result<(), JsValue> {
    ready()?;
    let name = if name.is_undefined() || name.is_null() {
        None
    } else {
        Some(event_name(&name, "page name")?)
    };
    let props = object_to_json(&properties, "properties")?;
    batch(|| call(&mut |c, now| c.page_view(now, name.as_deref(), &props)))
}

/// Merges a previous id into `userId` (Segment alias) and makes `userId` current.
pub fn alias(user_id: JsValue, previous_id: JsValue) -> Result<(), JsValue> {
    ready()?;
    let user_id = id_arg(&user_id, "userId")?;
    let previous = if previous_id.is_undefined() || previous_id.is_null() {
        None
    } else {
        Some(id_arg(&previous_id, "previousId")?)
    };
    batch(|| {
        call(&mut |c, now| c.alias(now, &user_id, previous.as_deref()))?;
        if driver::user_changed() {
            host::notify("user");
        }
        Ok(())
    })
}

/// Forgets the user, traits and group and starts a new anonymous id (sign-out).
/// Events already queued are still delivered.
pub fn reset() -> Result<(), JsValue> {
    ready()?;
    batch(|| {
        call(&mut |c, _| {
            c.reset();
            Ok(())
        })?;
        if driver::user_changed() {
            host::notify("user");
        }
        Ok(())
    })
}

/// Whether `identify` (or `identifyAnonymous`) has been called for this visitor.
pub fn is_identified() -> Result<bool, JsValue> {
    with_rt(|rt| rt.client.is_identified())
}

/// The ids and traits segflow holds for the visitor (the shape is the core's,
/// `Identity::state_json`).
pub fn user() -> Result<JsValue, JsValue> {
    let state = with_rt(|rt| rt.client.identity().state_json())?;
    Ok(super::parse_json(&state))
}

/// Turns sending to Segment off (at once) or back on. While off, new events are not
/// queued for Segment; events already stored (by this or earlier page loads, or
/// other tabs) are kept and go out when it is back on.
pub fn set_streaming(on: bool) -> Result<(), JsValue> {
    batch(|| {
        call(&mut |c, now| {
            c.set_streaming(now, on);
            Ok(())
        })
    })
}

/// Sends everything queued now. The Promise resolves to `{ pending }` once each of
/// those events is delivered or dropped (`pending: 0`), or as soon as they cannot go
/// out now: offline, streaming off, or waiting to be retried after a failure
/// (`pending`: how many are still queued; they keep being retried).
pub fn flush() -> Result<Promise, JsValue> {
    batch(|| {
        let mut waiter = 0;
        call(&mut |c, now| {
            waiter = c.flush(now);
            Ok(())
        })?;
        Ok(super::waiter(waiter as f64))
    })
}

fn listener_args(name: &JsValue, f: &JsValue) -> Result<(String, Function), JsValue> {
    let name = name.as_string().filter(|n| known_event(n)).ok_or_else(|| {
        let mut names = String::new();
        let all = DELIVERY_EVENTS
            .iter()
            .copied()
            .chain(crate::core::catalog::CATALOG.iter().map(|s| s.listener));
        for (i, n) in all.enumerate() {
            if i > 0 {
                names.push_str(", ");
            }
            names.push_str(n);
        }
        js_error(Error::invalid(
            String::from("segflow: unknown event; expected one of: ") + &names,
        ))
    })?;
    if !f.is_function() {
        return Err(js_error(Error::invalid(
            "segflow: the listener must be a function",
        )));
    }
    Ok((name, Function::from(f.clone())))
}

/// Listens for `delivered`, `dropped`, `error` or a generated event.
pub fn on(event: JsValue, listener: JsValue) -> Result<(), JsValue> {
    let (name, f) = listener_args(&event, &listener)?;
    dispatch::add_listener(name, f);
    Ok(())
}

/// Removes a listener added with `on`.
pub fn off(event: JsValue, listener: JsValue) -> Result<(), JsValue> {
    let (name, f) = listener_args(&event, &listener)?;
    dispatch::remove_listener(&name, &f);
    Ok(())
}
