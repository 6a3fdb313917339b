//! Checklist engine tests: every way a task completes, ordered completion,
//! dismissal, self-dismissal, start conditions with frequency, priority and delay,
//! persistence across reloads, and the exact events in order.

use super::checklist::*;
use super::conditions::ContentKind;
use super::model::parse_content;
use super::test_world::{status, World};
use crate::core::catalog::EventKind;
use crate::core::json::{self, Json};

fn world() -> World {
    let mut w = World::new("https://app.example/dashboard", 1_700_000_000_000);
    w.user = json::parse(r#"{"first_name":"Ada","plan":"free"}"#).unwrap();
    w
}

fn env(w: &World) -> Env<'_> {
    Env {
        facts: w,
        traits: &w.user,
    }
}

fn doc(checklists: &str) -> Vec<Checklist> {
    let text = String::from(
        r#"{"version":1,"flows":[{"id":"tour","name":"Tour","steps":[{"id":"s1","type":"modal"}]}],"checklists":"#,
    ) + checklists
        + "}";
    parse_content(&text)
        .unwrap_or_else(|e| panic!("{}", e.message))
        .checklists
}

const BASIC: &str = r#"[{
  "id": "setup", "name": "Set up", "version_id": "v1", "version_number": 3,
  "title": "Welcome, {{first_name}}",
  "tasks": [
    {"id": "click", "name": "Click me"},
    {"id": "tour", "name": "Take the tour", "action": {"type": "start_flow", "flow": "tour"},
     "complete_when": [{"flow": "tour", "state": "completed"}]},
    {"id": "event", "name": "Invite", "complete_when": [{"event": "invited"}]},
    {"id": "pro", "name": "Upgrade", "complete_when": [{"user": "plan", "op": "equals", "value": "pro"}]}
  ]
}]"#;

/// The generated events' names (and reasons / task ids) in order.
fn events(out: &[ChecklistOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            ChecklistOutput::Emit(ev) | ChecklistOutput::Seen(ev) => {
                let mut s = ev.spec().name.to_string();
                for key in [
                    "checklist_task_id",
                    "checklist_start_reason",
                    "checklist_end_reason",
                ] {
                    if let Some(Json::String(v)) = ev.get(key) {
                        s.push(':');
                        s.push_str(v);
                    }
                }
                Some(s)
            }
            _ => None,
        })
        .collect()
}

fn shown(out: &[ChecklistOutput]) -> Option<&ChecklistView> {
    out.iter().rev().find_map(|o| match o {
        ChecklistOutput::Show(v) => Some(v),
        _ => None,
    })
}

fn started(w: &World, lists: Vec<Checklist>) -> ChecklistEngine {
    let mut e = ChecklistEngine::new();
    e.load(lists, &env(w));
    let out = e
        .start("setup", ChecklistStartReason::Program, false, &env(w))
        .unwrap();
    assert_eq!(
        events(&out),
        ["checklist_started:program", "checklist_shown"]
    );
    let v = shown(&out).expect("shown");
    assert!(v.open);
    assert_eq!(v.done, 0);
    e
}

#[test]
fn every_task_completion_path_with_the_exact_events() {
    let mut w = world();
    let mut e = ChecklistEngine::new();
    e.load(doc(BASIC), &env(&w));
    let out = e
        .start("setup", ChecklistStartReason::Program, false, &env(&w))
        .unwrap();
    assert_eq!(shown(&out).unwrap().title, "Welcome, Ada", "interpolated");
    // Clicked (no complete_when: completes on click).
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "click".into(),
        },
        &env(&w),
    );
    assert_eq!(
        events(&out),
        [
            "checklist_task_clicked:click",
            "checklist_task_completed:click"
        ]
    );
    assert_eq!(shown(&out).unwrap().done, 1);
    assert!(matches!(
        out.last(),
        Some(ChecklistOutput::Persist(Some(_)))
    ));
    // A click on the flow task starts the flow but does not complete it.
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "tour".into(),
        },
        &env(&w),
    );
    assert_eq!(events(&out), ["checklist_task_clicked:tour"]);
    assert!(out.contains(&ChecklistOutput::StartFlow("tour".into())));
    // The flow completes.
    w.content
        .push((ContentKind::Flow, "tour".into(), status(true, true, false)));
    let out = e.refresh(&env(&w));
    assert_eq!(events(&out), ["checklist_task_completed:tour"]);
    // An event is tracked.
    w.log.record("invited", &Json::Object(Vec::new()), w.now);
    let out = e.refresh(&env(&w));
    assert_eq!(events(&out), ["checklist_task_completed:event"]);
    // An attribute changes: the last task, then the checklist completes.
    w.user = json::parse(r#"{"first_name":"Ada","plan":"pro"}"#).unwrap();
    let out = e.refresh(&env(&w));
    assert_eq!(
        events(&out),
        ["checklist_task_completed:pro", "checklist_completed"]
    );
    assert_eq!(shown(&out).unwrap().done, 4);
    // Nothing more happens; completed tasks stay completed.
    w.user = json::parse(r#"{"plan":"free"}"#).unwrap();
    let out = e.refresh(&env(&w));
    assert!(events(&out).is_empty());
    assert!(e.is_done("setup", "pro"));
    // A second click on a done task is reported but completes nothing.
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "click".into(),
        },
        &env(&w),
    );
    assert_eq!(events(&out), ["checklist_task_clicked:click"]);
}

