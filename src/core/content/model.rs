//! The versioned content schema (version 1) and its validating parser.
//!
//! Content is JSON (see `docs/CONTENT.md` and `docs/content-schema.json`). It is
//! parsed with [`crate::core::json::parse`] and converted to these types by hand,
//! field by field: unknown fields, wrong types, unknown enum values, duplicate ids,
//! dangling `go_to_step`/`start_flow` references, empty selectors and unsafe URLs
//! are errors whose message starts with the JSON path of the culprit, e.g.
//! `flows[0].steps[2].type: expected one of modal, tooltip, bubble, hidden`.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::float;

use super::checklist::{parse_checklist, Checklist};
use super::conditions::{Condition as Cond, ContentKind};
use super::markdown::safe_url;
use super::push_usize;
use super::start::{parse_start_rules, StartRules};
use crate::core::error::Error;
use crate::core::json::{self, Json};

/// The only schema version this build understands.
pub const SCHEMA_VERSION: u64 = 1;
/// Accepted values of a step's `type`.
pub const STEP_TYPES: &[&str] = &["modal", "tooltip", "bubble", "hidden"];
/// Accepted values of a block's `type`.
pub const BLOCK_TYPES: &[&str] = &["title", "text", "image", "button"];
/// Accepted values of a trigger condition's `type`.
pub const CONDITION_TYPES: &[&str] = &[
    "target_clicked",
    "element_appears",
    "url_matches",
    "event_tracked",
    "wait",
];
/// Accepted values of an action's `type`.
pub const ACTION_TYPES: &[&str] = &[
    "next",
    "back",
    "go_to_step",
    "end",
    "start_flow",
    "navigate",
    "track",
];
/// Accepted values of a tooltip's `placement`.
pub const PLACEMENTS: &[&str] = &["top", "bottom", "left", "right"];
/// Accepted values of a bubble's `corner`.
pub const CORNERS: &[&str] = &["bottom-right", "bottom-left", "top-right", "top-left"];
/// Accepted values of a tooltip's `on_target_missing`.
pub const ON_TARGET_MISSING: &[&str] = &["end", "bubble"];
/// Default of `target_timeout_ms`: how long a tooltip waits for its target.
pub const DEFAULT_TARGET_TIMEOUT_MS: u64 = 6000;
/// Largest accepted `target_timeout_ms` and `wait` duration (one day).
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// Largest content document `loadContent` takes, in bytes of JSON text.
pub const MAX_CONTENT_BYTES: usize = 1 << 20;
/// Deepest nesting of objects and arrays in a content document the page passes as
/// an object (the document counts one): what the JSON parser takes
/// ([`json::MAX_DEPTH`] values deep, scalars included).
pub const MAX_CONTENT_DEPTH: u32 = json::MAX_DEPTH as u32 - 1;
/// Longest string anywhere in a content document (Markdown, titles, URLs, ids), in
/// bytes of UTF-8.
pub const MAX_STRING_BYTES: usize = 64 << 10;

/// A parsed, validated content document.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Content {
    /// The flows, in document order (auto-start rules are tried in this order).
    pub flows: Vec<Flow>,
    /// The checklists, in document order.
    pub checklists: Vec<Checklist>,
}

/// A flow (product tour): a sequence of steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// Unique, non-empty id; what `start(id)` takes.
    pub id: String,
    /// Human name (events' `flow_name`).
    pub name: String,
    /// Published version's id (`flow_version_id`), if any.
    pub version_id: Option<String>,
    /// Published version's number (`flow_version_number`), if any.
    pub version_number: Option<u64>,
    /// Show "step n of m" (default false).
    pub show_progress: bool,
    /// The user may close it with × or Escape (default true).
    pub dismissible: bool,
    /// How it starts by itself (start conditions, frequency, priority, delay; see
    /// [`super::start`]); no conditions: only `start()` or an action starts it.
    pub start: StartRules,
    /// The steps, at least one, ids unique within the flow.
    pub steps: Vec<Step>,
}

