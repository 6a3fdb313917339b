//! The HTTP routes: ingestion (`/v1/*`), reads (`/api/*`), the debugger page and
//! health.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use base64::Engine as _;
use futures_util::stream::{self, Stream, StreamExt as _};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch, Notify};
use tower_http::services::ServeDir;

use crate::config::{StaticMount, DEFAULT_ENVIRONMENT};
use crate::faults::{Fault, Faults, SplitMix64, Stats};
use crate::ingest::{self, Endpoint, RequestContext, MAX_REQUEST_BYTES};
use crate::store::{EventFilter, Store, StoredRow};
use crate::timefmt;

/// Bodies declared larger than this are refused without reading them; smaller
/// oversize bodies are read and discarded first so that the client reliably sees
/// the 400 answer instead of a reset connection.
const DRAIN_CAP: usize = 4 * 1024 * 1024;
/// Default and largest `limit` of `/api/events`.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;

/// A stored message as sent to `/api/stream` subscribers.
#[derive(Debug)]
pub(crate) struct StreamEvent {
    pub id: i64,
    pub json: String,
}

/// Per-connection facts that the accept loop attaches to every request.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// The client's address (becomes `context.ip`).
    pub peer: SocketAddr,
    /// Notified to close the connection without answering (drop fault).
    pub kill: Arc<Notify>,
}

/// State shared by all handlers.
pub(crate) struct AppState {
    pub store: Store,
    /// Accepted keys and their environment; `None` = open mode.
    pub keys: Option<HashMap<String, String>>,
    pub faults: Faults,
    pub stats: Stats,
    pub events: broadcast::Sender<Arc<StreamEvent>>,
    pub shutdown: watch::Receiver<bool>,
    /// The forwarder when `--forward` is set.
    pub forward: Option<Arc<crate::forward::Forwarder>>,
    /// `--trust-proxy`: `context.ip` from `X-Forwarded-For`.
    pub trust_proxy: bool,
    id_counter: AtomicU64,
    id_salt: u64,
    /// Security settings, limits and the profile store (see `webhook`).
    pub extras: crate::webhook::Extras,
}

impl AppState {
    /// Shared state over an opened store.
    pub fn new(
        store: Store,
        keys: Option<HashMap<String, String>>,
        faults: Faults,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let id_salt = SplitMix64::new(nanos ^ (u64::from(std::process::id()) << 32)).next_u64();
        AppState {
            store,
            keys,
            faults,
            stats: Stats::default(),
            events,
            shutdown,
            forward: None,
            trust_proxy: false,
            id_counter: AtomicU64::new(0),
            id_salt,
            extras: crate::webhook::Extras::default(),
        }
    }

    /// Sets the security settings, limits and profile store.
    pub fn with_extras(mut self, extras: crate::webhook::Extras) -> Self {
        self.extras = extras;
        self
    }

    /// The environment of an accepted key; `None` when the key is not accepted.
    pub(crate) fn environment_of(&self, key: &str) -> Option<String> {
        match &self.keys {
            None => Some(DEFAULT_ENVIRONMENT.to_string()),
            Some(keys) => keys.get(key).cloned(),
        }
    }

    /// A fresh messageId for a message that came without one.
    pub(crate) fn generate_message_id(&self, received_ms: i64) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        let suffix = SplitMix64::new(self.id_salt ^ n).next_u64();
        format!("segflow-{received_ms}-{n}-{suffix:016x}")
    }
}

