//! The page's life as the client sees it: what storage holds at start, then
//! online and offline, hidden and shown, leaving, and the heartbeat that tells
//! other tabs this one is alive. Each event is one input to the client. Also
//! the page's navigations (the single-page-app history patch): each sends
//! `page_viewed` while page tracking is on and tells the content module.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use core::cell::RefCell;

use super::abi;
use super::abi::now_ms;
use super::dispatch;
use super::driver::{self, input};
use super::random_bytes;
use super::storage::Store;
use super::wake;
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
    let url = abi::href();
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

/// Starts the client from what storage holds (identity, this tab's id in
/// sessionStorage, stored events) and installs the page hooks.
pub fn start(config: ClientConfig) {
    let tracking = config.page_tracking;
    // User agent, language, hostname and online, NUL-separated (see `browser` in
    // js/core.js).
    let facts = abi::browser();
    let mut browser = facts.split('\0');
    let mut next = || String::from(browser.next().unwrap_or_default());
    let (user_agent, locale, hostname, online) = (next(), next(), next(), next());
    let mut store = Store::open(&hostname);
    let identity = store.load_identity(super::uuid);
    let prefix = config.storage_prefix();
    let session_tab = store.session_get(&config.session_key());
    let keys = store.keys_with_prefix(&prefix);
    let client_info = ClientInfo {
        user_agent,
        locale,
        timezone: abi::time_zone().unwrap_or_default(),
        user_agent_data: abi::user_agent_data_json(),
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
            online: online != "0",
        },
        &mut |k| store.get(k),
        Box::new(super::uuid),
    );
    install_hooks();
    driver::install(client, store);
    PAGES.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            p.tracking = tracking;
            p.last_url = abi::href();
        }
    });
    if tracking {
        page_viewed();
    }
}

/// Every callback from `js/core.js` (see [`wake`]). Never throws.
pub fn on_wake(kind: u32, a: f64, b: f64, c: f64) {
    match kind {
        wake::TIMER => driver::timer_fired(),
        wake::COMMIT => driver::commit(),
        wake::START => driver::started(),
        wake::RESPONSE => driver::response(a, b, c),
        wake::ADOPT_LOCK => driver::locked(false, a == 1.0),
        wake::RESYNC_LOCK => driver::locked(true, a == 1.0),
        wake::ONLINE if a == 1.0 => input(|c, now| c.set_online(now, true)),
        wake::ONLINE => input(|c, now| c.set_online(now, false)),
        wake::PAGE => page_event(a as u32, b == 1.0, c == 1.0),
        wake::NAVIGATION => on_navigation(),
        wake::HEARTBEAT => input(|c, now| c.heartbeat(now)),
        _ => {}
    }
}

/// A page lifecycle event (see [`wake::PAGE`]) as the client's input.
fn page_event(kind: u32, persisted: bool, hidden: bool) {
    match kind {
        0 if persisted => input(|c, now| c.page_hidden(now, Hide::Cached)),
        0 => input(|c, now| c.page_hidden(now, Hide::Unloaded)),
        // `resume`: a frozen page is back (its heartbeat may be stale).
        3 => input(|c, now| c.page_shown(now)),
        _ if hidden => input(|c, now| c.page_hidden(now, Hide::Hidden)),
        _ => input(|c, now| c.page_shown(now)),
    }
}

/// Has `js/core.js` watch the page: online and offline, the page lifecycle,
/// navigations and the heartbeat, each coming back through the `wake` export.
fn install_hooks() {
    abi::watch_page(HEARTBEAT_MS as f64);
}
