//! `__heard(kind, messageJson)`: a call heard from analytics.js by segflow's
//! destination plugin (`analyticsPlugin()` in `js/loader.js`, which hands over
//! `JSON.stringify(ctx.event)` through its queue). This shell only parses the
//! message and carries out what the core decides ([`Client::heard`]): the
//! identity changes with no message for Segment, a track is told to the content
//! module, a refused message goes to the `error` listeners. It never throws:
//! analytics.js would count a throw as the plugin failing.
//!
//! [`Client::heard`]: crate::core::client::Client::heard

#[allow(unused_imports)]
use crate::prelude::*;

use super::abi::{Arg, Held};
use super::dispatch::{self, batch};
use super::driver::{self, call, with_rt};
use super::host;
use super::local::Local;
use crate::core::client::Heard;
use crate::core::error::Error;
use crate::core::json;
use crate::core::message::check_arg;
use alloc::rc::Rc;
use core::cell::RefCell;

/// Follows a call analytics.js made (see the module docs). `kind` is the plugin
/// method (`identify`, `track`, `group`, `page`, `alias`), `message` the JSON
/// text of analytics.js's message. Before `init` it does nothing: `init` reads
/// the identity analytics.js stored.
pub fn heard(kind: Arg, message: Arg) {
    if !driver::is_initialized() {
        return;
    }
    let Some(kind) = kind.string() else {
        return;
    };
    // A message over Segment's limit (analytics.js refuses those too) is not
    // copied in: it goes to the `error` listeners as `payload_too_large`.
    let text = message.text(check_arg);
    batch(|| {
        let text = match text {
            Ok(Some(text)) => text,
            Ok(None) => return,
            Err(_) => return dispatch::emit("error", Held::error(&Error::too_large(), "")),
        };
        let Ok(message) = json::parse(&text) else {
            let e = Error::invalid("the analytics.js message is not JSON");
            return dispatch::emit("error", Held::error(&e, ""));
        };
        let mut out = Heard::Nothing;
        let followed = call(&mut |c, now| {
            out = c.heard(now, &kind, &message)?;
            Ok(())
        });
        // The user-changed flag is this call's (the content module hears "user").
        let _ = driver::user_changed();
        match (followed, out) {
            (Err(e), _) => dispatch::emit("error", Held::error(&e, "")),
            (Ok(()), Heard::Nothing) => {}
            (Ok(()), Heard::User) => host::notify("user"),
            (Ok(()), Heard::Event { event, properties }) => host::notify_event(&event, &properties),
        }
    });
}

/// `init({listenToAnalyticsJs: true})`, once `init` succeeded: the loader hands
/// over its plugin and the `window.analytics` it already registered it on at
/// `init` (or `undefined`); with the option on, `listenToAnalytics` in
/// `js/core.js` registers it if the loader could not, now or once the page
/// assigns `window.analytics`.
pub fn listen(plugin: Arg, registered: Arg) {
    PLUGIN.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            *p = Some(Rc::new(plugin.hold()));
        }
    });
    if with_rt(|rt| rt.client.config().listen_to_analytics_js).unwrap_or(false) {
        plugin.listen(registered);
    }
}

/// The loader's plugin, from [`listen`].
static PLUGIN: Local<RefCell<Option<Rc<Held>>>> = Local::new(RefCell::new(None));

/// Carries out [`Effect::ResetAnalyticsJs`]: once the current batch is done
/// (it is page code: analytics.js's `reset` event comes straight back as a
/// heard reset), `reset()` on the analytics.js that loaded the plugin, if one
/// did (the plugin's `load` keeps it, see `analyticsPlugin` in `js/loader.js`).
///
/// [`Effect::ResetAnalyticsJs`]: crate::core::client::Effect::ResetAnalyticsJs
pub fn reset_analytics() {
    if let Some(plugin) = PLUGIN.with(|p| p.try_borrow().ok().and_then(|p| p.clone())) {
        dispatch::defer(dispatch::Deferred::ResetAnalytics(plugin));
    }
}
