//! The core client's loop in the page: every input goes through [`call`], which
//! hands the client the current page and the clock, then carries out the
//! [`Effect`]s it returns: storage writes at once, requests with `fetch` (each
//! abortable), the one timer, the commit microtask, and, once segflow's state
//! is no longer borrowed, the page's listeners and `flush()` promises.
//!
//! Nothing here decides anything: which requests, when, what is stored and
//! what the page is told all come from [`crate::core::client`].

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use core::cell::{Cell, RefCell};

use super::abi::{self, now_ms, Held};
use super::dispatch::{self, Deferred};
use super::page;
use super::storage::Store;
use crate::core::client::{flush_result, Client, Effect, Notice};
use crate::core::delivery::{Outcome, Transmit};
use crate::core::error::{Error, ErrorCode};

/// The running instance.
pub struct Runtime {
    /// The core client.
    pub client: Client,
    /// localStorage (or memory), cookies and sessionStorage.
    pub store: Store,
    /// `Basic ...` for regular requests, when `basicAuth` is on.
    auth: Option<String>,
    /// When the armed timer fires (`js/core.js` holds the one timer).
    timer: Option<u64>,
    storage_warned: bool,
}

/// Effects to carry out once the runtime is no longer borrowed.
#[derive(Default)]
struct Later {
    sends: Vec<Transmit>,
    aborts: Vec<u64>,
    notices: Vec<Notice>,
    resolves: Vec<(u64, usize)>,
    adopt: bool,
    resync: bool,
    commit: bool,
    reset_analytics: bool,
}

static RT: Local<RefCell<Option<Runtime>>> = Local::new(RefCell::new(None));
/// The start-up's effects, carried out by [`started`] in a microtask.
static START: Local<RefCell<Option<Later>>> = Local::new(RefCell::new(None));
static ADOPTING: Local<Cell<bool>> = Local::new(Cell::new(false));
static RESYNCING: Local<Cell<bool>> = Local::new(Cell::new(false));
static USER_CHANGED: Local<Cell<bool>> = Local::new(Cell::new(false));
/// When the calls being replayed were made (see [`set_call_time`]).
static CALL_TIME: Local<Cell<Option<u64>>> = Local::new(Cell::new(None));

/// Says when the calls that follow were made (the loader, replaying queued or
/// kept calls); `None` again once they are done.
pub fn set_call_time(at: Option<u64>) {
    CALL_TIME.with(|c| c.set(at));
}

/// The error of a call made before a successful `init`.
pub fn not_initialized() -> Error {
    Error {
        code: ErrorCode::NotInitialized,
        message: "call init({ writeKey }) before any other method".into(),
    }
}

/// Runs `f` on the runtime, or fails with `not_initialized`. `f` must not call
/// page code (see [`dispatch`]).
pub fn with_rt<T>(f: impl FnOnce(&mut Runtime) -> T) -> Result<T, Error> {
    RT.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => guard.as_mut().map(f).ok_or_else(not_initialized),
        Err(_) => Err(Error::invalid(
            "re-entrant call from inside a segflow callback",
        )),
    })
}

/// Whether the client said the user changed since the last time this was asked
/// (the flow side then switches to that user's progress).
pub fn user_changed() -> bool {
    USER_CHANGED.with(|u| u.replace(false))
}

/// Whether `init` has run.
pub fn is_initialized() -> bool {
    RT.with(|cell| cell.try_borrow().map(|g| g.is_some()).unwrap_or(true))
}

