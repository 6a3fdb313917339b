//! The JS API, shaped like Userflow.js and analytics.js.
//!
//! Every function either returns normally or throws a JS `Error` with a stable `code`
//! (`invalid_argument`, `payload_too_large`, `not_initialized`,
//! `already_initialized`). Nothing panics across this boundary. Each call reads
//! its arguments off the page's values ([`Arg`]), hands them to the core client
//! through [`driver::call`], and runs as one [`dispatch::batch`]: listeners it
//! causes are called once it is done.

#[allow(unused_imports)]
use crate::prelude::*;

use super::abi::{Arg, Fail, Held, Kind};
use super::dispatch::{self, batch};
use super::driver::{self, call, with_rt};
use super::{host, lifecycle, object_to_json};
use crate::core::catalog::{DELIVERY_EVENTS, UNKNOWN_EVENT};
use crate::core::client::{ClientConfig, Raw};
use crate::core::error::{Error, ErrorCode};
use crate::core::identity::validate_id;
use crate::core::json::{self, Json};
use crate::core::message::check_arg;

fn known_event(name: &str) -> bool {
    DELIVERY_EVENTS.contains(&name)
        || crate::core::catalog::CATALOG
            .iter()
            .any(|spec| spec.listener == name)
}

/// `options[key]`: `None` when absent (undefined or null) or unreadable.
fn option(options: Arg, key: &str) -> Option<Arg> {
    options.get(key).filter(|v| !v.is_none())
}

/// One init option as the core's [`Raw`] (a getter that throws reads as `Other`).
fn raw(options: Arg, key: &str) -> Raw {
    let Some(v) = options.get(key) else {
        return Raw::Other;
    };
    match v.kind() {
        Kind::Undefined | Kind::Null => Raw::Absent,
        Kind::Str => match v.text(check_arg) {
            Ok(Some(s)) => Raw::Str(s),
            Ok(None) => Raw::Other,
            Err(_) => Raw::Long,
        },
        Kind::Num => Raw::Num(v.number().unwrap_or(f64::NAN)),
        Kind::Bool => Raw::Bool(v.truthy()),
        _ => Raw::Other,
    }
}

fn invalid(message: &str) -> Fail {
    Fail::Core(Error::invalid(message))
}

fn invalid_named(name: &str, what: &str) -> Fail {
    Fail::Core(Error::invalid(String::from(name) + what))
}

/// Fails with `not_initialized` before `init`.
fn ready() -> Result<(), Fail> {
    Ok(with_rt(|_| ())?)
}

/// Starts segflow. Must come before every other call.
pub fn init(options: Arg) -> Result<(), Fail> {
    if driver::is_initialized() {
        return Err(Fail::Core(Error {
            code: ErrorCode::AlreadyInitialized,
            message: "init was already called".into(),
        }));
    }
    if options.kind() != Kind::Object {
        return Err(invalid("init needs an options object with a writeKey"));
    }
    let integrations = match options.get("integrations") {
        Some(v) => object_to_json(v, "integrations")?,
        None => String::from("{}"),
    };
    let config = ClientConfig::from_options(|k| raw(options, k), integrations)?;
    let url_filter = match options.get("urlFilter") {
        Some(f) if f.kind() == Kind::Function => Some(f.hold()),
        Some(f) if f.is_none() => None,
        _ => return Err(invalid("urlFilter must be a function")),
    };
    // Content is the content module's (the loader hands `options.content` to it);
    // here it is only checked to be of a type that module takes.
    if let Some(v) = option(options, "content") {
        let empty = v.kind() == Kind::Str && v.string().is_none_or(|s| s.trim().is_empty());
        if empty || !matches!(v.kind(), Kind::Str | Kind::Object) {
            return Err(invalid(
                "content must be an object in the content schema or a URL",
            ));
        }
    }
    batch(|| {
        super::page::set_filter(url_filter);
        lifecycle::start(config);
    });
    Ok(())
}

/// Turns the automatic `page_viewed` event off (`true`) or back on (`false`).
pub fn set_page_tracking_disabled(disabled: bool) -> Result<(), Fail> {
    ready()?;
    lifecycle::set_page_tracking(!disabled);
    Ok(())
}

