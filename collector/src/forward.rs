//! First-party proxy: messages stored by this collector are forwarded upstream
//! (`--forward URL`: Segment's API or another collector) in batches, with retries.
//!
//! The forwarding state lives in the same SQLite file as the messages (the
//! *spool*), in tables of its own, through a second connection:
//!
//! - `forward_meta`: `start_after` (the largest message row id when forwarding was
//!   first enabled on this database: older rows are never forwarded), `low` (every
//!   row id up to it is acknowledged or failed), `forwarded` (acknowledged rows).
//! - `forward_done`: row ids above `low` that are acknowledged or failed (rows at
//!   or below `low` are pruned as `low` advances).
//! - `forward_failures`: the messages upstream refused for good, with the reason.
//!
//! A message is *pending* while it is stored and neither acknowledged nor failed.
//! Acknowledged rows are written in one transaction right after upstream's 2xx,
//! so a restart forwards again only what upstream did not acknowledge, plus, in the
//! unavoidable window between upstream's 2xx and that commit (a crash or a kill
//! there), the batch in flight: upstream's messageId dedupe covers it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::config::ConfigError;
use crate::faults::SplitMix64;
use crate::ingest::{MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES};
use crate::timefmt;

/// Default largest forwarded request body, in bytes: under Segment's 500 KB.
pub const DEFAULT_FORWARD_BATCH_BYTES: usize = 500_000;
/// Default most messages per forwarded batch.
pub const DEFAULT_FORWARD_BATCH_MESSAGES: usize = 1_000;

/// How long a stop waits for a forwarded batch in flight before abandoning it
/// (its rows stay pending and are sent again by the next start).
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the forwarder looks at the spool when nothing woke it up.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How many permanent failures `/api/stats` lists.
const RECENT_FAILURES: i64 = 10;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS forward_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forward_done (
    id INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS forward_failures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    row_id     INTEGER NOT NULL,
    write_key  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status     INTEGER,
    error      TEXT NOT NULL,
    at         TEXT NOT NULL
);
";

/// How and where to forward stored messages (see [`crate::Config::with_forward`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardConfig {
    /// Upstream API base, e.g. `https://api.segment.io` or another collector's
    /// `http://host:port`. Batches go to `{upstream}/v1/batch` (a trailing `/v1` or
    /// `/` is ignored).
    pub upstream: String,
    /// First retry delay after a failure; doubled per consecutive failure of the
    /// same write key (default 500 ms).
    pub backoff_base: Duration,
    /// Largest retry delay (default 60 s).
    pub backoff_cap: Duration,
    /// Largest `Retry-After` honoured (default 300 s); longer ones are cut to it.
    pub retry_after_cap: Duration,
    /// Time allowed for one upstream request, connection included (default 30 s).
    pub request_timeout: Duration,
    /// Largest forwarded request body in bytes (default 500,000; at most 512,000).
    pub max_batch_bytes: usize,
    /// Most messages per forwarded batch (default 1,000; at most 2,500).
    pub max_batch_messages: usize,
}

impl ForwardConfig {
    /// Forwarding to `upstream` with the default backoff, timeouts and batch limits.
    pub fn new(upstream: impl Into<String>) -> Self {
        ForwardConfig {
            upstream: upstream.into(),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            max_batch_bytes: DEFAULT_FORWARD_BATCH_BYTES,
            max_batch_messages: DEFAULT_FORWARD_BATCH_MESSAGES,
        }
    }

    /// Sets the first retry delay and the largest one.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap;
        self
    }

    /// Sets the largest `Retry-After` honoured.
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// Sets the time allowed for one upstream request.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the largest forwarded body (bytes) and the most messages per batch.
    pub fn with_max_batch(mut self, bytes: usize, messages: usize) -> Self {
        self.max_batch_bytes = bytes;
        self.max_batch_messages = messages;
        self
    }

    /// `{upstream}/v1/batch`.
    pub fn batch_url(&self) -> String {
        let base = self.upstream.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        format!("{base}/v1/batch")
    }

    /// Checks the URL scheme, the delays and the batch limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.upstream)
            .map_err(|e| ConfigError(format!("--forward {:?}: {e}", self.upstream)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError(format!(
                "--forward must be an http:// or https:// URL, got {:?}",
                self.upstream
            )));
        }
        if self.backoff_base.is_zero() || self.backoff_base > self.backoff_cap {
            return Err(ConfigError(
                "the forward backoff base must be above 0 and at most the cap".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError(
                "the forward request timeout must be above 0".into(),
            ));
        }
        // The largest message must fit in a batch on its own.
        let smallest = MAX_MESSAGE_BYTES + BATCH_OVERHEAD;
        if !(smallest..=MAX_REQUEST_BYTES).contains(&self.max_batch_bytes) {
            return Err(ConfigError(format!(
                "the forward batch size must be between {smallest} and {MAX_REQUEST_BYTES} bytes"
            )));
        }
        if !(1..=MAX_BATCH_MESSAGES).contains(&self.max_batch_messages) {
            return Err(ConfigError(format!(
                "a forward batch holds 1 to {MAX_BATCH_MESSAGES} messages"
            )));
        }
        Ok(())
    }
}

