//! The flow state machine, sans-IO: fed with [`Input`]s, it returns [`Output`]s.
//! It has no timers, DOM or storage of its own.
//!
//! # The shell's loop
//! - After loading content: [`FlowEngine::load`]; after identifying a user:
//!   [`FlowEngine::restore`] with what the engine last asked to persist for that
//!   user, then [`Input::UrlChanged`] once for the current page, then
//!   [`FlowEngine::refresh`] (start conditions), as after every other call.
//! - `start(id, {once})`: [`FlowEngine::start`]; `endAll()`: [`FlowEngine::end_all`];
//!   `reset()`: [`FlowEngine::reset`].
//! - Clicks, keys, target lookups, URL changes, the app's `track()` calls and timer
//!   ticks: [`FlowEngine::handle`].
//! - Carry out every returned [`Output`] in order. [`Output::Show`],
//!   [`Output::Hide`] and [`Output::WaitForTarget`] replace whatever the previous
//!   step had on screen *and* drop its watches (target waits, element and
//!   target-click watches); watch outputs that follow apply to the new step. Timers
//!   are cancelled explicitly with [`Output::CancelTimer`]; a late
//!   [`Input::TimerFired`] for a cancelled id is ignored, as are answers naming a
//!   step that is no longer waiting or shown.
//!
//! # Rules
//! - One flow at most is active. Starting another (by `start()`, a start rule or a
//!   `start_flow` action) first ends the current one with reason `replaced`.
//! - Every started run emits `flow_started` once and `flow_ended` once (after
//!   `flow_completed` when completed). A run resumed after a reload emits no new
//!   `flow_started`: it re-shows its step, emitting `flow_step_seen` again, and its
//!   start reason becomes `session` ([`FlowEngine::start_reason`]).
//! - A step is *seen* when it is displayed: at once for modals, bubbles and hidden
//!   steps; for tooltips after [`Input::TargetFound`] (or after
//!   [`Input::TargetMissing`] when the step falls back to a bubble). A displayed
//!   step's `flow_step_seen` is [`Output::Seen`], which the shell sends only if it
//!   could put the step on screen. Once per visit: a tooltip whose target goes
//!   while shown ([`Input::TargetLost`]) waits for it again, and is not seen again
//!   when it comes back.
//! - `next` on the last step and `end` on the last step complete the flow; `end`
//!   elsewhere ends it with reason `action`; `back` on the first step does nothing.
//! - Triggers are live while their step is displayed and fire at most once per
//!   visit; the first matching one wins. `url_matches` is checked on
//!   [`Input::UrlChanged`] (not when the step appears).
//! - Start conditions are looked at by [`FlowEngine::refresh`], which the shell
//!   calls with the page's [`Facts`] after every change of what they look at;
//!   while no flow is active, the flow [`super::start`]'s rules pick starts
//!   (priority, frequency, delay).
//! - After every call that changes the per-user state (seen flows, active flow
//!   and step), the outputs end with [`Output::Persist`].

#[allow(unused_imports)]
use crate::prelude::*;

use super::conditions::Facts;
use super::markdown::{interpolate, render, Node};
use super::model::{
    Action, Block, Condition, Content, Corner, Flow, OnTargetMissing, Placement, StepKind,
};
use super::start::{AutoStart, Candidate, Cause, Decision};
use super::url_matches;
use crate::core::catalog::{EventKind, GeneratedEvent};
use crate::core::error::Error;
use crate::core::json::{self, Json, Number};

/// Why a flow started (`flow_start_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartReason {
    /// `start()` from the page.
    Program,
    /// A `url` start condition held.
    Url,
    /// An `event` start condition held.
    Event,
    /// Another start condition held.
    Condition,
    /// Another flow's `start_flow` action.
    Action,
    /// Resumed after a reload ([`FlowEngine::restore`]); never in `flow_started`.
    Session,
}

impl StartReason {
    /// The snake_case name events carry.
    pub fn as_str(self) -> &'static str {
        match self {
            StartReason::Program => "program",
            StartReason::Url => "url",
            StartReason::Event => "event",
            StartReason::Condition => "condition",
            StartReason::Action => "action",
            StartReason::Session => "session",
        }
    }
}

/// Why a flow ended (`flow_end_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The user closed it (× or Escape).
    UserClosed,
    /// An `end` action before the last step.
    Action,
    /// Another flow started.
    Replaced,
    /// A tooltip's target did not appear in time (`on_target_missing: end`).
    TooltipTargetMissing,
    /// `endAll()` from the page.
    Program,
    /// A `go_to_step` to a missing step, or the current step vanished from the content.
    StepNotFound,
    /// The flow (or a `start_flow` target) is no longer in the content.
    ContentNotFound,
    /// The user finished the last step.
    Completed,
}

impl EndReason {
    /// The snake_case name events carry.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::UserClosed => "user_closed",
            EndReason::Action => "action",
            EndReason::Replaced => "replaced",
            EndReason::TooltipTargetMissing => "tooltip_target_missing",
            EndReason::Program => "program",
            EndReason::StepNotFound => "step_not_found",
            EndReason::ContentNotFound => "content_not_found",
            EndReason::Completed => "completed",
        }
    }
}

