//! Checklists: their model (parsed from the `checklists` of a content document)
//! and their state machine, sans-IO like the flow engine: fed with
//! [`ChecklistInput`]s and the page's [`Facts`], it returns [`ChecklistOutput`]s.
//!
//! # Rules
//! - At most one checklist is active (shown as a launcher or an open panel) at a
//!   time; it may be shown beside an active flow. Starting another one ends the
//!   active one with reason `replaced`.
//! - A checklist starts by `start(id)` (reason `program`), or by its start
//!   conditions (reason `condition`) when the facts change
//!   ([`ChecklistEngine::refresh`]) and no checklist is active, with priority,
//!   frequency and delay as [`super::start`] describes.
//! - Every started run emits `checklist_started` once and `checklist_ended` once
//!   (reasons: `user_closed` when dismissed, `completed` when it dismisses itself
//!   once complete, `program` for `endChecklist()`, `replaced`,
//!   `content_not_found` when a resumed checklist is no longer in the content).
//! - Opening the panel emits `checklist_shown`, collapsing it `checklist_hidden`
//!   (a run resumed after a reload with its panel open emits `checklist_shown`
//!   again, as a flow's step emits `flow_step_seen` again).
//! - A task completes when clicked (if `complete_when` has `{"clicked": true}`,
//!   or has no conditions at all) or when any of its conditions holds, checked at
//!   every refresh while its checklist is active. With `completion_order:
//!   "ordered"`, a task is blocked until every task before it is done: clicking
//!   it does nothing and it does not complete. A completed task stays completed
//!   (`checklist_task_completed` once per task and user); when the last one
//!   completes, `checklist_completed` follows (once), and with
//!   `dismiss_when_complete` the checklist ends with reason `completed`.
//! - After every change of the per-user state, the outputs end with
//!   [`ChecklistOutput::Persist`].

#[allow(unused_imports)]
use crate::prelude::*;

use super::conditions::{parse_condition, Condition, Facts};
use super::markdown::{interpolate, render, Node};
use super::model::{child, err, index, Corner, Obj};
use super::start::{parse_start_rules, AutoStart, Candidate, Decision, StartRules};
pub use super::start::{Frequency, FREQUENCIES};
use crate::core::catalog::{EventKind, GeneratedEvent};
use crate::core::error::Error;
use crate::core::json::{self, Json, Number};

/// The fields a checklist may have.
const CHECKLIST_KEYS: &[&str] = &[
    "id",
    "name",
    "version_id",
    "version_number",
    "title",
    "text",
    "tasks",
    "start",
    "frequency",
    "priority",
    "start_delay_seconds",
    "initial_display",
    "completion_order",
    "dismissible",
    "dismiss_when_complete",
    "corner",
];
/// The fields a task may have.
const TASK_KEYS: &[&str] = &["id", "name", "description", "action", "complete_when"];
/// `initial_display` values.
pub const INITIAL_DISPLAYS: &[&str] = &["expanded", "collapsed"];
/// `completion_order` values.
pub const COMPLETION_ORDERS: &[&str] = &["any", "ordered"];
/// Task action types.
pub const TASK_ACTIONS: &[&str] = &["none", "start_flow", "navigate", "track"];
/// The most tasks a checklist may have.
pub const MAX_TASKS: usize = 50;

/// A checklist from the content document.
#[derive(Clone, Debug, PartialEq)]
pub struct Checklist {
    /// What `start(id)` takes.
    pub id: String,
    /// Events' `checklist_name`.
    pub name: String,
    /// Events' `checklist_version_id`.
    pub version_id: Option<String>,
    /// Events' `checklist_version_number`.
    pub version_number: Option<u64>,
    /// The panel's heading (plain text with interpolation); defaults to `name`.
    pub title: Option<String>,
    /// Safe Markdown under the heading.
    pub text: Option<String>,
    /// The tasks, in order.
    pub tasks: Vec<Task>,
    /// How it starts by itself (`start`, `frequency`, `priority`,
    /// `start_delay_seconds`; see [`super::start`]).
    pub start: StartRules,
    /// Open the panel when it starts (else only the launcher shows).
    pub expanded: bool,
    /// Tasks must be done in order.
    pub ordered: bool,
    /// The user may dismiss it.
    pub dismissible: bool,
    /// It ends itself once every task is done.
    pub dismiss_when_complete: bool,
    /// Where the launcher and panel sit.
    pub corner: Corner,
}

