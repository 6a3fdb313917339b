//! The JS API, shaped like Userflow.js and analytics.js.
//!
//! Every function either returns normally or throws a JS `Error` with a stable `code`
//! (`invalid_argument`, `payload_too_large`, `not_initialized`,
//! `already_initialized`). Nothing panics across this boundary. Each call reads
//! its arguments off JS values, hands them to the core client through
//! [`driver::call`], and runs as one [`dispatch::batch`]: listeners it causes are
//! called once it is done.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::dispatch::{self, batch};
use super::driver::{self, call, with_rt};
use super::{error, flows, js_error, lifecycle, object_to_json};
use crate::core::client::{ClientConfig, Raw};
use crate::core::error::{Error, ErrorCode};
use crate::core::identity::validate_id;
use crate::core::json::{self, Json};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A trait or property value as Segment accepts it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A Userflow-style change operation on a stored attribute. */
export type AttributeChange =
  | { set: JsonValue; data_type?: DataType }
  | { set_once: JsonValue; data_type?: DataType }
  | { add: number | string; data_type?: DataType }
  | { subtract: number | string; data_type?: DataType }
  | { append: JsonValue; data_type?: DataType }
  | { prepend: JsonValue; data_type?: DataType }
  | { remove: JsonValue; data_type?: DataType };
