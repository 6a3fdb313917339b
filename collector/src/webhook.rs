//! The destination half: `POST /webhook/{writeKey}` (what Segment's Webhooks
//! destination sends, one message per request) feeds the profile store, and
//! `GET /v1/state` gives a signed user's entry back to the SDK.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::access::{AdminGate, SecurityConfig};
use crate::app::{error_response, read_body, AppState, ErrorCode};
use crate::identity::{verify_identity, verify_webhook};
use crate::ingest::MAX_MESSAGE_ID_CHARS;
use crate::limits::Limits;
use crate::profiles::{events_json, Change, Profiles};
use crate::timefmt;

/// The header carrying Segment's webhook signature.
const WEBHOOK_SIGNATURE_HEADER: &str = "x-signature";
/// The header carrying a user's identity signature on `GET /v1/state`.
const STATE_SIGNATURE_HEADER: &str = "x-segflow-signature";

/// What the routes of this module (and the read-side gate and limits) need besides
/// [`AppState`]'s own fields.
pub(crate) struct Extras {
    pub security: SecurityConfig,
    pub limits: Limits,
    pub gate: AdminGate,
    pub profiles: Option<Profiles>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            security: SecurityConfig::default(),
            limits: Limits::default(),
            gate: AdminGate::LoopbackHost,
            profiles: None,
        }
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> Response {
    error_response(StatusCode::BAD_REQUEST, code, message)
}

fn storage_error(message: impl Into<String>) -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", message)
}

/// A rule a webhook message broke: reason code and text (answered 400).
type Invalid = (&'static str, String);

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    (code, message.into())
}

/// An id field: strings as they are, numbers coerced; `Ok(None)` when absent,
/// null or empty.
fn id_field(
    map: &Map<String, Value>,
    key: &str,
    reason: &'static str,
) -> Result<Option<String>, Invalid> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(reason, format!("\"{key}\" must be a string"))),
    }
}

/// An object field: `Ok(empty)` when absent or null.
fn object_field(
    map: &Map<String, Value>,
    key: &str,
    reason: &'static str,
) -> Result<Map<String, Value>, Invalid> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(obj)) => Ok(obj.clone()),
        Some(_) => Err(invalid(reason, format!("\"{key}\" must be an object"))),
    }
}

/// Turns a webhook message into its type, messageId (when given) and change.
fn parse_message(
    map: &Map<String, Value>,
    company_property: Option<&str>,
    received_ms: i64,
) -> Result<(&'static str, Option<String>, Change), Invalid> {
    let kind = match map.get("type") {
        None | Some(Value::Null) => return Err(invalid("missing_type", "\"type\" is required")),
        Some(Value::String(t)) => match t.as_str() {
            "identify" => "identify",
            "group" => "group",
            "track" => "track",
            "page" => "page",
            "alias" => "alias",
            "screen" => {
                return Err(invalid(
                    "unsupported_type",
                    "the webhook takes identify, group, track, page and alias messages",
                ))
            }
            _ => {
                return Err(invalid(
                    "invalid_type",
                    "\"type\" must be one of identify, group, track, page, alias",
                ))
            }
        },
        Some(_) => return Err(invalid("invalid_type", "\"type\" must be a string")),
    };
    let user_id = id_field(map, "userId", "invalid_user_id")?;
    let anonymous_id = id_field(map, "anonymousId", "invalid_anonymous_id")?;
    let message_id = match id_field(map, "messageId", "invalid_message_id")? {
        Some(id) if id.chars().count() > MAX_MESSAGE_ID_CHARS => {
            return Err(invalid(
                "invalid_message_id",
                format!("\"messageId\" must be at most {MAX_MESSAGE_ID_CHARS} characters"),
            ))
        }
        other => other,
    };
    let Some(user) = user_id.clone().or(anonymous_id) else {
        return Err(invalid(
            "missing_user_id_or_anonymous_id",
            "every message needs a non-empty \"userId\" or \"anonymousId\"",
        ));
    };
    let change = match kind {
        "identify" => Change::Identify {
            user,
            traits: object_field(map, "traits", "invalid_traits")?,
        },
        "group" => {
            let Some(company) = id_field(map, "groupId", "invalid_group_id")? else {
                return Err(invalid(
                    "missing_group_id",
                    "a group message needs \"groupId\"",
                ));
            };
            Change::Group {
                user,
                company,
                traits: object_field(map, "traits", "invalid_traits")?,
            }
        }
        // segflow's own tracks, handed back by a Webhooks destination on a source
        // segflow also sends to: the browser counted them already.
        "track"
            if map
                .get("context")
                .and_then(|c| c.get("library"))
                .and_then(|l| l.get("name"))
                .and_then(Value::as_str)
                == Some("segflow") =>
        {
            Change::Page { user }
        }
        "track" => {
            let name = match map.get("event") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                None | Some(Value::Null) | Some(Value::String(_)) => {
                    return Err(invalid("missing_event", "a track message needs \"event\""))
                }
                Some(_) => return Err(invalid("invalid_event", "\"event\" must be a string")),
            };
            let at_ms = match map.get("timestamp") {
                None | Some(Value::Null) => received_ms,
                Some(Value::String(s)) => match timefmt::parse_iso(s) {
                    Some(time) => time.timestamp_millis(),
                    None => {
                        return Err(invalid(
                            "invalid_timestamp",
                            "\"timestamp\" is not an ISO-8601 date-time",
                        ))
                    }
                },
                Some(_) => {
                    return Err(invalid(
                        "invalid_timestamp",
                        "\"timestamp\" must be an ISO-8601 string",
                    ))
                }
            };
            let properties = object_field(map, "properties", "invalid_properties")?;
            let company = company_property
                .and_then(|prop| properties.get(prop))
                .and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
            Change::Track {
                user,
                name,
                at_ms,
                properties,
                company,
            }
        }
        "page" => Change::Page { user },
        _ => {
            let Some(previous) = id_field(map, "previousId", "invalid_previous_id")? else {
                return Err(invalid(
                    "missing_previous_id",
                    "an alias message needs \"previousId\"",
                ));
            };
            let Some(user) = user_id else {
                return Err(invalid(
                    "missing_user_id",
                    "an alias message needs \"userId\"",
                ));
            };
            Change::Alias { previous, user }
        }
    };
    Ok((kind, message_id, change))
}

