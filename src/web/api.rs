//! The JS API, shaped like Userflow.js and analytics.js.
//!
//! Every function either returns normally or throws a JS `Error` with a stable `code`
//! (`invalid_argument`, `payload_too_large`, `not_initialized`,
//! `already_initialized`). Nothing panics across this boundary.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::flows;
use super::runtime::{self, dispatch, pump, resolve_all, with_rt, Runtime, Settings};
use super::{error, js_error, object_to_json};
use crate::core::delivery::DeliveryConfig;
use crate::core::error::{Error, ErrorCode};
use crate::core::identity::validate_id;
use crate::core::json::{self, write_string, Json};
use crate::core::message::{self, Call};

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
export interface DroppedEvent { count: number; messageIds: string[]; reason: "queue_full" | "rejected" | "max_attempts"; status?: number }
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

fn string_option(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    match option(options, key) {
        None => Ok(None),
        Some(v) => v.as_string().map(Some).ok_or_else(|| {
            js_error(Error::invalid(
                String::from("segflow: ") + key + " must be a string",
            ))
        }),
    }
}

/// A whole number option from 1 to `max`, or `default` when absent.
fn count_option(options: &JsValue, key: &str, default: f64, max: f64) -> Result<f64, JsValue> {
    match option(options, key) {
        None => Ok(default),
        Some(v) => match v.as_f64() {
            Some(n) if n.is_finite() && (1.0..=max).contains(&n) => Ok(n.floor()),
            _ => Err(js_error(Error::invalid(
                String::from("segflow: ")
                    + key
                    + " must be a number from 1 to "
                    + &(max as u64).to_string(),
            ))),
        },
    }
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Starts segflow. Must come before every other call.
#[wasm_bindgen]
pub fn init(
    #[wasm_bindgen(unchecked_param_type = "InitOptions")] options: JsValue,
) -> Result<(), JsValue> {
    if runtime::is_initialized() {
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
    let write_key = match string_option(&options, "writeKey")? {
        Some(k) if !k.trim().is_empty() => k,
        _ => {
            return Err(js_error(Error::invalid(
                "segflow: init needs a non-empty writeKey",
            )))
        }
    };
    let environment = string_option(&options, "environment")?.filter(|e| !e.is_empty());
    let company_property =
        string_option(&options, "companyEventProperty")?.filter(|p| !p.is_empty());
    let stream = match option(&options, "stream") {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| js_error(Error::invalid("segflow: stream must be a boolean")))?,
    };
    let api_host = string_option(&options, "apiHost")?
        .unwrap_or_else(|| String::from("https://api.segment.io/v1"));
    let api_host = api_host.trim_end_matches('/');
    if !(api_host.starts_with("https://") || api_host.starts_with("http://")) {
        return Err(js_error(Error::invalid(
            "segflow: apiHost must be an http(s) URL such as https://api.segment.io/v1",
        )));
    }
    let url_filter = match Reflect::get(&options, &"urlFilter".into()) {
        Ok(f) if f.is_function() => Some(Function::from(f)),
        Ok(f) if f.is_undefined() || f.is_null() => None,
        _ => {
            return Err(js_error(Error::invalid(
                "segflow: urlFilter must be a function",
            )))
        }
    };
    let integrations = match Reflect::get(&options, &"integrations".into()) {
        Ok(v) => object_to_json(&v, "integrations")?,
        Err(_) => String::from("{}"),
    };
    let defaults = DeliveryConfig::default();
    let config = DeliveryConfig {
        flush_at: count_option(&options, "flushAt", defaults.flush_at as f64, 2500.0)? as usize,
        flush_interval_ms: count_option(
            &options,
            "flushInterval",
            defaults.flush_interval_ms as f64,
            3.6e6,
        )? as u64,
        max_queue_events: count_option(
            &options,
            "maxQueueEvents",
            defaults.max_queue_events as f64,
            1e6,
        )? as usize,
        max_queue_bytes: count_option(
            &options,
            "maxQueueBytes",
            defaults.max_queue_bytes as f64,
            1e9,
        )? as usize,
        ..defaults
    };
    let mut body_prefix = String::from("{\"writeKey\":");
    write_string(&write_key, &mut body_prefix);
    body_prefix.push(',');
    let settings = Settings {
        batch_url: String::from(api_host) + "/batch",
        auth: String::from("Basic ") + &base64((write_key.clone() + ":").as_bytes()),
        body_prefix,
        write_key,
        environment,
        company_property,
        url_filter,
        integrations,
    };
    let page_tracking = match option(&options, "pageTracking") {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| js_error(Error::invalid("segflow: pageTracking must be a boolean")))?,
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
    runtime::install(Runtime::new(settings, config, stream));
    flows::install(content, page_tracking);
    if let Some(url) = content_url {
        let promise = load_content(JsValue::from_str(&url))?;
        let report = Closure::<dyn FnMut(JsValue)>::new(|err: JsValue| {
            dispatch(vec![("error", err)]);
        });
        let _ = promise.catch(&report);
        report.forget();
    }
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
    with_rt(|_| Ok(()))?;
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
    with_rt(|_| Ok(()))?;
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
    with_rt(|_| Ok(()))?;
    flows::end_all();
    Ok(())
}

/// Routes flow navigation (`navigate` actions) through the app's router; `null`
/// restores full page loads.
#[wasm_bindgen(js_name = setCustomNavigate)]
pub fn set_custom_navigate(
    #[wasm_bindgen(unchecked_param_type = "((url: string) => void) | null")] navigate: JsValue,
) -> Result<(), JsValue> {
    with_rt(|_| Ok(()))?;
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
    with_rt(|_| Ok(()))?;
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
    with_rt(|_| Ok(()))?;
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

fn finish(result: Result<Vec<runtime::Emit>, Error>) -> Result<(), JsValue> {
    let emits = result.map_err(js_error)?;
    dispatch(emits);
    pump();
    Ok(())
}

fn save_identity(rt: &mut Runtime) {
    let id = rt.identity.clone();
    rt.store.save_identity(&id);
}

/// Identifies the signed-in user with the same user id Segment uses.
#[wasm_bindgen]
pub fn identify(
    #[wasm_bindgen(js_name = userId, unchecked_param_type = "string | number")] user_id: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Traits")] traits: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "{ signature?: string }")] options: JsValue,
) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        let user_id = id_arg(&user_id, "userId")?;
        let changes = traits_arg(&traits, "traits")?;
        optional_string(&options, "signature")?;
        let mut next = rt.identity.clone();
        next.identify(&user_id, &changes, super::uuid)
            .map_err(js_error)?;
        let traits_json = next.user_traits.to_json();
        let previous = std::mem::replace(&mut rt.identity, next);
        match rt.send(Call::Identify {
            traits: &traits_json,
        }) {
            Ok(e) => {
                save_identity(rt);
                Ok(Ok(e))
            }
            Err(e) => {
                rt.identity = previous;
                Ok(Err(e))
            }
        }
    })?;
    finish(result)?;
    flows::user_changed();
    Ok(())
}

