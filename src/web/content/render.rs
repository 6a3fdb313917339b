//! Flow UI in the page: one Shadow DOM root that host CSS cannot reach and whose CSS
//! cannot leak, built with `createElement` and text nodes only (content is never
//! parsed as HTML), themeable through `--segflow-*` custom properties.

#[allow(unused_imports)]
use crate::prelude::*;

use super::dom::{self, create};
use crate::web::abi::Held;

use crate::core::content::engine::{ViewBlock, ViewKind};
use crate::core::content::markdown::{resolved_target, Inline, Node, Target};
use crate::core::content::StepView;
use crate::core::placement::{self, Rect, Side};

/// Stylesheet of the flow UI. Every colour, radius and font reads a `--segflow-*`
/// custom property first, so a page themes it with `:root { --segflow-accent: … }`.
///
/// The `:host` rule is `!important`: inside a shadow tree an important declaration
/// beats every declaration of the page, even the page's own `!important` ones, so
/// page CSS such as `body * { display: none !important }` cannot hide or move the UI;
/// `all: initial` stops the page's inherited properties (colour, font, spacing) at
/// the host. Custom properties still inherit, which is what theming uses.
///
/// `all` leaves `direction` alone, so the UI follows a right-to-left page: sides
/// are logical (`inline-start`/`inline-end`: text, lists, the close button, the
/// progress), and "1 of 2" is bidi-isolated (`unicode-bidi: plaintext`) so it
/// reads in order there.
const CSS_SOURCE: &str = r#"
:host { all: initial !important; display: block !important; position: fixed !important; top: 0 !important; left: 0 !important; width: 0 !important; height: 0 !important; margin: 0 !important; padding: 0 !important; border: 0 !important; z-index: var(--segflow-z-index, 1234500) !important; visibility: visible !important; opacity: 1 !important; transform: none !important; filter: none !important; contain: none !important; clip-path: none !important; pointer-events: none !important; }
.layer { position: fixed; inset: 0; pointer-events: none; font: 15px/1.55 var(--segflow-font, ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif); color: var(--segflow-fg, #1f2937); text-align: start; -webkit-font-smoothing: antialiased; }
.backdrop { position: fixed; inset: 0; background: var(--segflow-backdrop, rgba(17, 24, 39, .55)); pointer-events: auto; animation: segflow-fade .2s ease-out; }
.step { position: fixed; box-sizing: border-box; pointer-events: auto; color: inherit; background: var(--segflow-bg, #fff); border-radius: var(--segflow-radius, 12px); box-shadow: var(--segflow-shadow, 0 0 0 1px rgba(17, 24, 39, .08), 0 4px 8px -2px rgba(17, 24, 39, .10), 0 20px 44px -8px rgba(17, 24, 39, .32)); padding: 18px 20px 16px; animation: segflow-fade .2s ease-out; }
.step:focus { outline: none; }
.tooltip { width: max-content; min-width: 240px; max-width: min(var(--segflow-width, 340px), calc(100vw - 16px)); }
.scroll { max-height: calc(100vh - 50px); overflow: auto; }
.bubble { width: min(var(--segflow-width, 340px), calc(100vw - 32px)); max-height: calc(100vh - 48px); overflow: auto; }
.step { overflow-wrap: anywhere; }
.modal { left: 50%; top: 50%; transform: translate(-50%, -50%); width: min(var(--segflow-modal-width, 460px), calc(100vw - 32px)); max-height: calc(100vh - 32px); overflow: auto; padding: 28px 28px 22px; animation: segflow-pop .22s cubic-bezier(.2, .8, .3, 1); }
.bubble.bottom-right { right: 24px; bottom: 24px; } .bubble.bottom-left { left: 24px; bottom: 24px; }
.bubble.top-right { right: 24px; top: 24px; } .bubble.top-left { left: 24px; top: 24px; }
.tooltip.hidden { visibility: hidden; }
.arrow { position: absolute; width: 14px; height: 14px; background: inherit; transform: rotate(45deg); pointer-events: none; }
.tooltip[data-side=bottom] .arrow { top: -7px; box-shadow: -1px -1px 0 rgba(17, 24, 39, .08); }
.tooltip[data-side=top] .arrow { bottom: -7px; box-shadow: 1px 1px 0 rgba(17, 24, 39, .08); }
.tooltip[data-side=left] .arrow { right: -7px; box-shadow: 1px -1px 0 rgba(17, 24, 39, .08); }
.tooltip[data-side=right] .arrow { left: -7px; box-shadow: -1px 1px 0 rgba(17, 24, 39, .08); }
h2 { margin: 0 0 6px; font-size: 17px; line-height: 1.35; font-weight: 650; letter-spacing: -.01em; color: var(--segflow-title, #111827); }
.dismissible h2 { margin-inline-end: 30px; }
.modal h2 { font-size: 21px; margin-bottom: 8px; }
.body { color: var(--segflow-text, #4b5563); }
.close + .body, .dismissible .scroll > .body:first-child { margin-inline-end: 30px; }
p { margin: 0 0 10px; } p:last-child, ul:last-child, ol:last-child { margin-bottom: 0; }
ul, ol { margin: 0 0 10px; padding: 0; padding-inline-start: 22px; } li { margin: 3px 0; }
strong { font-weight: 650; color: var(--segflow-fg, #1f2937); } em { font-style: italic; }
a { color: var(--segflow-link, var(--segflow-accent, #4f46e5)); text-decoration: underline; text-underline-offset: 2px; border-radius: 3px; }
img { display: block; width: 100%; height: auto; border-radius: 8px; margin: 2px 0 14px; }
.footer { display: flex; flex-wrap: wrap; align-items: center; justify-content: flex-end; gap: 8px; margin-top: 18px; }
.progress { margin-inline-end: auto; unicode-bidi: plaintext; font-size: 13px; color: var(--segflow-muted, #6b7280); font-variant-numeric: tabular-nums; }
button { box-sizing: border-box; margin: 0; font: inherit; font-size: 14px; font-weight: 550; line-height: 20px; padding: 7px 14px; border-radius: var(--segflow-button-radius, 8px); border: 1px solid var(--segflow-border, #d1d5db); background: var(--segflow-button-bg, #fff); color: var(--segflow-button-fg, #374151); cursor: pointer; transition: background-color .15s, box-shadow .15s; }
button:hover { background-color: var(--segflow-button-hover, #f3f4f6); }
button.primary { background: var(--segflow-accent, #4f46e5); border-color: var(--segflow-accent, #4f46e5); color: var(--segflow-accent-fg, #fff); box-shadow: 0 1px 2px rgba(17, 24, 39, .15); }
button.primary:hover { background-image: linear-gradient(rgba(0, 0, 0, .1), rgba(0, 0, 0, .1)); }
button.close { position: absolute; top: 10px; inset-inline-end: 10px; width: 32px; height: 32px; padding: 0; border: none; border-radius: 8px; background: transparent; font-size: 22px; font-weight: 400; line-height: 32px; text-align: center; color: var(--segflow-muted, #6b7280); }
button.close:hover { background: var(--segflow-button-hover, #f3f4f6); color: var(--segflow-title, #111827); }
button:focus-visible, a:focus-visible, .step:focus-visible { outline: 3px solid var(--segflow-focus, #b45309); outline-offset: 2px; }
.announce { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip-path: inset(50%); white-space: nowrap; border: 0; }
@media (forced-colors: active) { .step { border: 2px solid CanvasText; } .arrow { display: none; } }
@keyframes segflow-fade { from { opacity: 0; } to { opacity: 1; } }
@keyframes segflow-pop { from { opacity: 0; transform: translate(-50%, -48%) scale(.97); } to { opacity: 1; transform: translate(-50%, -50%); } }
@media (prefers-reduced-motion: reduce) { .step, .backdrop { animation: none; } * { transition: none !important; } }
"#;
const CSS_LEN: usize = crate::core::css::minify::<{ CSS_SOURCE.len() }>(CSS_SOURCE).1;
const CSS_MIN: [u8; CSS_LEN] = crate::core::css::exact::<CSS_LEN, { CSS_SOURCE.len() }>(CSS_SOURCE);
/// The stylesheet as shipped: [`CSS_SOURCE`] minified at compile time.
const CSS: &str = crate::core::css::text(&CSS_MIN, CSS_LEN);

/// A URL from content, resolved against the page by the browser's URL parser,
/// with the core's verdict ([`resolved_target`]): the resolved URL and where it
/// leads, or `None` when it must not be used.
pub fn vet_url(written: &str) -> Option<(String, Target)> {
    let parts = dom::resolve_url(written)?;
    let mut fields = parts.splitn(4, ' ');
    let (protocol, origin, page_origin, href) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    resolved_target(written, protocol, origin, page_origin).map(|t| (href.to_owned(), t))
}

/// The flow UI's root and what is on screen.
pub struct Ui {
    host: Held,
    root: Held,
    layer: Held,
    /// The step element on screen, if any.
    step: Option<Held>,
    /// Its side preference when it is a tooltip.
    side: Side,
    /// The current tooltip's target selector.
    pub target: Option<String>,
    /// The step is a modal (focus and keys are kept inside it).
    modal: bool,
    /// The ResizeObserver watching the step, if any.
    resize: Option<Held>,
    /// The polite live region that announces steps shown without taking focus.
    announce: Held,
    /// The page elements this UI made `inert` while a modal is open (exactly
    /// these lose it again).
    inert: Vec<Held>,
    /// The app's own modal `<dialog>` the UI was moved into ([`Ui::follow_dialog`]).
    dialog: Option<Held>,
}

/// A `<tag>` element with class `class` (none when empty) and the text `s`.
fn el_text(tag: &str, class: &str, s: &str) -> Option<Held> {
    let e = create(tag, class)?;
    e.add_text(s);
    Some(e)
}

/// Renders inline Markdown into `parent`; links become `<a>` (vetted) when
/// `links`, else only their text (inside a button, a link could not be used).
fn inlines(parent: &Held, items: &[Inline], links: bool) {
    for item in items {
        match item {
            Inline::Text(s) => parent.add_text(s),
            Inline::Bold(children) | Inline::Italic(children) => {
                let tag = if matches!(item, Inline::Bold(_)) {
                    "strong"
                } else {
                    "em"
                };
                if let Some(e) = create(tag, "") {
                    inlines(&e, children, links);
                    parent.append(&e);
                }
            }
            Inline::Link { href, children } => match links.then(|| vet_url(href)).flatten() {
                Some((resolved, target)) => {
                    if let Some(a) = create("a", "") {
                        a.set_attr("href", &resolved);
                        if target == Target::External {
                            a.set_attr("target", "_blank");
                            a.set_attr("rel", "noopener noreferrer");
                        }
                        inlines(&a, children, links);
                        parent.append(&a);
                    }
                }
                // Refused once resolved, or no links wanted: the text stays.
                None => inlines(parent, children, links),
            },
        }
    }
}

/// Renders Markdown blocks into `parent` (paragraphs and lists, links vetted).
pub fn nodes(parent: &Held, items: &[Node]) {
    for node in items {
        match node {
            Node::Paragraph(line) => {
                if let Some(p) = create("p", "") {
                    inlines(&p, line, true);
                    parent.append(&p);
                }
            }
            Node::List { ordered, items } => {
                if let Some(list) = create(if *ordered { "ol" } else { "ul" }, "") {
                    for item in items {
                        if let Some(li) = create("li", "") {
                            inlines(&li, item, true);
                            list.append(&li);
                        }
                    }
                    parent.append(&list);
                }
            }
        }
    }
}

/// Renders Markdown as one run of phrasing content for inside a button: blocks
/// joined by spaces, emphasis kept, links reduced to their text (a link inside a
/// button could not be used).
pub fn nodes_inline(parent: &Held, items: &[Node]) {
    let mut first = true;
    let mut line = |l: &[Inline]| {
        if !first {
            parent.add_text(" ");
        }
        first = false;
        inlines(parent, l, false);
    };
    for node in items {
        match node {
            Node::Paragraph(l) => line(l),
            Node::List { items, .. } => items.iter().for_each(|l| line(l)),
        }
    }
}

impl Ui {
    /// Creates the host element (last child of `<body>`) and its shadow root.
    pub fn new(z_index: i32) -> Option<Ui> {
        let (host, root, open) = dom::shadow_host("segflow-ui", CSS)?;
        if !open {
            // Clicks on its buttons and presses on the backdrop, which the
            // document's listeners (flows.rs) see only on an open root.
            dom::listen(&root, "click", super::wake::CLICK, true);
            dom::listen(&root, "mousedown", super::wake::MOUSEDOWN, true);
        }
        let layer = create("div", "layer")?;
        root.append(&layer);
        let announce = create("div", "announce")?;
        announce.set_attr("aria-live", "polite");
        root.append(&announce);
        let ui = Ui {
            host,
            root,
            layer,
            step: None,
            side: Side::Bottom,
            target: None,
            modal: false,
            resize: None,
            announce,
            inert: Vec::new(),
            dialog: None,
        };
        ui.set_z_index(z_index);
        dom::body()?.append(&ui.host);
        Some(ui)
    }

    /// Sets the stacking level of the whole UI (read by the `:host` rule).
    pub fn set_z_index(&self, z: i32) {
        self.host.style("--segflow-z-index", Some(&int(z as i64)));
    }

    /// Removes whatever is on screen.
    pub fn clear(&mut self) {
        for el in self.inert.drain(..) {
            el.attr("inert", None);
        }
        self.announce.set_text("");
        self.layer.set_text("");
        self.step = None;
        self.target = None;
        self.modal = false;
        if let Some(observer) = self.resize.take() {
            dom::unobserve_size(&observer);
        }
    }

    /// Whether a modal step is on screen.
    pub fn is_modal(&self) -> bool {
        self.modal && self.showing()
    }

    /// The page removed the UI while a step is up (it replaced `<body>`, as
    /// Turbo Drive or htmx do): put it back, with the page behind a modal inert
    /// again. Also makes `<body>` children added since a modal opened inert.
    pub fn keep_in_page(&mut self) {
        if self.step.is_none() {
            return;
        }
        let Some(body) = dom::body() else { return };
        if !self.host.connected() {
            body.append(&self.host);
            if !self.host.connected() {
                return;
            }
            self.inert.retain(Held::connected);
        }
        self.follow_dialog(&body);
        if self.modal {
            self.make_page_inert(&body);
        }
    }

    /// The app's own modal `<dialog>` is in the top layer, above any z-index, and
    /// makes everything outside it inert: a step outside would be covered and
    /// unusable, and seen by no one. While one is open the UI lives inside it, as
    /// its first child (so the app's `:last-child` rules and `lastElementChild`
    /// still see its own content), stacked above the dialog's content; what this
    /// UI made inert that now holds it is given back, and once the dialog closes
    /// the UI goes back to `<body>`. Of several modal dialogs the last in the
    /// document is taken (a nested or later one is usually on top; the top
    /// layer's order cannot be read). The UI is `position: fixed`, so placed as
    /// before. When the dialog itself is a containing block for fixed
    /// descendants (a `transform`, `filter` or `contain: paint` on it), a tooltip
    /// is still placed at its target ([`Ui::position`] takes the block's origin
    /// off), but a modal step is centred on the dialog and a bubble sits in the
    /// dialog's corner rather than the viewport's (a known limit), and a scale in
    /// the dialog's transform scales the UI too.
    fn follow_dialog(&mut self, body: &Held) {
        match dom::document().and_then(|d| d.find("dialog:modal", true)) {
            Some(d) => {
                if !d.contains(&self.host) {
                    d.prepend(&self.host);
                }
                self.dialog = Some(d);
                let host = &self.host;
                self.inert.retain(|el| {
                    let holds = el.contains(host);
                    if holds {
                        el.attr("inert", None);
                    }
                    !holds
                });
            }
            None => {
                if self.dialog.take().is_some() {
                    body.append(&self.host);
                }
            }
        }
    }

    /// Makes every other child of `<body>` `inert` (not focusable, hidden from
    /// assistive technology) while a modal is open; those already inert are left
    /// as they are, and [`Ui::clear`] undoes exactly what this did.
    fn make_page_inert(&mut self, body: &Held) {
        for i in 0..body.children() {
            let Some(child) = body.child(i) else {
                continue;
            };
            // Not the UI, nor an element the page moved it into.
            if child.contains(&self.host) || child.get_attr("inert").is_some() {
                continue;
            }
            child.set_attr("inert", "");
            self.inert.push(child);
        }
    }

    /// Tells screen readers, politely, about a step shown without taking focus:
    /// its title (or the flow's name) and the key that goes there.
    pub fn announce(&self, view: &StepView) {
        let title = view.blocks.iter().find_map(|b| match b {
            ViewBlock::Title(t) => Some(t.as_str()),
            _ => None,
        });
        let mut s = String::from(title.unwrap_or(&view.flow_name));
        s.push_str(". Press Alt+Shift+F to go to it.");
        self.announce.set_text(&s);
    }

    /// Whether `el` belongs to the flow UI (is inside its shadow root).
    pub fn owns(&self, el: &Held) -> bool {
        el.in_root(&self.root)
    }

    /// Whether `el` is the UI's host element.
    pub fn is_host(&self, el: &Held) -> bool {
        el.same(&self.host)
    }

    /// Whether event `e`'s composed path passes through the flow UI.
    pub fn in_path(&self, e: &Held) -> bool {
        e.event_passes(&self.host)
    }

    /// Whether a step is on screen.
    pub fn showing(&self) -> bool {
        self.step.is_some() && self.host.connected()
    }

    /// Renders a step, replacing what was there. Buttons carry `data-sf="btn:<index>"`
    /// and the close button `data-sf="close"` for the delegated click handler.
    /// A tooltip is placed again whenever the step's size changes (images
    /// loading, fonts): `wake::STEP_RESIZED`.
    pub fn show(&mut self, view: &StepView) -> Option<()> {
        self.clear();
        let body = dom::body()?;
        if !self.host.connected() {
            // The app replaced the body (or removed us): come back.
            body.append(&self.host);
        }
        self.follow_dialog(&body);
        let (mut class, modal) = match &view.kind {
            ViewKind::Modal => (String::from("step modal"), true),
            ViewKind::Tooltip { .. } => (String::from("step tooltip hidden"), false),
            ViewKind::Bubble { corner } => (String::from("step bubble ") + corner.as_str(), false),
        };
        if view.dismissible {
            class.push_str(" dismissible");
        }
        self.modal = modal;
        if modal {
            let backdrop = create("div", "backdrop")?;
            self.layer.append(&backdrop);
            self.make_page_inert(&body);
        }
        let step = create("div", &class)?;
        step.set_attr("role", "dialog");
        step.set_attr("tabindex", "-1");
        step.set_attr("data-step", &view.step_id);
        if modal {
            step.set_attr("aria-modal", "true");
        }
        // A tooltip's blocks scroll inside it (it is sized by its content, and
        // may be taller than the viewport), with the arrow and the close button
        // outside the scrolling box, on its edge and in its corner.
        let content = if matches!(view.kind, ViewKind::Tooltip { .. }) {
            let scroll = create("div", "scroll")?;
            step.append(&scroll);
            scroll
        } else {
            step.dup()
        };
        let mut has_title = false;
        let mut has_body = false;
        for block in &view.blocks {
            match block {
                ViewBlock::Title(t) => {
                    let h = el_text("h2", "", t)?;
                    if !has_title {
                        h.set_attr("id", "segflow-title");
                        has_title = true;
                    }
                    content.append(&h);
                }
                ViewBlock::Text(nodes_) => {
                    let body = create("div", "body")?;
                    if !has_body {
                        body.set_attr("id", "segflow-body");
                        has_body = true;
                    }
                    nodes(&body, nodes_);
                    content.append(&body);
                }
                ViewBlock::Image { src, alt } => {
                    // Refused once resolved: no image (nothing is fetched).
                    let Some((src, _)) = vet_url(src) else {
                        continue;
                    };
                    let img = create("img", "")?;
                    img.set_attr("src", &src);
                    img.set_attr("alt", alt);
                    content.append(&img);
                }
            }
        }
        if has_title {
            step.set_attr("aria-labelledby", "segflow-title");
        } else {
            step.set_attr("aria-label", &view.flow_name);
        }
        if has_body {
            step.set_attr("aria-describedby", "segflow-body");
        }
        if view.progress.is_some() || !view.buttons.is_empty() {
            let footer = create("div", "footer")?;
            if let Some((n, m)) = view.progress {
                let mut s = int(n as i64);
                s.push_str(" of ");
                s.push_str(&int(m as i64));
                footer.append(&el_text("span", "progress", &s)?);
            }
            for b in &view.buttons {
                let button = el_text("button", if b.primary { "primary" } else { "" }, &b.label)?;
                button.set_attr("type", "button");
                button.set_attr("data-sf", &(String::from("btn:") + &int(b.index as i64)));
                footer.append(&button);
            }
            content.append(&footer);
        }
        if view.dismissible {
            // First in the step, so first in tab order, as it sits first (top
            // right) to the eye.
            let close = el_text("button", "close", "\u{d7}")?;
            close.set_attr("type", "button");
            close.set_attr("data-sf", "close");
            close.set_attr("aria-label", "Close");
            step.prepend(&close);
        }
        if let ViewKind::Tooltip { target, placement } = &view.kind {
            step.append(&create("div", "arrow")?);
            self.target = Some(target.clone());
            self.side = match placement.as_str() {
                "top" => Side::Top,
                "left" => Side::Left,
                "right" => Side::Right,
                _ => Side::Bottom,
            };
        }
        self.layer.append(&step);
        if self.target.is_some() {
            self.resize = dom::observe_size(&step, super::wake::STEP_RESIZED);
        }
        self.step = Some(step);
        Some(())
    }

    /// Places the tooltip next to `target` (flip and shift to stay in the viewport);
    /// hides it while the target is scrolled out of sight, and while it is missing
    /// or not displayed, which is answered `false` (the target is lost: the shell
    /// tells the engine, [`crate::core::content::engine::Input::TargetLost`]).
    pub fn position(&self, target: Option<&Held>) -> bool {
        let Some(step) = &self.step else {
            return true;
        };
        let Some(target) = target.filter(|t| t.rendered()) else {
            step.set_class("hidden", true);
            return false;
        };
        let r = rect_of(target);
        let (vw, vh) = dom::viewport();
        if r.y + r.height <= 0.0 || r.x + r.width <= 0.0 || r.y >= vh || r.x >= vw {
            // Scrolled out of sight: an arrow pointing at nothing helps nobody.
            step.set_class("hidden", true);
            return true;
        }
        let own = rect_of(step);
        let p = placement::place(r, own.width, own.height, vw, vh, self.side);
        // Placed in viewport coordinates; `left`/`top` are from the UI's containing
        // block, whose origin the host (fixed at 0, 0) shows: the viewport's, or a
        // transformed <dialog>'s that the UI was moved into (see `follow_dialog`).
        let o = rect_of(&self.host);
        step.style("left", Some(&px(p.x - o.x)));
        step.style("top", Some(&px(p.y - o.y)));
        step.set_attr("data-side", p.side.as_str());
        if let Some(arrow) = step.find(".arrow", false) {
            let (set, clear) = match p.side {
                Side::Top | Side::Bottom => ("left", "top"),
                Side::Left | Side::Right => ("top", "left"),
            };
            arrow.style(set, Some(&px(p.arrow - 7.0)));
            arrow.style(clear, None);
        }
        step.set_class("hidden", false);
        true
    }

    /// Whether the UI is laid out right to left: the computed `direction` the
    /// host inherits from the page (a `dir` attribute or CSS alike; `all: initial`
    /// leaves `direction` alone).
    pub fn rtl(&self) -> bool {
        self.host.rtl()
    }

    /// The step on screen, unless it is a modal or hidden (the checklist keeps
    /// clear of it).
    pub fn obstacles(&self) -> Vec<Rect> {
        match &self.step {
            Some(step) if !self.modal && !step.has_class("hidden") => {
                vec![rect_of(step)]
            }
            _ => Vec::new(),
        }
    }

    /// Where focus goes in the step: its primary button, else its first button, else
    /// the dialog itself. (Focus it outside any borrow: focusing runs page handlers.)
    pub fn focus_target(&self) -> Option<Held> {
        let step = self.step.as_ref()?;
        Some(
            step.find("button.primary", false)
                .or_else(|| step.find(".footer button", false))
                .unwrap_or_else(|| step.dup()),
        )
    }

    /// Keeps Tab inside a modal step: from the last focusable element Tab wraps to
    /// the first, Shift+Tab from the first to the last, and from outside the step
    /// either goes in. Returns the element to focus (the key's default must then be
    /// prevented), or `None` to let the browser move focus within the step.
    pub fn tab_target(&self, backwards: bool) -> Option<Held> {
        let step = self.step.as_ref().filter(|_| self.modal)?;
        const FOCUSABLE: &str = "button, a[href]";
        let Some(first) = step.find(FOCUSABLE, false) else {
            return Some(step.dup());
        };
        let last = step.find(FOCUSABLE, true)?;
        let active = self.root.active();
        let at_edge = if backwards { &first } else { &last };
        let inside = active.as_ref().is_some_and(|a| step.contains(a));
        if !inside || active.is_some_and(|a| a.same(at_edge)) {
            return Some(if backwards { last } else { first });
        }
        None
    }

    /// Whether keyboard focus is inside the flow UI.
    pub fn has_focus(&self) -> bool {
        self.root.active().is_some()
    }
}

fn px(v: f64) -> String {
    let mut s = int(crate::core::float::round(v) as i64);
    s.push_str("px");
    s
}

/// `n` in decimal, without `core::fmt` (an integer's `to_string` brought 1.8 KB
/// of formatting code into the content module).
fn int(n: i64) -> String {
    let mut s = String::new();
    crate::core::json::push_i64(n, &mut s);
    s
}

/// An element's bounding rectangle in viewport coordinates.
pub fn rect_of(el: &Held) -> Rect {
    let [x, y, width, height] = el.rect();
    Rect {
        x,
        y,
        width,
        height,
    }
}