/// One task of a checklist.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Unique within the checklist.
    pub id: String,
    /// Its label (plain text with interpolation); events' `checklist_task_name`.
    pub name: String,
    /// Safe Markdown under the label.
    pub description: Option<String>,
    /// What clicking it does.
    pub action: TaskAction,
    /// It completes when clicked.
    pub on_click: bool,
    /// It completes when any of these holds.
    pub conditions: Vec<Condition>,
}

/// What clicking a task does (besides completing it when it completes on click).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskAction {
    /// Nothing else.
    None,
    /// Starts this flow (which must be in the document).
    StartFlow(String),
    /// Navigates to this vetted URL.
    Navigate(String),
    /// Tracks this event.
    Track(String),
}

/// Parses `checklists[i]` at `path`; `flow_ids` are the document's flows and
/// those loaded before (for `start_flow` actions).
pub fn parse_checklist(v: &Json, path: &str, flow_ids: &[&str]) -> Result<Checklist, Error> {
    let o = Obj::new(v, path)?;
    o.keys(CHECKLIST_KEYS)?;
    let id = o.id("id")?;
    let name = o.nonempty("name")?;
    let tasks_json = o.arr_req("tasks")?;
    if tasks_json.is_empty() {
        return Err(err(&o.p("tasks"), "a checklist needs at least one task"));
    }
    if tasks_json.len() > MAX_TASKS {
        let mut m = String::from("at most ");
        crate::core::json::push_u64(MAX_TASKS as u64, &mut m);
        m.push_str(" tasks");
        return Err(err(&o.p("tasks"), &m));
    }
    let tasks_path = o.p("tasks");
    let mut tasks: Vec<Task> = Vec::with_capacity(tasks_json.len());
    for (i, t) in tasks_json.iter().enumerate() {
        let task = parse_task(t, &index(&tasks_path, i), flow_ids)?;
        if tasks.iter().any(|x| x.id == task.id) {
            return Err(err(
                &child(&index(&tasks_path, i), "id"),
                "duplicate task id in this checklist",
            ));
        }
        tasks.push(task);
    }
    let start = parse_start_rules(&o, false)?;
    let corner = match o.one_of_opt("corner", super::model::CORNERS)? {
        Some(1) => Corner::BottomLeft,
        Some(2) => Corner::TopRight,
        Some(3) => Corner::TopLeft,
        _ => Corner::BottomRight,
    };
    Ok(Checklist {
        id,
        name,
        version_id: o.str_opt("version_id")?.map(str::to_string),
        version_number: o.u64_opt("version_number", 9_000_000_000_000_000)?,
        title: o.str_opt("title")?.map(str::to_string),
        text: o.str_opt("text")?.map(str::to_string),
        tasks,
        start,
        expanded: o.one_of_opt("initial_display", INITIAL_DISPLAYS)? != Some(1),
        ordered: o.one_of_opt("completion_order", COMPLETION_ORDERS)? == Some(1),
        dismissible: o.bool_opt("dismissible", true)?,
        dismiss_when_complete: o.bool_opt("dismiss_when_complete", false)?,
        corner,
    })
}

fn parse_task(v: &Json, path: &str, flow_ids: &[&str]) -> Result<Task, Error> {
    let o = Obj::new(v, path)?;
    o.keys(TASK_KEYS)?;
    let id = o.id("id")?;
    let name = o.nonempty("name")?;
    let action = match o.get("action") {
        None => TaskAction::None,
        Some(a) => parse_task_action(a, &o.p("action"), flow_ids)?,
    };
    let mut on_click = false;
    let mut conditions = Vec::new();
    let cw_path = o.p("complete_when");
    for (i, c) in o.arr_opt("complete_when")?.iter().enumerate() {
        let p = index(&cw_path, i);
        if c.get("clicked").is_some() {
            let co = Obj::new(c, &p)?;
            co.keys(&["clicked"])?;
            if !co.bool_opt("clicked", false)? {
                return Err(err(&co.p("clicked"), "expected true"));
            }
            on_click = true;
        } else {
            conditions.push(parse_condition(c, &p)?);
        }
    }
    if o.get("complete_when").is_none() {
        on_click = true;
    } else if !on_click && conditions.is_empty() {
        return Err(err(
            &cw_path,
            "needs at least one condition (or leave it out: the task completes when clicked)",
        ));
    }
    Ok(Task {
        id,
        name,
        description: o.str_opt("description")?.map(str::to_string),
        action,
        on_click,
        conditions,
    })
}