/// `{"batch":[` + `]}`.
const BATCH_OVERHEAD: usize = 12;

/// One pending message, ready to send.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    message_id: String,
    /// The forwarded JSON (see [`forwarded_body`]).
    body: String,
}

/// A pending batch: rows of one write key, in arrival order.
#[derive(Debug)]
struct Batch {
    write_key: String,
    rows: Vec<Row>,
    /// Rows that cannot be forwarded at all (too large once enriched).
    unsendable: Vec<(Row, String)>,
}

/// Persistent counts of the spool.
#[derive(Debug, Default)]
struct SpoolCounts {
    pending: u64,
    forwarded: u64,
    permanent_failures: u64,
    recent: Vec<Value>,
    bytes: u64,
}

/// The forwarding tables, through their own connection to the database.
struct Spool {
    conn: Connection,
    path: PathBuf,
    low: i64,
}

fn meta(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT value FROM forward_meta WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()
}

fn set_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO forward_meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

impl Spool {
    /// Opens the forwarding tables of the database at `path` (whose `messages`
    /// table exists already). The first time, forwarding starts after the rows
    /// already stored.
    fn open(path: &Path) -> rusqlite::Result<Spool> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let start_after = match meta(&tx, "start_after")? {
            Some(start) => start,
            None => {
                let max: i64 =
                    tx.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                        r.get(0)
                    })?;
                set_meta(&tx, "start_after", max)?;
                max
            }
        };
        let low = meta(&tx, "low")?.unwrap_or(start_after).max(start_after);
        tx.commit()?;
        Ok(Spool {
            conn,
            path: path.to_path_buf(),
            low,
        })
    }

    /// The oldest pending rows of the oldest pending write key not in `excluded`,
    /// at most `max_messages` and `max_bytes` of forwarded batch body.
    fn next_batch(
        &self,
        excluded: &[String],
        max_bytes: usize,
        max_messages: usize,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<Option<Batch>> {
        let pending = "m.id > ?1 AND NOT EXISTS (SELECT 1 FROM forward_done d WHERE d.id = m.id)";
        let mut sql = format!("SELECT m.write_key FROM messages m WHERE {pending}");
        let mut args = vec![rusqlite::types::Value::Integer(self.low)];
        for key in excluded {
            args.push(rusqlite::types::Value::Text(key.clone()));
            sql.push_str(&format!(" AND m.write_key <> ?{}", args.len()));
        }
        sql.push_str(" ORDER BY m.id LIMIT 1");
        let key: Option<String> = self
            .conn
            .query_row(&sql, params_from_iter(args), |r| r.get(0))
            .optional()?;
        let Some(write_key) = key else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT m.id, m.message_id, m.received_at, m.body FROM messages m
             WHERE {pending} AND m.write_key = ?2 ORDER BY m.id LIMIT ?3"
        ))?;
        let limit = i64::try_from(max_messages).unwrap_or(i64::MAX);
        let stored = stmt.query_map(params![self.low, write_key, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut batch = Batch {
            write_key,
            rows: Vec::new(),
            unsendable: Vec::new(),
        };
        let mut size = BATCH_OVERHEAD;
        for stored in stored {
            let (id, message_id, received_at, body) = stored?;
            let body = forwarded_body(&body, &received_at, now);
            let row = Row {
                id,
                message_id,
                body,
            };
            if row.body.len() > MAX_MESSAGE_BYTES {
                let why = format!(
                    "message_too_large: the forwarded message is {} bytes, over {MAX_MESSAGE_BYTES}",
                    row.body.len()
                );
                batch.unsendable.push((row, why));
                continue;
            }
            let extra = row.body.len() + usize::from(!batch.rows.is_empty());
            if size + extra > max_bytes {
                break;
            }
            size += extra;
            batch.rows.push(row);
        }
        Ok(Some(batch))
    }

    /// Marks `acked` acknowledged and `failed` refused for good, in one
    /// transaction, and advances `low` over the rows that are now all done.
    fn finish(
        &mut self,
        write_key: &str,
        acked: &[i64],
        failed: &[(Row, Option<u16>, String)],
    ) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut done =
                tx.prepare_cached("INSERT OR IGNORE INTO forward_done (id) VALUES (?1)")?;
            let mut newly_acked = 0i64;
            for id in acked {
                newly_acked += i64::try_from(done.execute([id])?).unwrap_or(0);
            }
            if newly_acked > 0 {
                tx.execute(
                    "INSERT INTO forward_meta (name, value) VALUES ('forwarded', ?1)
                     ON CONFLICT (name) DO UPDATE SET value = value + ?1",
                    [newly_acked],
                )?;
            }
            let mut failure = tx.prepare_cached(
                "INSERT INTO forward_failures (row_id, write_key, message_id, status, error, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let at = timefmt::format_iso(timefmt::now());
            for (row, status, error) in failed {
                if done.execute([row.id])? == 1 {
                    failure.execute(params![
                        row.id,
                        write_key,
                        row.message_id,
                        status,
                        error,
                        at
                    ])?;
                }
            }
        }
        let first_pending: Option<i64> = tx
            .query_row(
                "SELECT m.id FROM messages m WHERE m.id > ?1
                 AND NOT EXISTS (SELECT 1 FROM forward_done d WHERE d.id = m.id)
                 ORDER BY m.id LIMIT 1",
                [self.low],
                |r| r.get(0),
            )
            .optional()?;
        let low = match first_pending {
            Some(id) => id - 1,
            None => tx.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get::<_, i64>(0)
            })?,
        }
        .max(self.low);
        if low > self.low {
            tx.execute("DELETE FROM forward_done WHERE id <= ?1", [low])?;
            set_meta(&tx, "low", low)?;
        }
        tx.commit()?;
        self.low = low;
        Ok(())
    }

    fn counts(&self) -> rusqlite::Result<SpoolCounts> {
        let stored: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM messages WHERE id > ?1",
            [self.low],
            |r| r.get(0),
        )?;
        let done: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM forward_done WHERE id > ?1",
            [self.low],
            |r| r.get(0),
        )?;
        let forwarded = meta(&self.conn, "forwarded")?.unwrap_or(0);
        let permanent: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM forward_failures", [], |r| r.get(0))?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT write_key, message_id, status, error, at FROM forward_failures
             ORDER BY id DESC LIMIT ?1",
        )?;
        let recent = stmt
            .query_map([RECENT_FAILURES], |r| {
                Ok(json!({
                    "writeKey": r.get::<_, String>(0)?,
                    "messageId": r.get::<_, String>(1)?,
                    "status": r.get::<_, Option<i64>>(2)?,
                    "error": r.get::<_, String>(3)?,
                    "at": r.get::<_, String>(4)?,
                }))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let file_size = |suffix: &str| {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        };
        Ok(SpoolCounts {
            pending: (stored - done).max(0) as u64,
            forwarded: forwarded.max(0) as u64,
            permanent_failures: permanent.max(0) as u64,
            recent,
            bytes: file_size("") + file_size("-wal"),
        })
    }
}

