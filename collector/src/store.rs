//! SQLite storage: one table of messages, one of persistent counters, one of the
//! messageIds that arrived again after being stored.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{Map, Value};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id         TEXT NOT NULL,
    write_key          TEXT NOT NULL,
    environment        TEXT NOT NULL,
    type               TEXT NOT NULL,
    user_id            TEXT,
    anonymous_id       TEXT,
    event              TEXT,
    received_at        TEXT NOT NULL,
    sent_at            TEXT,
    original_timestamp TEXT,
    timestamp          TEXT NOT NULL,
    body               TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_write_key_message_id ON messages (write_key, message_id);
CREATE INDEX IF NOT EXISTS messages_user_id ON messages (user_id);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS duplicates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    write_key  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    count      INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS duplicates_write_key_message_id ON duplicates (write_key, message_id);
";

/// A validated message ready to be stored.
#[derive(Debug, Clone)]
pub(crate) struct NewMessage {
    pub message_id: String,
    pub write_key: String,
    pub environment: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub event: Option<String>,
    pub received_at: String,
    pub sent_at: Option<String>,
    pub original_timestamp: Option<String>,
    pub timestamp: String,
    pub body: String,
}

/// The outcome of storing one request's messages.
#[derive(Debug, Default)]
pub(crate) struct InsertOutcome {
    /// Row ids of the newly stored messages, in input order (`None` = duplicate).
    pub ids: Vec<Option<i64>>,
    /// How many messages were duplicates of stored ones.
    pub duplicates: u64,
}

/// Filters of `GET /api/events`.
#[derive(Debug, Default, Clone)]
pub(crate) struct EventFilter {
    pub write_key: Option<String>,
    pub environment: Option<String>,
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub event: Option<String>,
    pub message_id: Option<String>,
    pub since_id: Option<i64>,
    pub since_time: Option<String>,
    pub limit: u32,
    pub descending: bool,
}

/// A messageId that arrived again after it was stored, and how many extra times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub write_key: String,
    pub message_id: String,
    pub count: u64,
}

/// Counts derived from the database.
#[derive(Debug, Default)]
pub(crate) struct StoredCounts {
    pub accepted: u64,
    pub duplicates: u64,
    pub by_environment: Vec<(String, u64)>,
}

