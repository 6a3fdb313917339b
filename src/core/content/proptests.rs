//! Property tests: random sequences of calls and inputs (including reloads,
//! content changes and stale answers) never panic and keep the invariants: at
//! most one active flow; flow_started and flow_ended alternate (each run ends at
//! most once, completion right before its end); step numbers and progress in
//! range; attributes in catalog order; timers cancelled at most once and only
//! after being set; the persisted state always equals the engine's state.

use super::engine::*;
use super::engine_tests::{check_event, sample};
use super::model::Content;
use crate::core::catalog::EventKind;
use crate::core::json::{parse, Json};
use proptest::prelude::*;
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
enum Op {
    Start(usize, usize, bool),
    EndAll,
    Input(Input),
    Url(usize),
    Reload,
    Load(usize),
    Remove(usize),
    Reset,
}

const FLOWS: [&str; 3] = ["onboarding", "tips", "unknown"];
const STEPS: [&str; 8] = ["welcome", "save", "done", "t1", "t2", "t3", "t4", "zzz"];
const URLS: [&str; 5] = [
    "https://a.example/dashboard",
    "https://a.example/settings/x",
    "/home",
    "/dashboard?x=1",
    "",
];

fn step_id() -> impl Strategy<Value = String> {
    prop::sample::select(STEPS.to_vec()).prop_map(String::from)
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (step_id(), 0usize..4).prop_map(|(step_id, index)| Input::Button { step_id, index }),
        1 => Just(Input::Dismiss),
        1 => Just(Input::KeyNext),
        1 => Just(Input::KeyBack),
        1 => step_id().prop_map(|step_id| Input::TargetClicked { step_id }),
        2 => step_id().prop_map(|step_id| Input::TargetFound { step_id }),
        2 => step_id().prop_map(|step_id| Input::TargetMissing { step_id }),
        1 => step_id().prop_map(|step_id| Input::TargetLost { step_id }),
        1 => prop::sample::select(vec![".banner", ".other", "#save"])
            .prop_map(|s| Input::ElementAppeared { selector: s.into() }),
        2 => prop::sample::select(vec!["saved", "signed_up", "x"])
            .prop_map(|e| Input::EventTracked { event: e.into() }),
        2 => (0u64..8).prop_map(|id| Input::TimerFired { id }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..3, 0usize..5, any::<bool>()).prop_map(|(f, r, o)| Op::Start(f, r, o)),
        1 => Just(Op::EndAll),
        12 => input().prop_map(Op::Input),
        2 => (0usize..URLS.len()).prop_map(Op::Url),
        2 => Just(Op::Reload),
        1 => (0usize..4).prop_map(Op::Load),
        1 => (0usize..3).prop_map(Op::Remove),
        1 => Just(Op::Reset),
    ]
}

/// Content variants: the sample, with a step removed, renamed, or one flow only.
fn content(v: usize) -> Content {
    let mut c = sample();
    match v {
        1 => {
            c.flows[0].steps.remove(1);
        }
        2 => c.flows[1].name = "Tips 2".into(),
        3 => {
            c.flows.remove(0);
        }
        _ => {}
    }
    c
}

/// What the test tracks across the sequence.
struct World {
    e: FlowEngine,
    store: Option<String>,
    /// A run is open (started, not yet ended).
    open: bool,
    /// The last output was flow_completed: the next must be flow_ended completed.
    completing: bool,
    timers_set: BTreeSet<u64>,
    timers_done: BTreeSet<u64>,
    url: String,
}

