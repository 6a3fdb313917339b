//! The running instance: identity, the delivery engine and their storage, the timer
//! that wakes the engine, the page-lifecycle hooks and the event listeners.
//!
//! Borrow discipline: the runtime lives in a thread-local `RefCell`. Page callbacks
//! (listeners, the URL filter) are never called while it is borrowed, because they may
//! call back into segflow; work that produces page events returns them as [`Emit`]s,
//! dispatched after the borrow ends.

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::storage::Store;
use super::{now_ms, post, random_bytes, with_lock};
use crate::core::delivery::{
    Delivery, DeliveryConfig, DropReason, Item, Outcome, Report, Transmit,
};
use crate::core::error::{Error, ErrorCode};
use crate::core::identity::Identity;
use crate::core::journal::{self, Journal, Write};
use crate::core::message::{self, ClientInfo, PageInfo};

/// How often a tab writes its heartbeat.
const HEARTBEAT_MS: i32 = 5_000;
/// A tab whose heartbeat is older than this is gone; its stored events are adopted.
/// Generous, because browsers throttle timers in background tabs to once a minute.
const STALE_TAB_MS: u64 = 150_000;

/// Settings fixed at `init`.
pub struct Settings {
    /// The Segment write key.
    pub write_key: String,
    /// `{apiHost}/batch`.
    pub batch_url: String,
    /// `Basic base64(writeKey:)`.
    pub auth: String,
    /// `{"writeKey":"...",` put in front of every batch body (keepalive requests carry
    /// no Authorization header).
    pub body_prefix: String,
    /// Environment label (`production`, `staging`, ...): part of the storage
    /// namespace, so two environments never share a queue even with one write key.
    pub environment: Option<String>,
    /// Track property that carries the active group id (`company_id`).
    pub company_property: Option<String>,
    /// The page's URL filter.
    pub url_filter: Option<Function>,
    /// The `integrations` object (JSON text).
    pub integrations: String,
}

/// An event for the page's listeners: name and payload.
pub type Emit = (&'static str, JsValue);

/// The running instance.
pub struct Runtime {
    /// Settings from `init`.
    pub settings: Settings,
    /// Storage shared with analytics.js.
    pub store: Store,
    /// Who the user is.
    pub identity: Identity,
    /// `identifyAnonymous` was called.
    pub anonymous_identified: bool,
    /// The delivery engine.
    pub engine: Delivery,
    /// Sending to Segment is on.
    pub streaming: bool,
    client: ClientInfo,
    page_key: String,
    page: PageInfo,
    context: String,
    queue_prefix: String,
    own_prefix: String,
    tabs_prefix: String,
    tab: String,
    timer: Option<(i32, u64)>,
    waiters: Vec<(u64, Function)>,
    storage_warned: bool,
    journal: Journal,
    commit_scheduled: bool,
}

/// A page callback segflow keeps alive for the life of the page.
type Hook = Closure<dyn FnMut(JsValue)>;

thread_local! {
    static RT: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    static LISTENERS: RefCell<Vec<(String, Function)>> = const { RefCell::new(Vec::new()) };
    static HOOKS: RefCell<Vec<Hook>> = const { RefCell::new(Vec::new()) };
    static COMMIT: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Runs `f` on the runtime, or fails with `not_initialized`.
pub fn with_rt<T>(f: impl FnOnce(&mut Runtime) -> Result<T, JsValue>) -> Result<T, JsValue> {
    RT.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => match guard.as_mut() {
            Some(rt) => f(rt),
            None => Err(super::error(
                ErrorCode::NotInitialized,
                "segflow: call init({ writeKey }) before any other method",
            )),
        },
        Err(_) => Err(super::error(
            ErrorCode::InvalidArgument,
            "segflow: re-entrant call from inside a segflow callback",
        )),
    })
}

/// Whether `init` has run.
pub fn is_initialized() -> bool {
    RT.with(|cell| cell.try_borrow().map(|g| g.is_some()).unwrap_or(true))
}

/// Calls the page's listeners for each event, after the runtime borrow has ended.
pub fn dispatch(events: Vec<Emit>) {
    if events.is_empty() {
        return;
    }
    let listeners = LISTENERS.with(|l| l.borrow().clone());
    for (name, payload) in events {
        for (n, f) in &listeners {
            if n == name {
                if let Err(e) = f.call1(&JsValue::UNDEFINED, &payload) {
                    web_sys::console::error_2(&"segflow: a listener threw".into(), &e);
                }
            }
        }
    }
}

/// Adds a listener.
pub fn add_listener(name: String, f: Function) {
    LISTENERS.with(|l| l.borrow_mut().push((name, f)));
}