/// One step of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Non-empty id, unique within the flow.
    pub id: String,
    /// Human name (events' `flow_step_name`), if any.
    pub name: Option<String>,
    /// How it is shown.
    pub kind: StepKind,
    /// What it shows, in order.
    pub blocks: Vec<Block>,
    /// What moves it on besides buttons.
    pub triggers: Vec<Trigger>,
}

impl Step {
    /// The step's buttons, in block order (their position is the `index` the shell
    /// reports in [`super::engine::Input::Button`]).
    pub fn buttons(&self) -> impl Iterator<Item = (&str, &Action, bool)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Button {
                label,
                action,
                primary,
            } => Some((label.as_str(), action, *primary)),
            _ => None,
        })
    }
}

/// How a step is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A centred dialog.
    Modal,
    /// A popover anchored to an element.
    Tooltip(Tooltip),
    /// A floating card in a corner of the viewport.
    Bubble(Corner),
    /// Nothing visible: the step only waits for its triggers.
    Hidden,
}

/// A tooltip's anchoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tooltip {
    /// CSS selector of the target element (non-empty).
    pub target: String,
    /// Side of the target (default bottom).
    pub placement: Placement,
    /// How long to wait for a missing target (default 6000 ms).
    pub target_timeout_ms: u64,
    /// What to do when it does not appear in time (default end).
    pub on_target_missing: OnTargetMissing,
}

/// Side of the target a tooltip sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Above.
    Top,
    /// Below (default).
    Bottom,
    /// To the left.
    Left,
    /// To the right.
    Right,
}

impl Placement {
    /// The schema's name for it.
    pub fn as_str(self) -> &'static str {
        PLACEMENTS[self as usize]
    }
}

/// Corner of the viewport a bubble sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    /// Default.
    BottomRight,
    /// Bottom left.
    BottomLeft,
    /// Top right.
    TopRight,
    /// Top left.
    TopLeft,
}

impl Corner {
    /// The schema's name for it.
    pub fn as_str(self) -> &'static str {
        CORNERS[self as usize]
    }
}

/// What a tooltip does when its target does not appear in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTargetMissing {
    /// End the flow (reason `tooltip_target_missing`); the default.
    End,
    /// Show the step as a bottom-right bubble instead.
    Bubble,
}

/// A piece of step content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A heading; plain text with `{{attribute | default}}` interpolation.
    Title(String),
    /// Body text in the safe Markdown subset, with interpolation.
    Text(String),
    /// An image.
    Image {
        /// Vetted URL (http, https or relative).
        src: String,
        /// Alternative text (default empty).
        alt: String,
    },
    /// A button.
    Button {
        /// Its label, with interpolation.
        label: String,
        /// What clicking it does.
        action: Action,
        /// Styled as the main call to action (default false).
        primary: bool,
    },
}

/// A trigger: when the condition happens while the step is shown, run the action
/// (each trigger fires at most once per visit of the step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// The condition.
    pub when: Condition,
    /// The action.
    pub action: Action,
}

/// A trigger's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The user clicked the tooltip's target (tooltip steps only).
    TargetClicked,
    /// An element matching the selector appeared in the page.
    ElementAppears(String),
    /// The URL changed to one whose path and search match the glob.
    UrlMatches(String),
    /// The app tracked this event.
    EventTracked(String),
    /// This many milliseconds passed since the step was shown (`seconds` × 1000).
    Wait(u64),
}

/// What a button or trigger does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The next step; on the last step, complete the flow.
    Next,
    /// The previous step (by position); nothing on the first.
    Back,
    /// The step with this id in the same flow.
    GoToStep(String),
    /// End the flow (completes it on the last step).
    End,
    /// End this flow (`replaced`) and start the flow with this id (`action`).
    StartFlow(String),
    /// Navigate to this vetted URL; the flow stays on its step.
    Navigate(String),
    /// Track this custom event; the flow stays on its step.
    Track(String),
}

/// Refuses content of `len` bytes of JSON over [`MAX_CONTENT_BYTES`] (the
/// shell asks before it copies the text in).
pub fn check_size(len: usize) -> Result<(), Error> {
    if len > MAX_CONTENT_BYTES {
        let mut m = String::from("content is ");
        push_usize(len, &mut m);
        m.push_str(" bytes of JSON; at most ");
        push_usize(MAX_CONTENT_BYTES, &mut m);
        m.push_str(" are accepted");
        return Err(Error::invalid(m));
    }
    Ok(())
}

