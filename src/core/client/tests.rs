//! Example-based tests of the client, against fake storage, a fake clock and a
//! fake server: reloads, tabs, streaming off, adoption, identity, budgets.

use super::*;
use crate::core::delivery::DAY_MS;
use serde_json::Value;
use std::collections::BTreeMap;

/// 2026-11-28T20:01:42.396Z.
pub(super) const T0: u64 = 1_795_896_102_396;

/// One origin's storage: localStorage, shared by its tabs, and each browser
/// tab's sessionStorage.
#[derive(Default, Clone, Debug)]
pub(super) struct Origin {
    pub local: BTreeMap<String, String>,
    pub session: BTreeMap<usize, BTreeMap<String, String>>,
    pub uuids: u64,
    /// localStorage refuses every write (quota).
    pub full: bool,
}

impl Storage for Origin {
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.local
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn get(&self, key: &str) -> Option<String> {
        self.local.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: &str) -> bool {
        if self.full {
            return false;
        }
        self.local.insert(key.to_owned(), value.to_owned());
        true
    }

    fn remove(&mut self, key: &str) {
        self.local.remove(key);
    }
}

/// A page load in browser tab `slot`: a client whose effects are carried out
/// into the origin's storage, with the requests it sent and what it told the page.
pub(super) struct Page {
    pub slot: usize,
    pub c: Client,
    /// Requests sent and not answered yet.
    pub out: Vec<Transmit>,
    pub delivered: Vec<String>,
    pub dropped: Vec<(String, &'static str)>,
    pub resolved: Vec<(u64, usize)>,
    pub aborted: Vec<u64>,
    pub user_changes: usize,
    pub saved_identity: usize,
    /// How many times the client asked to sign analytics.js out.
    pub analytics_resets: usize,
    pub adopt_asked: bool,
    pub resync_asked: bool,
    /// What the client asked to `console.warn`.
    pub warnings: Vec<&'static str>,
}

pub(super) fn config(write_key: &str, extra: &[(&str, Raw)]) -> ClientConfig {
    let mut opts: Vec<(String, Raw)> = vec![("writeKey".into(), Raw::Str(write_key.into()))];
    for (k, v) in extra {
        opts.push((k.to_string(), v.clone()));
    }
    ClientConfig::from_options(
        |k| {
            opts.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or(Raw::Absent)
        },
        "{}".into(),
    )
    .expect("valid options")
}

impl Origin {
    /// Opens a page in browser tab `slot` at `now`, as the shell's `init` does.
    pub fn open(&mut self, slot: usize, cfg: ClientConfig, now: u64) -> Page {
        let prefix = cfg.storage_prefix();
        let keys: Vec<String> = self
            .local
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        let local = self.local.clone();
        let session_key = cfg.session_key();
        let session_tab = self
            .session
            .get(&slot)
            .and_then(|s| s.get(&session_key))
            .cloned();
        let base = self.uuids;
        self.uuids += 1_000_000;
        let mut n = base;
        let uuid = Box::new(move || {
            n += 1;
            format!("00000000-0000-4000-8000-{n:012}")
        });
        let c = Client::new(
            cfg,
            Start {
                now,
                identity: Identity::new("anon-1".into()),
                session_tab,
                keys,
                client_info: ClientInfo::default(),
                seed: 7,
                online: true,
            },
            &mut |k| local.get(k).cloned(),
            uuid,
        );
        let mut page = Page {
            slot,
            c,
            out: Vec::new(),
            delivered: Vec::new(),
            dropped: Vec::new(),
            resolved: Vec::new(),
            aborted: Vec::new(),
            user_changes: 0,
            saved_identity: 0,
            analytics_resets: 0,
            adopt_asked: false,
            resync_asked: false,
            warnings: Vec::new(),
        };
        self.run(&mut page);
        page
    }

    /// Carries out the page's effects: storage at once, a commit at the end
    /// of the "task" (here: right away, after the other effects).
    pub fn run(&mut self, p: &mut Page) {
        loop {
            let effects = p.c.take_effects();
            if effects.is_empty() {
                break;
            }
            let mut commit = false;
            for e in effects {
                match e {
                    Effect::Store { key, value } => {
                        Storage::set(self, &key, &value);
                    }
                    Effect::Remove { key } => {
                        self.local.remove(&key);
                    }
                    Effect::SessionTab(tab) => {
                        self.session
                            .entry(p.slot)
                            .or_default()
                            .insert(p.c.session_key(), tab);
                    }
                    Effect::SaveIdentity => p.saved_identity += 1,
                    Effect::UserChanged => p.user_changes += 1,
                    Effect::Send(t) => p.out.push(t),
                    Effect::Abort(id) => {
                        p.aborted.push(id);
                        p.out.retain(|t| t.id != id);
                    }
                    Effect::Notice(Notice::Delivered { message_ids }) => {
                        p.delivered.extend(message_ids)
                    }
                    Effect::Notice(Notice::Dropped {
                        message_ids,
                        reason,
                    }) => p
                        .dropped
                        .extend(message_ids.into_iter().map(|m| (m, reason.code()))),
                    Effect::Notice(Notice::DeliveryFailure { .. }) => {}
                    Effect::Resolve { waiter, pending } => p.resolved.push((waiter, pending)),
                    Effect::Adopt => p.adopt_asked = true,
                    Effect::Resync => p.resync_asked = true,
                    Effect::ScheduleCommit => commit = true,
                    Effect::Warn(text) => p.warnings.push(text),
                    Effect::ResetAnalyticsJs => p.analytics_resets += 1,
                }
            }
            if commit {
                let now = p.c.last_input_at();
                p.c.end_of_task(now);
            }
            // The lock is free in these tests: a resync runs at once.
            if p.resync_asked {
                p.resync_asked = false;
                let now = p.c.last_input_at();
                p.c.resync(now, self);
            }
        }
    }