/// Identifies a signed-out visitor by the anonymous id alone.
#[wasm_bindgen(js_name = identifyAnonymous)]
pub fn identify_anonymous(
    #[wasm_bindgen(unchecked_optional_param_type = "Traits")] traits: JsValue,
) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        let changes = traits_arg(&traits, "traits")?;
        let mut next = rt.identity.clone();
        next.update_user(&changes).map_err(js_error)?;
        let traits_json = next.user_traits.to_json();
        let previous = std::mem::replace(&mut rt.identity, next);
        match rt.send(Call::Identify {
            traits: &traits_json,
        }) {
            Ok(e) => {
                rt.anonymous_identified = true;
                save_identity(rt);
                Ok(Ok(e))
            }
            Err(e) => {
                rt.identity = previous;
                Ok(Err(e))
            }
        }
    })?;
    finish(result)
}

/// Changes the current user's traits (sent as an identify call).
#[wasm_bindgen(js_name = updateUser)]
pub fn update_user(
    #[wasm_bindgen(unchecked_param_type = "Traits")] traits: JsValue,
) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        if rt.identity.user_id.is_none() && !rt.anonymous_identified {
            return Err(js_error(Error {
                code: ErrorCode::NotInitialized,
                message: String::from(
                    "segflow: call identify() or identifyAnonymous() before updateUser()",
                ),
            }));
        }
        let changes = traits_arg(&traits, "traits")?;
        let mut next = rt.identity.clone();
        next.update_user(&changes).map_err(js_error)?;
        let traits_json = next.user_traits.to_json();
        let previous = std::mem::replace(&mut rt.identity, next);
        match rt.send(Call::Identify {
            traits: &traits_json,
        }) {
            Ok(e) => {
                save_identity(rt);
                Ok(Ok(e))
            }
            Err(e) => {
                rt.identity = previous;
                Ok(Err(e))
            }
        }
    })?;
    finish(result)
}

