//! Property tests of the whole client: two browser tabs on one origin, a
//! server that fails, rate-limits, hangs and refuses, reloads and closed tabs,
//! streaming switched off and on, offline periods and clock jumps. Whatever
//! happens, every event queued reaches the server or is reported dropped;
//! an event is stored twice only if it was in flight when a page unloaded;
//! each tab's events arrive in the order they were tracked; and storage ends
//! empty.

use super::tests::{body_events, config, Origin, Page, T0};
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
enum Answer {
    Ok,
    Status(u16),
    RetryAfter(u16, u64),
    Network,
}

#[derive(Clone, Debug)]
enum Op {
    Track(usize, u8),
    Advance(u64),
    /// Answer request `idx` of the page in slot.
    Answer(usize, usize, Answer),
    Wake(usize),
    /// Reload the tab; requests in flight reach the server or not.
    Reload(usize, bool),
    Close(usize, bool),
    Open(usize),
    Streaming(usize, bool),
    Flush(usize),
    Online(usize, bool),
    /// Hidden, then shown again (a tab switch).
    Hide(usize),
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => Just(Answer::Ok),
        3 => prop::sample::select(vec![500u16, 502, 503, 408, 429, 0]).prop_map(Answer::Status),
        1 => (prop::sample::select(vec![429u16, 503]), 0u64..120_000).prop_map(|(c, ms)| Answer::RetryAfter(c, ms)),
        2 => Just(Answer::Network),
        1 => prop::sample::select(vec![400u16, 413]).prop_map(Answer::Status),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0usize..2;
    prop_oneof![
        10 => (slot.clone(), 1u8..30).prop_map(|(s, n)| Op::Track(s, n)),
        6 => prop_oneof![0u64..100, 0u64..5_000, 0u64..200_000].prop_map(Op::Advance),
        10 => (slot.clone(), 0usize..4, answer()).prop_map(|(s, i, a)| Op::Answer(s, i, a)),
        5 => slot.clone().prop_map(Op::Wake),
        2 => (slot.clone(), any::<bool>()).prop_map(|(s, d)| Op::Reload(s, d)),
        1 => (slot.clone(), any::<bool>()).prop_map(|(s, d)| Op::Close(s, d)),
        2 => slot.clone().prop_map(Op::Open),
        1 => (slot.clone(), prop::bool::weighted(0.6)).prop_map(|(s, on)| Op::Streaming(s, on)),
        2 => slot.clone().prop_map(Op::Flush),
        1 => (slot.clone(), prop::bool::weighted(0.6)).prop_map(|(s, on)| Op::Online(s, on)),
        1 => slot.prop_map(Op::Hide),
    ]
}

struct World {
    o: Origin,
    pages: [Option<Page>; 2],
    cfg: ClientConfig,
    now: u64,
    /// messageId → times the server stored or saw it again.
    server: BTreeMap<String, u32>,
    /// First arrivals at the server, in order.
    arrivals: Vec<String>,
    /// Each slot's queued events in the order tracked.
    tracked: [Vec<String>; 2],
    /// Events in a request in flight when its page unloaded.
    unload_in_flight: BTreeSet<String>,
    dropped: BTreeSet<String>,
    /// Events whose order may differ: adopted by the other tab or in flight at an unload.
    closed: bool,
    flushes: BTreeSet<(usize, u64)>,
    i: u64,
}

impl World {
    fn receive(&mut self, t: &Transmit) {
        for (_, id) in body_events(t) {
            let n = self.server.entry(id.clone()).or_insert(0);
            if *n == 0 {
                self.arrivals.push(id);
            }
            *n += 1;
        }
    }

    fn collect(&mut self, slot: usize) {
        if let Some(p) = &mut self.pages[slot] {
            self.dropped.extend(p.dropped.drain(..).map(|d| d.0));
            for (w, _) in p.resolved.drain(..) {
                self.flushes.remove(&(slot, w));
            }
        }
    }

    /// Runs the adoption a page asked for (the shell does it under a lock).
    fn adopt_if_asked(&mut self, slot: usize) {
        let now = self.now;
        if let Some(p) = &mut self.pages[slot] {
            if p.adopt_asked {
                self.o.adopt(p, now);
            }
        }
    }

    fn open(&mut self, slot: usize) {
        if self.pages[slot].is_none() {
            let p = self.o.open(slot, self.cfg.clone(), self.now);
            self.pages[slot] = Some(p);
            self.adopt_if_asked(slot);
            self.collect(slot);
        }
    }