/// Removes a listener added with the same name and function.
pub fn remove_listener(name: &str, f: &Function) {
    LISTENERS.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(i) = l.iter().position(|(n, g)| n == name && g == f) {
            l.remove(i);
        }
    });
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn ids_array(items: &[Item]) -> Array {
    items
        .iter()
        .map(|i| JsValue::from_str(&i.message_id))
        .collect()
}

impl Runtime {
    /// Starts the runtime: loads identity and any stored events.
    pub fn new(settings: Settings, config: DeliveryConfig, streaming: bool) -> Runtime {
        let mut store = Store::open();
        let identity = store.load_identity(super::uuid);
        let seed = u64::from_le_bytes(random_bytes()[..8].try_into().unwrap_or([7; 8]));
        let tab = super::uuid();
        let mut base = String::from("segflow:v1:");
        if let Some(env) = &settings.environment {
            base.push_str(env);
            base.push(':');
        }
        base.push_str(&settings.write_key);
        base.push(':');
        let queue_prefix = base.clone() + "q:";
        let own_prefix = queue_prefix.clone() + &tab + ":";
        let nav = web_sys::window().map(|w| w.navigator());
        let client = ClientInfo {
            user_agent: nav
                .as_ref()
                .and_then(|n| n.user_agent().ok())
                .unwrap_or_default(),
            locale: nav.as_ref().and_then(|n| n.language()).unwrap_or_default(),
            timezone: super::time_zone().unwrap_or_default(),
            user_agent_data: super::user_agent_data_json(),
        };
        Runtime {
            settings,
            store,
            identity,
            anonymous_identified: false,
            engine: Delivery::new(config, seed),
            streaming,
            client,
            page_key: String::new(),
            page: PageInfo::default(),
            context: String::new(),
            queue_prefix,
            own_prefix,
            tabs_prefix: base + "tab:",
            tab,
            timer: None,
            waiters: Vec::new(),
            storage_warned: false,
            journal: Journal::new(),
            commit_scheduled: false,
        }
    }

    /// The page fields and the `context` JSON, rebuilt only when the URL, title or
    /// referrer changed since the last call.
    pub fn page_and_context(&mut self) -> (&PageInfo, &str) {
        let doc = web_sys::window().and_then(|w| w.document());
        let (href, title, referrer) = match &doc {
            Some(doc) => (doc.url().unwrap_or_default(), doc.title(), doc.referrer()),
            None => Default::default(),
        };
        let key_len = href.len() + title.len() + referrer.len() + 2;
        let mut key = String::with_capacity(key_len);
        key.push_str(&href);
        key.push('\u{0}');
        key.push_str(&title);
        key.push('\u{0}');
        key.push_str(&referrer);
        if key != self.page_key || self.context.is_empty() {
            let (url, referrer) = match &self.settings.url_filter {
                Some(f) => (
                    super::apply_filter(f, &href),
                    if referrer.is_empty() {
                        referrer
                    } else {
                        super::apply_filter(f, &referrer)
                    },
                ),
                None => (href, referrer),
            };
            // The canonical link, resolved to an absolute URL by the browser.
            let canonical = doc
                .and_then(|d| {
                    d.query_selector("link[rel='canonical'][href]")
                        .ok()
                        .flatten()
                })
                .and_then(|l| Reflect::get(&l, &"href".into()).ok())
                .and_then(|h| h.as_string())
                .filter(|h| !h.is_empty())
                .map(|h| match &self.settings.url_filter {
                    Some(f) => super::apply_filter(f, &h),
                    None => h,
                });
            self.page = PageInfo {
                url,
                canonical,
                referrer,
                title,
            };
            self.context = message::context_json(&self.page, &self.client);
            self.page_key = key;
        }
        (&self.page, &self.context)
    }

    /// The page URL as last seen by [`Runtime::page_and_context`], after the URL filter.
    pub fn page_url(&self) -> String {
        self.page.url.clone()
    }

    /// Builds a message for the current user and page and queues it for Segment.
    pub fn send(&mut self, call: message::Call<'_>) -> Result<Vec<Emit>, Error> {
        let now = now_ms();
        let message_id = message::message_id(now, &super::uuid());
        let integrations = std::mem::take(&mut self.settings.integrations);
        self.page_and_context();
        let text = message::build(
            &message::Envelope {
                message_id: &message_id,
                timestamp_ms: now,
                user_id: self.identity.user_id.as_deref(),
                anonymous_id: &self.identity.anonymous_id,
                context: &self.context,
                integrations: &integrations,
            },
            call,
        );
        self.settings.integrations = integrations;
        self.enqueue(now, message_id, text)
    }