impl World {
    fn check(&mut self, out: &[Output]) {
        for (i, o) in out.iter().enumerate() {
            if let Output::Seen(ev) = o {
                assert!(
                    i > 0 && matches!(out[i - 1], Output::Show(_)),
                    "Seen without the Show before it: {out:?}"
                );
                assert_eq!(ev.kind, EventKind::FlowStepSeen);
            }
            if self.completing {
                let ok = matches!(o, Output::Emit(ev) if ev.kind == EventKind::FlowEnded
                    && ev.get("flow_end_reason") == Some(&Json::String("completed".into())));
                assert!(
                    ok,
                    "flow_completed not followed by flow_ended completed: {o:?}"
                );
                self.completing = false;
            }
            match o {
                Output::Emit(ev) | Output::Seen(ev) => {
                    check_event(ev);
                    match ev.kind {
                        EventKind::FlowStarted => {
                            assert!(!self.open, "flow_started while a run is open");
                            self.open = true;
                        }
                        EventKind::FlowEnded => {
                            assert!(self.open, "flow_ended without an open run");
                            self.open = false;
                        }
                        EventKind::FlowCompleted => {
                            assert!(self.open);
                            self.completing = true;
                        }
                        EventKind::FlowStepSeen | EventKind::TooltipTargetMissing => {
                            assert!(self.open, "step event without an open run");
                            let num = |k: &str| match ev.get(k) {
                                Some(Json::Number(n)) => n.to_f64(),
                                other => panic!("{k}: {other:?}"),
                            };
                            let (n, p) = (num("flow_step_number"), num("flow_step_progress"));
                            assert!((0.0..4.0).contains(&n), "step number {n}");
                            assert!((1.0..=100.0).contains(&p), "progress {p}");
                        }
                        other => panic!("unexpected event {other:?}"),
                    }
                }
                Output::Show(v) => {
                    assert!(v.step_index < v.step_count);
                    if let Some((a, b)) = v.progress {
                        assert_eq!((a, b), (v.step_index + 1, v.step_count));
                    }
                    for (i, b) in v.buttons.iter().enumerate() {
                        assert_eq!(b.index, i);
                    }
                }
                Output::SetTimer { id, .. } => {
                    assert!(self.timers_set.insert(*id), "timer id {id} reused");
                }
                Output::CancelTimer { id } => {
                    assert!(self.timers_set.contains(id), "cancel of unknown timer {id}");
                    assert!(self.timers_done.insert(*id), "timer {id} cancelled twice");
                }
                Output::Persist(p) => self.store = p.clone(),
                _ => {}
            }
        }
        assert!(!self.completing, "flow_completed at the end of a batch");
        assert_eq!(
            self.e.active().is_some(),
            self.open,
            "active() disagrees with events"
        );
        if let Some((id, step)) = self.e.active() {
            if let Some(f) = self.e.flows().iter().find(|f| f.id == id) {
                assert!(step < f.steps.len());
            }
        }
        assert_eq!(self.store, self.e.state(), "persisted state lags behind");
    }
}

