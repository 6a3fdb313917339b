//! What start and completion conditions look at, gathered in one place for the
//! flow and checklist runners: the page URL, the user's and company's
//! attributes (from the core), the user's event log (persisted per user under
//! `<prefix>events:u:<id>`), which watched selectors match an element now, and
//! the flow and checklist history the runners pass in.
//!
//! This module decides nothing: which events are counted and which selectors
//! are watched come from the engines (`counts`, `selectors`); it only stores
//! and reads.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use core::cell::RefCell;

use super::bridge;
use super::dom::{self, query};
use crate::core::content::conditions::{
    ContentKind, ContentStatus, EventLog, Facts, Scope, ServerState,
};
use crate::core::json::Json;

/// One flow's or checklist's id with whether the user has seen it, has
/// completed it and whether it is active.
pub type Status = (String, bool, bool, bool);

struct Store {
    log: EventLog,
    /// Where the current user's log is kept.
    key: String,
    /// The log was read from storage for that key.
    read: bool,
    /// Watched selectors that match an element now.
    present: Vec<String>,
    /// Whether a loaded condition names an event ([`set_counter`]).
    counter: Option<fn(&str) -> bool>,
    /// Evaluations wait ([`hold`]).
    held: bool,
    /// The user's server-side state (`init({stateHost})`): the request it
    /// answers (`URL\nsignature\nuserId`) and, once read, what it says.
    server: Option<(String, Option<ServerState>)>,
    /// `log` merged with the server's events, while there are some.
    merged: Option<EventLog>,
    /// The token of the last server-state request ([`server_state`]).
    asked: u32,
}

static STORE: Local<RefCell<Option<Store>>> = Local::new(RefCell::new(None));

fn with<T>(f: impl FnOnce(&mut Store) -> T) -> Option<T> {
    STORE.with(|cell| {
        let mut guard = cell.try_borrow_mut().ok()?;
        if guard.is_none() {
            *guard = Some(Store {
                log: EventLog::new(),
                key: bridge::key("events"),
                read: false,
                present: Vec::new(),
                counter: None,
                held: false,
                server: None,
                merged: None,
                asked: 0,
            });
        }
        guard.as_mut().map(f)
    })
}

/// Reads the current user's event log once (per user).
fn ensure_log() {
    let key = with(|s| (!s.read).then(|| s.key.clone())).flatten();
    if let Some(key) = key {
        let log = bridge::get(&key)
            .map(|t| EventLog::from_json(&t))
            .unwrap_or_default();
        with(|s| {
            s.log = log;
            s.read = true;
        });
    }
}

/// The user may have changed: the log follows the current user's key (and the
/// server-side state is read again for a new user, [`load_server_state`]).
pub fn user_changed() {
    let key = bridge::key("events");
    with(|s| {
        if s.key != key {
            s.key = key;
            s.read = false;
            s.log = EventLog::new();
            s.merge();
        }
    });
}

/// While `on`, the runners do not evaluate conditions: a user switch changes
/// the flow history, the checklist progress and the event log one after the
/// other, and nothing may look at a mix of two users'.
pub fn hold(on: bool) {
    with(|s| s.held = on);
}

/// Whether evaluations wait ([`hold`]).
pub fn held() -> bool {
    with(|s| s.held).unwrap_or(false)
}

/// Registers what says whether an event is counted (the engines' `counts`:
/// only events a loaded condition names are).
pub fn set_counter(counter: fn(&str) -> bool) {
    with(|s| s.counter = Some(counter));
}

/// Records that `event` was tracked with `properties` and persists the log, if
/// it is counted.
pub fn record(event: &str, properties: &Json) {
    let counter = with(|s| s.counter).flatten();
    if !counter.is_some_and(|f| f(event)) {
        return;
    }
    ensure_log();
    let saved = with(|s| {
        s.log.record(event, properties, now());
        s.merge();
        (s.key.clone(), s.log.to_json())
    });
    if let Some((key, text)) = saved {
        bridge::set(&key, Some(&text));
    }
}

/// Looks up which of `selectors` match an element now; whether that changed.
pub fn update_presence(selectors: Vec<String>) -> bool {
    let present: Vec<String> = selectors
        .into_iter()
        .filter(|s| query(s).is_some())
        .collect();
    with(|s| {
        let changed = s.present != present;
        s.present = present;
        changed
    })
    .unwrap_or(false)
}