/// `POST /webhook/{writeKey}`: one Segment message (identify, group, track, page
/// or alias) applied to the write key's environment in the profile store, durably
/// before the 200, once per messageId.
/// `POST /webhook/{writeKey}` ([`receive`]), counted for `/api/stats`.
pub(crate) async fn webhook(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let response = receive(&app, req).await;
    app.stats
        .webhook(match response.extensions().get::<ErrorCode>() {
            Some(ErrorCode(code)) => Err(code),
            None => Ok(response.extensions().get::<Duplicate>().is_some()),
        });
    response
}

/// Marks the answer to a webhook message already applied.
#[derive(Clone, Copy, Debug)]
struct Duplicate;

async fn receive(app: &Arc<AppState>, req: Request) -> Response {
    if req.method() != Method::POST {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the webhook takes POST",
        );
    }
    let raw_key = req
        .uri()
        .path()
        .strip_prefix("/webhook/")
        .unwrap_or_default();
    let write_key = percent_decode_path(raw_key);
    let Some(environment) = app.environment_of(&write_key) else {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the write key in the webhook URL is not accepted",
        );
    };
    let extras = &app.extras;
    let (parts, body) = req.into_parts();
    let bytes = match read_body(&parts.headers, body, extras.limits.body_timeout).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let (status, code, message) = e.answer();
            return error_response(status, code, message);
        }
    };
    if let Some(secret) = SecurityConfig::lookup(&extras.security.webhook_secrets, &write_key) {
        match parts
            .headers
            .get(WEBHOOK_SIGNATURE_HEADER)
            .map(|v| v.to_str())
        {
            None => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "missing_signature",
                    "X-Signature (hex HMAC-SHA1 of the body under the webhook secret) is required",
                )
            }
            Some(Ok(sig)) if verify_webhook(secret, &bytes, sig) => {}
            Some(_) => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "invalid_signature",
                    "X-Signature is not the HMAC-SHA1 of the body under the webhook secret",
                )
            }
        }
    }
    let parsed: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return bad(
                "invalid_json",
                format!("the request body is not valid JSON: {e}"),
            )
        }
    };
    let Value::Object(map) = parsed else {
        return bad(
            "invalid_body",
            "the request body must be one JSON message object",
        );
    };
    let received_ms = timefmt::now().timestamp_millis();
    let company_property =
        SecurityConfig::lookup(&extras.security.company_event_properties, &write_key);
    let (kind, message_id, change) = match parse_message(&map, company_property, received_ms) {
        Ok(parsed) => parsed,
        Err((code, message)) => return bad(code, message),
    };
    let message_id = message_id.unwrap_or_else(|| app.generate_message_id(received_ms));
    let Some(profiles) = extras.profiles.clone() else {
        return storage_error("the profile store is not open");
    };
    let id = message_id.clone();
    let env = environment.clone();
    let applied =
        tokio::task::spawn_blocking(move || profiles.apply(&env, &id, kind, &change)).await;
    match applied {
        Ok(Ok(fresh)) => {
            let mut response = Json(json!({
                "success": true,
                "type": kind,
                "messageId": message_id,
                "environment": environment,
                "duplicate": !fresh,
            }))
            .into_response();
            if !fresh {
                response.extensions_mut().insert(Duplicate);
            }
            response
        }
        Ok(Err(e)) => storage_error(format!("the message could not be stored: {e}")),
        Err(_) => storage_error("the storage task failed"),
    }
}

