//! Example-based tests of the flow engine: every action, trigger, resume, replace
//! and timeout path, with the exact events and outputs.

use super::conditions::{ContentKind, EventLog};
use super::engine::*;
use super::markdown::{Inline, Node};
use super::model::*;
use super::test_world::{status, World};
use crate::core::catalog::{EventKind, GeneratedEvent};
use crate::core::error::ErrorCode;
use crate::core::json::{parse, Json, Number};

/// The sample content the tests drive (also checked to parse in `model_tests`).
pub(super) const SAMPLE: &str = r##"{
  "version": 1,
  "flows": [
    {
      "id": "onboarding", "name": "Onboarding", "version_id": "v-123", "version_number": 3,
      "show_progress": true,
      "start": [{"url": "/dashboard*"}],
      "steps": [
        {"id": "welcome", "name": "Welcome", "type": "modal", "blocks": [
          {"type": "title", "text": "Hi {{name | there}}"},
          {"type": "text", "markdown": "**Bold** [docs](https://x.y)"},
          {"type": "image", "src": "https://img.example/x.png", "alt": "pic"},
          {"type": "button", "label": "Skip", "action": {"type": "end"}},
          {"type": "button", "label": "Next", "action": {"type": "next"}, "primary": true}
        ]},
        {"id": "save", "name": "Save", "type": "tooltip", "target": "#save", "placement": "right",
         "target_timeout_ms": 3000,
         "blocks": [
           {"type": "text", "markdown": "Click save"},
           {"type": "button", "label": "Back", "action": {"type": "back"}}
         ],
         "triggers": [{"when": {"type": "target_clicked"}, "action": {"type": "next"}}]},
        {"id": "done", "type": "bubble", "corner": "top-left", "blocks": [
          {"type": "title", "text": "Done"},
          {"type": "button", "label": "Finish", "action": {"type": "next"}}
        ]}
      ]
    },
    {
      "id": "tips", "name": "Tips", "dismissible": false,
      "start": [{"event": "signed_up"}],
      "steps": [
        {"id": "t1", "type": "bubble", "blocks": [
          {"type": "text", "markdown": "tip"},
          {"type": "button", "label": "Tour", "action": {"type": "start_flow", "flow": "onboarding"}}
         ],
         "triggers": [
           {"when": {"type": "wait", "seconds": 5}, "action": {"type": "go_to_step", "step": "t3"}},
           {"when": {"type": "event_tracked", "event": "saved"}, "action": {"type": "next"}},
           {"when": {"type": "url_matches", "pattern": "/settings*"}, "action": {"type": "track", "event": "tips_settings"}},
           {"when": {"type": "element_appears", "selector": ".banner"}, "action": {"type": "navigate", "url": "/settings"}}
         ]},
        {"id": "t2", "type": "hidden",
         "triggers": [{"when": {"type": "wait", "seconds": 1.5}, "action": {"type": "next"}}]},
        {"id": "t3", "type": "tooltip", "target": ".missing", "on_target_missing": "bubble",
         "blocks": [{"type": "button", "label": "End", "action": {"type": "end"}}]},
        {"id": "t4", "type": "modal", "blocks": [{"type": "button", "label": "ok", "action": {"type": "end"}}]}
      ]
    }
  ]
}"##;

pub(super) fn sample() -> Content {
    parse_content(SAMPLE).expect("sample parses")
}

/// Checks that an emitted event carries exactly the catalog's attributes, in order.
pub(super) fn check_event(ev: &GeneratedEvent) {
    let keys: Vec<&str> = ev.attrs.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ev.spec().attributes, "attributes of {:?}", ev.kind);
}

/// An engine, the page URL and user traits, and every output so far.
struct H {
    e: FlowEngine,
    traits: Json,
    url: String,
    log: Vec<Output>,
    /// What the user tracked (as the shell's event log).
    events: EventLog,
    /// Elements present in the page.
    present: Vec<String>,
    now: u64,
}

impl H {
    fn new() -> Self {
        Self::with(sample())
    }

