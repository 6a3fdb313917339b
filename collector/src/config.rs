//! Server configuration: listen address, database, write keys, static mounts and
//! fault injection.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::forward::ForwardConfig;

/// The environment label given to a write key configured without one.
pub const DEFAULT_ENVIRONMENT: &str = "default";

/// Everything [`crate::Server::start`] needs to run a collector.
///
/// Build one with [`Config::new`] and the `with_*` methods:
///
/// ```no_run
/// # async fn demo() -> Result<(), segflow_collector::StartError> {
/// use segflow_collector::{Config, Server};
/// let config = Config::new("/tmp/events.db").with_write_key("WK", "staging");
/// let server = Server::start(config).await?;
/// println!("{}", server.url());
/// server.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Host name or IP address to bind (default `127.0.0.1`).
    pub host: String,
    /// TCP port to bind; `0` picks a free port (default `0` here, `8787` on the CLI).
    pub port: u16,
    /// Path of the SQLite database file; created when missing.
    pub db_path: PathBuf,
    /// Accepted write keys. Empty means *open mode*: every request is accepted and
    /// stored under the key it presented (or `""` when it presented none).
    pub write_keys: Vec<WriteKey>,
    /// Folders served as static files under URL prefixes.
    pub static_mounts: Vec<StaticMount>,
    /// Fault injection for the ingestion endpoints (all off by default).
    pub faults: FaultConfig,
    /// First-party proxy: forward stored messages upstream (off by default).
    pub forward: Option<ForwardConfig>,
    /// Take `context.ip` from `X-Forwarded-For` as `--trust-proxy` describes
    /// (off by default: the peer address).
    pub trust_proxy: bool,
    /// Identity verification, webhook secrets, the admin token (all off by
    /// default).
    pub security: crate::access::SecurityConfig,
    /// Connection, header and timing limits.
    pub limits: crate::limits::Limits,
}

impl Config {
    /// A configuration that listens on `127.0.0.1` on a free port, stores into
    /// `db_path`, runs in open mode (no write keys) and injects no faults.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        Config {
            host: "127.0.0.1".to_string(),
            port: 0,
            db_path: db_path.into(),
            write_keys: Vec::new(),
            static_mounts: Vec::new(),
            faults: FaultConfig::default(),
            forward: None,
            trust_proxy: false,
            security: Default::default(),
            limits: Default::default(),
        }
    }

    /// Forwards stored messages to `upstream` (e.g. `https://api.segment.io` or
    /// another collector's URL) with the default [`ForwardConfig`].
    pub fn with_forward(self, upstream: impl Into<String>) -> Self {
        self.with_forward_config(ForwardConfig::new(upstream))
    }

    /// Forwards stored messages as `forward` says (backoff, timeouts, batch sizes).
    pub fn with_forward_config(mut self, forward: ForwardConfig) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Takes the client IP from `X-Forwarded-For` (see the README's rule) when
    /// `trust` is true.
    pub fn with_trust_proxy(mut self, trust: bool) -> Self {
        self.trust_proxy = trust;
        self
    }

    /// Sets the host to bind.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Sets the port to bind (`0` = any free port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Adds an accepted write key labelled with `environment`.
    pub fn with_write_key(
        mut self,
        key: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        self.write_keys.push(WriteKey {
            key: key.into(),
            environment: environment.into(),
        });
        self
    }

    /// Serves the files of `dir` under the URL `prefix` (e.g. `/` or `/pkg`).
    pub fn with_static(mut self, prefix: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        self.static_mounts.push(StaticMount {
            prefix: prefix.into(),
            dir: dir.into(),
        });
        self
    }

    /// Replaces the fault injection settings.
    pub fn with_faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Checks the values that cannot be checked by their types alone.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.faults.validate()?;
        if let Some(forward) = &self.forward {
            forward.validate()?;
        }
        let keys: Vec<&str> = self.write_keys.iter().map(|k| k.key.as_str()).collect();
        self.security.validate(&keys)?;
        self.limits.validate()?;
        for key in &self.write_keys {
            if key.key.is_empty() {
                return Err(ConfigError("a write key must not be empty".into()));
            }
            if key.environment.is_empty() {
                return Err(ConfigError(format!(
                    "the environment label of write key {:?} must not be empty",
                    key.key
                )));
            }
        }
        for mount in &self.static_mounts {
            if !mount.prefix.starts_with('/') {
                return Err(ConfigError(format!(
                    "static prefix {:?} must start with '/'",
                    mount.prefix
                )));
            }
            if !mount.dir.is_dir() {
                return Err(ConfigError(format!(
                    "static folder {} does not exist or is not a folder",
                    mount.dir.display()
                )));
            }
        }
        Ok(())
    }
}

