//! Runs the flow engine in the page: feeds it clicks, keys, target lookups, URL
//! changes, tracked events and timer ticks, and carries out what it returns
//! (render, watch, persist, emit events to listeners and Segment, navigate).
//!
//! Like the runtime, the state lives in a thread-local `RefCell` that is never
//! borrowed while page code (listeners, the custom navigate function) runs.
//!
//! Every entry point (API call, DOM event, timer) runs as one *batch*
//! ([`bridge::batch`]): the engine's outputs are carried out completely, and only
//! then is page code called (the `on()` listeners and the custom navigate function,
//! in order). A listener that starts or ends a flow therefore sees a consistent
//! state and cannot interleave its own outputs with a half-applied step (its events
//! join the end of the queue). Generated events go to Segment through the core
//! module ([`bridge`]), like the app's own `track` calls.
//!
//! The start-up is deferred to a microtask after the module's start ("boot":
//! restoring the user's progress, then start rules for the page), so that the calls
//! the loader replays right after it apply to it. Any call that needs the flows
//! booted (`start`, `endAll`, a tracked event, navigation) boots them first.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use core::cell::RefCell;

use super::bridge::{self, batch, defer, Deferred};
use super::dom::{self, query, query_visible};
use super::render::Ui;
use super::wake;
use crate::core::catalog::GeneratedEvent;
use crate::core::content::{self, Content, Ctx, EndReason, FlowEngine, Input, Output, StartReason};
use crate::core::error::Error;
use crate::core::json::Json;
use crate::web::abi::Held;

/// How often per step focus that left an open modal is brought back; past it the
/// page keeps focus (its own dialog, say) rather than fight over it.
const MAX_REFOCUS: u32 = 20;

/// Default stacking level, as Userflow.js's.
pub const DEFAULT_Z_INDEX: i32 = 1_234_500;

struct Wait {
    step_id: String,
    selector: String,
    timeout: i32,
    /// Tells this wait's timeout from an earlier one's ([`wait_timed_out`]).
    token: u32,
}

/// The flow side of segflow in this page.
pub struct Flows {
    engine: FlowEngine,
    ui: Option<Ui>,
    step_id: Option<String>,
    wait: Option<Wait>,
    watches: Vec<String>,
    click_target: Option<String>,
    timers: Vec<(u64, i32)>,
    z_index: i32,
    navigate: Option<Held>,
    focus_return: Option<Held>,
    /// Where focus was when a step that had it went (see [`Flows::hide`]): the
    /// next step takes focus if it is still there, so that
    /// Next into a tooltip step that waits for its target keeps the keyboard user
    /// in the flow. Forgotten at the end of a drain unless a target is awaited.
    returned: Option<Held>,
    state_key: String,
    /// The deferred start-up ran (see the module docs).
    booted: bool,
    /// The last wait's token (see [`Wait`]).
    waits: u32,
    /// A refocus into the open modal is scheduled.
    refocus_pending: bool,
    /// How often focus was brought back into the step on screen.
    refocused: u32,
    /// Runs after every change of flow state ([`set_after`]).
    after: Option<fn()>,
    /// Runs after DOM changes ([`set_after`]).
    after_dom: Option<fn()>,
}

static FLOWS: Local<RefCell<Option<Flows>>> = Local::new(RefCell::new(None));

/// Navigates (through the custom navigate function, else a page load) once the
/// current batch is done.
///
/// The URL is resolved against the page first: one that leaves the site while
/// written relative (or is not http(s) once resolved) is not followed, and a
/// warning says so.
fn navigate(url: String) {
    let Some((resolved, _)) = super::render::vet_url(&url) else {
        crate::web::abi::warn(
            &(String::from(
                "segflow: navigate refused, the URL leads off the site once resolved: ",
            ) + &url),
        );
        return;
    };
    match with_flows(|f| f.navigate.as_ref().map(Held::dup)).flatten() {
        // The app's router gets the URL as the content wrote it (a path, usually).
        Some(f) => defer(Deferred::Call(f, url)),
        None => defer(Deferred::Navigate(resolved)),
    }
}

/// Navigates for a checklist task, as a flow's `navigate` action does.
pub fn navigate_to(url: String) {
    navigate(url);
}