/// What the engine needs to know about the page and the user for one call.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// The user's traits (a JSON object) for `{{attribute}}` interpolation.
    pub traits: &'a Json,
    /// The current page URL; patterns match its path and search.
    pub url: &'a str,
}

/// Something that happened in the page, reported by the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The button at `index` (among the step's buttons, see [`StepView::buttons`])
    /// of step `step_id` was clicked.
    Button {
        /// The step the button belongs to.
        step_id: String,
        /// The button's index.
        index: usize,
    },
    /// The user pressed × or Escape; ignored unless the flow is dismissible.
    Dismiss,
    /// The forward arrow ([`key_input`]): acts like the step's `next` button,
    /// if it has one.
    KeyNext,
    /// The backward arrow ([`key_input`]): acts like the step's `back` button,
    /// if it has one.
    KeyBack,
    /// The tooltip target of step `step_id` was clicked ([`Output::WatchTargetClicks`]).
    TargetClicked {
        /// The step being shown.
        step_id: String,
    },
    /// The target [`Output::WaitForTarget`] asked for is in the page.
    TargetFound {
        /// The step that waited.
        step_id: String,
    },
    /// The target of the tooltip step `step_id`, on screen, is no longer in the
    /// page or no longer displayed (a re-render removed it, a menu closed). The
    /// step waits for it again ([`Output::WaitForTarget`]) with its triggers off:
    /// back in time, it is shown again within the same visit (no second
    /// `flow_step_seen`); else its `on_target_missing` applies, as for a target
    /// that never appeared.
    TargetLost {
        /// The step being shown.
        step_id: String,
    },
    /// The target did not appear within the timeout.
    TargetMissing {
        /// The step that waited.
        step_id: String,
    },
    /// An element matching `selector` ([`Output::WatchElement`]) appeared.
    ElementAppeared {
        /// The watched selector, as given.
        selector: String,
    },
    /// The page URL changed (or was first seen); the new one is in [`Ctx::url`].
    UrlChanged,
    /// The app tracked an event (its `track()` call).
    EventTracked {
        /// The event name.
        event: String,
    },
    /// The timer set with [`Output::SetTimer`] elapsed.
    TimerFired {
        /// The timer's id.
        id: u64,
    },
}

/// Something for the shell to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Render this step, replacing any flow UI (and dropping the previous step's watches).
    Show(StepView),
    /// Remove any flow UI (and drop the previous step's watches).
    Hide,
    /// Look for `selector` (e.g. with a MutationObserver) for up to `timeout_ms`;
    /// answer [`Input::TargetFound`] or [`Input::TargetMissing`].
    WaitForTarget {
        /// The tooltip step waiting.
        step_id: String,
        /// Its target's CSS selector.
        selector: String,
        /// How long to wait.
        timeout_ms: u64,
    },
    /// Report [`Input::ElementAppeared`] once an element matches `selector`
    /// (immediately if one already does).
    WatchElement {
        /// CSS selector.
        selector: String,
    },
    /// Report [`Input::TargetClicked`] when the element matching `selector` is clicked.
    WatchTargetClicks {
        /// The tooltip target's CSS selector.
        selector: String,
    },
    /// Start a one-shot timer; report [`Input::TimerFired`] with `id` after `ms`.
    SetTimer {
        /// Unique per engine.
        id: u64,
        /// Delay in milliseconds.
        ms: u64,
    },
    /// Cancel the timer `id` (if it has not fired).
    CancelTimer {
        /// The timer's id.
        id: u64,
    },
    /// Send this generated event: add the page facts, call the `on()` listeners
    /// and send a Segment `track` (see [`crate::core::catalog`]).
    Emit(GeneratedEvent),
    /// The shown step's `flow_step_seen`, right after its [`Output::Show`]: send it
    /// as [`Output::Emit`] does if that step is on screen, else nothing (a page
    /// where the flow UI cannot be created, no shadow DOM or no `<body>`: a step
    /// nobody saw is not reported seen).
    Seen(GeneratedEvent),
    /// Navigate to this vetted URL (through `setCustomNavigate` when set).
    Navigate {
        /// An http(s) or relative URL.
        url: String,
    },
    /// Track this custom event as the app's `track()` would.
    Track {
        /// The event name.
        event: String,
    },
    /// Store this text as the user's flow state (`None`: remove it); hand it back
    /// to [`FlowEngine::restore`] after a reload.
    Persist(Option<String>),
}