/// One input to the client: with the current page and clock, then its effects
/// carried out. Fails with `not_initialized` before `init`. (Not generic: one copy
/// in the wasm for every call site.)
#[inline(never)]
pub fn call(f: &mut dyn FnMut(&mut Client, u64) -> Result<(), Error>) -> Result<(), Error> {
    let page = page::changed();
    let had_page = page.is_some();
    let result = with_rt(|rt| {
        if let Some(p) = page {
            rt.client.set_page(p);
        }
        let now = now_ms();
        rt.client.set_call_time(CALL_TIME.with(|c| c.get()));
        let out = f(&mut rt.client, now);
        rt.client.set_call_time(None);
        (out, rt.execute(now))
    });
    match result {
        Ok((out, later)) => {
            carry_out(later);
            out
        }
        Err(e) => {
            if had_page {
                page::forget();
            }
            Err(e)
        }
    }
}

/// The page URL (after the URL filter) the next message will carry.
pub fn page_url() -> String {
    let mut url = String::new();
    let _ = call(&mut |c, _| {
        url = c.page().url.clone();
        Ok(())
    });
    url
}

/// Installs the runtime and its client. The effects of the start-up (restored
/// events to send, drops to report) are carried out in a microtask
/// ([`started`]), so listeners added right after `init` hear them.
pub fn install(client: Client, store: Store) {
    let auth = if client.config().basic_auth {
        abi::base64(&(client.config().write_key.clone() + ":")).map(|b| String::from("Basic ") + &b)
    } else {
        None
    };
    RT.with(|cell| {
        let Ok(mut cell) = cell.try_borrow_mut() else {
            return;
        };
        *cell = Some(Runtime {
            client,
            store,
            auth,
            timer: None,
            storage_warned: false,
        })
    });
    let later = with_rt(|rt| rt.execute(now_ms())).unwrap_or_default();
    START.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            *s = Some(later);
        }
    });
    abi::microtask(super::wake::START);
}

/// The microtask after `init`: carries out the start-up's effects.
pub fn started() {
    let later = START.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.take()));
    if let Some(later) = later {
        dispatch::batch(|| carry_out(later));
    }
}

/// The one timer fired: the client wakes up.
pub fn timer_fired() {
    let _ = with_rt(|rt| rt.timer = None);
    input(|c, now| c.wake(now));
}

/// The end-of-task microtask ran: queued messages are stored, then sent.
pub fn commit() {
    input(|c, now| c.end_of_task(now));
}

/// One input to the client that cannot fail, as a batch of its own.
pub fn input(f: fn(&mut Client, u64)) {
    dispatch::batch(|| {
        let _ = call(&mut |c, now| {
            f(c, now);
            Ok(())
        });
    });
}

impl Runtime {
    /// Carries out the client's effects that touch only segflow's own state
    /// (storage, sessionStorage, the timer); returns the rest for [`carry_out`].
    fn execute(&mut self, now: u64) -> Later {
        let mut later = Later::default();
        for effect in self.client.take_effects() {
            match effect {
                Effect::Store { key, value } => {
                    if !self.store.set(&key, &value) && !self.storage_warned {
                        self.storage_warned = true;
                        abi::warn(
                            "segflow: localStorage is full; new events are kept in memory until sent",
                        );
                    }
                }
                Effect::Remove { key } => self.store.remove(&key),
                Effect::SessionTab(tab) => self.store.session_set(&self.client.session_key(), &tab),
                Effect::SaveIdentity => self.store.save_identity(self.client.identity()),
                Effect::UserChanged => USER_CHANGED.with(|u| u.set(true)),
                Effect::Send(t) => later.sends.push(t),
                Effect::Abort(id) => later.aborts.push(id),
                Effect::Notice(n) => later.notices.push(n),
                Effect::Resolve { waiter, pending } => later.resolves.push((waiter, pending)),
                Effect::Adopt => later.adopt = true,
                Effect::Resync => later.resync = true,
                Effect::ScheduleCommit => later.commit = true,
                Effect::Warn(text) => abi::warn(text),
                Effect::ResetAnalyticsJs => later.reset_analytics = true,
            }
        }
        self.schedule(now);
        later
    }