#[test]
fn events_carry_the_checklist_and_task_attributes() {
    let w = world();
    let mut e = started(&w, doc(BASIC));
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "click".into(),
        },
        &env(&w),
    );
    let ChecklistOutput::Emit(ev) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(ev.kind, EventKind::ChecklistTaskClicked);
    let keys: Vec<&str> = ev.attrs.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ev.spec().attributes);
    assert_eq!(ev.get("checklist_id"), Some(&Json::String("setup".into())));
    assert_eq!(
        ev.get("checklist_name"),
        Some(&Json::String("Set up".into()))
    );
    assert_eq!(
        ev.get("checklist_version_id"),
        Some(&Json::String("v1".into()))
    );
    assert_eq!(
        ev.get("checklist_version_number")
            .map(Json::to_json)
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        ev.get("checklist_task_name"),
        Some(&Json::String("Click me".into()))
    );
    for kind in [
        EventKind::ChecklistStarted,
        EventKind::ChecklistEnded,
        EventKind::ChecklistShown,
    ] {
        let _ = kind;
    }
}

#[test]
fn ordered_checklists_block_later_tasks() {
    let w = world();
    let lists = doc(
        r#"[{"id":"setup","name":"S","completion_order":"ordered","tasks":[
            {"id":"a","name":"A"},
            {"id":"b","name":"B","complete_when":[{"clicked":true},{"event":"b_done"}]}
        ]}]"#,
    );
    let mut e = started(&w, lists);
    let mut w = w;
    // b's event holds already, but b is blocked until a is done.
    w.log.record("b_done", &Json::Object(Vec::new()), w.now);
    let out = e.refresh(&env(&w));
    assert!(events(&out).is_empty());
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "b".into(),
        },
        &env(&w),
    );
    assert!(events(&out).is_empty(), "a blocked task ignores clicks");
    let v = e.refresh(&env(&w));
    let _ = v;
    // a done: b completes in the same pass, then the checklist.
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "a".into(),
        },
        &env(&w),
    );
    assert_eq!(
        events(&out),
        [
            "checklist_task_clicked:a",
            "checklist_task_completed:a",
            "checklist_task_completed:b",
            "checklist_completed"
        ]
    );
}

#[test]
fn blocked_tasks_are_marked_in_the_view() {
    let w = world();
    let lists = doc(
        r#"[{"id":"setup","name":"S","completion_order":"ordered","tasks":[
            {"id":"a","name":"A"},{"id":"b","name":"B"}]}]"#,
    );
    let mut e = ChecklistEngine::new();
    e.load(lists, &env(&w));
    let out = e
        .start("setup", ChecklistStartReason::Program, false, &env(&w))
        .unwrap();
    let v = shown(&out).unwrap();
    assert_eq!(
        v.tasks.iter().map(|t| t.blocked).collect::<Vec<_>>(),
        [false, true]
    );
}