/// Everything the shell needs to render a step. All text is plain (render it as
/// text nodes); URLs are vetted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepView {
    /// The flow's id.
    pub flow_id: String,
    /// The flow's name.
    pub flow_name: String,
    /// The step's id (answer inputs with it).
    pub step_id: String,
    /// The step's 0-based position.
    pub step_index: usize,
    /// How many steps the flow has.
    pub step_count: usize,
    /// How to present it.
    pub kind: ViewKind,
    /// Title, text and image blocks, in content order, interpolated.
    pub blocks: Vec<ViewBlock>,
    /// The buttons, in content order (render them in a footer).
    pub buttons: Vec<ButtonView>,
    /// `(step number, step count)`, 1-based, when the flow shows progress.
    pub progress: Option<(usize, usize)>,
    /// Offer × and Escape ([`Input::Dismiss`]).
    pub dismissible: bool,
}

/// How a step is presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// A centred dialog.
    Modal,
    /// A popover next to the (found) target.
    Tooltip {
        /// The target's CSS selector.
        target: String,
        /// The side of the target.
        placement: Placement,
    },
    /// A card in a corner (also the fallback of a tooltip whose target is missing).
    Bubble {
        /// Which corner.
        corner: Corner,
    },
}

/// A rendered content block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewBlock {
    /// A heading (plain text).
    Title(String),
    /// Body text (safe Markdown tree).
    Text(Vec<Node>),
    /// An image.
    Image {
        /// Vetted URL.
        src: String,
        /// Alternative text.
        alt: String,
    },
}

/// A rendered button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonView {
    /// The label (plain text).
    pub label: String,
    /// What to report in [`Input::Button`].
    pub index: usize,
    /// Styled as the main call to action.
    pub primary: bool,
}

/// Where the active step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A tooltip waiting for its target; nothing on screen.
    WaitingForTarget,
    /// Displayed as designed.
    Shown,
    /// A tooltip displayed as a bubble because its target is missing.
    ShownAsBubble,
}

/// The active run of a flow.
#[derive(Clone, Debug)]
struct Run {
    /// The flow's content when the run started (or was last reloaded).
    flow: Flow,
    step: usize,
    reason: StartReason,
    phase: Phase,
    /// Per trigger of the current step: fired during this visit.
    fired: Vec<bool>,
    /// Armed timers: `(timer id, trigger index)`.
    timers: Vec<(u64, usize)>,
    /// The current step's `flow_step_seen` was emitted during this visit.
    seen: bool,
}

/// The input a key press gives while a step has focus or a modal is open:
/// Escape dismisses; the arrow that points forward in the reading direction goes
/// next, the other back, so they are mirrored on a right-to-left page (`rtl`),
/// where Next sits on the left.
pub fn key_input(key: &str, rtl: bool) -> Option<Input> {
    match (key, rtl) {
        ("Escape", _) => Some(Input::Dismiss),
        ("ArrowRight", false) | ("ArrowLeft", true) => Some(Input::KeyNext),
        ("ArrowLeft", false) | ("ArrowRight", true) => Some(Input::KeyBack),
        _ => None,
    }
}

/// The flow state machine for one page and one user; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct FlowEngine {
    flows: Vec<Flow>,
    seen: Vec<String>,
    /// Flows the user has completed (for content conditions).
    completed: Vec<String>,
    run: Option<Run>,
    next_timer: u64,
    /// Starting by start conditions.
    auto: AutoStart,
}

impl FlowEngine {
    /// An engine with no content and no user state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The loaded flows.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The active flow's id and the current step's index.
    pub fn active(&self) -> Option<(&str, usize)> {
        self.run.as_ref().map(|r| (r.flow.id.as_str(), r.step))
    }

    /// Why the active flow started (`session` once resumed after a reload).
    pub fn start_reason(&self) -> Option<StartReason> {
        self.run.as_ref().map(|r| r.reason)
    }

    /// Adds the ids of the loaded flows to `out`.
    pub fn ids(&self, out: &mut Vec<String>) {
        for f in &self.flows {
            out.push(f.id.clone());
        }
    }

    /// Whether the user has started flow `flow_id` before (what `once` checks).
    pub fn has_seen(&self, flow_id: &str) -> bool {
        self.seen.iter().any(|s| s == flow_id)
    }

    /// Whether the user has completed flow `flow_id` at least once.
    pub fn has_completed(&self, flow_id: &str) -> bool {
        self.completed.iter().any(|s| s == flow_id)
    }

    /// The per-user state as the text [`Output::Persist`] carries (`None` when
    /// there is nothing to remember).
    pub fn state(&self) -> Option<String> {
        if self.seen.is_empty() && self.run.is_none() {
            return None;
        }
        let seen = self.seen.iter().map(|s| Json::String(s.clone())).collect();
        let mut fields = vec![
            ("v".to_string(), num(1)),
            ("seen".to_string(), Json::Array(seen)),
        ];
        if !self.completed.is_empty() {
            let done = self
                .completed
                .iter()
                .map(|s| Json::String(s.clone()))
                .collect();
            fields.push(("done".to_string(), Json::Array(done)));
        }
        if let Some(run) = &self.run {
            let f = &run.flow;
            let step = f.steps.get(run.step).map(|s| s.id.as_str()).unwrap_or("");
            fields.push((
                "run".to_string(),
                Json::Object(vec![
                    ("flow".to_string(), Json::String(f.id.clone())),
                    ("step".to_string(), Json::String(step.to_string())),
                    ("name".to_string(), Json::String(f.name.clone())),
                    ("version_id".to_string(), opt_str(&f.version_id)),
                    ("version_number".to_string(), opt_num(f.version_number)),
                ]),
            ));
        }
        Some(Json::Object(fields).to_json())
    }