/// The message as forwarded, from its stored body: our `receivedAt` is dropped
/// (upstream sets its own); `timestamp` is the client's original one when it had
/// one (`originalTimestamp`, which is dropped: upstream derives it again) and
/// `sentAt` is the client's `sentAt` moved forward by the time the message spent
/// here, so that upstream's skew correction `receivedAt - (sentAt - timestamp)`
/// gives the same corrected time as ours. Without a client timestamp, `timestamp`
/// is our `receivedAt` and no `sentAt` is sent (nothing to correct). Everything
/// else (`messageId`, `context.ip`, …) is kept.
/// The size of the message `stored` (a stored body) as forwarded at once: what
/// must fit Segment's 32 KB per message, checked when it arrives.
pub(crate) fn forwarded_size(stored: &str, received_at: &str) -> usize {
    forwarded_body(stored, received_at, Utc::now()).len()
}

fn forwarded_body(stored: &str, received_at: &str, now: DateTime<Utc>) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(stored) else {
        return stored.to_string();
    };
    map.remove("receivedAt");
    let original = map.remove("originalTimestamp");
    let sent_at = map.remove("sentAt");
    match original {
        Some(Value::String(original)) => {
            let shifted = sent_at
                .as_ref()
                .and_then(Value::as_str)
                .and_then(timefmt::parse_iso)
                .zip(timefmt::parse_iso(received_at))
                .map(|(sent, received)| sent + (now - received).max(chrono::TimeDelta::zero()));
            if let Some(shifted) = shifted {
                map.insert("sentAt".into(), Value::String(timefmt::format_iso(shifted)));
            }
            map.insert("timestamp".into(), Value::String(original));
        }
        _ => {
            map.insert("timestamp".into(), Value::String(received_at.to_string()));
        }
    }
    Value::Object(map).to_string()
}

