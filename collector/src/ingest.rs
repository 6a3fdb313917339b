//! Request and message validation, normalization and enrichment (pure functions;
//! the HTTP layer lives in `app`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::store::NewMessage;
use crate::timefmt;

/// Largest message, as serialized compact JSON, in bytes (32 KB).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest request body in bytes (500 KB).
pub const MAX_REQUEST_BYTES: usize = 500 * 1024;
/// Most messages in one batch.
pub const MAX_BATCH_MESSAGES: usize = 2500;
/// Longest accepted `messageId`, in characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 100;

/// The message types Segment knows.
pub const MESSAGE_TYPES: [&str; 6] = ["identify", "track", "page", "screen", "group", "alias"];

/// Which ingestion endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/v1/batch` or `/v1/b`.
    Batch,
    /// `/v1/<type>` or its one-letter form; carries the implied type.
    Single(&'static str),
}

impl Endpoint {
    /// Maps the last path segment after `/v1/` to an endpoint.
    pub fn from_segment(segment: &str) -> Option<Endpoint> {
        Some(match segment {
            "batch" | "b" => Endpoint::Batch,
            "track" | "t" => Endpoint::Single("track"),
            "identify" | "i" => Endpoint::Single("identify"),
            "page" | "p" => Endpoint::Single("page"),
            "screen" | "s" => Endpoint::Single("screen"),
            "group" | "g" => Endpoint::Single("group"),
            "alias" | "a" => Endpoint::Single("alias"),
            _ => return None,
        })
    }
}

/// A rule that a whole request broke: answered with a 4xx and nothing stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestError {
    pub code: &'static str,
    pub message: String,
}

impl RequestError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        RequestError {
            code,
            message: message.into(),
        }
    }
}

/// A rule that one message broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub index: usize,
    pub message_id: Option<String>,
    pub reason: &'static str,
    pub message: String,
}

/// What the request carries besides its messages.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub received_at: DateTime<Utc>,
    pub write_key: String,
    pub environment: String,
    pub peer_ip: Option<String>,
}

/// Messages split from a parsed body, before per-message validation.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub messages: Vec<Value>,
    pub batch_context: Option<Map<String, Value>>,
    pub batch_integrations: Option<Map<String, Value>>,
    pub batch_sent_at: Option<DateTime<Utc>>,
    pub implied_type: Option<&'static str>,
}

/// The result of validating every message of a request.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    pub accepted: Vec<NewMessage>,
    pub rejected: Vec<Rejection>,
}

/// Splits a parsed body into messages, checking the request-level rules
/// (batch shape, batch size, per-message size, batch-level fields).
pub(crate) fn envelope(endpoint: Endpoint, body: Value) -> Result<Envelope, RequestError> {
    let Value::Object(mut body) = body else {
        return Err(RequestError::new(
            "invalid_body",
            "the request body must be a JSON object",
        ));
    };
    let envelope = match endpoint {
        Endpoint::Single(kind) => {
            body.remove("writeKey");
            Envelope {
                messages: vec![Value::Object(body)],
                batch_context: None,
                batch_integrations: None,
                batch_sent_at: None,
                implied_type: Some(kind),
            }
        }
        Endpoint::Batch => {
            let messages = match body.remove("batch") {
                Some(Value::Array(messages)) => messages,
                Some(_) => {
                    return Err(RequestError::new(
                        "invalid_batch",
                        "\"batch\" must be an array of messages",
                    ))
                }
                None => {
                    return Err(RequestError::new(
                        "invalid_batch",
                        "a batch body needs a \"batch\" array",
                    ))
                }
            };
            if messages.len() > MAX_BATCH_MESSAGES {
                return Err(RequestError::new(
                    "too_many_messages",
                    format!(
                        "a batch holds at most {MAX_BATCH_MESSAGES} messages, this one has {}",
                        messages.len()
                    ),
                ));
            }
            let batch_context = optional_object(&mut body, "context").map_err(|_| {
                RequestError::new("invalid_context", "batch \"context\" must be an object")
            })?;
            let batch_integrations = optional_object(&mut body, "integrations").map_err(|_| {
                RequestError::new(
                    "invalid_integrations",
                    "batch \"integrations\" must be an object",
                )
            })?;
            let batch_sent_at = match body.get("sentAt") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(timefmt::parse_iso(s).ok_or_else(|| {
                    RequestError::new(
                        "invalid_sent_at",
                        "batch \"sentAt\" is not an ISO-8601 date-time",
                    )
                })?),
                Some(_) => {
                    return Err(RequestError::new(
                        "invalid_sent_at",
                        "batch \"sentAt\" must be an ISO-8601 string",
                    ))
                }
            };
            Envelope {
                messages,
                batch_context,
                batch_integrations,
                batch_sent_at,
                implied_type: None,
            }
        }
    };
    for (index, message) in envelope.messages.iter().enumerate() {
        let size = serde_json::to_vec(message)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_MESSAGE_BYTES {
            return Err(RequestError::new(
                "message_too_large",
                format!(
                    "message {index} is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes per message"
                ),
            ));
        }
    }
    Ok(envelope)
}

