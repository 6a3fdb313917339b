//! Property tests of the whole client: two browser tabs on one origin, a
//! server that fails, rate-limits, hangs and refuses, reloads (quick and slow),
//! closed tabs, pages frozen in the background or kept in the back-forward
//! cache, streaming switched off and on, offline periods and a clock that jumps
//! back. Whatever happens, every event queued reaches the server or is
//! reported dropped; an event reaches the server twice only if it was in a
//! request in flight when its page unloaded, froze or went into the cache;
//! each page lineage's events arrive in the order they were tracked (unless
//! another tab adopted them); and storage ends empty.

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
    /// The wall clock is set back (NTP, the user).
    ClockBack(u64),
    /// Answer request `idx` of the page in slot.
    Answer(usize, usize, Answer),
    Wake(usize),
    /// Reload the tab after `delay` ms; requests in flight reach the server or not.
    Reload(usize, bool, u64),
    Close(usize, bool),
    Open(usize),
    Streaming(usize, bool),
    Flush(usize),
    Online(usize, bool),
    /// Hidden, then shown again (a tab switch).
    Hide(usize),
    /// Frozen in the background (no timers, no heartbeat) or resumed.
    Freeze(usize),
    Resume(usize),
    /// A same-tab navigation keeping the page in the back-forward cache, then
    /// Back (the cached page returns) or its eviction.
    Cache(usize),
    Back(usize),
    Evict(usize),
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
        1 => prop_oneof![0u64..20_000, 0u64..7_200_000].prop_map(Op::ClockBack),
        10 => (slot.clone(), 0usize..4, answer()).prop_map(|(s, i, a)| Op::Answer(s, i, a)),
        5 => slot.clone().prop_map(Op::Wake),
        2 => (slot.clone(), any::<bool>(), prop_oneof![Just(0u64), 0u64..15_000]).prop_map(|(s, d, ms)| Op::Reload(s, d, ms)),
        1 => (slot.clone(), any::<bool>()).prop_map(|(s, d)| Op::Close(s, d)),
        2 => slot.clone().prop_map(Op::Open),
        1 => (slot.clone(), prop::bool::weighted(0.6)).prop_map(|(s, on)| Op::Streaming(s, on)),
        2 => slot.clone().prop_map(Op::Flush),
        1 => (slot.clone(), prop::bool::weighted(0.6)).prop_map(|(s, on)| Op::Online(s, on)),
        1 => slot.clone().prop_map(Op::Hide),
        1 => slot.clone().prop_map(Op::Freeze),
        2 => slot.clone().prop_map(Op::Resume),
        1 => slot.clone().prop_map(Op::Cache),
        1 => slot.clone().prop_map(Op::Back),
        1 => slot.prop_map(Op::Evict),
    ]
}

struct World {
    o: Origin,
    pages: [Option<Page>; 2],
    frozen: [bool; 2],
    cached: [Option<Page>; 2],
    cfg: ClientConfig,
    now: u64,
    /// messageId → times the server stored or saw it again.
    server: BTreeMap<String, u32>,
    /// First arrivals at the server, in order.
    arrivals: Vec<String>,
    /// Events queued, by the tab id that queued them, in the order tracked.
    tracked: BTreeMap<String, Vec<String>>,
    /// The tab id each event was queued by.
    owner: BTreeMap<String, String>,
    /// Tabs whose events another tab adopted: their order is that tab's now.
    adopted_from: BTreeSet<String>,
    /// Events in a request in flight when its page unloaded, froze or was cached.
    in_flight_at_leave: BTreeSet<String>,
    dropped: BTreeSet<String>,
    /// `flush()` calls not settled yet: (tab id, waiter).
    flushes: BTreeSet<(String, u64)>,
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

    fn collect(
        p: &mut Page,
        dropped: &mut BTreeSet<String>,
        flushes: &mut BTreeSet<(String, u64)>,
    ) {
        dropped.extend(p.dropped.drain(..).map(|d| d.0));
        let tab = p.c.tab().to_owned();
        for (w, _) in p.resolved.drain(..) {
            flushes.remove(&(tab.clone(), w));
        }
    }

    fn collect_all(&mut self) {
        for p in self
            .pages
            .iter_mut()
            .chain(self.cached.iter_mut())
            .flatten()
        {
            Self::collect(p, &mut self.dropped, &mut self.flushes);
        }
    }