#[test]
fn dismiss_toggle_and_self_dismissal() {
    let w = world();
    let mut e = started(&w, doc(BASIC));
    let out = e.handle(ChecklistInput::Toggle, &env(&w));
    assert_eq!(events(&out), ["checklist_hidden"]);
    assert!(!shown(&out).unwrap().open);
    let out = e.handle(ChecklistInput::Toggle, &env(&w));
    assert_eq!(events(&out), ["checklist_shown"]);
    let out = e.handle(ChecklistInput::Dismiss, &env(&w));
    assert_eq!(events(&out), ["checklist_ended:user_closed"]);
    assert!(out.contains(&ChecklistOutput::Hide));
    assert!(e.active().is_none());
    // Not dismissible: Dismiss does nothing; dismiss_when_complete ends it.
    let lists = doc(
        r#"[{"id":"setup","name":"S","dismissible":false,"dismiss_when_complete":true,
            "initial_display":"collapsed","tasks":[{"id":"a","name":"A"}]}]"#,
    );
    let mut e = ChecklistEngine::new();
    e.load(lists, &env(&w));
    let out = e
        .start("setup", ChecklistStartReason::Program, false, &env(&w))
        .unwrap();
    assert_eq!(
        events(&out),
        ["checklist_started:program"],
        "collapsed: not shown"
    );
    assert!(!shown(&out).unwrap().dismissible);
    assert!(events(&e.handle(ChecklistInput::Dismiss, &env(&w))).is_empty());
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "a".into(),
        },
        &env(&w),
    );
    assert_eq!(
        events(&out),
        [
            "checklist_task_clicked:a",
            "checklist_task_completed:a",
            "checklist_completed",
            "checklist_ended:completed"
        ]
    );
    assert!(out.contains(&ChecklistOutput::Hide));
    // The last task said as the checklist goes (after its Hide: the shell keeps
    // the live region), and the Dismiss of a complete one says nothing.
    let hide = out.iter().position(|o| *o == ChecklistOutput::Hide);
    let say = out
        .iter()
        .position(|o| matches!(o, ChecklistOutput::Announce(_)));
    assert!(
        matches!((hide, say), (Some(a), Some(b)) if a < b),
        "{out:?}"
    );
    assert_eq!(announced(&out), ["Done: A. 0 tasks left"]);
    let lists = doc(r#"[{"id":"done","name":"D","tasks":[{"id":"a","name":"A"}]}]"#);
    let mut e = ChecklistEngine::new();
    e.load(lists, &env(&w));
    e.start("done", ChecklistStartReason::Program, false, &env(&w))
        .unwrap();
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "a".into(),
        },
        &env(&w),
    );
    assert_eq!(announced(&out), ["Done: A. 0 tasks left"]);
    let out = e.handle(ChecklistInput::Dismiss, &env(&w));
    assert!(out.contains(&ChecklistOutput::Hide));
    assert!(announced(&out).is_empty(), "{out:?}");
}

#[test]
fn end_and_replace() {
    let w = world();
    let lists = doc(
        r#"[{"id":"setup","name":"S","tasks":[{"id":"a","name":"A"}]},
            {"id":"other","name":"O","tasks":[{"id":"a","name":"A"}]}]"#,
    );
    let mut e = started(&w, lists);
    let out = e
        .start("other", ChecklistStartReason::Program, false, &env(&w))
        .unwrap();
    assert_eq!(
        events(&out),
        [
            "checklist_ended:replaced",
            "checklist_started:program",
            "checklist_shown"
        ]
    );
    let out = e.end(ChecklistEndReason::Program, &env(&w));
    assert_eq!(events(&out), ["checklist_ended:program"]);
    assert!(events(&e.end(ChecklistEndReason::Program, &env(&w))).is_empty());
    // once: not again; unknown id: content_not_found.
    assert!(e
        .start("other", ChecklistStartReason::Program, true, &env(&w))
        .unwrap()
        .is_empty());
    let err = e
        .start("nope", ChecklistStartReason::Program, false, &env(&w))
        .unwrap_err();
    assert!(
        err.message.starts_with("content_not_found"),
        "{}",
        err.message
    );
}

