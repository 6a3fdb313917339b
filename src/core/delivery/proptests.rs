//! Property tests: random operation sequences against small limits, then a
//! drive to completion with successes. Every item must be accounted for
//! exactly once and no body may break a limit.

use super::tests::{check_body, msg};
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const T0: u64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
enum Answer {
    Status(u16, Option<u64>),
    Network,
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue(usize),
    Advance(u64),
    Poll(bool),
    /// Answer the outstanding request at this index (modulo their number).
    Respond(usize, Answer),
    /// Answer an id that was never handed out.
    Stale(Answer),
    /// Page hidden: leaving (`pagehide`) or not (a tab switch).
    Keepalive(bool),
    Flush,
    Clear,
    /// The timer fired: settle late requests, drop expired items.
    Tick,
}

fn answer() -> impl Strategy<Value = Answer> {
    let codes = prop::sample::select(vec![
        200u16, 204, 301, 400, 401, 403, 404, 408, 410, 413, 429, 460, 500, 501, 502, 503, 505, 511,
    ]);
    prop_oneof![
        6 => (codes, prop::option::of(0u64..400_000)).prop_map(|(c, r)| Answer::Status(c, r)),
        1 => Just(Answer::Network),
    ]
}

fn op(keepalive: bool) -> impl Strategy<Value = Op> {
    let ka = if keepalive { 2 } else { 0 };
    prop_oneof![
        8 => (80usize..1700).prop_map(Op::Enqueue),
        4 => prop_oneof![0u64..50, 0u64..3_000, 0u64..120_000].prop_map(Op::Advance),
        5 => prop::bool::weighted(0.85).prop_map(Op::Poll),
        5 => (0usize..8, answer()).prop_map(|(i, a)| Op::Respond(i, a)),
        1 => answer().prop_map(Op::Stale),
        ka => any::<bool>().prop_map(Op::Keepalive),
        1 => Just(Op::Flush),
        1 => prop::bool::weighted(0.2).prop_map(|c| if c { Op::Clear } else { Op::Advance(0) }),
        3 => Just(Op::Tick),
    ]
}

fn config() -> impl Strategy<Value = DeliveryConfig> {
    (
        (1usize..6, 0u64..3_000, 1usize..15, 300usize..8_000),
        (200usize..4_000, 100usize..5_000, 1usize..6, 90usize..1_600),
        (
            prop_oneof![1_000u64..200_000, Just(7 * DAY_MS)],
            1u64..40_000,
            0usize..4_000,
            prop::sample::select(vec!["", "WK", "k\"ey\u{1}é"]),
        ),
    )
        .prop_map(
            |((fa, fi, qe, qb), (bb, rb, bm, mb), (age, timeout, ka, wk))| DeliveryConfig {
                flush_at: fa,
                flush_interval_ms: fi,
                max_queue_events: qe,
                max_queue_bytes: qb,
                max_batch_bytes: bb,
                max_request_bytes: rb,
                max_batch_messages: bm,
                max_message_bytes: mb,
                max_event_age_ms: age,
                request_timeout_ms: timeout,
                keepalive_bytes: ka,
                write_key: wk.to_owned(),
            },
        )
}