    fn live(&mut self, slot: usize) -> Option<&mut Page> {
        if self.frozen[slot] {
            return None;
        }
        self.pages[slot].as_mut()
    }

    /// Runs the adoption a live page asked for (the shell does it under a lock),
    /// and notes whose events it took.
    fn adopt_if_asked(&mut self, slot: usize) {
        let now = self.now;
        if self.frozen[slot] {
            return;
        }
        let Some(p) = self.pages[slot].as_mut() else {
            return;
        };
        if p.resync_asked {
            self.o.resync(p, now);
        }
        if p.adopt_asked {
            let before: BTreeSet<String> =
                p.c.delivery()
                    .items()
                    .map(|i| i.message_id.clone())
                    .collect();
            self.o.adopt(p, now);
            for item in p.c.delivery().items() {
                if !before.contains(&item.message_id) {
                    if let Some(tab) = self.owner.get(&item.message_id) {
                        if tab != p.c.tab() {
                            self.adopted_from.insert(tab.clone());
                        }
                    }
                }
            }
        }
    }

    fn open(&mut self, slot: usize) {
        if self.pages[slot].is_none() {
            let p = self.o.open(slot, self.cfg.clone(), self.now);
            self.pages[slot] = Some(p);
            self.frozen[slot] = false;
            self.adopt_if_asked(slot);
        }
    }

    /// Notes the events of the requests `p` has in flight as possibly sent twice.
    fn leaving(&mut self, out: &[Transmit], reaches_server: bool) {
        for t in out {
            for (_, id) in body_events(t) {
                self.in_flight_at_leave.insert(id);
            }
            if reaches_server {
                self.receive(t);
            }
        }
    }

    fn unload(&mut self, slot: usize, reaches_server: bool) {
        self.collect_all();
        if let Some(p) = self.pages[slot].take() {
            let tab = p.c.tab().to_owned();
            self.flushes.retain(|f| f.0 != tab);
            let out = self.o.unload(p, self.now);
            self.leaving(&out, reaches_server);
        }
        self.frozen[slot] = false;
    }