    /// Runs a pending adoption the way the shell does: a snapshot of the keys
    /// under the prefix, read under the lock, and the writes carried out at once.
    pub fn adopt(&mut self, p: &mut Page, now: u64) {
        p.adopt_asked = false;
        p.c.adopt(now, self);
        self.run(p);
    }

    /// Runs a pending resync, as the shell does under the lock.
    pub fn resync(&mut self, p: &mut Page, now: u64) {
        p.resync_asked = false;
        p.c.resync(now, self);
        self.run(p);
    }

    /// The page goes away (`pagehide`): its keepalive requests are returned
    /// with the regular one in flight; nothing of them is seen by a page again.
    pub fn unload(&mut self, mut p: Page, now: u64) -> Vec<Transmit> {
        p.c.page_hidden(now, Hide::Unloaded);
        self.run(&mut p);
        p.out
    }

    /// The message ids stored in the origin's queue chunks.
    pub fn stored_ids(&self) -> Vec<String> {
        self.local
            .iter()
            .filter(|(k, _)| k.contains(":q:"))
            .flat_map(|(_, v)| {
                journal::decode(v)
                    .into_iter()
                    .map(|s| s.message_id.to_owned())
            })
            .collect()
    }

    pub fn chunk_keys(&self) -> Vec<String> {
        self.local
            .keys()
            .filter(|k| k.contains(":q:"))
            .cloned()
            .collect()
    }
}

impl Page {
    pub fn track(&mut self, o: &mut Origin, now: u64, i: u64) {
        let props = format!("{{\"i\":{i}}}");
        self.c.track(now, "E", &props).expect("track");
        o.run(self);
    }

    /// Answers the request at `index` of those outstanding.
    pub fn answer(&mut self, o: &mut Origin, now: u64, index: usize, outcome: Outcome) -> Transmit {
        let t = self.out.remove(index);
        self.c.handle_response(now, t.id, outcome);
        o.run(self);
        t
    }

    pub fn ok(&mut self, o: &mut Origin, now: u64) -> Vec<Transmit> {
        let mut sent = Vec::new();
        while !self.out.is_empty() {
            sent.push(self.answer(o, now, 0, status(200)));
        }
        sent
    }