/** Types an attribute change may coerce its value to. */
export type DataType = "string" | "boolean" | "number" | "datetime" | "list";
/** User or group traits: plain values or change operations. */
export type Traits = { [key: string]: JsonValue | AttributeChange | Date | undefined };
/** Event properties. */
export type Properties = { [key: string]: JsonValue | Date | undefined };
/** Options for `init`. */
export interface InitOptions {
  /** The write key of the Segment HTTP API source (required). */
  writeKey: string;
  /** Default `https://api.segment.io/v1`; any host, e.g. a first-party proxy or `http://127.0.0.1:8787/v1`. */
  apiHost?: string;
  /** Label for this environment (`production`, `staging`, ...). */
  environment?: string;
  /** Send when this many events are queued. Default 20. */
  flushAt?: number;
  /** Send queued events at least this often, in ms. Default 1000. */
  flushInterval?: number;
  /** Queue bound by count; the oldest are dropped past it. Default 10000. */
  maxQueueEvents?: number;
  /** Queue bound by bytes; the oldest are dropped past it. Default 2 MiB. */
  maxQueueBytes?: number;
  /** A request unanswered after this many ms is aborted and retried. Default 10000. */
  requestTimeout?: number;
  /** Events first queued longer ago than this (in days, fractions allowed) are dropped as `expired`. Default 7. */
  maxEventAgeDays?: number;
  /** Also send `Authorization: Basic` with each batch (a CORS preflight per batch cross-origin). Default false: the write key is in the body. */
  basicAuth?: boolean;
  /** Track property that carries the active group id, e.g. `company_id`. */
  companyEventProperty?: string;
  /** Send events to Segment. Default true. */
  stream?: boolean;
  /** Rewrites page URLs (and the referrer) before they leave the browser. */
  urlFilter?: (url: string) => string;
  /** Flow content (an object in the content schema) or the URL of a JSON document in it. */
  content?: Content | string;
  /** Emit `page_viewed` on load and on every navigation. Default true. */
  pageTracking?: boolean;
  /** Segment `integrations` object sent with every message. Default `{}`. */
  integrations?: { [destination: string]: boolean | { [key: string]: JsonValue } };
}
/** What `user()` returns. */
export interface UserState {
  userId: string | null;
  anonymousId: string;
  groupId: string | null;
  traits: { [key: string]: JsonValue };
  groupTraits: { [key: string]: JsonValue };
}
/** Payload of the `delivered` event. */
export interface DeliveredEvent { count: number; messageIds: string[] }
/** Payload of the `dropped` event. */
export interface DroppedEvent { count: number; messageIds: string[]; reason: "queue_full" | "rejected" | "expired" | "invalid"; status?: number }
/** What `flush()` resolves to: how many of the events it waited for are still queued (to be retried). */
export interface FlushResult { pending: number }
/** Payload of the `error` event: an Error with a code. */
export interface SegflowError extends Error { code: string; reason?: string; count?: number }
/** Properties every generated event carries (snake_case, as sent to Segment). */
export interface GeneratedEventBase { page_url: string; viewport_width: number; viewport_height: number; locale_code: string }
/** Properties of flow events. */
export interface FlowEvent extends GeneratedEventBase { flow_id: string; flow_name: string; flow_version_id: string | null; flow_version_number: number | null }
/** Properties of step events. */
export interface FlowStepEvent extends FlowEvent { flow_step_id: string; flow_step_name: string | null; flow_step_number: number; flow_step_progress: number }
/** Why a flow started. */
export type FlowStartReason = "program" | "url" | "event" | "action" | "session";
/** Why a flow ended. */
export type FlowEndReason = "user_closed" | "action" | "replaced" | "tooltip_target_missing" | "program" | "step_not_found" | "content_not_found" | "completed";
/** Events `on` and `off` take, with their payloads. */
export type SegflowEventMap = {
  delivered: DeliveredEvent; dropped: DroppedEvent; error: SegflowError;
  flowStarted: FlowEvent & { flow_start_reason: FlowStartReason };
  flowStepSeen: FlowStepEvent; flowCompleted: FlowEvent;
  flowEnded: FlowEvent & { flow_end_reason: FlowEndReason };
  tooltipTargetMissing: FlowStepEvent; pageViewed: GeneratedEventBase;
};
/** Flow content: see docs/CONTENT.md and docs/content-schema.json. */
export interface Content { version: 1; flows: Flow[] }
/** One flow. */
export interface Flow { id: string; name: string; version_id?: string; version_number?: number; show_progress?: boolean; dismissible?: boolean; repeat?: boolean; start?: ({ url: string } | { event: string })[]; steps: Step[] }
/** A flow step. */
export interface Step { id: string; name?: string; type: "modal" | "tooltip" | "bubble" | "hidden"; target?: string; placement?: "top" | "bottom" | "left" | "right"; target_timeout_ms?: number; on_target_missing?: "end" | "bubble"; corner?: "bottom-right" | "bottom-left" | "top-right" | "top-left"; blocks?: Block[]; triggers?: Trigger[] }
/** A step content block. */
export type Block = { type: "title"; text: string } | { type: "text"; markdown: string } | { type: "image"; src: string; alt?: string } | { type: "button"; label: string; action: Action; primary?: boolean };
/** What a button or trigger does. */
export type Action = { type: "next" } | { type: "back" } | { type: "end" } | { type: "go_to_step"; step: string } | { type: "start_flow"; flow: string } | { type: "navigate"; url: string } | { type: "track"; event: string };
/** Advances or ends a step without a button. */
export interface Trigger { when: { type: "target_clicked" } | { type: "element_appears"; selector: string } | { type: "url_matches"; pattern: string } | { type: "event_tracked"; event: string } | { type: "wait"; seconds: number }; action: Action }
/** Listens for an event; the listener gets that event's payload type. */
export function on<K extends keyof SegflowEventMap>(event: K, listener: (payload: SegflowEventMap[K]) => void): void;
/** Removes a listener added with `on`. */
export function off<K extends keyof SegflowEventMap>(event: K, listener: (payload: SegflowEventMap[K]) => void): void;
"#;

/// Delivery events, besides the generated events of the catalog (`flowStarted`, ...).
const DELIVERY_EVENTS: [&str; 3] = ["delivered", "dropped", "error"];

fn known_event(name: &str) -> bool {
    DELIVERY_EVENTS.contains(&name)
        || crate::core::catalog::CATALOG
            .iter()
            .any(|spec| spec.listener == name)
}

