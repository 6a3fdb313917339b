//! A small JSON value with an order-preserving object, a strict parser and a writer.
//!
//! The core needs JSON for traits (stored, merged, operated on) and for the values
//! analytics.js writes to storage. serde_json would do, but it is large in a wasm
//! binary; this covers exactly what segflow needs and is fuzzed by the tests below.

#[allow(unused_imports)]
use crate::prelude::*;

#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
use crate::core::float;

/// A JSON value. Objects keep insertion order, as `JSON.stringify` does.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A finite number, kept as its JSON text.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, in insertion order, keys unique.
    Object(Vec<(String, Json)>),
}

/// A JSON number, kept as its text (as the page's `JSON.stringify` wrote it).
#[derive(Clone, Debug)]
pub struct Number(String);

impl Number {
    /// The number for a finite `f64`; `None` for NaN and infinities.
    pub fn from_f64(n: f64) -> Option<Number> {
        if !n.is_finite() {
            return None;
        }
        let mut s = String::new();
        write_number(n, &mut s);
        Some(Number(s))
    }

    /// The number for a whole `n` (its digits; no float formatting, no panic path).
    pub fn from_u64(n: u64) -> Number {
        let mut s = String::new();
        push_u64(n, &mut s);
        Number(s)
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The value as an `f64`: exact for integers below 2^53 and for decimals of up to
    /// 15 significant digits with small exponents (every value a page normally sends);
    /// otherwise within a few units in the last place.
    pub fn to_f64(&self) -> f64 {
        parse_f64(&self.0).unwrap_or(0.0)
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.0 == other.0 || self.to_f64() == other.to_f64()
    }
}

/// The powers of ten an `f64` holds exactly.
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a decimal number (JSON syntax, a leading `+` and surrounding spaces
/// allowed); `None` for other text and for values beyond `f64`'s range. The value
/// is the platform's ([`crate::core::platform`]: exact in the shipped wasm); the
/// Rust version, without the standard library's float parser (large in wasm), is
/// exact (correctly rounded) when the significant digits fit in 15 and the
/// exponent is within ±22 (Clinger's fast path), otherwise within a few ulps.
pub fn parse_f64(text: &str) -> Option<f64> {
    let t = text.trim();
    scan(t.as_bytes())?;
    let v = crate::core::platform::number_value(t);
    v.is_finite().then_some(v)
}

/// The syntax of [`parse_f64`]: sign, significant digits (at most 19 kept, as
/// a `u64`) and the power of ten they are scaled by.
fn scan(b: &[u8]) -> Option<(bool, u64, i64)> {
    let mut i = 0;
    let neg = b.first() == Some(&b'-');
    if neg || b.first() == Some(&b'+') {
        i += 1;
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0u32; // significant digits kept in `mantissa`
    let mut exp10: i64 = 0;
    let mut any = false;
    let mut seen_dot = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                any = true;
                if mantissa == 0 && c == b'0' {
                    if seen_dot {
                        exp10 -= 1;
                    }
                } else if digits < 19 {
                    mantissa = mantissa * 10 + (c - b'0') as u64;
                    digits += 1;
                    if seen_dot {
                        exp10 -= 1;
                    }
                } else if !seen_dot {
                    exp10 += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if i < b.len() {
        i += 1;
        let eneg = b.get(i) == Some(&b'-');
        if eneg || b.get(i) == Some(&b'+') {
            i += 1;
        }
        let mut e: i64 = 0;
        let start = i;
        while let Some(c @ b'0'..=b'9') = b.get(i) {
            e = (e * 10 + (c - b'0') as i64).min(100_000);
            i += 1;
        }
        if i == start || i != b.len() {
            return None;
        }
        exp10 += if eneg { -e } else { e };
    }
    Some((neg, mantissa, exp10))
}

/// `text` (of [`parse_f64`]'s syntax) as a number, in Rust: see [`parse_f64`]
/// for its precision ([`crate::core::platform`] has the shipped one).
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
pub(crate) fn rust_number_value(text: &str) -> f64 {
    let Some((neg, mantissa, exp10)) = scan(text.as_bytes()) else {
        return f64::NAN;
    };
    // Within ±22 and 15 digits, one exact multiplication or division: correctly
    // rounded (Clinger's fast path); beyond, steps of 1e22, then the rest.
    let v = if mantissa == 0 {
        0.0
    } else {
        scale(mantissa as f64, exp10.clamp(-1_000_000, 1_000_000) as i32)
    };
    if neg {
        -v
    } else {
        v
    }
}

/// Why a text is not JSON: the byte offset where parsing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the first offending character.
    pub offset: usize,
}

/// Deepest nesting accepted by [`parse`]; deeper input is an error, not a stack overflow.
pub const MAX_DEPTH: usize = 128;

impl Json {
    /// The value under `key` when `self` is an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` to `value` in an object, replacing an existing value in place.
    /// Does nothing when `self` is not an object.
    pub fn set(&mut self, key: &str, value: Json) {
        if let Json::Object(fields) = self {
            match fields.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key.to_owned(), value)),
            }
        }
    }

