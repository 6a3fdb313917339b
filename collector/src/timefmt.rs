//! ISO-8601 parsing and formatting with millisecond precision, and Segment's clock
//! skew correction.

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, Timelike, Utc};

/// Drops everything below the millisecond.
fn truncate_ms(dt: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = dt.nanosecond() / 1_000_000 * 1_000_000;
    dt.with_nanosecond(nanos).unwrap_or(dt)
}

/// Keeps to the years that format as four digits.
fn in_range(dt: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (0..=9999).contains(&dt.year()).then_some(dt)
}

/// Parses an ISO-8601 / RFC 3339 date-time (`2026-11-28T20:01:42.396Z`, any offset,
/// any number of fraction digits; a missing offset means UTC). Returns `None` for
/// anything else.
pub(crate) fn parse_iso(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let parsed = match DateTime::parse_from_rfc3339(text) {
        Ok(dt) => dt.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    in_range(truncate_ms(parsed))
}

/// Formats as `2026-11-28T20:01:42.396Z`.
pub(crate) fn format_iso(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time, to the millisecond.
pub(crate) fn now() -> DateTime<Utc> {
    truncate_ms(Utc::now())
}

/// Segment's skew correction: `receivedAt - (sentAt - originalTimestamp)`.
/// `None` when the result leaves the representable range.
pub(crate) fn skew_corrected(
    received_at: DateTime<Utc>,
    sent_at: DateTime<Utc>,
    original: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let skew = sent_at.signed_duration_since(original);
    received_at.checked_sub_signed(skew).and_then(in_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let dt = parse_iso("2026-11-28T20:01:42.396Z").unwrap();
        assert_eq!(format_iso(dt), "2026-11-28T20:01:42.396Z");
        let dt = parse_iso("2026-11-28T22:01:42.3969999+02:00").unwrap();
        assert_eq!(format_iso(dt), "2026-11-28T20:01:42.396Z");
        let dt = parse_iso("2026-11-28T20:01:42").unwrap();
        assert_eq!(format_iso(dt), "2026-11-28T20:01:42.000Z");
        assert!(parse_iso("yesterday").is_none());
        assert!(parse_iso("2026-13-01T00:00:00Z").is_none());
        assert!(parse_iso("").is_none());
    }

    #[test]
    fn skew_math() {
        let received = parse_iso("2026-11-28T20:00:10.000Z").unwrap();
        let sent = parse_iso("2026-11-28T19:00:05.000Z").unwrap();
        let original = parse_iso("2026-11-28T19:00:01.500Z").unwrap();
        let ts = skew_corrected(received, sent, original).unwrap();
        assert_eq!(format_iso(ts), "2026-11-28T20:00:06.500Z");
        let far = parse_iso("0000-01-01T00:00:00Z").unwrap();
        let late = parse_iso("9999-12-31T23:59:59.999Z").unwrap();
        assert!(skew_corrected(received, late, far).is_none());
    }
}
