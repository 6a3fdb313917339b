//! The one catalog of the events segflow generates by itself (flow, checklist and
//! page events): their snake_case name, the Title Case name Segment receives, the
//! camelCase name `on()` listeners use, and their attributes in order.
//!
//! Everything that names a generated event reads it from here: the flow engine
//! ([`crate::core::content::engine`]) builds a [`GeneratedEvent`] from an
//! [`EventKind`], the shell turns it into Segment `track` properties with
//! [`event_properties`] and picks the listener name from [`spec`]. The table in
//! `docs/CONTENT.md` is checked against this catalog by a test.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::json::{push_u64, write_string, Json};

/// Attributes every generated event carries after its own, filled in by the shell
/// from the page it runs on ([`PageFacts`]).
pub const PAGE_ATTRIBUTES: &[&str] = &[
    "page_url",
    "viewport_width",
    "viewport_height",
    "locale_code",
];

/// The `on()` events that are not generated events: delivery's.
pub const DELIVERY_EVENTS: [&str; 3] = ["delivered", "dropped", "error"];

/// The error `on()` and `off()` throw for an unknown event: every listener
/// name, [`DELIVERY_EVENTS`] then the catalog's (written out rather than
/// joined at run time, which took 0.5 KB of wasm; a test checks it).
pub const UNKNOWN_EVENT: &str = "unknown event; expected one of: delivered, dropped, error, \
flowStarted, flowStepSeen, flowCompleted, flowEnded, tooltipTargetMissing, checklistStarted, \
checklistShown, checklistHidden, checklistTaskClicked, checklistTaskCompleted, checklistCompleted, \
checklistEnded, pageViewed";

/// Which generated event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A flow started.
    FlowStarted,
    /// A flow step was shown to the user.
    FlowStepSeen,
    /// The user reached the end of a flow.
    FlowCompleted,
    /// A flow ended, for whatever reason (always the last event of a run).
    FlowEnded,
    /// A tooltip's target element did not appear in time.
    TooltipTargetMissing,
    /// A checklist started.
    ChecklistStarted,
    /// A checklist widget was expanded.
    ChecklistShown,
    /// A checklist widget was collapsed.
    ChecklistHidden,
    /// A checklist task was clicked.
    ChecklistTaskClicked,
    /// A checklist task was completed.
    ChecklistTaskCompleted,
    /// Every task of a checklist was completed.
    ChecklistCompleted,
    /// A checklist ended.
    ChecklistEnded,
    /// A page was viewed (automatic page tracking).
    PageViewed,
}

/// One catalog entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// Which event.
    pub kind: EventKind,
    /// The snake_case name, as Userflow names it (`flow_started`).
    pub name: &'static str,
    /// The Title Case name sent to Segment (`Flow Started`).
    pub segment_name: &'static str,
    /// The camelCase name `on()`/`off()` listeners use (`flowStarted`).
    pub listener: &'static str,
    /// The event's own attributes, in order; [`PAGE_ATTRIBUTES`] follow them.
    pub attributes: &'static [&'static str],
}

const FLOW: [&str; 4] = [
    "flow_id",
    "flow_name",
    "flow_version_id",
    "flow_version_number",
];
const FLOW_STEP: [&str; 8] = [
    "flow_id",
    "flow_name",
    "flow_version_id",
    "flow_version_number",
    "flow_step_id",
    "flow_step_name",
    "flow_step_number",
    "flow_step_progress",
];
const CHECKLIST: [&str; 4] = [
    "checklist_id",
    "checklist_name",
    "checklist_version_id",
    "checklist_version_number",
];
const CHECKLIST_TASK: [&str; 6] = [
    "checklist_id",
    "checklist_name",
    "checklist_version_id",
    "checklist_version_number",
    "checklist_task_id",
    "checklist_task_name",
];

