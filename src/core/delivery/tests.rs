//! Example-based tests of the delivery engine, with a fake clock.

use super::*;
use crate::core::time::iso8601;
use serde_json::Value;
use std::collections::BTreeMap;

/// 2026-11-28T20:01:42.396Z, as in the analytics-next fixtures.
const T0: u64 = 1_795_896_102_396;

/// A Segment track message of exactly `size` bytes (at least the minimal size).
pub(super) fn msg(id: &str, size: usize) -> String {
    let head = format!(
        "{{\"type\":\"track\",\"event\":\"e\",\"anonymousId\":\"a\",\"messageId\":\"{id}\",\"properties\":{{\"p\":\""
    );
    let tail = "\"}}";
    let pad = size.saturating_sub(head.len() + tail.len());
    let s = format!("{head}{}{tail}", "x".repeat(pad));
    assert!(s.len() == size || pad == 0);
    s
}

/// An engine plus what the test knows about it: the fake clock and each seq's messageId.
struct H {
    d: Delivery,
    now: u64,
    ids: BTreeMap<u64, String>,
    n: u64,
}

impl H {
    fn new(cfg: DeliveryConfig) -> Self {
        H {
            d: Delivery::new(cfg, 42),
            now: T0,
            ids: BTreeMap::new(),
            n: 0,
        }
    }

    fn quiet() -> DeliveryConfig {
        DeliveryConfig {
            flush_at: usize::MAX,
            flush_interval_ms: u64::MAX / 4,
            ..DeliveryConfig::default()
        }
    }

    /// Enqueues a message of `size` bytes; returns its seq.
    fn add(&mut self, size: usize) -> u64 {
        let r = self.add_evicting(size);
        r.0
    }

    fn add_evicting(&mut self, size: usize) -> (u64, Vec<Item>) {
        self.n += 1;
        let id = format!("m{}", self.n);
        let e = self
            .d
            .enqueue(self.now, id.clone(), msg(&id, size))
            .expect("enqueue");
        self.ids.insert(e.seq, id);
        self.d.check_invariants();
        (e.seq, e.evicted)
    }

    fn poll(&mut self) -> Option<Transmit> {
        let t = self.d.poll_transmit(self.now, true);
        if let Some(t) = &t {
            check_body(t, self.now, &self.ids, self.d.config());
            assert!(self.d.poll_transmit(self.now, true).is_none(), "spins");
            assert_eq!(
                self.d.next_wakeup(self.now),
                Some(t.deadline),
                "in flight: the next wake-up is its deadline"
            );
            assert_eq!(t.deadline, self.now + self.d.config().request_timeout_ms);
        }
        self.d.check_invariants();
        t
    }

    fn respond(&mut self, id: u64, code: u16) -> Vec<Report> {
        let r = self.d.handle_response(
            self.now,
            id,
            Outcome::Status {
                code,
                retry_after_ms: None,
            },
        );
        self.d.check_invariants();
        r
    }

    fn respond_with(&mut self, id: u64, outcome: Outcome) -> Vec<Report> {
        let r = self.d.handle_response(self.now, id, outcome);
        self.d.check_invariants();
        r
    }
}

/// Parses a body and checks it against the limits, `sentAt` and messageId order.
pub(super) fn check_body(
    t: &Transmit,
    now: u64,
    ids: &BTreeMap<u64, String>,
    cfg: &DeliveryConfig,
) {
    assert!(t.body.len() <= cfg.max_request_bytes, "request too large");
    assert!(
        t.body.len() < cfg.max_batch_bytes || t.seqs.len() == 1,
        "batch not cut before max_batch_bytes"
    );
    assert!(!t.seqs.is_empty());
    assert!(t.seqs.len() <= cfg.max_batch_messages);
    assert!(t.seqs.windows(2).all(|w| w[0] < w[1]), "seq order");
    let v: Value = serde_json::from_str(&t.body).expect("body is JSON");
    let obj = v.as_object().expect("object");
    if cfg.write_key.is_empty() {
        assert_eq!(obj.len(), 2);
    } else {
        assert_eq!(obj.len(), 3);
        assert_eq!(obj["writeKey"].as_str(), Some(cfg.write_key.as_str()));
        assert!(t.body.starts_with("{\"writeKey\":"), "write key first");
    }
    assert_eq!(obj["sentAt"], Value::String(iso8601(now)));
    let batch = obj["batch"].as_array().expect("batch array");
    assert_eq!(batch.len(), t.seqs.len());
    for (m, seq) in batch.iter().zip(&t.seqs) {
        assert_eq!(m["messageId"].as_str(), ids.get(seq).map(String::as_str));
        assert!(m.get("sentAt").is_none());
    }
}

