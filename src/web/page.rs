//! The page a call is made on: URL, canonical link, referrer and title, after
//! the page's URL filter.
//!
//! The filter is page code: it runs here, before segflow's state is borrowed,
//! so a filter that calls segflow works. While it runs, a segflow call it
//! makes uses the page as last seen (the filter is not re-entered).

#[allow(unused_imports)]
use crate::prelude::*;

use crate::web::local::Local;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

use super::abi::{self, Held};

use crate::core::message::PageInfo;

static FILTER: Local<RefCell<Option<Rc<Held>>>> = Local::new(RefCell::new(None));
/// The raw URL, referrer and title the last [`changed`] saw.
static SEEN: Local<RefCell<String>> = Local::new(RefCell::new(String::new()));
static FILTERING: Local<Cell<bool>> = Local::new(Cell::new(false));

/// Sets the URL filter (from `init`).
pub fn set_filter(f: Option<Held>) {
    FILTER.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = f.map(Rc::new);
        }
    });
}

fn filter(value: String) -> String {
    match FILTER.with(|c| c.try_borrow().ok().and_then(|f| f.clone())) {
        Some(f) if !value.is_empty() => f.filter(&value),
        _ => value,
    }
}

/// The page, when its URL, referrer or title changed since the last call
/// (`None`: unchanged, or asked from inside the URL filter).
pub fn changed() -> Option<PageInfo> {
    if FILTERING.with(|f| f.get()) {
        return None;
    }
    // URL, referrer and title, NUL-separated: serialized URLs have no NUL, so
    // only the title, last, may hold one.
    let key = abi::page_now();
    if SEEN.with(|s| s.try_borrow().is_ok_and(|s| *s == key)) {
        return None;
    }
    let mut parts = key.splitn(3, '\u{0}').map(String::from);
    let mut next = || parts.next().unwrap_or_default();
    let (href, referrer, title) = (next(), next(), next());
    // The canonical link, resolved to an absolute URL by the browser: a query of
    // the whole document, so only when the page changed.
    let canonical = Some(abi::canonical()).filter(|c| !c.is_empty());
    FILTERING.with(|f| f.set(true));
    let page = PageInfo {
        url: filter(href),
        canonical: canonical.map(filter),
        referrer: filter(referrer),
        title,
    };
    FILTERING.with(|f| f.set(false));
    SEEN.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            *s = key;
        }
    });
    Some(page)
}

/// Forgets what [`changed`] saw, so that the next call reports the page again
/// (the last report could not be handed to the client).
pub fn forget() {
    SEEN.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.clear();
        }
    });
}