    /// Adds the content's flows, replacing loaded flows with the same id. If the
    /// active flow changed, its current step is entered again (shown again,
    /// `flow_step_seen` again); if that step is gone, the flow ends with
    /// `step_not_found`.
    pub fn load(&mut self, content: Content, ctx: &Ctx) -> Vec<Output> {
        let before = self.state();
        let mut out = Vec::new();
        for flow in content.flows {
            match self.flows.iter_mut().find(|f| f.id == flow.id) {
                Some(slot) => *slot = flow,
                None => self.flows.push(flow),
            }
        }
        if let Some(run) = &self.run {
            let fresh = self.flows.iter().find(|f| f.id == run.flow.id);
            if let Some(fresh) = fresh.filter(|f| **f != run.flow).cloned() {
                let step_id = run.flow.steps.get(run.step).map(|s| s.id.clone());
                let pos = fresh
                    .steps
                    .iter()
                    .position(|s| Some(&s.id) == step_id.as_ref());
                match pos {
                    Some(i) => {
                        if let Some(run) = self.run.as_mut() {
                            run.flow = fresh;
                        }
                        self.enter(i, ctx, &mut out);
                    }
                    None => self.finish(EndReason::StepNotFound, &mut out),
                }
            }
        }
        self.persist(before, &mut out);
        out
    }

    /// Unloads flow `flow_id`; if it is active it ends with `content_not_found`.
    pub fn remove(&mut self, flow_id: &str) -> Vec<Output> {
        let before = self.state();
        let mut out = Vec::new();
        self.flows.retain(|f| f.id != flow_id);
        if self.active().is_some_and(|(id, _)| id == flow_id) {
            self.finish(EndReason::ContentNotFound, &mut out);
        }
        self.persist(before, &mut out);
        out
    }

    /// Forgets the user (sign-out): hides any flow and cancels its timers without
    /// emitting events or asking to persist (the user's stored state is the
    /// shell's to keep or delete). Loaded content stays.
    pub fn reset(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.drop_run(&mut out);
        self.seen.clear();
        self.completed.clear();
        self.auto.reset();
        out
    }

    /// Takes over a user's state: `state` is the text of their last
    /// [`Output::Persist`] (`None` if nothing was stored). Any in-memory run is
    /// dropped silently first, as in [`FlowEngine::reset`]. A stored active run
    /// resumes on the same step with start reason `session`: no `flow_started`,
    /// the step is entered again (`flow_step_seen` again). If its flow is no longer
    /// loaded it ends with `content_not_found`, if its step is gone with
    /// `step_not_found`. Unreadable state is discarded (`Persist(None)`).
    pub fn restore(&mut self, state: Option<&str>, ctx: &Ctx) -> Vec<Output> {
        let before = state.map(str::to_string);
        let mut out = Vec::new();
        self.drop_run(&mut out);
        self.seen.clear();
        self.completed.clear();
        self.auto.reset();
        let parsed = state
            .and_then(|s| json::parse(s).ok())
            .filter(|v| matches!(v.get("v"), Some(Json::Number(n)) if n.text() == "1"));
        if let Some(v) = parsed {
            if let Some(Json::Array(items)) = v.get("seen") {
                for s in items.iter().filter_map(Json::as_str) {
                    if !self.has_seen(s) {
                        self.seen.push(s.to_string());
                    }
                }
            }
            if let Some(Json::Array(items)) = v.get("done") {
                for s in items.iter().filter_map(Json::as_str) {
                    if !self.has_completed(s) {
                        self.completed.push(s.to_string());
                    }
                }
            }
            if let Some(r) = v.get("run") {
                self.resume(r, ctx, &mut out);
            }
        }
        self.persist(before, &mut out);
        out
    }

    /// Starts flow `flow_id` (the page's `start(id, {once})` uses
    /// [`StartReason::Program`]). Unknown id: an `invalid_argument` error starting
    /// with `content_not_found`. With `once`, a flow the user has seen is not
    /// started again (`Ok` with no outputs). An active flow (even the same one)
    /// ends with `replaced` first.
    pub fn start(
        &mut self,
        flow_id: &str,
        reason: StartReason,
        once: bool,
        ctx: &Ctx,
    ) -> Result<Vec<Output>, Error> {
        let flow = match self.flows.iter().find(|f| f.id == flow_id) {
            Some(f) if !f.steps.is_empty() => f.clone(),
            _ => {
                let mut m = String::from("content_not_found: no flow with id ");
                json::write_string(flow_id, &mut m);
                m.push_str(" is loaded");
                return Err(Error::invalid(m));
            }
        };
        if once && self.has_seen(flow_id) {
            return Ok(Vec::new());
        }
        let before = self.state();
        let mut out = Vec::new();
        self.finish(EndReason::Replaced, &mut out);
        self.begin(flow, reason, ctx, &mut out);
        self.persist(before, &mut out);
        Ok(out)
    }

