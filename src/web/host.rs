//! The core module's side of the content interface: what the content module may
//! ask of the core and how the core tells it what changed. The loader
//! (`js/loader.js`) hands the core module's API object (`api` in `js/core.js`,
//! which carries each of these to [`entry`](super::entry)) to the content module at its
//! start; the content module never imports the core, and nothing is decided twice:
//!
//! | function | what it does |
//! |---|---|
//! | `__contentHook(fn)` | (the loader registers it once content is wanted; until then no note is made) the core calls `fn(note)` at the end of a batch, like page code, with `"user"` (the user, their traits or their group changed: reload progress and attributes), `"url"` (the page navigated) or `"event:[name, properties]"` (the app tracked `name`; the JSON array after `event:`) |
//! | `__stateKey(kind?)` | the storage key of the current user's flow progress, with `"checklists"` of their checklist progress, with `"events"` of their event counts; with `"state"`, how to read the user's server-side state (`init({stateHost})`): `URL\nsignature\nuserId`, or `""` when there is none to read |
//! | `__traits()` | the current user's traits, as JSON text |
//! | `__company()` | the current group's (company's) traits, as JSON text |
//! | `__get(key)` / `__set(key, value \| null)` | read, write or remove flow progress (only keys of [`Client::is_flow_state_key`]) |
//! | `__pageUrl()` | the page URL after the app's URL filter |
//! | `__track(listener \| null, event, propertiesJson)` | sends a track through the core client; with a listener name (a generated event of the catalog) also calls that event's `on()` listeners with the properties |
//! | `__inited()` | whether `init` succeeded |
//! | `__at(ms \| null)` | the calls that follow were made at `ms` (epoch): the loader, replaying queued or kept calls, brackets each with it, so their messages keep the time they were made |
//! | `__report(error)` | calls the `error` listeners with `error` (the loader uses it for calls replayed after loading and for content that failed to load) |
//! | `__claim(api, names)` | after a successful `init`, replays once the calls earlier pages kept for this write key when their core module could not load (`claimKept` in `js/core.js`), through `api`, this module's exports |
//!
//! [`Client::is_flow_state_key`]: crate::core::client::Client::is_flow_state_key

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use alloc::rc::Rc;
use core::cell::RefCell;

use super::abi::{self, Arg, Fail, Held};
use super::dispatch::{self, batch, defer, Deferred};
use super::driver::{self, call, with_rt};
use crate::core::catalog::{GeneratedEvent, CATALOG};
use crate::core::error::Error;
use crate::core::message::properties_from_text;

static HOOK: Local<RefCell<Option<Rc<Held>>>> = Local::new(RefCell::new(None));

/// The content module's hook, while one listens.
fn hook() -> Option<Rc<Held>> {
    HOOK.with(|h| h.try_borrow().ok().and_then(|h| h.clone()))
}

/// Tells the content module, once the current batch is done, that `note`
/// happened (see the module docs). Nothing happens while no content module
/// listens.
pub fn notify(note: &str) {
    if let Some(f) = hook() {
        defer(Deferred::Call(f, Held::str(note)));
    }
}

/// Tells the content module that the app tracked `event` with `properties` (JSON
/// text of an object): the note is `event:` followed by the JSON array
/// `[event, properties]`. Nothing is built while no content module listens.
pub fn notify_event(event: &str, properties: &str) {
    let Some(f) = hook() else {
        return;
    };
    let mut note = String::from("event:[");
    crate::core::json::write_string(event, &mut note);
    note.push(',');
    note.push_str(if properties.is_empty() {
        "{}"
    } else {
        properties
    });
    note.push(']');
    defer(Deferred::Call(f, Held::str(&note)));
}

/// Sends a generated event: a track with its Title Case name through the core
/// client while streaming, and its payload to the `on()` listeners.
pub fn send_generated(event: &GeneratedEvent) {
    let spec = event.spec();
    let props = super::generated_properties(event, &driver::page_url(), &abi::page_facts());
    track_and_emit(Some(spec.listener), spec.segment_name, &props);
}