/// The whole catalog, in documentation order.
pub const CATALOG: &[EventSpec] = &[
    EventSpec {
        kind: EventKind::FlowStarted,
        name: "flow_started",
        segment_name: "Flow Started",
        listener: "flowStarted",
        attributes: &[
            "flow_id",
            "flow_name",
            "flow_version_id",
            "flow_version_number",
            "flow_start_reason",
        ],
    },
    EventSpec {
        kind: EventKind::FlowStepSeen,
        name: "flow_step_seen",
        segment_name: "Flow Step Seen",
        listener: "flowStepSeen",
        attributes: &FLOW_STEP,
    },
    EventSpec {
        kind: EventKind::FlowCompleted,
        name: "flow_completed",
        segment_name: "Flow Completed",
        listener: "flowCompleted",
        attributes: &FLOW,
    },
    EventSpec {
        kind: EventKind::FlowEnded,
        name: "flow_ended",
        segment_name: "Flow Ended",
        listener: "flowEnded",
        attributes: &[
            "flow_id",
            "flow_name",
            "flow_version_id",
            "flow_version_number",
            "flow_end_reason",
        ],
    },
    EventSpec {
        kind: EventKind::TooltipTargetMissing,
        name: "tooltip_target_missing",
        segment_name: "Tooltip Target Missing",
        listener: "tooltipTargetMissing",
        attributes: &FLOW_STEP,
    },
    EventSpec {
        kind: EventKind::ChecklistStarted,
        name: "checklist_started",
        segment_name: "Checklist Started",
        listener: "checklistStarted",
        attributes: &[
            "checklist_id",
            "checklist_name",
            "checklist_version_id",
            "checklist_version_number",
            "checklist_start_reason",
        ],
    },
    EventSpec {
        kind: EventKind::ChecklistShown,
        name: "checklist_shown",
        segment_name: "Checklist Shown",
        listener: "checklistShown",
        attributes: &CHECKLIST,
    },
    EventSpec {
        kind: EventKind::ChecklistHidden,
        name: "checklist_hidden",
        segment_name: "Checklist Hidden",
        listener: "checklistHidden",
        attributes: &CHECKLIST,
    },
    EventSpec {
        kind: EventKind::ChecklistTaskClicked,
        name: "checklist_task_clicked",
        segment_name: "Checklist Task Clicked",
        listener: "checklistTaskClicked",
        attributes: &CHECKLIST_TASK,
    },
    EventSpec {
        kind: EventKind::ChecklistTaskCompleted,
        name: "checklist_task_completed",
        segment_name: "Checklist Task Completed",
        listener: "checklistTaskCompleted",
        attributes: &CHECKLIST_TASK,
    },
    EventSpec {
        kind: EventKind::ChecklistCompleted,
        name: "checklist_completed",
        segment_name: "Checklist Completed",
        listener: "checklistCompleted",
        attributes: &CHECKLIST,
    },
    EventSpec {
        kind: EventKind::ChecklistEnded,
        name: "checklist_ended",
        segment_name: "Checklist Ended",
        listener: "checklistEnded",
        attributes: &[
            "checklist_id",
            "checklist_name",
            "checklist_version_id",
            "checklist_version_number",
            "checklist_end_reason",
        ],
    },
    EventSpec {
        kind: EventKind::PageViewed,
        name: "page_viewed",
        segment_name: "Page Viewed",
        listener: "pageViewed",
        attributes: &[],
    },
];

/// The catalog entry of `kind`.
pub fn spec(kind: EventKind) -> &'static EventSpec {
    // Every kind has exactly one entry (checked by a test); the fallback is unreachable.
    CATALOG
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or(&CATALOG[0])
}

/// The entry whose snake_case name, Segment name or listener name is `name`.
pub fn lookup(name: &str) -> Option<&'static EventSpec> {
    CATALOG
        .iter()
        .find(|s| s.name == name || s.listener == name || s.segment_name == name)
}