    /// Ends the active flow, if any, with `reason` (`endAll()` uses
    /// [`EndReason::Program`]).
    pub fn end_all(&mut self, reason: EndReason) -> Vec<Output> {
        let before = self.state();
        let mut out = Vec::new();
        self.finish(reason, &mut out);
        self.persist(before, &mut out);
        out
    }

    /// Handles one input; inputs that do not apply to the current state (another
    /// step's id, a stale timer, a button index out of range) do nothing.
    pub fn handle(&mut self, input: Input, ctx: &Ctx) -> Vec<Output> {
        let before = self.state();
        let mut out = Vec::new();
        let was_active = self.run.is_some();
        match input {
            Input::Button { step_id, index } => {
                let action = self
                    .displayed(&step_id)
                    .and_then(|r| r.flow.steps.get(r.step))
                    .and_then(|s| s.buttons().nth(index))
                    .map(|(_, a, _)| a.clone());
                if let Some(a) = action {
                    self.act(a, ctx, &mut out);
                }
            }
            Input::Dismiss => {
                if self.run.as_ref().is_some_and(|r| r.flow.dismissible) {
                    self.finish(EndReason::UserClosed, &mut out);
                }
            }
            Input::KeyNext | Input::KeyBack => {
                let wanted = if input == Input::KeyNext {
                    Action::Next
                } else {
                    Action::Back
                };
                let has = self
                    .run
                    .as_ref()
                    .filter(|r| r.phase != Phase::WaitingForTarget)
                    .and_then(|r| r.flow.steps.get(r.step))
                    .is_some_and(|s| s.buttons().any(|(_, a, _)| *a == wanted));
                if has {
                    self.act(wanted, ctx, &mut out);
                }
            }
            Input::TargetClicked { step_id } => {
                if self
                    .displayed(&step_id)
                    .is_some_and(|r| r.phase == Phase::Shown)
                {
                    self.fire_first(|c| *c == Condition::TargetClicked, ctx, &mut out);
                }
            }
            Input::TargetFound { step_id } => {
                if self.waiting(&step_id) {
                    self.show(false, ctx, &mut out);
                }
            }
            Input::TargetLost { step_id } => {
                let lost = self
                    .displayed(&step_id)
                    .filter(|r| r.phase == Phase::Shown)
                    .and_then(|r| match &r.flow.steps.get(r.step)?.kind {
                        StepKind::Tooltip(t) => Some((t.target.clone(), t.target_timeout_ms)),
                        _ => None,
                    });
                if let (Some((selector, timeout_ms)), Some(run)) = (lost, self.run.as_mut()) {
                    cancel_timers(run, &mut out);
                    run.phase = Phase::WaitingForTarget;
                    out.push(Output::WaitForTarget {
                        step_id,
                        selector,
                        timeout_ms,
                    });
                }
            }
            Input::TargetMissing { step_id } => {
                if self.waiting(&step_id) {
                    self.target_missing(ctx, &mut out);
                }
            }
            Input::ElementAppeared { selector } => {
                self.fire_first(
                    |c| matches!(c, Condition::ElementAppears(s) if *s == selector),
                    ctx,
                    &mut out,
                );
            }
            // Start conditions look at the URL and events in [`FlowEngine::refresh`].
            Input::UrlChanged => {
                if was_active {
                    self.fire_first(
                        |c| matches!(c, Condition::UrlMatches(p) if url_matches(p, ctx.url)),
                        ctx,
                        &mut out,
                    );
                }
            }
            Input::EventTracked { event } => {
                if was_active {
                    self.fire_first(
                        |c| matches!(c, Condition::EventTracked(e) if *e == event),
                        ctx,
                        &mut out,
                    );
                }
            }
            Input::TimerFired { id } if self.auto.timer_fired(id) => {
                // A delayed start is due: the next refresh decides.
            }
            Input::TimerFired { id } => {
                let hit = self.run.as_mut().and_then(|r| {
                    let pos = r.timers.iter().position(|(t, _)| *t == id)?;
                    Some(r.timers.remove(pos).1)
                });
                if let Some(trigger) = hit {
                    self.fire(trigger, ctx, &mut out);
                }
            }
        }
        self.persist(before, &mut out);
        out
    }

