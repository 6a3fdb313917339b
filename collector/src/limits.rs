//! Connection limits, so that a hostile client cannot stall the collector: how
//! many connections are served at once, how large a request head may be, and how
//! long a client may take to send a head or a body.

use std::time::Duration;

use crate::config::{Config, ConfigError};

/// Connection and timing limits. Part of [`Config`]; the defaults suit
/// production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most connections served at once (default 1024). A connection beyond it
    /// waits up to [`queue_timeout`](Self::queue_timeout) for a free slot, then is
    /// closed unanswered; at most as many wait as may be served.
    pub max_connections: usize,
    /// How long an excess connection may wait for a slot (default 2 s).
    pub queue_timeout: Duration,
    /// Largest request head (request line and headers), in bytes (default
    /// 32 KiB); a larger one is answered `431` and the connection closed.
    pub max_header_bytes: usize,
    /// Time allowed for a whole request head, counted from when the collector
    /// starts waiting for it: from the connection's opening, and after each
    /// answer on a kept-alive connection. So it is both the slow-header
    /// (slow-loris) timeout and the idle keep-alive timeout: the connection is
    /// closed when it runs out (default 10 s).
    pub header_timeout: Duration,
    /// Time allowed to receive a whole request body (default 30 s); then `408
    /// request_timeout`.
    pub body_timeout: Duration,
}

/// Smallest accepted [`Limits::max_header_bytes`] (hyper's minimum read buffer).
pub const MIN_HEADER_BYTES: usize = 8192;
/// Largest accepted [`Limits::max_header_bytes`] (1 MiB).
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// Largest accepted [`Limits::max_connections`].
pub const MAX_CONNECTIONS: usize = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            queue_timeout: Duration::from_secs(2),
            max_header_bytes: 32 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Checks that the limits are usable: 1 to [`MAX_CONNECTIONS`] connections, a
    /// head limit within [`MIN_HEADER_BYTES`]..=[`MAX_HEADER_BYTES`], non-zero
    /// timeouts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(ConfigError(format!(
                "--max-connections must be between 1 and {MAX_CONNECTIONS}, got {}",
                self.max_connections
            )));
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&self.max_header_bytes) {
            return Err(ConfigError(format!(
                "--max-header-bytes must be between {MIN_HEADER_BYTES} and {MAX_HEADER_BYTES}, got {}",
                self.max_header_bytes
            )));
        }
        for (flag, value) in [
            ("header-timeout", self.header_timeout),
            ("body-timeout", self.body_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError(format!("--{flag} must not be zero")));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Replaces the connection limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the most connections served at once.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// Sets the time allowed for a request head (also the idle keep-alive time).
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_timeout = timeout;
        self
    }

    /// Sets the time allowed for a request body.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.limits.body_timeout = timeout;
        self
    }

    /// Sets the largest request head in bytes (at least 8 KiB).
    pub fn with_max_header_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_header_bytes = bytes;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(Limits::default().validate().is_ok());
        let with = |f: fn(&mut Limits)| {
            let mut l = Limits::default();
            f(&mut l);
            l.validate()
        };
        assert!(with(|l| l.max_connections = 0).is_err());
        assert!(with(|l| l.max_connections = usize::MAX).is_err());
        assert!(with(|l| l.max_connections = MAX_CONNECTIONS).is_ok());
        assert!(with(|l| l.max_header_bytes = MIN_HEADER_BYTES - 1).is_err());
        assert!(with(|l| l.max_header_bytes = usize::MAX).is_err());
        assert!(with(|l| l.max_header_bytes = MAX_HEADER_BYTES).is_ok());
        assert!(with(|l| l.header_timeout = Duration::ZERO).is_err());
    }
}