    fn with(content: Content) -> Self {
        let mut h = H {
            e: FlowEngine::new(),
            traits: parse(r#"{"name":"Ada"}"#).unwrap(),
            url: "https://app.example/home".into(),
            log: Vec::new(),
            events: EventLog::new(),
            present: Vec::new(),
            now: 1_700_000_000_000,
        };
        let out = h.e.load(
            content,
            &Ctx {
                traits: &Json::Null,
                url: "",
            },
        );
        assert!(out.is_empty());
        h
    }

    fn record(&mut self, out: Vec<Output>) -> Vec<Output> {
        for o in &out {
            if let Output::Emit(ev) | Output::Seen(ev) = o {
                check_event(ev);
            }
        }
        self.log.extend(out.iter().cloned());
        out
    }

    fn ctx_parts(&self) -> (Json, String) {
        (self.traits.clone(), self.url.clone())
    }

    /// Feeds `input`, then refreshes start conditions, as the shell does after
    /// every input (a tracked event is recorded in the log first).
    fn handle(&mut self, input: Input) -> Vec<Output> {
        if let Input::EventTracked { event } = &input {
            if self.e.counts(event) {
                self.events.record(event, &Json::Null, self.now);
            }
        }
        let (traits, url) = self.ctx_parts();
        let mut out = self.e.handle(
            input,
            &Ctx {
                traits: &traits,
                url: &url,
            },
        );
        out.extend(self.refresh_only());
        self.record(out)
    }

    /// [`FlowEngine::refresh`] with the harness's facts (outputs not recorded).
    fn refresh_only(&mut self) -> Vec<Output> {
        let (traits, url) = self.ctx_parts();
        let active = self.e.active().map(|(id, _)| id.to_string());
        let mut facts = World::new(&url, self.now);
        facts.user = traits.clone();
        facts.log = self.events.clone();
        facts.elements = self.present.clone();
        facts.content = self
            .e
            .flows()
            .iter()
            .map(|f| {
                let id = f.id.clone();
                let active = active.as_deref() == Some(&f.id);
                let s = status(self.e.has_seen(&id), self.e.has_completed(&id), active);
                (ContentKind::Flow, id, s)
            })
            .collect();
        self.e.refresh(
            &facts,
            &Ctx {
                traits: &traits,
                url: &url,
            },
        )
    }

    /// Refreshes start conditions; records and returns the outputs.
    fn refresh(&mut self) -> Vec<Output> {
        let out = self.refresh_only();
        self.record(out)
    }

    fn start(&mut self, id: &str) -> Vec<Output> {
        self.start_with(id, StartReason::Program, false)
    }

    fn start_with(&mut self, id: &str, reason: StartReason, once: bool) -> Vec<Output> {
        let (traits, url) = self.ctx_parts();
        let out = self
            .e
            .start(
                id,
                reason,
                once,
                &Ctx {
                    traits: &traits,
                    url: &url,
                },
            )
            .expect("start");
        self.record(out)
    }

    fn button(&mut self, step: &str, index: usize) -> Vec<Output> {
        self.handle(Input::Button {
            step_id: step.into(),
            index,
        })
    }

    fn go(&mut self, url: &str) -> Vec<Output> {
        self.url = url.into();
        self.handle(Input::UrlChanged)
    }

    fn restore(&mut self, state: Option<&str>) -> Vec<Output> {
        let (traits, url) = self.ctx_parts();
        let out = self.e.restore(
            state,
            &Ctx {
                traits: &traits,
                url: &url,
            },
        );
        self.record(out)
    }

    fn load(&mut self, content: Content) -> Vec<Output> {
        let (traits, url) = self.ctx_parts();
        let out = self.e.load(
            content,
            &Ctx {
                traits: &traits,
                url: &url,
            },
        );
        self.record(out)
    }

    /// The last persisted state.
    fn persisted(&self) -> Option<String> {
        self.log.iter().rev().find_map(|o| match o {
            Output::Persist(p) => Some(p.clone()),
            _ => None,
        })?
    }
}

/// A compact, readable summary of outputs.
fn sum(out: &[Output]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Output::Show(v) => {
                let kind = match &v.kind {
                    ViewKind::Modal => "modal".to_string(),
                    ViewKind::Tooltip { target, placement } => {
                        format!("tooltip {target} {}", placement.as_str())
                    }
                    ViewKind::Bubble { corner } => format!("bubble {}", corner.as_str()),
                };
                format!("show {}/{} {kind}", v.flow_id, v.step_id)
            }
            Output::Hide => "hide".into(),
            Output::WaitForTarget {
                step_id,
                selector,
                timeout_ms,
            } => format!("wait {step_id} {selector} {timeout_ms}"),
            Output::WatchElement { selector } => format!("watch {selector}"),
            Output::WatchTargetClicks { selector } => format!("watch-clicks {selector}"),
            Output::SetTimer { id, ms } => format!("timer+ {id} {ms}"),
            Output::CancelTimer { id } => format!("timer- {id}"),
            Output::Emit(ev) | Output::Seen(ev) => {
                let s = |k: &str| match ev.get(k) {
                    Some(Json::String(s)) => s.clone(),
                    Some(Json::Number(n)) => n.text().to_string(),
                    _ => "-".into(),
                };
                match ev.kind {
                    EventKind::FlowStarted => {
                        format!("flow_started {} {}", s("flow_id"), s("flow_start_reason"))
                    }
                    EventKind::FlowEnded => {
                        format!("flow_ended {} {}", s("flow_id"), s("flow_end_reason"))
                    }
                    EventKind::FlowCompleted => format!("flow_completed {}", s("flow_id")),
                    k => format!(
                        "{} {}/{} #{} {}%",
                        crate::core::catalog::spec(k).name,
                        s("flow_id"),
                        s("flow_step_id"),
                        s("flow_step_number"),
                        s("flow_step_progress")
                    ),
                }
            }
            Output::Navigate { url } => format!("navigate {url}"),
            Output::Track { event } => format!("track {event}"),
            Output::Persist(Some(_)) => "persist".into(),
            Output::Persist(None) => "persist-none".into(),
        })
        .collect()
}

fn n(v: u64) -> Json {
    Json::Number(Number::from_f64(v as f64).unwrap())
}

fn s(v: &str) -> Json {
    Json::String(v.into())
}

fn onboarding_attrs() -> Vec<(&'static str, Json)> {
    vec![
        ("flow_id", s("onboarding")),
        ("flow_name", s("Onboarding")),
        ("flow_version_id", s("v-123")),
        ("flow_version_number", n(3)),
    ]
}

