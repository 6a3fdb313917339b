//! Who the user is: the Segment `userId`, the `anonymousId` shared with analytics.js,
//! the active group (company), and the traits of both, with Userflow's attribute
//! change operations resolved against what is stored.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::error::Error;
use crate::core::json::{self, Json, Number};

/// Longest user or group id accepted, in characters.
pub const MAX_ID_CHARS: usize = 255;

/// The operation keys an attribute change object may hold (`{"add": 1}`).
const OPS: [&str; 7] = [
    "set", "set_once", "add", "subtract", "append", "prepend", "remove",
];

/// Checks a user or group id: a non-empty string of at most 255 characters.
/// `what` names the argument in the error message.
pub fn validate_id(id: &str, what: &str) -> Result<(), Error> {
    if id.trim().is_empty() {
        return Err(Error::invalid(
            what.to_owned() + " must be a non-empty string, not only spaces",
        ));
    }
    // Characters counted as UTF-8 lead bytes: the same count as `chars()`, without
    // pulling the panic paths of char iteration into the wasm.
    if id.bytes().filter(|b| b & 0xc0 != 0x80).count() > MAX_ID_CHARS {
        return Err(Error::invalid(
            what.to_owned() + " must be at most 255 characters",
        ));
    }
    Ok(())
}

/// Reads an id as analytics.js may have stored it: plain (`abc`) or JSON-encoded
/// (`"abc"`). Empty values and the literal `null` read as absent.
pub fn decode_stored_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "null" || raw == "undefined" {
        return None;
    }
    if raw.starts_with('"') {
        return match json::parse(raw) {
            Ok(Json::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
    }
    Some(raw.to_owned())
}

/// Reads a traits object as analytics.js stores it (JSON); anything else is empty.
pub fn decode_stored_traits(raw: Option<&str>) -> Json {
    match raw.map(json::parse) {
        Some(Ok(v @ Json::Object(_))) => v,
        _ => Json::Object(Vec::new()),
    }
}

/// Formats a 16-byte random value as a uuid v4 (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// Whether `value` is an attribute change operation (`{"set": ..}`, `{"add": 1}`, ...)
/// rather than a plain nested value. An operation object holds exactly one operation
/// key and optionally `data_type`.
fn operation(value: &Json) -> Option<(&str, &Json, Option<&str>)> {
    let fields = value.as_object()?;
    let mut op = None;
    let mut data_type = None;
    for (k, v) in fields {
        if k == "data_type" {
            data_type = Some(v.as_str()?);
        } else if OPS.contains(&k.as_str()) && op.is_none() {
            op = Some((k.as_str(), v));
        } else {
            return None;
        }
    }
    op.map(|(k, v)| (k, v, data_type))
}

fn as_list(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn number(v: &Json, key: &str) -> Result<f64, Error> {
    match v {
        Json::Number(n) => Ok(n.to_f64()),
        Json::String(s) => json::parse_f64(s)
            .ok_or_else(|| Error::invalid("attribute ".to_owned() + key + " needs a number")),
        _ => Err(Error::invalid(
            "attribute ".to_owned() + key + " needs a number",
        )),
    }
}

/// Whether `s` has the shape of an ISO 8601 date, `YYYY-MM-DD`, with nothing
/// after it or a time (`T`, `t` or a space, then anything: the API reads the
/// rest). Only the shape: `2026-99-99` passes (a full calendar check measured
/// 120 B gzipped more in the core module).
fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b.iter().take(10).enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && b.get(10).is_none_or(|c| matches!(c, b'T' | b't' | b' '))
}

/// Converts `value` to the requested `data_type` (`string`, `number`, `boolean`,
/// `datetime`, `list`), as Userflow does for explicitly typed attributes.
fn coerce(value: Json, data_type: &str, key: &str) -> Result<Json, Error> {
    let bad = || Error::invalid("attribute ".to_owned() + key + " cannot be a " + data_type);
    Ok(match (data_type, value) {
        (_, Json::Null) => Json::Null,
        ("string", Json::String(s)) => Json::String(s),
        ("string", v @ (Json::Number(_) | Json::Bool(_))) => Json::String(match v {
            Json::Bool(b) => if b { "true" } else { "false" }.to_owned(),
            other => other.to_json(),
        }),
        ("number", v @ Json::Number(_)) => v,
        ("number", v) => Json::Number(Number::from_f64(number(&v, key)?).ok_or_else(bad)?),
        ("boolean", Json::Bool(b)) => Json::Bool(b),
        ("boolean", Json::String(s)) => match s.as_str() {
            "true" => Json::Bool(true),
            "false" => Json::Bool(false),
            _ => return Err(bad()),
        },
        ("datetime", Json::String(s)) if is_iso_date(&s) => Json::String(s),
        ("datetime", Json::Number(ms))
            if (0.0..=crate::core::platform::MAX_DATE_MS as f64).contains(&ms.to_f64()) =>
        {
            Json::String(crate::core::time::iso8601(ms.to_f64() as u64))
        }
        ("list", v) => Json::Array(as_list(&v)),
        _ => return Err(bad()),
    })
}

/// Applies a set of attribute changes to stored traits and returns the new traits.
///
/// Plain values (string, number, boolean, null, lists, nested objects) replace what is
/// stored. Operation objects are resolved: `set`, `set_once` (only when absent or
/// null), `add` / `subtract` (numbers; absent counts as 0), `append` / `prepend`
/// (lists; a single value or a list), `remove` (removes the values from a list).
/// `{"set": null}` keeps the key with a null value; Segment receives plain values only.
/// `stored` is unchanged on error.
pub fn apply_changes(stored: &Json, changes: &Json) -> Result<Json, Error> {
    let Some(fields) = changes.as_object() else {
        return Err(Error::invalid("traits must be an object"));
    };
    let mut out = match stored {
        Json::Object(_) => stored.clone(),
        _ => Json::Object(Vec::new()),
    };
    for (key, value) in fields {
        let Some((op, arg, data_type)) = operation(value) else {
            out.set(key, value.clone());
            continue;
        };
        let current = out.get(key).cloned();
        let new = match op {
            "set" => arg.clone(),
            "set_once" => match current {
                Some(v) if v != Json::Null => v,
                _ => arg.clone(),
            },
            "add" | "subtract" => {
                let base = match &current {
                    None | Some(Json::Null) => 0.0,
                    Some(v) => number(v, key)?,
                };
                let delta = number(arg, key)?;
                let n = if op == "add" {
                    base + delta
                } else {
                    base - delta
                };
                match Number::from_f64(n) {
                    Some(n) => Json::Number(n),
                    None => {
                        return Err(Error::invalid(
                            "attribute ".to_owned() + key + " overflowed",
                        ))
                    }
                }
            }
            "append" | "prepend" => {
                let mut list = match &current {
                    None | Some(Json::Null) => Vec::new(),
                    Some(v) => as_list(v),
                };
                let extra = as_list(arg);
                if op == "append" {
                    list.extend(extra);
                } else {
                    let mut l = extra;
                    l.extend(list);
                    list = l;
                }
                Json::Array(list)
            }
            // "remove"
            _ => {
                let gone = as_list(arg);
                let list = match &current {
                    None | Some(Json::Null) => Vec::new(),
                    Some(v) => as_list(v),
                };
                Json::Array(list.into_iter().filter(|v| !gone.contains(v)).collect())
            }
        };
        let new = match data_type {
            Some(t) => coerce(new, t, key)?,
            None => new,
        };
        out.set(key, new);
    }
    Ok(out)
}

/// The identity state segflow shares with analytics.js.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// uuid v4, kept until `reset` or a switch to another user.
    pub anonymous_id: String,
    /// The Segment `userId` of the signed-in user.
    pub user_id: Option<String>,
    /// The active group (company) id.
    pub group_id: Option<String>,
    /// Resolved user traits (a JSON object).
    pub user_traits: Json,
    /// Resolved group traits (a JSON object).
    pub group_traits: Json,
    /// The identity signature of `user_id` the app passed to `identify` (hex
    /// HMAC-SHA256 of the user id, lower case), for the collector to check.
    pub signature: Option<String>,
}

