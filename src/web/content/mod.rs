//! The content module: flows (the engine in the page, its UI, placement) built as
//! a wasm module of its own (feature `content`) and loaded by `js/loader.js` only
//! when there is content to evaluate. It reaches the core module only through the
//! functions the loader hands to [`api::content_init`] (see `crate::web::host` for
//! the list), and hears about users, tracked events and navigations through
//! [`api::content_notify`].

#[allow(unused_imports)]
use crate::prelude::*;

pub mod api;
mod bridge;
mod checklists;
mod facts;
mod flows;
mod render;
