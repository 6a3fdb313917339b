//! Flow UI in the page: one Shadow DOM root that host CSS cannot reach and whose CSS
//! cannot leak, built with `createElement` and text nodes only (content is never
//! parsed as HTML), themeable through `--segflow-*` custom properties.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement, ShadowRoot};

use crate::core::content::engine::{ViewBlock, ViewKind};
use crate::core::content::markdown::{Inline, Node};
use crate::core::content::StepView;
use crate::core::placement::{self, Rect, Side};

/// Stylesheet of the flow UI. Every colour, radius and font reads a `--segflow-*`
/// custom property first, so a page themes it with `:root { --segflow-accent: … }`.
const CSS: &str = r#"
:host { all: initial; }
.layer { position: fixed; inset: 0; pointer-events: none; font-family: var(--segflow-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif); }
.backdrop { position: fixed; inset: 0; background: var(--segflow-backdrop, rgba(15, 20, 30, .45)); pointer-events: auto; }
.step { position: fixed; box-sizing: border-box; pointer-events: auto; color: var(--segflow-fg, #1d2433); background: var(--segflow-bg, #fff); border-radius: var(--segflow-radius, 10px); box-shadow: var(--segflow-shadow, 0 12px 40px rgba(15, 20, 30, .28)); padding: 20px 22px 16px; width: max-content; max-width: min(var(--segflow-width, 360px), calc(100vw - 16px)); font-size: 15px; line-height: 1.5; animation: segflow-in .18s ease-out; }
.step:focus { outline: none; }
.modal { left: 50%; top: 50%; transform: translate(-50%, -50%); max-width: min(var(--segflow-modal-width, 480px), calc(100vw - 16px)); }
.bubble.bottom-right { right: 24px; bottom: 24px; } .bubble.bottom-left { left: 24px; bottom: 24px; }
.bubble.top-right { right: 24px; top: 24px; } .bubble.top-left { left: 24px; top: 24px; }
.tooltip.hidden { visibility: hidden; }
.arrow { position: absolute; width: 12px; height: 12px; background: inherit; transform: rotate(45deg); }
.tooltip[data-side=bottom] .arrow { top: -6px; } .tooltip[data-side=top] .arrow { bottom: -6px; }
.tooltip[data-side=left] .arrow { right: -6px; } .tooltip[data-side=right] .arrow { left: -6px; }
h2 { margin: 0 28px 8px 0; font-size: 18px; line-height: 1.3; font-weight: 650; }
p { margin: 0 0 10px; } ul, ol { margin: 0 0 10px; padding-left: 22px; }
a { color: var(--segflow-link, var(--segflow-accent, #3d5afe)); }
img { display: block; max-width: 100%; height: auto; border-radius: 6px; margin: 0 0 10px; }
.footer { display: flex; align-items: center; gap: 8px; margin-top: 14px; }
.progress { margin-right: auto; font-size: 13px; color: var(--segflow-muted, #5b6478); }
button { font: inherit; font-size: 14px; border-radius: var(--segflow-button-radius, 6px); padding: 7px 14px; cursor: pointer; border: 1px solid var(--segflow-border, #c9cedb); background: var(--segflow-button-bg, #fff); color: inherit; }
button.primary { background: var(--segflow-accent, #3d5afe); border-color: var(--segflow-accent, #3d5afe); color: var(--segflow-accent-fg, #fff); }
button.close { position: absolute; top: 8px; right: 8px; width: 30px; height: 30px; padding: 0; border: none; background: transparent; font-size: 20px; line-height: 1; color: var(--segflow-muted, #5b6478); }
button:focus-visible, a:focus-visible, .step:focus-visible { outline: 3px solid var(--segflow-focus, #ffb300); outline-offset: 2px; }
@keyframes segflow-in { from { opacity: 0; } to { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .step { animation: none; } * { transition: none !important; } }
"#;

/// The flow UI's root and what is on screen.
pub struct Ui {
    host: HtmlElement,
    root: ShadowRoot,
    layer: Element,
    /// The step element on screen, if any.
    step: Option<HtmlElement>,
    /// Its side preference when it is a tooltip.
    side: Side,
    /// The current tooltip's target selector.
    pub target: Option<String>,
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

fn el(doc: &Document, tag: &str, class: &str) -> Option<Element> {
    let e = doc.create_element(tag).ok()?;
    if !class.is_empty() {
        e.set_class_name(class);
    }
    Some(e)
}

fn text(doc: &Document, parent: &Element, s: &str) {
    let _ = parent.append_child(&doc.create_text_node(s));
}

fn inlines(doc: &Document, parent: &Element, items: &[Inline]) {
    for item in items {
        match item {
            Inline::Text(s) => text(doc, parent, s),
            Inline::Bold(children) | Inline::Italic(children) => {
                let tag = if matches!(item, Inline::Bold(_)) {
                    "strong"
                } else {
                    "em"
                };
                if let Some(e) = el(doc, tag, "") {
                    inlines(doc, &e, children);
                    let _ = parent.append_child(&e);
                }
            }
            Inline::Link { href, children } => {
                if let Some(a) = el(doc, "a", "") {
                    let _ = a.set_attribute("href", href);
                    if href.starts_with("http:") || href.starts_with("https:") {
                        let _ = a.set_attribute("target", "_blank");
                        let _ = a.set_attribute("rel", "noopener noreferrer");
                    }
                    inlines(doc, &a, children);
                    let _ = parent.append_child(&a);
                }
            }
        }
    }
}

impl Ui {
    /// Creates the host element (last child of `<body>`) and its shadow root.
    pub fn new(z_index: i32) -> Option<Ui> {
        let doc = document()?;
        let host: HtmlElement = doc.create_element("segflow-ui").ok()?.dyn_into().ok()?;
        let root = host
            .attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))
            .ok()?;
        let style = el(&doc, "style", "")?;
        style.set_text_content(Some(CSS));
        let _ = root.append_child(&style);
        let layer = el(&doc, "div", "layer")?;
        let _ = root.append_child(&layer);
        let ui = Ui {
            host,
            root,
            layer,
            step: None,
            side: Side::Bottom,
            target: None,
        };
        ui.set_z_index(z_index);
        doc.body()?.append_child(&ui.host).ok()?;
        Some(ui)
    }

    /// Sets the stacking level of the whole UI.
    pub fn set_z_index(&self, z: i32) {
        let style = self.host.style();
        let _ = style.set_property("position", "fixed");
        let _ = style.set_property("z-index", &z.to_string());
        let _ = style.set_property("top", "0");
        let _ = style.set_property("left", "0");
    }

    /// Removes whatever is on screen.
    pub fn clear(&mut self) {
        self.layer.set_text_content(None);
        self.step = None;
        self.target = None;
    }

    /// Whether a step is on screen.
    pub fn showing(&self) -> bool {
        self.step.is_some()
    }

    /// The step element on screen.
    pub fn step(&self) -> Option<&HtmlElement> {
        self.step.as_ref()
    }

    /// Renders a step, replacing what was there. Buttons carry `data-sf="btn:<index>"`
    /// and the close button `data-sf="close"` for the delegated click handler.
    pub fn show(&mut self, view: &StepView) -> Option<()> {
        self.clear();
        let doc = document()?;
        let (class, modal) = match &view.kind {
            ViewKind::Modal => (String::from("step modal"), true),
            ViewKind::Tooltip { .. } => (String::from("step tooltip hidden"), false),
            ViewKind::Bubble { corner } => (String::from("step bubble ") + corner.as_str(), false),
        };
        if modal {
            let backdrop = el(&doc, "div", "backdrop")?;
            let _ = self.layer.append_child(&backdrop);
        }
        let step: HtmlElement = el(&doc, "div", &class)?.dyn_into().ok()?;
        let _ = step.set_attribute("role", "dialog");
        let _ = step.set_attribute("tabindex", "-1");
        let _ = step.set_attribute("data-step", &view.step_id);
        if modal {
            let _ = step.set_attribute("aria-modal", "true");
        }
        let mut has_title = false;
        let mut has_body = false;
        for block in &view.blocks {
            match block {
                ViewBlock::Title(t) => {
                    let h = el(&doc, "h2", "")?;
                    if !has_title {
                        let _ = h.set_attribute("id", "segflow-title");
                        has_title = true;
                    }
                    text(&doc, &h, t);
                    let _ = step.append_child(&h);
                }
                ViewBlock::Text(nodes) => {
                    let body = el(&doc, "div", "body")?;
                    if !has_body {
                        let _ = body.set_attribute("id", "segflow-body");
                        has_body = true;
                    }
                    for node in nodes {
                        match node {
                            Node::Paragraph(items) => {
                                let p = el(&doc, "p", "")?;
                                inlines(&doc, &p, items);
                                let _ = body.append_child(&p);
                            }
                            Node::List { ordered, items } => {
                                let list = el(&doc, if *ordered { "ol" } else { "ul" }, "")?;
                                for item in items {
                                    let li = el(&doc, "li", "")?;
                                    inlines(&doc, &li, item);
                                    let _ = list.append_child(&li);
                                }
                                let _ = body.append_child(&list);
                            }
                        }
                    }
                    let _ = step.append_child(&body);
                }
                ViewBlock::Image { src, alt } => {
                    let img = el(&doc, "img", "")?;
                    let _ = img.set_attribute("src", src);
                    let _ = img.set_attribute("alt", alt);
                    let _ = step.append_child(&img);
                }
            }
        }
        if has_title {
            let _ = step.set_attribute("aria-labelledby", "segflow-title");
        } else {
            let _ = step.set_attribute("aria-label", &view.flow_name);
        }
        if has_body {
            let _ = step.set_attribute("aria-describedby", "segflow-body");
        }
        if view.progress.is_some() || !view.buttons.is_empty() {
            let footer = el(&doc, "div", "footer")?;
            if let Some((n, m)) = view.progress {
                let span = el(&doc, "span", "progress")?;
                let mut s = n.to_string();
                s.push_str(" of ");
                s.push_str(&m.to_string());
                text(&doc, &span, &s);
                let _ = footer.append_child(&span);
            }
            for b in &view.buttons {
                let button = el(&doc, "button", if b.primary { "primary" } else { "" })?;
                let _ = button.set_attribute("type", "button");
                let _ =
                    button.set_attribute("data-sf", &(String::from("btn:") + &b.index.to_string()));
                text(&doc, &button, &b.label);
                let _ = footer.append_child(&button);
            }
            let _ = step.append_child(&footer);
        }
        if view.dismissible {
            let close = el(&doc, "button", "close")?;
            let _ = close.set_attribute("type", "button");
            let _ = close.set_attribute("data-sf", "close");
            let _ = close.set_attribute("aria-label", "Close");
            text(&doc, &close, "\u{d7}");
            let _ = step.append_child(&close);
        }
        if let ViewKind::Tooltip { target, placement } = &view.kind {
            let arrow = el(&doc, "div", "arrow")?;
            let _ = step.append_child(&arrow);
            self.target = Some(target.clone());
            self.side = match placement.as_str() {
                "top" => Side::Top,
                "left" => Side::Left,
                "right" => Side::Right,
                _ => Side::Bottom,
            };
        }
        let _ = self.layer.append_child(&step);
        self.step = Some(step);
        Some(())
    }

    /// Places the tooltip next to `target` (flip and shift to stay in the viewport);
    /// hides it while the target is not displayed.
    pub fn position(&self, target: Option<&Element>) {
        let (Some(step), Some(window)) = (&self.step, web_sys::window()) else {
            return;
        };
        let list = step.class_list();
        let visible = target.filter(|t| t.is_connected() && t.get_client_rects().length() > 0);
        let Some(target) = visible else {
            let _ = list.add_1("hidden");
            return;
        };
        let r = target.get_bounding_client_rect();
        let vw = window
            .inner_width()
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(1024.0);
        let vh = window
            .inner_height()
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(768.0);
        let own = step.get_bounding_client_rect();
        let p = placement::place(
            Rect {
                x: r.x(),
                y: r.y(),
                width: r.width(),
                height: r.height(),
            },
            own.width(),
            own.height(),
            vw,
            vh,
            self.side,
        );
        let style = step.style();
        let _ = style.set_property("left", &px(p.x));
        let _ = style.set_property("top", &px(p.y));
        let _ = step.set_attribute("data-side", p.side.as_str());
        if let Ok(Some(arrow)) = step.query_selector(".arrow") {
            if let Ok(arrow) = arrow.dyn_into::<HtmlElement>() {
                let s = arrow.style();
                let (set, clear) = match p.side {
                    Side::Top | Side::Bottom => ("left", "top"),
                    Side::Left | Side::Right => ("top", "left"),
                };
                let _ = s.set_property(set, &px(p.arrow - 6.0));
                let _ = s.remove_property(clear);
            }
        }
        let _ = list.remove_1("hidden");
    }

    /// Moves focus into the step: its primary button, else its first button, else the
    /// dialog itself.
    pub fn focus(&self) {
        let Some(step) = &self.step else { return };
        let target = step
            .query_selector("button.primary")
            .ok()
            .flatten()
            .or_else(|| step.query_selector(".footer button").ok().flatten())
            .and_then(|e| e.dyn_into::<HtmlElement>().ok())
            .unwrap_or_else(|| step.clone());
        let _ = target.focus();
    }

    /// Keeps Tab inside a modal step: wraps from the last focusable element to the
    /// first and back. Returns true when it moved focus (the event must not proceed).
    pub fn trap_tab(&self, backwards: bool) -> bool {
        let Some(step) = &self.step else { return false };
        if step.get_attribute("aria-modal").is_none() {
            return false;
        }
        let Ok(list) = step.query_selector_all("button, a[href]") else {
            return false;
        };
        let n = list.length();
        if n == 0 {
            let _ = step.focus();
            return true;
        }
        let first = list.get(0);
        let last = list.get(n - 1);
        let active: Option<web_sys::Node> = self.root.active_element().map(Into::into);
        let at_edge = if backwards { &first } else { &last };
        let inside = active.as_ref().is_some_and(|a| step.contains(Some(a)));
        if !inside || active.as_ref() == at_edge.as_ref() {
            let next = if backwards { last } else { first };
            if let Some(e) = next.and_then(|n| n.dyn_into::<HtmlElement>().ok()) {
                let _ = e.focus();
            }
            return true;
        }
        false
    }

    /// Whether keyboard focus is inside the flow UI.
    pub fn has_focus(&self) -> bool {
        self.root.active_element().is_some()
    }
}

fn px(v: f64) -> String {
    let mut s = (v.round() as i64).to_string();
    s.push_str("px");
    s
}

/// Hands the closure to JS for the life of the page.
pub fn leak(closure: Closure<dyn FnMut(web_sys::Event)>) -> js_sys::Function {
    closure.into_js_value().unchecked_into()
}