/// Seqs (unique) and sizes of items "found in storage" at start-up.
fn stored() -> impl Strategy<Value = Vec<(u64, usize)>> {
    prop::collection::btree_map(0u64..500, 80usize..1_700, 0..6)
        .prop_map(|m| m.into_iter().collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Delivered,
    Dropped,
    Evicted,
    Cleared,
}

struct Run {
    d: Delivery,
    now: u64,
    ids: BTreeMap<u64, String>,
    fate: BTreeMap<u64, Fate>,
    /// Outstanding requests: (id, keepalive, body length).
    out: Vec<(u64, bool, usize)>,
    delivered: Vec<u64>,
    n: u64,
}

impl Run {
    fn settle(&mut self, seq: u64, fate: Fate) {
        assert!(self.ids.contains_key(&seq), "unknown seq {seq} reported");
        let prev = self.fate.insert(seq, fate);
        assert_eq!(
            prev, None,
            "seq {seq} reported twice: {prev:?} then {fate:?}"
        );
    }

    fn check(&self) {
        self.d.check_invariants();
        let cfg = self.d.config();
        assert!(
            self.out.iter().filter(|o| !o.1).count() <= 1,
            "one regular request"
        );
        let ka: usize = self.out.iter().filter(|o| o.1).map(|o| o.2).sum();
        assert!(ka <= cfg.keepalive_bytes, "keepalive budget {ka}");
        // Queued items are exactly those without a fate.
        let live: BTreeSet<u64> = self.d.queue.iter().map(|e| e.item.seq).collect();
        for seq in self.ids.keys() {
            assert_eq!(
                live.contains(seq),
                !self.fate.contains_key(seq),
                "seq {seq}"
            );
        }
        // next_wakeup tells the truth: at it a request times out or one is due,
        // and nothing happens before it.
        let acts = |at: u64| {
            let mut d = self.d.clone();
            !d.handle_timeouts(at).0.is_empty() || d.poll_transmit(at, true).is_some()
        };
        match self.d.next_wakeup(self.now) {
            Some(t) => {
                assert!(t >= self.now);
                assert!(acts(t), "woke for nothing");
                if t > self.now {
                    assert!(!acts(t - 1), "late wakeup");
                }
            }
            None => {
                assert!(!acts(self.now + 10_000_000), "no wakeup set");
            }
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Enqueue(size) => {
                self.n += 1;
                let id = format!("p{}", self.n);
                let json = msg(&id, size);
                let too_big = json.len() > self.d.config().max_message_bytes;
                match self.d.enqueue(self.now, id.clone(), json) {
                    Ok(e) => {
                        assert!(!too_big);
                        assert!(self.ids.keys().all(|s| *s < e.seq), "seq increases");
                        self.ids.insert(e.seq, id);
                        for item in e.evicted {
                            self.settle(item.seq, Fate::Evicted);
                        }
                    }
                    Err(EnqueueError::PayloadTooLarge) => assert!(too_big),
                }
            }
            Op::Advance(ms) => self.now += ms,
            Op::Poll(online) => {
                let any_out = !self.out.is_empty();
                match self.d.poll_transmit(self.now, online) {
                    Some(t) => {
                        assert!(
                            online && !any_out,
                            "one request at a time, keepalive included"
                        );
                        check_body(&t, self.now, &self.ids, self.d.config());
                        self.out.push((t.id, false, t.body.len()));
                        assert!(self.d.poll_transmit(self.now, online).is_none(), "spins");
                    }
                    None => {
                        if online && !any_out && self.d.waiting_len() > 0 {
                            let w = self.d.next_wakeup(self.now);
                            let late = !self.d.clone().handle_timeouts(self.now).0.is_empty();
                            assert!(
                                late || w.is_some_and(|w| w > self.now),
                                "due but nothing sent"
                            );
                        }
                    }
                }
            }
            Op::Respond(i, a) => {
                if !self.out.is_empty() {
                    let (id, _, _) = self.out.remove(i % self.out.len());
                    self.respond(id, a);
                }
            }
            Op::Stale(a) => {
                let r = self.d.handle_response(self.now, u64::MAX - 7, outcome(&a));
                assert!(r.is_empty());
            }
            Op::Keepalive(leaving) => {
                let busy = !self.out.is_empty();
                let chunks = self.d.poll_keepalive(self.now, leaving);
                if !leaving {
                    assert!(chunks.len() <= 1, "hidden: one chunk at most");
                    assert!(!busy || chunks.is_empty(), "hidden: none beside a request");
                }
                let cfg = self.d.config().clone();
                for t in chunks {
                    check_body(&t, self.now, &self.ids, &cfg);
                    assert!(t.body.len() <= cfg.keepalive_bytes);
                    self.out.push((t.id, true, t.body.len()));
                }
            }
            Op::Flush => {
                let mark = self.d.request_flush();
                assert_eq!(mark, self.ids.keys().next_back().copied().unwrap_or(0));
            }
            Op::Clear => {
                for item in self.d.clear() {
                    self.settle(item.seq, Fate::Cleared);
                }
            }
            Op::Tick => {
                let (late, reports) = self.d.handle_timeouts(self.now);
                for id in &late {
                    let o = self.out.iter().position(|o| o.0 == *id);
                    let (_, _, _) = self
                        .out
                        .remove(o.expect("only requests in flight time out"));
                }
                assert!(
                    self.out.iter().all(|_| true),
                    "requests past their deadline are all settled"
                );
                self.account(reports, &Answer::Network);
                let reports = self.d.expire(self.now);
                self.account(reports, &Answer::Network);
            }
        }
        self.check();
    }

    fn respond(&mut self, id: u64, a: Answer) {
        let reports = self.d.handle_response(self.now, id, outcome(&a));
        self.account(reports, &a);
    }

    /// Checks and records what `reports` say happened to items after answer `a`.
    fn account(&mut self, reports: Vec<Report>, a: &Answer) {
        let age = self.d.config().max_event_age_ms;
        for r in reports {
            match r {
                Report::Delivered { items } => {
                    assert!(matches!(a, Answer::Status(c, _) if (1..400).contains(c)));
                    assert!(items.windows(2).all(|w| w[0].seq < w[1].seq));
                    for i in items {
                        self.delivered.push(i.seq);
                        self.settle(i.seq, Fate::Delivered);
                    }
                }
                Report::Dropped { items, reason } => {
                    match (reason, a) {
                        (DropReason::Rejected { status }, Answer::Status(c, _)) => {
                            assert_eq!(status, *c);
                            assert_eq!(retry_class(*c), RetryClass::Drop);
                        }
                        (DropReason::Expired, _) => {
                            for i in &items {
                                assert!(i.queued_at + age <= self.now, "expired early");
                            }
                        }
                        other => panic!("unexpected drop {other:?}"),
                    }
                    for i in items {
                        self.settle(i.seq, Fate::Dropped);
                    }
                }
                Report::Retrying { attempts } => {
                    assert!(match a {
                        Answer::Network => true,
                        Answer::Status(c, _) => retry_class(*c) == RetryClass::Retry,
                    });
                    for (seq, n) in attempts {
                        assert!(n >= 1);
                        assert!(!self.fate.contains_key(&seq), "retrying a settled item");
                        let item = self.d.items().find(|i| i.seq == seq).expect("still queued");
                        assert_eq!(item.attempts, n);
                    }
                }
            }
        }
    }

    /// Answers everything with 200 and follows the wakeups until idle.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            while let Some((id, _, _)) = self.out.first().copied() {
                self.out.remove(0);
                self.respond(id, Answer::Status(200, None));
                self.check();
            }
            match self.d.next_wakeup(self.now) {
                Some(t) => {
                    self.now = t;
                    self.apply(Op::Tick);
                    self.apply(Op::Poll(true));
                    if self.out.is_empty() {
                        // The tick expired the items that were due; the rest
                        // come due later.
                        assert!(
                            self.d.next_wakeup(self.now).is_none_or(|t| t > self.now),
                            "woke for nothing"
                        );
                    }
                }
                None => break,
            }
        }
        assert!(self.out.is_empty());
        assert!(self.d.is_empty(), "items left behind");
        assert!(!self.d.in_flight());
        assert_eq!(self.d.bytes(), 0);
        for seq in self.ids.keys() {
            assert!(self.fate.contains_key(seq), "seq {seq} lost");
        }
    }
}