    /// Removes `key` from an object, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        match self {
            Json::Object(fields) => {
                let i = fields.iter().position(|(k, _)| k == key)?;
                Some(fields.remove(i).1)
            }
            _ => None,
        }
    }

    /// The string inside a `Json::String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object's fields.
    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// Serialises to compact JSON text (as `JSON.stringify` without indentation).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Appends the compact JSON text of `self` to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(n) => out.push_str(n.text()),
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Appends `s` as a JSON string literal (quotes included) to `out`.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => Some(""),
            _ => None,
        };
        if let Some(esc) = esc {
            // `get`, not `&s[..]`: the positions are always char boundaries (the
            // escaped bytes are ASCII), and slicing's panic path costs ~4 KB of wasm.
            out.push_str(s.get(start..i).unwrap_or(""));
            if esc.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            } else {
                out.push_str(esc);
            }
            start = i + 1;
        }
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

/// Appends a finite number as JSON, as JavaScript's `String(n)` writes it (the
/// platform's own in the shipped wasm, [`crate::core::platform`]); non-finite
/// numbers, which JSON cannot carry, are written as `null`. The Rust version
/// writes every value with up to 15 significant digits as JavaScript does
/// (integers below 2^53 always exactly); other values (results of attribute
/// arithmetic such as `0.1 + 0.2`) get up to 17 significant digits, which can
/// differ from JavaScript's shortest form in the last digit. No `core::fmt`
/// float machinery is involved: it is large in wasm.
pub fn write_number(n: f64, out: &mut String) {
    if !n.is_finite() {
        out.push_str("null");
        return;
    }
    crate::core::platform::number_text(n, out);
}

/// The text of a finite `n` in Rust (see [`write_number`] for its precision;
/// [`crate::core::platform`] has the shipped one).
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
pub(crate) fn rust_number_text(n: f64, out: &mut String) {
    if n == 0.0 {
        out.push('0');
        return;
    }
    if n < 0.0 {
        out.push('-');
    }
    let a = n.abs();
    if a == float::trunc(a) && a < 9.007_199_254_740_992e15 {
        push_u64(a as u64, out);
        return;
    }
    // Decimal exponent: a = d.ddd × 10^e.
    let mut e: i32 = 0;
    let mut scaled = a;
    while scaled >= 10.0 {
        scaled /= 10.0;
        e += 1;
    }
    while scaled < 1.0 {
        scaled *= 10.0;
        e -= 1;
    }
    let mut text = String::new();
    for p in 1..=17 {
        let digits = float::round(scale(a, p - 1 - e)) as u64;
        // Rounding may carry into one more digit (9.99 -> 10.0).
        let (digits, e) = if digits >= pow10_u64(p) {
            (digits / 10, e + 1)
        } else {
            (digits, e)
        };
        text.clear();
        push_decimal(digits, p as usize, e, &mut text);
        if p == 17 || parse_f64(&text) == Some(a) {
            break;
        }
    }
    out.push_str(&text);
}

/// `v × 10^exp`, in steps that never overflow on the way.
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
fn scale(v: f64, exp: i32) -> f64 {
    let mut v = v;
    let mut e = exp;
    // `get`, not `[step]`: no bounds check, whose panic message brings
    // `core::fmt` into the content module.
    let pow = |step: i32| POW10.get(step as usize).copied().unwrap_or(1e22);
    while e > 0 {
        let step = e.min(22);
        v *= pow(step);
        e -= step;
    }
    while e < 0 {
        let step = (-e).min(22);
        v /= pow(step);
        e += step;
    }
    v
}