fn parse_task_action(v: &Json, path: &str, flow_ids: &[&str]) -> Result<TaskAction, Error> {
    let o = Obj::new(v, path)?;
    Ok(match o.one_of("type", TASK_ACTIONS)? {
        0 => {
            o.keys_for_type(&["type"], "none")?;
            TaskAction::None
        }
        1 => {
            o.keys_for_type(&["type", "flow"], "start_flow")?;
            let flow = o.id("flow")?;
            if !flow_ids.contains(&flow.as_str()) {
                return Err(err(
                    &o.p("flow"),
                    "no flow with this id in the document nor loaded before",
                ));
            }
            TaskAction::StartFlow(flow)
        }
        2 => {
            o.keys_for_type(&["type", "url"], "navigate")?;
            TaskAction::Navigate(o.url("url")?)
        }
        _ => {
            o.keys_for_type(&["type", "event"], "track")?;
            TaskAction::Track(o.nonempty("event")?)
        }
    })
}

/// What the engine evaluates against for one call: the facts conditions look at
/// and the user's traits for `{{attribute}}` interpolation.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// What conditions look at.
    pub facts: &'a dyn Facts,
    /// The user's traits (a JSON object).
    pub traits: &'a Json,
}

/// Why a checklist started (`checklist_start_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecklistStartReason {
    /// `start(id)` from the page.
    Program,
    /// Its start conditions held.
    Condition,
    /// A flow's action started it.
    Action,
}

impl ChecklistStartReason {
    /// The reason as events carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecklistStartReason::Program => "program",
            ChecklistStartReason::Condition => "condition",
            ChecklistStartReason::Action => "action",
        }
    }
}

/// Why a checklist ended (`checklist_end_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecklistEndReason {
    /// The user dismissed it.
    UserClosed,
    /// It dismissed itself once complete.
    Completed,
    /// `endChecklist()`.
    Program,
    /// Another checklist started.
    Replaced,
    /// A resumed checklist is no longer in the content.
    ContentNotFound,
}

impl ChecklistEndReason {
    /// The reason as events carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecklistEndReason::UserClosed => "user_closed",
            ChecklistEndReason::Completed => "completed",
            ChecklistEndReason::Program => "program",
            ChecklistEndReason::Replaced => "replaced",
            ChecklistEndReason::ContentNotFound => "content_not_found",
        }
    }
}

/// Something the user did with the checklist widget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChecklistInput {
    /// The launcher was clicked, or the panel's collapse button: open or close the panel.
    Toggle,
    /// The dismiss button; ignored unless the checklist is dismissible.
    Dismiss,
    /// A task was clicked.
    TaskClicked {
        /// The task's id.
        task_id: String,
    },
    /// A timer set with [`ChecklistOutput::SetTimer`] elapsed.
    TimerFired {
        /// The timer's id.
        id: u64,
    },
}

/// Something for the shell to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ChecklistOutput {
    /// Render the widget, replacing what was shown.
    Show(ChecklistView),
    /// Remove the widget.
    Hide,
    /// Send this generated event (as the flow engine's `Emit`).
    Emit(GeneratedEvent),
    /// `checklist_shown`: send it as [`ChecklistOutput::Emit`] does, in its place,
    /// only if the widget can be put on screen (the [`ChecklistOutput::Show`] of
    /// this batch renders it); a page where it cannot be created (no shadow DOM,
    /// no `<body>`) reports nothing shown.
    Seen(GeneratedEvent),
    /// Start this flow (reason `action`).
    StartFlow(String),
    /// Navigate to this vetted URL.
    Navigate(String),
    /// Track this event as the app's `track()` would.
    Track(String),
    /// Report [`ChecklistInput::TimerFired`] with `id` after `ms`.
    SetTimer {
        /// Unique per engine.
        id: u64,
        /// Delay in milliseconds.
        ms: u64,
    },
    /// Store this text as the user's checklist state (`None`: remove it).
    Persist(Option<String>),
    /// Say this in the widget's live region (after the [`ChecklistOutput::Show`]
    /// it describes): the tasks that this update completed, however they
    /// completed (a click, a flow, an event, an attribute), and how many are
    /// left, so that a screen reader user hears what a sighted one sees tick.
    /// Also after the [`ChecklistOutput::Hide`] of a checklist that went because
    /// it is complete: the shell keeps the live region for it.
    Announce(String),
}