#[test]
fn progress_survives_a_reload_and_a_gone_checklist_ends() {
    let w = world();
    let mut e = started(&w, doc(BASIC));
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "click".into(),
        },
        &env(&w),
    );
    let Some(ChecklistOutput::Persist(Some(state))) = out.last().cloned() else {
        panic!("{out:?}")
    };
    // A new page: the same progress, shown again (open), no new start.
    let mut e2 = ChecklistEngine::new();
    e2.load(doc(BASIC), &env(&w));
    let out = e2.restore(Some(&state), &env(&w));
    assert_eq!(events(&out), ["checklist_shown"]);
    assert_eq!(shown(&out).unwrap().done, 1);
    assert!(e2.is_done("setup", "click"));
    assert!(
        !out.iter().any(|o| matches!(o, ChecklistOutput::Persist(_))),
        "unchanged"
    );
    // The content no longer has it.
    let mut e3 = ChecklistEngine::new();
    e3.load(
        doc(r#"[{"id":"x","name":"X","tasks":[{"id":"a","name":"A"}]}]"#),
        &env(&w),
    );
    let out = e3.restore(Some(&state), &env(&w));
    assert_eq!(events(&out), ["checklist_ended:content_not_found"]);
    // Garbage is discarded, never a panic.
    for bad in [
        "",
        "{",
        "[]",
        r#"{"v":2}"#,
        r#"{"v":1,"checklists":[1,{"id":3}],"active":5}"#,
    ] {
        let mut e = ChecklistEngine::new();
        e.load(doc(BASIC), &env(&w));
        let out = e.restore(Some(bad), &env(&w));
        assert!(e.active().is_none(), "{bad}");
        let _ = out;
    }
}