/// Builds the router over `state`, with static folders mounted.
pub(crate) fn router(state: Arc<AppState>, statics: &[StaticMount]) -> Router {
    let mut router = Router::new()
        .route("/v1/{kind}", any(ingest))
        .route("/api/events", get(events).fallback(method_not_allowed))
        .route("/api/stats", get(stats).fallback(method_not_allowed))
        .route(
            "/api/duplicates",
            get(duplicates).fallback(method_not_allowed),
        )
        .route(
            "/api/stream",
            get(stream_events).fallback(method_not_allowed),
        )
        .route("/debugger", get(debugger).fallback(method_not_allowed))
        .route("/health", get(health).fallback(method_not_allowed))
        .route("/v1/state", any(crate::webhook::state))
        .route("/webhook/{write_key}", any(crate::webhook::webhook))
        .with_state(state);
    // A static folder serves GET and HEAD; any other request it cannot answer (a
    // POST to a near-miss path such as `/batch` or `/v1/batch/`) and a missing file
    // get the API's JSON 404, not its empty 405.
    let serve = |dir: &std::path::Path| {
        use axum::handler::HandlerWithoutStateExt as _;
        ServeDir::new(dir)
            .call_fallback_on_method_not_allowed(true)
            .fallback(not_found.into_service())
    };
    let mut root = None;
    for mount in statics {
        if mount.prefix == "/" {
            root = Some(serve(&mount.dir));
        } else {
            router = router.nest_service(&mount.prefix, serve(&mount.dir));
        }
    }
    match root {
        Some(dir) => router.fallback_service(dir),
        None => router.fallback(not_found),
    }
}

/// A JSON error answer: `{"success":false,"error":code,"message":text}`.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> Response {
    let body = json!({"success": false, "error": code, "message": message.into()});
    let mut response = (status, Json(body)).into_response();
    // For the counters of `/api/stats` (see `webhook::counted`).
    response
        .extensions_mut()
        .insert(ErrorCode(code.to_string()));
    response
}

/// The `error` code of a response built by [`error_response`].
#[derive(Clone, Debug)]
pub(crate) struct ErrorCode(pub String);

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed here",
    )
}

async fn health() -> &'static str {
    "ok"
}

async fn debugger() -> Response {
    let mut response = Html(include_str!("debugger.html")).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page may be opened with ?token=: never leak it in a Referer.
    response
        .headers_mut()
        .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Timeout,
    Broken,
    /// `Content-Encoding: gzip` over bytes that are not gzip.
    BadEncoding,
    /// A `Content-Encoding` other than gzip (or identity).
    UnsupportedEncoding,
}

impl BodyError {
    /// The error answer for it: status, code, message (ingestion and the webhook
    /// answer alike).
    pub(crate) fn answer(&self) -> (StatusCode, &'static str, String) {
        let (status, code, message) = match self {
            BodyError::TooLarge => {
                return (
                    StatusCode::BAD_REQUEST,
                    "request_too_large",
                    format!("the request body exceeds {MAX_REQUEST_BYTES} bytes"),
                )
            }
            BodyError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body was not received in time",
            ),
            BodyError::Broken => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the request body could not be read",
            ),
            BodyError::BadEncoding => (
                StatusCode::BAD_REQUEST,
                "invalid_encoding",
                "the request body is not valid gzip (Content-Encoding: gzip)",
            ),
            BodyError::UnsupportedEncoding => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                "only gzip request bodies are taken (Content-Encoding: gzip)",
            ),
        };
        (status, code, message.to_string())
    }
}

/// Reads a request body of at most [`MAX_REQUEST_BYTES`], checking the declared
/// `Content-Length` first and the bytes actually received as they arrive.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared {
        if len > MAX_REQUEST_BYTES as u64 {
            if len <= DRAIN_CAP as u64 {
                let _ = tokio::time::timeout(timeout, drain(body, 0)).await;
            }
            return Err(BodyError::TooLarge);
        }
    }
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let bytes = tokio::time::timeout(timeout, collect_limited(body))
        .await
        .unwrap_or(Err(BodyError::Timeout))?;
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(bytes),
        Some("gzip" | "x-gzip") => inflate(&bytes),
        Some(_) => Err(BodyError::UnsupportedEncoding),
    }
}