fn delivered(r: &[Report]) -> Vec<u64> {
    r.iter()
        .flat_map(|r| match r {
            Report::Delivered { items } => items.iter().map(|i| i.seq).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn dropped(r: &[Report]) -> Vec<(u64, DropReason)> {
    r.iter()
        .flat_map(|r| match r {
            Report::Dropped { items, reason } => items.iter().map(|i| (i.seq, *reason)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The `(seq, attempts)` pairs of the `Retrying` reports.
fn retrying(r: &[Report]) -> Vec<(u64, u32)> {
    r.iter()
        .flat_map(|r| match r {
            Report::Retrying { attempts } => attempts.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn seqs(items: &[Item]) -> Vec<u64> {
    items.iter().map(|i| i.seq).collect()
}

// ---------------------------------------------------------------- policy

#[test]
fn defaults_match_the_contract() {
    let c = DeliveryConfig::default();
    assert_eq!(c.flush_at, 20);
    assert_eq!(c.flush_interval_ms, 1000);
    assert_eq!(c.max_queue_events, 10_000);
    assert_eq!(c.max_queue_bytes, 2 * 1024 * 1024);
    assert_eq!(c.max_batch_bytes, 450 * 1024);
    assert_eq!(c.max_request_bytes, 500 * 1024);
    assert_eq!(c.max_batch_messages, 2500);
    assert_eq!(c.max_message_bytes, 32 * 1024);
    // The shell refuses a call's argument over this before copying it in: no
    // message that holds it could be sent.
    assert_eq!(crate::core::message::MAX_ARG_BYTES, c.max_message_bytes);
    assert_eq!(c.max_event_age_ms, 7 * 86_400_000);
    assert_eq!(c.request_timeout_ms, 10_000);
    assert!(c.keepalive_bytes < 64 * 1024);
    assert_eq!(c.clone().normalized(), c, "defaults are already normal");
}

#[test]
fn retry_class_of_every_listed_status() {
    use RetryClass::*;
    let table: &[(u16, RetryClass)] = &[
        (0, Retry),
        (1, Success),
        (200, Success),
        (201, Success),
        (204, Success),
        (301, Success),
        (304, Success),
        (399, Success),
        (400, Drop),
        (401, Drop),
        (403, Drop),
        // A route that is not there (a wrong apiHost path, a proxy being
        // deployed): retried, so the events arrive once it is fixed.
        (404, Retry),
        (405, Retry),
        (408, Retry),
        (410, Retry),
        (413, Drop),
        (422, Drop),
        (429, Retry),
        (460, Retry),
        (499, Drop),
        (500, Retry),
        (501, Drop),
        (502, Retry),
        (503, Retry),
        (504, Retry),
        (505, Drop),
        (508, Retry),
        (511, Drop),
        (599, Retry),
        (600, Retry),
    ];
    for &(code, class) in table {
        assert_eq!(retry_class(code), class, "status {code}");
    }
}

#[test]
fn backoff_grows_doubles_and_caps() {
    let exact: Vec<u64> = (1..=10).map(|n| backoff_ms(n, 0.5)).collect();
    assert_eq!(
        exact,
        [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
    );
    assert_eq!(backoff_ms(0, 0.5), 500, "0 failures counts as 1");
    assert_eq!(backoff_ms(u32::MAX, 0.5), 60_000, "no overflow");
}

#[test]
fn backoff_jitter_stays_within_ten_percent() {
    for n in 1..=12 {
        let d = backoff_ms(n, 0.5) as f64;
        assert_eq!(backoff_ms(n, 0.0), (d * 0.9).round() as u64);
        assert_eq!(backoff_ms(n, 1.0), (d * 1.1).round() as u64);
        for u in [
            -5.0,
            f64::NEG_INFINITY,
            0.25,
            0.75,
            2.0,
            f64::INFINITY,
            f64::NAN,
        ] {
            let j = backoff_ms(n, u) as f64;
            assert!(
                j >= (d * 0.9).floor() && j <= (d * 1.1).ceil(),
                "{n} {u} {j}"
            );
        }
    }
    assert_eq!(backoff_ms(3, f64::NAN), 2000);
}

#[test]
fn retry_after_is_capped_at_five_minutes() {
    assert_eq!(retry_after_ms(0), 0);
    assert_eq!(retry_after_ms(7_000), 7_000);
    assert_eq!(retry_after_ms(300_000), 300_000);
    assert_eq!(retry_after_ms(u64::MAX), 300_000);
}

#[test]
fn codes_are_stable() {
    assert_eq!(DropReason::QueueFull.code(), "queue_full");
    assert_eq!(DropReason::Rejected { status: 400 }.code(), "rejected");
    assert_eq!(DropReason::Expired.code(), "expired");
    assert_eq!(DropReason::Invalid.code(), "invalid");
    assert!(honours_retry_after(429) && honours_retry_after(503));
    assert!(!honours_retry_after(500) && !honours_retry_after(502));
}

#[test]
fn rng_is_deterministic_and_in_range() {
    let mut a = rng::SplitMix64::new(7);
    let mut b = rng::SplitMix64::new(7);
    let mut c = rng::SplitMix64::new(8);
    let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
    let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
    let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
    assert_eq!(xs, ys);
    assert_ne!(xs, zs);
    let mut sum = 0.0;
    for _ in 0..10_000 {
        let u = a.next_unit();
        assert!((0.0..1.0).contains(&u));
        sum += u;
    }
    assert!((sum / 10_000.0 - 0.5).abs() < 0.02, "roughly uniform");
}

// ---------------------------------------------------------------- thresholds

#[test]
fn sends_when_flush_at_items_wait() {
    let mut h = H::new(DeliveryConfig::default());
    for _ in 0..19 {
        h.add(200);
        assert!(h.poll().is_none());
    }
    assert_eq!(h.d.next_wakeup(h.now), Some(T0 + 1000));
    h.add(200);
    assert_eq!(h.d.next_wakeup(h.now), Some(h.now));
    let t = h.poll().expect("20 items");
    assert_eq!(t.seqs, (1..=20).collect::<Vec<_>>());
    assert!(h.d.in_flight());
    assert_eq!(h.d.waiting_len(), 0);
    assert_eq!(h.d.len(), 20);
    let r = h.respond(t.id, 200);
    assert_eq!(delivered(&r), (1..=20).collect::<Vec<_>>());
    assert!(h.d.is_empty());
    assert_eq!(h.d.bytes(), 0);
    assert!(!h.d.in_flight());
    assert_eq!(h.d.next_wakeup(h.now), None);
}

#[test]
fn sends_when_the_oldest_item_waited_the_interval() {
    let mut h = H::new(DeliveryConfig::default());
    h.add(100);
    h.now += 400;
    h.add(100);
    assert_eq!(h.d.next_wakeup(h.now), Some(T0 + 1000), "from the oldest");
    h.now = T0 + 999;
    assert!(h.poll().is_none());
    h.now = T0 + 1000;
    let t = h.poll().expect("interval elapsed");
    assert_eq!(t.seqs, [1, 2]);
}

#[test]
fn sends_when_waiting_bytes_reach_the_batch_size_and_cuts_before_it() {
    let mut h = H::new(H::quiet());
    let big = 32 * 1024;
    let mut n = 0;
    while h.d.bytes() + big < 450 * 1024 {
        h.add(big);
        n += 1;
        assert!(h.poll().is_none(), "{n} items");
    }
    h.add(big); // 15 * 32 KiB >= 450 KiB
    let t = h.poll().expect("byte threshold");
    assert_eq!(t.seqs.len(), 14, "15 would reach 450 KiB");
    assert!(t.body.len() < 450 * 1024);
    h.respond(t.id, 200);
    // One 32 KiB item is left, under every threshold.
    assert!(h.poll().is_none());
    assert_eq!(h.d.len(), 1);
}

#[test]
fn request_flush_sends_everything_and_settles() {
    let mut h = H::new(H::quiet());
    assert_eq!(h.d.request_flush(), 0);
    assert!(h.d.is_settled(0));
    assert!(h.poll().is_none(), "nothing to flush");
    h.add(100);
    h.add(100);
    assert!(h.poll().is_none());
    assert_eq!(h.d.next_wakeup(h.now), Some(u64::MAX / 4 + T0));
    let mark = h.d.request_flush();
    assert_eq!(mark, 2);
    assert!(!h.d.is_settled(mark));
    assert_eq!(h.d.next_wakeup(h.now), Some(h.now));
    h.add(100); // after the mark, but rides along
    let t = h.poll().expect("flush");
    assert_eq!(t.seqs, [1, 2, 3]);
    assert!(!h.d.is_settled(mark), "in flight is not settled");
    h.respond(t.id, 200);
    assert!(h.d.is_settled(mark));
    assert!(h.d.is_settled(3));
    // Items after the mark that did not ride along are not forced out.
    h.add(100);
    assert!(h.poll().is_none());
    assert!(!h.d.is_settled(4));
}

#[test]
fn flush_respects_backoff_and_settles_on_drop() {
    let mut h = H::new(H::quiet());
    h.add(100);
    let mark = h.d.request_flush();
    let t = h.poll().unwrap();
    h.respond(t.id, 500);
    assert!(h.poll().is_none(), "backoff still applies");
    let wake = h.d.next_wakeup(h.now).unwrap();
    assert!(wake >= h.now + 450 && wake <= h.now + 550);
    h.now = wake;
    let t = h.poll().expect("flush pending after backoff");
    let r = h.respond(t.id, 400);
    assert_eq!(dropped(&r), [(1, DropReason::Rejected { status: 400 })]);
    assert!(h.d.is_settled(mark));
}

// ---------------------------------------------------------------- limits

#[test]
fn message_limit_is_32_kib() {
    let mut h = H::new(DeliveryConfig::default());
    assert_eq!(
        h.d.enqueue(T0, "big".into(), msg("big", 32 * 1024 + 1)),
        Err(EnqueueError::PayloadTooLarge)
    );
    assert!(h.d.is_empty());
    assert_eq!(h.add(32 * 1024), 1, "a rejected message uses no seq");
}

#[test]
fn at_most_2500_messages_per_batch() {
    let mut h = H::new(H::quiet());
    for _ in 0..3000 {
        h.add(120);
    }
    h.d.request_flush();
    let t = h.poll().unwrap();
    assert_eq!(t.seqs.len(), 2500);
    assert_eq!(t.seqs[0], 1);
    h.respond(t.id, 200);
    let t = h.poll().unwrap();
    assert_eq!(t.seqs, (2501..=3000).collect::<Vec<_>>());
}

#[test]
fn request_body_never_exceeds_500_kib() {
    let cfg = DeliveryConfig {
        max_batch_bytes: 4 * 1024 * 1024,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    for _ in 0..40 {
        h.add(32 * 1024);
    }
    h.d.request_flush();
    let mut total = 0;
    while let Some(t) = h.poll() {
        assert!(t.body.len() <= 500 * 1024);
        total += t.seqs.len();
        h.respond(t.id, 200);
    }
    assert_eq!(total, 40);
}

#[test]
fn a_lone_item_over_the_batch_size_still_goes_out_alone() {
    let cfg = DeliveryConfig {
        max_batch_bytes: 1000,
        max_request_bytes: 4000,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    h.add(300);
    h.add(2000);
    h.add(300);
    h.d.request_flush();
    let mut batches = Vec::new();
    while let Some(t) = h.poll() {
        batches.push(t.seqs.clone());
        h.respond(t.id, 200);
    }
    assert_eq!(batches, [vec![1], vec![2], vec![3]]);
}

#[test]
fn body_is_exactly_the_segment_batch_shape() {
    let mut h = H::new(H::quiet());
    h.d.enqueue(h.now, "a".into(), "{\"messageId\":\"a\"}".into())
        .unwrap();
    h.d.enqueue(h.now, "b".into(), "{\"messageId\":\"b\"}".into())
        .unwrap();
    h.d.request_flush();
    let t = h.d.poll_transmit(T0, true).unwrap();
    assert_eq!(
        t.body,
        r#"{"batch":[{"messageId":"a"},{"messageId":"b"}],"sentAt":"2026-11-28T20:01:42.396Z"}"#
    );
}

// ---------------------------------------------------------------- responses

#[test]
fn every_status_is_handled_as_its_class() {
    for code in [
        200u16, 201, 204, 301, 302, 304, 400, 401, 403, 404, 408, 410, 413, 429, 460, 500, 501,
        502, 503, 504, 505, 511,
    ] {
        let mut h = H::new(H::quiet());
        let seq = h.add(100);
        h.d.request_flush();
        let t = h.poll().unwrap();
        let r = h.respond(t.id, code);
        match retry_class(code) {
            RetryClass::Success => {
                assert_eq!(delivered(&r), [seq], "{code}");
                assert!(h.d.is_empty());
            }
            RetryClass::Drop => {
                assert_eq!(
                    dropped(&r),
                    [(seq, DropReason::Rejected { status: code })],
                    "{code}"
                );
                assert!(h.d.is_empty());
                assert!(h.poll().is_none());
            }
            RetryClass::Retry => {
                assert_eq!(retrying(&r), [(seq, 1)], "{code}");
                assert_eq!(r.len(), 1, "{code}");
                assert_eq!(h.d.len(), 1);
                assert_eq!(h.d.waiting_len(), 1);
                assert!(h.poll().is_none(), "backoff after {code}");
                h.now = h.d.next_wakeup(h.now).unwrap();
                let again = h.poll().expect("retried");
                assert_eq!(again.seqs, [seq]);
            }
        }
    }
}

#[test]
fn failures_count_attempts_and_resend_the_same_message_id() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let mut bodies = Vec::new();
    for attempt in 1..=12u32 {
        h.now = h.d.next_wakeup(h.now).unwrap();
        let t = h.poll().unwrap();
        bodies.push(t.body.clone());
        let r = if attempt % 3 == 0 {
            h.respond_with(t.id, Outcome::NetworkError)
        } else {
            h.respond(t.id, 503)
        };
        assert_eq!(
            r,
            [Report::Retrying {
                attempts: vec![(1, attempt)]
            }]
        );
    }
    assert_eq!(h.d.items().next().map(|i| i.attempts), Some(12));
    for b in &bodies {
        let v: Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["batch"][0]["messageId"], "m1", "idempotent resend");
    }
    let sent: Vec<String> = bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["sentAt"].to_string())
        .collect();
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "sentAt per request");
    h.now = h.d.next_wakeup(h.now).unwrap();
    let t = h.poll().unwrap();
    let r = h.respond(t.id, 200);
    assert_eq!(delivered(&r), [1]);
    if let Report::Delivered { items } = &r[0] {
        assert_eq!(items[0].attempts, 12, "attempts are reported");
    }
}

#[test]
fn an_outage_of_days_keeps_retrying_at_the_cap_until_the_age_limit() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let start = h.now;
    let mut attempts = 0;
    let mut longest = 0;
    loop {
        let wake = h.d.next_wakeup(h.now).expect("never stalls");
        longest = longest.max(wake - h.now);
        h.now = wake;
        let mut reports = h.d.expire(h.now);
        if let Some(t) = h.poll() {
            attempts += 1;
            reports.extend(h.respond_with(t.id, Outcome::NetworkError));
        }
        if !dropped(&reports).is_empty() {
            assert_eq!(dropped(&reports), [(1, DropReason::Expired)]);
            break;
        }
        assert!(
            h.now - start <= 7 * DAY_MS + 70_000,
            "kept past the age limit"
        );
    }
    assert!(h.now - start >= 7 * DAY_MS, "dropped before 7 days");
    assert!(
        longest <= 66_000,
        "the wait is capped at 60 s (+10%): {longest}"
    );
    // 7 days at about one attempt a minute.
    assert!((9_000..11_000).contains(&attempts), "{attempts} attempts");
    assert!(h.d.is_empty());
    assert_eq!(h.d.next_wakeup(h.now), None);
}

#[test]
fn expiry_counts_from_the_first_queueing_and_spares_items_in_flight() {
    let cfg = DeliveryConfig {
        max_event_age_ms: 10_000,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    h.add(100);
    h.now += 6_000;
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    assert_eq!(t.seqs, [1, 2]);
    h.now += 5_000;
    assert!(
        h.d.expire(h.now).is_empty(),
        "in flight: judged when it settles"
    );
    let r = h.respond_with(t.id, Outcome::NetworkError);
    assert_eq!(dropped(&r), [(1, DropReason::Expired)]);
    assert_eq!(retrying(&r), [(2, 1)], "the younger one is retried");
    h.now += 4_999;
    assert!(h.d.expire(h.now).is_empty());
    h.now += 1;
    assert_eq!(dropped(&h.d.expire(h.now)), [(2, DropReason::Expired)]);
    assert!(h.d.is_empty());
}

#[test]
fn a_success_delivers_even_items_past_the_age_limit() {
    let cfg = DeliveryConfig {
        max_event_age_ms: 1_000,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.now += 5_000;
    assert_eq!(delivered(&h.respond(t.id, 200)), [1]);
}

#[test]
fn retry_after_is_honoured_on_429_and_capped() {
    for (ra, expect) in [(5_000u64, 5_000u64), (0, 0), (3_600_000, 300_000)] {
        let mut h = H::new(H::quiet());
        h.add(100);
        h.d.request_flush();
        let t = h.poll().unwrap();
        let start = h.now;
        h.respond_with(
            t.id,
            Outcome::Status {
                code: 429,
                retry_after_ms: Some(ra),
            },
        );
        assert_eq!(h.d.next_wakeup(h.now), Some(start + expect));
        if expect > 0 {
            h.now = start + expect - 1;
            assert!(h.poll().is_none());
        }
        h.now = start + expect;
        assert!(h.poll().is_some());
    }
}

#[test]
fn retry_after_applies_only_to_429_and_503() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.respond_with(
        t.id,
        Outcome::Status {
            code: 502,
            retry_after_ms: Some(100_000),
        },
    );
    let wait = h.d.next_wakeup(h.now).unwrap() - h.now;
    assert!((450..=550).contains(&wait), "{wait}");
    // 429 without Retry-After: exponential (second failure ~1 s).
    h.now += wait;
    let t = h.poll().unwrap();
    h.respond(t.id, 429);
    let wait = h.d.next_wakeup(h.now).unwrap() - h.now;
    assert!((900..=1100).contains(&wait), "{wait}");
}

#[test]
fn backoff_grows_with_consecutive_failures_and_resets_on_success() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let mut waits = Vec::new();
    for _ in 0..10 {
        h.now = h.d.next_wakeup(h.now).unwrap();
        let t = h.poll().unwrap();
        h.respond(t.id, 500);
        waits.push(h.d.next_wakeup(h.now).unwrap() - h.now);
    }
    for (i, w) in waits.iter().enumerate() {
        let d = backoff_ms(i as u32 + 1, 0.5);
        assert!(
            *w >= d * 9 / 10 && *w <= d * 11 / 10,
            "failure {}: {w} vs {d}",
            i + 1
        );
    }
    assert!(waits[9] <= 66_000);
    assert!(
        waits[7..].iter().any(|w| *w != 60_000),
        "jitter applies at the cap"
    );
    h.now = h.d.next_wakeup(h.now).unwrap();
    let t = h.poll().unwrap();
    h.respond(t.id, 200);
    h.add(100);
    h.d.request_flush();
    let t = h.poll().expect("no backoff after success");
    h.respond(t.id, 500);
    let w = h.d.next_wakeup(h.now).unwrap() - h.now;
    assert!((450..=550).contains(&w), "reset: {w}");
}

#[test]
fn jitter_depends_on_the_seed() {
    let wait = |seed| {
        let mut d = Delivery::new(H::quiet(), seed);
        d.enqueue(T0, "a".into(), "{}".into()).unwrap();
        d.request_flush();
        let t = d.poll_transmit(T0, true).unwrap();
        d.handle_response(T0, t.id, Outcome::NetworkError);
        d.next_wakeup(T0).unwrap() - T0
    };
    assert_eq!(wait(1), wait(1));
    let waits: std::collections::BTreeSet<u64> = (0..20).map(wait).collect();
    assert!(waits.len() > 5, "{waits:?}");
}

#[test]
fn unknown_and_repeated_response_ids_are_ignored() {
    let mut h = H::new(H::quiet());
    h.add(100);
    assert!(h.respond(99, 200).is_empty());
    h.d.request_flush();
    let t = h.poll().unwrap();
    assert!(h.respond(t.id + 1, 200).is_empty());
    assert!(h.d.in_flight());
    assert_eq!(delivered(&h.respond(t.id, 200)), [1]);
    assert!(h.respond(t.id, 200).is_empty(), "reported once");
    assert!(h.respond(t.id, 500).is_empty());
    h.add(100);
    h.d.request_flush();
    assert!(h.poll().is_some(), "a stale failure set no backoff");
}

// ---------------------------------------------------------------- pacing

#[test]
fn never_spins_during_backoff_or_while_in_flight() {
    let mut h = H::new(DeliveryConfig::default());
    for _ in 0..25 {
        h.add(100);
    }
    let t = h.poll().unwrap();
    assert_eq!(t.seqs.len(), 25);
    for _ in 0..5 {
        h.add(100);
    }
    for dt in [0, 10, 5_000, 1_000_000] {
        assert!(
            h.d.poll_transmit(h.now + dt, true).is_none(),
            "one at a time"
        );
        assert_eq!(
            h.d.next_wakeup(h.now + dt),
            Some(t.deadline.max(h.now + dt)),
            "only the deadline wakes an engine with a request in flight"
        );
    }
    h.respond_with(t.id, Outcome::NetworkError);
    let wake = h.d.next_wakeup(h.now).unwrap();
    assert!(wake > h.now);
    let mut probe = h.now;
    while probe < wake {
        assert!(h.d.poll_transmit(probe, true).is_none());
        assert_eq!(
            h.d.next_wakeup(probe),
            Some(wake),
            "points to the backoff end"
        );
        probe += 37;
    }
    h.now = wake;
    let t = h.poll().unwrap();
    assert_eq!(t.seqs, (1..=30).collect::<Vec<_>>());
}

#[test]
fn offline_holds_everything() {
    let mut h = H::new(DeliveryConfig::default());
    for _ in 0..30 {
        h.add(100);
    }
    h.d.request_flush();
    for dt in [0, 1000, 100_000] {
        assert!(h.d.poll_transmit(h.now + dt, false).is_none());
    }
    assert_eq!(h.d.len(), 30);
    assert!(!h.d.in_flight());
    h.now += 100_000;
    assert_eq!(h.poll().expect("back online").seqs.len(), 30);
}

#[test]
fn order_is_preserved_across_retries() {
    let cfg = DeliveryConfig {
        flush_at: 3,
        max_batch_messages: 4,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    let mut got = Vec::new();
    for round in 0..40 {
        h.add(50 + round * 7);
        if let Some(t) = h.poll() {
            let code = if round % 3 == 0 { 503 } else { 200 };
            got.extend(delivered(&h.respond(t.id, code)));
        }
        h.now += 300;
    }
    h.d.request_flush();
    while let Some(w) = h.d.next_wakeup(h.now) {
        h.now = w;
        let t = h.poll().unwrap();
        got.extend(delivered(&h.respond(t.id, 200)));
    }
    assert_eq!(got, (1..=40).collect::<Vec<_>>());
}

#[test]
fn a_clock_jumping_back_does_not_stall_the_queue() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.respond(t.id, 500);
    h.now -= 10 * 24 * 3_600_000; // ten days back
    let w = h.d.next_wakeup(h.now).unwrap();
    assert!(w - h.now <= 400_000);
    // The wait does not slide with the clock: at the wake-up, the retry goes.
    assert!(h.poll().is_none());
    h.now = h.d.next_wakeup(h.now).unwrap();
    assert!(
        h.poll().is_some(),
        "sent at the wake-up despite the clock jump"
    );
    let mut h = H::new(DeliveryConfig::default());
    h.add(100);
    h.now -= 3_600_000;
    assert_eq!(h.d.next_wakeup(h.now), Some(h.now + 1000));
    // The interval does not slide with the clock either: at the wake-up it goes.
    assert!(h.poll().is_none());
    h.now += 1000;
    assert!(h.poll().is_some(), "sent one interval after the jump back");
}

// ---------------------------------------------------------------- queue bounds

#[test]
fn count_bound_evicts_the_oldest_once() {
    let cfg = DeliveryConfig {
        max_queue_events: 5,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    let mut evicted = Vec::new();
    for _ in 0..8 {
        evicted.extend(seqs(&h.add_evicting(100).1));
    }
    assert_eq!(evicted, [1, 2, 3]);
    assert_eq!(h.d.len(), 5);
    h.d.request_flush();
    let t = h.poll().unwrap();
    assert_eq!(t.seqs, [4, 5, 6, 7, 8]);
}

#[test]
fn byte_bound_evicts_the_oldest_once() {
    let cfg = DeliveryConfig {
        max_queue_bytes: 1000,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    h.add(300);
    h.add(300);
    h.add(300);
    let (_, ev) = h.add_evicting(150);
    assert_eq!(seqs(&ev), [1]);
    assert_eq!(h.d.bytes(), 750);
    let (_, ev) = h.add_evicting(900);
    assert_eq!(seqs(&ev), [2, 3, 4]);
    assert_eq!(h.d.len(), 1);
    assert_eq!(
        h.d.enqueue(h.now, "x".into(), msg("x", 1001)),
        Err(EnqueueError::PayloadTooLarge),
        "larger than the whole queue"
    );
    assert_eq!(h.d.len(), 1);
}

#[test]
fn evicted_in_flight_items_are_not_reported_again() {
    let cfg = DeliveryConfig {
        max_queue_events: 4,
        ..H::quiet()
    };
    for code in [200u16, 503, 400] {
        let mut h = H::new(cfg.clone());
        for _ in 0..3 {
            h.add(100);
        }
        h.d.request_flush();
        let t = h.poll().unwrap();
        assert_eq!(t.seqs, [1, 2, 3]);
        h.add(100);
        let (_, ev) = h.add_evicting(100);
        assert_eq!(seqs(&ev), [1]);
        let (_, ev) = h.add_evicting(100);
        assert_eq!(seqs(&ev), [2]);
        let r = h.respond(t.id, code);
        match retry_class(code) {
            RetryClass::Success => assert_eq!(delivered(&r), [3]),
            RetryClass::Drop => {
                assert_eq!(dropped(&r), [(3, DropReason::Rejected { status: code })])
            }
            RetryClass::Retry => assert_eq!(
                r,
                [Report::Retrying {
                    attempts: vec![(3, 1)]
                }]
            ),
        }
        assert!(h.respond(t.id, 200).is_empty());
    }
    // Every item of the batch evicted: a success still clears the request.
    let mut h = H::new(cfg);
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    for _ in 0..4 {
        h.add(100);
    }
    assert!(h.respond(t.id, 200).is_empty());
    assert!(!h.d.in_flight());
    assert!(h.poll().is_none(), "flush mark 1 already gone");
    h.d.request_flush();
    assert_eq!(h.poll().unwrap().seqs, [2, 3, 4, 5]);
}

// ---------------------------------------------------------------- keepalive

#[test]
fn keepalive_chunks_fit_the_shared_budget() {
    let mut h = H::new(H::quiet());
    for _ in 0..100 {
        h.add(1000);
    }
    let chunks = h.d.poll_keepalive(h.now, true);
    h.d.check_invariants();
    assert!(!chunks.is_empty());
    let total: usize = chunks.iter().map(|c| c.body.len()).sum();
    assert!(total <= 60 * 1024);
    assert!(total + 1001 > 60 * 1024, "the budget is used");
    let sent: Vec<u64> = chunks.iter().flat_map(|c| c.seqs.clone()).collect();
    assert_eq!(sent, (1..=sent.len() as u64).collect::<Vec<_>>());
    for c in &chunks {
        check_body(c, h.now, &h.ids, h.d.config());
        assert!(c.body.len() <= 60 * 1024);
    }
    assert_eq!(h.d.len(), 100, "still queued until answered");
    assert!(h.d.in_flight());
    assert!(h.d.poll_keepalive(h.now, true).is_empty(), "budget in use");
    // The first chunk's answer frees the budget.
    let r = h.respond(chunks[0].id, 200);
    assert_eq!(delivered(&r), chunks[0].seqs);
    let more = h.d.poll_keepalive(h.now, true);
    assert_eq!(more[0].seqs[0], sent.len() as u64 + 1);
}

#[test]
fn keepalive_splits_by_message_count_and_skips_in_flight_items() {
    let cfg = DeliveryConfig {
        max_batch_messages: 10,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    for _ in 0..35 {
        h.add(200);
    }
    h.d.request_flush();
    let regular = h.poll().unwrap();
    assert_eq!(regular.seqs, (1..=10).collect::<Vec<_>>());
    let chunks = h.d.poll_keepalive(h.now, true);
    h.d.check_invariants();
    let lens: Vec<usize> = chunks.iter().map(|c| c.seqs.len()).collect();
    assert_eq!(lens, [10, 10, 5]);
    assert_eq!(chunks[0].seqs[0], 11);
    let total: usize = chunks.iter().map(|c| c.body.len()).sum();
    assert!(total <= 60 * 1024);
    assert_eq!(h.d.waiting_len(), 0);
    assert_eq!(
        h.d.next_wakeup(h.now),
        Some(chunks[0].deadline),
        "keepalive requests have deadlines too"
    );
    assert!(h.d.poll_keepalive(h.now, true).is_empty());
    // Keepalive answers are handled like any other.
    let r = h.respond(chunks[2].id, 500);
    assert_eq!(retrying(&r).len(), 5);
    assert_eq!(h.d.waiting_len(), 5);
    assert_eq!(
        delivered(&h.respond(chunks[0].id, 204)),
        (11..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        delivered(&h.respond(regular.id, 200)),
        (1..=10).collect::<Vec<_>>()
    );
}

#[test]
fn keepalive_ignores_backoff_and_stops_at_an_item_that_does_not_fit() {
    let cfg = DeliveryConfig {
        keepalive_bytes: 3000,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    h.add(1000);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.respond(t.id, 503);
    assert!(h.poll().is_none(), "in backoff");
    h.add(1000);
    h.add(2500);
    h.add(100);
    let chunks = h.d.poll_keepalive(h.now, true);
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        chunks[0].seqs,
        [1, 2],
        "order kept: 3 does not fit, 4 waits"
    );
    assert!(chunks[0].body.len() <= 3000);
}

// ---------------------------------------------------------------- restore & clear

fn stored(seq: u64, size: usize) -> Item {
    let id = format!("s{seq}");
    Item {
        seq,
        json: msg(&id, size),
        message_id: id,
        attempts: 1,
        queued_at: T0 - 60_000,
    }
}

/// The seqs of every item dropped in `reports`, with the reason.
fn dropped_seqs(reports: &[Report]) -> Vec<u64> {
    let mut all: Vec<u64> = dropped(reports).iter().map(|d| d.0).collect();
    all.sort_unstable();
    all
}

#[test]
fn restore_orders_items_and_continues_the_sequence() {
    let mut h = H::new(DeliveryConfig::default());
    let items = vec![stored(42, 100), stored(7, 100), stored(19, 100)];
    for i in &items {
        h.ids.insert(i.seq, i.message_id.clone());
    }
    assert!(h.d.restore(h.now, items).is_empty());
    h.d.check_invariants();
    assert_eq!(h.d.len(), 3);
    assert_eq!(h.add(100), 43, "seq continues above the restored ones");
    let t = h.poll().expect("restored items are due at once");
    assert_eq!(t.seqs, [7, 19, 42, 43]);
    assert_eq!(h.d.request_flush(), 43);
}

#[test]
fn restore_merges_skips_duplicates_and_applies_bounds() {
    let cfg = DeliveryConfig {
        max_queue_events: 5,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    h.add(100); // 1
    h.add(100); // 2
    let mut items = vec![stored(10, 100), stored(3, 100), stored(10, 100)];
    items.push(stored(4, 40 * 1024)); // over the message limit
    let r = h.d.restore(h.now, items);
    assert_eq!(dropped(&r), [(4, DropReason::Invalid)]);
    h.d.check_invariants();
    assert_eq!(h.d.len(), 4);
    // Restoring the same storage again changes nothing.
    assert!(h
        .d
        .restore(h.now, vec![stored(3, 100), stored(10, 100)])
        .is_empty());
    assert_eq!(h.d.len(), 4);
    // An adopted batch pushes the oldest out.
    let ev =
        h.d.restore(h.now, vec![stored(5, 100), stored(6, 100), stored(0, 100)]);
    h.d.check_invariants();
    assert_eq!(
        dropped(&ev),
        [(0, DropReason::QueueFull), (1, DropReason::QueueFull)]
    );
    assert_eq!(dropped_seqs(&ev), [0, 1]);
    let remaining: Vec<u64> = h.d.clear().iter().map(|i| i.seq).collect();
    assert_eq!(remaining, [2, 3, 5, 6, 10]);
}

#[test]
fn restored_attempts_continue_the_backoff_after_an_immediate_first_try() {
    let mut h = H::new(H::quiet());
    let mut item = stored(1, 100);
    item.attempts = 9;
    h.ids.insert(1, item.message_id.clone());
    assert!(h.d.restore(h.now, vec![item]).is_empty());
    let t = h
        .poll()
        .expect("the first attempt after a reload goes at once");
    assert_eq!(retrying(&h.respond(t.id, 500)), [(1, 10)]);
    let wait = h.d.next_wakeup(h.now).unwrap() - h.now;
    assert!(
        wait >= 54_000,
        "10th failure waits ~60 s, not 0.5 s: {wait}"
    );
}

#[test]
fn restored_items_keep_their_first_queued_time_for_the_age_limit() {
    let cfg = DeliveryConfig {
        max_event_age_ms: 7 * DAY_MS,
        ..H::quiet()
    };
    let mut h = H::new(cfg);
    let mut old = stored(1, 100);
    old.queued_at = h.now - 7 * DAY_MS;
    let mut young = stored(2, 100);
    young.queued_at = h.now - 7 * DAY_MS + 1_000;
    let r = h.d.restore(h.now, vec![old, young]);
    assert_eq!(dropped(&r), [(1, DropReason::Expired)]);
    assert_eq!(h.d.len(), 1);
    h.now += 999;
    assert!(h.d.expire(h.now).is_empty());
    h.now += 1;
    assert_eq!(dropped(&h.d.expire(h.now)), [(2, DropReason::Expired)]);
}

#[test]
fn clear_returns_everything_and_late_answers_report_nothing() {
    let mut h = H::new(H::quiet());
    for _ in 0..5 {
        h.add(100);
    }
    let mark = h.d.request_flush();
    let t = h.poll().unwrap();
    h.add(100);
    let all = h.d.clear();
    h.d.check_invariants();
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5, 6]);
    assert!(h.d.is_empty() && h.d.bytes() == 0 && h.d.waiting_len() == 0);
    assert!(h.d.is_settled(mark));
    assert!(h.respond(t.id, 200).is_empty());
    assert!(!h.d.in_flight());
    assert_eq!(h.add(100), 7, "seq keeps increasing");
}

#[test]
fn nonsensical_configs_do_not_panic() {
    let cfg = DeliveryConfig {
        flush_at: 0,
        flush_interval_ms: 0,
        max_queue_events: 0,
        max_queue_bytes: 0,
        max_batch_bytes: 0,
        max_request_bytes: 0,
        max_batch_messages: 0,
        max_message_bytes: usize::MAX,
        max_event_age_ms: 0,
        request_timeout_ms: 0,
        keepalive_bytes: 0,
        write_key: String::new(),
    };
    let mut d = Delivery::new(cfg, 0);
    assert_eq!(d.config().max_message_bytes, 0);
    assert!(d.enqueue(0, "a".into(), "{}".into()).is_err());
    let e = d.enqueue(0, "a".into(), String::new()).unwrap();
    assert!(e.evicted.is_empty());
    let e = d.enqueue(0, "b".into(), String::new()).unwrap();
    assert_eq!(seqs(&e.evicted), [1], "count bound of at least 1");
    assert!(d.poll_keepalive(0, true).is_empty());
    let t = d.poll_transmit(0, true).unwrap();
    d.check_invariants();
    assert_eq!(
        t.body,
        "{\"batch\":[],\"sentAt\":\"1970-01-01T00:00:00.000Z\"}"
    );
    let r = d.handle_response(5, t.id, Outcome::NetworkError);
    assert_eq!(dropped(&r), [(2, DropReason::Expired)], "age limit of 1 ms");
    d.check_invariants();
    // Extreme clock values.
    let mut d = Delivery::new(DeliveryConfig::default(), u64::MAX);
    d.enqueue(u64::MAX, "a".into(), "{}".into()).unwrap();
    d.request_flush();
    let t = d.poll_transmit(u64::MAX, true).unwrap();
    assert!(t.body.len() <= 500 * 1024);
    d.handle_response(u64::MAX, t.id, Outcome::NetworkError);
    // The age limit saturates at the end of time: the item expires.
    assert!(d.is_empty());
    assert_eq!(d.next_wakeup(u64::MAX), None);
    let now = u64::MAX - DAY_MS;
    let r = d.restore(
        now,
        vec![Item {
            seq: u64::MAX,
            message_id: "z".into(),
            json: "{}".into(),
            attempts: u32::MAX,
            queued_at: now,
        }],
    );
    assert!(r.is_empty());
    d.check_invariants();
    assert_eq!(d.request_flush(), u64::MAX);
    // The failure "at the end of time" backs off, but never longer than the cap.
    let at = d.next_wakeup(now).expect("a wake-up");
    assert!(at - now <= 7 * 60_000);
    let t = d.poll_transmit(at, true).expect("due then");
    let now = at;
    d.handle_response(now, t.id, Outcome::NetworkError);
    assert!(
        d.next_wakeup(now).is_some_and(|w| w > now),
        "no overflow in the backoff"
    );
}

#[test]
fn a_keepalive_success_ends_the_backoff() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.respond_with(
        t.id,
        Outcome::Status {
            code: 429,
            retry_after_ms: Some(60_000),
        },
    );
    let ka = h.d.poll_keepalive(h.now, true);
    assert_eq!(ka.len(), 1);
    h.add(100);
    h.d.request_flush();
    assert!(h.poll().is_none(), "still backing off");
    assert_eq!(delivered(&h.respond(ka[0].id, 200)), [1]);
    assert_eq!(h.poll().expect("server is healthy again").seqs, [2]);
}

#[test]
fn a_hidden_page_keeps_order_one_chunk_and_never_beside_a_request() {
    let mut h = H::new(DeliveryConfig {
        keepalive_bytes: 500,
        ..H::quiet()
    });
    for _ in 0..6 {
        h.add(200);
    }
    let ka = h.d.poll_keepalive(h.now, false);
    assert_eq!(ka.len(), 1, "one chunk when only hidden");
    assert_eq!(ka[0].seqs, [1, 2]);
    assert!(
        h.d.poll_keepalive(h.now, false).is_empty(),
        "not beside a request"
    );
    h.d.request_flush();
    assert!(
        h.poll().is_none(),
        "no regular request beside the keepalive one"
    );
    assert_eq!(
        h.d.next_wakeup(h.now),
        Some(ka[0].deadline),
        "its deadline bounds the wait"
    );
    assert_eq!(delivered(&h.respond(ka[0].id, 200)), [1, 2]);
    let t = h.poll().expect("then the rest, in order");
    assert_eq!(t.seqs, [3, 4, 5, 6]);
    // Leaving: everything that fits goes at once, beside the request in flight.
    h.add(200);
    let ka = h.d.poll_keepalive(h.now, true);
    assert_eq!(ka.len(), 1);
    assert_eq!(ka[0].seqs, [7]);
}

#[test]
fn a_keepalive_request_that_never_answers_is_settled_at_its_deadline() {
    let mut h = H::new(H::quiet());
    h.add(200);
    let ka = h.d.poll_keepalive(h.now, false);
    h.now = ka[0].deadline;
    let (late, reports) = h.d.handle_timeouts(h.now);
    assert_eq!(late, [ka[0].id]);
    assert_eq!(retrying(&reports), [(1, 1)]);
    h.now = h.d.next_wakeup(h.now).unwrap();
    h.d.request_flush();
    assert_eq!(h.poll().expect("retried as a regular request").seqs, [1]);
}

#[test]
fn a_clock_jumping_back_does_not_stretch_a_deadline() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.now = h.now + 5_000 - 3_600_000; // an hour back
    let (late, _) = h.d.handle_timeouts(h.now);
    assert!(late.is_empty());
    let wake = h.d.next_wakeup(h.now).unwrap();
    assert!(
        wake - h.now <= 10_000,
        "waits at most one timeout: {}",
        wake - h.now
    );
    h.now = wake;
    let (late, _) = h.d.handle_timeouts(h.now);
    assert_eq!(late, [t.id], "then gives the request up");
}

#[test]
fn timeouts_halve_the_next_batch_until_one_gets_through() {
    let mut h = H::new(DeliveryConfig {
        flush_at: 1,
        ..DeliveryConfig::default()
    });
    for _ in 0..40 {
        h.add(10_000);
    }
    let mut sizes = Vec::new();
    for _ in 0..7 {
        h.now = h.d.next_wakeup(h.now).unwrap();
        h.d.handle_timeouts(h.now);
        let t = h.poll().expect("a batch");
        sizes.push(t.seqs.len());
        h.now = t.deadline;
        let (late, _) = h.d.handle_timeouts(h.now);
        assert_eq!(late, [t.id], "timed out");
    }
    assert_eq!(
        sizes,
        [40, 23, 11, 5, 2, 1, 1],
        "halved after each timeout, down to one"
    );
    h.now = h.d.next_wakeup(h.now).unwrap();
    let t = h.poll().unwrap();
    assert_eq!(delivered(&h.respond(t.id, 200)).len(), 1);
    h.now = h.d.next_wakeup(h.now).unwrap();
    assert_eq!(
        h.poll().unwrap().seqs.len(),
        39,
        "full size again after a success"
    );
}

#[test]
fn items_of_an_unanswered_request_stay_out_of_keepalive_for_a_moment() {
    let mut h = H::new(H::quiet());
    h.add(100);
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    // A page navigating away aborts its request, then sends keepalive requests: the
    // server may have the aborted one, so the next load resends them, not this page.
    h.respond_with(t.id, Outcome::NetworkError);
    assert!(
        h.d.poll_keepalive(h.now, true).is_empty(),
        "held back right after"
    );
    h.add(100);
    assert!(
        h.d.poll_keepalive(h.now + 999, true).is_empty(),
        "in order: nothing passes them"
    );
    let ka = h.d.poll_keepalive(h.now + KEEPALIVE_HOLD_MS, true);
    assert_eq!(ka[0].seqs, [1, 2, 3], "a moment later they go again");
    // An answer (a 5xx) is proof enough: no hold.
    let mut h = H::new(H::quiet());
    h.add(100);
    h.d.request_flush();
    let t = h.poll().unwrap();
    h.respond(t.id, 503);
    assert_eq!(h.d.poll_keepalive(h.now, true).len(), 1);
}

// ---------------------------------------------------------------- regressions (issue 7)

#[test]
fn a_response_without_status_is_a_network_error_not_a_delivery() {
    let mut h = H::new(H::quiet());
    h.add(200);
    h.d.request_flush();
    let t = h.poll().expect("flushed");
    let r = h.respond(t.id, 0);
    assert!(
        delivered(&r).is_empty(),
        "status 0 must not count as delivered"
    );
    assert_eq!(h.d.len(), 1, "the item stays queued for a retry");
}

#[test]
fn retry_after_is_honoured_on_503() {
    let mut h = H::new(H::quiet());
    h.add(200);
    h.d.request_flush();
    let t = h.poll().expect("flushed");
    h.respond_with(
        t.id,
        Outcome::Status {
            code: 503,
            retry_after_ms: Some(30_000),
        },
    );
    assert_eq!(h.d.next_wakeup(h.now), Some(h.now + 30_000));
}

#[test]
fn retryable_failures_never_drop_on_attempt_count() {
    let mut h = H::new(H::quiet());
    h.add(200);
    h.d.request_flush();
    for attempt in 0..40 {
        h.now = h.d.next_wakeup(h.now).expect("a retry is scheduled");
        let t = h.poll().expect("retried");
        let outcome = if attempt % 2 == 0 {
            Outcome::NetworkError
        } else {
            Outcome::Status {
                code: 503,
                retry_after_ms: None,
            }
        };
        let r = h.respond_with(t.id, outcome);
        assert!(
            dropped(&r).is_empty(),
            "dropped after {} attempts",
            attempt + 1
        );
    }
    assert_eq!(h.d.len(), 1);
}

// ---------------------------------------------------------------- refused batches

/// Drives `h` until nothing is queued, answering 400 to any batch that holds a
/// seq in `bad` (as a JSON server refuses a body with one bad message) and 200
/// otherwise. Returns (delivered seqs, dropped seqs with reasons, requests made).
fn drain_refusing(
    h: &mut H,
    bad: &[u64],
    status: u16,
) -> (Vec<u64>, Vec<(u64, DropReason)>, usize) {
    let (mut ok, mut gone, mut requests) = (Vec::new(), Vec::new(), 0);
    for _ in 0..10_000 {
        h.d.request_flush();
        let Some(t) = h.poll() else {
            match h.d.next_wakeup(h.now) {
                Some(w) if w > h.now => {
                    h.now = w;
                    continue;
                }
                _ => break,
            }
        };
        requests += 1;
        let code = if t.seqs.iter().any(|s| bad.contains(s)) {
            status
        } else {
            200
        };
        let r = h.respond(t.id, code);
        ok.extend(delivered(&r));
        gone.extend(dropped(&r));
    }
    assert_eq!(h.d.len(), 0, "everything settled");
    (ok, gone, requests)
}

#[test]
fn a_refused_batch_is_split_until_only_the_offending_messages_are_dropped() {
    // 401: the collector's identity verification refuses a batch holding one
    // message without its user's signature; the anonymous ones must still arrive.
    for status in [400u16, 401, 413, 422] {
        let mut h = H::new(H::quiet());
        let all: Vec<u64> = (0..11).map(|_| h.add(100)).collect();
        let bad = [all[6]];
        let (ok, gone, requests) = drain_refusing(&mut h, &bad, status);
        let mut expect: Vec<u64> = all.iter().copied().filter(|s| !bad.contains(s)).collect();
        let mut got = ok.clone();
        got.sort_unstable();
        expect.sort_unstable();
        assert_eq!(got, expect, "{status}: every good message delivered once");
        assert_eq!(
            gone,
            [(all[6], DropReason::Rejected { status })],
            "{status}"
        );
        assert!(
            requests <= 10,
            "{status}: {requests} requests (bisection, not one per message)"
        );
        // Order is kept: the delivered ones went out in seq order.
        assert!(ok.windows(2).all(|w| w[0] < w[1]), "{ok:?}");
    }
    // Two bad messages among many.
    let mut h = H::new(H::quiet());
    let all: Vec<u64> = (0..40).map(|_| h.add(100)).collect();
    let bad = [all[3], all[31]];
    let (ok, gone, requests) = drain_refusing(&mut h, &bad, 400);
    assert_eq!(ok.len(), 38);
    let mut gone: Vec<u64> = gone.iter().map(|(s, _)| *s).collect();
    gone.sort_unstable();
    assert_eq!(gone, bad);
    assert!(
        requests <= 30,
        "{requests} requests: fewer than one per message"
    );
    // After the split, batches are whole again.
    let more: Vec<u64> = (0..20).map(|_| h.add(100)).collect();
    h.d.request_flush();
    let t = h.poll().unwrap();
    assert_eq!(t.seqs, more, "back to one batch");
}

#[test]
fn refusals_that_are_not_about_the_body_drop_the_batch_at_once() {
    // A forbidden request is refused whatever it holds: splitting would only
    // multiply the requests.
    for status in [403u16, 451] {
        let mut h = H::new(H::quiet());
        let all: Vec<u64> = (0..8).map(|_| h.add(100)).collect();
        let (ok, gone, requests) = drain_refusing(&mut h, &all, status);
        assert!(ok.is_empty());
        assert_eq!(gone.len(), 8);
        assert_eq!(requests, 1, "{status}");
    }
}

#[test]
fn an_api_that_refuses_everything_costs_a_bounded_number_of_split_requests() {
    // A misconfigured proxy that answers 400 to every body, or a wrong write key
    // (401 to every body): splitting finds no good half, so it must give up after
    // a few rounds, not try every message alone.
    for status in [400u16, 401] {
        for n in [20usize, 100, 2500] {
            let mut h = H::new(H::quiet());
            let all: Vec<u64> = (0..n).map(|_| h.add(60)).collect();
            let (ok, gone, requests) = drain_refusing(&mut h, &all, status);
            assert!(ok.is_empty());
            assert!(gone
                .iter()
                .all(|(_, r)| *r == DropReason::Rejected { status }));
            let mut gone: Vec<u64> = gone.iter().map(|(s, _)| *s).collect();
            gone.sort_unstable();
            assert_eq!(
                gone, all,
                "{status}, {n}: every message reported dropped once"
            );
            let log2 = usize::BITS - (n - 1).leading_zeros();
            assert!(
                requests <= 4 * log2 as usize + 6,
                "{status}, {n} events: {requests} requests"
            );
        }
    }
}

#[test]
fn a_missing_route_is_retried_until_it_is_there_and_nothing_is_lost() {
    // A wrong apiHost path, or a proxy in the middle of a deploy, answers 404 or
    // 405 to every request: the events wait (with backoff) instead of being
    // dropped, and arrive once, in order, with the same message ids, once the
    // route answers.
    for status in [404u16, 405] {
        let mut h = H::new(H::quiet());
        let all: Vec<u64> = (0..8).map(|_| h.add(100)).collect();
        let mut requests = 0;
        for _ in 0..20 {
            h.d.request_flush();
            let t = match h.poll() {
                Some(t) => t,
                None => {
                    h.now = h.d.next_wakeup(h.now).expect("a retry is scheduled");
                    h.poll().expect("retried after the backoff")
                }
            };
            requests += 1;
            assert_eq!(t.seqs, all, "{status}: the same batch again");
            let r = h.respond(t.id, status);
            assert!(dropped(&r).is_empty(), "{status}: nothing dropped");
            assert_eq!(h.d.len(), 8);
        }
        h.now = h.d.next_wakeup(h.now).unwrap();
        let t = h.poll().unwrap();
        assert_eq!(t.seqs, all);
        assert_eq!(delivered(&h.respond(t.id, 200)), all, "{status}");
        assert!(h.d.is_empty());
        assert_eq!(requests, 20);
    }
}