/// An accepted write key and the environment label stored with its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteKey {
    /// The key itself, as clients send it.
    pub key: String,
    /// Environment label (e.g. `staging`, `production`; `default` when unlabelled).
    pub environment: String,
}

impl FromStr for WriteKey {
    type Err = ConfigError;

    /// Parses `KEY` or `KEY=ENVIRONMENT`. The label is the text after the *last* `=`;
    /// a trailing `=` (as in base64 padding, `abc==`) means "no label", so the whole
    /// text is the key.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, environment) = match text.rsplit_once('=') {
            Some((key, label)) if !label.is_empty() && !key.is_empty() => (key, label),
            _ => (text, DEFAULT_ENVIRONMENT),
        };
        if key.is_empty() {
            return Err(ConfigError("a write key must not be empty".into()));
        }
        Ok(WriteKey {
            key: key.to_string(),
            environment: environment.to_string(),
        })
    }
}

/// A folder served as static files under a URL prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticMount {
    /// URL prefix, starting with `/` (`/` serves at the root).
    pub prefix: String,
    /// Folder whose files are served.
    pub dir: PathBuf,
}

impl FromStr for StaticMount {
    type Err = ConfigError;

    /// Parses `PREFIX=DIR` (e.g. `/pkg=pkg`) or a bare `DIR`, which mounts at `/`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (prefix, dir) = match text.split_once('=') {
            Some((prefix, dir)) if prefix.starts_with('/') => (prefix, dir),
            Some((prefix, _)) => {
                return Err(ConfigError(format!(
                    "static prefix {prefix:?} must start with '/' (use PREFIX=DIR)"
                )))
            }
            None => ("/", text),
        };
        if dir.is_empty() {
            return Err(ConfigError("static folder must not be empty".into()));
        }
        let prefix = if prefix.len() > 1 {
            prefix.trim_end_matches('/')
        } else {
            prefix
        };
        Ok(StaticMount {
            prefix: if prefix.is_empty() { "/" } else { prefix }.to_string(),
            dir: PathBuf::from(dir),
        })
    }
}

/// Fault injection for the ingestion endpoints (`/v1/*`). Reads (`/api/*`), the
/// debugger and static files are never faulted.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Fraction (0..=1) of ingestion requests answered [`fail_status`](Self::fail_status)
    /// without storing.
    pub fail_rate: f64,
    /// The status of the `fail_rate` failures, within `500..=599` (default `500`).
    pub fail_status: u16,
    /// When set, the `fail_rate` failures carry `Retry-After: <seconds>`.
    pub fail_retry_after: Option<u64>,
    /// Every Nth ingestion request is answered `429` with `Retry-After: 1`
    /// (`0` = never).
    pub rate_limit_every: u64,
    /// Delay in milliseconds before each ingestion request is handled.
    pub latency_ms: u64,
    /// Fraction (0..=1) of ingestion requests whose connection is closed without an
    /// answer (nothing stored).
    pub drop_rate: f64,
    /// Seed of the random draws for `fail_rate` and `drop_rate`.
    pub seed: u64,
    /// Ingestion request numbers (1-based, in the order the fault counter sees them)
    /// that are never answered: held open, storing nothing, until the client goes
    /// away or the server stops. Decided before every other fault.
    pub hang_nth: Vec<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            fail_rate: 0.0,
            fail_status: 500,
            fail_retry_after: None,
            rate_limit_every: 0,
            latency_ms: 0,
            drop_rate: 0.0,
            seed: 0,
            hang_nth: Vec::new(),
        }
    }
}