fn traits_arg(value: Arg, name: &str) -> Result<Json, Fail> {
    let text = object_to_json(value, name)?;
    json::parse(&text).map_err(|_| invalid_named(name, " must be an object"))
}

fn id_arg(value: Arg, name: &str) -> Result<String, Fail> {
    let id = if let Some(s) = value.text(check_arg)? {
        s
    } else if let Some(n) = value.number().filter(|n| n.is_finite()) {
        let mut s = String::new();
        json::write_number(n, &mut s);
        s
    } else {
        return Err(invalid_named(
            name,
            " must be a non-empty string or a finite number",
        ));
    };
    validate_id(&id, name)?;
    Ok(id)
}

/// `options`, which may be absent, or else must be an object.
fn options_arg(options: Arg) -> Result<Option<Arg>, Fail> {
    match options.kind() {
        Kind::Undefined | Kind::Null => Ok(None),
        Kind::Object => Ok(Some(options)),
        _ => Err(invalid("options must be an object")),
    }
}

fn optional_string(options: Arg, key: &str) -> Result<Option<String>, Fail> {
    let Some(v) = options_arg(options)?.and_then(|o| option(o, key)) else {
        return Ok(None);
    };
    match v.text(check_arg)? {
        Some(s) => Ok(Some(s)),
        None => Err(invalid_named(key, " must be a string")),
    }
}

fn membership_arg(options: Arg) -> Result<Option<Json>, Fail> {
    match options_arg(options)?.and_then(|o| option(o, "membership")) {
        Some(m) => traits_arg(m, "membership").map(Some),
        None => Ok(None),
    }
}

/// Identifies the signed-in user with the same user id Segment uses.
pub fn identify(user_id: Arg, traits: Arg, options: Arg) -> Result<(), Fail> {
    ready()?;
    let user_id = id_arg(user_id, "userId")?;
    let changes = traits_arg(traits, "traits")?;
    let signature = optional_string(options, "signature")?;
    batch(|| {
        call(&mut |c, now| c.identify_signed(now, &user_id, &changes, signature.as_deref()))?;
        // The user or their traits changed: content conditions look again.
        driver::user_changed();
        host::notify("user");
        Ok(())
    })
}

/// Identifies a signed-out visitor by the anonymous id alone.
pub fn identify_anonymous(traits: Arg) -> Result<(), Fail> {
    ready()?;
    let changes = traits_arg(traits, "traits")?;
    batch(|| {
        call(&mut |c, now| c.identify_anonymous(now, &changes))?;
        host::notify("user");
        Ok(())
    })
}

/// Changes the current user's traits (sent as an identify call).
pub fn update_user(traits: Arg) -> Result<(), Fail> {
    ready()?;
    let changes = traits_arg(traits, "traits")?;
    batch(|| {
        call(&mut |c, now| c.update_user(now, &changes))?;
        host::notify("user");
        Ok(())
    })
}

/// Associates the user with a group (company). `options.signature` (Userflow.js's
/// group signature) is checked to be a string and not used: segflow verifies
/// users, not groups.
pub fn group(company_id: Arg, traits: Arg, options: Arg) -> Result<(), Fail> {
    ready()?;
    let group_id = id_arg(company_id, "groupId")?;
    let changes = traits_arg(traits, "traits")?;
    let membership = membership_arg(options)?;
    optional_string(options, "signature")?;
    batch(|| {
        call(&mut |c, now| c.group(now, &group_id, &changes, membership.as_ref()))?;
        host::notify("user");
        Ok(())
    })
}

/// Changes the active group's traits (sent as a group call); `options` as for
/// [`group`].
pub fn update_group(traits: Arg, options: Arg) -> Result<(), Fail> {
    ready()?;
    let changes = traits_arg(traits, "traits")?;
    let membership = membership_arg(options)?;
    optional_string(options, "signature")?;
    batch(|| {
        call(&mut |c, now| c.update_group(now, &changes, membership.as_ref()))?;
        host::notify("user");
        Ok(())
    })
}