/// `flow_step_seen` → `Flow Step Seen`: each `_`-separated word capitalised
/// (ASCII), joined with spaces; empty words are skipped.
pub fn title_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    for word in snake.split('_').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.push(c.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// `flow_step_seen` → `flowStepSeen`.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    for word in snake.split('_').filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.push(if out.is_empty() {
                c
            } else {
                c.to_ascii_uppercase()
            });
            out.push_str(chars.as_str());
        }
    }
    out
}

/// An event the core generated: its kind and its own attributes, in catalog order
/// (the flow engine fills every attribute the catalog lists; absent content values
/// are `null`). The shell adds the [`PageFacts`].
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedEvent {
    /// Which event.
    pub kind: EventKind,
    /// `(attribute, value)` pairs in the order of [`EventSpec::attributes`].
    pub attrs: Vec<(&'static str, Json)>,
}

impl GeneratedEvent {
    /// The catalog entry of this event.
    pub fn spec(&self) -> &'static EventSpec {
        spec(self.kind)
    }

    /// The value of attribute `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.attrs.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

/// What the shell knows about the page when it sends a generated event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFacts<'a> {
    /// The page URL, after the page's URL filter (`setUrlFilter`).
    pub page_url: &'a str,
    /// `window.innerWidth`.
    pub viewport_width: u32,
    /// `window.innerHeight`.
    pub viewport_height: u32,
    /// `navigator.language`, e.g. `en-US`.
    pub locale_code: &'a str,
}

/// The Segment `track` properties of `event` as compact JSON object text: the
/// event's attributes in catalog order, then [`PAGE_ATTRIBUTES`].
pub fn event_properties(event: &GeneratedEvent, page: &PageFacts) -> String {
    let mut out = String::from("{");
    for (k, v) in &event.attrs {
        write_string(k, &mut out);
        out.push(':');
        v.write(&mut out);
        out.push(',');
    }
    write_string("page_url", &mut out);
    out.push(':');
    write_string(page.page_url, &mut out);
    out.push_str(",\"viewport_width\":");
    push_u64(page.viewport_width as u64, &mut out);
    out.push_str(",\"viewport_height\":");
    push_u64(page.viewport_height as u64, &mut out);
    out.push_str(",\"locale_code\":");
    write_string(page.locale_code, &mut out);
    out.push('}');
    out
}