fn run(ops: Vec<Op>) {
    let traits = parse(r#"{"name":"Ada"}"#).unwrap();
    let mut w = World {
        e: FlowEngine::new(),
        store: None,
        open: false,
        completing: false,
        timers_set: BTreeSet::new(),
        timers_done: BTreeSet::new(),
        url: "/".into(),
    };
    let url = w.url.clone();
    let out = w.e.load(
        sample(),
        &Ctx {
            traits: &traits,
            url: &url,
        },
    );
    w.check(&out);
    for op in ops {
        let url = w.url.clone();
        let ctx = Ctx {
            traits: &traits,
            url: &url,
        };
        let out = match op {
            Op::Start(f, r, once) => {
                let reason = [
                    StartReason::Program,
                    StartReason::Url,
                    StartReason::Event,
                    StartReason::Action,
                    StartReason::Session,
                ][r];
                match w.e.start(FLOWS[f], reason, once, &ctx) {
                    Ok(out) => out,
                    Err(e) => {
                        assert!(e.message.starts_with("content_not_found"));
                        Vec::new()
                    }
                }
            }
            Op::EndAll => w.e.end_all(EndReason::Program),
            Op::Input(i) => w.e.handle(i, &ctx),
            Op::Url(u) => {
                w.url = URLS[u].into();
                let url = w.url.clone();
                w.e.handle(
                    Input::UrlChanged,
                    &Ctx {
                        traits: &traits,
                        url: &url,
                    },
                )
            }
            Op::Reload => {
                // A new page: timers and UI are gone; the store survives.
                let flows = Content {
                    flows: w.e.flows().to_vec(),
                    checklists: Vec::new(),
                };
                w.e = FlowEngine::new();
                w.timers_set.clear();
                w.timers_done.clear();
                let out = w.e.load(flows, &ctx);
                assert!(out.is_empty());
                let store = w.store.clone();
                w.e.restore(store.as_deref(), &ctx)
            }
            Op::Load(v) => w.e.load(content(v), &ctx),
            Op::Remove(f) => w.e.remove(FLOWS[f]),
            Op::Reset => {
                let out = w.e.reset();
                // Sign-out: the run is abandoned and the user's store forgotten.
                w.open = false;
                w.store = None;
                out
            }
        };
        w.check(&out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_invariants(ops in prop::collection::vec(op(), 0..60)) {
        run(ops);
    }
}

#[test]
fn a_long_fixed_walk() {
    // Deterministic coverage of a reload in the middle of a tooltip wait.
    run(vec![
        Op::Start(0, 0, false),
        Op::Input(Input::Button {
            step_id: "welcome".into(),
            index: 1,
        }),
        Op::Reload,
        Op::Input(Input::TargetFound {
            step_id: "save".into(),
        }),
        Op::Input(Input::TargetClicked {
            step_id: "save".into(),
        }),
        Op::Reload,
        Op::Input(Input::Button {
            step_id: "done".into(),
            index: 0,
        }),
        Op::Url(0),
        Op::Input(Input::EventTracked {
            event: "signed_up".into(),
        }),
        Op::Input(Input::TimerFired { id: 1 }),
        Op::Input(Input::TargetMissing {
            step_id: "t3".into(),
        }),
        Op::Load(3),
        Op::Remove(1),
    ]);
}

use super::markdown::hrefs;

/// Markdown-ish text built from the characters that matter, hostile URL pieces
/// included.
fn markdownish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "*",
        "**",
        "_",
        "__",
        "[",
        "]",
        "(",
        ")",
        "](",
        "\\",
        "{{",
        "}}",
        "|",
        "\n",
        "\n\n",
        "- ",
        "1. ",
        " ",
        "a",
        "é",
        "<script>",
        "&#58;",
        "&#106;",
        "javascript:",
        "java\tscript:",
        "JaVaScRiPt:",
        "data:",
        "vbscript:",
        "http://x",
        "https://y",
        "/",
        "#",
        ":",
        "name",
        "\u{0}",
        "\u{7f}",
        "\r",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn markdown_never_panics_and_never_yields_an_unsafe_href(text in markdownish()) {
        let traits = parse(r#"{"name":"[x](javascript:alert(1))"}"#).unwrap();
        let nodes = super::markdown::render(&text, &traits);
        for href in hrefs(&nodes) {
            // Every href is already in the vetted form, and is http(s) or colon-free.
            let vetted = super::markdown::safe_url(&href);
            prop_assert_eq!(vetted.as_deref(), Some(href.as_str()));
            let lower = href.to_ascii_lowercase();
            prop_assert!(
                lower.starts_with("http://") || lower.starts_with("https://") || !href.contains(':'),
                "unsafe href {:?}", href
            );
            prop_assert!(!href.chars().any(|c| c.is_control()));
            prop_assert!(!lower.contains("&#"));
        }
    }

    #[test]
    fn content_parser_never_panics(text in "\\PC{0,200}", cut in 0usize..4000) {
        let _ = super::model::parse_content(&text);
        // Truncations of a valid document are errors (or valid), never panics.
        let sample = super::engine_tests::SAMPLE;
        let mut end = cut.min(sample.len());
        while !sample.is_char_boundary(end) {
            end -= 1;
        }
        let _ = super::model::parse_content(&sample[..end]);
    }
}
