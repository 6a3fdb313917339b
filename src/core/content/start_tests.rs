//! [`AutoStart`] on its own: the frequency, priority and delay rules both
//! engines share, and a property test over random sequences of page changes,
//! starts and ends.

use super::conditions::parse_condition;
use super::start::*;
use super::test_world::World;
use crate::core::json::{parse, Json};
use proptest::prelude::*;

fn rules(conditions: &[&str], frequency: Frequency, priority: i64, delay_ms: u64) -> StartRules {
    StartRules {
        conditions: conditions
            .iter()
            .map(|c| parse_condition(&parse(c).unwrap(), "start").unwrap())
            .collect(),
        frequency,
        priority,
        delay_ms,
    }
}

fn page(url: &str) -> World {
    World::new(url, 1_700_000_000_000)
}

/// Sets the user trait `flag` the tests' attribute conditions look at.
fn set_flag(p: &mut World, on: bool) {
    p.user = parse(if on { r#"{"flag":true}"# } else { "{}" }).unwrap();
}

fn flag(p: &World) -> bool {
    p.user.get("flag") == Some(&Json::Bool(true))
}

fn start_id(d: Option<Decision>) -> Option<String> {
    match d {
        Some(Decision::Start { id, .. }) => Some(id),
        _ => None,
    }
}

#[test]
fn priority_then_document_order() {
    let a = rules(&[r#"{"url":"/x"}"#], Frequency::Once, 0, 0);
    let b = rules(&[r#"{"url":"/x"}"#], Frequency::Once, 3, 0);
    let c = rules(&[r#"{"url":"/x"}"#], Frequency::Once, 3, 0);
    let none = rules(&[], Frequency::Unlimited, 99, 0);
    let cands = [
        Candidate {
            id: "none",
            rules: &none,
            seen: false,
        },
        Candidate {
            id: "a",
            rules: &a,
            seen: false,
        },
        Candidate {
            id: "b",
            rules: &b,
            seen: false,
        },
        Candidate {
            id: "c",
            rules: &c,
            seen: false,
        },
    ];
    let mut s = AutoStart::new();
    assert_eq!(s.decide(&cands, None, &page("/y")), None);
    assert_eq!(
        s.decide(&cands, None, &page("/x")),
        Some(Decision::Start {
            id: "b".into(),
            cause: Cause::Url
        })
    );
    // Busy: nothing starts.
    assert_eq!(s.decide(&cands, Some("b"), &page("/x")), None);
}

#[test]
fn causes_name_the_condition_that_held() {
    let r = rules(
        &[
            r#"{"url":"/nope"}"#,
            r#"{"user":"flag","op":"is_true"}"#,
            r#"{"event":"e"}"#,
        ],
        Frequency::Unlimited,
        0,
        0,
    );
    let cands = [Candidate {
        id: "x",
        rules: &r,
        seen: false,
    }];
    let mut p = page("/");
    set_flag(&mut p, true);
    let mut s = AutoStart::new();
    assert_eq!(
        s.decide(&cands, None, &p),
        Some(Decision::Start {
            id: "x".into(),
            cause: Cause::Other
        })
    );
    let mut p = page("/");
    p.log.record("e", &Json::Null, 1);
    let mut s = AutoStart::new();
    assert_eq!(
        s.decide(&cands, None, &p),
        Some(Decision::Start {
            id: "x".into(),
            cause: Cause::Event
        })
    );
}

#[test]
fn a_delay_is_scheduled_once_and_checked_again() {
    let r = rules(&[r#"{"url":"/x"}"#], Frequency::Once, 0, 2500);
    let cands = [Candidate {
        id: "d",
        rules: &r,
        seen: false,
    }];
    let mut s = AutoStart::new();
    let Some(Decision::Schedule { timer, ms: 2500 }) = s.decide(&cands, None, &page("/x")) else {
        panic!()
    };
    assert!(s.is_pending());
    assert_eq!(s.decide(&cands, None, &page("/x")), None, "scheduled once");
    assert!(!s.timer_fired(timer + 1), "another timer");
    assert!(s.timer_fired(timer));
    assert_eq!(
        start_id(s.decide(&cands, None, &page("/x"))).as_deref(),
        Some("d")
    );
    // Due while something else is active: it does not start then.
    let mut s = AutoStart::new();
    let Some(Decision::Schedule { timer, .. }) = s.decide(&cands, None, &page("/x")) else {
        panic!()
    };
    s.timer_fired(timer);
    assert_eq!(s.decide(&cands, Some("other"), &page("/x")), None);
    // A reset (another user) drops the pending start.
    let mut s = AutoStart::new();
    let Some(Decision::Schedule { timer, .. }) = s.decide(&cands, None, &page("/x")) else {
        panic!()
    };
    s.reset();
    assert!(!s.timer_fired(timer));
}

#[test]
fn content_that_restarts_itself_at_once_cannot_loop() {
    // An unlimited flow that starts on an event, tracks it and ends by itself:
    // every end is a new occasion.
    let r = rules(&[r#"{"event":"go"}"#], Frequency::Unlimited, 0, 0);
    let cands = [Candidate {
        id: "loop",
        rules: &r,
        seen: false,
    }];
    let mut p = page("/");
    p.log.record("go", &Json::Null, 1);
    let mut s = AutoStart::new();
    let mut starts = 0;
    for _ in 0..1000 {
        if start_id(s.decide(&cands, None, &p)).is_some() {
            starts += 1;
            s.started("loop");
            assert_eq!(s.decide(&cands, Some("loop"), &p), None);
            // It tracks its event and ends: a new occasion.
            p.log.record("go", &Json::Null, 1);
        }
    }
    assert_eq!(
        starts, MAX_STARTS_PER_BURST,
        "bounded within the burst window"
    );
    // A second later (the page's clock), it may start again.
    p.now = 1_700_000_000_000 + BURST_MS;
    assert_eq!(
        start_id(s.decide(&cands, None, &p)).as_deref(),
        Some("loop")
    );
}

#[derive(Clone, Debug)]
enum Op {
    Navigate(u8),
    Track,
    Flag(bool),
    /// The engine ends the active content.
    End,
    /// `start(id)` from the page.
    Program(u8),
    Fire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3).prop_map(Op::Navigate),
        Just(Op::Track),
        any::<bool>().prop_map(Op::Flag),
        Just(Op::End),
        (0u8..3).prop_map(Op::Program),
        Just(Op::Fire),
    ]
}

proptest! {
    /// Whatever happens: nothing starts while something is active; `once` never
    /// starts content the user has seen; `multiple` starts by conditions at most
    /// once per page load; `unlimited` never starts twice on the same occasion
    /// (same page, no new event, conditions held throughout); what starts has
    /// the highest priority among those eligible whose conditions hold.
    #[test]
    fn invariants(ops in prop::collection::vec(op(), 1..60), delays in prop::collection::vec(0u64..2, 3)) {
        let freqs = [Frequency::Once, Frequency::Multiple, Frequency::Unlimited];
        let all: Vec<StartRules> = (0..3)
            .map(|i| rules(
                &[r#"{"url":"/p1*"}"#, r#"{"event":"go"}"#, r#"{"user":"flag","op":"is_true"}"#][i..=i],
                freqs[i],
                i as i64,
                delays[i] * 1000,
            ))
            .collect();
        let ids = ["once", "multiple", "unlimited"];
        let mut seen = [false; 3];
        let mut by_conditions = [0u32; 3];
        let mut active: Option<usize> = None;
        let mut pending: Option<u64> = None;
        let mut p = page("/p0");
        let mut s = AutoStart::new();
        // For `unlimited`: the occasion (url, events) it last started on, which
        // follows the page while it is active, and whether a new one came since
        // it ended (another page, a new event, or its condition stopped holding).
        let mut snap: Option<(String, u64)> = None;
        let mut fresh = true;
        for op in ops {
            match op {
                Op::Navigate(n) => p.url = format!("/p{n}"),
                Op::Track => p.log.record("go", &Json::Null, 1),
                Op::Flag(f) => set_flag(&mut p, f),
                Op::End => active = None,
                Op::Program(i) => {
                    let i = i as usize;
                    active = Some(i);
                    seen[i] = true;
                    s.started(ids[i]);
                    if i == 2 {
                        snap = Some((p.url.clone(), p.log.count("go", &[], None)));
                        fresh = false;
                    }
                }
                Op::Fire => {
                    if let Some(t) = pending.take() {
                        s.timer_fired(t);
                    }
                }
            }
            let events = p.log.count("go", &[], None);
            if active == Some(2) {
                snap = Some((p.url.clone(), events));
            } else if let Some((url, _)) = &snap {
                // Its condition looks at a trait only: the page is no occasion.
                let _ = url;
                if !flag(&p) {
                    fresh = true;
                }
            }
            let cands: Vec<Candidate> = (0..3)
                .map(|i| Candidate { id: ids[i], rules: &all[i], seen: seen[i] })
                .collect();
            let busy = active.map(|i| ids[i]);
            match s.decide(&cands, busy, &p) {
                None => {}
                Some(Decision::Schedule { timer, ms }) => {
                    prop_assert!(active.is_none());
                    prop_assert!(ms > 0);
                    pending = Some(timer);
                }
                Some(Decision::Start { id, .. }) => {
                    prop_assert!(active.is_none(), "started {} while {:?} is active", id, active);
                    let i = ids.iter().position(|x| *x == id).unwrap();
                    prop_assert!(all[i].conditions[0].eval(&p));
                    match all[i].frequency {
                        Frequency::Once => prop_assert!(!seen[i]),
                        Frequency::Multiple => prop_assert!(by_conditions[i] == 0),
                        Frequency::Unlimited => {
                            prop_assert!(fresh, "unlimited restarted on the same occasion");
                            snap = Some((p.url.clone(), p.log.count("go", &[], None)));
                            fresh = false;
                        }
                    }
                    // No eligible candidate with a higher priority held (without a delay).
                    for j in 0..3 {
                        if all[j].priority > all[i].priority && all[j].delay_ms == 0 && all[j].conditions[0].eval(&p) {
                            let eligible = match all[j].frequency {
                                Frequency::Once => !seen[j],
                                Frequency::Multiple => by_conditions[j] == 0,
                                Frequency::Unlimited => false,
                            };
                            prop_assert!(!eligible, "{} started before {}", id, ids[j]);
                        }
                    }
                    by_conditions[i] += 1;
                    seen[i] = true;
                    active = Some(i);
                    s.started(&id);
                }
            }
        }
    }
}