/// What `on()` listeners of generated event `listener` receive, as JSON text:
/// the event's properties (`props`, an object), plus, as Userflow.js gives them,
/// `flow: {id}` for flow events and `checklist: {id}` for checklist events.
/// Anything that is not an object is passed on as it is.
pub fn listener_payload(listener: &str, props: &str) -> String {
    let (key, id_key) = if listener.starts_with("checklist") {
        ("checklist", "checklist_id")
    } else if listener.starts_with("flow") || listener == "tooltipTargetMissing" {
        ("flow", "flow_id")
    } else {
        return props.to_string();
    };
    let Ok(mut v) = crate::core::json::parse(props) else {
        return props.to_string();
    };
    let Some(id) = v.get(id_key).cloned() else {
        return props.to_string();
    };
    if v.as_object().is_none() {
        return props.to_string();
    }
    v.set(key, Json::Object(vec![("id".to_string(), id)]));
    v.to_json()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn unknown_event_names_every_listener() {
        let all: Vec<&str> = super::DELIVERY_EVENTS
            .iter()
            .copied()
            .chain(super::CATALOG.iter().map(|s| s.listener))
            .collect();
        assert_eq!(
            super::UNKNOWN_EVENT,
            String::from("unknown event; expected one of: ") + &all.join(", ")
        );
    }

    use super::*;

    /// The catalog as the Markdown table `docs/CONTENT.md` carries.
    pub(crate) fn markdown_table() -> String {
        let mut s = String::from(
            "| event | Segment name | listener | attributes (then page_url, viewport_width, viewport_height, locale_code) |\n| --- | --- | --- | --- |\n",
        );
        for e in CATALOG {
            let attrs: Vec<String> = e.attributes.iter().map(|a| format!("`{a}`")).collect();
            let attrs = if attrs.is_empty() {
                "(page attributes only)".to_string()
            } else {
                attrs.join(", ")
            };
            s.push_str(&format!(
                "| `{}` | {} | `{}` | {} |\n",
                e.name, e.segment_name, e.listener, attrs
            ));
        }
        s
    }

    #[test]
    fn listeners_get_the_content_id_as_userflow_js_gives_it() {
        let p = listener_payload(
            "checklistEnded",
            r#"{"checklist_id":"c1","checklist_end_reason":"program"}"#,
        );
        assert_eq!(
            p,
            r#"{"checklist_id":"c1","checklist_end_reason":"program","checklist":{"id":"c1"}}"#
        );
        let p = listener_payload("flowEnded", r#"{"flow_id":"f","x":1}"#);
        assert_eq!(p, r#"{"flow_id":"f","x":1,"flow":{"id":"f"}}"#);
        assert_eq!(listener_payload("pageViewed", r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(listener_payload("checklistShown", "nope"), "nope");
        assert_eq!(listener_payload("checklistShown", "{}"), "{}");
    }

    #[test]
    fn names_are_derived_consistently() {
        for e in CATALOG {
            assert_eq!(title_case(e.name), e.segment_name);
            assert_eq!(camel_case(e.name), e.listener);
            assert_eq!(spec(e.kind), e);
            assert_eq!(lookup(e.name), Some(e));
            assert_eq!(lookup(e.listener), Some(e));
            assert_eq!(lookup(e.segment_name), Some(e));
        }
        assert_eq!(CATALOG.len(), 13);
        assert_eq!(lookup("nope"), None);
        assert_eq!(
            title_case("checklist_task_completed"),
            "Checklist Task Completed"
        );
        assert_eq!(title_case("__a__b_"), "A B");
        assert_eq!(title_case(""), "");
        assert_eq!(camel_case("flow_step_seen"), "flowStepSeen");
    }

    #[test]
    fn flow_attributes_follow_the_reference() {
        let s = spec(EventKind::FlowStarted);
        assert_eq!(s.attributes.last(), Some(&"flow_start_reason"));
        let s = spec(EventKind::FlowEnded);
        assert_eq!(s.attributes.last(), Some(&"flow_end_reason"));
        for k in [EventKind::FlowStepSeen, EventKind::TooltipTargetMissing] {
            assert!(spec(k).attributes.contains(&"flow_step_progress"));
        }
        assert!(spec(EventKind::PageViewed).attributes.is_empty());
    }

    #[test]
    fn properties_are_json_in_catalog_order() {
        let ev = GeneratedEvent {
            kind: EventKind::FlowEnded,
            attrs: vec![
                ("flow_id", Json::String("a\"b".into())),
                ("flow_name", Json::String("A".into())),
                ("flow_version_id", Json::Null),
                (
                    "flow_version_number",
                    Json::Number(crate::core::json::Number::from_f64(3.0).unwrap()),
                ),
                ("flow_end_reason", Json::String("completed".into())),
            ],
        };
        let page = PageFacts {
            page_url: "https://x.y/a?b=1",
            viewport_width: 1280,
            viewport_height: 0,
            locale_code: "en-US",
        };
        let text = event_properties(&ev, &page);
        assert_eq!(
            text,
            r#"{"flow_id":"a\"b","flow_name":"A","flow_version_id":null,"flow_version_number":3,"flow_end_reason":"completed","page_url":"https://x.y/a?b=1","viewport_width":1280,"viewport_height":0,"locale_code":"en-US"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut expected: Vec<&str> = ev.spec().attributes.to_vec();
        expected.extend(PAGE_ATTRIBUTES);
        let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(ev.get("flow_name"), Some(&Json::String("A".into())));
        assert_eq!(ev.get("x"), None);
    }

    #[test]
    fn docs_carry_the_catalog_table() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONTENT.md"))
            .expect("docs/CONTENT.md");
        let table = markdown_table();
        assert!(
            docs.contains(&table),
            "docs/CONTENT.md must contain the catalog table exactly:\n{table}"
        );
    }
}
