//! Who may read what: the security settings (identity secrets, webhook secrets,
//! company event properties, the admin token, development mode), the CORS policy
//! of each route, and the admin gate of the read side (`/api/*`, `/debugger`).

use std::net::IpAddr;

use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;

use crate::app::error_response;
use crate::config::{Config, ConfigError};
use crate::identity::{constant_time_eq, KeyedValue};

/// Security settings of a collector (all off by default). Part of [`Config`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Identity verification secrets per write key: every message of that key
    /// with a `userId` must carry `segflowSignature` = hex HMAC-SHA256(secret,
    /// userId).
    pub identity_secrets: Vec<KeyedValue>,
    /// Shared secrets of `POST /webhook/{writeKey}`: `X-Signature` must be the hex
    /// HMAC-SHA1 of the raw body.
    pub webhook_secrets: Vec<KeyedValue>,
    /// Per write key, the track property naming the company an event belongs to
    /// (e.g. `company_id`).
    pub company_event_properties: Vec<KeyedValue>,
    /// The admin token of the read side (`Authorization: Bearer <token>` or
    /// `?token=`). When `None` and the collector binds a non-loopback address,
    /// one is generated at start ([`crate::Server::admin_token`]).
    pub admin_token: Option<String>,
    /// Development only: `GET /v1/state` answers for write keys without an
    /// identity secret, to anyone (off by default).
    pub dev_state: bool,
    /// Origins (`scheme://host[:port]`, exactly) whose pages may read the read
    /// side cross-origin, without credentials: the admin token (or loopback
    /// `Host`) is still required. None by default.
    pub read_origins: Vec<String>,
}

impl Config {
    /// Turns identity verification on for `write_key` (which must also be added
    /// with [`Config::with_write_key`]).
    pub fn with_identity_secret(
        mut self,
        write_key: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.security.identity_secrets.push(KeyedValue {
            key: write_key.into(),
            value: secret.into(),
        });
        self
    }

    /// Requires `X-Signature` (hex HMAC-SHA1 of the body under `secret`) on
    /// `POST /webhook/{write_key}`.
    pub fn with_webhook_secret(
        mut self,
        write_key: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.security.webhook_secrets.push(KeyedValue {
            key: write_key.into(),
            value: secret.into(),
        });
        self
    }

    /// Webhook track events of `write_key` whose properties carry `property` are
    /// attached to that company too.
    pub fn with_company_event_property(
        mut self,
        write_key: impl Into<String>,
        property: impl Into<String>,
    ) -> Self {
        self.security.company_event_properties.push(KeyedValue {
            key: write_key.into(),
            value: property.into(),
        });
        self
    }

    /// Requires `Authorization: Bearer <token>` (or `?token=`) on the read side.
    pub fn with_admin_token(mut self, token: impl Into<String>) -> Self {
        self.security.admin_token = Some(token.into());
        self
    }

    /// Development only: lets `GET /v1/state` answer for write keys without an
    /// identity secret, without any signature.
    pub fn with_dev_state(mut self, on: bool) -> Self {
        self.security.dev_state = on;
        self
    }

    /// Lets pages of `origin` (e.g. an internal dashboard, or a test runner on
    /// a known port) read the read side cross-origin (`--read-origin`).
    pub fn with_read_origin(mut self, origin: impl Into<String>) -> Self {
        self.security
            .read_origins
            .push(origin.into().trim_end_matches('/').to_string());
        self
    }
}

/// The request's `Origin` when it is one of `allowed` (the read side's
/// cross-origin readers).
pub(crate) fn read_origin<'a>(
    allowed: &[String],
    headers: &'a HeaderMap,
) -> Option<&'a HeaderValue> {
    let origin = headers.get(axum::http::header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.iter().any(|a| a == text).then_some(origin)
}

/// Adds the read side's CORS headers for an allowed origin (no credentials).
pub(crate) fn add_read_cors(headers: &mut HeaderMap, origin: &HeaderValue, preflight: bool) {
    headers.insert("access-control-allow-origin", origin.clone());
    headers.insert("vary", HeaderValue::from_static("Origin"));
    if preflight {
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, OPTIONS"),
        );
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("Authorization"),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    }
}

impl SecurityConfig {
    /// Checks that every keyed setting names a configured write key, at most once
    /// per setting, and that values are not empty.
    pub fn validate(&self, write_keys: &[&str]) -> Result<(), ConfigError> {
        let lists = [
            ("identity-secret", &self.identity_secrets),
            ("webhook-secret", &self.webhook_secrets),
            ("company-event-property", &self.company_event_properties),
        ];
        for (flag, list) in lists {
            for (i, item) in list.iter().enumerate() {
                if !write_keys.contains(&item.key.as_str()) {
                    return Err(ConfigError(format!(
                        "--{flag} names write key {:?}, which is not given with --write-key",
                        item.key
                    )));
                }
                if item.value.is_empty() {
                    return Err(ConfigError(format!(
                        "--{flag} for write key {:?} must not be empty",
                        item.key
                    )));
                }
                if list[..i].iter().any(|other| other.key == item.key) {
                    return Err(ConfigError(format!(
                        "--{flag} is given twice for write key {:?}",
                        item.key
                    )));
                }
            }
        }
        if self.admin_token.as_deref() == Some("") {
            return Err(ConfigError("--admin-token must not be empty".into()));
        }
        for origin in &self.read_origins {
            let rest = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.contains(['/', '?', '#', '*', ' '])) {
                return Err(ConfigError(format!(
                    "--read-origin must be an origin such as https://dashboard.example.com or http://127.0.0.1:8080 (scheme, host, optional port; no path, no wildcard), got {origin:?}"
                )));
            }
        }
        Ok(())
    }

    /// The value configured for `write_key` in `list`.
    pub(crate) fn lookup<'a>(list: &'a [KeyedValue], write_key: &str) -> Option<&'a str> {
        list.iter()
            .find(|item| item.key == write_key)
            .map(|item| item.value.as_str())
    }
}

