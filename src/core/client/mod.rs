//! The core client: one state machine for identity, messages, delivery, storage
//! and tab coordination. The browser shell is a loop around it.
//!
//! # Inputs and outputs
//! Inputs are method calls: the API calls (`identify`, `track`, ...), the clock
//! (every input takes `now`, epoch milliseconds), HTTP answers
//! ([`Client::handle_response`]), the timer ([`Client::wake`]), page
//! lifecycle ([`Client::page_hidden`], [`Client::set_online`]) and what
//! storage held at start ([`Start`]) or at adoption time ([`Client::adopt`]).
//! Outputs are [`Effect`]s, taken with [`Client::take_effects`] after each
//! input and carried out in order by the shell: storage writes, requests to
//! send or abort, events for the page's listeners, `flush()` promises to
//! settle, and the single wake-up time ([`Client::next_wakeup`]).
//!
//! Calls heard from analytics.js ([`Client::heard`], see [`heard`]) are inputs
//! too: they change the identity as the API calls do, but queue no message
//! (analytics.js already sent it).
//!
//! # Storage
//! Under `segflow:v1:[<environment>:]<writeKey>:` (see
//! [`ClientConfig::storage_prefix`]):
//! - `q:<tab>:<seq>`: queued events in chunks (see [`crate::core::journal`]),
//!   each with its first-queued time and attempts;
//! - `tab:<tab>`: a tab's heartbeat (epoch ms), written every
//!   [`HEARTBEAT_MS`], and `left:<ms>` once the page went away;
//! - `flows:u:<userId>` / `flows:a:<anonymousId>`: flow progress.
//!
//! A tab's id is kept in `sessionStorage` ([`Client::session_key`]), so a
//! reload of the same tab takes its own stored events back at once, in their
//! order, with their attempts and first-queued time. Events of tabs that are
//! gone (no heartbeat, one older than [`STALE_TAB_MS`], or one that says the
//! page left more than [`LEAVE_GRACE_MS`] ago) are adopted under a
//! cross-tab lock ([`Effect::Adopt`]): written to this tab's chunks first, then
//! removed from the other's, in their order.

#[allow(unused_imports)]
use crate::prelude::*;

pub mod config;
pub mod heard;
mod tabs;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod heard_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

pub use config::{ClientConfig, Raw};
pub use heard::{Heard, USER_SWITCH_WARNING};
pub use tabs::Read;

use crate::core::delivery::{Delivery, DropReason, EnqueueError, Item, Outcome, Report, Transmit};
use crate::core::error::{Error, ErrorCode};
use crate::core::identity::{apply_changes, validate_signature, Identity};
use crate::core::journal::{self, Journal, Write};
use crate::core::json::{self, Json};
use crate::core::message::{self, Call, ClientInfo, PageInfo};

/// How often a tab writes its heartbeat.
pub const HEARTBEAT_MS: u64 = 5_000;
/// A tab whose heartbeat is older than this is gone; its stored events are
/// adopted. Generous, because browsers throttle timers in background tabs to
/// once a minute.
pub const STALE_TAB_MS: u64 = 150_000;
/// Another tab adopts the events of a page that went away (`pagehide`) only
/// this long after: a reload of the same tab takes them back itself, in order.
pub const LEAVE_GRACE_MS: u64 = 10_000;
/// A page that has not written its heartbeat for this long (frozen in the
/// background, or restored from the back-forward cache) may have had its events
/// adopted by another tab: it checks storage ([`Effect::Resync`]) before sending
/// again. Half of [`STALE_TAB_MS`], so no adoption can have happened unseen.
pub const RESYNC_GAP_MS: u64 = STALE_TAB_MS / 2;

/// The localStorage the client reads and writes itself while it holds the
/// cross-tab lock ([`Client::adopt`], [`Client::resync`]), where a write's
/// success decides what comes next.
pub trait Storage {
    /// Every key that starts with `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String>;
    /// The value of `key`.
    fn get(&self, key: &str) -> Option<String>;
    /// Writes `key`; false when storage refused (full, unavailable).
    fn set(&mut self, key: &str, value: &str) -> bool;
    /// Removes `key`.
    fn remove(&mut self, key: &str);
}

