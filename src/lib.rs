//! # segflow
//!
//! Onboarding flows and a Segment HTTP API source for the browser, in one small
//! WebAssembly module.
//!
//! The crate has two halves (see `ARCHITECTURE.md` in the shared design notes):
//! - [`core`]: pure Rust that decides everything (identity, message shapes, the
//!   delivery engine). It has no browser dependencies and is tested natively.
//! - `web` (wasm32 only): the thin browser shell: the JS API exported with
//!   wasm-bindgen, localStorage and cookies, `fetch`, timers and page lifecycle.
#![deny(missing_docs)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