    /// Advances the clock in steps of at most a minute, with the heartbeats
    /// that live pages write meanwhile (background tabs: once a minute).
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 60_000).min(end);
            for slot in 0..2 {
                let now = self.now;
                if let Some(p) = self.live(slot) {
                    p.c.heartbeat(now);
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
                self.adopt_if_asked(slot);
            }
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Track(slot, n) => {
                if let (false, Some(p)) = (self.frozen[slot], self.pages[slot].as_mut()) {
                    let tab = p.c.tab().to_owned();
                    for _ in 0..n {
                        self.i += 1;
                        let before = p.c.delivery().next_seq();
                        p.c.track(now, "E", &format!("{{\"i\":{}}}", self.i))
                            .unwrap();
                        if p.c.delivery().next_seq() != before {
                            let id =
                                p.c.delivery()
                                    .item(before)
                                    .expect("queued")
                                    .message_id
                                    .clone();
                            self.tracked
                                .entry(tab.clone())
                                .or_default()
                                .push(id.clone());
                            self.owner.insert(id, tab.clone());
                        }
                    }
                    // One task: committed at its end.
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
            }
            Op::Advance(ms) => self.advance(ms),
            Op::ClockBack(ms) => self.now = self.now.saturating_sub(ms).max(T0),
            Op::Answer(slot, idx, a) => {
                if let Some(p) = self.live(slot) {
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
                if let Some(p) = self.live(slot) {
                    if let Some(at) = p.c.next_wakeup(now) {
                        if at - now <= 400_000 {
                            self.advance(at - now);
                        }
                    }
                }
                let now = self.now;
                if let Some(p) = self.live(slot) {
                    p.c.wake(now);
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
            }
            Op::Reload(slot, reaches, delay) => {
                if self.live(slot).is_some() {
                    self.unload(slot, reaches);
                    self.advance(delay);
                    self.open(slot);
                }
            }
            Op::Close(slot, reaches) => {
                if self.live(slot).is_some() {
                    self.unload(slot, reaches);
                }
            }
            Op::Open(slot) => self.open(slot),
            Op::Streaming(slot, on) => {
                if let Some(p) = self.live(slot) {
                    p.c.set_streaming(now, on);
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
            }
            Op::Flush(slot) => {
                if let (false, Some(p)) = (self.frozen[slot], self.pages[slot].as_mut()) {
                    let w = p.c.flush(now);
                    self.flushes.insert((p.c.tab().to_owned(), w));
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
            }
            Op::Online(slot, on) => {
                if let Some(p) = self.live(slot) {
                    p.c.set_online(now, on);
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
            }
            Op::Hide(slot) => {
                if let Some(p) = self.live(slot) {
                    p.c.page_hidden(now, Hide::Hidden);
                    p.c.page_shown(now);
                    let p = self.pages[slot].as_mut().unwrap();
                    self.o.run(p);
                }
            }
            Op::Freeze(slot) => {
                if let Some(p) = self.live(slot) {
                    let out = p.out.clone();
                    self.frozen[slot] = true;
                    self.leaving(&out, false);
                }
            }
            Op::Resume(slot) => {
                if self.frozen[slot] {
                    self.frozen[slot] = false;
                    if let Some(p) = self.pages[slot].as_mut() {
                        p.c.page_shown(now);
                        self.o.run(p);
                    }
                }
            }
            Op::Cache(slot) => {
                if self.cached[slot].is_none() && self.live(slot).is_some() {
                    let mut p = self.pages[slot].take().unwrap();
                    p.c.page_hidden(now, Hide::Cached);
                    self.o.run(&mut p);
                    let out = p.out.clone();
                    self.leaving(&out, false);
                    self.cached[slot] = Some(p);
                    self.open(slot);
                }
            }
            Op::Back(slot) => {
                if self.cached[slot].is_some() && self.live(slot).is_some() {
                    self.unload(slot, false);
                    let mut p = self.cached[slot].take().unwrap();
                    p.c.page_shown(now);
                    self.o.run(&mut p);
                    self.pages[slot] = Some(p);
                }
            }
            Op::Evict(slot) => {
                if let Some(p) = self.cached[slot].take() {
                    let tab = p.c.tab().to_owned();
                    self.flushes.retain(|f| f.0 != tab);
                }
            }
        }
        for slot in 0..2 {
            self.adopt_if_asked(slot);
        }
        self.collect_all();
    }

    /// Both tabs open, live, online and streaming; cached pages evicted; the
    /// server answers 200 to everything and time passes until nothing is left.
    fn drain(&mut self) {
        for slot in 0..2 {
            self.apply(Op::Evict(slot));
            self.apply(Op::Resume(slot));
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
            }
            self.collect_all();
            let queued: usize = self
                .pages
                .iter()
                .map(|p| p.as_ref().unwrap().c.delivery().len())
                .sum();
            let tracked = self.owner.len();
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
        let position: BTreeMap<&String, usize> = self
            .arrivals
            .iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        for (tab, ids) in &self.tracked {
            for id in ids {
                let n = self.server.get(id).copied().unwrap_or(0);
                assert!(n > 0 || self.dropped.contains(id), "{id} of tab {tab} lost");
                if n > 1 || (n > 0 && self.dropped.contains(id)) {
                    assert!(
                        self.in_flight_at_leave.contains(id),
                        "{id} sent twice ({n}) without leaving"
                    );
                }
            }
            if self.adopted_from.contains(tab) {
                continue;
            }
            let order: Vec<usize> = ids
                .iter()
                .filter(|id| !self.in_flight_at_leave.contains(*id))
                .filter_map(|id| position.get(id).copied())
                .collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "tab {tab} out of order"
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
        frozen: [false, false],
        cached: [None, None],
        cfg,
        now: T0,
        server: BTreeMap::new(),
        arrivals: Vec::new(),
        tracked: BTreeMap::new(),
        owner: BTreeMap::new(),
        adopted_from: BTreeSet::new(),
        in_flight_at_leave: BTreeSet::new(),
        dropped: BTreeSet::new(),
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

    /// Nothing lost, nothing doubled without a page leaving, order kept, storage empty.
    #[test]
    fn every_event_arrives_once_in_order_through_faults_reloads_and_tabs(
        ops in prop::collection::vec(op(), 1..60),
        small in any::<bool>(),
    ) {
        run(ops, small);
    }
}