/// Reads `options[key]`: `None` when absent (undefined or null).
fn option(options: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(options, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// One init option as the core's [`Raw`] (a getter that throws reads as `Other`).
fn raw(options: &JsValue, key: &str) -> Raw {
    match Reflect::get(options, &JsValue::from_str(key)) {
        Ok(v) if v.is_undefined() || v.is_null() => Raw::Absent,
        Ok(v) => {
            if let Some(s) = v.as_string() {
                Raw::Str(s)
            } else if let Some(n) = v.as_f64() {
                Raw::Num(n)
            } else if let Some(b) = v.as_bool() {
                Raw::Bool(b)
            } else {
                Raw::Other
            }
        }
        Err(_) => Raw::Other,
    }
}

/// Fails with `not_initialized` before `init`.
fn ready() -> Result<(), JsValue> {
    with_rt(|_| ())
}

/// Starts segflow. Must come before every other call.
#[wasm_bindgen]
pub fn init(
    #[wasm_bindgen(unchecked_param_type = "InitOptions")] options: JsValue,
) -> Result<(), JsValue> {
    if driver::is_initialized() {
        return Err(error(
            ErrorCode::AlreadyInitialized,
            "segflow: init was already called",
        ));
    }
    if !options.is_object() {
        return Err(js_error(Error::invalid(
            "segflow: init needs an options object with a writeKey",
        )));
    }
    let integrations = match Reflect::get(&options, &"integrations".into()) {
        Ok(v) => object_to_json(&v, "integrations")?,
        Err(_) => String::from("{}"),
    };
    let config =
        ClientConfig::from_options(|k| raw(&options, k), integrations).map_err(js_error)?;
    let url_filter = match Reflect::get(&options, &"urlFilter".into()) {
        Ok(f) if f.is_function() => Some(Function::from(f)),
        Ok(f) if f.is_undefined() || f.is_null() => None,
        _ => {
            return Err(js_error(Error::invalid(
                "segflow: urlFilter must be a function",
            )))
        }
    };
    // Content given as an object is checked now, so bad content fails `init` itself;
    // a string is a URL, loaded in the background (see `loadContent`).
    let (content, content_url) = match option(&options, "content") {
        None => (None, None),
        Some(v) => match v.as_string() {
            Some(url) => (None, Some(url)),
            None => {
                let text = object_to_json(&v, "content")?;
                (Some(flows::parse(&text).map_err(js_error)?), None)
            }
        },
    };
    let page_tracking = config.page_tracking;
    batch(|| {
        super::page::set_filter(url_filter);
        lifecycle::start(config);
        flows::install(content, page_tracking);
        if let Some(url) = content_url {
            if let Ok(promise) = load_content(JsValue::from_str(&url)) {
                let report = Closure::<dyn FnMut(JsValue)>::new(|err: JsValue| {
                    dispatch::emit("error", err);
                });
                let _ = promise.catch(&report);
                report.forget();
            }
        }
    });
    Ok(())
}

/// Loads flow content: an object in the content schema (`docs/CONTENT.md`), or the URL
/// of a JSON document in it. Flows with the same id are replaced. The Promise rejects
/// with `invalid_argument` for content that does not follow the schema (the message
/// names the offending path) or `content_unavailable` when the URL cannot be read.
#[wasm_bindgen(js_name = loadContent, unchecked_return_type = "Promise<void>")]
pub fn load_content(
    #[wasm_bindgen(unchecked_param_type = "string | Content")] source: JsValue,
) -> Result<Promise, JsValue> {
    ready()?;
    if let Some(url) = source.as_string() {
        let fetched = super::fetch_text(&url);
        let future = async move {
            let text = wasm_bindgen_futures::JsFuture::from(fetched).await?;
            let text = text.as_string().unwrap_or_default();
            let content = flows::parse(&text).map_err(js_error)?;
            flows::load(content);
            Ok(JsValue::UNDEFINED)
        };
        return Ok(wasm_bindgen_futures::future_to_promise(future));
    }
    let parsed =
        object_to_json(&source, "content").and_then(|text| flows::parse(&text).map_err(js_error));
    match parsed {
        Ok(content) => {
            flows::load(content);
            Ok(Promise::resolve(&JsValue::UNDEFINED))
        }
        Err(e) => Ok(Promise::reject(&e)),
    }
}

/// Starts a flow now (start reason `program`); with `{ once: true }` only if this user
/// has not started it before. Starting a flow ends the active one (reason `replaced`).
#[wasm_bindgen]
pub fn start(
    #[wasm_bindgen(js_name = flowId, unchecked_param_type = "string")] flow_id: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "{ once?: boolean }")] options: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let id = event_name(&flow_id, "flowId")?;
    let once = match (
        options.is_object(),
        options.is_undefined() || options.is_null(),
    ) {
        (true, _) => match option(&options, "once") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| js_error(Error::invalid("segflow: once must be a boolean")))?,
        },
        (false, true) => false,
        (false, false) => {
            return Err(js_error(Error::invalid(
                "segflow: options must be an object",
            )))
        }
    };
    flows::start(&id, once).map_err(js_error)
}

