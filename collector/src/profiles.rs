//! The destination half's store: per environment, users (traits merged), companies
//! (traits merged) and track events per user (and per company), fed by
//! `POST /webhook/{writeKey}` and read by `GET /v1/state`. Kept in the same SQLite
//! file as the messages, on its own connection, in tables of its own.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_messages (
    environment TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (environment, message_id)
);
CREATE TABLE IF NOT EXISTS profile_users (
    environment TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    traits      TEXT NOT NULL,
    company_id  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (environment, user_id)
);
CREATE TABLE IF NOT EXISTS profile_companies (
    environment TEXT NOT NULL,
    company_id  TEXT NOT NULL,
    traits      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (environment, company_id)
);
CREATE TABLE IF NOT EXISTS profile_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    company_id  TEXT,
    name        TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    properties  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_events_user ON profile_events (environment, user_id, name, at_ms);
CREATE INDEX IF NOT EXISTS profile_events_company ON profile_events (environment, company_id, name, at_ms);
";

/// Most event names returned per user (the most recently tracked ones).
pub(crate) const MAX_EVENT_NAMES: usize = 100;
/// Most occurrences returned per name (the latest ones).
pub(crate) const MAX_OCCURRENCES: usize = 50;
/// Most properties returned per occurrence.
pub(crate) const MAX_KEPT_PROPERTIES: usize = 20;
/// Longest property name and string value returned, in bytes.
pub(crate) const MAX_KEPT_STRING: usize = 256;

/// What one webhook message does to the store.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Merge `traits` into the user's.
    Identify {
        user: String,
        traits: Map<String, Value>,
    },
    /// Merge `traits` into the company's and link the user to it.
    Group {
        user: String,
        company: String,
        traits: Map<String, Value>,
    },
    /// Record an event for the user (and the company, when given).
    Track {
        user: String,
        name: String,
        at_ms: i64,
        properties: Map<String, Value>,
        company: Option<String>,
    },
    /// The user exists (a page view records nothing else).
    Page { user: String },
    /// Move `previous`'s traits, company and events to `user`.
    Alias { previous: String, user: String },
}

/// One event name of a user or company: total and latest occurrences, oldest
/// first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventSummary {
    pub name: String,
    pub total: u64,
    pub occurrences: Vec<(i64, Map<String, Value>)>,
}

/// A user as `GET /v1/state` returns it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserState {
    pub traits: Map<String, Value>,
    pub company: Option<(String, Map<String, Value>, Vec<EventSummary>)>,
    pub events: Vec<EventSummary>,
}

/// The profile tables behind a mutex; every call blocks (use `spawn_blocking`).
#[derive(Clone)]
pub(crate) struct Profiles {
    conn: Arc<Mutex<Connection>>,
}

fn now_text() -> String {
    crate::timefmt::format_iso(crate::timefmt::now())
}

fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Shallow merge: each new trait replaces the old one of that name; `null`
/// removes it; traits not mentioned stay.
fn merge(into: &mut Map<String, Value>, traits: &Map<String, Value>) {
    for (key, value) in traits {
        if value.is_null() {
            into.remove(key);
        } else {
            into.insert(key.clone(), value.clone());
        }
    }
}

/// A stored user: traits and company id.
type UserRow = (Map<String, Value>, Option<String>);

fn user_row(tx: &Transaction<'_>, env: &str, user: &str) -> rusqlite::Result<Option<UserRow>> {
    tx.query_row(
        "SELECT traits, company_id FROM profile_users WHERE environment = ?1 AND user_id = ?2",
        params![env, user],
        |r| Ok((parse_object(&r.get::<_, String>(0)?), r.get(1)?)),
    )
    .optional()
}

fn put_user(
    tx: &Transaction<'_>,
    env: &str,
    user: &str,
    traits: &Map<String, Value>,
    company: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO profile_users (environment, user_id, traits, company_id, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (environment, user_id) DO UPDATE SET
             traits = excluded.traits, company_id = excluded.company_id,
             updated_at = excluded.updated_at",
        params![
            env,
            user,
            Value::Object(traits.clone()).to_string(),
            company,
            now_text()
        ],
    )?;
    Ok(())
}

