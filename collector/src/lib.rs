//! `segflow-collector`: a local, Segment-compatible HTTP tracking API server.
//!
//! It accepts what Segment's HTTP Tracking API accepts (`POST /v1/batch`, `/v1/track`,
//! … and analytics.js's one-letter paths), validates messages like Segment,
//! stores every accepted message in SQLite before answering, and lets tests and
//! people read them back (`/api/events`, `/api/stats`, the live `/debugger` page).
//! Faults (errors, rate limiting, latency, dropped or never-answered requests) can
//! be injected to exercise a client's delivery logic. It is also the destination
//! half of the Segment integration (`POST /webhook/{writeKey}` feeding a
//! per-environment user and company store that the SDK reads with `GET /v1/state`),
//! verifies users' identity signatures, gates the read side behind an admin token
//! and bounds connections and slow clients. See `collector/README.md` for the HTTP
//! contract.
//!
//! Start one in-process (e.g. from a test):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use segflow_collector::{Config, Server};
//!
//! let server = Server::start(Config::new("/tmp/events.db").with_write_key("WK", "default")).await?;
//! let url = server.url(); // http://127.0.0.1:<free port>
//! // ... POST to {url}/v1/batch, GET {url}/api/events ...
//! server.stop().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod access;
mod app;
mod clientip;
mod config;
mod faults;
mod forward;
mod identity;
mod ingest;
mod limits;
mod profiles;
mod server;
mod store;
mod timefmt;
mod webhook;

pub use config::{Config, ConfigError, FaultConfig, StaticMount, WriteKey, DEFAULT_ENVIRONMENT};
pub use forward::{ForwardConfig, DEFAULT_FORWARD_BATCH_BYTES, DEFAULT_FORWARD_BATCH_MESSAGES};
pub use ingest::{
    MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_CHARS, MAX_REQUEST_BYTES, MESSAGE_TYPES,
};
pub use server::{Server, StartError};

pub use access::SecurityConfig;
pub use identity::{identity_signature, KeyedValue, SIGNATURE_FIELD};
pub use limits::{Limits, MIN_HEADER_BYTES};

/// The line the binary prints on stdout once it listens, e.g.
/// `segflow-collector listening on http://127.0.0.1:8787`.
pub fn startup_line(addr: std::net::SocketAddr) -> String {
    format!("segflow-collector listening on http://{addr}")
}
