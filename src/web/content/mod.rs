//! The content module: flows (the engine in the page, its UI, placement) built as
//! a wasm module of its own (feature `content`) and loaded by `js/loader.js` only
//! when there is content to evaluate. It reaches the core module only through the
//! functions the loader hands to `contentInit` (see `crate::web::host` for the
//! list), and hears about users, tracked events and navigations through
//! `contentNotify` (both in [`api`]). It reaches the page through [`dom`].

#[allow(unused_imports)]
use crate::prelude::*;

pub mod api;
mod bridge;
mod checklists;
mod dom;
mod facts;
mod flows;
mod render;
mod wake;