/// A gzip body inflated, at most [`MAX_REQUEST_BYTES`] of it (a small body that
/// inflates past the limit is too large, as its plain form would be).
fn inflate(gz: &[u8]) -> Result<Vec<u8>, BodyError> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| BodyError::BadEncoding)?;
    if out.len() > MAX_REQUEST_BYTES {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

async fn collect_limited(mut body: Body) -> Result<Vec<u8>, BodyError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_REQUEST_BYTES {
                drain(body, buf.len() + data.len()).await;
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Reads and discards the rest of a body, up to [`DRAIN_CAP`] bytes in all.
async fn drain(mut body: Body, mut seen: usize) {
    while seen <= DRAIN_CAP {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen += data.len();
                }
            }
            _ => return,
        }
    }
}

/// The write key of an `Authorization: Basic base64("<key>:")` header.
fn basic_auth_key(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let encoded = encoded.trim();
    let engine = base64::engine::general_purpose::STANDARD;
    let decoded = engine
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let key = match decoded.split_once(':') {
        Some((key, _password)) => key,
        None => decoded.as_str(),
    };
    (!key.is_empty()).then(|| key.to_string())
}

fn rate_limited_response() -> Response {
    let reset = chrono::Utc::now().timestamp() + 1;
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests (injected fault); retry after 1 second",
    );
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    if let Ok(value) = HeaderValue::from_str(&reset.to_string()) {
        headers.insert("x-ratelimit-reset", value);
    }
    response
}