impl FaultConfig {
    /// Checks that the rates are within `0..=1`, the failure status within
    /// `500..=599` and the hung request numbers at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, rate) in [("fail-rate", self.fail_rate), ("drop-rate", self.drop_rate)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError(format!(
                    "--{name} must be between 0 and 1, got {rate}"
                )));
            }
        }
        if !(500..=599).contains(&self.fail_status) {
            return Err(ConfigError(format!(
                "--fail-status must be between 500 and 599, got {}",
                self.fail_status
            )));
        }
        if self.hang_nth.contains(&0) {
            return Err(ConfigError(
                "--hang-nth counts requests from 1, got 0".into(),
            ));
        }
        Ok(())
    }
}

/// A configuration value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_key_labels() {
        let k: WriteKey = "WK".parse().unwrap();
        assert_eq!((k.key.as_str(), k.environment.as_str()), ("WK", "default"));
        let k: WriteKey = "WK=staging".parse().unwrap();
        assert_eq!((k.key.as_str(), k.environment.as_str()), ("WK", "staging"));
        let k: WriteKey = "abc==".parse().unwrap();
        assert_eq!(
            (k.key.as_str(), k.environment.as_str()),
            ("abc==", "default")
        );
        let k: WriteKey = "abc==production".parse().unwrap();
        assert_eq!(
            (k.key.as_str(), k.environment.as_str()),
            ("abc=", "production")
        );
        assert!("".parse::<WriteKey>().is_err());
    }

    #[test]
    fn static_mounts() {
        let m: StaticMount = "/pkg=pkg".parse().unwrap();
        assert_eq!((m.prefix.as_str(), m.dir.to_str()), ("/pkg", Some("pkg")));
        let m: StaticMount = "/=www".parse().unwrap();
        assert_eq!((m.prefix.as_str(), m.dir.to_str()), ("/", Some("www")));
        let m: StaticMount = "www".parse().unwrap();
        assert_eq!((m.prefix.as_str(), m.dir.to_str()), ("/", Some("www")));
        let m: StaticMount = "/assets/=a".parse().unwrap();
        assert_eq!(m.prefix, "/assets");
        assert!("pkg=pkg".parse::<StaticMount>().is_err());
        assert!("/x=".parse::<StaticMount>().is_err());
    }

    #[test]
    fn rates_are_checked() {
        let mut f = FaultConfig::default();
        assert!(f.validate().is_ok());
        f.fail_rate = 1.5;
        assert!(f.validate().is_err());
        f.fail_rate = 1.0;
        f.drop_rate = -0.1;
        assert!(f.validate().is_err());
        f.drop_rate = f64::NAN;
        assert!(f.validate().is_err());
    }

    #[test]
    fn fail_status_and_hang_nth_are_checked() {
        let ok = |f: FaultConfig| f.validate().is_ok();
        let with_status = |fail_status| FaultConfig {
            fail_status,
            ..FaultConfig::default()
        };
        assert!(ok(with_status(500)));
        assert!(ok(with_status(503)));
        assert!(ok(with_status(599)));
        assert!(!ok(with_status(499)));
        assert!(!ok(with_status(600)));
        assert!(!ok(with_status(0)));
        let with_hangs = |hang_nth| FaultConfig {
            hang_nth,
            ..FaultConfig::default()
        };
        assert!(ok(with_hangs(vec![1, 3, 40])));
        let err = with_hangs(vec![3, 0]).validate().unwrap_err();
        assert!(err.0.contains("hang-nth"), "{err}");
    }
}