fn outcome(a: &Answer) -> Outcome {
    match *a {
        Answer::Status(code, retry_after_ms) => Outcome::Status {
            code,
            retry_after_ms,
        },
        Answer::Network => Outcome::NetworkError,
    }
}

fn run(cfg: DeliveryConfig, seed: u64, stored: Vec<(u64, usize)>, ops: Vec<Op>) -> Run {
    let mut r = Run {
        d: Delivery::new(cfg, seed),
        now: T0,
        ids: BTreeMap::new(),
        fate: BTreeMap::new(),
        out: Vec::new(),
        delivered: Vec::new(),
        n: 0,
    };
    if !stored.is_empty() {
        let items: Vec<Item> = stored
            .iter()
            .map(|&(seq, size)| {
                let id = format!("s{seq}");
                Item {
                    seq,
                    json: msg(&id, size),
                    message_id: id,
                    attempts: (seq % 4) as u32,
                    queued_at: T0 - seq * 1_000,
                }
            })
            .collect();
        let max_seq = stored.iter().map(|s| s.0).max().unwrap_or(0);
        for i in &items {
            r.ids.insert(i.seq, i.message_id.clone());
        }
        let now = r.now;
        for report in r.d.restore(now, items) {
            match report {
                Report::Dropped { items, reason } => {
                    for item in items {
                        if reason == DropReason::Expired {
                            assert!(item.queued_at + r.d.config().max_event_age_ms <= now);
                        } else {
                            assert!(matches!(
                                reason,
                                DropReason::QueueFull | DropReason::Invalid
                            ));
                        }
                        r.settle(item.seq, Fate::Evicted);
                    }
                }
                other => panic!("restore reported {other:?}"),
            }
        }
        let mut probe = r.d.clone();
        let first = probe
            .enqueue(r.now, "probe".into(), "{}".into())
            .map(|e| e.seq);
        assert_eq!(first, Ok(max_seq + 1), "seq continues after restore");
        r.check();
    }
    for op in ops {
        r.apply(op);
    }
    r.drain();
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Without keepalive: exactly-once accounting and global seq order of deliveries.
    #[test]
    fn every_item_is_accounted_once_and_delivered_in_order(
        cfg in config(),
        seed in any::<u64>(),
        stored in stored(),
        ops in prop::collection::vec(op(false), 1..80),
    ) {
        let r = run(cfg, seed, stored, ops);
        prop_assert!(
            r.delivered.windows(2).all(|w| w[0] < w[1]),
            "delivered out of order: {:?}", r.delivered
        );
    }

    /// With keepalive chunks (answered in any order): exactly-once accounting still holds.
    #[test]
    fn every_item_is_accounted_once_with_keepalive(
        cfg in config(),
        seed in any::<u64>(),
        stored in stored(),
        ops in prop::collection::vec(op(true), 1..80),
    ) {
        let r = run(cfg, seed, stored, ops);
        let mut d = r.delivered.clone();
        d.sort_unstable();
        d.dedup();
        prop_assert_eq!(d.len(), r.delivered.len());
    }

    /// The body builder never breaks a limit, whatever the sizes.
    #[test]
    fn bodies_respect_limits_with_default_config(
        sizes in prop::collection::vec(prop_oneof![100usize..2_000, 20_000usize..40_000], 1..120),
    ) {
        let mut r = run(DeliveryConfig::default(), 1, Vec::new(), Vec::new());
        for s in sizes {
            r.apply(Op::Enqueue(s));
            r.apply(Op::Poll(true));
        }
        r.apply(Op::Keepalive(true));
        r.apply(Op::Flush);
        r.drain();
    }
}
