//! The content module's exports. The loader (`js/loader.js`) calls them for the
//! public `loadContent`, `start`, `endAll`, `setCustomNavigate` and
//! `setBaseZIndex`, after `contentInit`, through `js/content.js`, which carries
//! each to [`content_call`] with its arguments; like the core module's API, each
//! either returns normally or throws a JS `Error` with a stable `code`, and
//! never panics.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{bridge, checklists, dom, facts, flows, wake};
use crate::core::content::model;
use crate::core::error::{Error, ErrorCode};
use crate::core::json::{self, Json};
use crate::web::abi::{self, Arg, Fail, Held, Kind};

/// Runs the API function whose name is staged, `name_len` bytes long, with the
/// current call's arguments (as the core module's `call`, see
/// `crate::web::entry`); its result or error goes to `js/content.js`.
#[no_mangle]
pub extern "C" fn content_call(name_len: i32) {
    let name = abi::taken(name_len).unwrap_or_default();
    let (a, b) = (Arg(0), Arg(1));
    let out = match name.as_str() {
        "contentInit" => content_init(a).map(|()| None),
        "contentNotify" => {
            content_notify(&a.string().unwrap_or_default());
            Ok(None)
        }
        "contentLoad" => content_load(a),
        "contentStart" => content_start(a, b).map(|()| None),
        "contentEndChecklist" => started().map(|()| {
            checklists::end();
            None
        }),
        "contentEndAll" => started().map(|()| {
            flows::end_all();
            None
        }),
        "contentNavigate" => content_navigate(a).map(|()| None),
        "contentZIndex" => content_z_index(a).map(|()| None),
        _ => Err(Error::invalid("no such call").into()),
    };
    match out {
        Ok(Some(value)) => abi::ret(value),
        Ok(None) => {}
        Err(f) => abi::fail(f),
    }
}

/// Every callback from `js/content.js` (see [`wake`](super::wake)), with `value`
/// held for it (0: none). Never throws; for [`wake::LOADED`] it answers the
/// error `loadContent` rejects with (0: none).
#[no_mangle]
pub extern "C" fn content_wake(kind: u32, id: f64, value: u32) -> u32 {
    let value = Held::from_raw(value);
    let event = || value.as_ref();
    match kind {
        wake::CLICK => event().map_or((), flows::on_click),
        wake::KEYDOWN => event().map_or((), flows::on_keydown),
        wake::MOUSEDOWN => event().map_or((), flows::on_mousedown),
        wake::FOCUSIN => {
            checklists::on_focusin();
            event().map_or((), flows::on_focusin)
        }
        wake::MOVED | wake::STEP_RESIZED => flows::reposition(),
        wake::MUTATION => flows::on_mutation(),
        wake::WAIT_TIMEOUT => flows::wait_timed_out(id as u32),
        wake::FLOW_TIMER => flows::timer_fired(id as u64),
        wake::BOOT => flows::boot(),
        wake::REFOCUS => flows::refocus(),
        wake::CHECKLIST_TIMER => checklists::timer_fired(id as u64),
        wake::CHECKLIST_CLICK => event().map_or((), checklists::on_click),
        wake::CHECKLIST_KEYDOWN => event().map_or((), checklists::on_keydown),
        wake::STATE => facts::server_state(
            id as u32,
            &value.and_then(|v| v.text()).unwrap_or_default(),
            checklists::refresh,
        ),
        wake::LOADED => {
            let text = value.and_then(|v| v.text()).unwrap_or_default();
            return match flows::parse(&text) {
                Ok(content) => {
                    load(content);
                    0
                }
                Err(e) => Held::error(&e, "").into_raw(),
            };
        }
        _ => {}
    }
    0
}

fn started() -> Result<(), Fail> {
    if flows::installed() {
        Ok(())
    } else {
        Err(Error {
            code: ErrorCode::NotInitialized,
            message: "the content module was not started".into(),
        }
        .into())
    }
}

/// `contentInit(api)`: starts the content module with the core module's API
/// object (see `crate::web::host`): installs the flow and checklist runners and
/// schedules their boot. Once: a second call is refused (`already_initialized`)
/// and the module keeps the first core.
fn content_init(host: Arg) -> Result<(), Fail> {
    if bridge::has_host() {
        return Err(Error {
            code: ErrorCode::AlreadyInitialized,
            message: "contentInit was already called".into(),
        }
        .into());
    }
    if !bridge::install(host) {
        return Err(Error::invalid("contentInit needs the core module's functions").into());
    }
    bridge::batch(|| {
        flows::install();
        checklists::install();
        facts::load_server_state();
    });
    Ok(())
}

/// A note from the core module: `"user"`, `"url"` or `"event:[name, properties]"`.
fn content_notify(note: &str) {
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
/// document in it. Fails with `invalid_argument` for content that does not
/// follow the schema (the message names the offending path); for a URL, answers
/// the promise of its load, which rejects with that or with
/// `content_unavailable` when the URL cannot be read. (The loader turns a
/// failure into a rejected promise.)
fn content_load(source: Arg) -> Result<Option<Held>, Fail> {
    started()?;
    if let Some(url) = source.text(model::check_size)? {
        // The text comes back to `content_wake` (wake::LOADED), which loads it.
        return Ok(dom::fetch_text(&url, wake::LOADED));
    }
    if source.kind() != Kind::Object {
        // Nothing (`null`, `undefined`) is no document missing its `version`.
        return Err(
            Error::invalid("loadContent takes an object in the content schema or a URL").into(),
        );
    }
    let text = source.json("content", model::MAX_CONTENT_DEPTH, model::check_size)?;
    load(flows::parse(&text)?);
    Ok(None)
}

/// `start(contentId, {once})`: starts a flow or checklist now (start reason
/// `program`); with `{ once: true }` only if this user has not started it before.
fn content_start(content_id: Arg, options: Arg) -> Result<(), Fail> {
    started()?;
    let id = match content_id.string() {
        Some(s) if !s.is_empty() => s,
        _ => return Err(Error::invalid("contentId must be a non-empty string").into()),
    };
    let once = match options.kind() {
        Kind::Undefined | Kind::Null => false,
        Kind::Object => match options.get("once") {
            Some(v) if v.is_none() => false,
            Some(v) if v.kind() == Kind::Bool => v.truthy(),
            Some(_) => return Err(Error::invalid("once must be a boolean").into()),
            None => false,
        },
        _ => return Err(Error::invalid("options must be an object").into()),
    };
    Ok(if checklists::has(&id) {
        checklists::start(&id, once)
    } else {
        flows::start(&id, once)
    }?)
}

/// `setCustomNavigate(fn | null)`.
fn content_navigate(navigate: Arg) -> Result<(), Fail> {
    started()?;
    match navigate.kind() {
        Kind::Undefined | Kind::Null => flows::set_navigate(None),
        Kind::Function => flows::set_navigate(Some(navigate.hold())),
        _ => return Err(Error::invalid("setCustomNavigate takes a function or null").into()),
    }
    Ok(())
}

/// `setBaseZIndex(n)`.
fn content_z_index(z_index: Arg) -> Result<(), Fail> {
    started()?;
    let z = z_index
        .number()
        .filter(|z| {
            z.is_finite() && z.abs() <= i32::MAX as f64 && *z == crate::core::float::trunc(*z)
        })
        .ok_or_else(|| Error::invalid("setBaseZIndex takes an integer"))?;
    flows::set_z_index(z as i32);
    Ok(())
}