/// The ids of the flows and checklists loaded before a document: it may name
/// them (a `start_flow`, a condition), and may not give one of them to content
/// of the other kind (`start(id)` takes both); the same kind again is an update.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Flow ids.
    pub flows: Vec<String>,
    /// Checklist ids.
    pub checklists: Vec<String>,
}

/// Parses and validates a content document (JSON text) on its own.
pub fn parse_content(text: &str) -> Result<Content, Error> {
    parse_content_with(text, &Loaded::default())
}

/// Parses and validates a content document (JSON text) that adds to `loaded`.
pub fn parse_content_with(text: &str, loaded: &Loaded) -> Result<Content, Error> {
    check_size(text.len())?;
    match json::parse(text) {
        Ok(v) => from_json(&v, loaded),
        Err(e) => {
            let mut m = String::from("content is not valid JSON (at byte ");
            push_usize(e.offset, &mut m);
            m.push(')');
            Err(Error::invalid(m))
        }
    }
}

/// Validates a parsed content document and converts it.
pub fn from_json(v: &Json, loaded: &Loaded) -> Result<Content, Error> {
    let root = Obj::new(v, "")?;
    root.keys(&["$schema", "version", "flows", "checklists"])?;
    if let Some(s) = root.get("$schema") {
        if s.as_str().is_none() {
            return Err(err(&child("", "$schema"), "expected a string"));
        }
    }
    let version = root.u64_req("version")?;
    if version != SCHEMA_VERSION {
        return Err(err("version", "unsupported schema version (expected 1)"));
    }
    let flows_json = root.arr_opt("flows")?;
    // Every flow id, for `start_flow` references (validated individually below):
    // the document's and those loaded before.
    // (Loops, not iterator adapters: measured smaller in the wasm.)
    let mut flow_ids: Vec<&str> = Vec::new();
    for f in flows_json {
        if let Some(id) = f.get("id").and_then(Json::as_str) {
            flow_ids.push(id);
        }
    }
    for id in &loaded.flows {
        flow_ids.push(id);
    }
    let mut flows: Vec<Flow> = Vec::with_capacity(flows_json.len());
    for (i, f) in flows_json.iter().enumerate() {
        let path = index("flows", i);
        let flow = parse_flow(f, &path, &flow_ids)?;
        if flows.iter().any(|g| g.id == flow.id) {
            return Err(err(&child(&path, "id"), "duplicate flow id"));
        }
        if loaded.checklists.contains(&flow.id) {
            return Err(err(
                &child(&path, "id"),
                "a checklist has this id (start(id) takes both: ids must be unique across flows and checklists)",
            ));
        }
        flows.push(flow);
    }
    let mut checklists: Vec<Checklist> = Vec::new();
    for (i, c) in root.arr_opt("checklists")?.iter().enumerate() {
        let path = index("checklists", i);
        let checklist = parse_checklist(c, &path, &flow_ids)?;
        if checklists.iter().any(|g| g.id == checklist.id) {
            return Err(err(&child(&path, "id"), "duplicate checklist id"));
        }
        if flow_ids.contains(&checklist.id.as_str()) {
            return Err(err(
                &child(&path, "id"),
                "a flow has this id (start(id) takes both: ids must be unique across flows and checklists)",
            ));
        }
        checklists.push(checklist);
    }
    // Content conditions name flows and checklists of this document or loaded before.
    let mut owners: Vec<(String, Vec<&Cond>)> = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        owners.push((index("flows", i), f.start.conditions.iter().collect()));
    }
    for (i, c) in checklists.iter().enumerate() {
        let mut all: Vec<&Cond> = c.start.conditions.iter().collect();
        for t in &c.tasks {
            all.extend(t.conditions.iter());
        }
        owners.push((index("checklists", i), all));
    }
    for (path, conditions) in owners {
        let mut refs = Vec::new();
        for s in conditions {
            s.content_refs(&mut refs);
        }
        for (kind, id) in refs {
            let known = match kind {
                ContentKind::Flow => flow_ids.contains(&id),
                ContentKind::Checklist => {
                    checklists.iter().any(|x| x.id == id)
                        || loaded.checklists.iter().any(|x| x == id)
                }
            };
            if !known {
                let mut m = String::from("a condition names ");
                m.push_str(match kind {
                    ContentKind::Flow => "flow ",
                    ContentKind::Checklist => "checklist ",
                });
                json::write_string(id, &mut m);
                m.push_str(", which is not in the document nor loaded before");
                return Err(err(&path, &m));
            }
        }
    }
    Ok(Content { flows, checklists })
}