    pub fn wake(&mut self, o: &mut Origin, now: u64) {
        self.c.wake(now);
        o.run(self);
    }
}

pub(super) fn status(code: u16) -> Outcome {
    Outcome::Status {
        code,
        retry_after_ms: None,
    }
}

/// The `i` property and messageId of each message in a request body.
pub(super) fn body_events(t: &Transmit) -> Vec<(u64, String)> {
    let v: Value = serde_json::from_str(&t.body).expect("JSON body");
    v["batch"]
        .as_array()
        .expect("batch")
        .iter()
        .map(|m| {
            (
                m["properties"]["i"].as_u64().unwrap_or(u64::MAX),
                m["messageId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn is(t: &Transmit) -> Vec<u64> {
    body_events(t).into_iter().map(|e| e.0).collect()
}

fn quiet(extra: &[(&str, Raw)]) -> ClientConfig {
    let mut opts = vec![
        ("flushAt", Raw::Num(1000.0)),
        ("flushInterval", Raw::Num(3.6e6)),
    ];
    opts.extend(extra.iter().cloned());
    config("WK", &opts)
}

// ---------------------------------------------------------------- reloads

#[test]
fn a_reload_takes_this_tabs_events_back_at_once_in_order_with_attempts_and_age() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    let tab = p.c.tab().to_owned();
    for i in 0..5 {
        p.track(&mut o, T0 + i, i);
    }
    p.c.flush(T0 + 10);
    o.run(&mut p);
    p.answer(&mut o, T0 + 20, 0, status(503));
    assert_eq!(p.c.delivery().items().next().map(|i| i.attempts), Some(1));
    // The reload: pagehide (keepalive while online), then a new page in the same tab.
    let keepalive = o.unload(p, T0 + 30);
    assert_eq!(keepalive.len(), 1, "keepalive sent on pagehide");
    let mut p = o.open(0, quiet(&[]), T0 + 1_000);
    assert_eq!(p.c.tab(), tab, "same tab id from sessionStorage");
    let items: Vec<(u32, u64)> =
        p.c.delivery()
            .items()
            .map(|i| (i.attempts, i.queued_at))
            .collect();
    assert_eq!(
        items,
        (0..5).map(|i| (1, T0 + i)).collect::<Vec<_>>(),
        "attempts and first-queued time restored"
    );
    // Restored events are due at once, before anything new.
    assert_eq!(p.out.len(), 1, "sent at once");
    assert_eq!(
        is(&p.out[0]),
        [0, 1, 2, 3, 4],
        "per-tab order across the reload"
    );
    p.track(&mut o, T0 + 1_001, 5);
    p.ok(&mut o, T0 + 1_050);
    p.c.flush(T0 + 1_060);
    o.run(&mut p);
    assert_eq!(is(&p.out[0]), [5]);
    p.ok(&mut o, T0 + 1_100);
    assert!(o.chunk_keys().is_empty(), "nothing left stored");
    assert_eq!(p.delivered.len(), 6);
}

#[test]
fn restored_attempts_set_the_backoff_after_the_first_try() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    p.track(&mut o, T0, 0);
    let mut now = T0;
    for _ in 0..9 {
        p.c.flush(now);
        o.run(&mut p);
        if p.out.is_empty() {
            now = p.c.next_wakeup(now).unwrap();
            p.wake(&mut o, now);
        }
        p.answer(&mut o, now, 0, status(503));
    }
    o.unload(p, now);
    let mut p = o.open(0, quiet(&[]), now + 1);
    assert_eq!(
        p.out.len(),
        1,
        "the first attempt after the reload goes at once"
    );
    p.answer(&mut o, now + 2, 0, status(503));
    let wait = p.c.next_wakeup(now + 2).unwrap() - (now + 2);
    assert!(wait >= 54_000, "the 10th failure waits ~60 s: {wait}");
}

#[test]
fn a_tab_in_use_elsewhere_is_not_taken_over() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    a.track(&mut o, T0, 0);
    // A duplicated browser tab copies sessionStorage while the first still runs.
    let copy = o.session[&0].clone();
    o.session.insert(1, copy);
    let b = o.open(1, quiet(&[]), T0 + 100);
    assert_ne!(b.c.tab(), a.c.tab(), "a live tab's id is not reused");
    assert!(b.c.delivery().is_empty(), "nor its events");
    assert_eq!(o.stored_ids().len(), 1);
    let _ = a.ok(&mut o, T0);
}

// ---------------------------------------------------------------- streaming off

#[test]
fn a_load_with_streaming_off_keeps_earlier_events_and_sends_them_once_on() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    for i in 0..10 {
        p.track(&mut o, T0, i);
    }
    let ids = o.stored_ids();
    assert_eq!(ids.len(), 10);
    o.unload(p, T0 + 5);
    // Same tab, then another tab (the first one closed): neither deletes them.
    let mut p = o.open(0, quiet(&[("stream", Raw::Bool(false))]), T0 + 10);
    assert!(!p.adopt_asked, "no adoption while streaming is off");
    p.wake(&mut o, T0 + 20);
    assert!(p.out.is_empty(), "nothing sent while off");
    assert_eq!(o.stored_ids(), ids, "stored events are kept");
    p.c.track(T0 + 30, "Off", "{}").unwrap();
    o.run(&mut p);
    assert_eq!(o.stored_ids(), ids, "new events are not queued while off");
    o.unload(p, T0 + 40);
    let mut q = o.open(1, quiet(&[("stream", Raw::Bool(false))]), T0 + 50);
    o.adopt(&mut q, T0 + 50);
    assert_eq!(
        o.stored_ids(),
        ids,
        "another tab with streaming off leaves them"
    );
    let on = T0 + 40 + LEAVE_GRACE_MS + 1;
    q.c.set_streaming(on, true);
    o.run(&mut q);
    assert!(q.adopt_asked, "streaming on looks for orphans");
    o.adopt(&mut q, on);
    q.c.flush(on);
    o.run(&mut q);
    let sent: Vec<String> = q
        .ok(&mut o, on + 10)
        .iter()
        .flat_map(|t| body_events(t).into_iter().map(|e| e.1))
        .collect();
    let mut want = ids.clone();
    want.sort();
    let mut got = sent.clone();
    got.sort();
    assert_eq!(got, want, "each earlier event sent once");
    assert!(o.chunk_keys().is_empty());
}

#[test]
fn flush_settles_with_streaming_off_offline_and_after_a_failure() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    p.track(&mut o, T0, 0);
    p.c.set_online(T0, false);
    let w = p.c.flush(T0);
    o.run(&mut p);
    assert_eq!(p.resolved, [(w, 1)], "offline: settles at once, 1 pending");
    p.c.set_online(T0, true);
    o.run(&mut p);
    let w = p.c.flush(T0);
    o.run(&mut p);
    assert!(p.resolved.iter().all(|r| r.0 != w), "in flight: waits");
    p.answer(&mut o, T0 + 5, 0, status(500));
    assert_eq!(
        p.resolved.last(),
        Some(&(w, 1)),
        "a failure settles it, 1 pending"
    );
    let now = p.c.next_wakeup(T0 + 5).unwrap();
    let w = p.c.flush(now);
    o.run(&mut p);
    p.answer(&mut o, now, 0, status(200));
    assert_eq!(
        p.resolved.last(),
        Some(&(w, 0)),
        "delivered: nothing pending"
    );
    p.c.set_streaming(now, false);
    p.track(&mut o, now, 1);
    let w = p.c.flush(now);
    o.run(&mut p);
    assert_eq!(p.resolved.last(), Some(&(w, 0)));
}

// ---------------------------------------------------------------- adoption

