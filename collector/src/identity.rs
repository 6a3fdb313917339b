//! Identity verification and the shared-secret signatures: HMAC-SHA256 of a user
//! id (`segflowSignature`, `X-Segflow-Signature`) and HMAC-SHA1 of a webhook body
//! (`X-Signature`), all compared in constant time; and the `KEY=VALUE` settings
//! given per write key on the command line.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;

use crate::config::ConfigError;

/// The top-level message field that carries a user's identity signature. It is
/// removed from every message before it is stored.
pub const SIGNATURE_FIELD: &str = "segflowSignature";

type HmacSha256 = Hmac<Sha256>;
type HmacSha1 = Hmac<Sha1>;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Decodes hex of either case; `None` when `text` is not hex of even length.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    bytes
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Hex HMAC-SHA256 of `user_id` (UTF-8) keyed by `secret`: the identity signature
/// an app's server computes for a user.
pub fn identity_signature(secret: &str, user_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(user_id.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Whether `signature` (hex, either case) is the identity signature of `user_id`
/// under `secret`; the comparison is constant-time.
pub fn verify_identity(secret: &str, user_id: &str, signature: &str) -> bool {
    let Some(given) = unhex(signature) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(user_id.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// Whether `signature` (hex, either case) is the HMAC-SHA1 of `body` under
/// `secret` (Segment's webhook `X-Signature`); the comparison is constant-time.
pub fn verify_webhook(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(given) = unhex(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha1::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Constant-time equality of two byte strings (the length is not hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A value configured for one write key: `--identity-secret KEY=SECRET`,
/// `--webhook-secret KEY=SECRET`, `--company-event-property KEY=PROP`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedValue {
    /// The write key (one of the configured `--write-key`s).
    pub key: String,
    /// The secret or property name.
    pub value: String,
}

impl KeyedValue {
    /// Splits `text` (`KEY=VALUE`) against the configured write keys: the split
    /// point is the `=` whose left part is a configured key, so keys and values may
    /// both contain `=`. Exactly one `=` must qualify, and the value must not be
    /// empty. `flag` names the option in error messages.
    pub fn resolve(text: &str, keys: &[&str], flag: &str) -> Result<KeyedValue, ConfigError> {
        let splits: Vec<(&str, &str)> = text
            .match_indices('=')
            .map(|(i, _)| (&text[..i], &text[i + 1..]))
            .filter(|(key, _)| keys.contains(key))
            .collect();
        match splits.as_slice() {
            [(key, value)] if !value.is_empty() => Ok(KeyedValue {
                key: key.to_string(),
                value: value.to_string(),
            }),
            [(key, _)] => Err(ConfigError(format!(
                "--{flag} for write key {key:?} has an empty value"
            ))),
            [] => Err(ConfigError(format!(
                "--{flag} must be WRITE_KEY=VALUE where WRITE_KEY is also given with --write-key; no configured write key starts {text:?} before an '='"
            ))),
            _ => Err(ConfigError(format!(
                "--{flag} {text:?} is ambiguous: more than one configured write key matches before an '='"
            ))),
        }
    }
}

/// Why a request failed identity verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignatureError {
    /// `missing_signature` or `invalid_signature`.
    pub code: &'static str,
    /// Human-readable reason.
    pub message: String,
    /// Index of the offending message in the request (0 for single messages).
    pub index: usize,
}

/// The user id of a raw message as the validator will store it (numbers coerced,
/// `null` and `""` absent).
fn raw_user_id(message: &Value) -> Option<String> {
    match message.get("userId")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks that every message with a `userId` carries a valid `segflowSignature`
/// for it under `secret`. Messages that are not objects or have no user id are
/// left to the validator.
pub(crate) fn check_messages(secret: &str, messages: &[Value]) -> Result<(), SignatureError> {
    for (index, message) in messages.iter().enumerate() {
        let Some(user_id) = raw_user_id(message) else {
            continue;
        };
        match message.get(SIGNATURE_FIELD) {
            None | Some(Value::Null) => {
                return Err(SignatureError {
                    code: "missing_signature",
                    message: format!(
                        "message {index} has a userId but no \"{SIGNATURE_FIELD}\" (identity verification is on for this write key)"
                    ),
                    index,
                })
            }
            Some(Value::String(signature)) if verify_identity(secret, &user_id, signature) => {}
            Some(_) => {
                return Err(SignatureError {
                    code: "invalid_signature",
                    message: format!(
                        "message {index}: \"{SIGNATURE_FIELD}\" is not the HMAC-SHA256 of its userId under this environment's identity secret"
                    ),
                    index,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 4231 test case 2 (key "Jefe").
    #[test]
    fn rfc_4231_case_2() {
        assert_eq!(
            identity_signature("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 4231 test case 1: key = 20 bytes of 0x0b, data "Hi There".
    #[test]
    fn rfc_4231_case_1() {
        let key = "\u{b}".repeat(20);
        let expected = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
        assert_eq!(identity_signature(&key, "Hi There"), expected);
        assert!(verify_identity(&key, "Hi There", expected));
        assert!(verify_identity(
            &key,
            "Hi There",
            &expected.to_ascii_uppercase()
        ));
        assert!(!verify_identity(&key, "Hi there", expected));
        assert!(!verify_identity(&key, "Hi There", &expected[..62]));
        assert!(!verify_identity(&key, "Hi There", "zz"));
        assert!(!verify_identity(&key, "Hi There", ""));
    }

    /// Computed with `printf %s 'user-42' | openssl dgst -sha256 -hmac 's3cr3t'` and
    /// Python's `hmac.new(b's3cr3t', 'user-42'.encode(), 'sha256').hexdigest()`
    /// (both print the same digest).
    #[test]
    fn openssl_vectors() {
        assert_eq!(
            identity_signature("s3cr3t", "user-42"),
            "f2e37bafa5a4ae2a003079df38783a7dac61ff94426135625d002f61e1942b30"
        );
        // Non-ASCII user id, UTF-8 bytes: `printf %s 'žluť' | openssl dgst -sha256 -hmac 'k=v'`
        // and python3 -c "import hmac;print(hmac.new(b'k=v','žluť'.encode(),'sha256').hexdigest())"
        assert_eq!(
            identity_signature("k=v", "žluť"),
            "0121e765b3561417fe23620e9f7858ff900cef9410c72e12d8cd2a511a704b6c"
        );
    }

    /// RFC 2202 test case 2 for HMAC-SHA1 (key "Jefe").
    #[test]
    fn webhook_sha1() {
        let sig = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
        assert!(verify_webhook("Jefe", b"what do ya want for nothing?", sig));
        assert!(verify_webhook(
            "Jefe",
            b"what do ya want for nothing?",
            &sig.to_ascii_uppercase()
        ));
        assert!(!verify_webhook(
            "Jefe",
            b"what do ya want for nothing!",
            sig
        ));
        assert!(!verify_webhook(
            "jefe",
            b"what do ya want for nothing?",
            sig
        ));
    }

    #[test]
    fn messages_are_checked() {
        let good = identity_signature("S", "u1");
        let ok = [
            json!({"type": "track", "anonymousId": "a"}),
            json!({"type": "track", "userId": "u1", "segflowSignature": good}),
            json!(5),
        ];
        assert_eq!(check_messages("S", &ok), Ok(()));
        let e = check_messages("S", &[ok[1].clone(), json!({"userId": "u2"})]).unwrap_err();
        assert_eq!((e.code, e.index), ("missing_signature", 1));
        let e =
            check_messages("S", &[json!({"userId": "u2", "segflowSignature": good})]).unwrap_err();
        assert_eq!((e.code, e.index), ("invalid_signature", 0));
        let e = check_messages("S", &[json!({"userId": "u1", "segflowSignature": 7})]).unwrap_err();
        assert_eq!(e.code, "invalid_signature");
        // Numeric user ids are signed as the text the validator stores.
        let n = identity_signature("S", "42");
        assert_eq!(
            check_messages("S", &[json!({"userId": 42, "segflowSignature": n})]),
            Ok(())
        );
    }

    #[test]
    fn keyed_values_split_at_a_configured_key() {
        let keys = ["WK", "a=b", "abc=="];
        let r = |t: &str| KeyedValue::resolve(t, &keys, "identity-secret");
        assert_eq!(
            r("WK=s=e=c").unwrap(),
            KeyedValue {
                key: "WK".into(),
                value: "s=e=c".into()
            }
        );
        assert_eq!(r("a=b=secret").unwrap().key, "a=b");
        assert_eq!(r("abc===x").unwrap().value, "x");
        assert!(r("other=x").is_err());
        assert!(r("WK=").is_err());
        assert!(r("WK").is_err());
        // "a=b=c" cannot be both key "a" (not configured here) and "a=b": fine;
        // with both configured it is ambiguous.
        let both = ["a", "a=b"];
        assert!(KeyedValue::resolve("a=b=c", &both, "x").is_err());
    }
}
