//! The options of `init`, validated: every type and range check is made here,
//! so a bad option fails `init` with an `invalid_argument` naming it, natively
//! tested. The shell only reads the raw values off the options object.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::delivery::{DeliveryConfig, DAY_MS};
use crate::core::error::Error;

/// One option as the shell found it on the options object.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    /// Not set (`undefined` or `null`).
    Absent,
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A string too long to take in (over [`crate::core::message::MAX_ARG_BYTES`] bytes of UTF-8).
    Long,
    /// Anything else (an object, a function, ...).
    Other,
}

/// The validated settings of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The Segment source's write key.
    pub write_key: String,
    /// Environment label (`production`, `staging`, ...): part of the storage
    /// namespace, so two environments never share a queue or flow progress.
    pub environment: Option<String>,
    /// `{apiHost}/batch`.
    pub batch_url: String,
    /// Send `Authorization: Basic` with regular batches (a CORS preflight per
    /// batch cross-origin); off by default: the write key is in the body.
    pub basic_auth: bool,
    /// Track property that carries the active group id (`company_id`).
    pub company_property: Option<String>,
    /// The `integrations` object of every message (JSON text).
    pub integrations: String,
    /// Start with streaming on.
    pub stream: bool,
    /// Automatic `page_viewed` events (for the flows side).
    pub page_tracking: bool,
    /// `listenToAnalyticsJs`: segflow's plugin goes on `window.analytics`
    /// (analytics.js), whose calls segflow then follows (see
    /// [`crate::core::client::heard`]): the loader registers it at `init` when it
    /// can, else the core module's shell watches `window.analytics` for it.
    pub listen_to_analytics_js: bool,
    /// Queue, batching, retry and timeout settings.
    pub delivery: DeliveryConfig,
    /// Messages of a user identified with a `signature` carry it as
    /// `segflowSignature` (for a segflow collector in front of Segment, which
    /// checks and removes it); off when `apiHost` is Segment's own API, which
    /// would store it.
    pub send_signature: bool,
    /// `{stateHost}/state`: where the user's server-side state is read
    /// (`init({stateHost})`, a segflow collector's `/v1`), if anywhere.
    pub state_url: Option<String>,
}

/// Whether `host` (an http(s) URL without the scheme) is Segment's own API.
fn is_segment_host(rest: &str) -> bool {
    let host = rest.split(['/', ':', '?']).next().unwrap_or("");
    let host = host.to_ascii_lowercase();
    ["segment.io", "segment.com", "segmentapis.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&(String::from(".") + d)))
}

/// Validates an http(s) base URL option (`apiHost`, `stateHost`): trimmed,
/// without a trailing `/`; with what follows the scheme.
fn base_url<'a>(key: &str, value: &'a str) -> Result<(&'a str, &'a str), Error> {
    let url = value.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok((url, r)),
        _ => Err(Error::invalid(
            String::from(key) + " must be an http(s) URL such as https://api.segment.io/v1",
        )),
    }
}

/// The default Segment endpoint.
pub const DEFAULT_API_HOST: &str = "https://api.segment.io/v1";

fn invalid(key: &str, what: &str) -> Error {
    Error::invalid(String::from(key) + " must be " + what)
}

fn string(get: &impl Fn(&str) -> Raw, key: &str) -> Result<Option<String>, Error> {
    match get(key) {
        Raw::Absent => Ok(None),
        Raw::Str(s) => Ok(Some(s)),
        Raw::Long => Err(invalid(key, "a string of at most 32 KB")),
        _ => Err(invalid(key, "a string")),
    }
}

fn boolean(get: &impl Fn(&str) -> Raw, key: &str, default: bool) -> Result<bool, Error> {
    match get(key) {
        Raw::Absent => Ok(default),
        Raw::Bool(b) => Ok(b),
        _ => Err(invalid(key, "a boolean")),
    }
}

/// A number from `min` to `max` (`what` describes the range in the message).
fn number(
    get: &impl Fn(&str) -> Raw,
    key: &str,
    default: f64,
    min: f64,
    max: f64,
    what: &str,
) -> Result<f64, Error> {
    match get(key) {
        Raw::Absent => Ok(default),
        Raw::Num(n) if n.is_finite() && n >= min && n <= max => Ok(n),
        _ => Err(invalid(key, what)),
    }
}