/// The answer to request `token` of [`load_server_state`] arrived: it counts only
/// for the current request; then `loaded` runs.
pub fn server_state(token: u32, text: &str, loaded: fn()) {
    let applied = with(|s| {
        if s.asked != token {
            return false;
        }
        let Some((request, slot)) = &mut s.server else {
            return false;
        };
        let Some(user) = request.splitn(3, '\n').nth(2) else {
            return false;
        };
        let Some(state) = ServerState::parse(text, user) else {
            return false;
        };
        *slot = Some(state);
        s.merge();
        true
    });
    if applied == Some(true) {
        loaded();
    }
}

impl Store {
    /// Recomputes the merged log.
    fn merge(&mut self) {
        self.merged = match &self.server {
            Some((_, Some(state))) => Some(self.log.merged(&state.events)),
            _ => None,
        };
    }
}

/// Reads the current user's server-side state when there is one to read
/// (`init({stateHost})` and an identify with a signature) and it was not read
/// for this user yet; forgets another user's. The answer comes to
/// [`server_state`].
pub fn load_server_state() {
    let request = bridge::key("state");
    let fresh = with(|s| {
        if s.server.as_ref().map(|(r, _)| r.as_str()) == Some(request.as_str()) {
            return false;
        }
        s.server = (!request.is_empty()).then(|| (request.clone(), None));
        s.merge();
        !request.is_empty()
    });
    if fresh != Some(true) {
        return;
    }
    let mut parts = request.splitn(3, '\n');
    let (Some(url), Some(sig), Some(_user)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let token = with(|s| {
        s.asked = s.asked.wrapping_add(1);
        s.asked
    })
    .unwrap_or(0);
    dom::fetch_state(url, sig, super::wake::STATE, token.into());
}

fn now() -> u64 {
    crate::web::abi::now_ms()
}

/// The facts of one evaluation.
struct PageFacts<'a> {
    url: String,
    traits: &'a Json,
    company: Json,
    server: Option<&'a ServerState>,
    log: &'a EventLog,
    flows: Vec<Status>,
    checklists: Vec<Status>,
    present: &'a [String],
    now: u64,
}

impl Facts for PageFacts<'_> {
    fn url(&self) -> &str {
        &self.url
    }
    fn attribute(&self, scope: Scope, name: &str) -> Option<&Json> {
        // The page's own attributes first, then what the back end sent.
        let page = match scope {
            Scope::User => self.traits.get(name),
            Scope::Company => self.company.get(name),
        };
        page.or_else(|| {
            let s = self.server?;
            match scope {
                Scope::User => s.traits.get(name),
                Scope::Company => s.company.get(name),
            }
        })
    }
    fn events(&self) -> &EventLog {
        self.log
    }
    fn content(&self, kind: ContentKind, id: &str) -> ContentStatus {
        let list = match kind {
            ContentKind::Flow => &self.flows,
            ContentKind::Checklist => &self.checklists,
        };
        let s = list.iter().find(|s| s.0 == id);
        ContentStatus {
            seen: s.is_some_and(|s| s.1),
            completed: s.is_some_and(|s| s.2),
            active: s.is_some_and(|s| s.3),
        }
    }
    fn element_present(&self, selector: &str) -> bool {
        self.present.iter().any(|s| s == selector)
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
}

/// Runs `f` with the page's facts (the given flow and checklist history) and
/// the user's traits. `f` must not call page code or re-enter this module.
pub fn with_facts<T>(
    flows: Vec<Status>,
    checklists: Vec<Status>,
    f: impl FnOnce(&dyn Facts, &Json) -> T,
) -> Option<T> {
    ensure_log();
    let url = crate::web::abi::href();
    let traits = bridge::traits();
    let company = bridge::company();
    STORE.with(|cell| {
        let guard = cell.try_borrow().ok()?;
        let store = guard.as_ref()?;
        let server = match &store.server {
            Some((_, Some(state))) => Some(state),
            _ => None,
        };
        let facts = PageFacts {
            url,
            traits: &traits,
            company,
            server,
            log: store.merged.as_ref().unwrap_or(&store.log),
            flows,
            checklists,
            present: &store.present,
            now: now(),
        };
        Some(f(&facts, &traits))
    })
}