#[test]
fn start_conditions_priority_frequency_and_delay() {
    let mut w = world();
    let lists = doc(
        r#"[{"id":"low","name":"L","start":[{"url":"/dashboard*"}],"tasks":[{"id":"a","name":"A"}]},
            {"id":"high","name":"H","priority":5,"start":[{"url":"/dashboard*"}],"tasks":[{"id":"a","name":"A"}]},
            {"id":"never","name":"N","tasks":[{"id":"a","name":"A"}]}]"#,
    );
    let mut e = ChecklistEngine::new();
    let out = e.load(lists, &env(&w));
    assert_eq!(
        events(&out),
        ["checklist_started:condition", "checklist_shown"]
    );
    assert_eq!(e.active().map(|a| a.0), Some("high"), "priority wins");
    // Once (default): after it ended, it does not start again; the next one does.
    let out = e.handle(ChecklistInput::Dismiss, &env(&w));
    assert_eq!(
        events(&out),
        [
            "checklist_ended:user_closed",
            "checklist_started:condition",
            "checklist_shown"
        ]
    );
    assert_eq!(e.active().map(|a| a.0), Some("low"));
    e.handle(ChecklistInput::Dismiss, &env(&w));
    assert!(e.active().is_none());
    w.url = "https://app.example/dashboard/2".into();
    assert!(events(&e.refresh(&env(&w))).is_empty(), "both seen");

    // multiple: again after it ended, once per page load; unlimited: again
    // after it ended, each time the conditions hold anew (never straight after
    // it ended while they still hold, which would bring it back at once).
    for (freq, restarts) in [("once", 0), ("multiple", 0), ("unlimited", 3)] {
        let lists = doc(&format!(
            r#"[{{"id":"c","name":"C","frequency":"{freq}","start":[{{"all":[{{"url":"*"}},{{"event":"go"}}]}}],"tasks":[{{"id":"a","name":"A"}}]}}]"#
        ));
        let mut w = world();
        let mut e = ChecklistEngine::new();
        e.load(lists, &env(&w));
        assert!(e.active().is_none());
        w.log.record("go", &Json::Object(Vec::new()), w.now);
        e.refresh(&env(&w));
        assert_eq!(e.active().map(|a| a.0), Some("c"), "{freq}");
        let mut n = 0;
        for round in 0..3 {
            let out = e.handle(ChecklistInput::Dismiss, &env(&w));
            assert!(
                !events(&out)
                    .iter()
                    .any(|e| e.starts_with("checklist_started")),
                "{freq}: no restart while the same occasion holds"
            );
            assert!(events(&e.refresh(&env(&w))).is_empty(), "{freq}");
            // A new occasion: the event again, or another page.
            if round % 2 == 0 {
                w.log.record("go", &Json::Object(Vec::new()), w.now);
            } else {
                w.url = format!("https://app.example/page/{round}");
            }
            let out = e.refresh(&env(&w));
            if events(&out)
                .iter()
                .any(|e| e == "checklist_started:condition")
            {
                n += 1;
            }
        }
        assert_eq!(n, restarts, "{freq}");
    }

    // A delay: the conditions must still hold when it ends.
    let lists = doc(
        r##"[{"id":"c","name":"C","start_delay_seconds":2,"start":[{"element":"#app"}],"tasks":[{"id":"a","name":"A"}]}]"##,
    );
    let mut w = world();
    w.elements.push("#app".into());
    let mut e = ChecklistEngine::new();
    let out = e.load(lists.clone(), &env(&w));
    assert_eq!(e.selectors(), ["#app"]);
    let Some(ChecklistOutput::SetTimer { id, ms: 2000 }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    assert!(events(&out).is_empty());
    let out = e.handle(ChecklistInput::TimerFired { id }, &env(&w));
    assert_eq!(
        events(&out),
        ["checklist_started:condition", "checklist_shown"]
    );
    let mut e = ChecklistEngine::new();
    let out = e.load(lists, &env(&w));
    let Some(ChecklistOutput::SetTimer { id, .. }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    w.elements.clear();
    let out = e.handle(ChecklistInput::TimerFired { id }, &env(&w));
    assert!(events(&out).is_empty(), "gone when the delay ended");
    assert!(e.active().is_none());
}

#[test]
fn tasks_that_already_hold_complete_when_the_checklist_starts() {
    let mut w = world();
    w.log.record("invited", &Json::Object(Vec::new()), w.now);
    let mut e = ChecklistEngine::new();
    e.load(doc(BASIC), &env(&w));
    let out = e
        .start("setup", ChecklistStartReason::Program, false, &env(&w))
        .unwrap();
    assert_eq!(
        events(&out),
        [
            "checklist_started:program",
            "checklist_shown",
            "checklist_task_completed:event"
        ]
    );
}

#[test]
fn parse_errors_name_the_path() {
    let cases = [
        (
            r#"[{"id":"c","name":"C","tasks":[]}]"#,
            "checklists[0].tasks: a checklist needs at least one task",
        ),
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A"},{"id":"a","name":"B"}]}]"#,
            "checklists[0].tasks[1].id: duplicate task id in this checklist",
        ),
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A","action":{"type":"start_flow","flow":"nope"}}]}]"#,
            "checklists[0].tasks[0].action.flow: no flow with this id in the document nor loaded before",
        ),
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A","complete_when":[]}]}]"#,
            "checklists[0].tasks[0].complete_when: needs at least one condition",
        ),
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A","complete_when":[{"clicked":false}]}]}]"#,
            "checklists[0].tasks[0].complete_when[0].clicked: expected true",
        ),
        (
            r#"[{"id":"c","name":"C","frequency":"daily","tasks":[{"id":"a","name":"A"}]}]"#,
            "checklists[0].frequency: expected one of once, multiple, unlimited",
        ),
        (
            r#"[{"id":"c","name":"C","priority":1.5,"tasks":[{"id":"a","name":"A"}]}]"#,
            "checklists[0].priority: expected a whole number",
        ),
        (
            r#"[{"id":"tour","name":"C","tasks":[{"id":"a","name":"A"}]}]"#,
            "checklists[0].id: a flow has this id",
        ),
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A"}]},{"id":"c","name":"D","tasks":[{"id":"a","name":"A"}]}]"#,
            "checklists[1].id: duplicate checklist id",
        ),
        (
            r#"[{"id":"c","name":"C","colour":"red","tasks":[{"id":"a","name":"A"}]}]"#,
            "checklists[0].colour: unknown field",
        ),
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A","action":{"type":"navigate","url":"javascript:alert(1)"}}]}]"#,
            "checklists[0].tasks[0].action.url: only http(s)",
        ),
    ];
    for (lists, want) in cases {
        let text = String::from(
            r#"{"version":1,"flows":[{"id":"tour","name":"Tour","steps":[{"id":"s1","type":"modal"}]}],"checklists":"#,
        ) + lists
            + "}";
        let e = parse_content(&text).expect_err(lists);
        assert!(e.message.starts_with(want), "{} (want {want})", e.message);
    }
    // Content conditions must name content of the same document.
    for (lists, want) in [
        (
            r#"[{"id":"c","name":"C","tasks":[{"id":"a","name":"A","complete_when":[{"flow":"nope","state":"completed"}]}]}]"#,
            r#"checklists[0]: a condition names flow "nope", which is not in the document nor loaded before"#,
        ),
        (
            r#"[{"id":"c","name":"C","start":[{"all":[{"checklist":"gone","state":"completed"}]}],"tasks":[{"id":"a","name":"A"}]}]"#,
            r#"checklists[0]: a condition names checklist "gone", which is not in the document nor loaded before"#,
        ),
    ] {
        let text = String::from(
            r#"{"version":1,"flows":[{"id":"tour","name":"Tour","steps":[{"id":"s1","type":"modal"}]}],"checklists":"#,
        ) + lists
            + "}";
        assert_eq!(parse_content(&text).expect_err(lists).message, want);
    }
    // A document may hold only checklists.
    let only = parse_content(
        r#"{"version":1,"checklists":[{"id":"c","name":"C","tasks":[{"id":"a","name":"A"}]}]}"#,
    )
    .unwrap();
    assert_eq!(only.checklists.len(), 1);
    assert!(only.flows.is_empty());
}

