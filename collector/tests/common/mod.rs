//! Helpers shared by the integration tests: an in-process server on a free port
//! with a temporary database, and a real HTTP client.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use segflow_collector::{Config, Server};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The write key most tests configure.
pub const KEY: &str = "WK";

/// A server started in-process on 127.0.0.1:0 over a fresh database file.
pub struct TestServer {
    pub server: Option<Server>,
    pub url: String,
    pub dir: TempDir,
    pub db: PathBuf,
    pub client: reqwest::Client,
}

/// An answer: status, headers, raw text and the body parsed as JSON (Null if not).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` code of a JSON error body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// `Basic base64("<key>:")`.
pub fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

/// The request body of a captured analytics-next fixture.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/analytics-next-1.84.3")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let value: Value = serde_json::from_str(&text).expect("fixture json");
    value["body"].clone()
}

/// A minimal valid track message.
pub fn track(user: &str, event: &str, message_id: &str) -> Value {
    json!({"type": "track", "userId": user, "event": event, "messageId": message_id,
           "properties": {"n": 1}})
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        json,
    }
}

impl TestServer {
    /// Starts a server with write key [`KEY`] (environment `default`), adjusted by `f`.
    pub async fn start(f: impl FnOnce(Config) -> Config) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, f).await
    }

    /// Starts a server over `dir/events.db`.
    pub async fn start_in(dir: TempDir, f: impl FnOnce(Config) -> Config) -> TestServer {
        let db = dir.path().join("events.db");
        let config = f(Config::new(&db).with_write_key(KEY, "default"));
        let server = Server::start(config).await.expect("server starts");
        TestServer {
            url: server.url(),
            server: Some(server),
            dir,
            db,
            client: client(),
        }
    }

    /// Starts a server in open mode (no write keys).
    pub async fn start_open() -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("events.db");
        let server = Server::start(Config::new(&db))
            .await
            .expect("server starts");
        TestServer {
            url: server.url(),
            server: Some(server),
            dir,
            db,
            client: client(),
        }
    }

    /// Stops the server and hands back its folder (the database stays).
    pub async fn stop(mut self) -> TempDir {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.dir
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().expect("running").addr()
    }

    /// POSTs `body` as `application/json` with `Authorization: Basic` for `key`.
    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Reply {
        self.post_raw(path, body.to_string().into_bytes(), key, "application/json")
            .await
    }

    /// POSTs raw bytes with the given content type and optional Basic auth key.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        key: Option<&str>,
        content_type: &str,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("authorization", basic(key));
        }
        reply(request.send().await.expect("request answered")).await
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.url))
            .send()
            .await
            .expect("request answered");
        reply(response).await
    }

    /// `GET /api/events?<query>` → the events array.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let reply = self.get(&format!("/api/events?{query}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json["events"]
            .as_array()
            .expect("events array")
            .clone()
    }

    /// The `messageId`s of the stored events matching `query`, in arrival order.
    pub async fn message_ids(&self, query: &str) -> Vec<Value> {
        self.events(query)
            .await
            .iter()
            .map(|e| e["messageId"].clone())
            .collect()
    }

    pub async fn stats(&self) -> Value {
        let reply = self.get("/api/stats").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json
    }
}

/// Sends raw bytes over a fresh TCP connection and returns (status, body text) of
/// the answer (read until the server closes, at most 10 s).
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if complete(&answer) {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no complete answer within 10 s");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Whether `answer` holds a whole response with a Content-Length body.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|len| body.len() >= len)
}

/// One row of the `messages` table, read straight from the database file.
#[derive(Debug, Clone)]
pub struct DbRow {
    pub id: i64,
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

/// Every stored row, in id order, read with a separate SQLite connection.
pub fn db_rows(db: &std::path::Path) -> Vec<DbRow> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db");
    let mut stmt = conn
        .prepare(
            "SELECT id, message_id, write_key, environment, type, user_id, anonymous_id, event,
                    received_at, sent_at, original_timestamp, timestamp, body
             FROM messages ORDER BY id",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok(DbRow {
                id: r.get(0)?,
                message_id: r.get(1)?,
                write_key: r.get(2)?,
                environment: r.get(3)?,
                kind: r.get(4)?,
                user_id: r.get(5)?,
                anonymous_id: r.get(6)?,
                event: r.get(7)?,
                received_at: r.get(8)?,
                sent_at: r.get(9)?,
                original_timestamp: r.get(10)?,
                timestamp: r.get(11)?,
                body: r.get(12)?,
            })
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}