#[test]
fn start_emits_exact_events_and_view() {
    let mut h = H::new();
    let out = h.start("onboarding");
    assert_eq!(out.len(), 4, "{:?}", sum(&out));
    let mut started = onboarding_attrs();
    started.push(("flow_start_reason", s("program")));
    assert_eq!(
        out[0],
        Output::Emit(GeneratedEvent {
            kind: EventKind::FlowStarted,
            attrs: started
        })
    );
    let Output::Show(view) = &out[1] else {
        panic!("expected Show, got {:?}", out[1]);
    };
    assert_eq!(
        *view,
        StepView {
            flow_id: "onboarding".into(),
            flow_name: "Onboarding".into(),
            step_id: "welcome".into(),
            step_index: 0,
            step_count: 3,
            kind: ViewKind::Modal,
            blocks: vec![
                ViewBlock::Title("Hi Ada".into()),
                ViewBlock::Text(vec![Node::Paragraph(vec![
                    Inline::Bold(vec![Inline::Text("Bold".into())]),
                    Inline::Text(" ".into()),
                    Inline::Link {
                        href: "https://x.y".into(),
                        children: vec![Inline::Text("docs".into())]
                    }
                ])]),
                ViewBlock::Image {
                    src: "https://img.example/x.png".into(),
                    alt: "pic".into()
                },
            ],
            buttons: vec![
                ButtonView {
                    label: "Skip".into(),
                    index: 0,
                    primary: false
                },
                ButtonView {
                    label: "Next".into(),
                    index: 1,
                    primary: true
                },
            ],
            progress: Some((1, 3)),
            dismissible: true,
        }
    );
    let mut seen = onboarding_attrs();
    seen.extend([
        ("flow_step_id", s("welcome")),
        ("flow_step_name", s("Welcome")),
        ("flow_step_number", n(0)),
        ("flow_step_progress", n(33)),
    ]);
    // Seen once the shell has the step on screen (not when it could not show it).
    assert_eq!(
        out[2],
        Output::Seen(GeneratedEvent {
            kind: EventKind::FlowStepSeen,
            attrs: seen
        })
    );
    assert_eq!(
        out[3],
        Output::Persist(Some(
            r#"{"v":1,"seen":["onboarding"],"run":{"flow":"onboarding","step":"welcome","name":"Onboarding","version_id":"v-123","version_number":3}}"#.into()
        ))
    );
    assert_eq!(h.e.active(), Some(("onboarding", 0)));
    assert_eq!(h.e.start_reason(), Some(StartReason::Program));
}

#[test]
fn interpolation_defaults_without_traits() {
    let mut h = H::new();
    h.traits = Json::Null;
    let out = h.start("onboarding");
    let Output::Show(v) = &out[1] else { panic!() };
    assert_eq!(v.blocks[0], ViewBlock::Title("Hi there".into()));
}

