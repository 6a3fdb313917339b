//! Retry policy: which answers count as delivered, retried or rejected, and how
//! long to wait before the next attempt.

#[allow(unused_imports)]
use crate::prelude::*;

/// What the engine does with a batch once the server answered with a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// Delivered: remove the items (any status below 400).
    Success,
    /// Transient failure: keep the items and try again after a backoff.
    Retry,
    /// Permanent failure: drop the items (the server will never accept them).
    Drop,
}

/// First backoff delay, after one failure.
pub const BACKOFF_BASE_MS: u64 = 500;
/// Ceiling of the exponential backoff, before jitter.
pub const BACKOFF_CAP_MS: u64 = 60_000;
/// Relative jitter applied to every backoff delay (±10%).
pub const BACKOFF_JITTER: f64 = 0.1;
/// Ceiling applied to a server's `Retry-After` (on 429 and 503).
pub const RETRY_AFTER_CAP_MS: u64 = 300_000;

/// Classifies an HTTP status much as analytics-next does: 1–399 is success;
/// 408, 410, 429 and 460 are retried, other 4xx dropped; 5xx retried except 501,
/// 505 and 511, which are dropped. Unlike analytics-next, 404 and 405 are
/// retried: they say the route is not there (a wrong `apiHost` path, a proxy
/// being deployed), not that the events are bad, so the events wait for the fix
/// instead of being lost (as the collector's forwarder does upstream). Anything at or above 600 is treated as a
/// transient server failure, and so is 0 (no status at all: an opaque or
/// aborted answer never proves delivery). A network error is always
/// [`RetryClass::Retry`].
pub fn retry_class(status: u16) -> RetryClass {
    match status {
        0 => RetryClass::Retry,
        1..=399 => RetryClass::Success,
        404 | 405 | 408 | 410 | 429 | 460 => RetryClass::Retry,
        400..=499 | 501 | 505 | 511 => RetryClass::Drop,
        _ => RetryClass::Retry,
    }
}

/// Whether a refusal with `status` may be about one message of the body (400 Bad
/// Request, 413 Payload Too Large, 422 Unprocessable, and 401, which the
/// collector's identity verification answers when one message lacks its user's
/// signature): the engine then splits the batch to find it, within a bounded
/// number of requests (so a wrong write key, refused whole, costs a few more).
/// Other refusals (403, 451, ...) are about the request itself and would refuse
/// every part alike.
pub fn splits(status: u16) -> bool {
    matches!(status, 400 | 401 | 413 | 422)
}

/// Backoff before the next attempt after `failures` consecutive failures:
/// `500 ms * 2^(failures-1)`, capped at 60 s, then scaled by ±10% jitter.
///
/// `jitter_unit` is a uniform random number in `[0, 1]`: 0 gives -10%, 0.5 the
/// exact delay, 1 gives +10%. Out-of-range values are clamped and NaN counts as
/// 0.5, so the result always lies in `[0.9 * d, 1.1 * d]` for the capped delay
/// `d`. `failures == 0` is treated as 1.
pub fn backoff_ms(failures: u32, jitter_unit: f64) -> u64 {
    let exp = failures.max(1).saturating_sub(1).min(20);
    let base = (BACKOFF_BASE_MS << exp).min(BACKOFF_CAP_MS);
    let unit = if jitter_unit.is_nan() {
        0.5
    } else {
        jitter_unit.clamp(0.0, 1.0)
    };
    let factor = 1.0 + BACKOFF_JITTER * (2.0 * unit - 1.0);
    // Positive and finite: adding 0.5 then truncating rounds to nearest
    // without pulling in a libm `round`.
    (base as f64 * factor + 0.5) as u64
}

/// Whether a `Retry-After` header on an answer with this status sets the wait
/// before the next attempt: on 429 (rate limited) and 503 (unavailable), as
/// RFC 9110 defines it.
pub fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// The delay an answer's `Retry-After` imposes, capped at 5 minutes.
pub fn retry_after_ms(retry_after_ms: u64) -> u64 {
    retry_after_ms.min(RETRY_AFTER_CAP_MS)
}
