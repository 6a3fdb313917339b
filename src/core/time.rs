//! Wall-clock helpers without a date library: epoch milliseconds to ISO-8601 UTC.

#[allow(unused_imports)]
use crate::prelude::*;

/// Formats epoch milliseconds as ISO-8601 UTC with millisecond precision,
/// exactly as Segment and `Date.prototype.toISOString` write it:
/// `2026-11-28T20:01:42.396Z`.
pub fn iso8601(epoch_ms: u64) -> String {
    let mut out = String::with_capacity(24);
    write_iso8601(epoch_ms, &mut out);
    out
}

/// Appends the ISO-8601 form of `epoch_ms` (at most
/// [`MAX_DATE_MS`](crate::core::platform::MAX_DATE_MS)) to `out` (see [`iso8601`]):
/// the platform's in the shipped wasm ([`crate::core::platform`]).
pub fn write_iso8601(epoch_ms: u64, out: &mut String) {
    crate::core::platform::iso8601(epoch_ms, out);
}

/// [`write_iso8601`] in Rust; years past 9999 as `toISOString` writes them
/// (`+010000-01-01T00:00:00.000Z`).
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
pub(crate) fn rust_iso8601(epoch_ms: u64, out: &mut String) {
    let ms = epoch_ms % 1000;
    let secs = epoch_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    if y > 9999 {
        out.push('+');
        push_num(out, y as u64, 6);
    } else {
        push_num(out, y as u64, 4);
    }
    out.push('-');
    push_num(out, m as u64, 2);
    out.push('-');
    push_num(out, d as u64, 2);
    out.push('T');
    push_num(out, rem / 3600, 2);
    out.push(':');
    push_num(out, (rem / 60) % 60, 2);
    out.push(':');
    push_num(out, rem % 60, 2);
    out.push('.');
    push_num(out, ms, 3);
    out.push('Z');
}

#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
fn push_num(out: &mut String, value: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = value;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.len() - i;
    for _ in digits..width {
        out.push('0');
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
#[cfg(not(all(feature = "pkg", target_arch = "wasm32")))]
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // The fixture's messageId carries 1795896102396 for 2026-11-28T20:01:42.396Z.
        assert_eq!(iso8601(1_795_896_102_396), "2026-11-28T20:01:42.396Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn is_monotonic_and_fixed_width() {
        let mut last = String::new();
        let mut t = 0u64;
        while t < 5_000_000_000_000 {
            let s = iso8601(t);
            assert_eq!(s.len(), 24, "{s}");
            assert!(s > last, "{s} after {last}");
            last = s;
            t += 7_919_999_999;
        }
    }
}