#[test]
fn a_closed_tabs_events_are_adopted_in_order_written_here_before_removed_there() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    let mut b = o.open(1, quiet(&[]), T0);
    for i in 0..120 {
        b.c.track(T0, "E", &format!("{{\"i\":{i}}}")).unwrap();
    }
    o.run(&mut b);
    let b_tab = b.c.tab().to_owned();
    let b_keys = o.chunk_keys();
    assert_eq!(b_keys.len(), 3, "120 events in chunks of 50");
    // b is still alive: a adopts nothing.
    o.adopt(&mut a, T0 + 1_000);
    assert!(a.c.delivery().is_empty());
    // b closes (its heartbeat says so); a adopts after the grace for a reload.
    o.unload(b, T0 + 2_000);
    o.adopt(&mut a, T0 + 2_000 + LEAVE_GRACE_MS);
    assert!(
        a.c.delivery().is_empty(),
        "within the grace: a reload may take them back"
    );
    // Record what the adoption does to storage, in order.
    struct Log<'a>(&'a mut Origin, Vec<String>);
    impl Storage for Log<'_> {
        fn keys(&self, prefix: &str) -> Vec<String> {
            self.0.keys(prefix)
        }
        fn get(&self, key: &str) -> Option<String> {
            Storage::get(self.0, key)
        }
        fn set(&mut self, key: &str, value: &str) -> bool {
            self.1.push(String::from("set ") + key);
            Storage::set(self.0, key, value)
        }
        fn remove(&mut self, key: &str) {
            self.1.push(String::from("remove ") + key);
            Storage::remove(self.0, key)
        }
    }
    let mut log = Log(&mut o, Vec::new());
    a.c.adopt(T0 + 2_001 + LEAVE_GRACE_MS, &mut log);
    let ops = log.1;
    // Chunk by chunk: this tab's copy first, then the other's removed.
    let b_ops: Vec<&String> = ops.iter().filter(|op| op.contains(":q:")).collect();
    assert_eq!(b_ops.len(), 6, "{ops:?}");
    for pair in b_ops.chunks(2) {
        assert!(
            pair[0].starts_with("set ") && !pair[0].contains(&b_tab),
            "{ops:?}"
        );
        assert!(
            pair[1].starts_with("remove ") && pair[1].contains(&b_tab),
            "{ops:?}"
        );
    }
    o.run(&mut a);
    assert!(o.chunk_keys().iter().all(|k| !k.contains(&b_tab)));
    assert!(!o.local.keys().any(|k| k.contains(&format!("tab:{b_tab}"))));
    let order: Vec<u64> =
        a.c.delivery()
            .items()
            .map(|i| {
                let v: Value = serde_json::from_str(&i.json).unwrap();
                v["properties"]["i"].as_u64().unwrap()
            })
            .collect();
    assert_eq!(order, (0..120).collect::<Vec<_>>(), "their order is kept");
    assert_eq!(o.stored_ids().len(), 120);
}

#[test]
fn a_tab_whose_heartbeat_went_stale_is_adopted() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    let mut b = o.open(1, quiet(&[]), T0);
    b.track(&mut o, T0, 0);
    drop(b); // crashed: no pagehide, the heartbeat stays
    o.adopt(&mut a, T0 + STALE_TAB_MS);
    assert!(a.c.delivery().is_empty(), "not yet stale");
    o.adopt(&mut a, T0 + STALE_TAB_MS + 1);
    assert_eq!(a.c.delivery().len(), 1, "stale: adopted");
}

// ---------------------------------------------------------------- identity

#[test]
fn identity_changes_are_one_transaction() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    let traits = json::parse("{\"plan\":\"pro\"}").unwrap();
    p.c.identify(T0, "u1", &traits).unwrap();
    o.run(&mut p);
    assert_eq!((p.saved_identity, p.user_changes), (1, 1));
    // Too large a message changes nothing.
    let huge = json::parse(&format!("{{\"bio\":\"{}\"}}", "x".repeat(40_000))).unwrap();
    let before = p.c.identity().clone();
    let e = p.c.identify(T0, "u2", &huge).unwrap_err();
    assert_eq!(e.code.as_str(), "payload_too_large");
    assert_eq!(p.c.identity(), &before);
    let e = p.c.group(T0, "g1", &huge, None).unwrap_err();
    assert_eq!(e.code.as_str(), "payload_too_large");
    assert_eq!(p.c.identity(), &before);
    o.run(&mut p);
    assert_eq!((p.saved_identity, p.user_changes), (1, 1));
    // alias makes the new id current and says the user changed.
    p.c.alias(T0, "u-new", None).unwrap();
    o.run(&mut p);
    assert_eq!(p.c.identity().user_id.as_deref(), Some("u-new"));
    assert_eq!(p.user_changes, 2, "alias tells the flow side");
    assert_eq!(p.c.flow_state_key(), "segflow:v1:WK:flows:u:u-new");
    p.c.reset();
    o.run(&mut p);
    assert_eq!(p.user_changes, 3);
    assert_eq!(p.analytics_resets, 1, "reset signs analytics.js out too");
    assert!(p.c.flow_state_key().starts_with("segflow:v1:WK:flows:a:"));
    assert!(
        p.c.update_user(T0, &traits).is_err(),
        "reset: not identified"
    );
}

/// The `segflowSignature` of each queued message, in order.
fn signatures(p: &Page) -> Vec<Option<String>> {
    p.c.delivery()
        .items()
        .map(|i| {
            let v: Value = serde_json::from_str(&i.json).unwrap();
            v["segflowSignature"].as_str().map(str::to_string)
        })
        .collect()
}