    /// Looks at the flows' start conditions with the current facts (call it
    /// after every change of what they look at): while no flow is active, starts
    /// the one they pick, or schedules its delay (see [`super::start`]). Its start
    /// reason is `url` or `event` when the condition that held is a bare `url` or
    /// `event` condition, else `condition`.
    pub fn refresh(&mut self, facts: &dyn Facts, ctx: &Ctx) -> Vec<Output> {
        let before = self.state();
        let mut out = Vec::new();
        let candidates: Vec<Candidate> = self
            .flows
            .iter()
            .filter(|f| !f.steps.is_empty())
            .map(|f| Candidate {
                id: &f.id,
                rules: &f.start,
                seen: self.seen.contains(&f.id),
            })
            .collect();
        let active = self.run.as_ref().map(|r| r.flow.id.as_str());
        match self.auto.decide(&candidates, active, facts) {
            Some(Decision::Start { id, cause }) => {
                let reason = match cause {
                    Cause::Url => StartReason::Url,
                    Cause::Event => StartReason::Event,
                    Cause::Other => StartReason::Condition,
                };
                if let Some(f) = self.flows.iter().find(|f| f.id == id).cloned() {
                    self.begin(f, reason, ctx, &mut out);
                }
            }
            Some(Decision::Schedule { timer, ms }) => out.push(Output::SetTimer { id: timer, ms }),
            None => {}
        }
        self.persist(before, &mut out);
        out
    }

    /// Every selector the flows' start conditions watch (element conditions).
    pub fn selectors(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for f in &self.flows {
            for c in &f.start.conditions {
                c.selectors(&mut out);
            }
        }
        out
    }

    /// Whether a flow's start condition names `event` (such events are counted
    /// in the user's event log).
    pub fn counts(&self, event: &str) -> bool {
        let mut names = Vec::new();
        for f in &self.flows {
            for c in &f.start.conditions {
                c.event_names(&mut names);
            }
        }
        names.contains(&event)
    }

    // ----- internals -----

    /// The run, if step `step_id` is the current one and is displayed.
    fn displayed(&self, step_id: &str) -> Option<&Run> {
        self.run.as_ref().filter(|r| {
            r.phase != Phase::WaitingForTarget
                && r.flow.steps.get(r.step).is_some_and(|s| s.id == step_id)
        })
    }

    /// Whether step `step_id` is the current one and waits for its target.
    fn waiting(&self, step_id: &str) -> bool {
        self.run.as_ref().is_some_and(|r| {
            r.phase == Phase::WaitingForTarget
                && r.flow.steps.get(r.step).is_some_and(|s| s.id == step_id)
        })
    }

    fn persist(&self, before: Option<String>, out: &mut Vec<Output>) {
        let after = self.state();
        if after != before {
            out.push(Output::Persist(after));
        }
    }

    /// Drops the run without events: cancel its timers and hide its UI.
    fn drop_run(&mut self, out: &mut Vec<Output>) {
        if let Some(mut run) = self.run.take() {
            cancel_timers(&mut run, out);
            out.push(Output::Hide);
        }
    }

    fn resume(&mut self, r: &Json, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(flow_id) = r.get("flow").and_then(Json::as_str) else {
            return;
        };
        let step_id = r.get("step").and_then(Json::as_str).unwrap_or("");
        let (flow, end) = match self.flows.iter().find(|f| f.id == flow_id) {
            Some(f) => (f.clone(), None),
            None => {
                // Only what events need, from the stored state.
                let version_number = match r.get("version_number") {
                    Some(Json::Number(n)) if n.to_f64() >= 0.0 => Some(n.to_f64() as u64),
                    _ => None,
                };
                let flow = Flow {
                    id: flow_id.to_string(),
                    name: r
                        .get("name")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    version_id: r
                        .get("version_id")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                    version_number,
                    show_progress: false,
                    dismissible: true,
                    start: Default::default(),
                    steps: Vec::new(),
                };
                (flow, Some(EndReason::ContentNotFound))
            }
        };
        let pos = flow.steps.iter().position(|s| s.id == step_id);
        self.run = Some(Run {
            flow,
            step: pos.unwrap_or(0),
            reason: StartReason::Session,
            phase: Phase::WaitingForTarget,
            fired: Vec::new(),
            timers: Vec::new(),
            seen: false,
        });
        match (end, pos) {
            (Some(reason), _) => self.finish(reason, out),
            (None, None) => self.finish(EndReason::StepNotFound, out),
            (None, Some(i)) => self.enter(i, ctx, out),
        }
    }

    /// Starts `flow` (no run may be active): `flow_started`, then its first step.
    fn begin(&mut self, flow: Flow, reason: StartReason, ctx: &Ctx, out: &mut Vec<Output>) {
        if flow.steps.is_empty() {
            return;
        }
        let mut ev = flow_event(EventKind::FlowStarted, &flow);
        ev.attrs.push((
            "flow_start_reason",
            Json::String(reason.as_str().to_string()),
        ));
        out.push(Output::Emit(ev));
        if !self.has_seen(&flow.id) {
            self.seen.push(flow.id.clone());
        }
        self.auto.started(&flow.id);
        self.run = Some(Run {
            flow,
            step: 0,
            reason,
            phase: Phase::WaitingForTarget,
            fired: Vec::new(),
            timers: Vec::new(),
            seen: false,
        });
        self.enter(0, ctx, out);
    }