/// A tooltip's target: the first match that is displayed, else the first match
/// (the tooltip then hides until it is displayed).
fn find_target(selector: &str) -> Option<Held> {
    query_visible(selector).or_else(|| query(selector))
}

/// Runs `f` with the engine and a fresh context; returns its outputs.
fn engine<T>(f: impl FnOnce(&mut FlowEngine, &Ctx) -> T) -> Option<T> {
    let traits: Json = bridge::traits();
    let url = crate::web::abi::href();
    FLOWS.with(|cell| {
        let mut guard = cell.try_borrow_mut().ok()?;
        let flows = guard.as_mut()?;
        Some(f(
            &mut flows.engine,
            &Ctx {
                traits: &traits,
                url: &url,
            },
        ))
    })
}

fn with_flows<T>(f: impl FnOnce(&mut Flows) -> T) -> Option<T> {
    FLOWS.with(|cell| cell.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Feeds one input and carries out everything that follows from it.
pub fn feed(input: Input) {
    batch(|| {
        let mut queue = Vec::new();
        ensure_booted(&mut queue);
        queue.push(input);
        drain(queue);
    });
}

/// Handles queued inputs (and the inputs their outputs cause) until none is left.
fn drain(mut queue: Vec<Input>) {
    // First in, first out. A `Vec` rather than a `VecDeque`: the queue holds a
    // few inputs at most, and VecDeque's code costs about 1 KB of wasm.
    while !queue.is_empty() {
        let input = queue.remove(0);
        let outputs = engine(|e, ctx| e.handle(input, ctx)).unwrap_or_default();
        apply(outputs, &mut queue);
    }
    with_flows(|f| {
        if f.wait.is_none() {
            f.returned = None;
        }
    });
    // What flows did may change what checklists see (a flow seen or completed).
    if let Some(after) = with_flows(|f| f.after).flatten() {
        after();
    }
}

/// Registers what runs after every change of flow state (`after`: the
/// checklists' refresh) and after DOM changes (`after_dom`), so that this module
/// does not depend on the checklists.
pub fn set_after(after: fn(), after_dom: fn()) {
    with_flows(|fl| {
        fl.after = Some(after);
        fl.after_dom = Some(after_dom);
    });
}

/// Each loaded flow's id with whether this user has seen it, has completed it
/// and whether it is active (what content conditions look at).
pub fn statuses() -> Vec<(String, bool, bool, bool)> {
    engine(|e, _| {
        let active = e.active().map(|(id, _)| id.to_string());
        let mut out: Vec<(String, bool, bool, bool)> = e
            .flows()
            .iter()
            .map(|f| {
                (
                    f.id.clone(),
                    e.has_seen(&f.id),
                    e.has_completed(&f.id),
                    active.as_deref() == Some(f.id.as_str()),
                )
            })
            .collect();
        if let Some(a) = active {
            if !out.iter().any(|s| s.0 == a) {
                out.push((a, true, false, true));
            }
        }
        out
    })
    .unwrap_or_default()
}

/// Whether flow `flow_id` is the active one.
pub fn is_active(flow_id: &str) -> bool {
    engine(|e, _| e.active().is_some_and(|(id, _)| id == flow_id)).unwrap_or(false)
}

/// Starts flow `flow_id` for a checklist task (start reason `action`).
pub fn start_for_task(flow_id: &str) {
    batch(|| {
        let outputs = engine(|e, ctx| e.start(flow_id, StartReason::Action, false, ctx));
        if let Some(Ok(outputs)) = outputs {
            let mut queue = Vec::new();
            apply(outputs, &mut queue);
            drain(queue);
        }
    });
}

/// The deferred start-up, once: the user's stored progress, then start rules for
/// the current page (as an input on `queue`).
fn ensure_booted(queue: &mut Vec<Input>) {
    let first = with_flows(|f| !core::mem::replace(&mut f.booted, true)).unwrap_or(false);
    if first {
        restore_if_idle(queue);
        queue.push(Input::UrlChanged);
    }
}

/// Whether [`install`] ran.
pub fn installed() -> bool {
    FLOWS.with(|c| c.try_borrow().map(|f| f.is_some()).unwrap_or(true))
}

/// What the checklist must not cover: the step on screen (unless it is a modal,
/// whose backdrop covers everything) and its tooltip target.
pub fn obstacles() -> Vec<crate::core::placement::Rect> {
    let selector = with_flows(|f| f.ui.as_ref().and_then(|u| u.target.clone())).flatten();
    let target = selector.and_then(|s| find_target(&s));
    let mut out = with_flows(|f| f.ui.as_ref().map(|u| u.obstacles()))
        .flatten()
        .unwrap_or_default();
    if let Some(t) = target {
        out.push(super::render::rect_of(&t));
    }
    out
}

/// Whether the deferred start-up ran (the user's flow history is restored).
pub fn booted() -> bool {
    with_flows(|f| f.booted).unwrap_or(false)
}

/// Every selector the flows' start conditions watch.
pub fn selectors() -> Vec<String> {
    engine(|e, _| e.selectors().into_iter().map(str::to_string).collect()).unwrap_or_default()
}

/// Whether a flow's start condition names `event`.
pub fn counts(event: &str) -> bool {
    engine(|e, _| e.counts(event)).unwrap_or(false)
}

/// Looks at the flows' start conditions with the page's facts (`checklists`:
/// the checklists' history) and carries out what the engine decides. Runs after
/// every change of flow state, through the checklists' refresh ([`set_after`]);
/// a flow that starts here changes the state again, whose refresh then finds
/// a flow active and stops.
pub fn refresh_conditions(checklists: Vec<super::facts::Status>) {
    if !booted() || super::facts::held() {
        return;
    }
    batch(|| {
        let flows = statuses();
        let outputs = super::facts::with_facts(flows, checklists, |facts, _| {
            engine(|e, ctx| e.refresh(facts, ctx))
        })
        .flatten()
        .unwrap_or_default();
        if outputs.is_empty() {
            return;
        }
        let mut queue = Vec::new();
        apply(outputs, &mut queue);
        drain(queue);
    });
}

/// Carries out outputs; inputs they trigger at once go to `queue`.
fn apply(outputs: Vec<Output>, queue: &mut Vec<Input>) {
    // Whether the last `Show` put its step on screen (for the `Seen` after it).
    let mut shown = false;
    for output in outputs {
        match output {
            Output::Show(view) => {
                shown = false;
                // The target went between the answer that it was there and now.
                let mut lost = None;
                let focus = with_flows(|f| {
                    f.drop_watches();
                    f.remember_focus();
                    f.refocused = 0;
                    // Only a modal, or a step the user reached from the flow UI, takes
                    // focus; others are announced, so typing elsewhere goes on.
                    let returned = f.returned.take();
                    let had_focus = f.ui.as_ref().is_some_and(|u| u.has_focus())
                        || returned.is_some_and(|el| {
                            dom::document()
                                .and_then(|d| d.active())
                                .is_some_and(|a| a.same(&el))
                        });
                    if f.ui.is_none() {
                        f.ui = Ui::new(f.z_index);
                    }
                    let ui = f.ui.as_mut()?;
                    ui.show(&view);
                    // On screen only if the page let it into <body> (a patched
                    // appendChild may throw).
                    shown = ui.showing();
                    f.step_id = Some(view.step_id.clone());
                    if let Some(sel) = ui.target.clone() {
                        let target = find_target(&sel);
                        if let Some(t) = &target {
                            dom::reveal(t);
                        }
                        if !ui.position(target.as_ref()) {
                            lost = Some(view.step_id.clone());
                        }
                    }
                    if ui.is_modal() || had_focus {
                        ui.focus_target()
                    } else {
                        ui.announce(&view);
                        None
                    }
                })
                .flatten();
                if !shown {
                    bridge::ui_unavailable(
                        &(String::from("step \"")
                            + &view.step_id
                            + "\" of flow \""
                            + &view.flow_id
                            + "\""),
                    );
                }
                // Outside the borrow: focusing runs the page's focus handlers.
                if let Some(el) = focus {
                    el.focus();
                }
                if let Some(step_id) = lost {
                    queue.push(Input::TargetLost { step_id });
                }
            }
            Output::Hide => {
                with_flows(|f| {
                    f.drop_watches();
                    f.hide();
                });
            }
            Output::WaitForTarget {
                step_id,
                selector,
                timeout_ms,
            } => {
                with_flows(|f| {
                    f.drop_watches();
                    f.hide();
                });
                // Found means displayed: an element that is in the DOM but not
                // rendered (a closed menu) is not there yet for the user.
                if query_visible(&selector).is_some() {
                    queue.push(Input::TargetFound { step_id });
                } else {
                    with_flows(|f| {
                        f.waits = f.waits.wrapping_add(1);
                        let token = f.waits;
                        let timeout = dom::timeout(wake::WAIT_TIMEOUT, token.into(), timeout_ms);
                        f.wait = Some(Wait {
                            step_id,
                            selector,
                            timeout,
                            token,
                        })
                    });
                }
            }
            Output::WatchElement { selector } => {
                if query(&selector).is_some() {
                    queue.push(Input::ElementAppeared { selector });
                } else {
                    with_flows(|f| f.watches.push(selector));
                }
            }
            Output::WatchTargetClicks { selector } => {
                with_flows(|f| f.click_target = Some(selector));
            }
            Output::SetTimer { id, ms } => {
                let handle = dom::timeout(wake::FLOW_TIMER, id as f64, ms);
                with_flows(|f| f.timers.push((id, handle)));
            }
            Output::CancelTimer { id } => {
                with_flows(|f| {
                    f.timers.retain(|(t, h)| {
                        if *t == id {
                            dom::cancel(*h);
                        }
                        *t != id
                    })
                });
            }
            Output::Emit(event) => emit(&event),
            Output::Seen(event) => {
                if shown {
                    emit(&event);
                }
            }
            Output::Navigate { url } => navigate(url),
            Output::Track { event } => {
                defer(Deferred::Track(None, event.clone(), String::from("{}")));
                super::facts::record(&event, &Json::Object(Vec::new()));
                queue.push(Input::EventTracked { event });
            }
            Output::Persist(_) => {
                // The engine's state now, which is never older than the output's.
                let Some((key, state)) = with_flows(|f| (f.state_key.clone(), f.engine.state()))
                else {
                    continue;
                };
                bridge::set(&key, state.as_deref());
            }
        }
    }
}

/// A step's wait for its target timed out (`token`: which wait, see [`Wait`]).
pub fn wait_timed_out(token: u32) {
    let still = with_flows(|f| match f.wait.take() {
        Some(w) if w.token == token => Some(w.step_id),
        other => {
            f.wait = other;
            None
        }
    })
    .flatten();
    if let Some(step_id) = still {
        feed(Input::TargetMissing { step_id });
    }
}

/// Engine timer `id` fired.
pub fn timer_fired(id: u64) {
    with_flows(|f| f.timers.retain(|(t, _)| *t != id));
    feed(Input::TimerFired { id });
}

impl Flows {
    fn drop_watches(&mut self) {
        if let Some(w) = self.wait.take() {
            dom::cancel(w.timeout);
        }
        self.watches.clear();
        self.click_target = None;
    }

    fn remember_focus(&mut self) {
        if self.ui.as_ref().is_some_and(|u| u.showing()) {
            return;
        }
        self.focus_return = dom::document().and_then(|d| d.active());
    }

    fn hide(&mut self) {
        let had_focus = self.ui.as_ref().is_some_and(|u| u.has_focus());
        if let Some(ui) = &mut self.ui {
            ui.clear();
        }
        self.step_id = None;
        let back = self.focus_return.take();
        if had_focus {
            if let Some(el) = back.filter(Held::connected) {
                el.focus();
            }
            // Where focus is now: the element it went back to, or <body> when that
            // could not take it (a checklist whose task started the flow). The next
            // step takes focus if it is still there (the user did not move it).
            self.returned = dom::document().and_then(|d| d.active());
        }
    }
}

/// Sends a generated event through the core: to Segment as a `track` call with
/// its Title Case name, and to the `on()` listeners.
pub(super) fn emit(event: &GeneratedEvent) {
    let spec = event.spec();
    let props = crate::web::generated_properties(
        event,
        &bridge::page_url(),
        &crate::web::abi::page_facts(),
    );
    defer(Deferred::Track(
        Some(spec.listener),
        spec.segment_name.to_owned(),
        props,
    ));
}

/// Installs the flow runner: delegated UI handlers and the DOM observer;
/// schedules the boot (the user's progress, start rules) for the next microtask.
pub fn install() {
    if FLOWS.with(|c| c.try_borrow().map_or(true, |f| f.is_some())) {
        return;
    }
    let flows = Flows {
        engine: FlowEngine::new(),
        ui: None,
        step_id: None,
        wait: None,
        watches: Vec::new(),
        click_target: None,
        timers: Vec::new(),
        z_index: DEFAULT_Z_INDEX,
        navigate: None,
        focus_return: None,
        returned: None,
        state_key: bridge::state_key(),
        booted: false,
        waits: 0,
        refocus_pending: false,
        refocused: 0,
        after: None,
        after_dom: None,
    };
    FLOWS.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = Some(flows);
        }
    });
    install_hooks();
    dom::microtask(wake::BOOT);
}