#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
fn pow10_u64(p: i32) -> u64 {
    (0..p).fold(1u64, |v, _| v.saturating_mul(10))
}

/// `text` as a `u64`, exactly as `str::parse::<u64>` reads it (optional `+`,
/// ASCII digits, no overflow). One copy for every integer the shells and the
/// client read back from storage and the page: each `str::parse` type costs its
/// own 0.3 KB of wasm.
pub fn parse_u64(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// Appends `v` in decimal, with a `-` when negative (see [`push_u64`]).
pub fn push_i64(v: i64, out: &mut String) {
    if v < 0 {
        out.push('-');
    }
    push_u64(v.unsigned_abs(), out);
}

/// Appends the decimal digits of `v` (no `core::fmt`, which is large in wasm).
pub fn push_u64(v: u64, out: &mut String) {
    // The largest power of ten not above `v`, then each digit from the top: no
    // buffer to index (a bounds check's panic message brings `core::fmt` in).
    let mut p = 1;
    while v / p >= 10 {
        p *= 10;
    }
    while p > 0 {
        out.push((b'0' + (v / p % 10) as u8) as char);
        p /= 10;
    }
}

/// Writes `digits` (exactly `p` significant digits, trailing zeros trimmed here) as
/// `d.ddd × 10^e`, positional for 1e-6 <= x < 1e21 and with an exponent otherwise, as
/// JavaScript does.
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
fn push_decimal(mut digits: u64, mut p: usize, e: i32, out: &mut String) {
    while p > 1 && digits % 10 == 0 {
        digits /= 10;
        p -= 1;
    }
    let mut d = String::new();
    push_u64(digits, &mut d);
    // `d` may be shorter than `p` only if digits had leading zeros, which it cannot.
    let d = d.as_bytes();
    if (-6..21).contains(&e) {
        if e < 0 {
            out.push_str("0.");
            for _ in 0..(-e - 1) {
                out.push('0');
            }
            for &c in d {
                out.push(c as char);
            }
        } else {
            let int_len = e as usize + 1;
            for i in 0..int_len.max(d.len()) {
                if i == int_len {
                    out.push('.');
                }
                out.push(*d.get(i).unwrap_or(&b'0') as char);
            }
        }
    } else {
        // `split_first`, not `d[0]`: no bounds check (see `scale`).
        if let Some((&first, rest)) = d.split_first() {
            out.push(first as char);
            if !rest.is_empty() {
                out.push('.');
                for &c in rest {
                    out.push(c as char);
                }
            }
        }
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        push_u64(e.unsigned_abs() as u64, out);
    }
}

/// Parses JSON text strictly (RFC 8259), nesting at most [`MAX_DEPTH`] deep.
/// Duplicate object keys keep the last value, as `JSON.parse` does.
pub fn parse(text: &str) -> Result<Json, ParseError> {
    let mut p = Parser {
        t: text,
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err());
    }
    Ok(v)
}