/// What upstream made of one request.
#[derive(Debug)]
enum Outcome {
    /// 2xx; the indexes of the messages it refused inside an accepted batch (a
    /// segflow-collector upstream lists them in `rejected`).
    Accepted(Vec<(usize, String)>),
    /// Worth retrying later, after `retry_after` when upstream said so.
    Transient {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Refused for good (a 4xx other than 401, 403, 404, 405, 408, 410, 429, 460).
    Permanent { status: u16, error: String },
}

/// Whether an upstream status is worth retrying: every 5xx (a broken upstream must
/// not destroy the spool), 401 and 403 (a configuration problem of that write key,
/// not of the messages), 3xx, 404 and 405 (a wrong `--forward` URL, or one that
/// redirects: redirects are not followed), and the 4xx that analytics-next retries
/// (408, 410, 429, 460). Other 4xx are permanent.
fn is_transient(status: u16) -> bool {
    status >= 500
        || matches!(status, 401 | 403 | 404 | 405 | 408 | 410 | 429 | 460)
        || status < 200
        || (300..400).contains(&status)
}

/// Parses `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// In-memory forwarding state since the process started.
#[derive(Debug, Default)]
struct Live {
    in_flight: AtomicU64,
    attempts: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<(String, String)>>,
    next_attempt_at: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Per write key retry state.
#[derive(Debug, Clone, Copy)]
struct KeyState {
    failures: u32,
    next_at: Instant,
    next_at_wall: DateTime<Utc>,
}

/// The forwarder of one server: its spool, HTTP client and counters.
pub(crate) struct Forwarder {
    config: ForwardConfig,
    url: String,
    client: reqwest::Client,
    spool: Arc<Mutex<Spool>>,
    live: Live,
    wake: Notify,
}

/// Why the forwarder could not start.
pub(crate) fn open(config: ForwardConfig, db: &Path) -> Result<Arc<Forwarder>, String> {
    let spool = Spool::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    let client = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("segflow-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(Arc::new(Forwarder {
        url: config.batch_url(),
        config,
        client,
        spool: Arc::new(Mutex::new(spool)),
        live: Live::default(),
        wake: Notify::new(),
    }))
}

impl Forwarder {
    /// Tells the forwarder that new messages were stored.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The `forward` object of `/api/stats`.
    pub async fn stats(&self) -> Value {
        let spool = self.spool.clone();
        let counts = tokio::task::spawn_blocking(move || lock(&spool).counts()).await;
        let counts = match counts {
            Ok(Ok(counts)) => counts,
            Ok(Err(e)) => {
                return json!({"upstream": self.config.upstream, "error": e.to_string()});
            }
            Err(e) => return json!({"upstream": self.config.upstream, "error": e.to_string()}),
        };
        let (last_error, last_error_at) = match lock(&self.live.last_error).clone() {
            Some((error, at)) => (Value::String(error), Value::String(at)),
            None => (Value::Null, Value::Null),
        };
        json!({
            "upstream": self.config.upstream,
            "pending": counts.pending,
            "inFlight": self.live.in_flight.load(Ordering::Relaxed),
            "forwarded": counts.forwarded,
            "attempts": self.live.attempts.load(Ordering::Relaxed),
            "failures": self.live.failures.load(Ordering::Relaxed),
            "lastError": last_error,
            "lastErrorAt": last_error_at,
            "nextAttemptAt": lock(&self.live.next_attempt_at).clone(),
            "permanentFailures": counts.permanent_failures,
            "recentPermanentFailures": counts.recent,
            "spoolBytes": counts.bytes,
        })
    }