/// What the shell renders. All text is plain.
#[derive(Clone, Debug, PartialEq)]
pub struct ChecklistView {
    /// The checklist's id.
    pub id: String,
    /// The heading.
    pub title: String,
    /// The text under it.
    pub text: Vec<Node>,
    /// The tasks, in order.
    pub tasks: Vec<TaskView>,
    /// Tasks done.
    pub done: usize,
    /// The panel is open (else only the launcher shows).
    pub open: bool,
    /// Offer a dismiss button.
    pub dismissible: bool,
    /// Where it sits.
    pub corner: Corner,
}

/// One task as rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskView {
    /// What to report in [`ChecklistInput::TaskClicked`].
    pub id: String,
    /// The label.
    pub name: String,
    /// The description.
    pub description: Vec<Node>,
    /// Completed.
    pub done: bool,
    /// Blocked until earlier tasks are done (ordered checklists).
    pub blocked: bool,
}

/// `Done: A, B. 2 tasks left`: the tasks done in `now` that were not in `was`
/// (the same checklist's previous render), or `None` when there are none (a
/// first render, a reload, another checklist, a collapse).
fn announcement(now: &ChecklistView, was: &ChecklistView) -> Option<String> {
    if now.id != was.id {
        return None;
    }
    let mut said = String::from("Done: ");
    let mut any = false;
    for (t, before) in now.tasks.iter().zip(&was.tasks) {
        if t.done && !before.done && t.id == before.id {
            if any {
                said.push_str(", ");
            }
            said.push_str(&t.name);
            any = true;
        }
    }
    said.push_str(". ");
    push_tasks_left(now, &mut said);
    any.then_some(said)
}

/// `2 tasks left` (`1 task left`): the open tasks of `view`, in words, as the
/// launcher and the live region say them.
pub fn push_tasks_left(view: &ChecklistView, out: &mut String) {
    let left = view.tasks.len() - view.done.min(view.tasks.len());
    json::push_u64(left as u64, out);
    out.push_str(if left == 1 {
        " task left"
    } else {
        " tasks left"
    });
}

/// What is remembered of one checklist for one user.
#[derive(Clone, Debug, Default, PartialEq)]
struct Progress {
    id: String,
    /// Started at least once.
    started: bool,
    /// `checklist_completed` was emitted.
    completed: bool,
    /// Tasks done, in the order they completed.
    done: Vec<String>,
}

/// The active checklist.
#[derive(Clone, Debug)]
struct Active {
    id: String,
    open: bool,
}

/// The checklist state machine for one page and one user; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct ChecklistEngine {
    checklists: Vec<Checklist>,
    progress: Vec<Progress>,
    active: Option<Active>,
    /// Starting by start conditions.
    auto: AutoStart,
    /// What was last shown, to avoid re-rendering the same view.
    shown: Option<ChecklistView>,
}

impl ChecklistEngine {
    /// An engine with no content and no user state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The loaded checklists.
    pub fn checklists(&self) -> &[Checklist] {
        &self.checklists
    }

    /// The active checklist's id and whether its panel is open.
    pub fn active(&self) -> Option<(&str, bool)> {
        self.active.as_ref().map(|a| (a.id.as_str(), a.open))
    }

    /// Adds the ids of the loaded checklists to `out`.
    pub fn ids(&self, out: &mut Vec<String>) {
        for c in &self.checklists {
            out.push(c.id.clone());
        }
    }

    /// Whether checklist `id` has started for this user (`seen`), has completed
    /// and is active.
    pub fn status(&self, id: &str) -> (bool, bool, bool) {
        let p = self.progress.iter().find(|p| p.id == id);
        (
            p.is_some_and(|p| p.started),
            p.is_some_and(|p| p.completed),
            self.active.as_ref().is_some_and(|a| a.id == id),
        )
    }

    /// Whether task `task_id` of checklist `id` is done.
    pub fn is_done(&self, id: &str, task_id: &str) -> bool {
        self.progress
            .iter()
            .any(|p| p.id == id && p.done.iter().any(|t| t == task_id))
    }

    /// The per-user state as the text [`ChecklistOutput::Persist`] carries.
    pub fn state(&self) -> Option<String> {
        if self.progress.is_empty() && self.active.is_none() {
            return None;
        }
        let mut items = Vec::with_capacity(self.progress.len());
        for p in &self.progress {
            let done = p.done.iter().map(|t| Json::String(t.clone())).collect();
            items.push(Json::Object(vec![
                ("id".to_string(), Json::String(p.id.clone())),
                ("started".to_string(), Json::Bool(p.started)),
                ("completed".to_string(), Json::Bool(p.completed)),
                ("done".to_string(), Json::Array(done)),
            ]));
        }
        let mut fields = vec![
            ("v".to_string(), Json::Number(num(1))),
            ("checklists".to_string(), Json::Array(items)),
        ];
        if let Some(a) = &self.active {
            fields.push((
                "active".to_string(),
                Json::Object(vec![
                    ("id".to_string(), Json::String(a.id.clone())),
                    ("open".to_string(), Json::Bool(a.open)),
                ]),
            ));
        }
        Some(Json::Object(fields).to_json())
    }