/// The deferred start-up (a microtask after [`install`]).
pub fn boot() {
    batch(|| {
        let mut queue = Vec::new();
        ensure_booted(&mut queue);
        drain(queue);
    })
}

/// Adds content. Once booted: restores the user's progress when no flow runs yet,
/// then lets start rules look at the current page (before, the boot does that).
pub fn load(content: Content) {
    batch(|| {
        let mut queue = Vec::new();
        let outputs = engine(|e, ctx| e.load(content, ctx)).unwrap_or_default();
        apply(outputs, &mut queue);
        if booted() {
            restore_if_idle(&mut queue);
            queue.push(Input::UrlChanged);
        }
        drain(queue);
    });
}

fn restore_if_idle(queue: &mut Vec<Input>) {
    let key = with_flows(|f| f.state_key.clone()).unwrap_or_default();
    let idle = engine(|e, _| e.active().is_none()).unwrap_or(false);
    if !idle {
        return;
    }
    let state = bridge::get(&key);
    let outputs = engine(|e, ctx| e.restore(state.as_deref(), ctx)).unwrap_or_default();
    apply(outputs, queue);
}

/// The user changed (identify with another id, or reset): hide the previous user's
/// flow, resume the new user's, and let start rules look at the page for them.
/// Before the boot only the storage key changes (the boot restores that user).
pub fn user_changed() {
    let key = bridge::state_key();
    let changed = with_flows(|f| {
        let changed = f.state_key != key;
        f.state_key = key;
        changed
    });
    if changed != Some(true) || !booted() {
        return;
    }
    batch(|| {
        let mut queue = Vec::new();
        let outputs = engine(|e, _| e.reset()).unwrap_or_default();
        apply(outputs, &mut queue);
        restore_if_idle(&mut queue);
        queue.push(Input::UrlChanged);
        drain(queue);
    });
}

