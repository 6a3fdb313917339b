//! Runs the checklist engine in the page: gathers the facts its conditions look
//! at (the URL, the user's and company's attributes, the event log, flow and
//! checklist history, watched elements), feeds it widget clicks and timer ticks,
//! and carries out what it returns (render the widget, persist, emit events,
//! start flows, navigate, track).
//!
//! The widget is a Shadow DOM host of its own (`<segflow-checklist>`), one level
//! below the flow UI, so a flow step is never hidden behind it. It is built
//! from buttons, a list and text nodes only: a launcher button (with the count of
//! open tasks, `aria-expanded`), and a labelled region holding the heading, a
//! progress bar, the task list (done and blocked tasks say so in words, not only
//! by their look) and the collapse and dismiss buttons. Focus moves into the
//! panel when the user opens it and back to the launcher when they close it;
//! a checklist that appears by itself never takes focus.
//!
//! The state lives in a thread-local `RefCell` that is never borrowed while page
//! code or the flow module runs: flows a task starts are started after the
//! engine's outputs were carried out.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use core::cell::RefCell;

use super::bridge::{self, batch, defer, Deferred};
use super::dom::{self, create};
use super::facts::{self, Status};
use super::flows;
use super::render;
use super::wake;
use crate::core::content::checklist::{
    push_tasks_left, Checklist, ChecklistEndReason, ChecklistEngine, ChecklistInput,
    ChecklistOutput, ChecklistStartReason, ChecklistView, Env,
};
use crate::core::content::model::Corner;
use crate::core::error::Error;
use crate::core::json::{self, Json};
use crate::core::placement;
use crate::web::abi::Held;

