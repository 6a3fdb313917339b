//! The delivery engine: queue, batcher, size limits, retry policy, request
//! deadlines and backoff, as a pure ("sans-IO") state machine.
//!
//! The engine decides; the client ([`crate::core::client`]) drives it and the
//! browser shell carries its decisions out. It never reads a clock (every input
//! takes `now_ms`, epoch milliseconds), never touches the network or storage and
//! never parses a message: messages arrive as complete Segment JSON object text
//! without `sentAt`.
//!
//! # The driver's loop
//! - `track()` etc.: [`Delivery::enqueue`]; store the item under its `seq`,
//!   remove the `evicted` items from storage and report them `dropped`
//!   ([`DropReason::QueueFull`]).
//! - After every input (enqueue, response, timer, `online` event, flush): call
//!   [`Delivery::handle_timeouts`] and [`Delivery::expire`], then
//!   [`Delivery::poll_transmit`] and send what it returns, then arm a single
//!   timer for [`Delivery::next_wakeup`].
//! - When a request settles: [`Delivery::handle_response`]; for each
//!   [`Report`], update storage and emit `delivered`/`dropped`.
//! - On page hide: send each [`Delivery::poll_keepalive`] chunk with
//!   `fetch(..., {keepalive: true})`; what does not fit stays in storage for the
//!   next page load, which hands it to [`Delivery::restore`].
//!
//! # Guarantees
//! Every queued item leaves the queue exactly once: delivered, dropped (as a
//! [`Report`]: refused by the server, expired, or unsendable), evicted
//! (returned by [`Delivery::enqueue`] or reported by [`Delivery::restore`]) or
//! cleared ([`Delivery::clear`]). A retryable failure never drops an item: it is
//! retried, with capped backoff, for as long as it is within the queue bounds
//! and younger than `max_event_age_ms`. Regular requests go out one at a time
//! and carry items in `seq` order, retries first with their original
//! `messageId`s, and never beside a keepalive request (which would otherwise
//! overtake it or be overtaken): a page's events reach the server in order,
//! except when a page goes away with requests in flight. Every request has a
//! deadline, after which it counts as a network error, so no request is
//! waited for longer than `request_timeout_ms`. No request body (write key included) exceeds
//! `max_request_bytes`, and keepalive bodies in flight together never exceed
//! `keepalive_bytes`.

#[allow(unused_imports)]
use crate::prelude::*;

mod body;
mod policy;
mod rng;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

pub use policy::{
    backoff_ms, honours_retry_after, retry_after_ms, retry_class, splits, RetryClass,
    BACKOFF_BASE_MS, BACKOFF_CAP_MS, BACKOFF_JITTER, RETRY_AFTER_CAP_MS,
};

use crate::core::time::iso8601;
use rng::SplitMix64;

/// Room kept between `max_message_bytes` and `max_request_bytes`, beyond the
/// envelope itself, so that any single message always fits in a request.
const ENVELOPE_ROOM: usize = 64;

/// After a request failed without an answer, its items stay out of keepalive
/// requests this long. A page that navigates away aborts its requests first
/// (the failure is then no proof the server did not get them) and sends
/// keepalive requests right after: holding those items back means they are
/// resent once, by the next page load, not twice.
pub const KEEPALIVE_HOLD_MS: u64 = 1_000;

/// One day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// Limits and thresholds of the delivery engine. [`Default`] gives the values
/// Segment's HTTP API and the browser impose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Send as soon as this many items are waiting (default 20); the client
    /// asks at the end of the task that queued them ([`crate::core::client::Client::end_of_task`]).
    pub flush_at: usize,
    /// Send once the oldest waiting item has waited this long (default 1000 ms).
    pub flush_interval_ms: u64,
    /// Most items kept queued; the oldest are evicted beyond it (default 10,000).
    pub max_queue_events: usize,
    /// Most message bytes kept queued; the oldest are evicted beyond it (default 2 MiB).
    pub max_queue_bytes: usize,
    /// A batch body is cut before it reaches this size (default 450 KiB); waiting
    /// bytes reaching it also trigger a send.
    pub max_batch_bytes: usize,
    /// Hard limit on a request body, write key included (default 500 KiB,
    /// Segment's limit).
    pub max_request_bytes: usize,
    /// Most messages in one batch (default 2,500, Segment's limit).
    pub max_batch_messages: usize,
    /// Largest accepted message (default 32 KiB, Segment's limit).
    pub max_message_bytes: usize,
    /// An item first queued longer ago than this is dropped as expired instead
    /// of being sent or retried (default 7 days).
    pub max_event_age_ms: u64,
    /// A request unanswered after this long counts as a network error and is
    /// retried (default 10 s).
    pub request_timeout_ms: u64,
    /// Budget for all keepalive bodies in flight together (default 60 KiB: the
    /// browser caps them at 64 KiB, minus a margin for headers).
    pub keepalive_bytes: usize,
    /// The write key put at the top of every body (`"writeKey"`), as
    /// analytics-next does; empty for none.
    pub write_key: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            flush_at: 20,
            flush_interval_ms: 1000,
            max_queue_events: 10_000,
            max_queue_bytes: 2 * 1024 * 1024,
            max_batch_bytes: 450 * 1024,
            max_request_bytes: 500 * 1024,
            max_batch_messages: 2500,
            max_message_bytes: 32 * 1024,
            max_event_age_ms: 7 * DAY_MS,
            request_timeout_ms: 10_000,
            keepalive_bytes: 60 * 1024,
            write_key: String::new(),
        }
    }
}