/// Ends the active flow (reason `program`).
#[wasm_bindgen(js_name = endAll)]
pub fn end_all() -> Result<(), JsValue> {
    ready()?;
    flows::end_all();
    Ok(())
}

/// Routes flow navigation (`navigate` actions) through the app's router; `null`
/// restores full page loads.
#[wasm_bindgen(js_name = setCustomNavigate)]
pub fn set_custom_navigate(
    #[wasm_bindgen(unchecked_param_type = "((url: string) => void) | null")] navigate: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    if navigate.is_null() || navigate.is_undefined() {
        flows::set_navigate(None);
    } else if navigate.is_function() {
        flows::set_navigate(Some(Function::from(navigate)));
    } else {
        return Err(js_error(Error::invalid(
            "segflow: setCustomNavigate takes a function or null",
        )));
    }
    Ok(())
}

/// Sets the z-index of the flow UI (default 1234500).
#[wasm_bindgen(js_name = setBaseZIndex)]
pub fn set_base_z_index(
    #[wasm_bindgen(js_name = zIndex, unchecked_param_type = "number")] z_index: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let z = z_index
        .as_f64()
        .filter(|z| z.is_finite() && z.abs() <= i32::MAX as f64 && *z == z.trunc())
        .ok_or_else(|| js_error(Error::invalid("segflow: setBaseZIndex takes an integer")))?;
    flows::set_z_index(z as i32);
    Ok(())
}

/// Turns the automatic `page_viewed` event off (`true`) or back on (`false`).
#[wasm_bindgen(js_name = setPageTrackingDisabled)]
pub fn set_page_tracking_disabled(disabled: bool) -> Result<(), JsValue> {
    ready()?;
    flows::set_page_tracking(!disabled);
    Ok(())
}

fn traits_arg(value: &JsValue, name: &str) -> Result<Json, JsValue> {
    let text = object_to_json(value, name)?;
    json::parse(&text).map_err(|_| {
        js_error(Error::invalid(
            String::from("segflow: ") + name + " must be an object",
        ))
    })
}

fn id_arg(value: &JsValue, name: &str) -> Result<String, JsValue> {
    let id = if let Some(s) = value.as_string() {
        s
    } else if let Some(n) = value.as_f64().filter(|n| n.is_finite()) {
        let mut s = String::new();
        json::write_number(n, &mut s);
        s
    } else {
        return Err(js_error(Error::invalid(
            String::from("segflow: ") + name + " must be a non-empty string or a finite number",
        )));
    };
    validate_id(&id, name).map_err(js_error)?;
    Ok(id)
}

fn optional_string(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(js_error(Error::invalid(
            "segflow: options must be an object",
        )));
    }
    let v = Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| {
        js_error(Error::invalid(
            String::from("segflow: ") + key + " must be a string",
        ))
    })
}

fn membership_arg(options: &JsValue) -> Result<Option<Json>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(js_error(Error::invalid(
            "segflow: options must be an object",
        )));
    }
    let m = Reflect::get(options, &"membership".into()).unwrap_or(JsValue::UNDEFINED);
    if m.is_undefined() || m.is_null() {
        return Ok(None);
    }
    traits_arg(&m, "membership").map(Some)
}

/// Identifies the signed-in user with the same user id Segment uses.
#[wasm_bindgen]
pub fn identify(
    #[wasm_bindgen(js_name = userId, unchecked_param_type = "string | number")] user_id: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Traits")] traits: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "{ signature?: string }")] options: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let user_id = id_arg(&user_id, "userId")?;
    let changes = traits_arg(&traits, "traits")?;
    optional_string(&options, "signature")?;
    batch(|| {
        call(&mut |c, now| c.identify(now, &user_id, &changes))?;
        if driver::user_changed() {
            flows::user_changed();
        }
        Ok(())
    })
}