/// How the page was hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hide {
    /// `visibilitychange` to hidden: a tab switch; the page runs on.
    Hidden,
    /// `pagehide` into the back-forward cache (`persisted`): it may come back
    /// or be evicted, so its heartbeat stays (another tab adopts its events
    /// only once the heartbeat is stale).
    Cached,
    /// `pagehide` for good: its heartbeat says it left.
    Unloaded,
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write `value` under `key` in localStorage.
    Store {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove `key` from localStorage.
    Remove {
        /// The key.
        key: String,
    },
    /// Keep this tab's id in sessionStorage under [`Client::session_key`].
    SessionTab(String),
    /// Store the identity ([`Client::identity`]) under analytics.js's keys.
    SaveIdentity,
    /// The user id or anonymous id changed: the flow side switches to that
    /// user's progress ([`Client::flow_state_key`]).
    UserChanged,
    /// POST the request to [`ClientConfig::batch_url`] (with
    /// `fetch(..., {keepalive: true})` when it says so), then hand the answer
    /// to [`Client::handle_response`].
    Send(Transmit),
    /// Abort request `id` (its deadline passed; the client already counted it
    /// as a network error).
    Abort(u64),
    /// Tell the page's listeners.
    Notice(Notice),
    /// Settle `flush()` promise `waiter`: `pending` of the events it waited for
    /// are still queued (0: all delivered or dropped).
    Resolve {
        /// The waiter id [`Client::flush`] returned.
        waiter: u64,
        /// Events still queued, to be retried.
        pending: usize,
    },
    /// Under the cross-tab lock ([`Client::lock_name`]), call [`Client::adopt`].
    Adopt,
    /// Under the cross-tab lock, call [`Client::resync`] (nothing is sent until then).
    Resync,
    /// Call [`Client::end_of_task`] at the end of the current task (a microtask).
    ScheduleCommit,
    /// Warn in the console (`console.warn`) with this text; at most once per
    /// page for each reason (see [`heard`]).
    Warn(&'static str),
    /// `reset()` was called: sign out the analytics.js that loaded segflow's
    /// plugin too (its `reset()`), if one did, so that it neither sends the old
    /// user id nor writes it back. Its `reset` event then comes back as a heard
    /// reset, which makes the anonymous id both keep.
    ResetAnalyticsJs,
}

/// An event for the page's listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// `delivered`: accepted by Segment.
    Delivered {
        /// Their `messageId`s.
        message_ids: Vec<String>,
    },
    /// `dropped`: given up on.
    Dropped {
        /// Their `messageId`s.
        message_ids: Vec<String>,
        /// Why.
        reason: DropReason,
    },
    /// `error`: a `delivery_failure` error for the same drop.
    DeliveryFailure {
        /// The drop reason's code.
        reason: &'static str,
        /// How many events.
        count: usize,
    },
}

impl Notice {
    /// The listener event it goes to (`delivered`, `dropped` or `error`) and
    /// its payload as JSON text: `{count, messageIds}`, `{reason, status?,
    /// count, messageIds}`, or for `error` the fields the `delivery_failure`
    /// Error carries besides its code and message, `{reason, count}`.
    pub fn payload(&self) -> (&'static str, String) {
        let mut out = String::from("{");
        let ids = |ids: &[String], out: &mut String| {
            out.push_str("\"count\":");
            json::push_u64(ids.len() as u64, out);
            out.push_str(",\"messageIds\":[");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::write_string(id, out);
            }
            out.push(']');
        };
        let name = match self {
            Notice::Delivered { message_ids } => {
                ids(message_ids, &mut out);
                "delivered"
            }
            Notice::Dropped {
                message_ids,
                reason,
            } => {
                out.push_str("\"reason\":");
                json::write_string(reason.code(), &mut out);
                if let DropReason::Rejected { status } = reason {
                    out.push_str(",\"status\":");
                    json::push_u64((*status).into(), &mut out);
                }
                out.push(',');
                ids(message_ids, &mut out);
                "dropped"
            }
            Notice::DeliveryFailure { reason, count } => {
                out.push_str("\"reason\":");
                json::write_string(reason, &mut out);
                out.push_str(",\"count\":");
                json::push_u64(*count as u64, &mut out);
                "error"
            }
        };
        out.push('}');
        (name, out)
    }
}

/// `flush()`'s result, `{"pending": n}`, as JSON text.
pub fn flush_result(pending: usize) -> String {
    let mut out = String::from("{\"pending\":");
    json::push_u64(pending as u64, &mut out);
    out.push('}');
    out
}

/// What the shell read at start-up.
#[derive(Clone, Debug)]
pub struct Start {
    /// Now (epoch ms).
    pub now: u64,
    /// The identity stored under analytics.js's keys.
    pub identity: Identity,
    /// This tab's id from sessionStorage, if any.
    pub session_tab: Option<String>,
    /// Every localStorage key under [`ClientConfig::storage_prefix`] (values are
    /// read as needed through the `read` function given with it).
    pub keys: Vec<String>,
    /// The browser facts of every message's context.
    pub client_info: ClientInfo,
    /// Seed of the retry jitter.
    pub seed: u64,
    /// `navigator.onLine`.
    pub online: bool,
}

/// A message whose fields do not borrow the identity (so the identity can change first).
enum Msg {
    Identify { traits: String },
    Group { group_id: String, traits: String },
    Alias { previous_id: String },
}