#[test]
fn full_walk_through_tooltip_to_completion() {
    let mut h = H::new();
    h.start("onboarding");
    assert_eq!(
        sum(&h.button("welcome", 1)),
        ["hide", "wait save #save 3000", "persist"]
    );
    assert_eq!(h.e.active(), Some(("onboarding", 1)));
    // Clicks and keys do nothing while the tooltip waits for its target.
    assert!(h
        .handle(Input::TargetClicked {
            step_id: "save".into()
        })
        .is_empty());
    assert!(h.button("save", 0).is_empty());
    assert!(h.handle(Input::KeyBack).is_empty());
    // An answer for another step is ignored.
    assert!(h
        .handle(Input::TargetFound {
            step_id: "welcome".into()
        })
        .is_empty());
    let out = h.handle(Input::TargetFound {
        step_id: "save".into(),
    });
    assert_eq!(
        sum(&out),
        [
            "show onboarding/save tooltip #save right",
            "flow_step_seen onboarding/save #1 67%",
            "watch-clicks #save"
        ]
    );
    // A second answer is stale.
    assert!(h
        .handle(Input::TargetFound {
            step_id: "save".into()
        })
        .is_empty());
    assert!(h
        .handle(Input::TargetMissing {
            step_id: "save".into()
        })
        .is_empty());
    assert_eq!(
        sum(&h.handle(Input::TargetClicked {
            step_id: "save".into()
        })),
        [
            "show onboarding/done bubble top-left",
            "flow_step_seen onboarding/done #2 100%",
            "persist"
        ]
    );
    assert_eq!(
        sum(&h.button("done", 0)),
        [
            "hide",
            "flow_completed onboarding",
            "flow_ended onboarding completed",
            "persist"
        ]
    );
    assert_eq!(h.e.active(), None);
    assert_eq!(
        h.persisted().as_deref(),
        Some(r#"{"v":1,"seen":["onboarding"],"done":["onboarding"]}"#),
        "a completed flow is remembered (content conditions ask for it)"
    );
    // Exact attributes of the completion pair.
    let tail: Vec<&Output> = h.log.iter().rev().skip(1).take(2).collect();
    let mut ended = onboarding_attrs();
    ended.push(("flow_end_reason", s("completed")));
    assert_eq!(
        *tail[0],
        Output::Emit(GeneratedEvent {
            kind: EventKind::FlowEnded,
            attrs: ended
        })
    );
    assert_eq!(
        *tail[1],
        Output::Emit(GeneratedEvent {
            kind: EventKind::FlowCompleted,
            attrs: onboarding_attrs()
        })
    );
    // Inputs after the end do nothing.
    assert!(h.button("done", 0).is_empty());
    assert!(h.handle(Input::Dismiss).is_empty());
    assert!(h.handle(Input::KeyNext).is_empty());
}

#[test]
fn back_and_keys() {
    let mut h = H::new();
    h.start("onboarding");
    // No back button on the first step: KeyBack does nothing.
    assert!(h.handle(Input::KeyBack).is_empty());
    assert_eq!(
        sum(&h.handle(Input::KeyNext)),
        ["hide", "wait save #save 3000", "persist"]
    );
    h.handle(Input::TargetFound {
        step_id: "save".into(),
    });
    // The tooltip has a back button but no next button.
    assert!(h.handle(Input::KeyNext).is_empty());
    assert_eq!(
        sum(&h.handle(Input::KeyBack)),
        [
            "show onboarding/welcome modal",
            "flow_step_seen onboarding/welcome #0 33%",
            "persist"
        ]
    );
    h.button("welcome", 1);
    h.handle(Input::TargetFound {
        step_id: "save".into(),
    });
    assert_eq!(
        sum(&h.button("save", 0)),
        [
            "show onboarding/welcome modal",
            "flow_step_seen onboarding/welcome #0 33%",
            "persist"
        ]
    );
}

#[test]
fn stale_and_out_of_range_buttons_are_ignored() {
    let mut h = H::new();
    h.start("onboarding");
    assert!(h.button("welcome", 2).is_empty());
    assert!(h.button("save", 0).is_empty());
    assert!(h.button("", 0).is_empty());
    assert!(h
        .handle(Input::ElementAppeared {
            selector: ".x".into()
        })
        .is_empty());
    assert!(h
        .handle(Input::EventTracked {
            event: "saved".into()
        })
        .is_empty());
    assert!(h.handle(Input::TimerFired { id: 1 }).is_empty());
    assert!(h
        .handle(Input::TargetClicked {
            step_id: "welcome".into()
        })
        .is_empty());
    assert!(h.go("https://app.example/dashboard").is_empty());
}

#[test]
fn end_action_before_last_step_and_dismiss() {
    let mut h = H::new();
    h.start("onboarding");
    assert_eq!(
        sum(&h.button("welcome", 0)),
        ["hide", "flow_ended onboarding action", "persist"]
    );
    let mut h = H::new();
    h.start("onboarding");
    assert_eq!(
        sum(&h.handle(Input::Dismiss)),
        ["hide", "flow_ended onboarding user_closed", "persist"]
    );
    // Not dismissible: ignored.
    h.start("tips");
    assert!(h.handle(Input::Dismiss).is_empty());
    assert_eq!(h.e.active(), Some(("tips", 0)));
}

#[test]
fn dismiss_while_waiting_for_target() {
    let mut h = H::new();
    h.start("onboarding");
    h.button("welcome", 1);
    assert_eq!(
        sum(&h.handle(Input::Dismiss)),
        ["hide", "flow_ended onboarding user_closed", "persist"]
    );
}

#[test]
fn start_flow_action_replaces() {
    let mut h = H::new();
    assert_eq!(
        sum(&h.start("tips")),
        [
            "flow_started tips program",
            "show tips/t1 bubble bottom-right",
            "flow_step_seen tips/t1 #0 25%",
            "timer+ 1 5000",
            "watch .banner",
            "persist"
        ]
    );
    assert_eq!(
        sum(&h.button("t1", 0)),
        [
            "timer- 1",
            "hide",
            "flow_ended tips replaced",
            "flow_started onboarding action",
            "show onboarding/welcome modal",
            "flow_step_seen onboarding/welcome #0 33%",
            "persist"
        ]
    );
    assert_eq!(h.e.start_reason(), Some(StartReason::Action));
}

#[test]
fn start_rules_once_and_errors() {
    let mut h = H::new();
    // Unknown id.
    let (traits, url) = h.ctx_parts();
    let err =
        h.e.start(
            "nope",
            StartReason::Program,
            false,
            &Ctx {
                traits: &traits,
                url: &url,
            },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(
        err.message.starts_with("content_not_found"),
        "{}",
        err.message
    );
    assert!(err.message.contains("\"nope\""));
    // `once` on an unseen flow starts it.
    assert_eq!(
        sum(&h.start_with("tips", StartReason::Program, true))[0],
        "flow_started tips program"
    );
    // Starting another flow replaces the active one.
    assert_eq!(
        sum(&h.start("onboarding"))[..4],
        [
            "timer- 1",
            "hide",
            "flow_ended tips replaced",
            "flow_started onboarding program"
        ]
    );
    // `once` on a seen flow (even the active one) is a no-op.
    assert!(h
        .start_with("onboarding", StartReason::Program, true)
        .is_empty());
    assert!(h.start_with("tips", StartReason::Program, true).is_empty());
    assert_eq!(h.e.active(), Some(("onboarding", 0)));
    // Without `once`, restarting the active flow replaces it.
    assert_eq!(
        sum(&h.start("onboarding")),
        [
            "hide",
            "flow_ended onboarding replaced",
            "flow_started onboarding program",
            "show onboarding/welcome modal",
            "flow_step_seen onboarding/welcome #0 33%"
        ]
    );
    assert!(h.e.has_seen("tips") && h.e.has_seen("onboarding"));
}

#[test]
fn wait_trigger_timeout_and_bubble_fallback() {
    let mut h = H::new();
    h.start("tips");
    assert!(h.handle(Input::TimerFired { id: 999 }).is_empty());
    assert_eq!(
        sum(&h.handle(Input::TimerFired { id: 1 })),
        ["hide", "wait t3 .missing 6000", "persist"]
    );
    // The fired timer is spent.
    assert!(h.handle(Input::TimerFired { id: 1 }).is_empty());
    let out = h.handle(Input::TargetMissing {
        step_id: "t3".into(),
    });
    assert_eq!(
        sum(&out),
        [
            "tooltip_target_missing tips/t3 #2 75%",
            "show tips/t3 bubble bottom-right",
            "flow_step_seen tips/t3 #2 75%"
        ]
    );
    let Output::Emit(ev) = &out[0] else { panic!() };
    assert_eq!(
        ev.attrs,
        vec![
            ("flow_id", s("tips")),
            ("flow_name", s("Tips")),
            ("flow_version_id", Json::Null),
            ("flow_version_number", Json::Null),
            ("flow_step_id", s("t3")),
            ("flow_step_name", Json::Null),
            ("flow_step_number", n(2)),
            ("flow_step_progress", n(75)),
        ]
    );
    // Buttons work on the fallback bubble; `end` before the last step.
    assert_eq!(
        sum(&h.button("t3", 0)),
        ["hide", "flow_ended tips action", "persist"]
    );
}

#[test]
fn target_missing_ends_by_default() {
    let mut h = H::new();
    h.start("onboarding");
    h.button("welcome", 1);
    assert_eq!(
        sum(&h.handle(Input::TargetMissing {
            step_id: "save".into()
        })),
        [
            "tooltip_target_missing onboarding/save #1 67%",
            "hide",
            "flow_ended onboarding tooltip_target_missing",
            "persist"
        ]
    );
}

#[test]
fn stale_timers_after_leaving_a_step_are_ignored() {
    let mut h = H::new();
    h.start("tips");
    assert_eq!(
        sum(&h.handle(Input::EventTracked {
            event: "saved".into()
        })),
        [
            "timer- 1",
            "hide",
            "flow_step_seen tips/t2 #1 50%",
            "timer+ 2 1500",
            "persist"
        ]
    );
    assert!(h.handle(Input::TimerFired { id: 1 }).is_empty());
    assert_eq!(
        sum(&h.handle(Input::TimerFired { id: 2 })),
        ["hide", "wait t3 .missing 6000", "persist"]
    );
    assert!(h.handle(Input::TimerFired { id: 2 }).is_empty());
}

#[test]
fn url_element_and_event_triggers() {
    let mut h = H::new();
    h.start("tips");
    assert!(h.go("https://app.example/home").is_empty());
    assert_eq!(
        sum(&h.go("https://app.example/settings/billing?x=1")),
        ["track tips_settings"]
    );
    // Each trigger fires once per visit.
    assert!(h.go("https://app.example/settings").is_empty());
    assert!(h
        .handle(Input::ElementAppeared {
            selector: ".other".into()
        })
        .is_empty());
    assert_eq!(
        sum(&h.handle(Input::ElementAppeared {
            selector: ".banner".into()
        })),
        ["navigate /settings"]
    );
    assert!(h
        .handle(Input::ElementAppeared {
            selector: ".banner".into()
        })
        .is_empty());
    assert!(h
        .handle(Input::EventTracked {
            event: "other".into()
        })
        .is_empty());
    assert_eq!(
        sum(&h.handle(Input::EventTracked {
            event: "saved".into()
        }))[0],
        "timer- 1"
    );
    assert_eq!(h.e.active(), Some(("tips", 1)));
}

#[test]
fn triggers_rearm_on_a_new_visit() {
    let mut h = H::with(
        parse_content(
            r#"{"version":1,"flows":[{"id":"f","name":"F","steps":[
              {"id":"a","type":"modal","blocks":[{"type":"button","label":"n","action":{"type":"next"}}],
               "triggers":[{"when":{"type":"event_tracked","event":"x"},"action":{"type":"track","event":"y"}}]},
              {"id":"b","type":"modal","blocks":[{"type":"button","label":"b","action":{"type":"back"}}]}]}]}"#,
        )
        .unwrap(),
    );
    h.start("f");
    assert_eq!(
        sum(&h.handle(Input::EventTracked { event: "x".into() })),
        ["track y"]
    );
    assert!(h
        .handle(Input::EventTracked { event: "x".into() })
        .is_empty());
    h.button("a", 0);
    h.button("b", 0);
    assert_eq!(
        sum(&h.handle(Input::EventTracked { event: "x".into() })),
        ["track y"]
    );
}