fn parse_flow(v: &Json, path: &str, flow_ids: &[&str]) -> Result<Flow, Error> {
    let o = Obj::new(v, path)?;
    o.keys(&[
        "id",
        "name",
        "version_id",
        "version_number",
        "show_progress",
        "dismissible",
        "start",
        "repeat",
        "frequency",
        "priority",
        "start_delay_seconds",
        "steps",
    ])?;
    let id = o.id("id")?;
    let name = o.str_req("name")?.to_string();
    let version_id = o.str_opt("version_id")?.map(str::to_string);
    let version_number = o.u64_opt("version_number", u64::MAX)?;
    let show_progress = o.bool_opt("show_progress", false)?;
    let dismissible = o.bool_opt("dismissible", true)?;
    let start = parse_start_rules(&o, true)?;
    let steps_json = o.arr_req("steps")?;
    let steps_path = child(path, "steps");
    if steps_json.is_empty() {
        return Err(err(&steps_path, "a flow needs at least one step"));
    }
    let step_ids: Vec<&str> = steps_json
        .iter()
        .filter_map(|s| s.get("id").and_then(Json::as_str))
        .collect();
    let refs = Refs {
        flows: flow_ids,
        steps: &step_ids,
    };
    let mut steps: Vec<Step> = Vec::with_capacity(steps_json.len());
    for (i, s) in steps_json.iter().enumerate() {
        let p = index(&steps_path, i);
        let step = parse_step(s, &p, &refs)?;
        if steps.iter().any(|t| t.id == step.id) {
            return Err(err(&child(&p, "id"), "duplicate step id in this flow"));
        }
        steps.push(step);
    }
    Ok(Flow {
        id,
        name,
        version_id,
        version_number,
        show_progress,
        dismissible,
        start,
        steps,
    })
}

/// Ids references may point to.
struct Refs<'a> {
    flows: &'a [&'a str],
    steps: &'a [&'a str],
}

fn parse_step(v: &Json, path: &str, refs: &Refs) -> Result<Step, Error> {
    let o = Obj::new(v, path)?;
    let ty = o.one_of("type", STEP_TYPES)?;
    const COMMON: [&str; 5] = ["id", "name", "type", "blocks", "triggers"];
    const TOOLTIP: [&str; 9] = [
        "id",
        "name",
        "type",
        "blocks",
        "triggers",
        "target",
        "placement",
        "target_timeout_ms",
        "on_target_missing",
    ];
    const BUBBLE: [&str; 6] = ["id", "name", "type", "blocks", "triggers", "corner"];
    let kind = match ty {
        0 => {
            o.keys_for_type(&COMMON, "modal")?;
            StepKind::Modal
        }
        1 => {
            o.keys_for_type(&TOOLTIP, "tooltip")?;
            let target = o.nonempty("target")?;
            let placement = match o.one_of_opt("placement", PLACEMENTS)? {
                Some(0) => Placement::Top,
                None | Some(1) => Placement::Bottom,
                Some(2) => Placement::Left,
                Some(_) => Placement::Right,
            };
            let target_timeout_ms = o
                .u64_opt("target_timeout_ms", MAX_DURATION_MS)?
                .unwrap_or(DEFAULT_TARGET_TIMEOUT_MS);
            let on_target_missing = match o.one_of_opt("on_target_missing", ON_TARGET_MISSING)? {
                Some(1) => OnTargetMissing::Bubble,
                _ => OnTargetMissing::End,
            };
            StepKind::Tooltip(Tooltip {
                target,
                placement,
                target_timeout_ms,
                on_target_missing,
            })
        }
        2 => {
            o.keys_for_type(&BUBBLE, "bubble")?;
            StepKind::Bubble(match o.one_of_opt("corner", CORNERS)? {
                None | Some(0) => Corner::BottomRight,
                Some(1) => Corner::BottomLeft,
                Some(2) => Corner::TopRight,
                Some(_) => Corner::TopLeft,
            })
        }
        _ => {
            o.keys_for_type(&COMMON, "hidden")?;
            StepKind::Hidden
        }
    };
    let id = o.id("id")?;
    let name = o.str_opt("name")?.map(str::to_string);
    let blocks_json = o.arr_opt("blocks")?;
    if matches!(kind, StepKind::Hidden) && !blocks_json.is_empty() {
        return Err(err(
            &child(path, "blocks"),
            "hidden steps show nothing; remove the blocks or change the type",
        ));
    }
    let mut blocks = Vec::with_capacity(blocks_json.len());
    for (i, b) in blocks_json.iter().enumerate() {
        blocks.push(parse_block(b, &index(&child(path, "blocks"), i), refs)?);
    }
    let mut triggers = Vec::new();
    for (i, t) in o.arr_opt("triggers")?.iter().enumerate() {
        let p = index(&child(path, "triggers"), i);
        let trigger = parse_trigger(t, &p, refs)?;
        if trigger.when == Condition::TargetClicked && !matches!(kind, StepKind::Tooltip(_)) {
            return Err(err(
                &child(&child(&p, "when"), "type"),
                "target_clicked needs a tooltip step (it watches the step's target)",
            ));
        }
        triggers.push(trigger);
    }
    Ok(Step {
        id,
        name,
        kind,
        blocks,
        triggers,
    })
}