    /// Queues a finished message: into the engine and into storage.
    fn enqueue(&mut self, now: u64, message_id: String, json: String) -> Result<Vec<Emit>, Error> {
        if json.len() > crate::core::delivery::DeliveryConfig::default().max_message_bytes {
            return Err(Error {
                code: ErrorCode::PayloadTooLarge,
                message: String::from("segflow: the message is over Segment's 32 KB limit"),
            });
        }
        if !self.streaming {
            return Ok(Vec::new());
        }
        let value = journal::encode_entry(&message_id, &json);
        let queued = self
            .engine
            .enqueue(now, message_id, json)
            .map_err(|_| Error {
                code: ErrorCode::PayloadTooLarge,
                message: String::from("segflow: the message is over Segment's 32 KB limit"),
            })?;
        let mut emits = Vec::new();
        self.journal.add(queued.seq, value);
        self.drop_items(&queued.evicted, &DropReason::QueueFull, &mut emits);
        if !self.commit_scheduled {
            self.commit_scheduled = true;
            COMMIT.with(|c| {
                if let (Some(f), Some(w)) = (c.borrow().as_ref(), web_sys::window()) {
                    w.queue_microtask(f);
                }
            });
        }
        Ok(emits)
    }

    /// Writes the events queued during this task to storage (run as a microtask, so
    /// before the page can reload or close: one write per chunk, not per call).
    fn commit(&mut self) {
        self.commit_scheduled = false;
        let writes = self.journal.commit();
        self.write(writes);
    }

    fn write(&mut self, writes: Vec<Write>) {
        for w in writes {
            match w {
                Write::Set { first, value } => {
                    let key = self.chunk_key(first);
                    if !self.store.set(&key, &value) && !self.storage_warned {
                        self.storage_warned = true;
                        web_sys::console::warn_1(
                            &"segflow: localStorage is full; new events are kept in memory until sent"
                                .into(),
                        );
                    }
                }
                Write::Remove { first } => {
                    let key = self.chunk_key(first);
                    self.store.remove(&key);
                }
            }
        }
    }

    /// Forgets delivered or dropped events in storage.
    fn forget(&mut self, items: &[Item]) {
        let seqs: Vec<u64> = items.iter().map(|i| i.seq).collect();
        let writes = self.journal.done(&seqs);
        self.write(writes);
    }

    fn chunk_key(&self, first: u64) -> String {
        let mut k = self.own_prefix.clone();
        crate::core::json::push_u64(first, &mut k);
        k
    }

    fn drop_items(&mut self, items: &[Item], reason: &DropReason, emits: &mut Vec<Emit>) {
        if items.is_empty() {
            return;
        }
        self.forget(items);
        let payload = Object::new();
        set(&payload, "reason", &JsValue::from_str(reason.code()));
        if let DropReason::Rejected { status } = reason {
            set(&payload, "status", &JsValue::from(*status));
        }
        if let DropReason::MaxAttempts {
            status: Some(status),
        } = reason
        {
            set(&payload, "status", &JsValue::from(*status));
        }
        set(&payload, "count", &JsValue::from(items.len() as u32));
        set(&payload, "messageIds", &ids_array(items));
        emits.push(("dropped", payload.clone().into()));
        let err = super::coded_error("delivery_failure", "segflow: events were dropped");
        if let Ok(obj) = err.dyn_into::<Object>() {
            set(&obj, "reason", &JsValue::from_str(reason.code()));
            set(&obj, "count", &JsValue::from(items.len() as u32));
            emits.push(("error", obj.into()));
        }
    }

    /// Applies the engine's reports: storage removals and page events.
    fn apply(&mut self, reports: Vec<Report>) -> Vec<Emit> {
        let mut emits = Vec::new();
        for report in reports {
            match report {
                Report::Delivered { items } => {
                    self.forget(&items);
                    let payload = Object::new();
                    set(&payload, "count", &JsValue::from(items.len() as u32));
                    set(&payload, "messageIds", &ids_array(&items));
                    emits.push(("delivered", payload.into()));
                }
                Report::Dropped { items, reason } => self.drop_items(&items, &reason, &mut emits),
            }
        }
        emits
    }

    /// Resolves `flush()` promises whose events are all delivered or dropped.
    fn settle_waiters(&mut self) -> Vec<Function> {
        let mut done = Vec::new();
        let engine = &self.engine;
        let streaming = self.streaming;
        self.waiters.retain(|(mark, resolve)| {
            if !streaming || engine.is_settled(*mark) {
                done.push(resolve.clone());
                false
            } else {
                true
            }
        });
        done
    }