struct Parser<'a> {
    /// The text, and `s` its bytes: slices of the text are taken with
    /// `str::get`, which only checks char boundaries (no `str::from_utf8`).
    t: &'a str,
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self) -> ParseError {
        ParseError { offset: self.i }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(self.err());
        }
        match self.s.get(self.i) {
            Some(b'n') if self.eat(b"null") => Ok(Json::Null),
            Some(b't') if self.eat(b"true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Json::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(Json::Array(items));
                    }
                    return Err(self.err());
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut obj = Json::Object(Vec::new());
                self.ws();
                if self.eat(b"}") {
                    return Ok(obj);
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err());
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err(self.err());
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    obj.set(&key, v);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(obj);
                    }
                    return Err(self.err());
                }
            }
            _ => Err(self.err()),
        }
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.i;
        self.eat(b"-");
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err()),
        }
        if self.eat(b".") {
            if !matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                return Err(self.err());
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if !matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                return Err(self.err());
            }
            self.digits();
        }
        // The slice is ASCII digits and signs, so on char boundaries.
        let text = self.t.get(start..self.i).ok_or_else(|| self.err())?;
        // JSON.parse turns 1e400 into Infinity, which cannot be sent back; reject it.
        match parse_f64(text) {
            Some(_) => Ok(Json::Number(Number(text.to_owned()))),
            None => Err(ParseError { offset: start }),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.s.get(self.i) {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err()),
            };
            v = v * 16 + d as u32;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        let mut run = self.i;
        loop {
            match self.s.get(self.i) {
                None => return Err(self.err()),
                Some(b'"') => {
                    out.push_str(self.utf8(run)?);
                    self.i += 1;
                    return Ok(out);
                }
                Some(0..=0x1f) => return Err(self.err()),
                Some(b'\\') => {
                    out.push_str(self.utf8(run)?);
                    self.i += 1;
                    let c = match self.s.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            self.i -= 1;
                            // A high surrogate pairs with a low one right after it;
                            // a lone surrogate reads as U+FFFD (see the tests).
                            let code = if (0xd800..0xdc00).contains(&hi)
                                && self.s.get(self.i + 1..self.i + 3) == Some(b"\\u")
                            {
                                let at = self.i;
                                self.i += 3;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    self.i -= 1;
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    self.i = at;
                                    0xfffd
                                }
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        _ => return Err(self.err()),
                    };
                    out.push(c);
                    self.i += 1;
                    run = self.i;
                }
                Some(_) => self.i += 1,
            }
        }
    }

    /// The text from `from` to here (both ends are at ASCII bytes: quotes,
    /// backslashes and what follows an escape).
    fn utf8(&self, from: usize) -> Result<&'_ str, ParseError> {
        self.t.get(from..self.i).ok_or(ParseError { offset: from })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_documents() {
        for text in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e\n\"q\""},"n":-2.5}"#,
            r#"[]"#,
            r#"{}"#,
            r#""\u00e9\ud83d\ude00""#,
            "0",
            "-0.001",
        ] {
            let v = parse(text).unwrap();
            assert_eq!(parse(&v.to_json()).unwrap(), v, "{text}");
        }
        assert_eq!(
            parse(r#""\ud83d\ude00""#).unwrap(),
            Json::String("😀".into())
        );
    }

    #[test]
    fn rejects_what_json_parse_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":}",
            "01",
            "1.",
            ".5",
            "nul",
            "\"\\x\"",
            "\"a",
            "{a:1}",
            "[1] x",
            "\"\u{1}\"",
            "1e",
            "\"\\ud80\"",
            "\"\\ud800\\u12\"",
            "NaN",
            "Infinity",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn parse_u64_reads_what_str_parse_reads(text in "[+-]?[0-9a ]{0,22}", n in any::<u64>()) {
            prop_assert_eq!(parse_u64(&text), text.parse::<u64>().ok());
            prop_assert_eq!(parse_u64(&n.to_string()), Some(n));
        }
    }

    proptest! {
        #[test]
        fn push_i64_writes_what_to_string_writes(n in any::<i64>()) {
            let mut s = String::from("x");
            push_i64(n, &mut s);
            prop_assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn parse_u64_edges() {
        for text in ["", "+", "-1", "18446744073709551616", "1 ", " 1", "0x1"] {
            assert_eq!(parse_u64(text), None, "{text:?}");
        }
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("+007"), Some(7));
    }

    /// JSON.parse accepts an escaped lone surrogate (`JSON.stringify` writes one for a
    /// string cut in the middle of an emoji); a Rust string cannot hold it, so it
    /// reads as U+FFFD, as `TextEncoder` and `String::from_utf16_lossy` have it.
    #[test]
    fn lone_surrogate_escapes_read_as_replacement_characters() {
        for (text, want) in [
            (r#""a\ud800b""#, "a\u{fffd}b"),
            (r#""\udc00""#, "\u{fffd}"),
            (r#""\ud800\u0041""#, "\u{fffd}A"),
            (r#""\ud800\ud83d\ude00""#, "\u{fffd}😀"),
            (r#""\ud83d\ude00\udfff""#, "😀\u{fffd}"),
            (r#""\ud800""#, "\u{fffd}"),
        ] {
            assert_eq!(parse(text), Ok(Json::String(want.into())), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_in_first_position() {
        let v = parse(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(v.to_json(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn writes_control_characters_escaped() {
        let s = Json::String("\u{0}\u{1f}\u{8}\u{c}\t".into()).to_json();
        assert_eq!(s, r#""\u0000\u001f\b\f\t""#);
    }

    #[test]
    fn numbers_keep_their_text_and_convert_exactly_on_the_fast_path() {
        let v = parse(r#"[0.30000000000000004,1E+2,-0,12345678901234567890]"#).unwrap();
        assert_eq!(
            v.to_json(),
            "[0.30000000000000004,1E+2,-0,12345678901234567890]"
        );
        for (text, want) in [
            ("0.1", 0.1),
            ("-2.5e-3", -2.5e-3),
            ("123456789012345", 123456789012345.0),
            ("1e22", 1e22),
            ("0.000001", 0.000001),
            ("9007199254740991", 9007199254740991.0),
        ] {
            assert_eq!(parse_f64(text), Some(want), "{text}");
        }
        assert_eq!(parse_f64("1e400"), None);
        assert!(parse("1e400").is_err());
        assert_eq!(parse_f64("abc"), None);
        assert_eq!(parse_f64("."), None);
        assert_eq!(parse_f64("1e"), None);
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        for (n, js) in [
            (0.1, "0.1"),
            (1.75, "1.75"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (9.99, "9.99"),
            (0.3, "0.3"),
            (12345678.125, "12345678.125"),
            (9007199254740993.0, "9007199254740992"),
            (-0.0, "0"),
        ] {
            let mut s = String::new();
            write_number(n, &mut s);
            assert_eq!(s, js, "{n}");
        }
        let mut s = String::new();
        write_number(0.1 + 0.2, &mut s);
        let back: f64 = s.parse().unwrap();
        assert!((back - 0.30000000000000004).abs() < 1e-16, "{s}");
        assert_eq!(Number::from_f64(f64::NAN), None);
    }

    fn arb_json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i32>().prop_map(|n| Json::Number(Number::from_f64(n as f64).unwrap())),
            (-1e12f64..1e12).prop_map(|n| Json::Number(Number::from_f64(n).unwrap())),
            ".*".prop_map(Json::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                prop::collection::vec(("[a-z]{1,4}", inner), 0..6).prop_map(|kv| {
                    let mut o = Json::Object(Vec::new());
                    for (k, v) in kv {
                        o.set(&k, v);
                    }
                    o
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn writer_output_parses_back_and_agrees_with_serde_json(v in arb_json()) {
            let text = v.to_json();
            prop_assert_eq!(parse(&text).unwrap(), v);
            let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
            let ours: serde_json::Value = serde_json::from_str(&parse(&text).unwrap().to_json()).unwrap();
            prop_assert_eq!(reference, ours);
        }

        #[test]
        fn parse_f64_is_exact_on_the_fast_path_and_close_elsewhere(m in 0u64..999_999_999_999_999, e in -22i32..22, big in any::<f64>()) {
            let text = format!("{m}e{e}");
            prop_assert_eq!(parse_f64(&text), Some(text.parse::<f64>().unwrap()));
            if big.is_finite() {
                let text = format!("{big:e}");
                let got = parse_f64(&text).unwrap();
                let want: f64 = text.parse().unwrap();
                prop_assert!(((got - want) / want.abs().max(f64::MIN_POSITIVE)).abs() < 1e-14, "{} -> {} vs {}", text, got, want);
            }
        }

        #[test]
        fn written_numbers_parse_back_to_the_same_value(n in any::<f64>()) {
            prop_assume!(n.is_finite() && (n == 0.0 || n.abs() > 1e-300));
            let mut s = String::new();
            write_number(n, &mut s);
            let back: f64 = s.parse().unwrap();
            prop_assert!(back == n || ((back - n) / n).abs() < 1e-14, "{} wrote {}", n, s);
            // Numbers of up to 15 significant digits come out exactly as Rust's (and
            // JavaScript's) shortest form.
            let short = (n * 1000.0).round() / 1000.0;
            let digits = format!("{short}").bytes().filter(u8::is_ascii_digit).collect::<Vec<_>>();
            let significant = digits.iter().skip_while(|d| **d == b'0').count();
            if short.abs() > 1e-6 && short.abs() < 1e15 && significant <= 15 {
                let mut t = String::new();
                write_number(short, &mut t);
                prop_assert_eq!(t, format!("{short}"));
            }
        }

        #[test]
        fn parser_never_panics_and_agrees_with_serde_json_on_validity(s in ".{0,40}") {
            let ours = parse(&s).is_ok();
            let reference = serde_json::from_str::<serde_json::Value>(&s).is_ok();
            prop_assert_eq!(ours, reference, "input {:?}", s);
        }
    }
}
