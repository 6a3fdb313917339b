//! Page code: the `on()` listeners, and the rule that segflow calls them only
//! once its own work for the current call is done.
//!
//! Every entry point (an API call, a DOM event, a timer, an HTTP answer) runs
//! as one *batch*. Page code it causes (listeners, the custom navigate
//! function, promise resolutions) is queued with [`defer`] and run, in order,
//! when the outermost batch ends, never while segflow's state is borrowed. A
//! listener that calls segflow runs its call as a batch of its own, whose page
//! code joins the end of the queue.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::batches::Batches;
use crate::web::local::Local;
use alloc::rc::Rc;
use core::cell::RefCell;

use super::abi::{self, Arg, Held};

/// An event for the page's listeners: name and payload.
pub type Emit = (&'static str, Held);

/// Page code to run once the current batch is done.
pub enum Deferred {
    /// Call the `on()` listeners of this event.
    Emit(Emit),
    /// Call `f(arg)` (the content module's hook).
    Call(Rc<Held>, Held),
    /// Call `reset()` on the analytics.js that loaded this plugin (see
    /// [`heard::reset_analytics`](super::heard::reset_analytics)).
    ResetAnalytics(Rc<Held>),
    /// Settle `flush()` promise `waiter` (made by `waiter` in `js/core.js`)
    /// with this value.
    Resolve(u64, Held),
}

/// The `on()` listeners, in the order added: event name and function.
type Listeners = Vec<(String, Rc<Held>)>;

static LISTENERS: Local<RefCell<Listeners>> = Local::new(RefCell::new(Vec::new()));
static BATCHES: Local<Batches<Deferred>> = Local::new(Batches::new());
/// Runs `f` as a batch (see the module docs).
pub fn batch<T>(f: impl FnOnce() -> T) -> T {
    BATCHES.with(|b| b.batch(run, f))
}

/// Queues page code for the end of the current batch (or runs it now, as a batch of
/// its own, when none is running).
pub fn defer(d: Deferred) {
    BATCHES.with(|b| b.defer(run, d));
}

/// Queues an event for the listeners.
pub fn emit(name: &'static str, payload: Held) {
    defer(Deferred::Emit((name, payload)));
}

fn run(d: Deferred) {
    match d {
        Deferred::Emit((name, payload)) => {
            let listeners =
                LISTENERS.with(|l| l.try_borrow().map(|l| l.clone()).unwrap_or_default());
            for (n, f) in &listeners {
                // One that an earlier listener removed (`off`) during this event
                // is not called, as `EventTarget` has it.
                let current = || {
                    LISTENERS.with(|l| {
                        l.try_borrow()
                            .is_ok_and(|l| l.iter().any(|(_, g)| Rc::ptr_eq(g, f)))
                    })
                };
                if n == name && current() {
                    f.invoke(&payload, false);
                }
            }
        }
        Deferred::Call(f, arg) => f.invoke(&arg, true),
        Deferred::Resolve(waiter, value) => abi::settle(waiter, &value),
        Deferred::ResetAnalytics(plugin) => plugin.reset_analytics(),
    }
}

/// Adds a listener, unless the same function listens to that event already (as
/// `addEventListener` does: code that runs twice does not hear each event twice).
pub fn add_listener(name: String, f: Arg) {
    LISTENERS.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if !l.iter().any(|(n, g)| *n == name && f.is(g)) {
                l.push((name, Rc::new(f.hold())));
            }
        }
    });
}

/// Removes a listener added with the same name and function.
pub fn remove_listener(name: &str, f: Arg) {
    LISTENERS.with(|l| {
        let Ok(mut l) = l.try_borrow_mut() else {
            return;
        };
        if let Some(i) = l.iter().position(|(n, g)| n == name && f.is(g)) {
            l.remove(i);
        }
    });
}