fn parse_block(v: &Json, path: &str, refs: &Refs) -> Result<Block, Error> {
    let o = Obj::new(v, path)?;
    Ok(match o.one_of("type", BLOCK_TYPES)? {
        0 => {
            o.keys_for_type(&["type", "text"], "title")?;
            Block::Title(o.str_req("text")?.to_string())
        }
        1 => {
            o.keys_for_type(&["type", "markdown"], "text")?;
            Block::Text(o.str_req("markdown")?.to_string())
        }
        2 => {
            o.keys_for_type(&["type", "src", "alt"], "image")?;
            Block::Image {
                src: o.url("src")?,
                alt: o.str_opt("alt")?.unwrap_or("").to_string(),
            }
        }
        _ => {
            o.keys_for_type(&["type", "label", "action", "primary"], "button")?;
            Block::Button {
                label: o.nonempty("label")?,
                action: parse_action(o.req("action")?, &child(path, "action"), refs)?,
                primary: o.bool_opt("primary", false)?,
            }
        }
    })
}

fn parse_trigger(v: &Json, path: &str, refs: &Refs) -> Result<Trigger, Error> {
    let o = Obj::new(v, path)?;
    o.keys(&["when", "action"])?;
    let when_path = child(path, "when");
    let w = Obj::new(o.req("when")?, &when_path)?;
    let when = match w.one_of("type", CONDITION_TYPES)? {
        0 => {
            w.keys_for_type(&["type"], "target_clicked")?;
            Condition::TargetClicked
        }
        1 => {
            w.keys_for_type(&["type", "selector"], "element_appears")?;
            Condition::ElementAppears(w.nonempty("selector")?)
        }
        2 => {
            w.keys_for_type(&["type", "pattern"], "url_matches")?;
            Condition::UrlMatches(w.nonempty("pattern")?)
        }
        3 => {
            w.keys_for_type(&["type", "event"], "event_tracked")?;
            Condition::EventTracked(w.nonempty("event")?)
        }
        _ => {
            w.keys_for_type(&["type", "seconds"], "wait")?;
            let p = child(&when_path, "seconds");
            let secs = match w.req("seconds")? {
                Json::Number(n) => n.to_f64(),
                _ => return Err(err(&p, "expected a number")),
            };
            if !(0.0..=(MAX_DURATION_MS / 1000) as f64).contains(&secs) {
                return Err(err(&p, "expected a number of seconds from 0 to 86400"));
            }
            Condition::Wait(float::round(secs * 1000.0) as u64)
        }
    };
    let action = parse_action(o.req("action")?, &child(path, "action"), refs)?;
    Ok(Trigger { when, action })
}