    /// Adds the content's checklists, replacing loaded ones with the same id,
    /// then refreshes.
    pub fn load(&mut self, checklists: Vec<Checklist>, env: &Env) -> Vec<ChecklistOutput> {
        self.add(checklists);
        self.refresh(env)
    }

    /// Adds the content's checklists without looking at conditions yet (the
    /// shell restores the user's state first, which then refreshes).
    pub fn add(&mut self, checklists: Vec<Checklist>) {
        for c in checklists {
            match self.checklists.iter_mut().find(|x| x.id == c.id) {
                Some(slot) => *slot = c,
                None => self.checklists.push(c),
            }
        }
        self.shown = None;
    }

    /// Forgets the user (sign-out): hides the widget without events.
    pub fn reset(&mut self) -> Vec<ChecklistOutput> {
        let mut out = Vec::new();
        if self.active.take().is_some() || self.shown.is_some() {
            out.push(ChecklistOutput::Hide);
        }
        self.shown = None;
        self.progress.clear();
        self.auto.reset();
        out
    }

    /// Takes over a user's state (the text of their last `Persist`, `None` when
    /// nothing was stored). A stored active checklist is shown again, with
    /// `checklist_shown` if its panel was open; one no longer loaded ends with
    /// `content_not_found`. Unreadable state is discarded.
    pub fn restore(&mut self, state: Option<&str>, env: &Env) -> Vec<ChecklistOutput> {
        let before = state.map(str::to_string);
        let mut out = self.reset();
        let parsed = state
            .and_then(|s| json::parse(s).ok())
            .filter(|v| matches!(v.get("v"), Some(Json::Number(n)) if n.text() == "1"));
        let mut resumed = None;
        if let Some(v) = parsed {
            if let Some(Json::Array(items)) = v.get("checklists") {
                for it in items {
                    let Some(id) = it.get("id").and_then(Json::as_str) else {
                        continue;
                    };
                    if self.progress.iter().any(|p| p.id == id) {
                        continue;
                    }
                    let done = match it.get("done") {
                        Some(Json::Array(d)) => d
                            .iter()
                            .filter_map(Json::as_str)
                            .map(str::to_string)
                            .collect(),
                        _ => Vec::new(),
                    };
                    self.progress.push(Progress {
                        id: id.to_string(),
                        started: it.get("started") == Some(&Json::Bool(true)),
                        completed: it.get("completed") == Some(&Json::Bool(true)),
                        done,
                    });
                }
            }
            if let Some(a) = v.get("active") {
                if let Some(id) = a.get("id").and_then(Json::as_str) {
                    resumed = Some((id.to_string(), a.get("open") == Some(&Json::Bool(true))));
                }
            }
        }
        if let Some((id, open)) = resumed {
            if self.checklists.iter().any(|c| c.id == id) {
                self.active = Some(Active { id, open });
                if open {
                    if let Some(ev) = self.event(EventKind::ChecklistShown, None) {
                        out.push(ChecklistOutput::Seen(ev));
                    }
                }
            } else {
                let name = String::new();
                let ghost = Checklist {
                    id: id.clone(),
                    name,
                    version_id: None,
                    version_number: None,
                    title: None,
                    text: None,
                    tasks: Vec::new(),
                    start: StartRules::default(),
                    expanded: false,
                    ordered: false,
                    dismissible: true,
                    dismiss_when_complete: false,
                    corner: Corner::BottomRight,
                };
                let mut ev = checklist_event(EventKind::ChecklistEnded, &ghost);
                ev.attrs.push((
                    "checklist_end_reason",
                    Json::String(ChecklistEndReason::ContentNotFound.as_str().to_string()),
                ));
                out.push(ChecklistOutput::Emit(ev));
            }
        }
        self.settle(env, &mut out);
        self.persist(before, &mut out);
        out
    }