/// The client. See the [module docs](self).
pub struct Client {
    config: ClientConfig,
    prefix: String,
    tab: String,
    identity: Identity,
    anonymous_identified: bool,
    delivery: Delivery,
    journal: Journal,
    streaming: bool,
    online: bool,
    commit_scheduled: bool,
    /// When the current call was made, if earlier than now (a call queued before
    /// the module loaded): its messages' `timestamp`.
    call_time: Option<u64>,
    /// When this page last wrote its heartbeat.
    last_beat: u64,
    /// Waiting for [`Client::resync`]: nothing is sent meanwhile.
    resync_pending: bool,
    /// Chunks changed while a resync was pending, to rewrite after it.
    dirty: Vec<u64>,
    /// The time of the last input that looked for a heartbeat gap.
    gap_checked_at: u64,
    waiters: Vec<(u64, u64)>,
    next_waiter: u64,
    /// The `messageId`s of the last calls heard from analytics.js (see [`heard`]).
    heard_ids: Vec<String>,
    /// Whether this page warned that analytics.js switched the user.
    warned_switch: bool,
    /// A call heard from analytics.js is running: the identity changes as the
    /// API call says, but no message is built or queued (see [`heard`]).
    quiet: bool,
    client_info: ClientInfo,
    page: PageInfo,
    context: String,
    uuid: Box<dyn FnMut() -> String>,
    effects: Vec<Effect>,
}

impl Client {
    /// Starts a client: takes this tab's id (the one in sessionStorage unless
    /// another live page uses it), takes back this tab's stored events and asks
    /// for the adoption of other tabs' ([`Effect::Adopt`]) while streaming.
    /// `read` reads a localStorage key; `uuid` gives fresh uuid v4 strings
    /// (message ids, anonymous ids, tab ids).
    pub fn new(
        config: ClientConfig,
        start: Start,
        read: &mut Read,
        mut uuid: Box<dyn FnMut() -> String>,
    ) -> Client {
        let prefix = config.storage_prefix();
        let tab =
            tabs::choose_tab(&prefix, start.session_tab, read, start.now).unwrap_or_else(&mut uuid);
        let streaming = config.stream;
        let mut client = Client {
            delivery: Delivery::new(config.delivery.clone(), start.seed),
            config,
            prefix,
            tab,
            identity: start.identity,
            anonymous_identified: false,
            journal: Journal::new(),
            streaming,
            online: start.online,
            last_beat: start.now,
            resync_pending: false,
            dirty: Vec::new(),
            gap_checked_at: start.now,
            commit_scheduled: false,
            call_time: None,
            waiters: Vec::new(),
            next_waiter: 1,
            heard_ids: Vec::new(),
            warned_switch: false,
            quiet: false,
            context: message::context_json(&PageInfo::default(), &start.client_info),
            client_info: start.client_info,
            page: PageInfo::default(),
            uuid,
            effects: Vec::new(),
        };
        client.effects.push(Effect::SessionTab(client.tab.clone()));
        client.heartbeat_write(start.now);
        let own = tabs::own_items(&client.prefix, &client.tab, &start.keys, read, start.now);
        for (first, seqs) in &own.chunks {
            client.journal.restore(*first, seqs.clone());
        }
        let reports = client.delivery.restore(start.now, own.items);
        client.apply(reports);
        let writes = client.journal.rewrite(&own.rewrite, &client.delivery);
        client.write(writes);
        client.report_invalid(own.invalid);
        if client.streaming {
            client.effects.push(Effect::Adopt);
        }
        client.pump(start.now);
        client
    }