/// `start(flowId, {once})`.
pub fn start(flow_id: &str, once: bool) -> Result<(), Error> {
    batch(|| {
        let mut queue = Vec::new();
        ensure_booted(&mut queue);
        drain(queue);
        let outputs = engine(|e, ctx| e.start(flow_id, StartReason::Program, once, ctx))
            .ok_or_else(|| Error::invalid("flows are not available"))??;
        let mut queue = Vec::new();
        apply(outputs, &mut queue);
        drain(queue);
        Ok(())
    })
}

/// `endAll()`.
pub fn end_all() {
    batch(|| {
        let mut queue = Vec::new();
        ensure_booted(&mut queue);
        drain(queue);
        let outputs = engine(|e, _| e.end_all(EndReason::Program)).unwrap_or_default();
        let mut queue = Vec::new();
        apply(outputs, &mut queue);
        drain(queue);
    });
}

/// The app tracked an event: event-based triggers and start rules may react.
pub fn event_tracked(event: &str) {
    feed(Input::EventTracked {
        event: event.to_owned(),
    });
}

/// `setCustomNavigate(fn | null)`.
pub fn set_navigate(f: Option<Held>) {
    with_flows(|fl| fl.navigate = f);
}

/// `setBaseZIndex(n)`.
pub fn set_z_index(z: i32) {
    with_flows(|f| {
        f.z_index = z;
        if let Some(ui) = &f.ui {
            ui.set_z_index(z);
        }
    });
}