    /// Starts checklist `id` (`start(id, {once})` uses reason `program`).
    /// Unknown id: an `invalid_argument` error starting with `content_not_found`.
    /// With `once`, a checklist the user has started before is not started again.
    /// The active checklist (even the same one) ends with `replaced` first.
    pub fn start(
        &mut self,
        id: &str,
        reason: ChecklistStartReason,
        once: bool,
        env: &Env,
    ) -> Result<Vec<ChecklistOutput>, Error> {
        if !self.checklists.iter().any(|c| c.id == id) {
            let mut m = String::from("content_not_found: no checklist with id ");
            json::write_string(id, &mut m);
            m.push_str(" is loaded");
            return Err(Error::invalid(m));
        }
        let mut out = Vec::new();
        if once && self.status(id).0 {
            return Ok(out);
        }
        let before = self.state();
        self.begin(id, reason, &mut out);
        self.settle(env, &mut out);
        self.persist(before, &mut out);
        Ok(out)
    }

    /// Ends the active checklist, if any, with `reason` (`endChecklist()` uses
    /// [`ChecklistEndReason::Program`]).
    pub fn end(&mut self, reason: ChecklistEndReason, env: &Env) -> Vec<ChecklistOutput> {
        let before = self.state();
        let mut out = Vec::new();
        self.finish(reason, &mut out);
        self.settle(env, &mut out);
        self.persist(before, &mut out);
        out
    }

    /// Handles one input from the widget; inputs that do not apply (a task of
    /// another checklist, a stale timer) do nothing.
    pub fn handle(&mut self, input: ChecklistInput, env: &Env) -> Vec<ChecklistOutput> {
        let before = self.state();
        let mut out = Vec::new();
        match input {
            ChecklistInput::Toggle => {
                if let Some(a) = self.active.as_mut() {
                    a.open = !a.open;
                    let kind = if a.open {
                        EventKind::ChecklistShown
                    } else {
                        EventKind::ChecklistHidden
                    };
                    let open = a.open;
                    if let Some(ev) = self.event(kind, None) {
                        out.push(if open {
                            ChecklistOutput::Seen(ev)
                        } else {
                            ChecklistOutput::Emit(ev)
                        });
                    }
                }
            }
            ChecklistInput::Dismiss => {
                if self.current().is_some_and(|c| c.dismissible) {
                    self.finish(ChecklistEndReason::UserClosed, &mut out);
                }
            }
            ChecklistInput::TaskClicked { task_id } => self.click(&task_id, &mut out),
            ChecklistInput::TimerFired { id } => {
                // The settling below starts it if its conditions still hold.
                self.auto.timer_fired(id);
            }
        }
        self.settle(env, &mut out);
        self.persist(before, &mut out);
        out
    }

    /// Re-evaluates with the current facts (after identity, attributes, the URL,
    /// events, element presence or content history changed): completes the
    /// active checklist's tasks whose conditions hold, and starts a checklist
    /// whose start conditions hold when none is active.
    pub fn refresh(&mut self, env: &Env) -> Vec<ChecklistOutput> {
        let before = self.state();
        let mut out = Vec::new();
        self.settle(env, &mut out);
        self.persist(before, &mut out);
        out
    }

    /// Every selector that element conditions of loaded checklists watch.
    pub fn selectors(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for c in &self.checklists {
            for s in &c.start.conditions {
                s.selectors(&mut out);
            }
            for t in &c.tasks {
                for s in &t.conditions {
                    s.selectors(&mut out);
                }
            }
        }
        super::dedup(&mut out);
        out
    }

    /// Whether an event condition of a loaded checklist names `event`: only
    /// those events are counted in the user's event log (so that an app that
    /// tracks a lot does not rewrite a large log on every call).
    pub fn counts(&self, event: &str) -> bool {
        let mut names = Vec::new();
        for c in &self.checklists {
            for s in &c.start.conditions {
                s.event_names(&mut names);
            }
            for t in &c.tasks {
                for s in &t.conditions {
                    s.event_names(&mut names);
                }
            }
        }
        names.contains(&event)
    }

    // ----- internals -----

    fn current(&self) -> Option<&Checklist> {
        let a = self.active.as_ref()?;
        self.checklists.iter().find(|c| c.id == a.id)
    }

    fn progress_mut(&mut self, id: &str) -> Option<&mut Progress> {
        // Found again after the push (rather than indexed): no bounds-check panic path.
        if !self.progress.iter().any(|p| p.id == id) {
            self.progress.push(Progress {
                id: id.to_string(),
                ..Progress::default()
            });
        }
        self.progress.iter_mut().find(|p| p.id == id)
    }