impl ClientConfig {
    /// Validates the options of `init`. `get(name)` reads one option;
    /// `integrations` is the JSON text of that option (checked by the shell's
    /// value walk), `{}` when absent.
    pub fn from_options(get: impl Fn(&str) -> Raw, integrations: String) -> Result<Self, Error> {
        let write_key = match string(&get, "writeKey")? {
            Some(k) if !k.trim().is_empty() => k,
            _ => return Err(Error::invalid("init needs a non-empty writeKey")),
        };
        if write_key.contains(':') {
            return Err(Error::invalid(
                "the writeKey must not contain ':' (it separates storage keys)",
            ));
        }
        let environment = string(&get, "environment")?.filter(|e| !e.is_empty());
        if environment.as_deref().is_some_and(|e| e.contains(':')) {
            return Err(Error::invalid(
                "the environment must not contain ':' (it separates storage keys)",
            ));
        }
        let company_property = string(&get, "companyEventProperty")?.filter(|p| !p.is_empty());
        let stream = boolean(&get, "stream", true)?;
        let page_tracking = boolean(&get, "pageTracking", true)?;
        let listen_to_analytics_js = boolean(&get, "listenToAnalyticsJs", false)?;
        let basic_auth = boolean(&get, "basicAuth", false)?;
        if basic_auth && !write_key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(Error::invalid(
                "with basicAuth the writeKey must be printable ASCII",
            ));
        }
        let api_host = string(&get, "apiHost")?.unwrap_or_else(|| DEFAULT_API_HOST.to_owned());
        let (api_host, rest) = base_url("apiHost", &api_host)?;
        let send_signature = !is_segment_host(rest);
        let state_url = match string(&get, "stateHost")? {
            Some(h) => Some(String::from(base_url("stateHost", &h)?.0) + "/state"),
            None => None,
        };
        let d = DeliveryConfig::default();
        let count = |key: &str, default: usize, max: f64| -> Result<usize, Error> {
            let mut what = String::from("a number from 1 to ");
            crate::core::json::push_u64(max as u64, &mut what);
            Ok(number(&get, key, default as f64, 1.0, max, &what)? as usize)
        };
        let flush_at = count("flushAt", d.flush_at, 2500.0)?;
        let flush_interval_ms = count("flushInterval", d.flush_interval_ms as usize, 3.6e6)? as u64;
        let max_queue_events = count("maxQueueEvents", d.max_queue_events, 1e6)?;
        // At least one message at Segment's limit, or a small event would be
        // refused as over it.
        let max_queue_bytes = number(
            &get,
            "maxQueueBytes",
            d.max_queue_bytes as f64,
            32768.0,
            1e9,
            "a number from 32768 (one message at Segment's 32 KB limit) to 1000000000",
        )? as usize;
        let request_timeout_ms =
            count("requestTimeout", d.request_timeout_ms as usize, 6e5)? as u64;
        let days = number(
            &get,
            "maxEventAgeDays",
            7.0,
            0.0,
            365.0,
            "a number of days above 0, at most 365",
        )?;
        if days <= 0.0 {
            return Err(invalid(
                "maxEventAgeDays",
                "a number of days above 0, at most 365",
            ));
        }
        let max_event_age_ms = ((days * DAY_MS as f64) as u64).max(1);
        Ok(ClientConfig {
            batch_url: String::from(api_host) + "/batch",
            delivery: DeliveryConfig {
                flush_at,
                flush_interval_ms,
                max_queue_events,
                max_queue_bytes,
                request_timeout_ms,
                max_event_age_ms,
                write_key: write_key.clone(),
                ..d
            },
            write_key,
            send_signature,
            state_url,
            environment,
            basic_auth,
            company_property,
            integrations,
            stream,
            page_tracking,
            listen_to_analytics_js,
        })
    }

    /// The sessionStorage key that keeps a browser tab's id across its page loads.
    pub fn session_key(&self) -> String {
        self.storage_prefix() + "tab"
    }

    /// The prefix of every storage key of this write key and environment:
    /// `segflow:v1:[<environment>:]<writeKey>:`.
    pub fn storage_prefix(&self) -> String {
        let mut base = String::from("segflow:v1:");
        if let Some(env) = &self.environment {
            base.push_str(env);
            base.push(':');
        }
        base.push_str(&self.write_key);
        base.push(':');
        base
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, Raw)]) -> Result<ClientConfig, Error> {
        let pairs: Vec<(String, Raw)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        ClientConfig::from_options(
            |k| {
                pairs
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Raw::Absent)
            },
            "{}".into(),
        )
    }

    fn key() -> (&'static str, Raw) {
        ("writeKey", Raw::Str("WK".into()))
    }

    #[test]
    fn defaults() {
        let c = with(&[key()]).unwrap();
        assert_eq!(c.batch_url, "https://api.segment.io/v1/batch");
        assert!(
            !c.basic_auth,
            "no Authorization header by default (no preflight)"
        );
        assert!(c.stream && c.page_tracking);
        assert!(!c.listen_to_analytics_js);
        assert_eq!(c.delivery.request_timeout_ms, 10_000);
        assert_eq!(c.delivery.max_event_age_ms, 7 * DAY_MS);
        assert_eq!(c.delivery.write_key, "WK");
        assert_eq!(c.storage_prefix(), "segflow:v1:WK:");
    }

    #[test]
    fn signatures_are_not_sent_to_segment_itself() {
        for (host, send) in [
            ("https://api.segment.io/v1", false),
            ("https://events.eu1.segmentapis.com/v1", false),
            ("https://API.Segment.IO:443/v1", false),
            ("https://segment.io.evil.example/v1", true),
            ("https://notsegment.io/v1", true),
            ("http://127.0.0.1:8787/v1", true),
        ] {
            let c = with(&[key(), ("apiHost", Raw::Str(host.into()))]).unwrap();
            assert_eq!(c.send_signature, send, "{host}");
        }
        let c = with(&[key()]).unwrap();
        assert!(!c.send_signature && c.state_url.is_none(), "defaults");
    }

    #[test]
    fn every_option_is_read() {
        let c = with(&[
            key(),
            ("environment", Raw::Str("staging".into())),
            ("apiHost", Raw::Str("http://127.0.0.1:9/v1/".into())),
            ("basicAuth", Raw::Bool(true)),
            ("flushAt", Raw::Num(5.7)),
            ("flushInterval", Raw::Num(250.0)),
            ("maxQueueEvents", Raw::Num(100.0)),
            ("maxQueueBytes", Raw::Num(50_000.0)),
            ("requestTimeout", Raw::Num(1_500.0)),
            ("maxEventAgeDays", Raw::Num(0.5)),
            ("companyEventProperty", Raw::Str("company_id".into())),
            ("stream", Raw::Bool(false)),
            ("pageTracking", Raw::Bool(false)),
            ("listenToAnalyticsJs", Raw::Bool(true)),
            (
                "stateHost",
                Raw::Str(" https://events.example.com/v1/ ".into()),
            ),
        ])
        .unwrap();
        assert_eq!(c.batch_url, "http://127.0.0.1:9/v1/batch");
        assert_eq!(
            c.state_url.as_deref(),
            Some("https://events.example.com/v1/state")
        );
        assert!(c.send_signature, "a collector in front of Segment");
        assert!(c.basic_auth && !c.stream && !c.page_tracking);
        assert!(c.listen_to_analytics_js);
        assert_eq!(c.delivery.flush_at, 5);
        assert_eq!(c.delivery.flush_interval_ms, 250);
        assert_eq!(c.delivery.max_queue_events, 100);
        assert_eq!(c.delivery.max_queue_bytes, 50_000);
        assert_eq!(c.delivery.request_timeout_ms, 1_500);
        assert_eq!(c.delivery.max_event_age_ms, DAY_MS / 2);
        assert_eq!(c.company_property.as_deref(), Some("company_id"));
        assert_eq!(c.storage_prefix(), "segflow:v1:staging:WK:");
    }

    #[test]
    fn bad_options_name_themselves() {
        let cases: Vec<(&str, Raw, &str)> = vec![
            ("writeKey", Raw::Str("  ".into()), "writeKey"),
            ("writeKey", Raw::Num(1.0), "writeKey"),
            ("apiHost", Raw::Str("ftp://x".into()), "apiHost"),
            (
                "stateHost",
                Raw::Str("events.example.com".into()),
                "stateHost",
            ),
            ("stateHost", Raw::Num(1.0), "stateHost"),
            ("apiHost", Raw::Str("https://".into()), "apiHost"),
            ("apiHost", Raw::Num(1.0), "apiHost"),
            ("flushAt", Raw::Num(0.0), "flushAt"),
            ("flushAt", Raw::Str("5".into()), "flushAt"),
            ("flushAt", Raw::Num(f64::NAN), "flushAt"),
            ("flushInterval", Raw::Num(-1.0), "flushInterval"),
            ("requestTimeout", Raw::Num(0.0), "requestTimeout"),
            ("requestTimeout", Raw::Num(1e9), "requestTimeout"),
            ("maxEventAgeDays", Raw::Num(0.0), "maxEventAgeDays"),
            ("maxEventAgeDays", Raw::Num(400.0), "maxEventAgeDays"),
            ("maxEventAgeDays", Raw::Bool(true), "maxEventAgeDays"),
            ("stream", Raw::Str("yes".into()), "stream"),
            ("basicAuth", Raw::Num(1.0), "basicAuth"),
            ("pageTracking", Raw::Other, "pageTracking"),
            (
                "listenToAnalyticsJs",
                Raw::Str("true".into()),
                "listenToAnalyticsJs",
            ),
            ("listenToAnalyticsJs", Raw::Num(1.0), "listenToAnalyticsJs"),
            ("listenToAnalyticsJs", Raw::Other, "listenToAnalyticsJs"),
            ("environment", Raw::Other, "environment"),
            // `:` separates the parts of storage keys: a write key or environment
            // holding one could read as another's keys.
            ("writeKey", Raw::Str("a:b".into()), "writeKey"),
            ("environment", Raw::Str("flows:u".into()), "environment"),
        ];
        for (k, v, name) in cases {
            let mut opts = vec![key()];
            if k == "writeKey" {
                opts.clear();
            }
            opts.push((k, v.clone()));
            let e = with(&opts).expect_err(k);
            assert_eq!(e.code.as_str(), "invalid_argument");
            assert!(e.message.contains(name), "{k} {v:?}: {}", e.message);
        }
        assert!(with(&[]).is_err(), "writeKey is required");
        for k in ["writeKey", "apiHost", "stateHost", "environment"] {
            let mut opts = vec![(k, Raw::Long)];
            opts.push(key());
            let e = with(&opts).expect_err(k);
            let m = String::from(k) + " must be a string of at most 32 KB";
            assert_eq!(e.message, m, "a string too long to take in is named so");
        }
        let e = with(&[
            ("writeKey", Raw::Str("ké y".into())),
            ("basicAuth", Raw::Bool(true)),
        ]);
        assert!(e.is_err(), "a Basic header cannot carry a non-ASCII key");
    }

    #[test]
    fn a_queue_must_hold_one_message_at_segments_limit() {
        // A smaller queue would refuse a 1 KB event as "over Segment's 32 KB limit".
        for small in [1.0, 1000.0, 32_767.0] {
            let e = with(&[key(), ("maxQueueBytes", Raw::Num(small))]).expect_err("small");
            assert_eq!(e.code.as_str(), "invalid_argument");
            assert_eq!(
                e.message,
                "maxQueueBytes must be a number from 32768 (one message at Segment's 32 KB limit) to 1000000000"
            );
        }
        let c = with(&[key(), ("maxQueueBytes", Raw::Num(32_768.0))]).unwrap();
        assert_eq!(c.delivery.max_queue_bytes, 32_768);
        assert_eq!(c.delivery.normalized().max_message_bytes, 32 * 1024);
    }
}