impl DeliveryConfig {
    /// The same config with nonsensical values made workable: counts of at
    /// least 1, a request limit that can hold the envelope, a timeout of at
    /// least 1 ms, and a message limit that always fits in one request and in
    /// the queue.
    pub fn normalized(mut self) -> Self {
        self.flush_at = self.flush_at.max(1);
        self.max_queue_events = self.max_queue_events.max(1);
        self.max_batch_messages = self.max_batch_messages.max(1);
        self.max_event_age_ms = self.max_event_age_ms.max(1);
        self.request_timeout_ms = self.request_timeout_ms.max(1);
        let envelope = body::head(&self.write_key).len() + body::envelope_len(0, 24);
        let room = envelope + ENVELOPE_ROOM;
        self.max_request_bytes = self.max_request_bytes.max(2 * room);
        self.max_message_bytes = self
            .max_message_bytes
            .min(self.max_request_bytes - room)
            .min(self.max_queue_bytes);
        self
    }
}

/// A queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Position in the queue; increases with every enqueue, also across page
    /// loads of one tab (the storage key).
    pub seq: u64,
    /// The message's `messageId` (kept for reports; never changes on retry).
    pub message_id: String,
    /// The complete message as JSON object text, without `sentAt`.
    pub json: String,
    /// Failed attempts so far, across page loads.
    pub attempts: u32,
    /// When it was first queued (epoch ms), across page loads: the age limit
    /// counts from here.
    pub queued_at: u64,
}

/// A successful [`Delivery::enqueue`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The new item's sequence number: store it under this key.
    pub seq: u64,
    /// Oldest items evicted to make room: remove them from storage and report
    /// them dropped with [`DropReason::QueueFull`].
    pub evicted: Vec<Item>,
}

/// Why [`Delivery::enqueue`] refused a message (nothing was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnqueueError {
    /// The message is larger than `max_message_bytes` (Segment's 32 KB).
    PayloadTooLarge,
}

/// An HTTP request to send: `POST` `body` to the batch endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Request id to hand back to [`Delivery::handle_response`].
    pub id: u64,
    /// Sequence numbers of the items in the body, in body order.
    pub seqs: Vec<u64>,
    /// `{"writeKey":"...","batch":[...],"sentAt":"..."}`, stamped at the time
    /// of the poll: exactly the bytes to send.
    pub body: String,
    /// Send with `fetch(..., {keepalive: true})` (the page is going away).
    pub keepalive: bool,
    /// Abort the request at this time (epoch ms) if it has not settled; the
    /// engine then counts it as a network error by itself
    /// ([`Delivery::handle_timeouts`]).
    pub deadline: u64,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered. Status 0 (no status: an opaque or aborted answer)
    /// counts as a network error.
    Status {
        /// HTTP status code.
        code: u16,
        /// The `Retry-After` header in milliseconds, when present (honoured on
        /// 429 and 503).
        retry_after_ms: Option<u64>,
    },
    /// No answer: the request failed at the network level or timed out (retried).
    NetworkError,
}

/// Why items were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Evicted to respect the queue bounds.
    QueueFull,
    /// The server refused the batch for good (4xx other than 404/405/408/410/429/460,
    /// or 501/505/511).
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// Older than `max_event_age_ms` (first queued that long ago) and not
    /// delivered.
    Expired,
    /// Found in storage but cannot be sent: larger than `max_message_bytes`.
    Invalid,
}

impl DropReason {
    /// Stable code for the `dropped` event: `"queue_full"`, `"rejected"`,
    /// `"expired"` or `"invalid"`.
    pub fn code(&self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected { .. } => "rejected",
            DropReason::Expired => "expired",
            DropReason::Invalid => "invalid",
        }
    }
}

/// What happened to queued items because of an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Accepted by the server: remove from storage, emit `delivered`.
    Delivered {
        /// The items, in `seq` order.
        items: Vec<Item>,
    },
    /// Given up: remove from storage, emit `dropped`.
    Dropped {
        /// The items, in `seq` order.
        items: Vec<Item>,
        /// Why.
        reason: DropReason,
    },
    /// A retryable failure: the items stay queued with one more attempt each;
    /// store their new attempt counts.
    Retrying {
        /// `(seq, attempts)` of each item, in `seq` order.
        attempts: Vec<(u64, u32)>,
    },
}

/// A queued item with its bookkeeping.
#[derive(Clone)]
struct Entry {
    item: Item,
    /// When it became due for the flush interval (0 for restored items: due at once).
    due_from: u64,
    /// The request carrying it, if any.
    in_flight: Option<u64>,
    /// When a request carrying it last failed without an answer (0: never).
    unanswered_at: u64,
}