/// Where the shell keeps the identity signature (segflow's own key, beside
/// analytics.js's `ajs_*`): `[userId, signature]` as JSON.
pub const SIGNATURE_KEY: &str = "segflow_user_signature";

/// What to store under [`SIGNATURE_KEY`] for `id` (`None`: remove it).
pub fn encode_stored_signature(id: &Identity) -> Option<String> {
    let (user, sig) = (id.user_id.as_ref()?, id.signature.as_ref()?);
    let mut v = String::from("[");
    crate::core::json::write_string(user, &mut v);
    v.push(',');
    crate::core::json::write_string(sig, &mut v);
    v.push(']');
    Some(v)
}

/// The signature stored by [`encode_stored_signature`], if it is a valid one
/// and for `user_id` (a stored signature of another user is ignored).
pub fn decode_stored_signature(text: &str, user_id: Option<&str>) -> Option<String> {
    let Ok(Json::Array(parts)) = crate::core::json::parse(text) else {
        return None;
    };
    match parts.as_slice() {
        [Json::String(u), Json::String(s)] if Some(u.as_str()) == user_id => {
            validate_signature(s).ok()
        }
        _ => None,
    }
}

/// Validates an identity signature: the 64 hex digits of an HMAC-SHA256;
/// returns it in lower case.
pub fn validate_signature(signature: &str) -> Result<String, Error> {
    if signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(signature.to_ascii_lowercase())
    } else {
        Err(Error::invalid(
            "signature must be the 64 hex digits of HMAC-SHA256(userId) computed by your server",
        ))
    }
}