fn track_and_emit(listener: Option<&'static str>, event: &str, props: &str) {
    let sent = call(&mut |c, now| c.track(now, event, props));
    if let Some(name) = listener {
        let payload = Held::json(&crate::core::catalog::listener_payload(name, props));
        dispatch::emit(name, payload);
    }
    if let Err(e) = sent {
        dispatch::emit("error", Held::error(&e, ""));
    }
}

/// Registers the content module's hook (see the module docs).
pub fn content_hook(hook: Arg) {
    HOOK.with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            *h = Some(Rc::new(hook.hold()));
        }
    });
}

/// The storage key of the current user's content progress, or with `"events"`
/// of their event counts.
pub fn state_key(kind: Option<String>) -> Result<String, Fail> {
    Ok(with_rt(|rt| match kind.as_deref() {
        Some("events") => rt.client.events_state_key(),
        Some("checklists") => rt.client.checklists_state_key(),
        Some("state") => match (rt.client.state_request(), &rt.client.identity().user_id) {
            (Some((url, sig)), Some(user)) => url + "\n" + &sig + "\n" + user,
            _ => String::new(),
        },
        _ => rt.client.flow_state_key(),
    })?)
}

/// The current user's traits as JSON text.
pub fn traits() -> Result<String, Fail> {
    Ok(with_rt(|rt| rt.client.identity().user_traits.to_json())?)
}

/// The current group's (company's) traits as JSON text.
pub fn company() -> Result<String, Fail> {
    Ok(with_rt(|rt| rt.client.identity().group_traits.to_json())?)
}

/// Stored flow progress under `key`.
pub fn get(key: &str) -> Result<Option<String>, Fail> {
    Ok(with_rt(|rt| {
        rt.client
            .is_flow_state_key(key)
            .then(|| rt.store.get(key))
            .flatten()
    })?)
}

/// Stores flow progress under `key`, or removes it (`null`).
pub fn set(key: &str, value: Option<String>) -> Result<(), Fail> {
    Ok(with_rt(|rt| {
        if !rt.client.is_flow_state_key(key) {
            return;
        }
        match value {
            Some(v) => {
                rt.store.set(key, &v);
            }
            None => rt.store.remove(key),
        }
    })?)
}

/// The page URL after the URL filter (run as a batch: the filter is page code).
pub fn page_url() -> String {
    batch(driver::page_url)
}

/// A track from the content module (see the module docs). An unknown listener
/// name sends the track without calling listeners. The properties are checked
/// and rewritten like a page's own (`message::properties_from_text`): anything
/// else, or an empty event name, goes to the `error` listeners instead.
pub fn track(listener: Option<String>, event: &str, properties: &str) {
    let listener = listener.and_then(|l| {
        CATALOG
            .iter()
            .find(|spec| spec.listener == l)
            .map(|spec| spec.listener)
    });
    batch(|| {
        let checked = if event.is_empty() {
            Err(Error::invalid("event must be a non-empty string"))
        } else {
            properties_from_text(properties)
        };
        match checked {
            Ok(props) => track_and_emit(listener, event, &props),
            Err(e) => dispatch::emit("error", Held::error(&e, "")),
        }
    });
}

/// Calls the `error` listeners with `error`.
pub fn report(error: Arg) {
    let error = error.hold();
    batch(|| dispatch::emit("error", error));
}

/// Whether `init` succeeded (the loader starts the content module only then).
pub fn inited() -> bool {
    driver::is_initialized()
}

/// Says when the calls that follow were made (see the module docs); `null` ends it.
pub fn at(ms: Option<f64>) {
    driver::set_call_time(ms.filter(|m| m.is_finite() && *m >= 0.0).map(|m| m as u64));
}

/// Replays the calls earlier pages kept (see the module docs): `api` is this
/// module's exports, `names` the loader's calls that carry data. Each replayed
/// call runs on its own, as if the page had made it (errors go to the `error`
/// listeners). Nothing happens before `init`.
pub fn claim(api: Arg, names: Arg) {
    if let Ok(write_key) = with_rt(|rt| rt.client.config().write_key.clone()) {
        api.claim_kept(names, &write_key);
    }
}
