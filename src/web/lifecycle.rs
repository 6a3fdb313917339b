//! The page's life as the client sees it: what storage holds at start, then
//! online and offline, hidden and shown, leaving, and the heartbeat that tells
//! other tabs this one is alive. Each event is one input to the client. Also
//! the page's navigations (the single-page-app history patch): each sends
//! `page_viewed` while page tracking is on and tells the content module.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use core::cell::RefCell;

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use super::dispatch;
use super::driver::{self, call};
use super::storage::Store;
use super::{now_ms, random_bytes};
use crate::core::catalog::{EventKind, GeneratedEvent};
use crate::core::client::{Client, ClientConfig, Hide, Start, HEARTBEAT_MS};
use crate::core::message::ClientInfo;

/// Page tracking: whether it is on, and the URL of the last page seen.
struct Pages {
    tracking: bool,
    last_url: String,
}

static PAGES: Local<RefCell<Pages>> = Local::new(RefCell::new(Pages {
    tracking: true,
    last_url: String::new(),
}));

fn page_viewed() {
    super::host::send_generated(&GeneratedEvent {
        kind: EventKind::PageViewed,
        attrs: Vec::new(),
    });
}

/// `setPageTrackingDisabled(bool)`.
pub fn set_page_tracking(on: bool) {
    PAGES.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            p.tracking = on;
        }
    });
}

/// After a navigation: a `page_viewed` when the URL changed and page tracking is
/// on, and a note to the content module.
fn on_navigation() {
    let url = crate::web::href();
    let changed = PAGES.with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        if p.last_url == url {
            return None;
        }
        p.last_url = url;
        Some(p.tracking)
    });
    let Some(track_page) = changed else { return };
    dispatch::batch(|| {
        if track_page {
            page_viewed();
        }
        super::host::notify("url");
    });
}

fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Starts the client from what storage holds (identity, this tab's id in
/// sessionStorage, stored events) and installs the page hooks.
pub fn start(config: ClientConfig) {
    let tracking = config.page_tracking;
    let mut store = Store::open();
    let identity = store.load_identity(super::uuid);
    let prefix = config.storage_prefix();
    let session_tab = store.session_get(&config.session_key());
    let keys = store.keys_with_prefix(&prefix);
    let nav = web_sys::window().map(|w| w.navigator());
    let client_info = ClientInfo {
        user_agent: nav
            .as_ref()
            .and_then(|n| n.user_agent().ok())
            .unwrap_or_default(),
        locale: nav.as_ref().and_then(|n| n.language()).unwrap_or_default(),
        timezone: super::time_zone().unwrap_or_default(),
        user_agent_data: super::user_agent_data_json(),
    };
    let seed = u64::from_le_bytes(random_bytes()[..8].try_into().unwrap_or([7; 8]));
    let client = Client::new(
        config,
        Start {
            now: now_ms(),
            identity,
            session_tab,
            keys,
            client_info,
            seed,
            online: online(),
        },
        &mut |k| store.get(k),
        Box::new(super::uuid),
    );
    driver::install(client, store);
    install_hooks();
    PAGES.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            p.tracking = tracking;
            p.last_url = crate::web::href();
        }
    });
    if tracking {
        page_viewed();
    }
}

fn input(f: fn(&mut Client, u64)) {
    dispatch::batch(|| {
        let _ = call(&mut |c, now| {
            f(c, now);
            Ok(())
        });
    });
}

/// A page callback kept for the life of the page. `Fn`, not `FnMut`: the page
/// may cause the same event again while it runs (a listener that navigates), and
/// wasm-bindgen refuses to re-enter an `FnMut` closure with an exception.
fn hook(f: impl Fn(JsValue) + 'static) -> js_sys::Function {
    Closure::<dyn Fn(JsValue)>::new(f)
        .into_js_value()
        .unchecked_into()
}

fn install_hooks() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let on = hook(|_| input(|c, now| c.set_online(now, true)));
    let off = hook(|_| input(|c, now| c.set_online(now, false)));
    let _ = window.add_event_listener_with_callback("online", &on);
    let _ = window.add_event_listener_with_callback("offline", &off);
    let visibility = hook(|e: JsValue| {
        let kind = Reflect::get(&e, &"type".into())
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default();
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Hidden);
        let persisted = Reflect::get(&e, &"persisted".into())
            .ok()
            .and_then(|p| p.as_bool())
            .unwrap_or(false);
        match kind.as_str() {
            "pagehide" if persisted => input(|c, now| c.page_hidden(now, Hide::Cached)),
            "pagehide" => input(|c, now| c.page_hidden(now, Hide::Unloaded)),
            "freeze" => {}
            _ if hidden && kind != "resume" => input(|c, now| c.page_hidden(now, Hide::Hidden)),
            _ => input(|c, now| c.page_shown(now)),
        }
    });
    let _ = window.add_event_listener_with_callback("pagehide", &visibility);
    let _ = window.add_event_listener_with_callback("pageshow", &visibility);
    if let Some(doc) = window.document() {
        let _ = doc.add_event_listener_with_callback("visibilitychange", &visibility);
        // Page Lifecycle: a frozen page is resumed (its heartbeat may be stale).
        let _ = doc.add_event_listener_with_callback("resume", &visibility);
    }
    super::watch_navigation(&hook(|_| on_navigation()));
    let beat = hook(|_| input(|c, now| c.heartbeat(now)));
    let _ =
        window.set_interval_with_callback_and_timeout_and_arguments_0(&beat, HEARTBEAT_MS as i32);
}