    fn unload(&mut self, slot: usize, reaches_server: bool) {
        self.collect(slot);
        if let Some(p) = self.pages[slot].take() {
            for w in p.resolved.iter() {
                self.flushes.remove(&(slot, w.0));
            }
            self.flushes.retain(|f| f.0 != slot);
            let out = self.o.unload(p, self.now);
            for t in out {
                for (_, id) in body_events(&t) {
                    self.unload_in_flight.insert(id);
                }
                if reaches_server {
                    self.receive(&t);
                }
            }
        }
    }

    /// Advances the clock in steps of at most a minute, with the heartbeats
    /// that live pages write meanwhile (background tabs: once a minute).
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 60_000).min(end);
            for slot in 0..2 {
                let now = self.now;
                if let Some(p) = &mut self.pages[slot] {
                    p.c.heartbeat(now);
                    self.o.run(p);
                }
                self.adopt_if_asked(slot);
                self.collect(slot);
            }
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Track(slot, n) => {
                if let Some(p) = &mut self.pages[slot] {
                    for _ in 0..n {
                        self.i += 1;
                        let before = p.c.delivery().next_seq();
                        p.c.track(now, "E", &format!("{{\"i\":{}}}", self.i))
                            .unwrap();
                        if p.c.delivery().next_seq() != before {
                            let item = p.c.delivery().item(before).expect("queued");
                            self.tracked[slot].push(item.message_id.clone());
                        }
                    }
                    // One task: committed at its end.
                    self.o.run(p);
                }
            }
            Op::Advance(ms) => self.advance(ms),
            Op::Answer(slot, idx, a) => {
                if let Some(p) = &mut self.pages[slot] {
                    if !p.out.is_empty() {
                        let t = p.out.remove(idx % p.out.len());
                        let outcome = match a {
                            Answer::Ok => {
                                self.receive(&t);
                                Outcome::Status {
                                    code: 200,
                                    retry_after_ms: None,
                                }
                            }
                            Answer::Status(code) => Outcome::Status {
                                code,
                                retry_after_ms: None,
                            },
                            Answer::RetryAfter(code, ms) => Outcome::Status {
                                code,
                                retry_after_ms: Some(ms),
                            },
                            Answer::Network => Outcome::NetworkError,
                        };
                        let p = self.pages[slot].as_mut().unwrap();
                        p.c.handle_response(now, t.id, outcome);
                        self.o.run(p);
                    }
                }
            }
            Op::Wake(slot) => {
                if let Some(p) = &mut self.pages[slot] {
                    if let Some(at) = p.c.next_wakeup(now) {
                        if at - now <= 400_000 {
                            self.advance(at - now);
                        }
                    }
                }
                let now = self.now;
                if let Some(p) = &mut self.pages[slot] {
                    p.wake(&mut self.o, now);
                }
            }
            Op::Reload(slot, reaches) => {
                if self.pages[slot].is_some() {
                    self.unload(slot, reaches);
                    self.open(slot);
                }
            }
            Op::Close(slot, reaches) => {
                if self.pages[slot].is_some() {
                    self.closed = true;
                    self.unload(slot, reaches);
                }
            }
            Op::Open(slot) => self.open(slot),
            Op::Streaming(slot, on) => {
                if let Some(p) = &mut self.pages[slot] {
                    p.c.set_streaming(now, on);
                    self.o.run(p);
                }
                self.adopt_if_asked(slot);
            }
            Op::Flush(slot) => {
                if let Some(p) = &mut self.pages[slot] {
                    let w = p.c.flush(now);
                    self.flushes.insert((slot, w));
                    self.o.run(p);
                }
            }
            Op::Online(slot, on) => {
                if let Some(p) = &mut self.pages[slot] {
                    p.c.set_online(now, on);
                    self.o.run(p);
                }
            }
            Op::Hide(slot) => {
                if let Some(p) = &mut self.pages[slot] {
                    p.c.page_hidden(now, false);
                    p.c.page_shown(now);
                    self.o.run(p);
                }
            }
        }
        for slot in 0..2 {
            self.collect(slot);
        }
    }

    /// Both tabs open, online and streaming; the server answers 200 to
    /// everything and time passes until nothing is left.
    fn drain(&mut self) {
        for slot in 0..2 {
            self.open(slot);
            let now = self.now;
            let p = self.pages[slot].as_mut().unwrap();
            p.c.set_online(now, true);
            p.c.set_streaming(now, true);
            self.o.run(p);
        }
        // Past every grace and staleness: orphans get adopted.
        self.advance(STALE_TAB_MS + LEAVE_GRACE_MS + 1);
        for _ in 0..2_000 {
            for slot in 0..2 {
                self.adopt_if_asked(slot);
                let now = self.now;
                let p = self.pages[slot].as_mut().unwrap();
                let out = std::mem::take(&mut p.out);
                for t in out {
                    self.receive(&t);
                    let p = self.pages[slot].as_mut().unwrap();
                    p.c.handle_response(
                        now,
                        t.id,
                        Outcome::Status {
                            code: 200,
                            retry_after_ms: None,
                        },
                    );
                    self.o.run(p);
                }
                self.collect(slot);
            }
            let queued: usize = self
                .pages
                .iter()
                .map(|p| p.as_ref().unwrap().c.delivery().len())
                .sum();
            let tracked = self.tracked[0].len() + self.tracked[1].len();
            assert!(
                queued <= tracked,
                "events multiplied: {queued} queued of {tracked} tracked"
            );
            let idle = self.pages.iter().all(|p| {
                let p = p.as_ref().unwrap();
                p.c.delivery().is_empty() && p.out.is_empty()
            });
            if idle && self.o.chunk_keys().is_empty() {
                break;
            }
            let next = self
                .pages
                .iter()
                .filter_map(|p| p.as_ref().unwrap().c.next_wakeup(self.now))
                .min();
            match next {
                Some(at) if at > self.now => self.advance(at - self.now),
                Some(_) => {}
                None => self.advance(HEARTBEAT_MS),
            }
            for slot in 0..2 {
                let now = self.now;
                let p = self.pages[slot].as_mut().unwrap();
                p.wake(&mut self.o, now);
            }
        }
    }

    fn check(&self) {
        assert!(
            self.o.chunk_keys().is_empty(),
            "storage ends empty: {:?}",
            self.o.chunk_keys()
        );
        for slot in 0..2 {
            let p = self.pages[slot].as_ref().unwrap();
            assert!(p.c.delivery().is_empty(), "queue {slot} ends empty");
        }
        assert!(
            self.flushes.is_empty(),
            "every flush() settled: {:?}",
            self.flushes
        );
        for (slot, ids) in self.tracked.iter().enumerate() {
            for id in ids {
                let n = self.server.get(id).copied().unwrap_or(0);
                assert!(
                    n > 0 || self.dropped.contains(id),
                    "{id} of tab {slot} lost"
                );
                if n > 1 || (n > 0 && self.dropped.contains(id)) {
                    assert!(
                        self.unload_in_flight.contains(id),
                        "{id} sent twice ({n}) without an unload"
                    );
                }
            }
            // Per-tab order: the first arrivals of a tab's events follow the order
            // they were tracked, but for those in flight at an unload (they may
            // arrive from the old page) and when a closed tab's events were
            // adopted by the other tab while it went on.
            if self.closed {
                continue;
            }
            let position: BTreeMap<&String, usize> = self
                .arrivals
                .iter()
                .enumerate()
                .map(|(i, id)| (id, i))
                .collect();
            let order: Vec<usize> = ids
                .iter()
                .filter(|id| !self.unload_in_flight.contains(*id))
                .filter_map(|id| position.get(id).copied())
                .collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "tab {slot} out of order"
            );
        }
    }
}

fn run(ops: Vec<Op>, small: bool) {
    let mut extra = vec![
        ("flushAt", Raw::Num(5.0)),
        ("requestTimeout", Raw::Num(2_000.0)),
    ];
    if small {
        extra.push(("flushInterval", Raw::Num(100.0)));
    }
    let cfg = config("WK", &extra);
    let mut w = World {
        o: Origin::default(),
        pages: [None, None],
        cfg,
        now: T0,
        server: BTreeMap::new(),
        arrivals: Vec::new(),
        tracked: [Vec::new(), Vec::new()],
        unload_in_flight: BTreeSet::new(),
        dropped: BTreeSet::new(),
        closed: false,
        flushes: BTreeSet::new(),
        i: 0,
    };
    w.open(0);
    w.open(1);
    for op in ops {
        w.apply(op);
    }
    w.drain();
    w.check();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Nothing lost, nothing doubled without an unload, order kept, storage empty.
    #[test]
    fn every_event_arrives_once_in_order_through_faults_reloads_and_tabs(
        ops in prop::collection::vec(op(), 1..60),
        small in any::<bool>(),
    ) {
        run(ops, small);
    }
}