/// A request that has not settled yet.
#[derive(Clone)]
struct Request {
    id: u64,
    keepalive: bool,
    body_len: usize,
    deadline: u64,
}

/// The delivery state machine. See the [module docs](self) for the driver's loop.
#[derive(Clone)]
pub struct Delivery {
    config: DeliveryConfig,
    /// `{"writeKey":"...","batch":[` (or `{"batch":[` without a key).
    head: String,
    /// All queued items (waiting and in flight), sorted by `seq`.
    queue: Vec<Entry>,
    /// Sum of `json.len()` over `queue`.
    bytes: usize,
    /// Items in `queue` not in flight.
    waiting: usize,
    /// Sum of `json.len()` over the waiting items.
    waiting_bytes: usize,
    next_seq: u64,
    next_id: u64,
    /// Requests in flight (the regular one and any keepalive chunks).
    requests: Vec<Request>,
    /// The regular (non-keepalive) request in flight: at most one.
    regular: Option<u64>,
    /// Consecutive failed responses (restored items bring theirs).
    failures: u32,
    /// Consecutive regular requests that timed out: each halves the next
    /// batch's size, so a slow uplink still gets events through.
    timeouts: u32,
    /// No regular request before this time.
    backoff_until: u64,
    /// While a refused batch is being split: at most this many items per batch
    /// (0: no limit), halved on each refusal, doubled on each success. See
    /// [`Delivery::handle_response`].
    split: usize,
    /// The split lasts until every item up to this seq is settled.
    split_until: u64,
    /// Refusals the split may still take before it gives up and drops what is
    /// left of it (an API that refuses every body would otherwise cost a
    /// request per message).
    split_budget: u32,
    /// Highest seq asked to go out now by [`Delivery::request_flush`].
    flush_mark: u64,
    /// No waiting item expires before this time (a lower bound).
    next_expiry: u64,
    /// The latest `now_ms` seen, to notice a clock that jumped back.
    last_now: u64,
    rng: SplitMix64,
}