/// What an identity change means for the shell: which ids to persist again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Changed {
    /// A new anonymous id was started (user switch or reset).
    pub anonymous_id: bool,
    /// The group was cleared.
    pub group: bool,
}

impl Identity {
    /// What `user()` returns, as JSON text: `{userId, anonymousId, groupId,
    /// traits, groupTraits}`, the ids `null` when there are none.
    pub fn state_json(&self) -> String {
        let mut out = String::from("{\"userId\":");
        let id = |v: &Option<String>, out: &mut String| match v {
            Some(s) => json::write_string(s, out),
            None => out.push_str("null"),
        };
        id(&self.user_id, &mut out);
        out.push_str(",\"anonymousId\":");
        json::write_string(&self.anonymous_id, &mut out);
        out.push_str(",\"groupId\":");
        id(&self.group_id, &mut out);
        out.push_str(",\"traits\":");
        out.push_str(&self.user_traits.to_json());
        out.push_str(",\"groupTraits\":");
        out.push_str(&self.group_traits.to_json());
        out.push('}');
        out
    }

    /// A fresh anonymous visitor.
    pub fn new(anonymous_id: String) -> Self {
        Identity {
            anonymous_id,
            user_id: None,
            group_id: None,
            user_traits: Json::Object(Vec::new()),
            group_traits: Json::Object(Vec::new()),
            signature: None,
        }
    }

    /// Identifies the user. Switching from one user id to a different one starts a new
    /// anonymous id (from `new_anonymous_id`) and forgets the previous user's traits and
    /// group, so nothing of one user is attributed to the next. Nothing changes on error.
    pub fn identify(
        &mut self,
        user_id: &str,
        changes: &Json,
        new_anonymous_id: impl FnOnce() -> String,
    ) -> Result<Changed, Error> {
        validate_id(user_id, "userId")?;
        let switching = matches!(&self.user_id, Some(prev) if prev != user_id);
        let base = if switching {
            Json::Object(Vec::new())
        } else {
            self.user_traits.clone()
        };
        let traits = apply_changes(&base, changes)?;
        if switching {
            self.anonymous_id = new_anonymous_id();
            self.group_id = None;
            self.group_traits = Json::Object(Vec::new());
            self.signature = None;
        }
        self.user_id = Some(user_id.to_owned());
        self.user_traits = traits;
        Ok(Changed {
            anonymous_id: switching,
            group: switching,
        })
    }