    /// Registers a `flush()` promise's resolve function.
    pub fn add_waiter(&mut self, resolve: Function) -> bool {
        if !self.streaming || self.engine.is_empty() {
            return false;
        }
        let mark = self.engine.request_flush();
        self.waiters.push((mark, resolve));
        true
    }

    /// Stops or resumes sending.
    pub fn set_streaming(&mut self, on: bool) -> Vec<Function> {
        self.streaming = on;
        if !on {
            self.cancel_timer();
        }
        self.settle_waiters()
    }

    fn cancel_timer(&mut self) {
        if let (Some((handle, _)), Some(w)) = (self.timer.take(), web_sys::window()) {
            w.clear_timeout_with_handle(handle);
        }
    }

    /// Sets the one timer the engine needs, for its next wake-up.
    fn schedule(&mut self, now: u64) {
        let next = if self.streaming && online() {
            self.engine.next_wakeup(now)
        } else {
            None
        };
        match (next, self.timer) {
            (Some(at), Some((_, t))) if t == at => {}
            (Some(at), _) => {
                self.cancel_timer();
                let delay = at.saturating_sub(now).min(i32::MAX as u64) as i32;
                let handle = HOOKS.with(|h| {
                    h.borrow().first().and_then(|cb| {
                        web_sys::window().and_then(|w| {
                            w.set_timeout_with_callback_and_timeout_and_arguments_0(
                                cb.as_ref().unchecked_ref(),
                                delay,
                            )
                            .ok()
                        })
                    })
                });
                self.timer = handle.map(|h| (h, at));
            }
            (None, _) => self.cancel_timer(),
        }
    }

    fn heartbeat(&mut self) {
        let key = self.tabs_prefix.clone() + &self.tab;
        self.store.set(&key, &now_ms().to_string());
    }

    /// Adopts events stored by tabs (or earlier page loads) that are gone: those with
    /// no heartbeat, or one older than [`STALE_TAB_MS`]. Runs under a cross-tab lock,
    /// and moves each event to this tab's keys, so no two tabs take the same event.
    fn adopt_orphans(&mut self) -> Vec<Emit> {
        let now = now_ms();
        let mut emits = Vec::new();
        let mut keys = self.store.keys_with_prefix(&self.queue_prefix);
        keys.retain(|k| !k.starts_with(&self.own_prefix));
        // Oldest first: by tab, then by sequence number.
        let mut found: Vec<(String, u64, String)> = keys
            .into_iter()
            .filter_map(|k| {
                let rest = &k[self.queue_prefix.len()..];
                let (tab, seq) = rest.rsplit_once(':')?;
                let seq = seq.parse::<u64>().ok()?;
                Some((tab.to_owned(), seq, k))
            })
            .collect();
        found.sort();
        let mut checked: Vec<(String, bool)> = Vec::new();
        for (tab, _, key) in found {
            let stale = match checked.iter().find(|(t, _)| *t == tab) {
                Some((_, s)) => *s,
                None => {
                    let beat = self
                        .store
                        .get(&(self.tabs_prefix.clone() + &tab))
                        .and_then(|v| v.parse::<u64>().ok());
                    let s = beat.is_none_or(|b| now.saturating_sub(b) > STALE_TAB_MS);
                    if s {
                        self.store.remove(&(self.tabs_prefix.clone() + &tab));
                    }
                    checked.push((tab.clone(), s));
                    s
                }
            };
            if !stale {
                continue;
            }
            let Some(value) = self.store.get(&key) else {
                continue;
            };
            self.store.remove(&key);
            for (message_id, json) in journal::decode(&value) {
                if let Ok(mut e) = self.enqueue(now, message_id.to_owned(), json.to_owned()) {
                    emits.append(&mut e);
                }
            }
        }
        emits
    }
}

