//! `segflow-collector` command line: runs the collector until SIGINT or SIGTERM.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use segflow_collector::{
    startup_line, Config, FaultConfig, ForwardConfig, KeyedValue, Limits, SecurityConfig, Server,
    StaticMount, WriteKey,
};

/// A local Segment-compatible HTTP tracking API server that stores events in SQLite.
#[derive(Debug, Parser)]
#[command(name = "segflow-collector", version, about)]
struct Cli {
    /// Port to listen on (0 = any free port; the startup line tells which).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Host or IP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Accepted write key, optionally labelled with an environment: KEY or
    /// KEY=ENV (e.g. KEY=staging). Repeatable. Without any, every key is accepted.
    #[arg(long = "write-key", value_name = "KEY[=ENV]")]
    write_keys: Vec<WriteKey>,
    /// SQLite database file (created when missing).
    #[arg(long, value_name = "PATH", default_value = "./segflow-collector.db")]
    db: PathBuf,
    /// Serve a folder's files under a URL prefix: PREFIX=DIR (e.g. /=www,
    /// /pkg=pkg); a bare DIR mounts at /. Repeatable.
    #[arg(long = "static", value_name = "PREFIX=DIR")]
    statics: Vec<StaticMount>,
    /// Serve a folder's files at / (same as --static /=DIR).
    #[arg(long = "static-dir", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Fraction (0..1) of ingestion requests answered --fail-status without storing.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    fail_rate: f64,
    /// Status of the --fail-rate failures (500..599).
    #[arg(long, value_name = "CODE", default_value_t = 500)]
    fail_status: u16,
    /// Send Retry-After: SECS with the --fail-rate failures.
    #[arg(long, value_name = "SECS")]
    fail_retry_after: Option<u64>,
    /// Answer every Nth ingestion request 429 with Retry-After: 1 (0 = never).
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate_limit_every: u64,
    /// Delay every ingestion request by this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Fraction (0..1) of ingestion requests whose connection is closed unanswered.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    drop_rate: f64,
    /// Seed of the fault injection draws (same seed, same faults).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Never answer the Nth ingestion request (1-based): hold it open, store
    /// nothing. Repeatable or comma-separated (--hang-nth 3,40).
    #[arg(long = "hang-nth", value_name = "N", value_delimiter = ',')]
    hang_nth: Vec<u64>,
    /// First-party proxy: forward stored messages in batches to this upstream
    /// (Segment's API base, e.g. https://api.segment.io, or another collector).
    #[arg(long, value_name = "URL")]
    forward: Option<String>,
    /// Forwarding retry backoff: first delay and cap in milliseconds (BASE or
    /// BASE,CAP).
    #[arg(long, value_name = "BASE[,CAP]", value_delimiter = ',', num_args = 1..=2, default_values_t = [500, 60_000])]
    forward_backoff_ms: Vec<u64>,
    /// Largest Retry-After honoured when forwarding, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    forward_retry_after_cap: u64,
    /// Time allowed for one forwarded request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    forward_timeout_ms: u64,
    /// Take the client IP (context.ip) from X-Forwarded-For when the peer is a
    /// trusted (loopback or private) address; see the README for the rule.
    #[arg(long)]
    trust_proxy: bool,
    /// Identity verification for a write key: WRITE_KEY=SECRET (the write key must
    /// also be given with --write-key; the split is at the '=' whose left part is
    /// a configured key). Every message with a userId must carry segflowSignature
    /// = hex HMAC-SHA256(SECRET, userId). Repeatable.
    #[arg(long = "identity-secret", value_name = "WRITE_KEY=SECRET")]
    identity_secrets: Vec<String>,
    /// Shared secret of POST /webhook/WRITE_KEY: X-Signature must be the hex
    /// HMAC-SHA1 of the body. WRITE_KEY=SECRET, split like --identity-secret.
    #[arg(long = "webhook-secret", value_name = "WRITE_KEY=SECRET")]
    webhook_secrets: Vec<String>,
    /// Webhook track events whose properties carry PROP are attached to that
    /// company too: WRITE_KEY=PROP (e.g. WK=company_id).
    #[arg(long = "company-event-property", value_name = "WRITE_KEY=PROP")]
    company_event_properties: Vec<String>,
    /// Admin token of the read side (/api/*, /debugger): Authorization: Bearer T
    /// or ?token=T. Generated and printed to stderr when binding a non-loopback
    /// address without one.
    #[arg(long = "admin-token", value_name = "T")]
    admin_token: Option<String>,
    /// DEVELOPMENT ONLY: GET /v1/state answers for write keys without an identity
    /// secret, to anyone.
    #[arg(long = "dev-state")]
    dev_state: bool,
    /// An origin (scheme://host[:port]) whose pages may read the read side
    /// cross-origin, without credentials (the admin token, or a loopback Host,
    /// is still required). Repeatable.
    #[arg(long = "read-origin", value_name = "ORIGIN")]
    read_origins: Vec<String>,
    /// Most connections served at once; more wait up to 2 s, then are closed.
    #[arg(long = "max-connections", value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Largest request head (request line + headers) in bytes; larger: 431.
    #[arg(long = "max-header-bytes", value_name = "BYTES", default_value_t = 32 * 1024)]
    max_header_bytes: usize,
    /// Seconds allowed for a request head, from when the collector waits for it
    /// (also the idle keep-alive timeout).
    #[arg(long = "header-timeout", value_name = "SECS", default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds allowed for a request body (then 408).
    #[arg(long = "body-timeout", value_name = "SECS", default_value_t = 30.0)]
    body_timeout: f64,
}

fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--{flag} must be a positive number of seconds, got {value}"))
}

impl Cli {
    fn into_config(self) -> Result<Config, String> {
        let mut static_mounts = Vec::new();
        if let Some(dir) = self.static_dir {
            static_mounts.push(StaticMount {
                prefix: "/".into(),
                dir,
            });
        }
        static_mounts.extend(self.statics);
        let forward = self.forward.map(|upstream| {
            let base = self.forward_backoff_ms.first().copied().unwrap_or(500);
            let cap = self.forward_backoff_ms.get(1).copied().unwrap_or(60_000);
            ForwardConfig::new(upstream)
                .with_backoff(Duration::from_millis(base), Duration::from_millis(cap))
                .with_retry_after_cap(Duration::from_secs(self.forward_retry_after_cap))
                .with_request_timeout(Duration::from_millis(self.forward_timeout_ms))
        });
        let keys: Vec<&str> = self.write_keys.iter().map(|k| k.key.as_str()).collect();
        let resolve = |list: &[String], flag: &str| -> Result<Vec<KeyedValue>, String> {
            list.iter()
                .map(|text| KeyedValue::resolve(text, &keys, flag).map_err(|e| e.to_string()))
                .collect()
        };
        let security = SecurityConfig {
            identity_secrets: resolve(&self.identity_secrets, "identity-secret")?,
            webhook_secrets: resolve(&self.webhook_secrets, "webhook-secret")?,
            company_event_properties: resolve(
                &self.company_event_properties,
                "company-event-property",
            )?,
            admin_token: self.admin_token,
            dev_state: self.dev_state,
            read_origins: self
                .read_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        };
        let limits = Limits {
            max_connections: self.max_connections,
            max_header_bytes: self.max_header_bytes,
            header_timeout: seconds("header-timeout", self.header_timeout)?,
            body_timeout: seconds("body-timeout", self.body_timeout)?,
            ..Limits::default()
        };
        Ok(Config {
            host: self.host,
            port: self.port,
            db_path: self.db,
            write_keys: self.write_keys,
            static_mounts,
            faults: FaultConfig {
                fail_rate: self.fail_rate,
                fail_status: self.fail_status,
                fail_retry_after: self.fail_retry_after,
                rate_limit_every: self.rate_limit_every,
                latency_ms: self.latency_ms,
                drop_rate: self.drop_rate,
                seed: self.seed,
                hang_nth: self.hang_nth,
            },
            forward,
            trust_proxy: self.trust_proxy,
            security,
            limits,
        })
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Cli::parse().into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("segflow-collector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let token_given = config.security.admin_token.is_some();
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("segflow-collector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", startup_line(server.addr()))
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("segflow-collector: cannot write the startup line to stdout");
    }
    drop(stdout);
    if let (false, Some(token)) = (token_given, server.admin_token()) {
        eprintln!(
            "segflow-collector: listening beyond loopback; the read side (/api/*, /debugger) needs this generated admin token: Authorization: Bearer {token} (or {}/debugger?token={token})",
            startup_line(server.addr()).trim_start_matches("segflow-collector listening on ")
        );
    }
    wait_for_signal().await;
    server.stop().await;
    ExitCode::SUCCESS
}