/// Parses a content document that adds to what is loaded (which it may name).
pub fn parse(text: &str) -> Result<Content, Error> {
    let mut loaded = content::Loaded::default();
    with_flows(|f| f.engine.ids(&mut loaded.flows));
    super::checklists::ids(&mut loaded.checklists);
    content::parse_content_with(text, &loaded)
}

/// The page navigated (the core saw it): start rules and URL triggers look at
/// the new URL.
pub fn url_changed() {
    batch(|| {
        let mut queue = Vec::new();
        ensure_booted(&mut queue);
        queue.push(Input::UrlChanged);
        drain(queue);
    });
}

/// Looks at the DOM after it changed: the awaited target, watched elements, and the
/// shown tooltip's target (followed when re-rendered, hidden while not displayed).
pub fn on_mutation() {
    let found = with_flows(|f| {
        let mut inputs = Vec::new();
        if let Some(w) = &f.wait {
            if query_visible(&w.selector).is_some() {
                if let Some(w) = f.wait.take() {
                    dom::cancel(w.timeout);
                    inputs.push(Input::TargetFound { step_id: w.step_id });
                }
            }
        }
        f.watches.retain(|sel| {
            if query(sel).is_some() {
                inputs.push(Input::ElementAppeared {
                    selector: sel.clone(),
                });
                false
            } else {
                true
            }
        });
        if let Some(ui) = &mut f.ui {
            ui.keep_in_page();
            if let Some(gone) = lost(ui, &f.step_id) {
                inputs.push(gone);
            }
        }
        inputs
    })
    .unwrap_or_default();
    if found.is_empty() {
        // Elements that content conditions watch may have come or gone.
        if let Some(after) = with_flows(|f| f.after_dom).flatten() {
            batch(after);
        }
    } else {
        batch(|| drain(found));
    }
}