#[test]
fn a_signed_identify_signs_every_message_of_that_user() {
    let sig = "A".repeat(64);
    let lower = "a".repeat(64);
    let mut o = Origin::default();
    let mut p = o.open(
        0,
        quiet(&[("apiHost", Raw::Str("http://127.0.0.1:9/v1".into()))]),
        T0,
    );
    let none = Json::Object(Vec::new());
    // Bad signatures are refused before anything changes.
    for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
        let e = p.c.identify_signed(T0, "u1", &none, Some(bad)).unwrap_err();
        assert_eq!(e.code.as_str(), "invalid_argument", "{bad:?}");
        assert!(e.message.contains("64 hex digits"), "{}", e.message);
    }
    assert!(p.c.identity().user_id.is_none());
    p.c.track(T0, "before", "{}").unwrap();
    p.c.identify_signed(T0, "u1", &none, Some(&sig)).unwrap();
    p.c.track(T0, "a", "{}").unwrap();
    // The same user again without one keeps it.
    p.c.identify(T0, "u1", &none).unwrap();
    p.c.track(T0, "b", "{}").unwrap();
    assert_eq!(p.c.identity().signature.as_deref(), Some(lower.as_str()));
    // Another user without one: none; alias: none (it was for the old id).
    p.c.identify(T0, "u2", &none).unwrap();
    p.c.identify_signed(T0, "u3", &none, Some(&lower)).unwrap();
    p.c.alias(T0, "u4", None).unwrap();
    p.c.track(T0, "c", "{}").unwrap();
    let l = Some(lower.clone());
    assert_eq!(
        signatures(&p),
        [
            None,
            l.clone(),
            l.clone(),
            l.clone(),
            l.clone(),
            None,
            l,
            None,
            None
        ],
        "track, identify, track, identify, track, identify u2, identify u3, alias, track"
    );
    assert_eq!(p.c.state_request(), None, "no stateHost");
    p.c.reset();
    assert!(p.c.identity().signature.is_none());
    // With a stateHost: where the signed user's state is read.
    let mut o2 = Origin::default();
    let mut q = o2.open(
        0,
        quiet(&[("stateHost", Raw::Str("https://e.example/v1".into()))]),
        T0,
    );
    q.c.identify(T0, "u 1", &none).unwrap();
    assert_eq!(q.c.state_request(), None, "unsigned: nothing to present");
    q.c.identify_signed(T0, "u 1", &none, Some(&sig)).unwrap();
    assert_eq!(
        q.c.state_request(),
        Some((
            "https://e.example/v1/state?writeKey=WK&userId=u%201".to_string(),
            lower.clone()
        ))
    );
    // To Segment's own API: never sent.
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    p.c.identify_signed(T0, "u1", &none, Some(&sig)).unwrap();
    assert_eq!(signatures(&p), [None]);
    assert!(p.c.identity().signature.is_some(), "kept (for stateHost)");
}

#[test]
fn flow_progress_keys_are_namespaced_like_queue_keys() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[("environment", Raw::Str("staging".into()))]), T0);
    let mut b = o.open(1, config("OTHER", &[]), T0);
    a.c.identify(T0, "u", &Json::Object(Vec::new())).unwrap();
    b.c.identify(T0, "u", &Json::Object(Vec::new())).unwrap();
    assert_eq!(a.c.flow_state_key(), "segflow:v1:staging:WK:flows:u:u");
    assert_eq!(b.c.flow_state_key(), "segflow:v1:OTHER:flows:u:u");
    assert_eq!(a.c.events_state_key(), "segflow:v1:staging:WK:events:u:u");
    a.c.reset();
    assert!(a
        .c
        .events_state_key()
        .starts_with("segflow:v1:staging:WK:events:a:"));
}

#[test]
fn the_content_module_may_only_touch_flow_progress_keys() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[("environment", Raw::Str("staging".into()))]), T0);
    assert!(a.c.is_flow_state_key(&a.c.flow_state_key()), "anonymous");
    a.c.identify(T0, "u", &Json::Object(Vec::new())).unwrap();
    assert!(a.c.is_flow_state_key(&a.c.flow_state_key()), "identified");
    assert!(
        a.c.is_flow_state_key(&a.c.events_state_key()),
        "event counts"
    );
    assert!(
        a.c.is_flow_state_key(&a.c.checklists_state_key()),
        "checklists"
    );
    assert_eq!(
        a.c.checklists_state_key(),
        "segflow:v1:staging:WK:checklists:u:u"
    );
    assert!(a
        .c
        .is_flow_state_key("segflow:v1:staging:WK:flows:u:someone-else"));
    for key in [
        "segflow:v1:staging:WK:identity",
        "segflow:v1:staging:WK:q:tab:1",
        "segflow:v1:WK:flows:u:u",
        "segflow:v1:staging:OTHER:flows:u:u",
        "segflow:v1:staging:WK:flows:",
        "segflow:v1:staging:WK:flows:x:u",
        "segflow:v1:staging:WK:events:",
        "segflow:v1:staging:WK:eventsu:u",
        "segflow:v1:staging:OTHER:events:u:u",
        "ajs_user_id",
        "",
    ] {
        assert!(!a.c.is_flow_state_key(key), "{key}");
    }
}

// ---------------------------------------------------------------- requests

#[test]
fn bodies_carry_the_write_key_and_budgets_count_it() {
    let long_key = "k".repeat(2_000);
    let cfg = config(
        &long_key,
        &[
            ("flushAt", Raw::Num(2500.0)),
            ("flushInterval", Raw::Num(3.6e6)),
        ],
    );
    let mut o = Origin::default();
    let mut p = o.open(0, cfg, T0);
    let big = format!("{{\"i\":0,\"p\":\"{}\"}}", "x".repeat(30_000));
    for _ in 0..40 {
        p.c.track(T0, "Big", &big).unwrap();
    }
    o.run(&mut p);
    p.c.page_hidden(T0, Hide::Unloaded);
    o.run(&mut p);
    let ka: usize = p
        .out
        .iter()
        .filter(|t| t.keepalive)
        .map(|t| t.body.len())
        .sum();
    assert!(!p.out.is_empty());
    assert!(
        ka <= 60 * 1024,
        "keepalive bodies with the write key fit the budget: {ka}"
    );
    for t in &p.out {
        let v: Value = serde_json::from_str(&t.body).unwrap();
        assert_eq!(v["writeKey"].as_str(), Some(long_key.as_str()));
    }
    // The regular batch too: under 500 KB with the key, all 40 delivered in the end.
    let mut delivered = 0;
    for now in T0..T0 + 100 {
        if delivered == 40 {
            break;
        }
        for t in std::mem::take(&mut p.out) {
            assert!(t.body.len() <= 500 * 1024, "{}", t.body.len());
            delivered += body_events(&t).len();
            p.c.handle_response(now, t.id, status(200));
            o.run(&mut p);
        }
        p.c.flush(now);
        o.run(&mut p);
    }
    assert_eq!(delivered, 40, "all delivered");
}