/// The answer of an injected failure: `status` (500..=599), with `Retry-After` when
/// configured.
fn injected_failure_response((status, retry_after): (u16, Option<u64>)) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = error_response(
        status,
        "injected_failure",
        "internal error (injected fault); nothing was stored",
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `POST /v1/{batch,track,identify,page,screen,group,alias}` and `/v1/{b,t,i,p,s,g,a}`.
async fn ingest(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let segment = req.uri().path().strip_prefix("/v1/").unwrap_or_default();
    let Some(endpoint) = Endpoint::from_segment(segment) else {
        return not_found().await;
    };
    if req.method() != Method::POST {
        return method_not_allowed().await;
    }
    app.stats.request();
    let latency = app.faults.latency_ms();
    if latency > 0 {
        app.stats.delayed();
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }

    let (parts, body) = req.into_parts();
    let conn = parts.extensions.get::<ConnInfo>().cloned();
    let body = read_body(&parts.headers, body, app.extras.limits.body_timeout).await;

    if let Some(fault) = app.faults.decide() {
        app.stats.fault(fault);
        match fault {
            Fault::RateLimited => return rate_limited_response(),
            Fault::Failed => return injected_failure_response(app.faults.failure()),
            Fault::Hung => {
                // The client going away ends the connection task, which drops this
                // future; a stop closes the connection unanswered at once instead
                // of waiting for the shutdown grace period.
                let mut shutdown = app.shutdown.clone();
                crate::server::stopped(&mut shutdown).await;
                if let Some(conn) = conn {
                    conn.kill.notify_one();
                    std::future::pending::<()>().await;
                }
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "injected_failure",
                    "hung request released by the server stopping",
                );
            }
            Fault::Dropped => {
                if let Some(conn) = conn {
                    conn.kill.notify_one();
                    // The connection task drops the connection, and this future
                    // with it, before anything is written.
                    std::future::pending::<()>().await;
                }
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "injected_failure",
                    "connection drop requested outside a managed connection",
                );
            }
        }
    }

    let reject = |status: StatusCode, code: &'static str, message: String| {
        app.stats.rejected(code, 1);
        error_response(status, code, message)
    };

    let bytes = match body {
        Ok(bytes) => bytes,
        Err(e) => {
            let (status, code, message) = e.answer();
            return reject(status, code, message);
        }
    };

    let header_key = parts.headers.get(AUTHORIZATION).and_then(basic_auth_key);
    if let Some(key) = &header_key {
        if app.environment_of(key).is_none() {
            return reject(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the write key in the Authorization header is not accepted".into(),
            );
        }
    }

    let parsed: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the request body is not valid JSON: {e}"),
            )
        }
    };

    let write_key = match header_key {
        Some(key) => key,
        None => match parsed.get("writeKey") {
            Some(Value::String(key)) if !key.is_empty() => key.clone(),
            _ if app.keys.is_none() => String::new(),
            _ => {
                return reject(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a write key is required: Authorization: Basic base64(\"<writeKey>:\") or \"writeKey\" in the body".into(),
                )
            }
        },
    };
    let Some(environment) = app.environment_of(&write_key) else {
        return reject(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the write key in the body is not accepted".into(),
        );
    };

    let envelope = match ingest::envelope(endpoint, parsed) {
        Ok(envelope) => envelope,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e.code, e.message),
    };
    if let Some(secret) =
        crate::access::SecurityConfig::lookup(&app.extras.security.identity_secrets, &write_key)
    {
        if let Err(e) = crate::identity::check_messages(secret, &envelope.messages) {
            app.stats.rejected(e.code, 1);
            let body =
                json!({"success": false, "error": e.code, "message": e.message, "index": e.index});
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
    }

    let received_at = timefmt::now();
    let received_ms = received_at.timestamp_millis();
    let ctx = RequestContext {
        received_at,
        write_key,
        environment,
        peer_ip: conn.map(|c| {
            crate::clientip::client_ip(c.peer.ip(), &parts.headers, app.trust_proxy).to_string()
        }),
    };
    let validated = ingest::validate_all(envelope, &ctx, || app.generate_message_id(received_ms));
    for rejection in &validated.rejected {
        app.stats.rejected(rejection.reason, 1);
    }
    let rejected_json: Vec<Value> = validated
        .rejected
        .iter()
        .map(|r| {
            json!({"index": r.index, "messageId": r.message_id, "reason": r.reason, "message": r.message})
        })
        .collect();

    if let (Endpoint::Single(_), Some(first)) = (endpoint, validated.rejected.first()) {
        let body = json!({
            "success": false,
            "error": first.reason,
            "message": first.message,
            "rejected": rejected_json,
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }

    // A proxy forwards what it stores, with its context.ip, messageId and timestamps:
    // a message those take over Segment's 32 KB would be refused upstream for good,
    // after this collector said it was accepted. It is refused now instead, as one
    // over 32 KB as sent is (the whole request, so the sender learns of it).
    if app.forward.is_some() {
        let over = validated.accepted.iter().find_map(|row| {
            let size = crate::forward::forwarded_size(&row.body, &row.received_at);
            (size > ingest::MAX_MESSAGE_BYTES).then(|| (row.message_id.clone(), size))
        });
        if let Some((message_id, size)) = over {
            app.stats.rejected("message_too_large", 1);
            return error_response(
                StatusCode::BAD_REQUEST,
                "message_too_large",
                format!(
                    "message {message_id} is {size} bytes as forwarded (with the context.ip, messageId and timestamps this proxy adds); the limit is {} bytes per message",
                    ingest::MAX_MESSAGE_BYTES
                ),
            );
        }
    }
    let rows = validated.accepted;
    let outcome = if rows.is_empty() {
        Ok(Ok((rows, Default::default())))
    } else {
        let store = app.store.clone();
        tokio::task::spawn_blocking(move || store.insert(&rows).map(|outcome| (rows, outcome)))
            .await
    };
    let (rows, outcome) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                format!("the messages could not be stored: {e}"),
            )
        }
        Err(_) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                "the storage task failed",
            )
        }
    };

    let accepted = outcome.ids.iter().filter(|id| id.is_some()).count();
    if let (Some(forward), true) = (&app.forward, accepted > 0) {
        forward.wake();
    }
    if app.events.receiver_count() > 0 {
        for (row, id) in rows.into_iter().zip(&outcome.ids) {
            let Some(id) = *id else { continue };
            let stored = StoredRow {
                id,
                write_key: row.write_key,
                environment: row.environment,
                body: row.body,
            };
            let event = StreamEvent {
                id,
                json: stored.to_event().to_string(),
            };
            let _ = app.events.send(Arc::new(event));
        }
    }
    Json(json!({
        "success": true,
        "accepted": accepted,
        "duplicates": outcome.duplicates,
        "rejected": rejected_json,
    }))
    .into_response()
}