/// Scrolls and resizes: the tooltip follows its target (which a media query may
/// have hidden).
pub fn reposition() {
    let gone = with_flows(|f| f.ui.as_ref().and_then(|ui| lost(ui, &f.step_id))).flatten();
    if let Some(input) = gone {
        feed(input);
    }
}

/// Places the tooltip on screen next to its target; [`Input::TargetLost`] when the
/// target is missing or not displayed.
fn lost(ui: &Ui, step_id: &Option<String>) -> Option<Input> {
    let sel = ui.target.as_ref()?;
    if ui.position(find_target(sel).as_ref()) {
        return None;
    }
    Some(Input::TargetLost {
        step_id: step_id.clone()?,
    })
}

fn install_hooks() {
    let (Some(doc), Some(window)) = (dom::document(), dom::window()) else {
        return;
    };
    // Clicks: buttons and × inside the UI (delegated on the document, where the
    // shadow root's events arrive retargeted; `composedPath` gives the real target),
    // and clicks on the tooltip target anywhere in the page. Keys, while focus is in
    // a step or a modal is open. A press on a modal's backdrop, and focus leaving an
    // open modal. All in the capture phase.
    dom::listen(&doc, "click", wake::CLICK, true);
    dom::listen(&doc, "keydown", wake::KEYDOWN, true);
    dom::listen(&doc, "mousedown", wake::MOUSEDOWN, true);
    dom::listen(&doc, "focusin", wake::FOCUSIN, true);
    dom::listen(&window, "scroll", wake::MOVED, true);
    dom::listen(&window, "resize", wake::MOVED, false);
    // A target that a CSS transition or animation moved: placed again where it
    // ends (mutations only tell where it starts).
    dom::listen(&doc, "transitionend", wake::MOVED, true);
    dom::listen(&doc, "animationend", wake::MOVED, true);
    dom::observe_mutations(wake::MUTATION);
}