impl Delivery {
    /// A new, empty engine. `seed` seeds the jitter generator (use a random
    /// value in the browser, a constant in tests). The config is
    /// [normalized](DeliveryConfig::normalized).
    pub fn new(config: DeliveryConfig, seed: u64) -> Self {
        let config = config.normalized();
        Delivery {
            head: body::head(&config.write_key),
            config,
            queue: Vec::new(),
            bytes: 0,
            waiting: 0,
            waiting_bytes: 0,
            next_seq: 1,
            next_id: 1,
            requests: Vec::new(),
            regular: None,
            failures: 0,
            timeouts: 0,
            backoff_until: 0,
            split: 0,
            split_until: 0,
            split_budget: 0,
            flush_mark: 0,
            next_expiry: u64::MAX,
            last_now: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The (normalized) configuration in use.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Adds items found in storage at start-up (this tab's own, from an earlier
    /// page load, or adopted from a tab that is gone), keeping their attempts
    /// and first-queued time.
    ///
    /// They are merged in `seq` order and are due at once (as if
    /// [flushed](Self::request_flush)); the backoff continues from their
    /// attempt count (the first request goes out at once, a failure then waits
    /// as long as the stored attempts say). An item identical in `seq` and
    /// `messageId` to one already queued is skipped (it is the same stored
    /// item). Reports what is given up on: items larger than
    /// `max_message_bytes` ([`DropReason::Invalid`]), older than
    /// `max_event_age_ms` ([`DropReason::Expired`]) and the oldest ones evicted
    /// to respect the queue bounds ([`DropReason::QueueFull`]). Later enqueues
    /// get a `seq` above every restored one.
    pub fn restore(&mut self, now_ms: u64, items: Vec<Item>) -> Vec<Report> {
        self.observe(now_ms);
        let mut invalid = Vec::new();
        let mut expired = Vec::new();
        let mut incoming: Vec<Item> = Vec::with_capacity(items.len());
        for item in items {
            self.next_seq = self.next_seq.max(item.seq.saturating_add(1));
            self.flush_mark = self.flush_mark.max(item.seq);
            if item.json.len() > self.config.max_message_bytes {
                insert_sorted(&mut invalid, item);
            } else if self.is_expired(&item, now_ms) {
                insert_sorted(&mut expired, item);
            } else {
                self.failures = self.failures.max(item.attempts);
                self.next_expiry = self.next_expiry.min(self.expiry_of(&item));
                insert_sorted(&mut incoming, item);
            }
        }
        incoming.dedup_by(|a, b| a.seq == b.seq && a.message_id == b.message_id);

        let old = core::mem::take(&mut self.queue);
        self.queue.reserve(old.len() + incoming.len());
        let mut old = old.into_iter().peekable();
        for item in incoming {
            while let Some(e) = old.next_if(|e| e.item.seq <= item.seq) {
                let duplicate = e.item.seq == item.seq && e.item.message_id == item.message_id;
                self.queue.push(e);
                if duplicate {
                    break;
                }
            }
            if self
                .queue
                .last()
                .is_some_and(|e| e.item.seq == item.seq && e.item.message_id == item.message_id)
            {
                continue;
            }
            let len = item.json.len();
            self.bytes += len;
            self.waiting += 1;
            self.waiting_bytes += len;
            self.queue.push(Entry {
                item,
                due_from: 0,
                in_flight: None,
                unanswered_at: 0,
            });
        }
        self.queue.extend(old);

        let mut evicted = Vec::new();
        self.evict_to_fit(0, 0, &mut evicted);
        let mut reports = Vec::new();
        for (items, reason) in [
            (invalid, DropReason::Invalid),
            (expired, DropReason::Expired),
            (evicted, DropReason::QueueFull),
        ] {
            push_dropped(&mut reports, items, reason);
        }
        reports
    }

    /// Queues a message (`json`: the complete message without `sentAt`).
    ///
    /// When the queue would exceed `max_queue_events` or `max_queue_bytes`, the
    /// oldest items are evicted, even ones in flight (a later response for them
    /// is then ignored for those items). Fails with
    /// [`EnqueueError::PayloadTooLarge`] when `json` is over `max_message_bytes`.
    pub fn enqueue(
        &mut self,
        now_ms: u64,
        message_id: String,
        json: String,
    ) -> Result<Enqueued, EnqueueError> {
        let len = json.len();
        if len > self.config.max_message_bytes {
            return Err(EnqueueError::PayloadTooLarge);
        }
        self.observe(now_ms);
        let mut evicted = Vec::new();
        self.evict_to_fit(1, len, &mut evicted);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.bytes += len;
        self.waiting += 1;
        self.waiting_bytes += len;
        let item = Item {
            seq,
            message_id,
            json,
            attempts: 0,
            queued_at: now_ms,
        };
        self.next_expiry = self.next_expiry.min(self.expiry_of(&item));
        self.queue.push(Entry {
            item,
            due_from: now_ms,
            in_flight: None,
            unanswered_at: 0,
        });
        Ok(Enqueued { seq, evicted })
    }

    /// The next regular request to send, if one is due.
    ///
    /// `None` when offline, while any request is in flight (one at a time keeps
    /// order; a keepalive one too, until its answer or deadline), during
    /// backoff, or when no threshold is met: `flush_at`
    /// items waiting, the oldest waiting for `flush_interval_ms`, waiting bytes
    /// reaching `max_batch_bytes`, or a [flush](Self::request_flush) pending.
    /// The batch takes waiting items in `seq` order, at most
    /// `max_batch_messages`, while the body stays under `max_batch_bytes` (a
    /// lone item may go up to `max_request_bytes`). `sentAt` is `now_ms`.
    pub fn poll_transmit(&mut self, now_ms: u64, online: bool) -> Option<Transmit> {
        self.observe(now_ms);
        if !online || !self.requests.is_empty() || self.due_at(now_ms)? > now_ms {
            return None;
        }
        let sent_at = iso8601(now_ms);
        // After timeouts, smaller batches: a lone item still goes (up to the
        // request limit), however many timed out.
        let cap = (self.config.max_batch_bytes >> self.timeouts.min(16))
            .saturating_sub(1)
            .min(self.config.max_request_bytes);
        let (count, len) = self.plan(&sent_at, cap, self.config.max_request_bytes, None);
        if count == 0 {
            return None;
        }
        let transmit = self.take(now_ms, count, len, &sent_at, false);
        debug_assert_eq!(transmit.body.len(), len);
        self.regular = Some(transmit.id);
        Some(transmit)
    }

    /// Settles request `id`. Returns what happened to its items.
    ///
    /// Success (status 1–399) delivers the items and resets the backoff. A
    /// retryable failure (network error, status 0, 404, 405, 408, 410, 429, 460, 5xx
    /// except 501/505/511) counts an attempt for each item, puts it back to
    /// wait ([`Report::Retrying`]) and backs off (`Retry-After` on 429 and 503,
    /// capped at 5 min, else exponential with jitter); items that have meanwhile
    /// passed `max_event_age_ms` are dropped as expired. A refusal that may be
    /// about one message ([`splits`]: 400, 401, 413, 422) of a batch of several puts
    /// them back and splits: the next batches hold at most half as many (halved
    /// again on each refusal, doubled on each success) until every item of the
    /// refused batch is settled, so only the offending messages are dropped, each
    /// reported; after `4 * log2(n) + 4` refusals the split gives up and drops
    /// what is left of it (an API that refuses every body). Any other status drops
    /// the items as rejected. Unknown or already settled ids return nothing;
    /// items evicted or cleared meanwhile are not reported again.
    pub fn handle_response(&mut self, now_ms: u64, id: u64, outcome: Outcome) -> Vec<Report> {
        let Some(pos) = self.requests.iter().position(|r| r.id == id) else {
            return Vec::new();
        };
        self.requests.swap_remove(pos);
        if self.regular == Some(id) {
            self.regular = None;
        }
        let (class, code, retry_after) = match outcome {
            Outcome::Status {
                code,
                retry_after_ms,
            } if code != 0 => (retry_class(code), code, retry_after_ms),
            _ => (RetryClass::Retry, 0, None),
        };
        let mut reports = Vec::new();
        match class {
            RetryClass::Success => {
                self.failures = 0;
                self.timeouts = 0;
                self.backoff_until = 0;
                // Splitting a refused batch: what went through was fine, so the
                // next part may be twice as large.
                self.split = self.split.saturating_mul(2);
                let items = self.remove_where(|e| e.in_flight == Some(id));
                if !items.is_empty() {
                    reports.push(Report::Delivered { items });
                }
            }
            RetryClass::Drop if self.split > 0 && self.split_budget == 0 && splits(code) => {
                // Refused again and again: the API refuses these bodies whatever
                // they hold. Drop what is left of the split, each reported.
                let until = self.split_until;
                let items = self.remove_where(|e| {
                    e.in_flight == Some(id) || (e.in_flight.is_none() && e.item.seq <= until)
                });
                push_dropped(&mut reports, items, DropReason::Rejected { status: code });
                self.split = 0;
            }
            RetryClass::Drop if splits(code) && self.in_flight_count(id) > 1 => {
                // One bad message makes a JSON server refuse the whole body: try
                // the halves (not an attempt, no backoff), down to single
                // messages, so that only the offending ones are dropped.
                let mut count = 0usize;
                let age = self.config.max_event_age_ms;
                for e in self.queue.iter_mut().filter(|e| e.in_flight == Some(id)) {
                    e.in_flight = None;
                    self.waiting += 1;
                    self.waiting_bytes += e.item.json.len();
                    self.split_until = self.split_until.max(e.item.seq);
                    // Waiting again: it may expire while it waits.
                    self.next_expiry = self.next_expiry.min(e.item.queued_at.saturating_add(age));
                    count += 1;
                }
                if self.split == 0 {
                    // Room for finding a few bad messages by halving.
                    let halvings = usize::BITS - count.saturating_sub(1).leading_zeros();
                    self.split_budget = 4 * halvings + 4;
                }
                self.split_budget = self.split_budget.saturating_sub(1);
                self.split = count.div_ceil(2);
            }
            RetryClass::Drop => {
                if self.split > 0 && splits(code) {
                    self.split_budget = self.split_budget.saturating_sub(1);
                }
                let items = self.remove_where(|e| e.in_flight == Some(id));
                push_dropped(&mut reports, items, DropReason::Rejected { status: code });
            }
            RetryClass::Retry => {
                self.failures = self.failures.saturating_add(1);
                let delay = match retry_after {
                    Some(ms) if honours_retry_after(code) => retry_after_ms(ms),
                    _ => backoff_ms(self.failures, self.rng.next_unit()),
                };
                self.backoff_until = now_ms.saturating_add(delay);
                let mut attempts = Vec::new();
                let mut expired = false;
                let unanswered = code == 0;
                for e in self.queue.iter_mut() {
                    if e.in_flight == Some(id) {
                        e.item.attempts = e.item.attempts.saturating_add(1);
                        e.in_flight = None;
                        if unanswered {
                            e.unanswered_at = now_ms;
                        }
                        self.waiting += 1;
                        self.waiting_bytes += e.item.json.len();
                        attempts.push((e.item.seq, e.item.attempts));
                        let expiry = e
                            .item
                            .queued_at
                            .saturating_add(self.config.max_event_age_ms);
                        self.next_expiry = self.next_expiry.min(expiry);
                        expired |= expiry <= now_ms;
                    }
                }
                if expired {
                    reports.extend(self.expire(now_ms));
                    let gone: Vec<u64> = reports
                        .iter()
                        .flat_map(|r| match r {
                            Report::Dropped { items, .. } => items.iter().map(|i| i.seq).collect(),
                            _ => Vec::new(),
                        })
                        .collect();
                    attempts.retain(|(seq, _)| !gone.contains(seq));
                }
                if !attempts.is_empty() {
                    reports.insert(0, Report::Retrying { attempts });
                }
            }
        }
        if self.split > 0 && !self.queue.iter().any(|e| e.item.seq <= self.split_until) {
            self.split = 0;
        }
        reports
    }

    /// How many queued items request `id` carries.
    fn in_flight_count(&self, id: u64) -> usize {
        self.queue
            .iter()
            .filter(|e| e.in_flight == Some(id))
            .count()
    }

    /// Settles every request whose deadline has passed as a network error.
    /// Returns the ids to abort and what happened to their items.
    pub fn handle_timeouts(&mut self, now_ms: u64) -> (Vec<u64>, Vec<Report>) {
        self.observe(now_ms);
        let late: Vec<u64> = self
            .requests
            .iter()
            .filter(|r| r.deadline <= now_ms)
            .map(|r| r.id)
            .collect();
        let mut reports = Vec::new();
        for &id in &late {
            if self.regular == Some(id) {
                self.timeouts = self.timeouts.saturating_add(1);
            }
            reports.extend(self.handle_response(now_ms, id, Outcome::NetworkError));
        }
        (late, reports)
    }

    /// Drops the waiting items first queued longer ago than `max_event_age_ms`
    /// ([`DropReason::Expired`]). Items in flight are judged when their request
    /// settles. Cheap when nothing can have expired yet.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Report> {
        if now_ms < self.next_expiry {
            return Vec::new();
        }
        let age = self.config.max_event_age_ms;
        let items = self.remove_where(|e| {
            e.in_flight.is_none() && e.item.queued_at.saturating_add(age) <= now_ms
        });
        self.next_expiry = self
            .queue
            .iter()
            .filter(|e| e.in_flight.is_none())
            .map(|e| e.item.queued_at.saturating_add(age))
            .min()
            .unwrap_or(u64::MAX);
        let mut reports = Vec::new();
        push_dropped(&mut reports, items, DropReason::Expired);
        reports
    }

    /// The earliest time at which the driver must call back (never before
    /// `now_ms`): when [`poll_transmit`](Self::poll_transmit) may return a
    /// request (the end of the backoff, or a threshold met) unless a request is
    /// in flight, or the deadline of a request in flight. `None`
    /// when there is nothing to wait for. Arm one timer for it: the queue
    /// never spins.
    pub fn next_wakeup(&self, now_ms: u64) -> Option<u64> {
        let deadline = self.requests.iter().map(|r| r.deadline).min();
        let due = if self.requests.is_empty() {
            self.due_at(now_ms)
        } else {
            None
        };
        let at = match (due, deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(at.max(now_ms))
    }

    /// The earliest deadline of a request in flight, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.requests.iter().map(|r| r.deadline).min()
    }

    /// Marks everything queued so far to go out without waiting for
    /// `flush_at` or the interval (backoff still applies). Returns the flush
    /// mark: the highest `seq` handed out so far (0 when none).
    pub fn request_flush(&mut self) -> u64 {
        let mark = match self.next_seq {
            u64::MAX => u64::MAX,
            next => next - 1,
        };
        self.flush_mark = self.flush_mark.max(mark);
        mark
    }

    /// True when no item with `seq <= mark` is still queued (each was
    /// delivered, dropped, evicted or cleared).
    pub fn is_settled(&self, mark: u64) -> bool {
        self.queue.first().is_none_or(|e| e.item.seq > mark)
    }

    /// How many items with `seq <= mark` are still queued.
    pub fn pending_through(&self, mark: u64) -> usize {
        self.queue.iter().take_while(|e| e.item.seq <= mark).count()
    }

    /// True when the items with `seq <= mark` cannot make progress now: none
    /// of them is in flight and no regular request can go out before a wait
    /// (offline, or backing off after a failure).
    pub fn is_stalled(&self, now_ms: u64, online: bool, mark: u64) -> bool {
        let carried = self
            .queue
            .iter()
            .take_while(|e| e.item.seq <= mark)
            .any(|e| e.in_flight.is_some());
        !carried && (!online || self.backoff_until > now_ms)
    }

    /// On page hide: requests for the waiting items, to send with
    /// `fetch(..., {keepalive: true})`.
    ///
    /// When the page is only hidden (`leaving` false: it may come back), order
    /// comes first: one chunk, and none while a request is in flight (the page
    /// still runs and sends the rest). When it is leaving (`pagehide`), every
    /// chunk that fits goes at once. Chunks follow `seq` order and stop at the
    /// first item that does not fit;
    /// each body, and all keepalive bodies in flight together, stay within
    /// `keepalive_bytes` (the browser's shared budget), counting the bytes
    /// actually sent. Backoff is ignored (the page is leaving). The items stay
    /// queued, in flight, until their response arrives or their deadline
    /// passes; those left out stay in storage for the next page load.
    pub fn poll_keepalive(&mut self, now_ms: u64, leaving: bool) -> Vec<Transmit> {
        if !leaving && !self.requests.is_empty() {
            return Vec::new();
        }
        let in_flight: usize = self
            .requests
            .iter()
            .filter(|r| r.keepalive)
            .map(|r| r.body_len)
            .sum();
        let mut budget = self.config.keepalive_bytes.saturating_sub(in_flight);
        let chunk_cap = self
            .config
            .keepalive_bytes
            .min(self.config.max_request_bytes)
            .min(self.config.max_batch_bytes.saturating_sub(1));
        let sent_at = iso8601(now_ms);
        let mut out = Vec::new();
        while self.waiting > 0 {
            let cap = chunk_cap.min(budget);
            let (count, len) = self.plan(&sent_at, cap, cap, Some(now_ms));
            if count == 0 {
                break;
            }
            let transmit = self.take(now_ms, count, len, &sent_at, true);
            debug_assert_eq!(transmit.body.len(), len);
            budget = budget.saturating_sub(transmit.body.len());
            out.push(transmit);
            if !leaving {
                break;
            }
        }
        out
    }

    /// Number of queued items (waiting and in flight).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Total message bytes queued (waiting and in flight).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True when no item is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Number of queued items not in flight.
    pub fn waiting_len(&self) -> usize {
        self.waiting
    }

    /// True while any request (regular or keepalive) awaits its response.
    pub fn in_flight(&self) -> bool {
        !self.requests.is_empty()
    }

    /// The queued item numbered `seq`, if any.
    pub fn item(&self, seq: u64) -> Option<&Item> {
        let i = self.queue.binary_search_by_key(&seq, |e| e.item.seq).ok()?;
        Some(&self.queue[i].item)
    }

    /// The sequence number the next enqueued item will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Removes items without a report (another tab took them over: they are
    /// its to send now). A request carrying them still settles, for the others.
    pub fn remove(&mut self, seqs: &[u64]) -> Vec<Item> {
        self.remove_where(|e| seqs.contains(&e.item.seq))
    }

    /// The queued items, in `seq` order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.queue.iter().map(|e| &e.item)
    }

    /// Empties the queue and returns every item, in `seq` order. Requests in
    /// flight stay tracked (so the next one still waits for them), but their
    /// responses report nothing.
    pub fn clear(&mut self) -> Vec<Item> {
        self.bytes = 0;
        self.waiting = 0;
        self.waiting_bytes = 0;
        self.next_expiry = u64::MAX;
        self.queue.drain(..).map(|e| e.item).collect()
    }

    /// Keeps a clock that jumped back from stalling the queue: a backoff that
    /// ends further away than the longest possible wait is cut to that wait,
    /// and the cut is remembered (so the wait does not slide with the clock).
    /// Deadlines likewise never lie further than one request timeout ahead, and
    /// after a jump back the flush interval counts from the new time.
    fn observe(&mut self, now_ms: u64) {
        if now_ms < self.last_now {
            for e in self.queue.iter_mut() {
                e.due_from = e.due_from.min(now_ms);
            }
        }
        self.last_now = now_ms;
        let longest = BACKOFF_CAP_MS + BACKOFF_CAP_MS / 5 + RETRY_AFTER_CAP_MS;
        self.backoff_until = self.backoff_until.min(now_ms.saturating_add(longest));
        let latest = now_ms.saturating_add(self.config.request_timeout_ms);
        for r in &mut self.requests {
            r.deadline = r.deadline.min(latest);
        }
    }

    fn expiry_of(&self, item: &Item) -> u64 {
        item.queued_at.saturating_add(self.config.max_event_age_ms)
    }

    fn is_expired(&self, item: &Item, now_ms: u64) -> bool {
        self.expiry_of(item) <= now_ms
    }

    /// When the next regular request becomes due, ignoring whether one is in
    /// flight; `None` when nothing is waiting. Robust to a clock that jumps
    /// back: no wait is ever longer than the interval or the backoff cap.
    fn due_at(&self, now_ms: u64) -> Option<u64> {
        if self.waiting == 0 {
            return None;
        }
        let first = self.queue.iter().find(|e| e.in_flight.is_none())?;
        let immediate = self.waiting >= self.config.flush_at
            || self.waiting_bytes >= self.config.max_batch_bytes
            || first.item.seq <= self.flush_mark;
        let ready = if immediate {
            0
        } else {
            first
                .due_from
                .min(now_ms)
                .saturating_add(self.config.flush_interval_ms)
        };
        let longest = BACKOFF_CAP_MS + BACKOFF_CAP_MS / 5 + RETRY_AFTER_CAP_MS;
        let backoff = self.backoff_until.min(now_ms.saturating_add(longest));
        Some(ready.max(backoff))
    }

    /// How many of the first waiting items fit a body of at most `cap` bytes
    /// (or a lone item in `single_cap`), and the body's exact length. For a
    /// keepalive request (`keepalive_at`: now), the items stop at the first one
    /// held back after an unanswered request ([`KEEPALIVE_HOLD_MS`]).
    fn plan(
        &self,
        sent_at: &str,
        cap: usize,
        single_cap: usize,
        keepalive_at: Option<u64>,
    ) -> (usize, usize) {
        let mut count = 0;
        let mut len = self.head.len() + body::envelope_len(0, sent_at.len());
        let max = match self.split {
            0 => self.config.max_batch_messages,
            n => n.min(self.config.max_batch_messages),
        };
        for e in self.queue.iter().filter(|e| e.in_flight.is_none()) {
            if count >= max {
                break;
            }
            if keepalive_at.is_some_and(|now| {
                e.unanswered_at != 0 && now < e.unanswered_at.saturating_add(KEEPALIVE_HOLD_MS)
            }) {
                break;
            }
            let next = len.saturating_add(body::grow(count, e.item.json.len()));
            if next <= cap || (count == 0 && next <= single_cap) {
                count += 1;
                len = next;
                if next <= cap {
                    continue;
                }
            }
            break;
        }
        (count, len)
    }

    /// Puts the first `count` waiting items in flight under a new request and
    /// writes its body (`len` bytes, as planned).
    fn take(
        &mut self,
        now_ms: u64,
        count: usize,
        len: usize,
        sent_at: &str,
        keepalive: bool,
    ) -> Transmit {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut body = String::with_capacity(len);
        body.push_str(&self.head);
        let mut seqs = Vec::with_capacity(count);
        let mut taken_bytes = 0;
        for e in self.queue.iter_mut().filter(|e| e.in_flight.is_none()) {
            if seqs.len() == count {
                break;
            }
            if !seqs.is_empty() {
                body.push(',');
            }
            body.push_str(&e.item.json);
            e.in_flight = Some(id);
            seqs.push(e.item.seq);
            taken_bytes += e.item.json.len();
        }
        body.push_str(body::MID);
        body.push_str(sent_at);
        body.push_str(body::TAIL);
        self.waiting -= seqs.len();
        self.waiting_bytes -= taken_bytes;
        let deadline = now_ms.saturating_add(self.config.request_timeout_ms);
        self.requests.push(Request {
            id,
            keepalive,
            body_len: body.len(),
            deadline,
        });
        Transmit {
            id,
            seqs,
            body,
            keepalive,
            deadline,
        }
    }

    /// Evicts the oldest items until `count` more items of `bytes` bytes in
    /// all fit within the queue bounds.
    fn evict_to_fit(&mut self, count: usize, bytes: usize, out: &mut Vec<Item>) {
        // How many of the oldest must go (then all of them at once: the queue is
        // a `Vec`, whose front removal moves the rest).
        let (mut len, mut held) = (self.queue.len(), self.bytes);
        let mut evict = 0;
        for e in &self.queue {
            if len + count <= self.config.max_queue_events
                && held + bytes <= self.config.max_queue_bytes
            {
                break;
            }
            len -= 1;
            held -= e.item.json.len();
            evict += 1;
        }
        for e in self.queue.drain(..evict).collect::<Vec<_>>() {
            self.forget(&e);
            out.push(e.item);
        }
    }

    /// Removes the entries matching `pred`, returning their items in order.
    fn remove_where(&mut self, pred: impl Fn(&Entry) -> bool) -> Vec<Item> {
        if !self.queue.iter().any(&pred) {
            return Vec::new();
        }
        let mut removed = Vec::new();
        let old = core::mem::take(&mut self.queue);
        self.queue.reserve(old.len());
        for e in old {
            if pred(&e) {
                self.forget(&e);
                removed.push(e.item);
            } else {
                self.queue.push(e);
            }
        }
        removed
    }

    /// Updates the counters for an entry leaving the queue.
    fn forget(&mut self, e: &Entry) {
        let len = e.item.json.len();
        self.bytes -= len;
        if e.in_flight.is_none() {
            self.waiting -= 1;
            self.waiting_bytes -= len;
        }
    }

    /// Test-only consistency check of every internal invariant.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    fn check_invariants(&self) {
        let bytes: usize = self.queue.iter().map(|e| e.item.json.len()).sum();
        assert_eq!(bytes, self.bytes, "bytes counter");
        let waiting: Vec<&Entry> = self
            .queue
            .iter()
            .filter(|e| e.in_flight.is_none())
            .collect();
        assert_eq!(waiting.len(), self.waiting, "waiting counter");
        let wb: usize = waiting.iter().map(|e| e.item.json.len()).sum();
        assert_eq!(wb, self.waiting_bytes, "waiting bytes counter");
        for e in &waiting {
            assert!(
                self.expiry_of(&e.item) >= self.next_expiry,
                "next_expiry is a lower bound"
            );
        }
        assert!(
            self.queue
                .iter()
                .zip(self.queue.iter().skip(1))
                .all(|(a, b)| a.item.seq <= b.item.seq),
            "queue sorted by seq"
        );
        assert!(self
            .queue
            .iter()
            .all(|e| e.item.seq < self.next_seq || self.next_seq == u64::MAX));
        for e in &self.queue {
            if let Some(id) = e.in_flight {
                assert!(
                    self.requests.iter().any(|r| r.id == id),
                    "orphan in-flight item"
                );
            }
        }
        if let Some(id) = self.regular {
            assert!(self.requests.iter().any(|r| r.id == id && !r.keepalive));
        }
        assert!(self.requests.iter().filter(|r| !r.keepalive).count() <= 1);
        let ka: usize = self
            .requests
            .iter()
            .filter(|r| r.keepalive)
            .map(|r| r.body_len)
            .sum();
        assert!(ka <= self.config.keepalive_bytes, "keepalive budget");
        assert!(self.queue.len() <= self.config.max_queue_events);
        assert!(self.bytes <= self.config.max_queue_bytes);
    }
}

/// Inserts `item` in `(seq, messageId)` order: cheap for the ascending input
/// storage gives, and no sort algorithm in the wasm (about 5 KB per sorted type).
fn insert_sorted(items: &mut Vec<Item>, item: Item) {
    let at = items.partition_point(|i| (i.seq, &i.message_id) <= (item.seq, &item.message_id));
    items.insert(at, item);
}

/// Reports `items` (in `seq` order) dropped for `reason`, if there are any.
fn push_dropped(reports: &mut Vec<Report>, items: Vec<Item>, reason: DropReason) {
    if !items.is_empty() {
        reports.push(Report::Dropped { items, reason });
    }
}