/// Creates the user when missing.
fn touch_user(tx: &Transaction<'_>, env: &str, user: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO profile_users (environment, user_id, traits, company_id, updated_at)
         VALUES (?1, ?2, '{}', NULL, ?3) ON CONFLICT (environment, user_id) DO NOTHING",
        params![env, user, now_text()],
    )?;
    Ok(())
}

/// Whether the log keeps `key: value` (the SDK's rule): numbers, booleans and
/// strings of at most 256 bytes, under names of at most 256 bytes.
fn keeps(key: &str, value: &Value) -> bool {
    key.len() <= MAX_KEPT_STRING
        && match value {
            Value::String(s) => s.len() <= MAX_KEPT_STRING,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        }
}

fn kept_properties(properties: &Map<String, Value>) -> Map<String, Value> {
    properties
        .iter()
        .filter(|(k, v)| keeps(k, v))
        .take(MAX_KEPT_PROPERTIES)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Profiles {
    /// Opens the profile tables in the database at `path` (creating them).
    pub fn open(path: &Path) -> rusqlite::Result<Profiles> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Profiles {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one webhook message in one transaction, unless its messageId was
    /// already applied in `env`. Returns whether it was new; returns only after
    /// the commit.
    pub fn apply(
        &self,
        env: &str,
        message_id: &str,
        kind: &str,
        change: &Change,
    ) -> rusqlite::Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let fresh = tx.execute(
            "INSERT INTO webhook_messages (environment, message_id, type, received_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (environment, message_id) DO NOTHING",
            params![env, message_id, kind, now_text()],
        )? == 1;
        if !fresh {
            return Ok(false);
        }
        match change {
            Change::Identify { user, traits } => {
                let (mut merged, company) = user_row(&tx, env, user)?.unwrap_or_default();
                merge(&mut merged, traits);
                put_user(&tx, env, user, &merged, company.as_deref())?;
            }
            Change::Group {
                user,
                company,
                traits,
            } => {
                let mut merged = tx
                    .query_row(
                        "SELECT traits FROM profile_companies WHERE environment = ?1 AND company_id = ?2",
                        params![env, company],
                        |r| Ok(parse_object(&r.get::<_, String>(0)?)),
                    )
                    .optional()?
                    .unwrap_or_default();
                merge(&mut merged, traits);
                tx.execute(
                    "INSERT INTO profile_companies (environment, company_id, traits, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (environment, company_id) DO UPDATE SET
                         traits = excluded.traits, updated_at = excluded.updated_at",
                    params![env, company, Value::Object(merged).to_string(), now_text()],
                )?;
                let (user_traits, _) = user_row(&tx, env, user)?.unwrap_or_default();
                put_user(&tx, env, user, &user_traits, Some(company))?;
            }
            Change::Track {
                user,
                name,
                at_ms,
                properties,
                company,
            } => {
                touch_user(&tx, env, user)?;
                tx.execute(
                    "INSERT INTO profile_events (environment, user_id, company_id, name, at_ms, properties)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        env,
                        user,
                        company,
                        name,
                        at_ms,
                        Value::Object(properties.clone()).to_string()
                    ],
                )?;
            }
            Change::Page { user } => touch_user(&tx, env, user)?,
            Change::Alias { previous, user } if previous != user => {
                if let Some((old_traits, old_company)) = user_row(&tx, env, previous)? {
                    let (new_traits, new_company) = user_row(&tx, env, user)?.unwrap_or_default();
                    // The user's own traits win over the previous id's.
                    let mut merged = old_traits;
                    merge(&mut merged, &new_traits);
                    let company = new_company.or(old_company);
                    put_user(&tx, env, user, &merged, company.as_deref())?;
                    tx.execute(
                        "DELETE FROM profile_users WHERE environment = ?1 AND user_id = ?2",
                        params![env, previous],
                    )?;
                } else {
                    touch_user(&tx, env, user)?;
                }
                tx.execute(
                    "UPDATE profile_events SET user_id = ?3 WHERE environment = ?1 AND user_id = ?2",
                    params![env, previous, user],
                )?;
            }
            Change::Alias { user, .. } => touch_user(&tx, env, user)?,
        }
        tx.commit()?;
        Ok(true)
    }

    /// The event summaries of the rows matching `column = id` in `env`.
    fn summaries(
        conn: &Connection,
        env: &str,
        column: &str,
        id: &str,
    ) -> rusqlite::Result<Vec<EventSummary>> {
        let mut names = conn.prepare_cached(&format!(
            "SELECT name, COUNT(*), MAX(at_ms), MAX(id) FROM profile_events
             WHERE environment = ?1 AND {column} = ?2
             GROUP BY name ORDER BY MAX(at_ms) DESC, MAX(id) DESC LIMIT ?3"
        ))?;
        let names = names
            .query_map(params![env, id, MAX_EVENT_NAMES as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut latest = conn.prepare_cached(&format!(
            "SELECT at_ms, properties FROM profile_events
             WHERE environment = ?1 AND {column} = ?2 AND name = ?3
             ORDER BY at_ms DESC, id DESC LIMIT ?4"
        ))?;
        let mut out = Vec::with_capacity(names.len());
        // Least recently tracked first.
        for (name, total) in names.into_iter().rev() {
            let mut occurrences = latest
                .query_map(params![env, id, name, MAX_OCCURRENCES as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        kept_properties(&parse_object(&r.get::<_, String>(1)?)),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            occurrences.reverse();
            out.push(EventSummary {
                name,
                total: total.max(0) as u64,
                occurrences,
            });
        }
        Ok(out)
    }

    /// The state of `user` in `env`: traits, company and events (empty when the
    /// user is unknown).
    pub fn state(&self, env: &str, user: &str) -> rusqlite::Result<UserState> {
        let conn = self.lock();
        let row: Option<(String, Option<String>)> = conn
            .query_row(
                "SELECT traits, company_id FROM profile_users WHERE environment = ?1 AND user_id = ?2",
                params![env, user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (traits, company_id) = match row {
            Some((traits, company)) => (parse_object(&traits), company),
            None => (Map::new(), None),
        };
        let company = match company_id {
            Some(id) => {
                let traits: Option<String> = conn
                    .query_row(
                        "SELECT traits FROM profile_companies WHERE environment = ?1 AND company_id = ?2",
                        params![env, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let traits = traits.as_deref().map(parse_object).unwrap_or_default();
                let events = Self::summaries(&conn, env, "company_id", &id)?;
                Some((id, traits, events))
            }
            None => None,
        };
        let events = Self::summaries(&conn, env, "user_id", user)?;
        Ok(UserState {
            traits,
            company,
            events,
        })
    }
}

/// The SDK's event-log shape: `[[name,total,[[at_ms,{props}],...]],...]`.
pub(crate) fn events_json(events: &[EventSummary]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                let occurrences = e
                    .occurrences
                    .iter()
                    .map(|(at, props)| {
                        Value::Array(vec![
                            Value::from((*at).max(0)),
                            Value::Object(props.clone()),
                        ])
                    })
                    .collect();
                Value::Array(vec![
                    Value::String(e.name.clone()),
                    Value::from(e.total),
                    Value::Array(occurrences),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn merge_keeps_and_removes() {
        let mut m = obj(json!({"email": "a@b", "plan": "free", "x": 1}));
        merge(&mut m, &obj(json!({"plan": "pro", "x": null})));
        assert_eq!(Value::Object(m), json!({"email": "a@b", "plan": "pro"}));
    }

    #[test]
    fn kept_properties_follow_the_sdk_rules() {
        let long = "x".repeat(257);
        let mut props = obj(
            json!({"n": 1, "b": true, "s": "ok", "o": {"a": 1}, "l": [1],
                                   "z": null, "long": long.clone()}),
        );
        props.insert(long.clone(), json!(1));
        let kept = kept_properties(&props);
        assert_eq!(Value::Object(kept), json!({"n": 1, "b": true, "s": "ok"}));
        let many: Map<String, Value> = (0..30).map(|i| (format!("k{i:02}"), json!(i))).collect();
        assert_eq!(kept_properties(&many).len(), MAX_KEPT_PROPERTIES);
        let edge = obj(json!({"s": "y".repeat(256)}));
        assert_eq!(kept_properties(&edge).len(), 1);
    }
}