/// A click in the document (see [`install_hooks`]). Only elements inside
/// segflow's own shadow root count as its buttons, whatever the page's markup.
pub fn on_click(e: &Held) {
    let first = e.event_target();
    let own = first
        .as_ref()
        .and_then(|el| el.closest("[data-sf]"))
        .filter(|el| with_flows(|f| f.ui.as_ref().is_some_and(|u| u.owns(el))) == Some(true));
    let step = with_flows(|f| f.step_id.clone()).flatten();
    if let Some(el) = own {
        let action = el.get_attr("data-sf").unwrap_or_default();
        if let Some(step_id) = step {
            if action == "close" {
                feed(Input::Dismiss);
            } else if let Some(i) = action
                .strip_prefix("btn:")
                .and_then(crate::core::json::parse_u64)
                .and_then(|i| usize::try_from(i).ok())
            {
                feed(Input::Button { step_id, index: i });
            }
        }
        return;
    }
    // A click inside a closed root reaches the document as a click on the UI's
    // host (its root's listener handles it): never one on the tooltip's target.
    let first = first
        .filter(|el| with_flows(|f| f.ui.as_ref().is_some_and(|u| u.is_host(el))) != Some(true));
    let target = with_flows(|f| f.click_target.clone()).flatten();
    if let (Some(sel), Some(step_id), Some(first)) = (target, step, first) {
        if first.closest(&sel).is_some() {
            feed(Input::TargetClicked { step_id });
        }
    }
}

/// A key press, while focus is in a step or a modal is open: Escape dismisses,
/// arrows go next/back, Tab stays inside a modal.
pub fn on_keydown(e: &Held) {
    let k = e.event_mods();
    // Alt+Shift+F, anywhere: go to the step on screen (a bubble or tooltip
    // that appeared without taking focus). `code`, not `key`: layouts differ.
    if k.alt && k.shift && !k.ctrl && !k.meta && e.event_key(true) == "KeyF" {
        let target = with_flows(|f| {
            f.ui.as_ref()
                .filter(|u| u.showing())
                .and_then(Ui::focus_target)
        })
        .flatten();
        if let Some(el) = target {
            e.prevent(false);
            el.focus();
        }
        return;
    }
    let live = with_flows(|f| {
        f.ui.as_ref()
            .is_some_and(|u| u.showing() && (u.has_focus() || u.is_modal()))
    })
    .unwrap_or(false);
    if !live || k.alt || k.ctrl || k.meta {
        return;
    }
    let key = e.event_key(false);
    if key == "Tab" {
        let next = with_flows(|f| f.ui.as_ref().and_then(|u| u.tab_target(k.shift))).flatten();
        if let Some(el) = next {
            e.prevent(false);
            el.focus();
        }
        return;
    }
    let rtl = with_flows(|f| f.ui.as_ref().is_some_and(Ui::rtl)).unwrap_or(false);
    let input = content::engine::key_input(&key, rtl);
    if let Some(input) = input {
        e.prevent(false);
        feed(input);
    }
}

/// A modal keeps focus: a press on its backdrop does not take focus away.
pub fn on_mousedown(e: &Held) {
    let on_backdrop = e.event_target().is_some_and(|el| {
        el.has_class("backdrop")
            && with_flows(|f| f.ui.as_ref().is_some_and(|u| u.owns(&el))) == Some(true)
    });
    if on_backdrop {
        e.prevent(false);
    }
}

/// Focus that leaves an open modal (script, assistive tech) is brought back,
/// after the current task's focus handlers ran (never from inside one: a page's
/// own focus trap would fight it without end), and at most MAX_REFOCUS times
/// per step.
pub fn on_focusin(e: &Held) {
    let pull = with_flows(|f| {
        let out = f.ui.as_ref().is_some_and(|u| u.is_modal() && !u.in_path(e));
        let pull = out && !f.refocus_pending && f.refocused < MAX_REFOCUS;
        f.refocus_pending |= pull;
        pull
    });
    if pull == Some(true) {
        dom::microtask(wake::REFOCUS);
    }
}

/// The microtask after [`on_focusin`]: focus back into the open modal.
pub fn refocus() {
    let el = with_flows(|f| {
        f.refocus_pending = false;
        f.refocused += 1;
        f.ui.as_ref()
            .filter(|u| u.is_modal() && !u.has_focus())
            .and_then(Ui::focus_target)
    })
    .flatten();
    if let Some(el) = el {
        el.focus();
    }
}