    /// Merges trait changes into the current user's traits (anonymous or identified).
    pub fn update_user(&mut self, changes: &Json) -> Result<(), Error> {
        self.user_traits = apply_changes(&self.user_traits, changes)?;
        Ok(())
    }

    /// Sets the active group; a different group id starts from empty group traits.
    pub fn group(&mut self, group_id: &str, changes: &Json) -> Result<(), Error> {
        validate_id(group_id, "groupId")?;
        let base = match &self.group_id {
            Some(prev) if prev == group_id => self.group_traits.clone(),
            _ => Json::Object(Vec::new()),
        };
        self.group_traits = apply_changes(&base, changes)?;
        self.group_id = Some(group_id.to_owned());
        Ok(())
    }

    /// Merges trait changes into the active group's traits.
    pub fn update_group(&mut self, changes: &Json) -> Result<(), Error> {
        if self.group_id.is_none() {
            return Err(Error::invalid(
                "updateGroup needs an active group: call group() first",
            ));
        }
        self.group_traits = apply_changes(&self.group_traits, changes)?;
        Ok(())
    }

    /// Forgets the user, traits and group, and starts a new anonymous id (sign-out).
    pub fn reset(&mut self, anonymous_id: String) {
        *self = Identity::new(anonymous_id);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::json::parse;

    fn j(s: &str) -> Json {
        parse(s).unwrap()
    }

    #[test]
    fn stored_signatures_are_for_their_user_only() {
        let mut id = Identity::new("anon".into());
        assert_eq!(encode_stored_signature(&id), None);
        id.user_id = Some("u\"1".into());
        id.signature = Some("ab".repeat(32));
        let text = encode_stored_signature(&id).unwrap();
        assert_eq!(decode_stored_signature(&text, Some("u\"1")), id.signature);
        assert_eq!(decode_stored_signature(&text, Some("u2")), None);
        assert_eq!(decode_stored_signature(&text, None), None);
        assert_eq!(decode_stored_signature("[\"u\",\"zz\"]", Some("u")), None);
        assert_eq!(decode_stored_signature("garbage", Some("u")), None);
    }

    #[test]
    fn ids_are_validated() {
        assert!(validate_id("u1", "userId").is_ok());
        assert!(validate_id("", "userId").is_err());
        // Only spaces (a template's blank value) is no id either; inner and edge
        // spaces in a real id are kept.
        for blank in [" ", "   ", "\t\n"] {
            let e = validate_id(blank, "userId").expect_err(blank);
            assert_eq!(
                e.message,
                "userId must be a non-empty string, not only spaces"
            );
        }
        assert!(validate_id(" u 1 ", "userId").is_ok());
        assert!(validate_id(&"é".repeat(255), "userId").is_ok());
        let err = validate_id(&"x".repeat(256), "userId").unwrap_err();
        assert_eq!(err.code.as_str(), "invalid_argument");
    }

    #[test]
    fn stored_ids_are_read_plain_or_json_encoded() {
        assert_eq!(decode_stored_id("abc").as_deref(), Some("abc"));
        assert_eq!(decode_stored_id("\"abc\"").as_deref(), Some("abc"));
        assert_eq!(decode_stored_id("null"), None);
        assert_eq!(decode_stored_id(""), None);
        assert_eq!(decode_stored_id("\"\""), None);
        assert_eq!(decode_stored_id("\"broken"), None);
    }

    #[test]
    fn uuid_has_version_and_variant_bits() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = uuid_v4([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn operations_resolve_against_stored_values() {
        let stored = j(r#"{"n":2,"tags":["a","b"],"first":"x","gone":1}"#);
        let changes = j(r#"{
            "n":{"add":3},
            "m":{"subtract":1.5},
            "tags":{"append":["c"]},
            "front":{"prepend":"z"},
            "first":{"set_once":"y"},
            "fresh":{"set_once":"new"},
            "plain":"v",
            "address":{"city":"Oslo"},
            "gone":{"set":null},
            "cut":{"remove":"a"}
        }"#);
        let out = apply_changes(&stored, &changes).unwrap();
        assert_eq!(
            out.to_json(),
            r#"{"n":5,"tags":["a","b","c"],"first":"x","gone":null,"m":-1.5,"front":["z"],"fresh":"new","plain":"v","address":{"city":"Oslo"},"cut":[]}"#
        );
        let out = apply_changes(
            &j(r#"{"l":["a","b","a"]}"#),
            &j(r#"{"l":{"remove":["a"]}}"#),
        )
        .unwrap();
        assert_eq!(out.to_json(), r#"{"l":["b"]}"#);
        let out =
            apply_changes(&j(r#"{"l":["a"]}"#), &j(r#"{"l":{"prepend":["x","y"]}}"#)).unwrap();
        assert_eq!(out.to_json(), r#"{"l":["x","y","a"]}"#);
    }

    #[test]
    fn data_types_coerce_or_fail_without_changing_anything() {
        let out = apply_changes(
            &j("{}"),
            &j(r#"{"a":{"set":"42","data_type":"number"},"b":{"set":7,"data_type":"string"},"c":{"set":"true","data_type":"boolean"},"d":{"set":0,"data_type":"datetime"},"e":{"set":"x","data_type":"list"}}"#),
        )
        .unwrap();
        assert_eq!(
            out.to_json(),
            r#"{"a":42,"b":"7","c":true,"d":"1970-01-01T00:00:00.000Z","e":["x"]}"#
        );
        let stored = j(r#"{"n":1}"#);
        assert!(apply_changes(&stored, &j(r#"{"n":{"add":"lots"}}"#)).is_err());
        assert!(apply_changes(
            &stored,
            &j(r#"{"n":{"set":"maybe","data_type":"boolean"}}"#)
        )
        .is_err());
        assert!(apply_changes(&stored, &j("[1]")).is_err());
        assert!(apply_changes(&j(r#"{"s":"text"}"#), &j(r#"{"s":{"add":1}}"#)).is_err());
        // A datetime string is an ISO 8601 date (with a time or not); other text is
        // refused as a number's is, not stored as it came.
        for bad in ["yesterday", "", "2026-1-05", "2026-01-05X", "12/03/2026"] {
            let change = format!(r#"{{"d":{{"set":"{bad}","data_type":"datetime"}}}}"#);
            let e = apply_changes(&stored, &j(&change)).expect_err(bad);
            assert_eq!(e.message, "attribute d cannot be a datetime", "{bad}");
        }
        for good in [
            "2026-12-03",
            "2026-12-03T16:31:01Z",
            "2026-12-03T16:31:01.250+01:00",
            "2026-12-03t16:31Z",
            "2026-01-31",
        ] {
            let change = format!(r#"{{"d":{{"set":"{good}","data_type":"datetime"}}}}"#);
            let out = apply_changes(&stored, &j(&change))
                .unwrap_or_else(|e| panic!("{good}: {}", e.message));
            assert_eq!(out.get("d"), Some(&Json::String(good.into())));
        }
    }

    #[test]
    fn a_datetime_in_milliseconds_is_one_a_javascript_date_can_hold() {
        // JavaScript's dates end at 8.64e15 ms (year 275760): beyond, there is no
        // ISO 8601 text for Segment, and the attribute is refused, not mangled.
        let stored = j(r#"{"n":1}"#);
        let change = |ms: &str| format!(r#"{{"d":{{"set":{ms},"data_type":"datetime"}}}}"#);
        let out = apply_changes(&stored, &j(&change("8.64e15"))).unwrap();
        assert_eq!(
            out.get("d"),
            Some(&Json::String("+275760-09-13T00:00:00.000Z".into()))
        );
        let out = apply_changes(&stored, &j(&change("253402300799999"))).unwrap();
        assert_eq!(
            out.get("d"),
            Some(&Json::String("9999-12-31T23:59:59.999Z".into()))
        );
        let out = apply_changes(&stored, &j(&change("253402300800000"))).unwrap();
        assert_eq!(
            out.get("d"),
            Some(&Json::String("+010000-01-01T00:00:00.000Z".into()))
        );
        for bad in ["8640000000000001", "1e20", "-1"] {
            let e = apply_changes(&stored, &j(&change(bad))).expect_err(bad);
            assert_eq!(e.message, "attribute d cannot be a datetime", "{bad}");
        }
    }

    #[test]
    fn an_object_with_extra_keys_is_a_plain_value_not_an_operation() {
        let out = apply_changes(&j("{}"), &j(r#"{"x":{"set":1,"other":2}}"#)).unwrap();
        assert_eq!(out.to_json(), r#"{"x":{"set":1,"other":2}}"#);
    }

    #[test]
    fn identify_merges_for_the_same_user_and_starts_over_for_another() {
        let mut id = Identity::new("anon-1".into());
        let c = id
            .identify("u1", &j(r#"{"a":1}"#), || unreachable!())
            .unwrap();
        assert!(!c.anonymous_id);
        assert_eq!(id.anonymous_id, "anon-1");
        id.group("co", &j(r#"{"name":"Acme"}"#)).unwrap();
        id.identify("u1", &j(r#"{"b":{"add":2}}"#), || unreachable!())
            .unwrap();
        assert_eq!(id.user_traits.to_json(), r#"{"a":1,"b":2}"#);
        assert_eq!(id.group_id.as_deref(), Some("co"));
        let c = id
            .identify("u2", &j(r#"{"c":3}"#), || "anon-2".into())
            .unwrap();
        assert!(c.anonymous_id && c.group);
        assert_eq!(id.anonymous_id, "anon-2");
        assert_eq!(id.user_traits.to_json(), r#"{"c":3}"#);
        assert_eq!(id.group_id, None);
    }

    #[test]
    fn failed_calls_change_nothing() {
        let mut id = Identity::new("anon".into());
        id.identify("u1", &j(r#"{"n":1}"#), || unreachable!())
            .unwrap();
        let before = id.clone();
        assert!(id.identify("", &j("{}"), || "x".into()).is_err());
        assert!(id
            .identify("u2", &j(r#"{"n":{"add":"x"}}"#), || "x".into())
            .is_err());
        assert!(id.update_user(&j(r#"{"n":{"add":"x"}}"#)).is_err());
        assert!(id.update_group(&j("{}")).is_err());
        assert!(id.group(&"g".repeat(300), &j("{}")).is_err());
        assert_eq!(id, before);
    }

    #[test]
    fn reset_forgets_everything() {
        let mut id = Identity::new("a".into());
        id.identify("u", &j(r#"{"x":1}"#), || unreachable!())
            .unwrap();
        id.group("g", &j("{}")).unwrap();
        id.reset("b".into());
        assert_eq!(id, Identity::new("b".into()));
    }

    #[test]
    fn stored_traits_that_are_not_objects_read_as_empty() {
        assert_eq!(decode_stored_traits(Some("[1]")).to_json(), "{}");
        assert_eq!(decode_stored_traits(Some("{bad")).to_json(), "{}");
        assert_eq!(decode_stored_traits(None).to_json(), "{}");
        assert_eq!(
            decode_stored_traits(Some(r#"{"a":1}"#)).to_json(),
            r#"{"a":1}"#
        );
    }
}
