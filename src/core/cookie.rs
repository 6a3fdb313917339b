//! analytics.js's cookies, as text: reading `document.cookie`, writing a
//! `Set-Cookie`-style assignment, and the domains to try for the highest one a
//! page may set. The shell only reads and writes `document.cookie`.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::json::push_u64;
use crate::core::message::decode_component;

/// One year, the max-age analytics.js gives its cookies.
pub const MAX_AGE: u32 = 31_536_000;

/// The value of cookie `name` in `document.cookie` text (`%XX` escapes decoded).
pub fn read(cookies: &str, name: &str) -> Option<String> {
    cookies.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| decode_component(&v.replace('+', "%2B")))
    })
}

/// Escapes what a cookie value may not hold (analytics.js's cookie library does the same).
pub fn encode_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()@:/#$&[]^`{|}".contains(&b) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// The text to assign to `document.cookie`: `name=value; path=/; SameSite=Lax;
/// max-age=N[; domain=D]` (max-age 0 removes it).
pub fn assignment(name: &str, value: &str, max_age: u32, domain: Option<&str>) -> String {
    let mut c = String::with_capacity(96);
    c.push_str(name);
    c.push('=');
    c.push_str(&encode_value(value));
    c.push_str("; path=/; SameSite=Lax; max-age=");
    push_u64(u64::from(max_age), &mut c);
    if let Some(d) = domain {
        c.push_str("; domain=");
        c.push_str(d);
    }
    c
}

/// The domains to try, top first, for the highest one a cookie can be set on
/// (`example.com`, then `eu.example.com`, then `app.eu.example.com` for
/// `app.eu.example.com`), as analytics.js does: the first one the browser
/// accepts is it. None for IP addresses and single-label hosts (`localhost`).
pub fn domain_candidates(host: &str) -> Vec<String> {
    let is_ip = host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !host.contains('.') || is_ip {
        return Vec::new();
    }
    // Each suffix that starts after a dot, shortest (two labels) first. (`get`,
    // not indexing: a `str` index pulls in `core::fmt`'s panic message, 3.7 KB
    // gzipped measured on the core module.)
    let mut out: Vec<String> = host
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'.')
        .filter_map(|(i, _)| host.get(i + 1..).map(str::to_string))
        .collect();
    out.pop(); // the last label alone (`com`)
    out.reverse();
    out.push(host.to_string());
    out
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn reads_values_among_others_decoding_escapes() {
        let jar = "a=1; ajs_user_id=user%2042; ajs_anonymous_id=%22x%22; b=c+d";
        assert_eq!(read(jar, "ajs_user_id").as_deref(), Some("user 42"));
        assert_eq!(read(jar, "ajs_anonymous_id").as_deref(), Some("\"x\""));
        assert_eq!(read(jar, "b").as_deref(), Some("c+d"), "+ is not a space");
        assert_eq!(read(jar, "ajs"), None);
        assert_eq!(read("", "a"), None);
        assert_eq!(read("broken; a", "a"), None);
    }

    #[test]
    fn writes_what_reads_back() {
        let v = "user 42;\"é\"=";
        let c = assignment("ajs_user_id", v, MAX_AGE, Some("example.com"));
        assert_eq!(
            c,
            "ajs_user_id=user%2042%3B%22%C3%A9%22%3D; path=/; SameSite=Lax; max-age=31536000; domain=example.com"
        );
        let pair = c.split(';').next().unwrap();
        assert_eq!(read(pair, "ajs_user_id").as_deref(), Some(v));
        assert_eq!(
            assignment("x", "", 0, None),
            "x=; path=/; SameSite=Lax; max-age=0"
        );
    }

    #[test]
    fn domain_candidates_top_first_none_for_ips_and_single_labels() {
        assert_eq!(
            domain_candidates("app.eu.example.com"),
            ["example.com", "eu.example.com", "app.eu.example.com"]
        );
        assert_eq!(domain_candidates("example.com"), ["example.com"]);
        assert!(domain_candidates("localhost").is_empty());
        assert!(domain_candidates("127.0.0.1").is_empty());
        assert!(domain_candidates("[::1]").is_empty());
        assert!(domain_candidates("").is_empty());
    }
}