/// Installs the runtime and the page hooks (timer, lifecycle, heartbeat, adoption).
pub fn install(rt: Runtime) {
    RT.with(|cell| *cell.borrow_mut() = Some(rt));
    let Some(window) = web_sys::window() else {
        return;
    };
    let timer = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {
        let _ = with_rt(|rt| {
            rt.timer = None;
            Ok(())
        });
        pump();
    });
    let commit = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {
        let _ = with_rt(|rt| {
            rt.commit();
            Ok(())
        });
    });
    COMMIT.with(|c| *c.borrow_mut() = Some(commit.as_ref().unchecked_ref::<Function>().clone()));
    let online = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| pump());
    let hidden = Closure::<dyn FnMut(JsValue)>::new(|e: JsValue| {
        let is_pagehide = Reflect::get(&e, &"type".into())
            .ok()
            .and_then(|t| t.as_string())
            .is_some_and(|t| t == "pagehide");
        let hidden = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Hidden);
        if is_pagehide || hidden {
            page_hidden(is_pagehide);
        } else {
            let _ = with_rt(|rt| {
                rt.heartbeat();
                Ok(())
            });
        }
    });
    let tick = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {
        let _ = with_rt(|rt| {
            rt.heartbeat();
            Ok(())
        });
        adopt();
    });
    let _ = window.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
    let _ = window.add_event_listener_with_callback("pagehide", hidden.as_ref().unchecked_ref());
    let _ = window.add_event_listener_with_callback("pageshow", hidden.as_ref().unchecked_ref());
    if let Some(doc) = window.document() {
        let _ = doc
            .add_event_listener_with_callback("visibilitychange", hidden.as_ref().unchecked_ref());
    }
    let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
        tick.as_ref().unchecked_ref(),
        HEARTBEAT_MS,
    );
    HOOKS.with(|h| {
        let mut h = h.borrow_mut();
        h.push(timer);
        h.push(commit);
        h.push(online);
        h.push(hidden);
        h.push(tick);
    });
    let _ = with_rt(|rt| {
        rt.heartbeat();
        Ok(())
    });
    adopt();
}

/// Takes over orphaned stored events under the cross-tab lock, then sends.
fn adopt() {
    let Ok(name) = with_rt(|rt| Ok(rt.queue_prefix.clone() + "adopt")) else {
        return;
    };
    let f = Closure::once_into_js(move || {
        let emits = with_rt(|rt| Ok(rt.adopt_orphans())).unwrap_or_default();
        dispatch(emits);
        pump();
    });
    if let Some(f) = f.dyn_ref::<Function>() {
        with_lock(&name, f);
    }
}

/// The page is going away or hidden: send what is queued with keepalive requests,
/// leaving every event stored until a response confirms it.
fn page_hidden(leaving: bool) {
    let sends = with_rt(|rt| {
        if leaving {
            let key = rt.tabs_prefix.clone() + &rt.tab;
            rt.store.remove(&key);
        }
        if !rt.streaming || !online() {
            return Ok(Vec::new());
        }
        Ok(rt.engine.poll_keepalive(now_ms()))
    })
    .unwrap_or_default();
    for t in sends {
        wasm_bindgen_futures::spawn_local(transmit(t, true));
    }
}

fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Sends whatever the engine has ready and sets the timer for the next wake-up.
pub fn pump() {
    let sends = with_rt(|rt| {
        let now = now_ms();
        let mut out = Vec::new();
        if rt.streaming {
            let on = online();
            while let Some(t) = rt.engine.poll_transmit(now, on) {
                out.push(t);
            }
        }
        rt.schedule(now);
        Ok(out)
    })
    .unwrap_or_default();
    for t in sends {
        wasm_bindgen_futures::spawn_local(transmit(t, false));
    }
}

/// Resolves the promises of `flush()` calls that are settled.
pub fn resolve_all(done: Vec<Function>) {
    for f in done {
        let _ = f.call0(&JsValue::UNDEFINED);
    }
}

async fn transmit(t: Transmit, keepalive: bool) {
    let Ok((url, auth, body)) = with_rt(|rt| {
        let mut body = String::with_capacity(rt.settings.body_prefix.len() + t.body.len());
        body.push_str(&rt.settings.body_prefix);
        body.push_str(&t.body[1..]);
        Ok((
            rt.settings.batch_url.clone(),
            rt.settings.auth.clone(),
            body,
        ))
    }) else {
        return;
    };
    let outcome = match JsFuture::from(post(&url, &body, &auth, keepalive)).await {
        Ok(v) => {
            let arr = Array::from(&v);
            let status = arr.get(0).as_f64().unwrap_or(0.0) as u16;
            let ra = arr.get(1).as_f64().unwrap_or(-1.0);
            Outcome::Status {
                code: status,
                retry_after_ms: (ra >= 0.0).then_some(ra as u64),
            }
        }
        Err(_) => Outcome::NetworkError,
    };
    let result = with_rt(|rt| {
        let reports = rt.engine.handle_response(now_ms(), t.id, outcome);
        let emits = rt.apply(reports);
        Ok((emits, rt.settle_waiters()))
    });
    if let Ok((emits, done)) = result {
        dispatch(emits);
        resolve_all(done);
    }
    pump();
}