fn parse_action(v: &Json, path: &str, refs: &Refs) -> Result<Action, Error> {
    let o = Obj::new(v, path)?;
    Ok(match o.one_of("type", ACTION_TYPES)? {
        0 => {
            o.keys_for_type(&["type"], "next")?;
            Action::Next
        }
        1 => {
            o.keys_for_type(&["type"], "back")?;
            Action::Back
        }
        2 => {
            o.keys_for_type(&["type", "step"], "go_to_step")?;
            let step = o.nonempty("step")?;
            if !refs.steps.contains(&step.as_str()) {
                return Err(err(
                    &child(path, "step"),
                    "no step with this id in the flow",
                ));
            }
            Action::GoToStep(step)
        }
        3 => {
            o.keys_for_type(&["type"], "end")?;
            Action::End
        }
        4 => {
            o.keys_for_type(&["type", "flow"], "start_flow")?;
            let flow = o.nonempty("flow")?;
            if !refs.flows.contains(&flow.as_str()) {
                return Err(err(
                    &child(path, "flow"),
                    "no flow with this id in the document nor loaded before",
                ));
            }
            Action::StartFlow(flow)
        }
        5 => {
            o.keys_for_type(&["type", "url"], "navigate")?;
            Action::Navigate(o.url("url")?)
        }
        _ => {
            o.keys_for_type(&["type", "event"], "track")?;
            Action::Track(o.nonempty("event")?)
        }
    })
}

/// `parent.key` (or `key` at the root).
pub(super) fn child(parent: &str, key: &str) -> String {
    let mut s = String::with_capacity(parent.len() + key.len() + 1);
    s.push_str(parent);
    if !parent.is_empty() {
        s.push('.');
    }
    s.push_str(key);
    s
}

/// `parent[i]`.
pub(super) fn index(parent: &str, i: usize) -> String {
    let mut s = String::with_capacity(parent.len() + 4);
    s.push_str(parent);
    s.push('[');
    push_usize(i, &mut s);
    s.push(']');
    s
}

/// `path: message` as an `invalid_argument` error.
pub(super) fn err(path: &str, message: &str) -> Error {
    let mut m = String::with_capacity(path.len() + message.len() + 2);
    m.push_str(if path.is_empty() { "content" } else { path });
    m.push_str(": ");
    m.push_str(message);
    Error::invalid(m)
}

/// `a, b, c`.
fn join(items: &[&str]) -> String {
    let mut s = String::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(it);
    }
    s
}

/// An object being converted, with its path for error messages.
pub(super) struct Obj<'a> {
    fields: &'a [(String, Json)],
    path: &'a str,
}

impl<'a> Obj<'a> {
    pub(super) fn new(v: &'a Json, path: &'a str) -> Result<Self, Error> {
        match v {
            Json::Object(fields) => Ok(Obj { fields, path }),
            _ => Err(err(path, "expected an object")),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Json> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(super) fn p(&self, key: &str) -> String {
        child(self.path, key)
    }

    /// Rejects fields not in `allowed`.
    pub(super) fn keys(&self, allowed: &[&str]) -> Result<(), Error> {
        for (k, _) in self.fields {
            if !allowed.contains(&k.as_str()) {
                let mut m = String::from("unknown field (expected one of ");
                m.push_str(&join(allowed));
                m.push(')');
                return Err(err(&self.p(k), &m));
            }
        }
        Ok(())
    }

    /// Rejects fields not in `allowed`, naming the `type` that does not take them.
    pub(super) fn keys_for_type(&self, allowed: &[&str], ty: &str) -> Result<(), Error> {
        for (k, _) in self.fields {
            if !allowed.contains(&k.as_str()) {
                let mut m = String::from("not allowed for type ");
                m.push_str(ty);
                m.push_str(" (allowed: ");
                m.push_str(&join(allowed));
                m.push(')');
                return Err(err(&self.p(k), &m));
            }
        }
        Ok(())
    }

    pub(super) fn req(&self, key: &str) -> Result<&'a Json, Error> {
        self.get(key).ok_or_else(|| err(&self.p(key), "required"))
    }

    pub(super) fn str_req(&self, key: &str) -> Result<&'a str, Error> {
        let s = self
            .req(key)?
            .as_str()
            .ok_or_else(|| err(&self.p(key), "expected a string"))?;
        self.short(key, s)
    }