#[test]
fn only_events_that_conditions_name_are_counted() {
    let w = world();
    let mut e = ChecklistEngine::new();
    assert!(!e.counts("invited"), "nothing loaded: nothing counted");
    e.load(doc(BASIC), &env(&w));
    assert!(e.counts("invited"));
    assert!(!e.counts("page_scrolled"), "no condition names it");
    let lists = doc(
        r#"[{"id":"other","name":"O","start":[{"any":[{"event":"signed_up","count":2}]}],"tasks":[{"id":"a","name":"A"}]}]"#,
    );
    e.load(lists, &env(&w));
    assert!(e.counts("signed_up"), "start conditions, nested");
    assert!(e.counts("invited"), "earlier checklists stay loaded");
}

/// What the live region is told in `out`.
fn announced(out: &[ChecklistOutput]) -> Vec<&str> {
    out.iter()
        .filter_map(|o| match o {
            ChecklistOutput::Announce(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn each_completed_task_is_announced_in_words_however_it_completed() {
    let mut w = world();
    let mut e = started(&w, doc(BASIC));
    // A click.
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "click".into(),
        },
        &env(&w),
    );
    assert_eq!(announced(&out), ["Done: Click me. 3 tasks left"]);
    // After the Show it describes.
    let show = out
        .iter()
        .position(|o| matches!(o, ChecklistOutput::Show(_)));
    let say = out
        .iter()
        .position(|o| matches!(o, ChecklistOutput::Announce(_)));
    assert!(
        matches!((show, say), (Some(a), Some(b)) if a < b),
        "{out:?}"
    );
    // A click that only starts a flow completes nothing: nothing to say.
    let out = e.handle(
        ChecklistInput::TaskClicked {
            task_id: "tour".into(),
        },
        &env(&w),
    );
    assert!(announced(&out).is_empty(), "{out:?}");
    // Collapsing and opening change the view but complete nothing.
    for _ in 0..2 {
        let out = e.handle(ChecklistInput::Toggle, &env(&w));
        assert!(shown(&out).is_some());
        assert!(announced(&out).is_empty(), "{out:?}");
    }
    // Two at once (a flow and an event), in the order of the list.
    w.content
        .push((ContentKind::Flow, "tour".into(), status(true, true, false)));
    w.log.record("invited", &Json::Object(Vec::new()), w.now);
    let out = e.refresh(&env(&w));
    assert_eq!(
        announced(&out),
        ["Done: Take the tour, Invite. 1 task left"]
    );
    // The last one.
    w.user = json::parse(r#"{"first_name":"Ada","plan":"pro"}"#).unwrap();
    let out = e.refresh(&env(&w));
    assert_eq!(announced(&out), ["Done: Upgrade. 0 tasks left"]);
    // A reload shows the progress without saying it again.
    let Some(state) = e.state() else {
        panic!("no state")
    };
    let mut e2 = ChecklistEngine::new();
    e2.load(doc(BASIC), &env(&w));
    let out = e2.restore(Some(&state), &env(&w));
    assert!(shown(&out).is_some());
    assert!(announced(&out).is_empty(), "{out:?}");
}