    fn record_error(&self, error: &str) {
        self.live.failures.fetch_add(1, Ordering::Relaxed);
        let at = timefmt::format_iso(timefmt::now());
        *lock(&self.live.last_error) = Some((error.to_string(), at));
    }

    /// Runs until `shutdown`: picks the oldest pending batch of a write key that is
    /// not waiting for a retry, sends it, records the outcome.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
        let mut rng = SplitMix64::new(nanos ^ 0x5EED);
        let mut keys: HashMap<String, KeyState> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = Instant::now();
            keys.retain(|_, k| k.next_at > now || k.failures > 0);
            let waiting: Vec<String> = keys
                .iter()
                .filter(|(_, k)| k.next_at > now)
                .map(|(key, _)| key.clone())
                .collect();
            *lock(&self.live.next_attempt_at) = keys
                .values()
                .filter(|k| k.next_at > now)
                .map(|k| k.next_at_wall)
                .min()
                .map(timefmt::format_iso);
            let spool = self.spool.clone();
            let (max_bytes, max_messages) =
                (self.config.max_batch_bytes, self.config.max_batch_messages);
            let next = tokio::task::spawn_blocking(move || {
                lock(&spool).next_batch(&waiting, max_bytes, max_messages, timefmt::now())
            })
            .await;
            let batch = match next {
                Ok(Ok(batch)) => batch,
                Ok(Err(e)) => {
                    self.record_error(&format!("spool: {e}"));
                    None
                }
                Err(e) => {
                    self.record_error(&format!("spool task: {e}"));
                    None
                }
            };
            let Some(batch) = batch else {
                let wake_at = keys
                    .values()
                    .filter(|k| k.next_at > now)
                    .map(|k| k.next_at)
                    .min()
                    .map_or(now + IDLE_POLL, |at| at.min(now + IDLE_POLL));
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep_until(wake_at) => {}
                    _ = crate::server::stopped(&mut shutdown) => return,
                }
                continue;
            };
            if !self.send_batch(batch, &mut keys, &mut rng, &shutdown).await {
                return;
            }
        }
    }

    /// Sends a batch, splitting it on permanent refusals to isolate the refused
    /// messages. Returns `false` when a stop abandoned a request in flight.
    async fn send_batch(
        &self,
        batch: Batch,
        keys: &mut HashMap<String, KeyState>,
        rng: &mut SplitMix64,
        shutdown: &watch::Receiver<bool>,
    ) -> bool {
        let write_key = batch.write_key;
        if !batch.unsendable.is_empty() {
            let failed = batch
                .unsendable
                .into_iter()
                .map(|(row, why)| (row, None, why))
                .collect::<Vec<_>>();
            self.finish(&write_key, Vec::new(), failed).await;
        }
        let mut stack = vec![batch.rows];
        while let Some(rows) = stack.pop() {
            if rows.is_empty() {
                continue;
            }
            self.live
                .in_flight
                .store(rows.len() as u64, Ordering::Relaxed);
            self.live.attempts.fetch_add(1, Ordering::Relaxed);
            let mut stop = shutdown.clone();
            let outcome = tokio::select! {
                outcome = self.post(&write_key, &rows) => outcome,
                _ = async {
                    crate::server::stopped(&mut stop).await;
                    tokio::time::sleep(STOP_GRACE).await;
                } => {
                    self.live.in_flight.store(0, Ordering::Relaxed);
                    return false;
                }
            };
            match outcome {
                Outcome::Accepted(refused) => {
                    let mut acked = Vec::with_capacity(rows.len());
                    let mut failed = Vec::new();
                    for (index, row) in rows.into_iter().enumerate() {
                        match refused.iter().find(|(i, _)| *i == index) {
                            Some((_, why)) => failed.push((row, Some(200), why.clone())),
                            None => acked.push(row.id),
                        }
                    }
                    if !failed.is_empty() {
                        self.record_error(&format!(
                            "upstream accepted the batch but refused {} message(s): {}",
                            failed.len(),
                            failed[0].2
                        ));
                    }
                    self.finish(&write_key, acked, failed).await;
                    keys.remove(&write_key);
                }
                Outcome::Permanent { status, error } => {
                    self.record_error(&format!("HTTP {status}: {error}"));
                    if rows.len() > 1 {
                        let mut first = rows;
                        let second = first.split_off(first.len() / 2);
                        stack.push(second);
                        stack.push(first);
                    } else {
                        let failed = rows
                            .into_iter()
                            .map(|row| (row, Some(status), error.clone()))
                            .collect();
                        self.finish(&write_key, Vec::new(), failed).await;
                    }
                }
                Outcome::Transient {
                    status,
                    error,
                    retry_after,
                } => {
                    self.record_error(&match status {
                        Some(status) => format!("HTTP {status}: {error}"),
                        None => error,
                    });
                    let state = keys.entry(write_key.clone()).or_insert(KeyState {
                        failures: 0,
                        next_at: Instant::now(),
                        next_at_wall: Utc::now(),
                    });
                    state.failures = state.failures.saturating_add(1);
                    let delay = match retry_after {
                        Some(after) => after.min(self.config.retry_after_cap),
                        None => backoff(&self.config, state.failures, rng),
                    };
                    state.next_at = Instant::now() + delay;
                    state.next_at_wall =
                        Utc::now() + chrono::TimeDelta::from_std(delay).unwrap_or_default();
                    // The rest of this batch stays pending for the next attempt.
                    break;
                }
            }
        }
        self.live.in_flight.store(0, Ordering::Relaxed);
        true
    }

    /// Commits acknowledged and failed rows; a spool error is recorded (the rows
    /// stay pending and are sent again, which upstream's dedupe absorbs).
    async fn finish(
        &self,
        write_key: &str,
        acked: Vec<i64>,
        failed: Vec<(Row, Option<u16>, String)>,
    ) {
        let spool = self.spool.clone();
        let key = write_key.to_string();
        let done =
            tokio::task::spawn_blocking(move || lock(&spool).finish(&key, &acked, &failed)).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.record_error(&format!("spool: {e}")),
            Err(e) => self.record_error(&format!("spool task: {e}")),
        }
    }

    /// One `POST {upstream}/v1/batch` of `rows` with the write key's Basic auth.
    async fn post(&self, write_key: &str, rows: &[Row]) -> Outcome {
        let mut body = String::with_capacity(
            BATCH_OVERHEAD + rows.iter().map(|r| r.body.len() + 1).sum::<usize>(),
        );
        body.push_str("{\"batch\":[");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&row.body);
        }
        body.push_str("]}");
        let mut request = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if !write_key.is_empty() {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"));
            request = request.header(AUTHORIZATION, format!("Basic {token}"));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Transient {
                    status: None,
                    error: describe(&e),
                    retry_after: None,
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) if (200..300).contains(&status) => {
                // Upstream said 2xx; the body is only informative.
                let _ = e;
                String::new()
            }
            Err(e) => describe(&e),
        };
        let summary: String = text.chars().take(300).collect();
        if (200..300).contains(&status) {
            return Outcome::Accepted(refused_in(&text, rows.len()));
        }
        if is_transient(status) {
            Outcome::Transient {
                status: Some(status),
                error: summary,
                retry_after,
            }
        } else {
            Outcome::Permanent {
                status,
                error: summary,
            }
        }
    }
}