fn send_group(
    rt: &mut Runtime,
    next: crate::core::identity::Identity,
    membership: Option<String>,
) -> Result<Result<Vec<runtime::Emit>, Error>, JsValue> {
    let traits_json = next.group_traits.to_json();
    let group_id = next.group_id.clone().unwrap_or_default();
    let previous = std::mem::replace(&mut rt.identity, next);
    let result = match membership {
        // Membership (per-company user attributes, such as a role) travels in the
        // group call's traits under `membership`, as plain values.
        Some(m) => {
            let mut t = json::parse(&traits_json).unwrap_or(Json::Object(Vec::new()));
            t.set(
                "membership",
                json::parse(&m).unwrap_or(Json::Object(Vec::new())),
            );
            let text = t.to_json();
            rt.send(Call::Group {
                group_id: &group_id,
                traits: &text,
            })
        }
        None => rt.send(Call::Group {
            group_id: &group_id,
            traits: &traits_json,
        }),
    };
    match result {
        Ok(e) => {
            save_identity(rt);
            Ok(Ok(e))
        }
        Err(e) => {
            rt.identity = previous;
            Ok(Err(e))
        }
    }
}

fn membership_arg(options: &JsValue) -> Result<Option<String>, JsValue> {
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
    let changes = traits_arg(&m, "membership")?;
    let resolved = crate::core::identity::apply_changes(&Json::Object(Vec::new()), &changes)
        .map_err(js_error)?;
    Ok(Some(resolved.to_json()))
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
    let result = with_rt(|rt| {
        let group_id = id_arg(&company_id, "groupId")?;
        let changes = traits_arg(&traits, "traits")?;
        let membership = membership_arg(&options)?;
        optional_string(&options, "signature")?;
        let mut next = rt.identity.clone();
        next.group(&group_id, &changes).map_err(js_error)?;
        send_group(rt, next, membership)
    })?;
    finish(result)
}

/// Changes the active group's traits (sent as a group call).
#[wasm_bindgen(js_name = updateGroup)]
pub fn update_group(
    #[wasm_bindgen(unchecked_param_type = "Traits")] traits: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "{ membership?: Traits; signature?: string }")]
    options: JsValue,
) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        let changes = traits_arg(&traits, "traits")?;
        let membership = membership_arg(&options)?;
        let mut next = rt.identity.clone();
        next.update_group(&changes).map_err(js_error)?;
        send_group(rt, next, membership)
    })?;
    finish(result)
}

fn event_name(value: &JsValue, what: &str) -> Result<String, JsValue> {
    match value.as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(js_error(Error::invalid(
            String::from("segflow: ") + what + " must be a non-empty string",
        ))),
    }
}

/// Sends a `track` call with properties given as JSON text, adding the company event
/// property when a group is active. Shared by `track()` and generated flow events.
pub(super) fn track_internal(event: &str, properties: &str) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        let mut props = String::from(properties);
        if let (Some(key), Some(group)) = (&rt.settings.company_property, &rt.identity.group_id) {
            props = message::with_property(&props, key, group);
        }
        Ok(rt.send(Call::Track {
            event,
            properties: &props,
        }))
    })?;
    finish(result)
}

/// Records an event. Flows whose triggers or start rules wait for it react too.
#[wasm_bindgen]
pub fn track(
    #[wasm_bindgen(unchecked_param_type = "string")] event: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Properties")] properties: JsValue,
) -> Result<(), JsValue> {
    with_rt(|_| Ok(()))?;
    let event = event_name(&event, "event")?;
    let props = object_to_json(&properties, "properties")?;
    track_internal(&event, &props)?;
    flows::event_tracked(&event);
    Ok(())
}

/// Records a page view. The page's path, referrer, search, title and url are added
/// to the properties (the page's own properties win).
#[wasm_bindgen]
pub fn page(
    #[wasm_bindgen(unchecked_optional_param_type = "string")] name: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Properties")] properties: JsValue,
) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        let name = if name.is_undefined() || name.is_null() {
            None
        } else {
            Some(event_name(&name, "page name")?)
        };
        let props = object_to_json(&properties, "properties")?;
        let (page, _) = rt.page_and_context();
        let merged = message::page_properties(page, name.as_deref(), &props);
        Ok(rt.send(Call::Page {
            name: name.as_deref(),
            properties: &merged,
        }))
    })?;
    finish(result)
}