/// Query of `GET /api/events`; empty values count as absent.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
    environment: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<String>,
    event: Option<String>,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    order: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn parse_filter(q: EventsQuery) -> Result<EventFilter, String> {
    let mut filter = EventFilter {
        write_key: q.write_key,
        environment: non_empty(q.environment),
        kind: non_empty(q.kind),
        user_id: non_empty(q.user_id),
        anonymous_id: non_empty(q.anonymous_id),
        event: non_empty(q.event),
        message_id: non_empty(q.message_id),
        limit: DEFAULT_LIMIT,
        ..EventFilter::default()
    };
    // An empty writeKey is a real key in open mode only when asked explicitly, so
    // keep `writeKey=` meaning "no filter" like the others.
    filter.write_key = non_empty(filter.write_key);
    if let Some(since) = non_empty(q.since) {
        if let Ok(id) = since.parse::<i64>() {
            filter.since_id = Some(id);
        } else if let Some(time) = timefmt::parse_iso(&since) {
            filter.since_time = Some(timefmt::format_iso(time));
        } else {
            return Err(format!(
                "since must be a row id or an ISO-8601 time, got {since:?}"
            ));
        }
    }
    if let Some(limit) = non_empty(q.limit) {
        let limit: u64 = limit
            .parse()
            .map_err(|_| format!("limit must be a non-negative integer, got {limit:?}"))?;
        filter.limit = limit.min(u64::from(MAX_LIMIT)) as u32;
    }
    match non_empty(q.order).as_deref() {
        None | Some("asc") => {}
        Some("desc") => filter.descending = true,
        Some(other) => return Err(format!("order must be asc or desc, got {other:?}")),
    }
    Ok(filter)
}

/// `GET /api/events` → `{"events":[...],"next":<id>}`.
async fn events(
    State(app): State<Arc<AppState>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let filter = match query {
        Ok(Query(q)) => parse_filter(q),
        Err(e) => Err(e.body_text()),
    };
    let filter = match filter {
        Ok(filter) => filter,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "invalid_query", message),
    };
    let since = filter.since_id.unwrap_or(0);
    let store = app.store.clone();
    let rows = match tokio::task::spawn_blocking(move || store.query(&filter)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                format!("the events could not be read: {e}"),
            )
        }
        Err(_) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                "the read task failed",
            )
        }
    };
    let next = rows.iter().map(|r| r.id).max().unwrap_or(since).max(since);
    let events: Vec<Value> = rows.iter().map(StoredRow::to_event).collect();
    Json(json!({"events": events, "next": next})).into_response()
}

/// `GET /api/stats`.
async fn stats(State(app): State<Arc<AppState>>) -> Response {
    let store = app.store.clone();
    let counts = match tokio::task::spawn_blocking(move || store.counts()).await {
        Ok(Ok(counts)) => counts,
        _ => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                "the counts could not be read",
            )
        }
    };
    let (requests, rejected, faults) = app.stats.snapshot();
    let by_environment: serde_json::Map<String, Value> = counts
        .by_environment
        .into_iter()
        .map(|(env, n)| (env, Value::from(n)))
        .collect();
    let mut body = json!({
        "accepted": counts.accepted,
        "duplicates": counts.duplicates,
        "rejected": rejected,
        "requests": requests,
        "preflights": app.stats.preflights(),
        "faults": faults,
        "environments": by_environment,
    });
    if let Value::Object(map) = &mut body {
        let (webhook, state) = app.stats.destination();
        map.insert("webhook".into(), webhook);
        map.insert("state".into(), state);
    }
    if let (Some(forward), Value::Object(map)) = (&app.forward, &mut body) {
        map.insert("forward".into(), forward.stats().await);
    }
    Json(body).into_response()
}