/// The database behind a mutex; every call blocks, so callers use
/// `spawn_blocking`.
#[derive(Clone)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating when missing) the database at `path`, in WAL mode with
    /// `synchronous=FULL`, so a committed transaction survives a process kill.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "journal_mode is {mode}, WAL expected"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the
        // transaction would roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `messages` in one transaction; duplicates (same write key and
    /// messageId) are skipped, counted in total and per messageId. Returns only
    /// after the commit.
    pub fn insert(&self, messages: &[NewMessage]) -> rusqlite::Result<InsertOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut outcome = InsertOutcome::default();
        let mut duplicate_ids = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO messages (message_id, write_key, environment, type, user_id,
                    anonymous_id, event, received_at, sent_at, original_timestamp, timestamp, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (write_key, message_id) DO NOTHING",
            )?;
            for m in messages {
                let changed = stmt.execute(params![
                    m.message_id,
                    m.write_key,
                    m.environment,
                    m.kind,
                    m.user_id,
                    m.anonymous_id,
                    m.event,
                    m.received_at,
                    m.sent_at,
                    m.original_timestamp,
                    m.timestamp,
                    m.body,
                ])?;
                if changed == 1 {
                    outcome.ids.push(Some(tx.last_insert_rowid()));
                } else {
                    outcome.ids.push(None);
                    outcome.duplicates += 1;
                    duplicate_ids.push((m.write_key.as_str(), m.message_id.as_str()));
                }
            }
        }
        if !duplicate_ids.is_empty() {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO duplicates (write_key, message_id, count) VALUES (?1, ?2, 1)
                 ON CONFLICT (write_key, message_id) DO UPDATE SET count = count + 1",
            )?;
            for (write_key, message_id) in duplicate_ids {
                stmt.execute(params![write_key, message_id])?;
            }
        }
        if outcome.duplicates > 0 {
            let dups = i64::try_from(outcome.duplicates).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO counters (name, value) VALUES ('duplicates', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = value + ?1",
                [dups],
            )?;
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Stored messages matching `filter`, as `(id, write_key, environment, body)`.
    pub fn query(&self, filter: &EventFilter) -> rusqlite::Result<Vec<StoredRow>> {
        let mut sql =
            String::from("SELECT id, write_key, environment, body FROM messages WHERE 1 = 1");
        let mut args: Vec<SqlValue> = Vec::new();
        let text_filters = [
            ("write_key", &filter.write_key),
            ("environment", &filter.environment),
            ("type", &filter.kind),
            ("user_id", &filter.user_id),
            ("anonymous_id", &filter.anonymous_id),
            ("event", &filter.event),
            ("message_id", &filter.message_id),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                args.push(SqlValue::Text(value.clone()));
                sql.push_str(&format!(" AND {column} = ?{}", args.len()));
            }
        }
        if let Some(since) = filter.since_id {
            args.push(SqlValue::Integer(since));
            sql.push_str(&format!(" AND id > ?{}", args.len()));
        }
        if let Some(since) = &filter.since_time {
            args.push(SqlValue::Text(since.clone()));
            sql.push_str(&format!(" AND received_at >= ?{}", args.len()));
        }
        sql.push_str(if filter.descending {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id ASC"
        });
        args.push(SqlValue::Integer(i64::from(filter.limit)));
        sql.push_str(&format!(" LIMIT ?{}", args.len()));

        let conn = self.lock();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok(StoredRow {
                id: r.get(0)?,
                write_key: r.get(1)?,
                environment: r.get(2)?,
                body: r.get(3)?,
            })
        })?;
        rows.collect()
    }

    /// The messageIds that arrived again after being stored (of `write_key` only,
    /// when given), in the order of their first repeat.
    pub fn duplicates(&self, write_key: Option<&str>) -> rusqlite::Result<Vec<Duplicate>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT write_key, message_id, count FROM duplicates
             WHERE ?1 IS NULL OR write_key = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([write_key], |r| {
            Ok(Duplicate {
                write_key: r.get(0)?,
                message_id: r.get(1)?,
                count: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?;
        rows.collect()
    }

    /// Total stored messages, the persistent duplicate counter and the stored
    /// messages per environment.
    pub fn counts(&self) -> rusqlite::Result<StoredCounts> {
        let conn = self.lock();
        let accepted: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        let duplicates: Option<i64> = conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'duplicates'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let mut stmt = conn.prepare(
            "SELECT environment, COUNT(*) FROM messages GROUP BY environment ORDER BY environment",
        )?;
        let by_environment = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(StoredCounts {
            accepted: accepted.max(0) as u64,
            duplicates: duplicates.unwrap_or(0).max(0) as u64,
            by_environment,
        })
    }
}

/// One stored message as read back.
#[derive(Debug, Clone)]
pub(crate) struct StoredRow {
    pub id: i64,
    pub write_key: String,
    pub environment: String,
    pub body: String,
}

impl StoredRow {
    /// The stored body with `id`, `writeKey` and `environment` added: the shape of
    /// `/api/events` items and of `/api/stream` events.
    pub fn to_event(&self) -> Value {
        let mut map = match serde_json::from_str::<Value>(&self.body) {
            Ok(Value::Object(map)) => map,
            // Bodies are always objects written by this crate; anything else means
            // the file was edited by hand. Show it rather than fail the whole read.
            Ok(other) => {
                let mut map = Map::new();
                map.insert("body".into(), other);
                map
            }
            Err(_) => {
                let mut map = Map::new();
                map.insert("body".into(), Value::String(self.body.clone()));
                map
            }
        };
        map.insert("id".into(), Value::from(self.id));
        map.insert("writeKey".into(), Value::String(self.write_key.clone()));
        map.insert(
            "environment".into(),
            Value::String(self.environment.clone()),
        );
        Value::Object(map)
    }
}