    /// An event about the active checklist (with a task's attributes when given).
    fn event(&self, kind: EventKind, task: Option<&Task>) -> Option<GeneratedEvent> {
        let c = self.current()?;
        let mut ev = checklist_event(kind, c);
        if let Some(t) = task {
            ev.attrs
                .push(("checklist_task_id", Json::String(t.id.clone())));
            ev.attrs
                .push(("checklist_task_name", Json::String(t.name.clone())));
        }
        Some(ev)
    }

    fn begin(&mut self, id: &str, reason: ChecklistStartReason, out: &mut Vec<ChecklistOutput>) {
        self.finish(ChecklistEndReason::Replaced, out);
        let Some(c) = self.checklists.iter().find(|c| c.id == id) else {
            return;
        };
        let open = c.expanded;
        self.auto.started(id);
        if let Some(p) = self.progress_mut(id) {
            p.started = true;
        }
        self.active = Some(Active {
            id: id.to_string(),
            open,
        });
        if let Some(mut ev) = self.event(EventKind::ChecklistStarted, None) {
            ev.attrs.push((
                "checklist_start_reason",
                Json::String(reason.as_str().to_string()),
            ));
            out.push(ChecklistOutput::Emit(ev));
        }
        if open {
            if let Some(ev) = self.event(EventKind::ChecklistShown, None) {
                out.push(ChecklistOutput::Seen(ev));
            }
        }
    }

    fn finish(&mut self, reason: ChecklistEndReason, out: &mut Vec<ChecklistOutput>) {
        if self.active.is_none() {
            return;
        }
        if let Some(mut ev) = self.event(EventKind::ChecklistEnded, None) {
            ev.attrs.push((
                "checklist_end_reason",
                Json::String(reason.as_str().to_string()),
            ));
            out.push(ChecklistOutput::Emit(ev));
        }
        self.active = None;
    }

    /// Whether task `i` of `c` is blocked (ordered and an earlier task not done).
    fn blocked(&self, c: &Checklist, i: usize) -> bool {
        c.ordered && c.tasks.iter().take(i).any(|t| !self.is_done(&c.id, &t.id))
    }

    fn click(&mut self, task_id: &str, out: &mut Vec<ChecklistOutput>) {
        let Some(c) = self.current().cloned() else {
            return;
        };
        let Some(i) = c.tasks.iter().position(|t| t.id == task_id) else {
            return;
        };
        if self.blocked(&c, i) {
            return;
        }
        let Some(task) = c.tasks.get(i) else {
            return;
        };
        if let Some(ev) = self.event(EventKind::ChecklistTaskClicked, Some(task)) {
            out.push(ChecklistOutput::Emit(ev));
        }
        if task.on_click {
            self.complete(&c, task, out);
        }
        match &task.action {
            TaskAction::None => {}
            TaskAction::StartFlow(f) => out.push(ChecklistOutput::StartFlow(f.clone())),
            TaskAction::Navigate(u) => out.push(ChecklistOutput::Navigate(u.clone())),
            TaskAction::Track(e) => out.push(ChecklistOutput::Track(e.clone())),
        }
    }

    /// Marks `task` of `c` (the active checklist) done, with its events.
    fn complete(&mut self, c: &Checklist, task: &Task, out: &mut Vec<ChecklistOutput>) {
        if self.is_done(&c.id, &task.id) {
            return;
        }
        if let Some(p) = self.progress_mut(&c.id) {
            p.done.push(task.id.clone());
        }
        if let Some(ev) = self.event(EventKind::ChecklistTaskCompleted, Some(task)) {
            out.push(ChecklistOutput::Emit(ev));
        }
    }

    /// Completes what holds, starts what may start, and shows the result.
    fn settle(&mut self, env: &Env, out: &mut Vec<ChecklistOutput>) {
        self.evaluate_tasks(env, out);
        if self.auto_start(env, out) {
            // The new checklist's tasks may already hold.
            self.evaluate_tasks(env, out);
        }
        self.render(env, out);
    }

    /// Completes the active checklist's tasks whose conditions hold, in order (so
    /// that an ordered checklist can complete several in one pass).
    fn evaluate_tasks(&mut self, env: &Env, out: &mut Vec<ChecklistOutput>) {
        if let Some(c) = self.current().cloned() {
            for (i, t) in c.tasks.iter().enumerate() {
                if self.is_done(&c.id, &t.id) || self.blocked(&c, i) {
                    continue;
                }
                if t.conditions.iter().any(|cond| cond.eval(env.facts)) {
                    self.complete(&c, t, out);
                }
            }
        }
        self.check_complete(out);
    }