/// Removes `key` from `map`; `Ok(None)` when absent or null, `Err` when not an object.
fn optional_object(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<Map<String, Value>>, ()> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(obj)) => Ok(Some(obj)),
        Some(_) => Err(()),
    }
}

/// Validates and enriches every message of the envelope.
pub(crate) fn validate_all(
    mut envelope: Envelope,
    ctx: &RequestContext,
    mut next_message_id: impl FnMut() -> String,
) -> Validated {
    let mut out = Validated::default();
    let messages = std::mem::take(&mut envelope.messages);
    for (index, message) in messages.into_iter().enumerate() {
        let raw_id = match &message {
            Value::Object(map) => map.get("messageId").and_then(id_text),
            _ => None,
        };
        match normalize(message, &envelope, ctx, &mut next_message_id) {
            Ok(row) => out.accepted.push(row),
            Err((reason, text)) => out.rejected.push(Rejection {
                index,
                message_id: raw_id,
                reason,
                message: text,
            }),
        }
    }
    out
}

type Invalid = (&'static str, String);

fn invalid(reason: &'static str, text: impl Into<String>) -> Invalid {
    (reason, text.into())
}

/// The text of an id-like value: strings as they are, numbers coerced (as Segment
/// does). `None` for anything else.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads an id field: `Ok(None)` when absent, null or empty; numbers are coerced to
/// strings (and written back as strings); other types are `Err(reason)`.
fn take_id(
    map: &mut Map<String, Value>,
    key: &str,
    reason: &'static str,
) -> Result<Option<String>, Invalid> {
    let text = match map.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => match id_text(value) {
            Some(text) => text,
            None => return Err(invalid(reason, format!("\"{key}\" must be a string"))),
        },
    };
    if text.is_empty() {
        return Ok(None);
    }
    map.insert(key.to_string(), Value::String(text.clone()));
    Ok(Some(text))
}

/// Checks that `key`, when present and not null, is an object.
fn check_object(map: &Map<String, Value>, key: &str, reason: &'static str) -> Result<(), Invalid> {
    match map.get(key) {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(invalid(reason, format!("\"{key}\" must be an object"))),
    }
}

/// Fills `target` with the entries of `defaults` that it lacks, recursively for
/// nested objects: the message's own values win.
fn merge_defaults(target: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (key, default) in defaults {
        match (target.get_mut(key), default) {
            (Some(Value::Object(inner)), Value::Object(default_inner)) => {
                merge_defaults(inner, default_inner)
            }
            (Some(Value::Null) | None, _) => {
                target.insert(key.clone(), default.clone());
            }
            (Some(_), _) => {}
        }
    }
}

fn optional_time(
    map: &Map<String, Value>,
    key: &str,
    reason: &'static str,
) -> Result<Option<DateTime<Utc>>, Invalid> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => timefmt::parse_iso(s)
            .map(Some)
            .ok_or_else(|| invalid(reason, format!("\"{key}\" is not an ISO-8601 date-time"))),
        Some(_) => Err(invalid(
            reason,
            format!("\"{key}\" must be an ISO-8601 string"),
        )),
    }
}