    /// Ends the run, if any, with `reason` (`flow_completed` first when completed).
    fn finish(&mut self, reason: EndReason, out: &mut Vec<Output>) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        cancel_timers(&mut run, out);
        out.push(Output::Hide);
        if reason == EndReason::Completed {
            if !self.has_completed(&run.flow.id) {
                self.completed.push(run.flow.id.clone());
            }
            out.push(Output::Emit(flow_event(
                EventKind::FlowCompleted,
                &run.flow,
            )));
        }
        let mut ev = flow_event(EventKind::FlowEnded, &run.flow);
        ev.attrs
            .push(("flow_end_reason", Json::String(reason.as_str().to_string())));
        out.push(Output::Emit(ev));
    }

    /// Makes step `idx` current: tooltips wait for their target, others show.
    fn enter(&mut self, idx: usize, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        cancel_timers(run, out);
        let Some(step) = run.flow.steps.get(idx) else {
            self.finish(EndReason::StepNotFound, out);
            return;
        };
        run.step = idx;
        run.fired = vec![false; step.triggers.len()];
        run.seen = false;
        if let StepKind::Tooltip(t) = &step.kind {
            run.phase = Phase::WaitingForTarget;
            out.push(Output::Hide);
            out.push(Output::WaitForTarget {
                step_id: step.id.clone(),
                selector: t.target.clone(),
                timeout_ms: t.target_timeout_ms,
            });
        } else {
            self.show(false, ctx, out);
        }
    }

    /// Displays the current step (as a bubble when its tooltip target is missing),
    /// emits `flow_step_seen` and arms its triggers.
    fn show(&mut self, as_bubble: bool, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let Some(step) = run.flow.steps.get(run.step) else {
            return;
        };
        run.phase = if as_bubble {
            Phase::ShownAsBubble
        } else {
            Phase::Shown
        };
        let seen = step_event(EventKind::FlowStepSeen, &run.flow, run.step);
        // Once per visit: not again when a lost target comes back.
        let first = !run.seen;
        run.seen = true;
        match view(&run.flow, run.step, as_bubble, ctx) {
            Some(v) => {
                out.push(Output::Show(v));
                if first {
                    out.push(Output::Seen(seen));
                }
            }
            // A hidden step is seen once it is reached.
            None => {
                out.push(Output::Hide);
                out.push(Output::Emit(seen));
            }
        }
        let mut watched: Vec<&str> = Vec::new();
        for (i, t) in step.triggers.iter().enumerate() {
            match &t.when {
                Condition::TargetClicked => {
                    if let (StepKind::Tooltip(tt), false) = (&step.kind, as_bubble) {
                        if !watched.contains(&"") {
                            watched.push("");
                            out.push(Output::WatchTargetClicks {
                                selector: tt.target.clone(),
                            });
                        }
                    }
                }
                Condition::ElementAppears(sel) => {
                    if !sel.is_empty() && !watched.contains(&sel.as_str()) {
                        watched.push(sel);
                        out.push(Output::WatchElement {
                            selector: sel.clone(),
                        });
                    }
                }
                Condition::Wait(ms) => {
                    self.next_timer += 1;
                    let id = self.next_timer;
                    run.timers.push((id, i));
                    out.push(Output::SetTimer { id, ms: *ms });
                }
                Condition::UrlMatches(_) | Condition::EventTracked(_) => {}
            }
        }
    }

    fn target_missing(&mut self, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let fallback = matches!(
            run.flow.steps.get(run.step).map(|s| &s.kind),
            Some(StepKind::Tooltip(t)) if t.on_target_missing == OnTargetMissing::Bubble
        );
        out.push(Output::Emit(step_event(
            EventKind::TooltipTargetMissing,
            &run.flow,
            run.step,
        )));
        if fallback {
            self.show(true, ctx, out);
        } else {
            self.finish(EndReason::TooltipTargetMissing, out);
        }
    }

    /// Fires the first trigger of the displayed step that has not fired and whose
    /// condition satisfies `pred`.
    fn fire_first(&mut self, pred: impl Fn(&Condition) -> bool, ctx: &Ctx, out: &mut Vec<Output>) {
        let hit =
            self.run
                .as_ref()
                .filter(|r| r.phase != Phase::WaitingForTarget)
                .and_then(|r| {
                    let step = r.flow.steps.get(r.step)?;
                    step.triggers.iter().enumerate().position(|(i, t)| {
                        !r.fired.get(i).copied().unwrap_or(true) && pred(&t.when)
                    })
                });
        if let Some(i) = hit {
            self.fire(i, ctx, out);
        }
    }

    /// Fires trigger `i` of the current step (once per visit).
    fn fire(&mut self, i: usize, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(run) = self.run.as_mut() else {
            return;
        };
        match run.fired.get_mut(i) {
            Some(f) if !*f => *f = true,
            _ => return,
        }
        let action = run
            .flow
            .steps
            .get(run.step)
            .and_then(|s| s.triggers.get(i))
            .map(|t| t.action.clone());
        if let Some(a) = action {
            self.act(a, ctx, out);
        }
    }

    fn act(&mut self, action: Action, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let (idx, count) = (run.step, run.flow.steps.len());
        let last = idx + 1 >= count;
        match action {
            Action::Next if last => self.finish(EndReason::Completed, out),
            Action::Next => self.enter(idx + 1, ctx, out),
            Action::Back => {
                if idx > 0 {
                    self.enter(idx - 1, ctx, out);
                }
            }
            Action::GoToStep(id) => match run.flow.steps.iter().position(|s| s.id == id) {
                Some(i) => self.enter(i, ctx, out),
                None => self.finish(EndReason::StepNotFound, out),
            },
            Action::End if last => self.finish(EndReason::Completed, out),
            Action::End => self.finish(EndReason::Action, out),
            Action::StartFlow(id) => {
                match self
                    .flows
                    .iter()
                    .find(|f| f.id == id && !f.steps.is_empty())
                {
                    Some(f) => {
                        let f = f.clone();
                        self.finish(EndReason::Replaced, out);
                        self.begin(f, StartReason::Action, ctx, out);
                    }
                    None => self.finish(EndReason::ContentNotFound, out),
                }
            }
            Action::Navigate(url) => out.push(Output::Navigate { url }),
            Action::Track(event) => out.push(Output::Track { event }),
        }
    }
}