fn event_name(value: Arg, what: &str) -> Result<String, Fail> {
    match value.text(check_arg)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(invalid_named(what, " must be a non-empty string")),
    }
}

/// Records an event. Flows whose triggers or start rules wait for it react too.
pub fn track(event: Arg, properties: Arg) -> Result<(), Fail> {
    ready()?;
    let event = event_name(event, "event")?;
    let props = object_to_json(properties, "properties")?;
    batch(|| {
        call(&mut |c, now| c.track(now, &event, &props))?;
        host::notify_event(&event, &props);
        Ok(())
    })
}

/// Records a page view. The page's path, referrer, search, title and url are added
/// to the properties (the page's own properties win).
pub fn page(name: Arg, properties: Arg) -> Result<(), Fail> {
    ready()?;
    let name = if name.is_none() {
        None
    } else {
        Some(event_name(name, "page name")?)
    };
    let props = object_to_json(properties, "properties")?;
    Ok(batch(|| {
        call(&mut |c, now| c.page_view(now, name.as_deref(), &props))
    })?)
}

/// Merges a previous id into `userId` (Segment alias) and makes `userId` current.
pub fn alias(user_id: Arg, previous_id: Arg) -> Result<(), Fail> {
    ready()?;
    let user_id = id_arg(user_id, "userId")?;
    let previous = if previous_id.is_none() {
        None
    } else {
        Some(id_arg(previous_id, "previousId")?)
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
pub fn reset() -> Result<(), Fail> {
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
pub fn is_identified() -> Result<bool, Fail> {
    Ok(with_rt(|rt| rt.client.is_identified())?)
}

/// The ids and traits segflow holds for the visitor (the shape is the core's,
/// `Identity::state_json`).
pub fn user() -> Result<Held, Fail> {
    let state = with_rt(|rt| rt.client.identity().state_json())?;
    Ok(Held::json(&state))
}

/// The argument of the switch `call` (`setStreaming`, `setPageTrackingDisabled`):
/// `true` or `false` only (the text `'false'` is no way to say off).
pub fn switch(on: Arg, call: &str) -> Result<bool, Fail> {
    if on.kind() == Kind::Bool {
        Ok(on.truthy())
    } else {
        Err(invalid_named(call, "() takes true or false"))
    }
}

/// Turns sending to Segment off (at once) or back on. While off, new events are not
/// queued for Segment; events already stored (by this or earlier page loads, or
/// other tabs) are kept and go out when it is back on.
pub fn set_streaming(on: bool) -> Result<(), Fail> {
    Ok(batch(|| {
        call(&mut |c, now| {
            c.set_streaming(now, on);
            Ok(())
        })
    })?)
}

/// Sends everything queued now. The Promise resolves to `{ pending }` once each of
/// those events is delivered or dropped (`pending: 0`), or as soon as they cannot go
/// out now: offline, streaming off, or waiting to be retried after a failure
/// (`pending`: how many are still queued; they keep being retried).
pub fn flush() -> Result<Held, Fail> {
    batch(|| {
        let mut waiter = 0;
        call(&mut |c, now| {
            waiter = c.flush(now);
            Ok(())
        })?;
        Ok(Held::waiter(waiter))
    })
}

fn listener_name(name: Arg, f: Arg) -> Result<String, Fail> {
    let name = name
        .text(check_arg)
        .ok()
        .flatten()
        .filter(|n| known_event(n))
        .ok_or_else(|| invalid(UNKNOWN_EVENT))?;
    if f.kind() != Kind::Function {
        return Err(invalid("the listener must be a function"));
    }
    Ok(name)
}

/// Listens for `delivered`, `dropped`, `error` or a generated event.
pub fn on(event: Arg, listener: Arg) -> Result<(), Fail> {
    let name = listener_name(event, listener)?;
    dispatch::add_listener(name, listener);
    Ok(())
}

/// Removes a listener added with `on`.
pub fn off(event: Arg, listener: Arg) -> Result<(), Fail> {
    let name = listener_name(event, listener)?;
    dispatch::remove_listener(&name, listener);
    Ok(())
}