    pub(super) fn str_opt(&self, key: &str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .ok_or_else(|| err(&self.p(key), "expected a string"))
                .and_then(|s| self.short(key, s))
                .map(Some),
        }
    }

    /// `s` if it is at most [`MAX_STRING_BYTES`] long.
    pub(super) fn short(&self, key: &str, s: &'a str) -> Result<&'a str, Error> {
        if s.len() > MAX_STRING_BYTES {
            let mut m = String::from("longer than ");
            push_usize(MAX_STRING_BYTES, &mut m);
            m.push_str(" bytes");
            return Err(err(&self.p(key), &m));
        }
        Ok(s)
    }

    /// A required string that is not empty or blank.
    pub(super) fn nonempty(&self, key: &str) -> Result<String, Error> {
        let s = self.str_req(key)?;
        if s.trim().is_empty() {
            return Err(err(&self.p(key), "must not be empty"));
        }
        Ok(s.to_string())
    }

    /// An id: non-empty, no surrounding whitespace.
    pub(super) fn id(&self, key: &str) -> Result<String, Error> {
        let s = self.nonempty(key)?;
        if s.trim() != s {
            return Err(err(&self.p(key), "must not start or end with whitespace"));
        }
        Ok(s)
    }

    /// A URL that [`safe_url`] accepts, cleaned.
    pub(super) fn url(&self, key: &str) -> Result<String, Error> {
        safe_url(self.str_req(key)?).ok_or_else(|| {
            err(
                &self.p(key),
                "only http(s) and relative URLs are allowed (no javascript:, data: or other schemes)",
            )
        })
    }

    pub(super) fn bool_opt(&self, key: &str, default: bool) -> Result<bool, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(err(&self.p(key), "expected true or false")),
        }
    }

    /// An optional whole number from 0 to `max`.
    pub(super) fn u64_opt(&self, key: &str, max: u64) -> Result<Option<u64>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = match v {
            Json::Number(n) => n.to_f64(),
            _ => f64::NAN,
        };
        if n.is_finite() && n >= 0.0 && float::fract(n) == 0.0 && n <= max as f64 && n < 9.0e15 {
            Ok(Some(n as u64))
        } else {
            let mut m = String::from("expected a whole number from 0 to ");
            crate::core::json::push_u64(max.min(9_000_000_000_000_000), &mut m);
            Err(err(&self.p(key), &m))
        }
    }

    pub(super) fn u64_req(&self, key: &str) -> Result<u64, Error> {
        self.req(key)?;
        self.u64_opt(key, u64::MAX).map(|n| n.unwrap_or_default())
    }

    pub(super) fn arr_req(&self, key: &str) -> Result<&'a [Json], Error> {
        match self.req(key)? {
            Json::Array(items) => Ok(items),
            _ => Err(err(&self.p(key), "expected an array")),
        }
    }

    pub(super) fn arr_opt(&self, key: &str) -> Result<&'a [Json], Error> {
        match self.get(key) {
            None => Ok(&[]),
            Some(_) => self.arr_req(key),
        }
    }

    /// The position in `allowed` of the required string field `key`.
    pub(super) fn one_of(&self, key: &str, allowed: &[&str]) -> Result<usize, Error> {
        self.req(key)?;
        self.one_of_opt(key, allowed)?
            .ok_or_else(|| err(&self.p(key), "required"))
    }

    /// The position in `allowed` of the optional string field `key`.
    pub(super) fn one_of_opt(&self, key: &str, allowed: &[&str]) -> Result<Option<usize>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v
            .as_str()
            .and_then(|s| allowed.iter().position(|a| *a == s))
        {
            Some(i) => Ok(Some(i)),
            None => {
                let mut m = String::from("expected one of ");
                m.push_str(&join(allowed));
                Err(err(&self.p(key), &m))
            }
        }
    }
}