#[test]
fn a_request_that_never_answers_times_out_and_is_retried() {
    let mut o = Origin::default();
    let mut p = o.open(
        0,
        config(
            "WK",
            &[
                ("flushAt", Raw::Num(1.0)),
                ("requestTimeout", Raw::Num(1_000.0)),
            ],
        ),
        T0,
    );
    p.track(&mut o, T0, 0);
    assert_eq!(p.out.len(), 1);
    let hung = p.out[0].id;
    assert_eq!(p.out[0].deadline, T0 + 1_000);
    assert_eq!(
        p.c.next_wakeup(T0),
        Some(T0 + 1_000),
        "the deadline wakes the client"
    );
    p.track(&mut o, T0 + 10, 1);
    assert_eq!(p.out.len(), 1, "one regular request at a time");
    p.wake(&mut o, T0 + 1_000);
    assert_eq!(p.aborted, [hung], "aborted at the deadline");
    let now = p.c.next_wakeup(T0 + 1_000).unwrap();
    assert!(now > T0 + 1_000, "backs off like after a network error");
    p.wake(&mut o, now);
    assert_eq!(p.out.len(), 1);
    assert_eq!(is(&p.out[0]), [0, 1]);
    // A late answer for the aborted request changes nothing.
    p.c.handle_response(now, hung, status(200));
    o.run(&mut p);
    assert!(p.delivered.is_empty());
    p.ok(&mut o, now);
    assert_eq!(p.delivered.len(), 2);
}

#[test]
fn offline_or_streaming_off_wakes_only_for_deadlines() {
    let mut o = Origin::default();
    let mut p = o.open(0, config("WK", &[]), T0);
    p.track(&mut o, T0, 0);
    p.c.set_online(T0, false);
    o.run(&mut p);
    assert_eq!(
        p.c.next_wakeup(T0),
        None,
        "offline: wait for the online event"
    );
    p.c.set_online(T0, true);
    p.c.set_streaming(T0, false);
    o.run(&mut p);
    assert_eq!(p.c.next_wakeup(T0), None);
}

#[test]
fn events_past_the_age_limit_are_dropped_as_expired() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[("maxEventAgeDays", Raw::Num(1.0))]), T0);
    p.track(&mut o, T0, 0);
    o.unload(p, T0);
    let p = o.open(0, quiet(&[("maxEventAgeDays", Raw::Num(1.0))]), T0 + DAY_MS);
    assert_eq!(p.dropped.len(), 1);
    assert_eq!(p.dropped[0].1, "expired");
    assert!(o.chunk_keys().is_empty(), "removed from storage");
}

// ---------------------------------------------------------------- pages that come back

#[test]
fn a_page_in_the_back_forward_cache_keeps_its_tab_and_events_and_resumes_cleanly() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    for i in 0..3 {
        a.track(&mut o, T0, i);
    }
    a.c.flush(T0);
    o.run(&mut a);
    a.answer(&mut o, T0 + 1, 0, status(503));
    // A same-origin link: A goes into the back-forward cache; its keepalive is lost.
    a.c.page_hidden(T0 + 10, Hide::Cached);
    o.run(&mut a);
    a.out.clear();
    let mut b = o.open(0, quiet(&[]), T0 + 500);
    assert_ne!(
        b.c.tab(),
        a.c.tab(),
        "B does not take the id of a page that may come back"
    );
    assert!(b.c.delivery().is_empty(), "nor its events");
    b.track(&mut o, T0 + 700, 100);
    let b_ids = o.stored_ids();
    // Back: B leaves, A comes back and goes on.
    o.unload(b, T0 + 800);
    a.c.page_shown(T0 + 900);
    o.run(&mut a);
    a.track(&mut o, T0 + 901, 4);
    for id in &b_ids {
        assert!(o.stored_ids().contains(id), "B's events are still stored");
    }
    // The keepalive request lost in the cache times out; then A sends what it holds.
    let mut now = T0 + 901;
    let mut sent: Vec<u64> = Vec::new();
    while sent.len() < 4 {
        now = a.c.next_wakeup(now).expect("a wake-up while events wait");
        a.wake(&mut o, now);
        a.c.flush(now);
        o.run(&mut a);
        sent.extend(a.ok(&mut o, now).iter().flat_map(is));
    }
    assert_eq!(sent, [0, 1, 2, 4], "A sends its own, in order, once");
    assert!(a.c.delivery().is_empty());
}