/// Validates one message and turns it into a row, Segment style: server-owned
/// fields (`receivedAt`, `timestamp`, `originalTimestamp`, `messageId`, `sentAt`)
/// are set, batch-level context and integrations merged, `context.ip` filled.
fn normalize(
    message: Value,
    envelope: &Envelope,
    ctx: &RequestContext,
    next_message_id: &mut impl FnMut() -> String,
) -> Result<NewMessage, Invalid> {
    let Value::Object(mut map) = message else {
        return Err(invalid("not_an_object", "a message must be a JSON object"));
    };
    map.remove("writeKey");
    // Never stored, read back or forwarded, with or without a secret.
    map.remove(crate::identity::SIGNATURE_FIELD);

    let kind = match (map.get("type"), envelope.implied_type) {
        (None | Some(Value::Null), Some(implied)) => implied,
        (None | Some(Value::Null), None) => {
            return Err(invalid("missing_type", "\"type\" is required"))
        }
        (Some(Value::String(t)), implied) => {
            let Some(known) = MESSAGE_TYPES.iter().find(|k| **k == t.as_str()) else {
                return Err(invalid(
                    "invalid_type",
                    format!("\"type\" must be one of {}", MESSAGE_TYPES.join(", ")),
                ));
            };
            if let Some(implied) = implied {
                if *known != implied {
                    return Err(invalid(
                        "type_mismatch",
                        format!("a {known} message was sent to the {implied} endpoint"),
                    ));
                }
            }
            known
        }
        (Some(_), _) => return Err(invalid("invalid_type", "\"type\" must be a string")),
    };
    map.insert("type".into(), Value::String(kind.to_string()));

    let user_id = take_id(&mut map, "userId", "invalid_user_id")?;
    let anonymous_id = take_id(&mut map, "anonymousId", "invalid_anonymous_id")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(invalid(
            "missing_user_id_or_anonymous_id",
            "every message needs a non-empty \"userId\" or \"anonymousId\"",
        ));
    }

    let mut event = None;
    match kind {
        "track" => match map.get("event") {
            None | Some(Value::Null) => {
                return Err(invalid("missing_event", "a track message needs \"event\""))
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(invalid("missing_event", "\"event\" must not be empty"))
            }
            Some(Value::String(s)) => event = Some(s.clone()),
            Some(_) => return Err(invalid("invalid_event", "\"event\" must be a string")),
        },
        "group" if take_id(&mut map, "groupId", "invalid_group_id")?.is_none() => {
            return Err(invalid(
                "missing_group_id",
                "a group message needs \"groupId\"",
            ));
        }
        "alias" => {
            if take_id(&mut map, "previousId", "invalid_previous_id")?.is_none() {
                return Err(invalid(
                    "missing_previous_id",
                    "an alias message needs \"previousId\"",
                ));
            }
            if user_id.is_none() {
                return Err(invalid(
                    "missing_user_id",
                    "an alias message needs \"userId\"",
                ));
            }
        }
        _ => {}
    }

    let message_id = match take_id(&mut map, "messageId", "invalid_message_id")? {
        Some(id) if id.chars().count() > MAX_MESSAGE_ID_CHARS => {
            return Err(invalid(
                "invalid_message_id",
                format!("\"messageId\" must be at most {MAX_MESSAGE_ID_CHARS} characters"),
            ))
        }
        Some(id) => id,
        None => next_message_id(),
    };

    check_object(&map, "context", "invalid_context")?;
    check_object(&map, "integrations", "invalid_integrations")?;
    check_object(&map, "properties", "invalid_properties")?;
    check_object(&map, "traits", "invalid_traits")?;

    let original = optional_time(&map, "timestamp", "invalid_timestamp")?;
    let sent_at = match optional_time(&map, "sentAt", "invalid_sent_at")? {
        Some(sent) => Some(sent),
        None => envelope.batch_sent_at,
    };
    let timestamp = match (original, sent_at) {
        (Some(original), Some(sent)) => timefmt::skew_corrected(ctx.received_at, sent, original)
            .ok_or_else(|| {
                invalid(
                    "invalid_timestamp",
                    "\"timestamp\" and \"sentAt\" are too far apart",
                )
            })?,
        (Some(original), None) => original,
        (None, _) => ctx.received_at,
    };

    // Enrichment.
    let context = map
        .entry("context")
        .or_insert_with(|| Value::Object(Map::new()));
    if context.is_null() {
        *context = Value::Object(Map::new());
    }
    if let Value::Object(context) = context {
        if let Some(defaults) = &envelope.batch_context {
            merge_defaults(context, defaults);
        }
        if let Some(ip) = &ctx.peer_ip {
            if matches!(context.get("ip"), None | Some(Value::Null)) {
                context.insert("ip".into(), Value::String(ip.clone()));
            }
        }
    }
    if let Some(defaults) = &envelope.batch_integrations {
        let integrations = map
            .entry("integrations")
            .or_insert_with(|| Value::Object(Map::new()));
        if integrations.is_null() {
            *integrations = Value::Object(Map::new());
        }
        if let Value::Object(integrations) = integrations {
            merge_defaults(integrations, defaults);
        }
    }

    let received_text = timefmt::format_iso(ctx.received_at);
    let timestamp_text = timefmt::format_iso(timestamp);
    let original_text = original.map(timefmt::format_iso);
    let sent_text = sent_at.map(timefmt::format_iso);
    map.insert("messageId".into(), Value::String(message_id.clone()));
    map.insert("receivedAt".into(), Value::String(received_text.clone()));
    map.insert("timestamp".into(), Value::String(timestamp_text.clone()));
    match &original_text {
        Some(text) => map.insert("originalTimestamp".into(), Value::String(text.clone())),
        None => map.remove("originalTimestamp"),
    };
    match &sent_text {
        Some(text) => map.insert("sentAt".into(), Value::String(text.clone())),
        None => map.remove("sentAt"),
    };

    let body = serde_json::to_string(&Value::Object(map))
        .map_err(|e| invalid("invalid_body", format!("cannot serialize message: {e}")))?;
    Ok(NewMessage {
        message_id,
        write_key: ctx.write_key.clone(),
        environment: ctx.environment.clone(),
        kind: kind.to_string(),
        user_id,
        anonymous_id,
        event,
        received_at: received_text,
        sent_at: sent_text,
        original_timestamp: original_text,
        timestamp: timestamp_text,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> RequestContext {
        RequestContext {
            received_at: timefmt::parse_iso("2026-11-28T20:00:00.000Z").unwrap(),
            write_key: "WK".into(),
            environment: "default".into(),
            peer_ip: Some("127.0.0.1".into()),
        }
    }

    fn run(endpoint: Endpoint, body: Value) -> Validated {
        let env = envelope(endpoint, body).unwrap();
        validate_all(env, &ctx(), || "generated".to_string())
    }

    #[test]
    fn endpoints() {
        assert_eq!(Endpoint::from_segment("b"), Some(Endpoint::Batch));
        assert_eq!(Endpoint::from_segment("t"), Some(Endpoint::Single("track")));
        assert_eq!(
            Endpoint::from_segment("screen"),
            Some(Endpoint::Single("screen"))
        );
        assert_eq!(Endpoint::from_segment("x"), None);
    }

    #[test]
    fn deep_merge_keeps_message_values() {
        let out = run(
            Endpoint::Batch,
            json!({
                "context": {"app": {"name": "a", "version": "0"}, "locale": "fr"},
                "integrations": {"All": false},
                "batch": [{"type": "identify", "userId": "u", "context": {"app": {"version": "1"}},
                           "integrations": {"Mixpanel": true}}]
            }),
        );
        let body: Value = serde_json::from_str(&out.accepted[0].body).unwrap();
        assert_eq!(body["context"]["app"], json!({"name": "a", "version": "1"}));
        assert_eq!(body["context"]["locale"], "fr");
        assert_eq!(body["context"]["ip"], "127.0.0.1");
        assert_eq!(
            body["integrations"],
            json!({"All": false, "Mixpanel": true})
        );
        assert_eq!(body["messageId"], "generated");
    }

    #[test]
    fn numbers_are_coerced() {
        let out = run(
            Endpoint::Single("group"),
            json!({"userId": 42, "groupId": 7.5, "messageId": 9}),
        );
        let row = &out.accepted[0];
        assert_eq!(row.user_id.as_deref(), Some("42"));
        assert_eq!(row.message_id, "9");
        let body: Value = serde_json::from_str(&row.body).unwrap();
        assert_eq!(body["groupId"], "7.5");
        assert_eq!(body["userId"], "42");
    }

    #[test]
    fn request_rules() {
        let e = envelope(Endpoint::Batch, json!({"batch": 5})).unwrap_err();
        assert_eq!(e.code, "invalid_batch");
        let e = envelope(Endpoint::Batch, json!([1])).unwrap_err();
        assert_eq!(e.code, "invalid_body");
        let e = envelope(Endpoint::Batch, json!({"batch": [], "context": 1})).unwrap_err();
        assert_eq!(e.code, "invalid_context");
        let e = envelope(Endpoint::Batch, json!({"batch": [], "sentAt": "x"})).unwrap_err();
        assert_eq!(e.code, "invalid_sent_at");
    }
}
