//! The browser shell: carries out what the core decides, through small JS helpers
//! (`js/core.js`, `js/content.js`, `js/glue.js`). Both modules cross to JS
//! through plain wasm imports and exports ([`abi`], and the content module's
//! `content::dom`), answered by `js/boundary.js` and each module's glue.
//!
//! It is built as two wasm modules from this one crate (see `scripts/build-pkg.sh`
//! and `js/loader.js`, which loads them and carries calls between them):
//!
//! - feature `analytics`, the **core module**, loaded at `init`: [`entry`] (its
//!   exports: one for the API, which `js/core.js` turns into an object with a
//!   function per name, and `wake`), [`abi`] (its imports), [`api`] (the JS API), [`heard`] (calls heard from analytics.js through segflow's plugin),
//!   [`host`] (the small interface the content module is given),
//!   [`lifecycle`] (start-up, page events, heartbeat, navigation and page
//!   tracking), [`driver`] (the core client's loop: storage, requests, timers,
//!   work under the cross-tab lock), [`page`] (the page's URL, title and referrer,
//!   through the URL filter), [`dispatch`] (page listeners and the batching of page
//!   code) and [`storage`];
//! - feature `content`, the **content module**, loaded only when there is content:
//!   [`content`] (flows, rendering, placement), which reaches the core only through
//!   the functions of [`host`] that the loader hands it.
//!
//! Imports go one way, with no cycles: [`entry`] uses [`api`], [`heard`],
//! [`host`] and [`lifecycle`]; [`api`] uses [`lifecycle`], [`driver`],
//! [`dispatch`] and [`host`]; [`heard`] uses [`driver`], [`dispatch`] and
//! [`host`]; [`host`] and [`lifecycle`] use [`driver`] and [`dispatch`];
//! [`driver`] uses [`page`], [`dispatch`] and [`storage`]; any of them may use
//! [`abi`], which uses none of them. Nothing imports back, and the two modules share nothing but the pure core, [`batches`]
//! (each module has its own queue), [`local`] and the small helpers below.

#[allow(unused_imports)]
use crate::prelude::*;

// Each module uses only part of the boundary.
#[cfg_attr(not(all(feature = "analytics", feature = "content")), allow(dead_code))]
mod abi;
#[cfg(feature = "analytics")]
mod api;
mod batches;
#[cfg(feature = "content")]
mod content;
#[cfg(feature = "analytics")]
mod dispatch;
#[cfg(feature = "analytics")]
mod driver;
#[cfg(feature = "analytics")]
mod entry;
#[cfg(feature = "analytics")]
mod heard;
#[cfg(feature = "analytics")]
mod host;
#[cfg(feature = "analytics")]
mod lifecycle;
mod local;
#[cfg(feature = "analytics")]
mod page;
#[cfg(feature = "analytics")]
mod storage;
#[cfg(feature = "analytics")]
mod wake;

/// JSON text of an object the page passed for a call (properties, traits,
/// integrations), nested at most [`MAX_PROPERTY_DEPTH`] deep and at most
/// [`MAX_ARG_BYTES`] long.
///
/// [`MAX_PROPERTY_DEPTH`]: crate::core::message::MAX_PROPERTY_DEPTH
/// [`MAX_ARG_BYTES`]: crate::core::message::MAX_ARG_BYTES
#[cfg(feature = "analytics")]
fn object_to_json(value: abi::Arg, name: &str) -> Result<String, abi::Fail> {
    use crate::core::message::{check_arg, MAX_PROPERTY_DEPTH};
    value.json(name, MAX_PROPERTY_DEPTH, check_arg)
}

#[cfg(feature = "analytics")]
/// Random bytes drawn from `crypto.getRandomValues` (`Math.random` where it is
/// missing) 1 KB at a time: one call for 64 message ids rather than one each
/// (a call costs about half a microsecond, measured on track()).
static RANDOM: local::Local<core::cell::RefCell<(usize, [u8; 1024])>> =
    local::Local::new(core::cell::RefCell::new((1024, [0; 1024])));

#[cfg(feature = "analytics")]
/// 16 random bytes (see [`RANDOM`]).
fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    RANDOM.with(|r| {
        let Ok(mut r) = r.try_borrow_mut() else {
            abi::fill_random(&mut out);
            return;
        };
        let (used, pool) = &mut *r;
        if *used + 16 > pool.len() {
            abi::fill_random(pool);
            *used = 0;
        }
        if let Some(chunk) = pool.get(*used..*used + 16) {
            out.copy_from_slice(chunk);
        }
        *used += 16;
    });
    out
}

#[cfg(feature = "analytics")]
/// A fresh uuid v4.
fn uuid() -> String {
    crate::core::identity::uuid_v4(random_bytes())
}

/// The properties of a generated event (`catalog::event_properties`): its own
/// attributes and the page facts every generated event carries (`facts`, from
/// `pageFacts()` in `js/glue.js`), with `page_url` as the core's URL filter gave it.
fn generated_properties(
    event: &crate::core::catalog::GeneratedEvent,
    page_url: &str,
    facts: &str,
) -> String {
    let mut lines = facts.split('\n');
    let locale = lines.next().unwrap_or_default();
    let mut number = || {
        lines
            .next()
            .and_then(crate::core::json::parse_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    };
    crate::core::catalog::event_properties(
        event,
        &crate::core::catalog::PageFacts {
            page_url,
            viewport_width: number(),
            viewport_height: number(),
            locale_code: locale,
        },
    )
}