/// Query of `GET /api/duplicates`; an empty `writeKey` counts as absent.
#[derive(Debug, Deserialize)]
struct DuplicatesQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

/// `GET /api/duplicates[?writeKey=K]` →
/// `{"duplicates":[{"writeKey":K,"messageId":M,"count":N}, ...]}`, in the order of
/// each messageId's first repeat.
async fn duplicates(
    State(app): State<Arc<AppState>>,
    query: Result<Query<DuplicatesQuery>, QueryRejection>,
) -> Response {
    let write_key = match query {
        Ok(Query(q)) => non_empty(q.write_key),
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()),
    };
    let store = app.store.clone();
    let rows =
        match tokio::task::spawn_blocking(move || store.duplicates(write_key.as_deref())).await {
            Ok(Ok(rows)) => rows,
            _ => {
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    "the duplicates could not be read",
                )
            }
        };
    let list: Vec<Value> = rows
        .into_iter()
        .map(|d| json!({"writeKey": d.write_key, "messageId": d.message_id, "count": d.count}))
        .collect();
    Json(json!({ "duplicates": list })).into_response()
}

/// `GET /api/stream`: server-sent events, one `message` event per stored message
/// (data = the same JSON as an `/api/events` item, SSE id = row id).
async fn stream_events(
    State(app): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = app.events.subscribe();
    let shutdown = app.shutdown.clone();
    let hello = stream::once(async { Ok(Event::default().comment("connected")) });
    let live = stream::unfold((rx, shutdown), |(mut rx, mut shutdown)| async move {
        let next = tokio::select! {
            _ = crate::server::stopped(&mut shutdown) => return None,
            next = rx.recv() => next,
        };
        let sse = match next {
            Ok(event) => Event::default()
                .id(event.id.to_string())
                .data(event.json.as_str()),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(missed.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(sse), (rx, shutdown)))
    });
    Sse::new(hello.chain(live)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Adds the CORS headers to a response: the request's `Origin` echoed with
/// credentials allowed, or `*` when there is no `Origin`.
pub(crate) fn add_cors_headers(headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    match origin {
        Some(origin) => {
            headers.insert("access-control-allow-origin", origin.clone());
            headers.insert(
                "access-control-allow-credentials",
                HeaderValue::from_static("true"),
            );
            headers.append("vary", HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        }
    }
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Retry-After, X-RateLimit-Reset"),
    );
}

/// The answer to a CORS preflight (`OPTIONS` on any path).
pub(crate) fn preflight_response(request_headers: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    add_cors_headers(headers, request_headers.get("origin"));
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, GET, OPTIONS"),
    );
    let mut allowed = String::from("Authorization, Content-Type");
    if let Some(requested) = request_headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
    {
        for name in requested
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if !allowed
                .split(", ")
                .any(|known| known.eq_ignore_ascii_case(name))
            {
                allowed.push_str(", ");
                allowed.push_str(name);
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        headers.insert("access-control-allow-headers", value);
    }
    headers.insert("access-control-max-age", HeaderValue::from_static("86400"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth() {
        let header = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(basic_auth_key(&header("Basic V0s6")), Some("WK".into()));
        assert_eq!(basic_auth_key(&header("basic V0s6")), Some("WK".into()));
        assert_eq!(basic_auth_key(&header("Basic V0s")), Some("WK".into()));
        assert_eq!(basic_auth_key(&header("Basic V0s6cHc=")), Some("WK".into()));
        assert_eq!(basic_auth_key(&header("Basic Og==")), None);
        assert_eq!(basic_auth_key(&header("Bearer V0s6")), None);
        assert_eq!(basic_auth_key(&header("Basic !!!")), None);
    }
}