    /// Arms the one timer for the client's next wake-up (or none).
    fn schedule(&mut self, now: u64) {
        let next = self.client.next_wakeup(now);
        if next == self.timer {
            return;
        }
        self.timer = next;
        // -1 clears the timer.
        abi::set_timer(next.map_or(-1.0, |at| {
            at.saturating_sub(now).min(i32::MAX as u64) as f64
        }));
    }
}

/// Carries out what may reach page code or the network.
fn carry_out(later: Later) {
    if later.commit {
        abi::microtask(super::wake::COMMIT);
    }
    for id in later.aborts {
        abi::abort_request(id);
    }
    for t in later.sends {
        transmit(t);
    }
    if later.adopt {
        under_lock(false);
    }
    if later.resync {
        under_lock(true);
    }
    for notice in later.notices {
        // The payload's shape is the core's (`Notice::payload`).
        let (name, payload) = notice.payload();
        let value = if name == "error" {
            let e = Error {
                code: ErrorCode::DeliveryFailure,
                message: "events were dropped".into(),
            };
            Held::error(&e, &payload)
        } else {
            Held::json(&payload)
        };
        dispatch::emit(name, value);
    }
    if later.reset_analytics {
        super::heard::reset_analytics();
    }
    for (waiter, pending) in later.resolves {
        let result = Held::json(&flush_result(pending));
        dispatch::defer(Deferred::Resolve(waiter, result));
    }
}

/// Carries out [`Effect::Adopt`] and [`Effect::Resync`]: under the cross-tab
/// lock (Web Locks, or a localStorage lease), hands the client the storage, in
/// which it reads and writes itself before the lock is released. One at a time
/// per page; a lock that could not be had is asked for again next time.
fn under_lock(resync: bool) {
    let busy = if resync { &RESYNCING } else { &ADOPTING };
    if busy.with(|a| a.replace(true)) {
        return;
    }
    let Ok(name) = with_rt(|rt| rt.client.lock_name()) else {
        busy.with(|a| a.set(false));
        return;
    };
    let kind = if resync {
        super::wake::RESYNC_LOCK
    } else {
        super::wake::ADOPT_LOCK
    };
    abi::with_lock(&name, kind);
}

/// The answer to [`under_lock`]: the lock is held for as long as this runs
/// (`acquired`), or could not be had.
pub fn locked(resync: bool, acquired: bool) {
    let busy = if resync { &RESYNCING } else { &ADOPTING };
    busy.with(|a| a.set(false));
    // Without the lock a resync still runs (it only reads, and must not hold
    // sending up); an adoption waits for the next heartbeat.
    if !resync && !acquired {
        return;
    }
    dispatch::batch(|| {
        let later = with_rt(|rt| {
            let now = now_ms();
            if resync {
                rt.client.resync(now, &rt.store);
            } else {
                rt.client.adopt(now, &mut rt.store);
            }
            rt.execute(now)
        });
        if let Ok(later) = later {
            carry_out(later);
        }
    });
}

/// Sends one request; `js/core.js` answers with [`response`].
fn transmit(t: Transmit) {
    let Ok((url, auth)) = with_rt(|rt| (rt.client.config().batch_url.clone(), rt.auth.clone()))
    else {
        return;
    };
    abi::post(t.id, &url, &t.body, auth.as_deref(), t.keepalive);
}

/// The answer to request `id`: its HTTP status and `Retry-After` in ms (-1 when
/// absent), or a status of -1 for a network error or an abort.
pub fn response(id: f64, status: f64, retry_after_ms: f64) {
    let outcome = if status < 0.0 {
        Outcome::NetworkError
    } else {
        Outcome::Status {
            code: if status <= 999.0 { status as u16 } else { 0 },
            retry_after_ms: (retry_after_ms >= 0.0).then_some(retry_after_ms as u64),
        }
    };
    let id = id as u64;
    dispatch::batch(|| {
        let _ = call(&mut |c, now| {
            c.handle_response(now, id, outcome);
            Ok(())
        });
    });
}