/// Identifies a signed-out visitor by the anonymous id alone.
#[wasm_bindgen(js_name = identifyAnonymous)]
pub fn identify_anonymous(
    #[wasm_bindgen(unchecked_optional_param_type = "Traits")] traits: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let changes = traits_arg(&traits, "traits")?;
    batch(|| call(&mut |c, now| c.identify_anonymous(now, &changes)))
}

/// Changes the current user's traits (sent as an identify call).
#[wasm_bindgen(js_name = updateUser)]
pub fn update_user(
    #[wasm_bindgen(unchecked_param_type = "Traits")] traits: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let changes = traits_arg(&traits, "traits")?;
    batch(|| call(&mut |c, now| c.update_user(now, &changes)))
}

/// Associates the user with a group (company).
#[wasm_bindgen]
pub fn group(
    #[wasm_bindgen(js_name = companyId, unchecked_param_type = "string | number")]
    company_id: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Traits")] traits: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "{ membership?: Traits; signature?: string }")]
    options: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let group_id = id_arg(&company_id, "groupId")?;
    let changes = traits_arg(&traits, "traits")?;
    let membership = membership_arg(&options)?;
    optional_string(&options, "signature")?;
    batch(|| call(&mut |c, now| c.group(now, &group_id, &changes, membership.as_ref())))
}

/// Changes the active group's traits (sent as a group call).
#[wasm_bindgen(js_name = updateGroup)]
pub fn update_group(
    #[wasm_bindgen(unchecked_param_type = "Traits")] traits: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "{ membership?: Traits; signature?: string }")]
    options: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let changes = traits_arg(&traits, "traits")?;
    let membership = membership_arg(&options)?;
    batch(|| call(&mut |c, now| c.update_group(now, &changes, membership.as_ref())))
}

fn event_name(value: &JsValue, what: &str) -> Result<String, JsValue> {
    match value.as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(js_error(Error::invalid(
            String::from("segflow: ") + what + " must be a non-empty string",
        ))),
    }
}

/// Records an event. Flows whose triggers or start rules wait for it react too.
#[wasm_bindgen]
pub fn track(
    #[wasm_bindgen(unchecked_param_type = "string")] event: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Properties")] properties: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let event = event_name(&event, "event")?;
    let props = object_to_json(&properties, "properties")?;
    batch(|| {
        call(&mut |c, now| c.track(now, &event, &props))?;
        flows::event_tracked(&event);
        Ok(())
    })
}

/// Records a page view. The page's path, referrer, search, title and url are added
/// to the properties (the page's own properties win).
#[wasm_bindgen]
pub fn page(
    #[wasm_bindgen(unchecked_optional_param_type = "string")] name: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Properties")] properties: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let name = if name.is_undefined() || name.is_null() {
        None
    } else {
        Some(event_name(&name, "page name")?)
    };
    let props = object_to_json(&properties, "properties")?;
    batch(|| call(&mut |c, now| c.page_view(now, name.as_deref(), &props)))
}

/// Merges a previous id into `userId` (Segment alias) and makes `userId` current.
#[wasm_bindgen]
pub fn alias(
    #[wasm_bindgen(js_name = userId, unchecked_param_type = "string | number")] user_id: JsValue,
    #[wasm_bindgen(js_name = previousId, unchecked_optional_param_type = "string | number")]
    previous_id: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let user_id = id_arg(&user_id, "userId")?;
    let previous = if previous_id.is_undefined() || previous_id.is_null() {
        None
    } else {
        Some(id_arg(&previous_id, "previousId")?)
    };
    batch(|| {
        call(&mut |c, now| c.alias(now, &user_id, previous.as_deref()))?;
        if driver::user_changed() {
            flows::user_changed();
        }
        Ok(())
    })
}

/// Forgets the user, traits and group and starts a new anonymous id (sign-out).
/// Events already queued are still delivered.
#[wasm_bindgen]
pub fn reset() -> Result<(), JsValue> {
    ready()?;
    batch(|| {
        call(&mut |c, _| {
            c.reset();
            Ok(())
        })?;
        if driver::user_changed() {
            flows::user_changed();
        }
        Ok(())
    })
}

/// Whether `identify` (or `identifyAnonymous`) has been called for this visitor.
#[wasm_bindgen(js_name = isIdentified)]
pub fn is_identified() -> Result<bool, JsValue> {
    with_rt(|rt| rt.client.is_identified())
}