#[test]
fn a_frozen_tab_forgets_what_another_tab_adopted_meanwhile() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    let mut b = o.open(1, quiet(&[]), T0);
    for i in 0..3 {
        a.track(&mut o, T0, i);
    }
    // A is frozen (no timers, no heartbeat); B sees its heartbeat go stale.
    let later = T0 + STALE_TAB_MS + 1;
    b.c.heartbeat(later);
    o.run(&mut b);
    o.adopt(&mut b, later);
    assert_eq!(b.c.delivery().len(), 3, "B adopted A's events");
    // A resumes: before sending anything it checks storage and forgets them.
    a.c.page_shown(later + 10);
    assert!(a.c.take_effects().contains(&Effect::Resync));
    assert!(
        a.c.next_wakeup(later + 10).is_none(),
        "nothing sent before the resync"
    );
    a.c.resync(later + 20, &o);
    o.run(&mut a);
    assert!(a.c.delivery().is_empty(), "A forgot the adopted events");
    assert!(
        a.out.is_empty() && a.dropped.is_empty(),
        "without sending or reporting them"
    );
    // New events of A go on as usual.
    a.track(&mut o, later + 30, 9);
    a.c.flush(later + 30);
    o.run(&mut a);
    assert_eq!(a.out.iter().flat_map(is).collect::<Vec<_>>(), [9]);
}

#[test]
fn a_failed_adoption_write_leaves_the_other_tabs_events_where_they_are() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    let mut b = o.open(1, quiet(&[]), T0);
    for i in 0..5 {
        b.track(&mut o, T0, i);
    }
    let b_tab = b.c.tab().to_owned();
    o.unload(b, T0 + 1);
    let before = o.stored_ids();
    o.full = true;
    o.adopt(&mut a, T0 + 2 + LEAVE_GRACE_MS);
    assert_eq!(o.stored_ids(), before, "the only durable copy stays");
    assert!(o.chunk_keys().iter().all(|k| k.contains(&b_tab)));
    assert!(a.c.delivery().is_empty(), "and is not sent from memory");
    o.full = false;
    o.adopt(&mut a, T0 + 3 + LEAVE_GRACE_MS);
    assert_eq!(a.c.delivery().len(), 5, "adopted once storage takes it");
}

#[test]
fn a_slow_reload_keeps_its_events_from_other_tabs() {
    let mut o = Origin::default();
    let mut a = o.open(0, quiet(&[]), T0);
    let mut b = o.open(1, quiet(&[]), T0);
    a.track(&mut o, T0, 0);
    o.unload(a, T0);
    // Another tab looks 5 s into the reload: within the grace, it leaves them.
    o.adopt(&mut b, T0 + 5_000);
    assert!(b.c.delivery().is_empty());
    let a = o.open(0, quiet(&[]), T0 + 8_000);
    assert_eq!(a.c.delivery().len(), 1, "the reloaded page takes them back");
}

#[test]
fn corrupt_stored_lines_are_reported_invalid_and_never_sent() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    p.track(&mut o, T0, 0);
    p.track(&mut o, T0, 1);
    let key = o.chunk_keys()[0].clone();
    let tab = p.c.tab().to_owned();
    o.unload(p, T0);
    // Something else wrote into segflow's chunk: a broken line and one that is not JSON.
    let value = o.local[&key].clone();
    o.local.insert(
        key.clone(),
        value + "\nbad-1\t1\t0\t{\"x\":\n\tno id\nbad-2\t1\t0\t{not json}",
    );
    // And a chunk with nothing readable at all.
    let junk = format!("segflow:v1:WK:q:{tab}:900");
    o.local.insert(junk.clone(), "garbage".into());
    let mut p = o.open(0, quiet(&[]), T0 + 10);
    let mut dropped = p.dropped.clone();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            ("bad-1".to_owned(), "invalid"),
            ("bad-2".to_owned(), "invalid")
        ]
    );
    assert!(
        !o.local.contains_key(&junk),
        "an unreadable chunk is removed"
    );
    assert_eq!(
        o.stored_ids().len(),
        2,
        "the chunk is rewritten without the bad lines"
    );
    assert_eq!(
        p.out.iter().flat_map(is).collect::<Vec<_>>(),
        [0, 1],
        "only valid events go"
    );
    p.ok(&mut o, T0 + 20);
    assert!(o.chunk_keys().is_empty());
}