#[test]
fn auto_start_rules() {
    let mut h = H::new();
    assert!(h.go("https://app.example/home").is_empty());
    assert_eq!(
        sum(&h.go("https://app.example/dashboard?tab=1#x"))[..2],
        [
            "flow_started onboarding url",
            "show onboarding/welcome modal"
        ]
    );
    // While a flow is active, no other flow starts by its conditions...
    assert!(h
        .handle(Input::EventTracked {
            event: "signed_up".into()
        })
        .is_empty());
    // ...but once it ends, one whose conditions hold does (the event was
    // tracked, so `{"event": "signed_up"}` holds).
    let out = sum(&h.handle(Input::Dismiss));
    assert_eq!(out[..2], ["hide", "flow_ended onboarding user_closed"]);
    assert_eq!(
        started(&h.log[h.log.len() - out.len()..]),
        ["flow_started tips event"]
    );
    assert_eq!(h.e.start_reason(), Some(StartReason::Event));
    h.e.end_all(EndReason::Program);
    // Seen (frequency once): neither starts again.
    assert!(h.go("https://app.example/dashboard/2").is_empty());
    assert!(h
        .handle(Input::EventTracked {
            event: "signed_up".into()
        })
        .is_empty());
    // `start()` ignores the seen rule (no `once`).
    assert_eq!(
        sum(&h.start("onboarding"))[0],
        "flow_started onboarding program"
    );
}

