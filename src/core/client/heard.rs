//! Calls heard from analytics.js (`@segment/analytics-next`) through segflow's
//! destination plugin (`segflow.analyticsPlugin()`): each is the Segment message
//! analytics.js built, and analytics.js sends it to Segment itself. segflow
//! follows it, with **no message of its own** (Segment must not get it twice):
//!
//! | heard | what segflow does |
//! | --- | --- |
//! | `identify` | takes the user id and traits as [`Client::identify`] does (it is that call, without its message): the same validation, the identity persisted, and a different user id forgets the previous user's traits and group. The anonymous id is then analytics.js's (the message's), so both keep sending the same one; a fresh one only when a different user's message has none. Without a user id, the traits are the current visitor's, as [`Client::identify_anonymous`] takes them. |
//! | a different user than segflow's identified one | segflow follows the latest identify, as above, and warns once per page ([`Effect::Warn`] with [`USER_SWITCH_WARNING`]) |
//! | `group` | takes the group id and traits as [`Client::group`] does |
//! | `alias` | the user id becomes the current user, as [`Client::alias`] does |
//! | `reset` (analytics.js's `reset()`, heard through its `reset` event) | the visitor signs out as with [`Client::reset`]: no user, traits or group, and a new anonymous id, which analytics.js then reads from storage, so both keep sharing one |
//! | `track` | nothing changes; the shell tells the content module ([`Heard::Event`]), which counts events for its conditions |
//! | `page`, anything else | nothing |
//!
//! Traits are resolved as `identify` resolves them (plain values are set;
//! analytics.js sends plain values). A message heard again (the same
//! `messageId`, as when the plugin was registered twice) is ignored.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{Client, Effect};
use crate::core::error::Error;
use crate::core::identity::validate_id;
use crate::core::json::Json;

/// What [`Effect::Warn`] says, once per page, when analytics.js identifies
/// another user than the one segflow has identified.
pub const USER_SWITCH_WARNING: &str =
    "segflow: analytics.js identified another user; segflow switched to it";

/// How many `messageId`s of heard calls are remembered, to ignore a call heard
/// twice: two registrations of the plugin hear each call one right after the
/// other, so only the last few matter.
const HEARD_IDS: usize = 16;

/// What the shell does after a heard call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Nothing changed.
    Nothing,
    /// The user, their traits or their group changed: the content module
    /// reloads what depends on them.
    User,
    /// analytics.js tracked `event` with `properties` (JSON text of an object):
    /// the content module counts it.
    Event {
        /// The event name.
        event: String,
        /// Its properties, JSON object text.
        properties: String,
    },
}

/// The error for a message segflow cannot follow (an id, traits or properties
/// of the wrong type); the ids themselves are checked as `identify` checks them.
fn bad() -> Error {
    Error::invalid("an analytics.js message has a field of the wrong type")
}

/// An id field of a message: a string, or a number as JSON wrote it; `None`
/// when absent or null.
fn id_field<'a>(message: &'a Json, key: &str) -> Result<Option<&'a str>, Error> {
    match message.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(Json::Number(n)) => Ok(Some(n.text())),
        Some(_) => Err(bad()),
    }
}

/// An object field of a message (traits, properties): `{}` when absent or null.
fn object_field(message: &Json, key: &str) -> Result<Json, Error> {
    match message.get(key) {
        None | Some(Json::Null) => Ok(Json::Object(Vec::new())),
        Some(v @ Json::Object(_)) => Ok(v.clone()),
        Some(_) => Err(bad()),
    }
}

impl Client {
    /// A call heard from analytics.js at `now`: `kind` is the plugin method that
    /// heard it (`identify`, `track`, `group`, `page`, `alias`), `message` the
    /// Segment message analytics.js built. See the [module docs](self). On error
    /// nothing changes.
    pub fn heard(&mut self, now: u64, kind: &str, message: &Json) -> Result<Heard, Error> {
        if message.as_object().is_none() {
            return Err(bad());
        }
        if let Some(id) = message.get("messageId").and_then(Json::as_str) {
            if self.heard_ids.iter().any(|h| h == id) {
                return Ok(Heard::Nothing);
            }
            if self.heard_ids.len() >= HEARD_IDS {
                self.heard_ids.clear();
            }
            self.heard_ids.push(id.to_owned());
        }
        let id = |key| id_field(message, key);
        let traits = || object_field(message, "traits");
        // A missing id is an empty one: refused with identify's own message.
        match kind {
            "identify" => self.heard_identify(now, id("userId")?, &traits()?, id("anonymousId")?),
            "group" => {
                let (group_id, traits) = (id("groupId")?.unwrap_or(""), traits()?);
                self.quietly(&mut |c| c.group(now, group_id, &traits, None))
            }
            "alias" => {
                let user_id = id("userId")?.unwrap_or("");
                self.quietly(&mut |c| c.alias(now, user_id, None))
            }
            // analytics.js's `reset()` (its `reset` event; the message is `{}`).
            "reset" => {
                self.sign_out();
                Ok(Heard::User)
            }
            "track" => match message.get("event").and_then(Json::as_str) {
                Some(event) if !event.is_empty() => Ok(Heard::Event {
                    event: event.to_owned(),
                    properties: object_field(message, "properties")?.to_json(),
                }),
                _ => Err(Error::invalid("event must be a non-empty string")),
            },
            _ => Ok(Heard::Nothing),
        }
    }

    /// An identify heard from analytics.js at `now` (see the [module
    /// docs](self)): `user_id` (none: the current visitor's traits, as
    /// `identifyAnonymous`), its `traits` and analytics.js's `anonymous_id`.
    pub fn heard_identify(
        &mut self,
        now: u64,
        user_id: Option<&str>,
        traits: &Json,
        anonymous_id: Option<&str>,
    ) -> Result<Heard, Error> {
        let switching =
            matches!((&self.identity.user_id, user_id), (Some(prev), Some(u)) if prev != u);
        // identify says the user changed (Effect::UserChanged) exactly then.
        let new_user = user_id.is_some_and(|u| self.identity.user_id.as_deref() != Some(u));
        self.quietly(&mut |c| match user_id {
            Some(u) => c.identify(now, u, traits),
            None => c.identify_anonymous(now, traits),
        })?;
        if let Some(a) = anonymous_id.filter(|a| validate_id(a, "").is_ok()) {
            // The call above asked for Effect::SaveIdentity, which stores the
            // identity as it is once this input is done.
            if a != self.identity.anonymous_id {
                self.identity.anonymous_id = a.to_owned();
                if !new_user {
                    self.effects.push(Effect::UserChanged);
                }
            }
        }
        if switching && !self.warned_switch {
            self.warned_switch = true;
            self.effects.push(Effect::Warn(USER_SWITCH_WARNING));
        }
        Ok(Heard::User)
    }

    /// Runs an API call that changes the identity (persisted, the flow side told
    /// of a new user) without building or queueing its message.
    fn quietly(
        &mut self,
        call: &mut dyn FnMut(&mut Client) -> Result<(), Error>,
    ) -> Result<Heard, Error> {
        self.quiet = true;
        let done = call(self);
        self.quiet = false;
        done.map(|()| Heard::User)
    }
}