    /// `checklist_completed` once every task of the active checklist is done.
    fn check_complete(&mut self, out: &mut Vec<ChecklistOutput>) {
        let Some(c) = self.current().cloned() else {
            return;
        };
        let all = c.tasks.iter().all(|t| self.is_done(&c.id, &t.id));
        if !all {
            return;
        }
        let now = self
            .progress_mut(&c.id)
            .is_some_and(|p| !core::mem::replace(&mut p.completed, true));
        if now {
            if let Some(ev) = self.event(EventKind::ChecklistCompleted, None) {
                out.push(ChecklistOutput::Emit(ev));
            }
        }
        if c.dismiss_when_complete {
            self.finish(ChecklistEndReason::Completed, out);
        }
    }

    /// Starts (or schedules, with a delay) the checklist the start conditions
    /// pick (see [`super::start`]); whether one started now.
    fn auto_start(&mut self, env: &Env, out: &mut Vec<ChecklistOutput>) -> bool {
        let candidates: Vec<Candidate> = self
            .checklists
            .iter()
            .map(|c| Candidate {
                id: &c.id,
                rules: &c.start,
                seen: self.progress.iter().any(|p| p.id == c.id && p.started),
            })
            .collect();
        let active = self.active.as_ref().map(|a| a.id.as_str());
        match self.auto.decide(&candidates, active, env.facts) {
            Some(Decision::Start { id, .. }) => {
                self.begin(&id, ChecklistStartReason::Condition, out);
                true
            }
            Some(Decision::Schedule { timer, ms }) => {
                out.push(ChecklistOutput::SetTimer { id: timer, ms });
                false
            }
            None => false,
        }
    }

    /// Shows the active checklist (or hides the widget) if the view changed.
    fn render(&mut self, env: &Env, out: &mut Vec<ChecklistOutput>) {
        let view = self.current().map(|c| {
            let traits = env.traits;
            let tasks: Vec<TaskView> = c
                .tasks
                .iter()
                .enumerate()
                .map(|(i, t)| TaskView {
                    id: t.id.clone(),
                    name: interpolate(&t.name, traits),
                    description: t
                        .description
                        .as_deref()
                        .map(|d| render(d, traits))
                        .unwrap_or_default(),
                    done: self.is_done(&c.id, &t.id),
                    blocked: self.blocked(c, i),
                })
                .collect();
            ChecklistView {
                id: c.id.clone(),
                title: interpolate(c.title.as_deref().unwrap_or(&c.name), traits),
                text: c
                    .text
                    .as_deref()
                    .map(|t| render(t, traits))
                    .unwrap_or_default(),
                done: tasks.iter().filter(|t| t.done).count(),
                tasks,
                open: self.active.as_ref().is_some_and(|a| a.open),
                dismissible: c.dismissible,
                corner: c.corner,
            }
        });
        if view == self.shown {
            return;
        }
        match &view {
            Some(v) => out.push(ChecklistOutput::Show(v.clone())),
            None => out.push(ChecklistOutput::Hide),
        }
        let said = match (&view, &self.shown) {
            (Some(v), Some(was)) => announcement(v, was),
            // Gone because it is complete (`dismiss_when_complete`): its last
            // tasks are said all the same, as the view would have shown them.
            (None, Some(was)) if self.status(&was.id).1 => {
                let mut now = was.clone();
                now.done = 0;
                for t in &mut now.tasks {
                    t.done = self.is_done(&was.id, &t.id);
                    now.done += usize::from(t.done);
                }
                announcement(&now, was)
            }
            _ => None,
        };
        if let Some(said) = said {
            out.push(ChecklistOutput::Announce(said));
        }
        self.shown = view;
    }

    fn persist(&self, before: Option<String>, out: &mut Vec<ChecklistOutput>) {
        let after = self.state();
        if after != before {
            out.push(ChecklistOutput::Persist(after));
        }
    }
}

fn num(n: u64) -> Number {
    Number::from_u64(n)
}

/// An event with the checklist's attributes.
fn checklist_event(kind: EventKind, c: &Checklist) -> GeneratedEvent {
    let mut attrs = Vec::with_capacity(8);
    attrs.push(("checklist_id", Json::String(c.id.clone())));
    attrs.push(("checklist_name", Json::String(c.name.clone())));
    attrs.push((
        "checklist_version_id",
        c.version_id.clone().map_or(Json::Null, Json::String),
    ));
    attrs.push((
        "checklist_version_number",
        c.version_number
            .map_or(Json::Null, |n| Json::Number(num(n))),
    ));
    GeneratedEvent { kind, attrs }
}