/// A one-step modal flow with these extra fields.
fn flow(id: &str, extra: &str) -> String {
    format!(r#"{{"id":"{id}","name":"{id}"{extra},"steps":[{{"id":"s","type":"modal"}}]}}"#)
}

fn flows(items: &[String]) -> H {
    let text = format!(r#"{{"version":1,"flows":[{}]}}"#, items.join(","));
    H::with(parse_content(&text).unwrap_or_else(|e| panic!("{}", e.message)))
}

fn started(out: &[Output]) -> Vec<String> {
    sum(out)
        .into_iter()
        .filter(|s| s.starts_with("flow_started"))
        .collect()
}

#[test]
fn repeat_flows_auto_start_again() {
    // `repeat: true` is the older spelling of `frequency: "unlimited"`.
    for extra in [r#","repeat":true"#, r#","frequency":"unlimited""#] {
        let mut h = flows(&[flow("r", &format!(r#","start":[{{"url":"/a*"}}]{extra}"#))]);
        assert_eq!(started(&h.go("/a")), ["flow_started r url"]);
        // Ended while its condition still holds: it does not come straight back.
        assert!(started(&h.handle(Input::Dismiss)).is_empty());
        assert!(started(&h.refresh()).is_empty());
        // Another page is a new occasion; so is leaving and coming back.
        assert_eq!(started(&h.go("/a/2")), ["flow_started r url"]);
        h.handle(Input::Dismiss);
        assert!(started(&h.go("/b")).is_empty());
        assert_eq!(started(&h.go("/a/2")), ["flow_started r url"]);
        // A navigation inside the flow is not an occasion once it ends.
        h.go("/a/3");
        assert!(started(&h.handle(Input::Dismiss)).is_empty());
    }
    // Unlimited with an event: each new occurrence starts it again.
    let mut h = flows(&[flow(
        "e",
        r#","frequency":"unlimited","start":[{"event":"go"}]"#,
    )]);
    for i in 0..3 {
        let out = h.handle(Input::EventTracked { event: "go".into() });
        assert_eq!(started(&out), ["flow_started e event"]);
        assert!(started(&h.handle(Input::Dismiss)).is_empty());
        // Another page is no occasion: the condition does not look at the URL.
        assert!(started(&h.go(&format!("/page/{i}"))).is_empty());
    }
}

#[test]
fn flow_frequency_once_and_multiple() {
    let mut h = flows(&[
        flow("o", r#","start":[{"event":"go"}]"#),
        flow(
            "m",
            r#","frequency":"multiple","start":[{"event":"again"}]"#,
        ),
    ]);
    assert_eq!(
        started(&h.handle(Input::EventTracked { event: "go".into() })),
        ["flow_started o event"]
    );
    h.handle(Input::Dismiss);
    assert!(started(&h.handle(Input::EventTracked { event: "go".into() })).is_empty());
    // `multiple`: once per page load by its conditions...
    assert_eq!(
        started(&h.handle(Input::EventTracked {
            event: "again".into()
        })),
        ["flow_started m event"]
    );
    h.handle(Input::Dismiss);
    assert!(started(&h.handle(Input::EventTracked {
        event: "again".into()
    }))
    .is_empty());
    // ...and again on the next page load, though the user has seen it.
    let state = h.persisted();
    let mut h2 = flows(&[
        flow("o", r#","start":[{"event":"go"}]"#),
        flow(
            "m",
            r#","frequency":"multiple","start":[{"event":"again"}]"#,
        ),
    ]);
    h2.events = h.events.clone();
    h2.restore(state.as_deref());
    assert!(h2.e.has_seen("m") && h2.e.has_seen("o"));
    assert_eq!(started(&h2.refresh()), ["flow_started m event"]);
}

#[test]
fn flow_priority_conditions_and_reasons() {
    let mut h = flows(&[
        flow("low", r#","start":[{"url":"/app*"}]"#),
        flow("high", r#","priority":5,"start":[{"url":"/app*"}]"#),
        flow(
            "pro",
            r#","priority":9,"start":[{"all":[{"url":"/app*"},{"user":"plan","op":"equals","value":"pro"}]}]"#,
        ),
        flow("el", r##","priority":-1,"start":[{"element":"#banner"}]"##),
    ]);
    assert_eq!(h.e.selectors(), ["#banner"]);
    assert!(!h.e.counts("nothing"));
    // Equal conditions: the higher priority wins; the document order breaks ties.
    assert_eq!(started(&h.go("/app")), ["flow_started high url"]);
    // Once it ends, the next one whose conditions hold starts.
    assert_eq!(started(&h.handle(Input::Dismiss)), ["flow_started low url"]);
    assert!(started(&h.handle(Input::Dismiss)).is_empty());
    // A trait change makes `pro` hold: reason `condition` (not a bare url rule).
    h.traits = parse(r#"{"plan":"pro"}"#).unwrap();
    assert_eq!(started(&h.refresh()), ["flow_started pro condition"]);
    assert_eq!(h.e.start_reason(), Some(StartReason::Condition));
    h.handle(Input::Dismiss);
    // An element condition.
    assert!(started(&h.refresh()).is_empty());
    h.present.push("#banner".into());
    assert_eq!(started(&h.refresh()), ["flow_started el condition"]);
}

/// The id of the delay timer `out` sets (of `ms` milliseconds).
fn delay_timer(out: &[Output], ms: u64) -> u64 {
    out.iter()
        .find_map(|o| match o {
            Output::SetTimer { id, ms: m } if *m == ms => Some(*id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {ms} ms timer in {out:?}"))
}

#[test]
fn flow_start_delay_checks_again_when_it_ends() {
    let text = flow(
        "d",
        r#","start_delay_seconds":1.5,"start":[{"url":"/app*"}]"#,
    );
    let mut h = flows(std::slice::from_ref(&text));
    let out = h.go("/app");
    let timer = delay_timer(&out, 1500);
    assert!(started(&out).is_empty());
    // Still waiting: refreshes do not start it early or schedule it twice.
    let out = h.refresh();
    assert!(out.is_empty(), "{out:?}");
    // When the delay ends and the condition still holds: it starts.
    assert_eq!(
        started(&h.handle(Input::TimerFired { id: timer })),
        ["flow_started d url"]
    );
    // When it no longer holds: it does not.
    let mut h = flows(std::slice::from_ref(&text));
    let id = delay_timer(&h.go("/app"), 1500);
    h.url = "/elsewhere".into();
    let out = h.handle(Input::TimerFired { id });
    assert!(started(&out).is_empty(), "{out:?}");
    assert!(h.e.active().is_none() && !h.e.has_seen("d"));
    // A program start during the delay wins; the delayed start is dropped.
    let mut h = flows(&[text]);
    let id = delay_timer(&h.go("/app"), 1500);
    h.start("d");
    h.handle(Input::Dismiss);
    assert!(started(&h.handle(Input::TimerFired { id })).is_empty());
}

#[test]
fn end_all_and_reset() {
    let mut h = H::new();
    assert!(h.e.end_all(EndReason::Program).is_empty());
    h.start("tips");
    let out = h.e.end_all(EndReason::Program);
    assert_eq!(
        sum(&out),
        ["timer- 1", "hide", "flow_ended tips program", "persist"]
    );
    h.start("tips");
    assert_eq!(sum(&h.e.reset()), ["timer- 2", "hide"]);
    assert_eq!(h.e.active(), None);
    assert!(!h.e.has_seen("tips"));
    assert_eq!(h.e.state(), None);
}

#[test]
fn go_to_unknown_step_ends_with_step_not_found() {
    let mut c = sample();
    c.flows[0].steps[0].blocks[3] = Block::Button {
        label: "x".into(),
        action: Action::GoToStep("nope".into()),
        primary: false,
    };
    c.flows[0].steps[0].blocks[4] = Block::Button {
        label: "y".into(),
        action: Action::StartFlow("gone".into()),
        primary: false,
    };
    let mut h = H::with(c);
    h.start("onboarding");
    assert_eq!(
        sum(&h.button("welcome", 0)),
        ["hide", "flow_ended onboarding step_not_found", "persist"]
    );
    h.start("onboarding");
    assert_eq!(
        sum(&h.button("welcome", 1)),
        ["hide", "flow_ended onboarding content_not_found", "persist"]
    );
}

#[test]
fn go_to_step_jumps() {
    let mut h = H::new();
    h.start("tips");
    h.handle(Input::TimerFired { id: 1 });
    assert_eq!(h.e.active(), Some(("tips", 2)));
}

#[test]
fn resume_after_reload() {
    let mut h = H::new();
    h.start("onboarding");
    h.button("welcome", 1);
    let state = h.persisted().expect("persisted");
    assert!(state.contains(r#""step":"save""#));

    // The reload: a fresh engine, the same content, the stored state.
    let mut h2 = H::new();
    let out = h2.restore(Some(&state));
    assert_eq!(sum(&out), ["hide", "wait save #save 3000"]);
    assert_eq!(h2.e.active(), Some(("onboarding", 1)));
    assert_eq!(h2.e.start_reason(), Some(StartReason::Session));
    assert_eq!(
        sum(&h2.handle(Input::TargetFound {
            step_id: "save".into()
        })),
        [
            "show onboarding/save tooltip #save right",
            "flow_step_seen onboarding/save #1 67%",
            "watch-clicks #save"
        ]
    );
    assert!(h2.e.has_seen("onboarding"));
    assert!(h2
        .start_with("onboarding", StartReason::Program, true)
        .is_empty());
    // No flow_started was emitted by the resume; the run still ends once.
    assert_eq!(
        sum(&h2.handle(Input::Dismiss)),
        ["hide", "flow_ended onboarding user_closed", "persist"]
    );
    assert!(!h2
        .log
        .iter()
        .any(|o| matches!(o, Output::Emit(e) if e.kind == EventKind::FlowStarted)));

    // A modal step resumes shown, with step_seen again.
    let mut h3 = H::new();
    h3.start("onboarding");
    let state = h3.persisted().unwrap();
    let mut h4 = H::new();
    assert_eq!(
        sum(&h4.restore(Some(&state))),
        [
            "show onboarding/welcome modal",
            "flow_step_seen onboarding/welcome #0 33%"
        ]
    );
}

#[test]
fn resume_edge_cases() {
    let mut h = H::new();
    h.start("onboarding");
    let state = h.persisted().unwrap();

    // The flow is gone from the content: it ends with content_not_found, with the
    // stored attributes.
    let mut h2 = H::with(Content::default());
    let out = h2.restore(Some(&state));
    assert_eq!(
        sum(&out),
        ["hide", "flow_ended onboarding content_not_found", "persist"]
    );
    let mut ended = onboarding_attrs();
    ended.push(("flow_end_reason", s("content_not_found")));
    assert_eq!(
        out[1],
        Output::Emit(GeneratedEvent {
            kind: EventKind::FlowEnded,
            attrs: ended
        })
    );
    assert_eq!(
        h2.persisted().as_deref(),
        Some(r#"{"v":1,"seen":["onboarding"]}"#)
    );

    // The step is gone: step_not_found.
    let mut c = sample();
    c.flows[0].steps.remove(0);
    let mut h3 = H::with(c);
    assert_eq!(
        sum(&h3.restore(Some(&state))),
        ["hide", "flow_ended onboarding step_not_found", "persist"]
    );

    // Garbage is discarded.
    let mut h4 = H::new();
    for bad in [
        "",
        "nope",
        "[]",
        r#"{"v":2,"seen":["x"]}"#,
        r#"{"v":1,"run":{"flow":5}}"#,
    ] {
        let out = h4.restore(Some(bad));
        assert_eq!(sum(&out), ["persist-none"], "{bad}");
    }
    assert!(h4.restore(None).is_empty());
    // Restoring what is stored does not persist again.
    let seen_only = r#"{"v":1,"seen":["tips"]}"#;
    assert!(h4.restore(Some(seen_only)).is_empty());
    assert!(h4.e.has_seen("tips"));
    // Restoring another user's state drops the current run silently.
    h4.start("onboarding");
    let out = h4.restore(Some(seen_only));
    assert_eq!(sum(&out), ["hide"]);
    assert_eq!(h4.e.active(), None);
}

#[test]
fn load_replaces_content_of_the_active_flow() {
    let mut h = H::new();
    h.start("onboarding");
    // Same content: nothing happens.
    assert!(h.load(sample()).is_empty());
    // Changed content: the step is entered again.
    let mut c = sample();
    c.flows[0].name = "Onboarding 2".into();
    assert_eq!(
        sum(&h.load(c.clone())),
        [
            "show onboarding/welcome modal",
            "flow_step_seen onboarding/welcome #0 33%",
            "persist"
        ]
    );
    // The step disappears: step_not_found.
    c.flows[0].steps.remove(0);
    c.flows[0].version_number = Some(4);
    assert_eq!(
        sum(&h.load(c)),
        ["hide", "flow_ended onboarding step_not_found", "persist"]
    );
    // Removing the active flow: content_not_found.
    h.start("tips");
    assert_eq!(
        sum(&h.e.remove("tips")),
        [
            "timer- 1",
            "hide",
            "flow_ended tips content_not_found",
            "persist"
        ]
    );
    assert!(h.e.remove("tips").is_empty());
    assert_eq!(h.e.flows().len(), 1);
}

#[test]
fn progress_rounding() {
    assert_eq!(step_progress(0, 3), 33);
    assert_eq!(step_progress(1, 3), 67);
    assert_eq!(step_progress(2, 3), 100);
    assert_eq!(step_progress(0, 8), 13);
    assert_eq!(step_progress(0, 1), 100);
    assert_eq!(step_progress(0, 0), 0);
}

#[test]
fn reasons_are_snake_case() {
    let starts = [
        StartReason::Program,
        StartReason::Url,
        StartReason::Event,
        StartReason::Action,
        StartReason::Session,
    ];
    assert_eq!(
        starts.map(StartReason::as_str),
        ["program", "url", "event", "action", "session"]
    );
    let ends = [
        EndReason::UserClosed,
        EndReason::Action,
        EndReason::Replaced,
        EndReason::TooltipTargetMissing,
        EndReason::Program,
        EndReason::StepNotFound,
        EndReason::ContentNotFound,
        EndReason::Completed,
    ];
    assert_eq!(
        ends.map(EndReason::as_str),
        [
            "user_closed",
            "action",
            "replaced",
            "tooltip_target_missing",
            "program",
            "step_not_found",
            "content_not_found",
            "completed"
        ]
    );
}

#[test]
fn a_shown_tooltip_whose_target_goes_waits_for_it_again_then_applies_on_target_missing() {
    // Default (end): the target goes while shown; it does not come back.
    let mut h = H::new();
    h.start("onboarding");
    h.button("welcome", 1);
    h.handle(Input::TargetFound {
        step_id: "save".into(),
    });
    // Not a step that is shown: ignored.
    assert!(h
        .handle(Input::TargetLost {
            step_id: "welcome".into()
        })
        .is_empty());
    assert_eq!(
        sum(&h.handle(Input::TargetLost {
            step_id: "save".into()
        })),
        ["wait save #save 3000"]
    );
    // Its trigger is not live while the step is off screen.
    assert!(h
        .handle(Input::TargetClicked {
            step_id: "save".into()
        })
        .is_empty());
    // Back before the timeout: shown again, the same visit (no second flow_step_seen).
    assert_eq!(
        sum(&h.handle(Input::TargetFound {
            step_id: "save".into()
        })),
        [
            "show onboarding/save tooltip #save right",
            "watch-clicks #save"
        ]
    );
    h.handle(Input::TargetLost {
        step_id: "save".into(),
    });
    assert_eq!(
        sum(&h.handle(Input::TargetMissing {
            step_id: "save".into()
        })),
        [
            "tooltip_target_missing onboarding/save #1 67%",
            "hide",
            "flow_ended onboarding tooltip_target_missing",
            "persist"
        ]
    );

    // Bubble fallback: shown as a bubble, seen once for the visit.
    let mut h = H::new();
    h.start("tips");
    h.handle(Input::TimerFired { id: 1 });
    h.handle(Input::TargetFound {
        step_id: "t3".into(),
    });
    assert_eq!(
        sum(&h.handle(Input::TargetLost {
            step_id: "t3".into()
        })),
        ["wait t3 .missing 6000"]
    );
    assert_eq!(
        sum(&h.handle(Input::TargetMissing {
            step_id: "t3".into()
        })),
        [
            "tooltip_target_missing tips/t3 #2 75%",
            "show tips/t3 bubble bottom-right"
        ]
    );
    // A bubble has no target to lose.
    assert!(h
        .handle(Input::TargetLost {
            step_id: "t3".into()
        })
        .is_empty());
}

#[test]
fn arrow_keys_follow_the_reading_direction() {
    use super::engine::key_input;
    assert_eq!(key_input("ArrowRight", false), Some(Input::KeyNext));
    assert_eq!(key_input("ArrowLeft", false), Some(Input::KeyBack));
    assert_eq!(
        key_input("ArrowLeft", true),
        Some(Input::KeyNext),
        "right to left: Next is on the left"
    );
    assert_eq!(key_input("ArrowRight", true), Some(Input::KeyBack));
    for rtl in [false, true] {
        assert_eq!(key_input("Escape", rtl), Some(Input::Dismiss));
        assert_eq!(key_input("ArrowUp", rtl), None);
        assert_eq!(
            key_input("Enter", rtl),
            None,
            "Enter is the focused button's own"
        );
    }
}