fn parse_to_js(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| Object::new().into())
}

/// The ids and traits segflow holds for the visitor.
#[wasm_bindgen(unchecked_return_type = "UserState")]
pub fn user() -> Result<JsValue, JsValue> {
    let (user_id, anonymous_id, group_id, traits, group_traits) = with_rt(|rt| {
        let id = rt.client.identity();
        (
            id.user_id.clone(),
            id.anonymous_id.clone(),
            id.group_id.clone(),
            id.user_traits.to_json(),
            id.group_traits.to_json(),
        )
    })?;
    let o = Object::new();
    let opt = |v: Option<String>| v.map(|s| JsValue::from_str(&s)).unwrap_or(JsValue::NULL);
    let _ = Reflect::set(&o, &"userId".into(), &opt(user_id));
    let _ = Reflect::set(&o, &"anonymousId".into(), &JsValue::from_str(&anonymous_id));
    let _ = Reflect::set(&o, &"groupId".into(), &opt(group_id));
    let _ = Reflect::set(&o, &"traits".into(), &parse_to_js(&traits));
    let _ = Reflect::set(&o, &"groupTraits".into(), &parse_to_js(&group_traits));
    Ok(o.into())
}

/// Turns sending to Segment off (at once) or back on. While off, new events are not
/// queued for Segment; events already stored (by this or earlier page loads, or
/// other tabs) are kept and go out when it is back on.
#[wasm_bindgen(js_name = setStreaming)]
pub fn set_streaming(on: bool) -> Result<(), JsValue> {
    batch(|| {
        call(&mut |c, now| {
            c.set_streaming(now, on);
            Ok(())
        })
    })
}

/// Sends everything queued now. The Promise resolves to `{ pending }` once each of
/// those events is delivered or dropped (`pending: 0`), or as soon as they cannot go
/// out now: offline, streaming off, or waiting to be retried after a failure
/// (`pending`: how many are still queued; they keep being retried).
#[wasm_bindgen(unchecked_return_type = "Promise<FlushResult>")]
pub fn flush() -> Result<Promise, JsValue> {
    batch(|| {
        let mut waiter = 0;
        call(&mut |c, now| {
            waiter = c.flush(now);
            Ok(())
        })?;
        Ok(Promise::new(&mut |resolve, _reject| {
            dispatch::add_waiter(waiter, resolve)
        }))
    })
}

fn listener_args(name: &JsValue, f: &JsValue) -> Result<(String, Function), JsValue> {
    let name = name.as_string().filter(|n| known_event(n)).ok_or_else(|| {
        let mut names = DELIVERY_EVENTS.join(", ");
        for spec in crate::core::catalog::CATALOG {
            names.push_str(", ");
            names.push_str(spec.listener);
        }
        js_error(Error::invalid(
            String::from("segflow: unknown event; expected one of: ") + &names,
        ))
    })?;
    if !f.is_function() {
        return Err(js_error(Error::invalid(
            "segflow: the listener must be a function",
        )));
    }
    Ok((name, Function::from(f.clone())))
}

/// Listens for `delivered`, `dropped`, `error` or a generated event.
#[wasm_bindgen]
pub fn on(
    #[wasm_bindgen(unchecked_param_type = "keyof SegflowEventMap")] event: JsValue,
    #[wasm_bindgen(
        unchecked_param_type = "(payload: SegflowEventMap[keyof SegflowEventMap]) => void"
    )]
    listener: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let (name, f) = listener_args(&event, &listener)?;
    dispatch::add_listener(name, f);
    Ok(())
}

/// Removes a listener added with `on`.
#[wasm_bindgen]
pub fn off(
    #[wasm_bindgen(unchecked_param_type = "keyof SegflowEventMap")] event: JsValue,
    #[wasm_bindgen(
        unchecked_param_type = "(payload: SegflowEventMap[keyof SegflowEventMap]) => void"
    )]
    listener: JsValue,
) -> Result<(), JsValue> {
    ready()?;
    let (name, f) = listener_args(&event, &listener)?;
    dispatch::remove_listener(&name, &f);
    Ok(())
}