#[test]
fn a_replayed_call_keeps_the_time_it_was_made() {
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    let now = T0 + 60_000;
    p.c.set_call_time(Some(T0 + 1_000));
    p.c.track(now, "Queued", r#"{"i":1}"#).unwrap();
    p.c.set_call_time(Some(now + 5_000)); // never in the future
    p.c.track(now, "Clock", r#"{"i":2}"#).unwrap();
    p.c.set_call_time(None);
    p.c.track(now, "Now", r#"{"i":3}"#).unwrap();
    p.c.flush(now);
    o.run(&mut p);
    let t = p.out.first().expect("a batch");
    let v: Value = serde_json::from_str(&t.body).unwrap();
    let stamps: Vec<&str> = v["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(
        stamps,
        [
            crate::core::time::iso8601(T0 + 1_000),
            crate::core::time::iso8601(now),
            crate::core::time::iso8601(now)
        ]
    );
}

#[test]
fn listener_payloads_are_the_documented_json() {
    let v = |(name, text): (&str, String)| -> (String, Value) {
        (
            name.to_owned(),
            serde_json::from_str(&text).expect("payload JSON"),
        )
    };
    let ids = vec!["m-1".to_owned(), "quote\"d".to_owned()];
    assert_eq!(
        v(Notice::Delivered {
            message_ids: ids.clone()
        }
        .payload()),
        (
            "delivered".into(),
            serde_json::json!({"count": 2, "messageIds": ["m-1", "quote\"d"]})
        )
    );
    assert_eq!(
        v(Notice::Dropped {
            message_ids: ids.clone(),
            reason: DropReason::Rejected { status: 400 }
        }
        .payload()),
        (
            "dropped".into(),
            serde_json::json!({"reason": "rejected", "status": 400, "count": 2, "messageIds": ["m-1", "quote\"d"]})
        )
    );
    assert_eq!(
        v(Notice::Dropped {
            message_ids: Vec::new(),
            reason: DropReason::QueueFull
        }
        .payload()),
        (
            "dropped".into(),
            serde_json::json!({"reason": "queue_full", "count": 0, "messageIds": []})
        ),
        "a status only for a rejection"
    );
    assert_eq!(
        v(Notice::DeliveryFailure {
            reason: "expired",
            count: 3
        }
        .payload()),
        (
            "error".into(),
            serde_json::json!({"reason": "expired", "count": 3})
        )
    );
    assert_eq!(flush_result(7), r#"{"pending":7}"#);
}

#[test]
fn the_user_state_is_the_documented_json() {
    let mut id = Identity::new("anon \"1\"".into());
    let none: Value = serde_json::from_str(&id.state_json()).expect("JSON");
    assert_eq!(
        none,
        serde_json::json!({"userId": null, "anonymousId": "anon \"1\"", "groupId": null, "traits": {}, "groupTraits": {}})
    );
    id.user_id = Some("u1".into());
    id.group_id = Some("co".into());
    id.user_traits = json::parse(r#"{"plan":"pro","n":2}"#).expect("JSON");
    id.group_traits = json::parse(r#"{"size":3}"#).expect("JSON");
    let some: Value = serde_json::from_str(&id.state_json()).expect("JSON");
    assert_eq!(
        some,
        serde_json::json!({"userId": "u1", "anonymousId": "anon \"1\"", "groupId": "co", "traits": {"plan": "pro", "n": 2}, "groupTraits": {"size": 3}})
    );
}

#[test]
fn a_burst_of_calls_in_one_task_is_stored_then_sent_in_one_request_at_the_end_of_the_task() {
    let mut o = Origin::default();
    let cfg = config(
        "WK",
        &[
            ("flushAt", Raw::Num(5.0)),
            ("flushInterval", Raw::Num(3.6e6)),
        ],
    );
    let mut p = o.open(0, cfg, T0);
    // Twelve calls in one task: track() itself neither stores nor sends (the
    // page's fetch costs about 1 ms, far more than a call), it asks for the
    // end-of-task microtask once.
    let mut effects = Vec::new();
    for i in 0..12 {
        p.c.track(T0 + 1, "E", &format!("{{\"i\":{i}}}"))
            .expect("track");
        effects.extend(p.c.take_effects());
    }
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Send(_) | Effect::Store { .. })),
        "nothing stored or sent during the calls: {effects:?}"
    );
    assert_eq!(
        effects
            .iter()
            .filter(|e| **e == Effect::ScheduleCommit)
            .count(),
        1
    );
    // The end of the task: the events are stored, then all twelve go in one
    // request (flushAt 5 was reached), not five now and seven after it.
    p.c.end_of_task(T0 + 1);
    let effects = p.c.take_effects();
    let stored = effects
        .iter()
        .position(|e| matches!(e, Effect::Store { .. }))
        .expect("stored");
    let sends: Vec<(usize, &Transmit)> = effects
        .iter()
        .enumerate()
        .filter_map(|(n, e)| match e {
            Effect::Send(t) => Some((n, t)),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "{effects:?}");
    assert!(stored < sends[0].0, "stored before sent");
    assert_eq!(is(sends[0].1), (0..12).collect::<Vec<u64>>());
    // Below flushAt, the end of a task sends nothing (the interval decides).
    let mut p2 = o.open(
        1,
        config(
            "WK2",
            &[
                ("flushAt", Raw::Num(5.0)),
                ("flushInterval", Raw::Num(3.6e6)),
            ],
        ),
        T0,
    );
    for i in 0..4 {
        p2.track(&mut o, T0 + 2, i);
    }
    assert!(p2.out.is_empty());
    p2.track(&mut o, T0 + 3, 4);
    assert_eq!(p2.out.len(), 1);
    assert_eq!(is(&p2.out[0]), vec![0, 1, 2, 3, 4]);
}

#[test]
fn a_lone_surrogate_in_track_properties_is_sent_as_u_fffd_never_as_an_escape_servers_refuse() {
    // `JSON.stringify` writes a string cut in the middle of an emoji as an
    // escaped lone surrogate: valid JSON, which Segment's API (and the collector)
    // refuse with the whole batch. It is sent as U+FFFD, as traits already are.
    let mut o = Origin::default();
    let mut p = o.open(0, quiet(&[]), T0);
    p.c.track(
        T0,
        "Review",
        r#"{"title":"Great \ud83d","\udc00key":1,"ok":"\ud83d\ude00"}"#,
    )
    .expect("track");
    p.c.flush(T0);
    o.run(&mut p);
    let body = &p.out.last().expect("sent").body;
    assert!(!body.to_ascii_lowercase().contains("\\ud8"), "{body}");
    assert!(!body.to_ascii_lowercase().contains("\\udc"), "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    let props = &v["batch"][0]["properties"];
    assert_eq!(props["title"], "Great \u{fffd}");
    assert_eq!(props["\u{fffd}key"], 1);
    assert_eq!(props["ok"], "\u{1f600}");
}