/// Decodes `%XX` in a path segment (invalid escapes are kept as they are).
fn percent_decode_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query of `GET /v1/state`.
#[derive(Debug, Deserialize)]
pub(crate) struct StateQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

/// `GET /v1/state?writeKey=K&userId=U`: the user's traits, company and events, to
/// a caller presenting the user's identity signature in `X-Segflow-Signature`.
pub(crate) async fn state(
    State(app): State<Arc<AppState>>,
    query: Result<Query<StateQuery>, QueryRejection>,
    req: Request,
) -> Response {
    let response = serve_state(&app, query, req).await;
    app.stats
        .state(match response.extensions().get::<ErrorCode>() {
            Some(ErrorCode(code)) => Err(code),
            None => Ok(()),
        });
    response
}

/// [`state`] before it is counted.
async fn serve_state(
    app: &Arc<AppState>,
    query: Result<Query<StateQuery>, QueryRejection>,
    req: Request,
) -> Response {
    if req.method() != Method::GET {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "/v1/state takes GET",
        );
    }
    let (write_key, user_id) = match query {
        Ok(Query(StateQuery {
            write_key: Some(k),
            user_id: Some(u),
        })) if !u.is_empty() => (k, u),
        Ok(_) => {
            return bad(
                "invalid_query",
                "/v1/state needs writeKey and a non-empty userId",
            )
        }
        Err(e) => return bad("invalid_query", e.body_text()),
    };
    let Some(environment) = app.environment_of(&write_key) else {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the write key is not accepted",
        );
    };
    let extras = &app.extras;
    match SecurityConfig::lookup(&extras.security.identity_secrets, &write_key) {
        Some(secret) => match req.headers().get(STATE_SIGNATURE_HEADER).map(|v| v.to_str()) {
            None => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "missing_signature",
                    "X-Segflow-Signature (the user's identity signature) is required",
                )
            }
            Some(Ok(sig)) if verify_identity(secret, &user_id, sig.trim()) => {}
            Some(_) => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    "invalid_signature",
                    "X-Segflow-Signature is not this user's identity signature",
                )
            }
        },
        None if extras.security.dev_state => {}
        None => {
            return error_response(
                StatusCode::FORBIDDEN,
                "state_disabled",
                "/v1/state needs an identity secret for this write key (--identity-secret); --dev-state lifts this for development only",
            )
        }
    }
    let Some(profiles) = extras.profiles.clone() else {
        return storage_error("the profile store is not open");
    };
    let user = user_id.clone();
    let state = match tokio::task::spawn_blocking(move || profiles.state(&environment, &user)).await
    {
        Ok(Ok(state)) => state,
        Ok(Err(e)) => return storage_error(format!("the state could not be read: {e}")),
        Err(_) => return storage_error("the read task failed"),
    };
    let company = match state.company {
        Some((id, traits, events)) => {
            json!({"id": id, "traits": traits, "events": events_json(&events)})
        }
        None => Value::Null,
    };
    let mut response = Json(json!({
        "userId": user_id,
        "traits": state.traits,
        "company": company,
        "events": events_json(&state.events),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_decoding() {
        assert_eq!(percent_decode_path("abc%3D%3D"), "abc==");
        assert_eq!(percent_decode_path("a%zz"), "a%zz");
        assert_eq!(percent_decode_path("a%4"), "a%4");
        assert_eq!(percent_decode_path("%41"), "A");
    }
}