/// Merges a previous id into `userId` (Segment alias) and makes `userId` current.
#[wasm_bindgen]
pub fn alias(
    #[wasm_bindgen(js_name = userId, unchecked_param_type = "string | number")] user_id: JsValue,
    #[wasm_bindgen(js_name = previousId, unchecked_optional_param_type = "string | number")]
    previous_id: JsValue,
) -> Result<(), JsValue> {
    let result = with_rt(|rt| {
        let user_id = id_arg(&user_id, "userId")?;
        let previous = if previous_id.is_undefined() || previous_id.is_null() {
            rt.identity
                .user_id
                .clone()
                .unwrap_or_else(|| rt.identity.anonymous_id.clone())
        } else {
            id_arg(&previous_id, "previousId")?
        };
        let before = rt.identity.user_id.replace(user_id);
        match rt.send(Call::Alias {
            previous_id: &previous,
        }) {
            Ok(e) => {
                save_identity(rt);
                Ok(Ok(e))
            }
            Err(e) => {
                rt.identity.user_id = before;
                Ok(Err(e))
            }
        }
    })?;
    finish(result)
}

/// Forgets the user, traits and group and starts a new anonymous id (sign-out).
/// Events already queued are still delivered.
#[wasm_bindgen]
pub fn reset() -> Result<(), JsValue> {
    with_rt(|rt| {
        rt.identity.reset(super::uuid());
        rt.anonymous_identified = false;
        save_identity(rt);
        Ok(())
    })?;
    flows::user_changed();
    Ok(())
}

/// Whether `identify` (or `identifyAnonymous`) has been called for this visitor.
#[wasm_bindgen(js_name = isIdentified)]
pub fn is_identified() -> Result<bool, JsValue> {
    with_rt(|rt| Ok(rt.identity.user_id.is_some() || rt.anonymous_identified))
}

fn parse_to_js(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| Object::new().into())
}

/// The ids and traits segflow holds for the visitor.
#[wasm_bindgen(unchecked_return_type = "UserState")]
pub fn user() -> Result<JsValue, JsValue> {
    with_rt(|rt| {
        let o = Object::new();
        let id = &rt.identity;
        let opt = |v: &Option<String>| v.as_deref().map(JsValue::from_str).unwrap_or(JsValue::NULL);
        let _ = Reflect::set(&o, &"userId".into(), &opt(&id.user_id));
        let _ = Reflect::set(
            &o,
            &"anonymousId".into(),
            &JsValue::from_str(&id.anonymous_id),
        );
        let _ = Reflect::set(&o, &"groupId".into(), &opt(&id.group_id));
        let _ = Reflect::set(
            &o,
            &"traits".into(),
            &parse_to_js(&id.user_traits.to_json()),
        );
        let _ = Reflect::set(
            &o,
            &"groupTraits".into(),
            &parse_to_js(&id.group_traits.to_json()),
        );
        Ok(o.into())
    })
}

/// Turns sending to Segment off (at once) or back on. While off, new events are not
/// queued for Segment; events already stored wait and go out when it is back on.
#[wasm_bindgen(js_name = setStreaming)]
pub fn set_streaming(on: bool) -> Result<(), JsValue> {
    let done = with_rt(|rt| Ok(rt.set_streaming(on)))?;
    resolve_all(done);
    pump();
    Ok(())
}

/// Sends everything queued now; the Promise resolves when each of those events is
/// delivered or dropped (at once when nothing is queued or streaming is off).
#[wasm_bindgen(unchecked_return_type = "Promise<void>")]
pub fn flush() -> Result<Promise, JsValue> {
    let mut outcome: Result<(), JsValue> = Ok(());
    let promise = Promise::new(&mut |resolve, _reject| {
        outcome = with_rt(|rt| {
            if !rt.add_waiter(resolve.clone()) {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            Ok(())
        });
    });
    outcome?;
    pump();
    Ok(promise)
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

/// Listens for `delivered`, `dropped` or `error`.
#[wasm_bindgen]
pub fn on(
    #[wasm_bindgen(unchecked_param_type = "keyof SegflowEventMap")] event: JsValue,
    #[wasm_bindgen(
        unchecked_param_type = "(payload: SegflowEventMap[keyof SegflowEventMap]) => void"
    )]
    listener: JsValue,
) -> Result<(), JsValue> {
    with_rt(|_| Ok(()))?;
    let (name, f) = listener_args(&event, &listener)?;
    runtime::add_listener(name, f);
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
    with_rt(|_| Ok(()))?;
    let (name, f) = listener_args(&event, &listener)?;
    runtime::remove_listener(&name, &f);
    Ok(())
}