/// A fresh random admin token (32 hex digits from the OS random source).
pub(crate) fn generate_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot generate an admin token: {e}"))?;
    Ok(crate::identity::hex(&bytes))
}

/// The CORS policy of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CorsPolicy {
    /// Ingestion (`/v1/{kind}`): the request's origin echoed, with credentials.
    Ingestion,
    /// `/v1/state`: any origin, without credentials; `X-Segflow-Signature` allowed.
    State,
    /// Public content (static files, `/health`, unknown paths): `*`, no
    /// credentials.
    Public,
    /// The read side and the webhook: no CORS headers at all.
    None,
}

/// Whether `path` is on the admin-gated read side.
pub(crate) fn is_read_side(path: &str) -> bool {
    path == "/debugger" || path == "/api" || path.starts_with("/api/")
}

/// The CORS policy of `path`.
pub(crate) fn cors_policy(path: &str) -> CorsPolicy {
    if path == "/v1/state" {
        CorsPolicy::State
    } else if path.starts_with("/v1/") {
        CorsPolicy::Ingestion
    } else if is_read_side(path) || path == "/webhook" || path.starts_with("/webhook/") {
        CorsPolicy::None
    } else {
        CorsPolicy::Public
    }
}

/// Adds the `/v1/state` CORS headers (any origin, no credentials).
pub(crate) fn add_state_cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
}

/// Adds the public-content CORS header (`*`, no credentials).
pub(crate) fn add_public_cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
}

/// Adds the headers of a `/v1/state` preflight.
pub(crate) fn add_state_preflight(headers: &mut HeaderMap) {
    add_state_cors(headers);
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, OPTIONS"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("X-Segflow-Signature"),
    );
    headers.insert("access-control-max-age", HeaderValue::from_static("86400"));
}

/// How the read side is protected, decided at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AdminGate {
    /// `Authorization: Bearer <token>` or `?token=<token>` required.
    Token(String),
    /// Loopback only without a token: requests must name a loopback `Host`.
    LoopbackHost,
}

/// Whether `host` (a `Host` header value, with or without a port) names the
/// loopback interface: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || port.starts_with(':') => inside,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `token` query parameter of `uri`, percent-decoding `%XX`.
fn query_token(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == "token").then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a read-side request against the gate: `None` when it may proceed, the
/// error answer otherwise.
pub(crate) fn check_admin(gate: &AdminGate, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    match gate {
        AdminGate::Token(token) => {
            let bearer = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let (scheme, value) = v.trim().split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("bearer")
                        .then(|| value.trim().to_string())
                });
            let presented = bearer.or_else(|| query_token(uri));
            match presented {
                None => Some(error_response(
                    StatusCode::UNAUTHORIZED,
                    "admin_token_required",
                    "the read side needs the admin token: Authorization: Bearer <token> (or ?token=<token>)",
                )),
                Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => None,
                Some(_) => Some(error_response(
                    StatusCode::UNAUTHORIZED,
                    "invalid_admin_token",
                    "the admin token is wrong",
                )),
            }
        }
        AdminGate::LoopbackHost => {
            let host = headers.get(HOST).and_then(|v| v.to_str().ok());
            match host {
                Some(host) if is_loopback_host(host) => None,
                _ => Some(error_response(
                    StatusCode::FORBIDDEN,
                    "forbidden_host",
                    "without an admin token the read side answers only requests whose Host is a loopback name or address (localhost, 127.0.0.1, [::1]); this protects it from DNS rebinding. Use a loopback URL or start the collector with --admin-token",
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:8787",
            "LOCALHOST.",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.1:40123",
            "127.9.9.9:1",
            "[::1]",
            "[::1]:8787",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8787",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.1:80",
            "[::2]:80",
            "[::1]x",
            "localhost:80x",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn cors_policies() {
        assert_eq!(cors_policy("/v1/batch"), CorsPolicy::Ingestion);
        assert_eq!(cors_policy("/v1/state"), CorsPolicy::State);
        assert_eq!(cors_policy("/api/events"), CorsPolicy::None);
        assert_eq!(cors_policy("/debugger"), CorsPolicy::None);
        assert_eq!(cors_policy("/webhook/WK"), CorsPolicy::None);
        assert_eq!(cors_policy("/health"), CorsPolicy::Public);
        assert_eq!(cors_policy("/pkg/x.js"), CorsPolicy::Public);
    }

    #[test]
    fn read_origins_must_be_origins() {
        for (origin, ok) in [
            ("http://127.0.0.1:8080", true),
            ("https://dash.example.com", true),
            ("*", false),
            ("https://*.example.com", false),
            ("https://a.example/path", false),
            ("dash.example.com", false),
        ] {
            let c = SecurityConfig {
                read_origins: vec![origin.into()],
                ..SecurityConfig::default()
            };
            assert_eq!(c.validate(&[]).is_ok(), ok, "{origin}");
        }
    }

    #[test]
    fn token_from_query() {
        let uri: Uri = "/api/stream?a=1&token=t%2Bx+y%zz".parse().unwrap();
        assert_eq!(query_token(&uri).as_deref(), Some("t+x y%zz"));
        let uri: Uri = "/api/stream?tokens=1".parse().unwrap();
        assert_eq!(query_token(&uri), None);
        let uri: Uri = "/api/stream?token=%4".parse().unwrap();
        assert_eq!(query_token(&uri).as_deref(), Some("%4"));
    }
}