fn cancel_timers(run: &mut Run, out: &mut Vec<Output>) {
    for (id, _) in run.timers.drain(..) {
        out.push(Output::CancelTimer { id });
    }
}

fn num(n: u64) -> Json {
    Number::from_f64(n as f64).map_or(Json::Null, Json::Number)
}

fn opt_num(n: Option<u64>) -> Json {
    n.map_or(Json::Null, num)
}

fn opt_str(s: &Option<String>) -> Json {
    s.as_ref().map_or(Json::Null, |s| Json::String(s.clone()))
}

/// An event with the flow attributes filled in.
fn flow_event(kind: EventKind, flow: &Flow) -> GeneratedEvent {
    let mut attrs = Vec::with_capacity(8);
    attrs.push(("flow_id", Json::String(flow.id.clone())));
    attrs.push(("flow_name", Json::String(flow.name.clone())));
    attrs.push(("flow_version_id", opt_str(&flow.version_id)));
    attrs.push(("flow_version_number", opt_num(flow.version_number)));
    GeneratedEvent { kind, attrs }
}

/// `round(100 × (idx + 1) / count)`, halves rounded up.
pub fn step_progress(idx: usize, count: usize) -> u64 {
    if count == 0 {
        return 0;
    }
    let (i, c) = (idx as u64 + 1, count as u64);
    (200 * i + c) / (2 * c)
}

/// An event with the flow and step attributes filled in.
fn step_event(kind: EventKind, flow: &Flow, idx: usize) -> GeneratedEvent {
    let mut ev = flow_event(kind, flow);
    let step = flow.steps.get(idx);
    ev.attrs.push((
        "flow_step_id",
        Json::String(step.map(|s| s.id.clone()).unwrap_or_default()),
    ));
    ev.attrs.push((
        "flow_step_name",
        step.and_then(|s| s.name.clone())
            .map_or(Json::Null, Json::String),
    ));
    ev.attrs.push(("flow_step_number", num(idx as u64)));
    ev.attrs.push((
        "flow_step_progress",
        num(step_progress(idx, flow.steps.len())),
    ));
    ev
}

/// The view of step `idx`; `None` for hidden steps.
fn view(flow: &Flow, idx: usize, as_bubble: bool, ctx: &Ctx) -> Option<StepView> {
    let step = flow.steps.get(idx)?;
    let kind = match &step.kind {
        StepKind::Hidden => return None,
        StepKind::Tooltip(_) if as_bubble => ViewKind::Bubble {
            corner: Corner::BottomRight,
        },
        StepKind::Tooltip(t) => ViewKind::Tooltip {
            target: t.target.clone(),
            placement: t.placement,
        },
        StepKind::Modal => ViewKind::Modal,
        StepKind::Bubble(c) => ViewKind::Bubble { corner: *c },
    };
    let mut blocks = Vec::new();
    let mut buttons = Vec::new();
    for b in &step.blocks {
        match b {
            Block::Title(t) => blocks.push(ViewBlock::Title(interpolate(t, ctx.traits))),
            Block::Text(m) => blocks.push(ViewBlock::Text(render(m, ctx.traits))),
            Block::Image { src, alt } => blocks.push(ViewBlock::Image {
                src: src.clone(),
                alt: interpolate(alt, ctx.traits),
            }),
            Block::Button { label, primary, .. } => buttons.push(ButtonView {
                label: interpolate(label, ctx.traits),
                index: buttons.len(),
                primary: *primary,
            }),
        }
    }
    Some(StepView {
        flow_id: flow.id.clone(),
        flow_name: flow.name.clone(),
        step_id: step.id.clone(),
        step_index: idx,
        step_count: flow.steps.len(),
        kind,
        blocks,
        buttons,
        progress: flow.show_progress.then_some((idx + 1, flow.steps.len())),
        dismissible: flow.dismissible,
    })
}