/// Stylesheet of the widget; themed with the same `--segflow-*` properties as flows.
/// On a right-to-left page the panel mirrors (logical sides for text, the heading
/// and the tools) while the widget keeps the physical corner the content names
/// (auto margins, not `flex-end`, which would follow the direction).
const CSS_SOURCE: &str = r#"
:host { all: initial !important; display: block !important; position: fixed !important; top: 0 !important; left: 0 !important; width: 0 !important; height: 0 !important; margin: 0 !important; padding: 0 !important; border: 0 !important; z-index: calc(var(--segflow-z-index, 1234500) - 1) !important; visibility: visible !important; opacity: 1 !important; transform: none !important; pointer-events: none !important; }
.w { position: fixed; display: flex; flex-direction: column; gap: 10px; pointer-events: none; font: 15px/1.5 var(--segflow-font, ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif); color: var(--segflow-fg, #1f2937); text-align: start; }
.w.bottom-right { right: 24px; bottom: 24px; flex-direction: column-reverse; } .w.bottom-left { left: 24px; bottom: 24px; flex-direction: column-reverse; }
.w.top-right { right: 24px; top: 24px; } .w.top-left { left: 24px; top: 24px; }
.w > * { pointer-events: auto; margin-left: auto; }
.w.bottom-left > *, .w.top-left > * { margin-left: 0; margin-right: auto; }
.w { overflow-wrap: anywhere; } .launcher { max-width: calc(100vw - 48px); }
button { box-sizing: border-box; margin: 0; font: inherit; cursor: pointer; color: inherit; }
.launcher { display: inline-flex; align-items: center; gap: 8px; padding: 9px 16px; border: 0; border-radius: 999px; background: var(--segflow-accent, #4f46e5); color: var(--segflow-accent-fg, #fff); font-size: 14px; font-weight: 600; box-shadow: 0 4px 14px rgba(17, 24, 39, .25); }
.count { min-width: 22px; padding: 0 6px; border-radius: 999px; background: rgba(255, 255, 255, .25); font-variant-numeric: tabular-nums; text-align: center; }
.panel { position: relative; box-sizing: border-box; width: min(var(--segflow-width, 340px), calc(100vw - 32px)); max-height: calc(100vh - 120px); overflow: auto; padding: 18px 20px 16px; background: var(--segflow-bg, #fff); border-radius: var(--segflow-radius, 12px); box-shadow: var(--segflow-shadow, 0 0 0 1px rgba(17, 24, 39, .08), 0 4px 8px -2px rgba(17, 24, 39, .10), 0 20px 44px -8px rgba(17, 24, 39, .32)); }
.panel.enter { animation: segflow-fade .2s ease-out; }
h2 { margin: 0 0 6px; margin-inline-end: 64px; font-size: 17px; line-height: 1.35; font-weight: 650; color: var(--segflow-title, #111827); }
.body { color: var(--segflow-text, #4b5563); margin-bottom: 10px; } p { margin: 0 0 8px; }
a { color: var(--segflow-link, var(--segflow-accent, #4f46e5)); }
.bar { height: 8px; border-radius: 4px; background: var(--segflow-track, #e5e7eb); overflow: hidden; margin: 8px 0 4px; }
.fill { height: 100%; background: var(--segflow-accent, #4f46e5); }
.done-count { font-size: 13px; color: var(--segflow-muted, #6b7280); margin-bottom: 8px; }
ol { list-style: none; margin: 0; padding: 0; }
li { margin: 4px 0; }
.task { display: flex; width: 100%; gap: 10px; align-items: flex-start; padding: 8px 10px; border: 1px solid var(--segflow-border, #e5e7eb); border-radius: 8px; background: var(--segflow-button-bg, #fff); text-align: start; font-size: 14px; }
.task:hover { background: var(--segflow-button-hover, #f3f4f6); }
.task[aria-disabled=true] { cursor: not-allowed; color: var(--segflow-muted, #6b7280); }
.mark { flex: none; width: 18px; height: 18px; margin-top: 1px; border: 2px solid var(--segflow-border, #9ca3af); border-radius: 50%; box-sizing: border-box; text-align: center; font-size: 11px; line-height: 14px; }
.is-done .mark { background: var(--segflow-accent, #4f46e5); border-color: var(--segflow-accent, #4f46e5); color: var(--segflow-accent-fg, #fff); }
.is-done .name { text-decoration: line-through; color: var(--segflow-text, #4b5563); }
.desc { display: block; font-size: 13px; color: var(--segflow-text, #4b5563); }
.tools { position: absolute; top: 10px; inset-inline-end: 10px; display: flex; gap: 2px; }
.tool { width: 32px; height: 32px; padding: 0; border: 0; border-radius: 8px; background: transparent; font-size: 20px; line-height: 32px; color: var(--segflow-muted, #6b7280); }
.tool:hover { background: var(--segflow-button-hover, #f3f4f6); }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
button:focus-visible, a:focus-visible { outline: 3px solid var(--segflow-focus, #b45309); outline-offset: 2px; }
@media (forced-colors: active) { .panel { border: 2px solid CanvasText; } .fill { background: Highlight; } }
@keyframes segflow-fade { from { opacity: 0; } to { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .panel { animation: none; } }
"#;
const CSS_LEN: usize = crate::core::css::minify::<{ CSS_SOURCE.len() }>(CSS_SOURCE).1;
const CSS_MIN: [u8; CSS_LEN] = crate::core::css::exact::<CSS_LEN, { CSS_SOURCE.len() }>(CSS_SOURCE);
/// The stylesheet as shipped: [`CSS_SOURCE`] minified at compile time.
const CSS: &str = crate::core::css::text(&CSS_MIN, CSS_LEN);

/// The widget's distance from the viewport's edges (as the stylesheet's 24px).
const MARGIN: f64 = 24.0;

/// The widget in the page.
struct Widget {
    host: Held,
    root: Held,
    /// The panel was open in the last render (it fades in only when it opens).
    was_open: core::cell::Cell<bool>,
    /// The corner the content asks for.
    corner: core::cell::Cell<Corner>,
    /// The live region ([`ChecklistOutput::Announce`]): in place before
    /// anything is said, and kept across renders, or nothing is read out.
    status: Held,
}

/// The checklist side of segflow in this page.
struct Checklists {
    engine: ChecklistEngine,
    widget: Option<Widget>,
    state_key: String,
    /// Armed timers: (engine id, page handle).
    timers: Vec<(u64, i32)>,
    /// The user's state was restored.
    restored: bool,
    /// Content was loaded (nothing is evaluated or restored before).
    loaded: bool,
    /// The checklist the error listeners were told could not be shown (once,
    /// not on each of its updates, until it is shown or hidden).
    unavailable: Option<String>,
    /// A task started this flow while this control (its `data-cl`) had focus:
    /// once the flow is no longer active, focus comes back to it if it was
    /// lost (the flow's step gave focus back to the widget's host, which
    /// cannot take it, so it fell to `<body>`).
    refocus: Option<(String, String)>,
    /// The element focused last outside segflow's UI ([`on_focusin`]): where
    /// focus goes back when the widget that has it goes.
    came_from: Option<Held>,
}

static CHECKLISTS: Local<RefCell<Option<Checklists>>> = Local::new(RefCell::new(None));

fn with<T>(f: impl FnOnce(&mut Checklists) -> T) -> Option<T> {
    CHECKLISTS.with(|cell| cell.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Each loaded checklist's id with whether this user has started it, has
/// completed it and whether it is active (what content conditions look at).
pub fn statuses() -> Vec<Status> {
    with(|c| {
        c.engine
            .checklists()
            .iter()
            .map(|cl| {
                let (seen, completed, active) = c.engine.status(&cl.id);
                (cl.id.clone(), seen, completed, active)
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Whether a loaded checklist's condition names `event` (it is then counted).
pub fn counts(event: &str) -> bool {
    with(|c| c.engine.counts(event)).unwrap_or(false)
}

/// Runs `f` with the engine and the page's facts; carries out its outputs.
fn run(f: impl FnOnce(&mut ChecklistEngine, &Env) -> Vec<ChecklistOutput>) {
    let flows = flows::statuses();
    let checklists = statuses();
    let outputs = facts::with_facts(flows, checklists, |facts, traits| {
        with(|c| f(&mut c.engine, &Env { facts, traits }))
    })
    .flatten()
    .unwrap_or_default();
    apply(outputs);
}

impl Checklists {
    /// The widget, created (not yet rendered) if there is none and the page
    /// lets it be.
    fn widget(&mut self) -> Option<&Widget> {
        if self.widget.is_none() {
            self.widget = Widget::new();
        }
        self.widget.as_ref()
    }
}

fn apply(outputs: Vec<ChecklistOutput>) {
    let mut start_flows = Vec::new();
    for output in outputs {
        match output {
            ChecklistOutput::Show(view) => {
                let report = with(|c| {
                    let shown = c.widget().map(|w| w.show(&view)).is_some();
                    let first = c.unavailable.as_deref() != Some(&view.id);
                    c.unavailable = (!shown).then(|| view.id.clone());
                    !shown && first
                });
                if report == Some(true) {
                    bridge::ui_unavailable(&(String::from("checklist \"") + &view.id + "\""));
                }
            }
            ChecklistOutput::Hide => {
                // The widget goes; its host and live region stay (empty), so that
                // what is said as it goes (the last task done) is read out. Focus
                // in it goes back to where it was before (else to <body>).
                let back = with(|c| {
                    c.unavailable = None;
                    let had = c.widget.as_ref().is_some_and(Widget::has_focus);
                    if let Some(w) = &c.widget {
                        w.clear();
                        w.was_open.set(false);
                    }
                    had.then(|| {
                        c.came_from
                            .as_ref()
                            .filter(|e| e.connected())
                            .map(Held::dup)
                    })
                })
                .flatten();
                // Outside the borrow: focusing runs the page's focus handlers.
                match back {
                    Some(Some(el)) => el.focus(),
                    Some(None) => dom::body().map_or((), |b| b.focus()),
                    None => {}
                }
            }
            ChecklistOutput::Emit(ev) => flows::emit(&ev),
            ChecklistOutput::Announce(said) => {
                with(|c| c.widget.as_ref().map(|w| w.status.set_text(&said)));
            }
            // In its place among the events: the widget (rendered by the Show
            // that follows in this batch) is created now if it can be.
            ChecklistOutput::Seen(ev) => {
                let on_screen = with(|c| c.widget().is_some());
                if on_screen == Some(true) {
                    flows::emit(&ev);
                }
            }
            ChecklistOutput::StartFlow(id) => start_flows.push(id),
            ChecklistOutput::Navigate(url) => flows::navigate_to(url),
            ChecklistOutput::Track(event) => {
                defer(Deferred::Track(None, event.clone(), String::from("{}")));
                facts::record(&event, &Json::Object(Vec::new()));
            }
            ChecklistOutput::SetTimer { id, ms } => {
                let handle = dom::timeout(wake::CHECKLIST_TIMER, id as f64, ms);
                with(|c| c.timers.push((id, handle)));
            }
            ChecklistOutput::Persist(_) => {
                if let Some((key, state)) = with(|c| (c.state_key.clone(), c.engine.state())) {
                    bridge::set(&key, state.as_deref());
                }
            }
        }
    }
    for id in start_flows {
        with(|c| {
            let key = c.widget.as_ref()?.root.active()?.get_attr("data-cl")?;
            c.refocus = Some((id.clone(), key));
            Some(())
        });
        flows::start_for_task(&id);
    }
}

/// Installs the checklist runner (after the flow runner): it refreshes after
/// every change of flow state and DOM change.
pub fn install() {
    if CHECKLISTS.with(|c| c.try_borrow().map_or(true, |c| c.is_some())) {
        return;
    }
    let state = Checklists {
        engine: ChecklistEngine::new(),
        widget: None,
        state_key: bridge::key("checklists"),
        timers: Vec::new(),
        restored: false,
        loaded: false,
        unavailable: None,
        refocus: None,
        came_from: None,
    };
    CHECKLISTS.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = Some(state);
        }
    });
    flows::set_after(refresh, dom_changed);
    facts::set_counter(counted);
}

/// Restores the current user's checklist progress once, after content was
/// loaded.
fn ensure_restored() {
    let first = with(|c| c.loaded && !core::mem::replace(&mut c.restored, true)).unwrap_or(false);
    if !first {
        return;
    }
    let state_key = with(|c| c.state_key.clone()).unwrap_or_default();
    let state = bridge::get(&state_key);
    run(|e, env| e.restore(state.as_deref(), env));
}

/// Adds the content's checklists without evaluating anything yet: the flow
/// runner's load that follows refreshes both (so that neither looks at the
/// other's history before both are loaded and restored).
pub fn add(checklists: Vec<Checklist>) {
    with(|c| {
        c.engine.add(checklists);
        c.loaded = true;
    });
}

/// Re-evaluates after flows, the URL, attributes or the DOM changed: the
/// checklists' conditions, then the flows' start conditions.
pub fn refresh() {
    give_focus_back();
    update_presence();
    evaluate();
}

/// Focus moved in the document: remembers where, when that is the page's own
/// element (not segflow's UI, not `<body>`), for [`Checklists::came_from`].
pub fn on_focusin() {
    let Some(a) = dom::document().and_then(|d| d.active()) else {
        return;
    };
    let tag = a.tag();
    if !tag.starts_with("segflow-") && tag != "body" {
        with(|c| c.came_from = Some(a));
    }
}

/// Focus back on the task that started a flow, once the flow is over, if focus
/// was lost on the way ([`Checklists::refocus`]).
fn give_focus_back() {
    let Some((flow, key)) = with(|c| c.refocus.clone()).flatten() else {
        return;
    };
    if flows::is_active(&flow) {
        return;
    }
    let el = with(|c| {
        c.refocus = None;
        let active = dom::document().and_then(|d| d.active());
        let lost = active.is_none_or(|a| dom::body().is_some_and(|b| b.same(&a)));
        lost.then(|| c.widget.as_ref()?.control(&key))?
    })
    .flatten();
    // Outside the borrow: focusing runs the page's focus handlers.
    if let Some(el) = el {
        el.focus();
    }
}

/// The DOM changed: looks again only if a watched element came or went (the
/// other facts do not change with the DOM).
fn dom_changed() {
    if update_presence() {
        evaluate();
    }
}

/// [`refresh`] once the watched elements are known.
fn evaluate() {
    // The flow on screen may have moved: keep clear of it.
    with(|c| {
        if let Some(w) = &c.widget {
            w.place();
        }
    });
    // Before the flows' boot restored the user's flow history, nothing is
    // evaluated (the boot refreshes).
    if !flows::booted() || facts::held() {
        return;
    }
    batch(|| {
        if with(|c| c.loaded) == Some(true) {
            ensure_restored();
            run(|e, env| e.refresh(env));
        }
        flows::refresh_conditions(statuses());
    });
}

/// Recomputes which watched selectors (of flows and checklists) match; whether
/// that changed.
fn update_presence() -> bool {
    let mut selectors = flows::selectors();
    selectors.extend(
        with(|c| {
            c.engine
                .selectors()
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default(),
    );
    crate::core::content::dedup(&mut selectors);
    facts::update_presence(selectors)
}

/// Whether a loaded flow's or checklist's condition names `event`.
pub fn counted(event: &str) -> bool {
    counts(event) || flows::counts(event)
}

/// The user changed: hide the previous user's checklist, restore the new one's.
pub fn user_changed() {
    let state_key = bridge::key("checklists");
    let changed = with(|c| {
        let changed = c.state_key != state_key;
        c.state_key = state_key;
        if changed {
            c.restored = false;
        }
        changed
    });
    if changed == Some(true) {
        batch(|| {
            let out = with(|c| c.engine.reset()).unwrap_or_default();
            apply(out);
            // What the live region said was the previous user's.
            with(|c| c.widget.as_ref().map(|w| w.status.set_text("")));
            ensure_restored();
        });
    } else {
        refresh();
    }
}

/// The app (or analytics.js) tracked an event, already recorded in the facts:
/// re-evaluates.
pub fn event_tracked() {
    refresh();
}

/// Adds the ids of the loaded checklists to `out`.
pub fn ids(out: &mut Vec<String>) {
    with(|c| c.engine.ids(out));
}

/// Whether checklist `id` is loaded (what `start(id)` asks first).
pub fn has(id: &str) -> bool {
    with(|c| c.engine.checklists().iter().any(|cl| cl.id == id)).unwrap_or(false)
}

/// `start(checklistId, {once})`.
pub fn start(id: &str, once: bool) -> Result<(), Error> {
    batch(|| {
        ensure_restored();
        let mut result = Ok(());
        run(
            |e, env| match e.start(id, ChecklistStartReason::Program, once, env) {
                Ok(out) => out,
                Err(err) => {
                    result = Err(err);
                    Vec::new()
                }
            },
        );
        result
    })
}

/// `endChecklist()`: ends the active checklist (reason `program`).
pub fn end() {
    batch(|| {
        ensure_restored();
        run(|e, env| e.end(ChecklistEndReason::Program, env));
    });
}

/// Engine timer `id` fired.
pub fn timer_fired(id: u64) {
    with(|c| c.timers.retain(|(t, _)| *t != id));
    batch(|| run(|e, env| e.handle(ChecklistInput::TimerFired { id }, env)));
}

/// A click inside the widget: the launcher, dismiss, or a task.
pub fn on_click(e: &Held) {
    let Some(target) = e.event_target().and_then(|el| el.closest("[data-cl]")) else {
        return;
    };
    let what = target.get_attr("data-cl").unwrap_or_default();
    if what == "toggle" {
        feed(ChecklistInput::Toggle);
        focus_after_toggle();
    } else if what == "dismiss" {
        feed(ChecklistInput::Dismiss);
    } else if let Some(task_id) = what.strip_prefix("task:") {
        feed(ChecklistInput::TaskClicked {
            task_id: task_id.to_string(),
        });
    }
}

/// A key press inside the widget: Escape in the open panel collapses it (focus
/// returns to the launcher).
pub fn on_keydown(e: &Held) {
    let open = with(|c| c.engine.active().is_some_and(|(_, open)| open)).unwrap_or(false);
    if open && e.event_key(false) == "Escape" {
        e.prevent(true);
        feed(ChecklistInput::Toggle);
        focus_after_toggle();
    }
}

/// Feeds one widget input.
fn feed(input: ChecklistInput) {
    batch(|| run(|e, env| e.handle(input, env)));
}

fn push_count(n: usize, out: &mut String) {
    json::push_u64(n as u64, out);
}

impl Widget {
    fn new() -> Option<Widget> {
        // On the root, not the host: a closed root (a page may force them) shows
        // a listener on its host only the host as the target.
        let (host, root, _) = dom::shadow_host("segflow-checklist", CSS)?;
        dom::listen(&root, "click", wake::CHECKLIST_CLICK, false);
        // Escape inside the open panel collapses it (focus returns to the launcher).
        dom::listen(&root, "keydown", wake::CHECKLIST_KEYDOWN, false);
        dom::body()?.append(&host);
        // A page may refuse it a place (a patched appendChild that throws).
        if !host.connected() {
            return None;
        }
        let status = create("div", "sr")?;
        status.set_attr("role", "status");
        status.set_attr("aria-live", "polite");
        root.append(&status);
        Some(Widget {
            host,
            root,
            was_open: core::cell::Cell::new(false),
            corner: core::cell::Cell::new(Corner::BottomRight),
            status,
        })
    }

    fn has_focus(&self) -> bool {
        self.root.active().is_some()
    }

    /// Moves the widget to the corner [`placement::clear_corner`] picks, so that
    /// it covers neither the flow step on screen nor its tooltip target.
    fn place(&self) {
        let Some(w) = self.root.find(".w", false) else {
            return;
        };
        let r = render::rect_of(&w);
        let (vw, vh) = dom::viewport();
        let corner = placement::clear_corner(
            self.corner.get(),
            r.width,
            r.height,
            vw,
            vh,
            MARGIN,
            &flows::obstacles(),
        );
        let mut class = String::from("w ");
        class.push_str(corner.as_str());
        if w.get_attr("class").as_deref() != Some(class.as_str()) {
            w.set_attr("class", &class);
        }
    }

    /// Renders `view`, keeping focus on the same control if it was inside.
    fn show(&self, view: &ChecklistView) -> Option<()> {
        let body = dom::body()?;
        let focused = self.root.active().and_then(|e| e.get_attr("data-cl"));
        if !self.host.connected() {
            body.append(&self.host);
        }
        let mut class = String::from("w ");
        class.push_str(view.corner.as_str());
        let w = create("div", &class)?;
        let total = view.tasks.len();
        let open_tasks = total - view.done.min(total);

        // The launcher.
        let launcher = create("button", "launcher")?;
        launcher.set_attr("type", "button");
        launcher.set_attr("data-cl", "toggle");
        launcher.set_attr("aria-expanded", if view.open { "true" } else { "false" });
        launcher.set_attr("aria-controls", "segflow-checklist-panel");
        launcher.append(&text("span", "", &view.title)?);
        let mut n = String::new();
        push_count(open_tasks, &mut n);
        let count = text("span", "count", &n)?;
        count.set_attr("aria-hidden", "true");
        launcher.append(&count);
        let mut s = String::from(", ");
        push_tasks_left(view, &mut s);
        launcher.append(&text("span", "sr", &s)?);
        w.append(&launcher);

        if view.open {
            let panel = create(
                "section",
                if self.was_open.get() {
                    "panel"
                } else {
                    "panel enter"
                },
            )?;
            panel.set_attr("id", "segflow-checklist-panel");
            panel.set_attr("aria-labelledby", "segflow-checklist-title");
            let h = text("h2", "", &view.title)?;
            h.set_attr("id", "segflow-checklist-title");
            panel.append(&h);
            let tools = create("div", "tools")?;
            let collapse = text("button", "tool", "\u{2013}")?;
            collapse.set_attr("type", "button");
            collapse.set_attr("data-cl", "toggle");
            collapse.set_attr("aria-label", "Collapse checklist");
            tools.append(&collapse);
            if view.dismissible {
                let dismiss = text("button", "tool", "\u{00d7}")?;
                dismiss.set_attr("type", "button");
                dismiss.set_attr("data-cl", "dismiss");
                dismiss.set_attr("aria-label", "Dismiss checklist");
                tools.append(&dismiss);
            }
            panel.append(&tools);
            if !view.text.is_empty() {
                let body = create("div", "body")?;
                render::nodes(&body, &view.text);
                panel.append(&body);
            }
            let bar = create("div", "bar")?;
            bar.set_attr("role", "progressbar");
            bar.set_attr("aria-label", "Checklist progress");
            bar.set_attr("aria-valuemin", "0");
            let mut max = String::new();
            push_count(total, &mut max);
            bar.set_attr("aria-valuemax", &max);
            let mut now = String::new();
            push_count(view.done, &mut now);
            bar.set_attr("aria-valuenow", &now);
            let mut done_text = now.clone();
            done_text.push_str(" of ");
            done_text.push_str(&max);
            done_text.push_str(" done");
            bar.set_attr("aria-valuetext", &done_text);
            let fill = create("div", "fill")?;
            // Through the CSSOM: a strict CSP (no 'unsafe-inline' in style-src)
            // refuses a style attribute, and the bar would show full.
            let mut width = String::new();
            push_count(
                (view.done * 100).checked_div(total).unwrap_or(0),
                &mut width,
            );
            width.push('%');
            fill.style("width", Some(&width));
            bar.append(&fill);
            panel.append(&bar);
            let done_count = text("div", "done-count", &done_text)?;
            done_count.set_attr("aria-hidden", "true");
            panel.append(&done_count);
            let list = create("ol", "")?;
            for t in &view.tasks {
                let li = create("li", if t.done { "is-done" } else { "" })?;
                let b = create("button", "task")?;
                b.set_attr("type", "button");
                let mut data = String::from("task:");
                data.push_str(&t.id);
                b.set_attr("data-cl", &data);
                if t.blocked {
                    b.set_attr("aria-disabled", "true");
                }
                let mark = text("span", "mark", if t.done { "\u{2713}" } else { "" })?;
                mark.set_attr("aria-hidden", "true");
                b.append(&mark);
                let label = create("span", "")?;
                label.append(&text("span", "name", &t.name)?);
                label.append(&text(
                    "span",
                    "sr",
                    if t.done {
                        " (done)"
                    } else if t.blocked {
                        " (locked: finish the tasks before it first)"
                    } else {
                        " (to do)"
                    },
                )?);
                if !t.description.is_empty() {
                    let d = create("span", "desc")?;
                    render::nodes_inline(&d, &t.description);
                    label.append(&d);
                }
                b.append(&label);
                li.append(&b);
                list.append(&li);
            }
            panel.append(&list);
            w.append(&panel);
        }
        self.was_open.set(view.open);
        self.clear();
        self.root.append(&w);
        self.corner.set(view.corner);
        self.place();
        if let Some(e) = focused.and_then(|f| self.control(&f)) {
            e.focus();
        }
        Some(())
    }

    /// Removes what is shown; the stylesheet (when it is an element) and the
    /// live region stay.
    fn clear(&self) {
        let mut i = self.root.children();
        while i > 0 {
            i -= 1;
            if let Some(c) = self.root.child(i) {
                if c.tag() != "style" && !c.same(&self.status) {
                    c.remove();
                }
            }
        }
    }

    /// The control whose `data-cl` is `key`, in what is rendered now.
    fn control(&self, key: &str) -> Option<Held> {
        let mut sel = String::from("[data-cl=");
        json::write_string(key, &mut sel);
        sel.push(']');
        self.root.find(&sel, false)
    }
}

/// A `<tag>` element with class `class` (none when empty) holding the text `s`
/// (none when empty).
fn text(tag: &str, class: &str, s: &str) -> Option<Held> {
    let e = create(tag, class)?;
    if !s.is_empty() {
        e.add_text(s);
    }
    Some(e)
}

/// After the user opened or closed the panel: focus goes to its first open
/// task (or its collapse button), or back to the launcher.
fn focus_after_toggle() {
    let target = with(|c| {
        let open = c.engine.active().is_some_and(|(_, open)| open);
        let w = c.widget.as_ref()?;
        if open {
            w.root
                .find("li:not(.is-done) .task:not([aria-disabled=true])", false)
                .or_else(|| w.root.find(".task:not([aria-disabled=true]), .tool", false))
        } else {
            w.root.find(".launcher", false)
        }
    })
    .flatten();
    if let Some(el) = target {
        el.focus();
    }
}
