//! The pure core: everything that decides something, with no browser APIs.
//!
//! The shell in `crate::web` feeds it calls, clock readings, storage contents and
//! HTTP answers, and carries out what it returns. Everything here runs and is tested
//! natively with `cargo test`.

#[allow(unused_imports)]
use crate::prelude::*;

pub mod catalog;
pub mod client;
pub mod content;
pub mod cookie;
pub mod css;
pub mod delivery;
pub mod error;
pub mod float;
pub mod identity;
pub mod journal;
pub mod json;
pub mod message;
pub mod placement;
pub mod platform;
pub mod time;