/// A reqwest error with its causes.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The messages a 2xx answer says it refused: a segflow-collector's
/// `{"rejected":[{"index":i,"reason":r,...}]}` (Segment itself lists none).
fn refused_in(text: &str, len: usize) -> Vec<(usize, String)> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let Some(list) = value.get("rejected").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|item| {
            let index = usize::try_from(item.get("index")?.as_u64()?).ok()?;
            let reason = item
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("rejected");
            let message = item.get("message").and_then(Value::as_str).unwrap_or("");
            (index < len).then(|| (index, format!("{reason}: {message}")))
        })
        .collect()
}

/// Exponential backoff with jitter: a delay drawn in `[d/2, d]` where
/// `d = base * 2^(failures-1)`, capped at `cap`.
fn backoff(config: &ForwardConfig, failures: u32, rng: &mut SplitMix64) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
    let full = config
        .backoff_base
        .saturating_mul(factor)
        .min(config.backoff_cap);
    let half = full / 2;
    half + full.saturating_sub(half).mul_f64(rng.next_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_url_takes_bases_with_or_without_v1() {
        for base in [
            "https://api.segment.io",
            "https://api.segment.io/",
            "https://api.segment.io/v1",
            "https://api.segment.io/v1/",
        ] {
            assert_eq!(
                ForwardConfig::new(base).batch_url(),
                "https://api.segment.io/v1/batch"
            );
        }
    }

    #[test]
    fn config_is_checked() {
        assert!(ForwardConfig::new("http://127.0.0.1:1").validate().is_ok());
        assert!(ForwardConfig::new("ftp://x").validate().is_err());
        assert!(ForwardConfig::new("not a url").validate().is_err());
        let c = ForwardConfig::new("http://x")
            .with_backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert!(c.validate().is_err());
        let c = ForwardConfig::new("http://x").with_max_batch(600_000, 10);
        assert!(c.validate().is_err());
        let c = ForwardConfig::new("http://x").with_max_batch(100_000, 0);
        assert!(c.validate().is_err());
    }

    #[test]
    fn forwarded_body_keeps_the_client_times_and_moves_sent_at() {
        let stored = json!({
            "type": "track", "event": "E", "userId": "u", "messageId": "m",
            "receivedAt": "2026-01-01T00:00:10.000Z",
            "sentAt": "2026-01-01T00:00:05.000Z",
            "originalTimestamp": "2026-01-01T00:00:04.000Z",
            "timestamp": "2026-01-01T00:00:09.000Z",
            "context": {"ip": "203.0.113.9"}
        })
        .to_string();
        let now = timefmt::parse_iso("2026-01-01T00:01:10.000Z").unwrap();
        let out: Value =
            serde_json::from_str(&forwarded_body(&stored, "2026-01-01T00:00:10.000Z", now))
                .unwrap();
        assert_eq!(out["timestamp"], "2026-01-01T00:00:04.000Z");
        // 60 s spent in the spool: sentAt moves by 60 s.
        assert_eq!(out["sentAt"], "2026-01-01T00:01:05.000Z");
        assert!(out.get("receivedAt").is_none());
        assert!(out.get("originalTimestamp").is_none());
        assert_eq!(out["messageId"], "m");
        assert_eq!(out["context"]["ip"], "203.0.113.9");
        // Upstream receiving it at `now` corrects to our corrected time.
        let sent = timefmt::parse_iso(out["sentAt"].as_str().unwrap()).unwrap();
        let ts = timefmt::parse_iso(out["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(
            timefmt::format_iso(now - (sent - ts)),
            "2026-01-01T00:00:09.000Z"
        );

        let stored = json!({"type": "identify", "userId": "u", "messageId": "m",
            "receivedAt": "2026-01-01T00:00:10.000Z", "sentAt": "2026-01-01T00:00:05.000Z",
            "timestamp": "2026-01-01T00:00:10.000Z"})
        .to_string();
        let out: Value =
            serde_json::from_str(&forwarded_body(&stored, "2026-01-01T00:00:10.000Z", now))
                .unwrap();
        assert_eq!(out["timestamp"], "2026-01-01T00:00:10.000Z");
        assert!(out.get("sentAt").is_none());
    }

    #[test]
    fn statuses() {
        for s in [500, 502, 503, 501, 401, 403, 408, 410, 429, 460] {
            assert!(is_transient(s), "{s}");
        }
        // A wrong upstream URL (`--forward .../v1/batch`, an http to https redirect)
        // says nothing of the messages: held, not thrown away.
        for s in [301, 302, 307, 308, 404, 405] {
            assert!(is_transient(s), "{s}");
        }
        for s in [400, 413, 422] {
            assert!(!is_transient(s), "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = timefmt::parse_iso("2015-10-21T07:27:00.000Z").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let c = ForwardConfig::new("http://x")
            .with_backoff(Duration::from_millis(100), Duration::from_millis(1000));
        let mut rng = SplitMix64::new(1);
        for (failures, low, high) in [(1, 50, 100), (2, 100, 200), (3, 200, 400), (9, 500, 1000)] {
            for _ in 0..50 {
                let d = backoff(&c, failures, &mut rng).as_millis() as u64;
                assert!((low..=high).contains(&d), "{failures}: {d}");
            }
        }
        assert!(backoff(&c, u32::MAX, &mut rng) <= Duration::from_millis(1000));
    }

    #[test]
    fn refused_items_of_a_2xx() {
        let text = r#"{"success":true,"rejected":[{"index":1,"reason":"missing_event","message":"x"},{"index":9}]}"#;
        assert_eq!(
            refused_in(text, 2),
            vec![(1, "missing_event: x".to_string())]
        );
        assert!(refused_in("{\"success\":true}", 2).is_empty());
        assert!(refused_in("not json", 2).is_empty());
    }
}