    /// The effects of the inputs so far, in order (see [`Effect`]).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        core::mem::take(&mut self.effects)
    }

    // ------------------------------------------------------------------ state

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Who the user is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether `identify` or `identifyAnonymous` was called for this visitor.
    pub fn is_identified(&self) -> bool {
        self.identity.user_id.is_some() || self.anonymous_identified
    }

    /// Whether events are sent (and queued).
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// This tab's id.
    pub fn tab(&self) -> &str {
        &self.tab
    }

    /// The time (epoch ms) of the last input that could ask for a resync.
    pub fn last_input_at(&self) -> u64 {
        self.gap_checked_at
    }

    /// The page as last given to [`Client::set_page`].
    pub fn page(&self) -> &PageInfo {
        &self.page
    }

    /// The delivery queue (read only).
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Every storage key of this client starts with this.
    pub fn storage_prefix(&self) -> &str {
        &self.prefix
    }

    /// The sessionStorage key holding this tab's id.
    pub fn session_key(&self) -> String {
        self.config.session_key()
    }

    /// The name of the cross-tab lock adoption runs under.
    pub fn lock_name(&self) -> String {
        self.prefix.clone() + "adopt"
    }

    /// Says when the calls that follow were made, for calls replayed after they
    /// were made (queued before the module loaded, or kept by a page whose module
    /// could not load): their messages carry that `timestamp` (never later than
    /// the time of sending). `None`: now. The shell sets it around one call.
    pub fn set_call_time(&mut self, at: Option<u64>) {
        self.call_time = at;
    }

    /// Where the current user's flow progress is stored:
    /// `<prefix>flows:u:<userId>`, or `<prefix>flows:a:<anonymousId>`.
    pub fn flow_state_key(&self) -> String {
        self.user_key("flows:")
    }

    /// Where the current user's event counts (for content conditions) are stored:
    /// `<prefix>events:u:<userId>`, or `<prefix>events:a:<anonymousId>`.
    pub fn events_state_key(&self) -> String {
        self.user_key("events:")
    }

    /// How to read the current user's server-side state (`init({stateHost})`):
    /// the URL (`{stateHost}/state?writeKey=…&userId=…`) and the signature to
    /// present, once a user is identified with a signature; else `None`.
    pub fn state_request(&self) -> Option<(String, String)> {
        let base = self.config.state_url.as_ref()?;
        let user = self.identity.user_id.as_ref()?;
        let sig = self.identity.signature.as_ref()?;
        let mut url = base.clone() + "?writeKey=";
        message::encode_component(&self.config.write_key, &mut url);
        url.push_str("&userId=");
        message::encode_component(user, &mut url);
        Some((url, sig.clone()))
    }

    /// Where the current user's checklist progress is stored:
    /// `<prefix>checklists:u:<userId>`, or `<prefix>checklists:a:<anonymousId>`.
    pub fn checklists_state_key(&self) -> String {
        self.user_key("checklists:")
    }

    fn user_key(&self, namespace: &str) -> String {
        let mut k = self.prefix.clone() + namespace;
        match &self.identity.user_id {
            Some(u) => {
                k.push_str("u:");
                k.push_str(u);
            }
            None => {
                k.push_str("a:");
                k.push_str(&self.identity.anonymous_id);
            }
        }
        k
    }

    /// Whether `key` is one under which content progress or event counts are
    /// stored (any user's): the only keys the content module may read or write
    /// through the core.
    pub fn is_flow_state_key(&self, key: &str) -> bool {
        key.strip_prefix(self.prefix.as_str())
            .and_then(|rest| {
                rest.strip_prefix("flows:")
                    .or_else(|| rest.strip_prefix("events:"))
                    .or_else(|| rest.strip_prefix("checklists:"))
            })
            .is_some_and(|who| who.starts_with("u:") || who.starts_with("a:"))
    }

    /// When to call [`Client::wake`] next (one timer; `None`: not before
    /// another input). Offline or with streaming off only request deadlines
    /// count.
    pub fn next_wakeup(&self, now: u64) -> Option<u64> {
        if self.streaming && self.online && !self.resync_pending {
            self.delivery.next_wakeup(now)
        } else {
            self.delivery.next_deadline().map(|d| d.max(now))
        }
    }

    // ------------------------------------------------------------------ the page

    /// The page the next messages are made on (after the page's URL filter).
    pub fn set_page(&mut self, page: PageInfo) {
        if page != self.page {
            self.context = message::context_json(&page, &self.client_info);
            self.page = page;
        }
    }

    // ------------------------------------------------------------------ API calls

    /// `identify(userId, traits)`. A different user id starts a new anonymous id
    /// and forgets the previous user's traits and group.
    pub fn identify(&mut self, now: u64, user_id: &str, changes: &Json) -> Result<(), Error> {
        self.identify_signed(now, user_id, changes, None)
    }

    /// `identify(userId, traits, {signature})`: the signature (hex HMAC-SHA256
    /// of the user id, computed by the app's server) is kept for this user and
    /// sent with every message of theirs (see `ClientConfig::send_signature`);
    /// without one, the same user keeps the one given before, another user has
    /// none.
    pub fn identify_signed(
        &mut self,
        now: u64,
        user_id: &str,
        changes: &Json,
        signature: Option<&str>,
    ) -> Result<(), Error> {
        let signature = signature.map(validate_signature).transpose()?;
        let mut next = self.identity.clone();
        next.identify(user_id, changes, &mut self.uuid)?;
        if signature.is_some() {
            next.signature = signature;
        }
        let traits = next.user_traits.to_json();
        self.transact(now, next, Msg::Identify { traits })
    }

    /// `identifyAnonymous(traits)`.
    pub fn identify_anonymous(&mut self, now: u64, changes: &Json) -> Result<(), Error> {
        self.update_traits(now, changes)?;
        self.anonymous_identified = true;
        Ok(())
    }

    /// `updateUser(traits)`: needs `identify` or `identifyAnonymous` first.
    pub fn update_user(&mut self, now: u64, changes: &Json) -> Result<(), Error> {
        if !self.is_identified() {
            return Err(Error {
                code: ErrorCode::NotInitialized,
                message: String::from("call identify() or identifyAnonymous() before updateUser()"),
            });
        }
        self.update_traits(now, changes)
    }

    /// Merges trait changes into the current user's and sends the identify call.
    fn update_traits(&mut self, now: u64, changes: &Json) -> Result<(), Error> {
        let mut next = self.identity.clone();
        next.update_user(changes)?;
        let traits = next.user_traits.to_json();
        self.transact(now, next, Msg::Identify { traits })
    }

    /// `group(groupId, traits, {membership})`: membership (per-company user
    /// attributes) travels in the group call's `traits.membership`.
    pub fn group(
        &mut self,
        now: u64,
        group_id: &str,
        changes: &Json,
        membership: Option<&Json>,
    ) -> Result<(), Error> {
        let mut next = self.identity.clone();
        next.group(group_id, changes)?;
        self.send_group(now, next, membership)
    }

    /// `updateGroup(traits, {membership})`: needs an active group.
    pub fn update_group(
        &mut self,
        now: u64,
        changes: &Json,
        membership: Option<&Json>,
    ) -> Result<(), Error> {
        let mut next = self.identity.clone();
        next.update_group(changes)?;
        self.send_group(now, next, membership)
    }

    fn send_group(
        &mut self,
        now: u64,
        next: Identity,
        membership: Option<&Json>,
    ) -> Result<(), Error> {
        let mut traits = next.group_traits.clone();
        if let Some(changes) = membership {
            let resolved = apply_changes(&Json::Object(Vec::new()), changes)?;
            traits.set("membership", resolved);
        }
        let msg = Msg::Group {
            group_id: next.group_id.clone().unwrap_or_default(),
            traits: traits.to_json(),
        };
        self.transact(now, next, msg)
    }

    /// `alias(userId, previousId)`: `previousId` defaults to the current user
    /// id, else the anonymous id; `userId` becomes the current user.
    pub fn alias(
        &mut self,
        now: u64,
        user_id: &str,
        previous_id: Option<&str>,
    ) -> Result<(), Error> {
        crate::core::identity::validate_id(user_id, "userId")?;
        if let Some(p) = previous_id {
            crate::core::identity::validate_id(p, "previousId")?;
        }
        let previous_id = previous_id
            .map(str::to_owned)
            .or_else(|| self.identity.user_id.clone())
            .unwrap_or_else(|| self.identity.anonymous_id.clone());
        let mut next = self.identity.clone();
        next.user_id = Some(user_id.to_owned());
        self.transact(now, next, Msg::Alias { previous_id })
    }

    /// `reset()`: forgets the user, traits and group; a new anonymous id.
    /// Queued events still go out. analytics.js, if it loaded segflow's
    /// plugin, is signed out too ([`Effect::ResetAnalyticsJs`]).
    pub fn reset(&mut self) {
        self.sign_out();
        self.effects.push(Effect::ResetAnalyticsJs);
    }

    /// Signs out (see [`Client::reset`]) without telling analytics.js: what a
    /// reset heard from analytics.js does.
    fn sign_out(&mut self) {
        let id = (self.uuid)();
        self.identity.reset(id);
        self.anonymous_identified = false;
        self.effects.push(Effect::SaveIdentity);
        self.effects.push(Effect::UserChanged);
    }

    /// `track(event, properties)`; `properties` is JSON object text. With a
    /// company event property and an active group, the property carries the
    /// group id unless set.
    pub fn track(&mut self, now: u64, event: &str, properties: &str) -> Result<(), Error> {
        let rewritten = message::without_lone_surrogates(properties);
        let properties = rewritten.as_deref().unwrap_or(properties);
        let props = match (&self.config.company_property, &self.identity.group_id) {
            (Some(key), Some(group)) => message::with_property(properties, key, group),
            _ => properties.to_owned(),
        };
        self.send(
            now,
            Call::Track {
                event,
                properties: &props,
            },
        )
    }

    /// `page(name, properties)`: the page's fields are added to the properties
    /// (the page's own properties win).
    pub fn page_view(
        &mut self,
        now: u64,
        name: Option<&str>,
        properties: &str,
    ) -> Result<(), Error> {
        let merged = message::page_properties(&self.page, name, properties);
        self.send(
            now,
            Call::Page {
                name,
                properties: &merged,
            },
        )
    }

    /// `setStreaming(on)`. Off: nothing is sent from now on and new events are
    /// not queued; stored events are kept (also other tabs': they are not
    /// adopted) and go out once it is on again.
    pub fn set_streaming(&mut self, now: u64, on: bool) {
        let was = core::mem::replace(&mut self.streaming, on);
        if on && !was {
            self.effects.push(Effect::Adopt);
        }
        self.pump(now);
    }

    /// `flush()`: everything queued so far goes out now (backoff still
    /// applies). Returns the waiter id that an [`Effect::Resolve`] settles: when
    /// each of those events is delivered or dropped, or as soon as they cannot
    /// make progress now (offline, streaming off, or waiting to retry after a
    /// failure), with the number still queued.
    pub fn flush(&mut self, now: u64) -> u64 {
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        let mark = self.delivery.request_flush();
        self.waiters.push((waiter, mark));
        self.pump(now);
        waiter
    }

    // ------------------------------------------------------------------ the shell's events

    /// The timer set for [`Client::next_wakeup`] fired.
    pub fn wake(&mut self, now: u64) {
        self.pump(now);
    }

    /// The browser went online or offline.
    pub fn set_online(&mut self, now: u64, online: bool) {
        self.online = online;
        self.pump(now);
    }

    /// Request `id` settled.
    pub fn handle_response(&mut self, now: u64, id: u64, outcome: Outcome) {
        let reports = self.delivery.handle_response(now, id, outcome);
        self.apply(reports);
        self.pump(now);
    }

    /// Writes the events queued since the last commit.
    pub fn commit(&mut self) {
        self.commit_scheduled = false;
        let writes = self.journal.commit(&self.delivery);
        self.write(writes);
    }

    /// The end of a task in which messages were queued ([`Effect::ScheduleCommit`]):
    /// they are written, then what is due is sent. A call only queues: a burst of
    /// calls in one task goes out in one request (not `flushAt` of them at once
    /// and the rest after that answer), stored before it is sent, and no call
    /// pays for the page's `fetch` (about 1 ms in Chromium, a hundred calls' worth).
    pub fn end_of_task(&mut self, now: u64) {
        self.commit();
        self.pump(now);
    }

    /// The heartbeat interval ([`HEARTBEAT_MS`]): writes this tab's heartbeat
    /// and, while streaming, asks to look for other tabs' orphaned events.
    pub fn heartbeat(&mut self, now: u64) {
        self.check_gap(now);
        self.heartbeat_write(now);
        if self.streaming {
            self.effects.push(Effect::Adopt);
        }
        self.pump(now);
    }

    /// The page was hidden (see [`Hide`]). Pending events are written, then
    /// the waiting ones sent with keepalive requests within the browser's
    /// budget (one chunk when only hidden); all stay stored until confirmed. An
    /// unloaded page marks its heartbeat `left`, so the next load of this tab
    /// takes its events back at once, and any other tab after
    /// [`LEAVE_GRACE_MS`].
    pub fn page_hidden(&mut self, now: u64, how: Hide) {
        self.commit();
        if how == Hide::Unloaded {
            self.effects.push(Effect::Store {
                key: self.heartbeat_key(&self.tab),
                value: tabs::left_value(now),
            });
        }
        if self.streaming && self.online && !self.resync_pending {
            for t in self.delivery.poll_keepalive(now, how != Hide::Hidden) {
                self.effects.push(Effect::Send(t));
            }
        }
    }

    /// The page is visible again, or restored from the back-forward cache, or
    /// resumed after being frozen: whatever the clock says (it may have been
    /// set back meanwhile), it checks storage ([`Effect::Resync`]) before
    /// sending again, in case another tab took its events over.
    pub fn page_shown(&mut self, now: u64) {
        self.gap_checked_at = now;
        if !self.resync_pending {
            self.resync_pending = true;
            self.effects.push(Effect::Resync);
        }
        self.heartbeat_write(now);
        self.pump(now);
    }

    /// Takes over the stored events of tabs that are gone (see the module
    /// docs), under the cross-tab lock, one chunk at a time: its events are
    /// written under this tab's keys, and only once that succeeded is the
    /// other tab's chunk removed; when storage refuses, the rest is left where
    /// it is (for later, or another tab). Does nothing while streaming is off.
    pub fn adopt(&mut self, now: u64, store: &mut dyn Storage) {
        if !self.streaming {
            return;
        }
        let keys = store.keys(&self.prefix);
        let found = tabs::orphans(&self.prefix, &self.tab, &keys, &mut |k| store.get(k), now);
        let mut complete = true;
        for chunk in found.chunks {
            let mut items = chunk.items;
            for (seq, item) in (self.delivery.next_seq()..).zip(items.iter_mut()) {
                item.seq = seq;
            }
            let seqs: Vec<u64> = items.iter().map(|i| i.seq).collect();
            let reports = self.delivery.restore(now, items);
            for &s in &seqs {
                self.journal.add(s);
            }
            let writes = self.journal.commit(&self.delivery);
            if !self.write_now(store, writes) {
                // Not durable here: give them back (the chunk stays there).
                self.delivery.remove(&seqs);
                let writes = self.journal.done(&seqs, &self.delivery);
                self.write_now(store, writes);
                complete = false;
                break;
            }
            store.remove(&chunk.key);
            self.apply(reports);
            self.report_invalid(chunk.invalid);
        }
        if complete {
            for key in found.beats {
                store.remove(&key);
            }
        }
        self.pump(now);
    }

    /// After a gap in the heartbeat ([`RESYNC_GAP_MS`]), under the cross-tab
    /// lock: forgets, without reporting them, the events another tab took over
    /// meanwhile (their chunks are gone, or no longer hold them; they are that
    /// tab's to send now), then sends again.
    pub fn resync(&mut self, now: u64, store: &dyn Storage) {
        let mut taken = Vec::new();
        for (first, seqs) in self.journal.chunks() {
            let stored = store.get(&self.chunk_key(first)).unwrap_or_default();
            let ids: Vec<&str> = journal::decode(&stored)
                .into_iter()
                .map(|s| s.message_id)
                .collect();
            for &seq in seqs {
                if let Some(item) = self.delivery.item(seq) {
                    if !ids.contains(&item.message_id.as_str()) {
                        taken.push(seq);
                    }
                }
            }
        }
        if !taken.is_empty() {
            self.delivery.remove(&taken);
            self.journal.forget(&taken);
        }
        self.resync_pending = false;
        let dirty = core::mem::take(&mut self.dirty);
        let writes = self.journal.rewrite(&dirty, &self.delivery);
        self.write(writes);
        self.heartbeat_write(now);
        self.pump(now);
    }

    // ------------------------------------------------------------------ internals

    /// Changes the identity and sends the message that says so, or changes
    /// nothing when the message cannot be sent (too large).
    fn transact(&mut self, now: u64, mut next: Identity, msg: Msg) -> Result<(), Error> {
        let switched = next.user_id != self.identity.user_id
            || next.anonymous_id != self.identity.anonymous_id;
        // A signature is for one user id (an alias moves on to another).
        if next.user_id != self.identity.user_id && next.signature == self.identity.signature {
            next.signature = None;
        }
        let previous = core::mem::replace(&mut self.identity, next);
        let sent = match &msg {
            Msg::Identify { traits } => self.send(now, Call::Identify { traits }),
            Msg::Group { group_id, traits } => self.send(now, Call::Group { group_id, traits }),
            Msg::Alias { previous_id } => self.send(now, Call::Alias { previous_id }),
        };
        if let Err(e) = sent {
            self.identity = previous;
            return Err(e);
        }
        self.effects.push(Effect::SaveIdentity);
        if switched {
            self.effects.push(Effect::UserChanged);
        }
        Ok(())
    }

    /// Builds a message for the current user and page and queues it (when
    /// streaming). Too large a message fails whether streaming or not. Nothing
    /// at all for a call heard from analytics.js, which sent it (`quiet`).
    fn send(&mut self, now: u64, call: Call<'_>) -> Result<(), Error> {
        if self.quiet {
            return Ok(());
        }
        let message_id = message::message_id(now, &(self.uuid)());
        let text = message::build(
            &message::Envelope {
                message_id: &message_id,
                timestamp_ms: self.call_time.map_or(now, |at| at.min(now)),
                user_id: self.identity.user_id.as_deref(),
                anonymous_id: &self.identity.anonymous_id,
                context: &self.context,
                integrations: &self.config.integrations,
                signature: self
                    .identity
                    .signature
                    .as_deref()
                    .filter(|_| self.config.send_signature),
            },
            call,
        );
        if text.len() > self.delivery.config().max_message_bytes {
            return Err(Error::too_large());
        }
        if !self.streaming {
            return Ok(());
        }
        let queued = self
            .delivery
            .enqueue(now, message_id, text)
            .map_err(|EnqueueError::PayloadTooLarge| Error::too_large())?;
        self.journal.add(queued.seq);
        if !self.commit_scheduled {
            self.commit_scheduled = true;
            self.effects.push(Effect::ScheduleCommit);
        }
        if !queued.evicted.is_empty() {
            self.apply(vec![Report::Dropped {
                items: queued.evicted,
                reason: DropReason::QueueFull,
            }]);
        }
        // Sent at the end of the task (`end_of_task`), after it is stored.
        self.check_gap(now);
        Ok(())
    }

    /// Notices a gap in the heartbeat: asks for a [`Client::resync`] first.
    fn check_gap(&mut self, now: u64) {
        self.gap_checked_at = now;
        if !self.resync_pending && now.saturating_sub(self.last_beat) > RESYNC_GAP_MS {
            self.resync_pending = true;
            self.effects.push(Effect::Resync);
        }
    }

    /// Reports stored lines that cannot be sent (not a JSON object).
    fn report_invalid(&mut self, items: Vec<Item>) {
        if !items.is_empty() {
            self.apply(vec![Report::Dropped {
                items,
                reason: DropReason::Invalid,
            }]);
        }
    }

    /// Carries out storage writes at once (under the lock); false if one failed.
    fn write_now(&self, store: &mut dyn Storage, writes: Vec<Write>) -> bool {
        let mut ok = true;
        for w in writes {
            match w {
                Write::Set { first, value } => ok &= store.set(&self.chunk_key(first), &value),
                Write::Remove { first } => store.remove(&self.chunk_key(first)),
            }
        }
        ok
    }

    /// Settles timed-out requests, drops expired events, sends what is due and
    /// settles the `flush()` waiters that are done.
    fn pump(&mut self, now: u64) {
        self.check_gap(now);
        if self.resync_pending {
            // Timeouts and expiry wait too: they would rewrite chunks.
            return;
        }
        let (late, reports) = self.delivery.handle_timeouts(now);
        for id in late {
            self.effects.push(Effect::Abort(id));
        }
        self.apply(reports);
        let reports = self.delivery.expire(now);
        self.apply(reports);
        if self.streaming && !self.resync_pending {
            while let Some(t) = self.delivery.poll_transmit(now, self.online) {
                self.effects.push(Effect::Send(t));
            }
        }
        let delivery = &self.delivery;
        let stuck = !self.streaming;
        let online = self.online;
        let effects = &mut self.effects;
        self.waiters.retain(|&(waiter, mark)| {
            let done = delivery.is_settled(mark);
            if done || stuck || delivery.is_stalled(now, online, mark) {
                let pending = if done {
                    0
                } else {
                    delivery.pending_through(mark)
                };
                effects.push(Effect::Resolve { waiter, pending });
                false
            } else {
                true
            }
        });
    }

    /// Carries the delivery engine's reports into storage and notices.
    fn apply(&mut self, reports: Vec<Report>) {
        for report in reports {
            match report {
                Report::Delivered { items } => {
                    self.forget(&items);
                    self.effects.push(Effect::Notice(Notice::Delivered {
                        message_ids: ids(items),
                    }));
                }
                Report::Dropped { items, reason } => {
                    self.forget(&items);
                    let count = items.len();
                    self.effects.push(Effect::Notice(Notice::Dropped {
                        message_ids: ids(items),
                        reason,
                    }));
                    self.effects.push(Effect::Notice(Notice::DeliveryFailure {
                        reason: reason.code(),
                        count,
                    }));
                }
                Report::Retrying { attempts } => {
                    let seqs: Vec<u64> = attempts.iter().map(|a| a.0).collect();
                    let writes = self.journal.touched(&seqs, &self.delivery);
                    self.rewrite(writes);
                }
            }
        }
    }

    fn forget(&mut self, items: &[Item]) {
        let seqs: Vec<u64> = items.iter().map(|i| i.seq).collect();
        let writes = self.journal.done(&seqs, &self.delivery);
        self.rewrite(writes);
    }

    /// Writes changes to existing chunks, unless a [`Client::resync`] is pending:
    /// another tab may have taken a chunk over, and rewriting it would bring its
    /// events back. Those chunks are rewritten once the resync is done.
    fn rewrite(&mut self, writes: Vec<Write>) {
        if !self.resync_pending {
            return self.write(writes);
        }
        for w in writes {
            if let Write::Set { first, .. } = w {
                if !self.dirty.contains(&first) {
                    self.dirty.push(first);
                }
            } else {
                self.write(vec![w]);
            }
        }
    }

    fn write(&mut self, writes: Vec<Write>) {
        for w in writes {
            self.effects.push(match w {
                Write::Set { first, value } => Effect::Store {
                    key: self.chunk_key(first),
                    value,
                },
                Write::Remove { first } => Effect::Remove {
                    key: self.chunk_key(first),
                },
            });
        }
    }

    fn chunk_key(&self, first: u64) -> String {
        tabs::chunk_key(&self.prefix, &self.tab, first)
    }

    fn heartbeat_key(&self, tab: &str) -> String {
        tabs::heartbeat_key(&self.prefix, tab)
    }

    fn heartbeat_write(&mut self, now: u64) {
        self.last_beat = now;
        let mut value = String::new();
        json::push_u64(now, &mut value);
        self.effects.push(Effect::Store {
            key: self.heartbeat_key(&self.tab),
            value,
        });
    }
}

fn ids(items: Vec<Item>) -> Vec<String> {
    items.into_iter().map(|i| i.message_id).collect()
}
