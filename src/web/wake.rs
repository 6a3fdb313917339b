//! The kinds of callback from `js/core.js` into the core module. Every timer,
//! microtask, HTTP answer, lock, page event and navigation comes back through the
//! module's one export for them, `wake(kind, a, b, c)` (in [`entry`](super::entry)),
//! handled by `lifecycle::on_wake`. One callback instead of a closure per use
//! kept wasm-bindgen's closure and future machinery out of the module (4.6 KB of
//! the gzipped wasm, measured when it replaced them, before the module left
//! wasm-bindgen altogether).

/// The one timer fired (`setTimer`).
pub const TIMER: u32 = 0;
/// The commit microtask (`microtask(COMMIT)`).
pub const COMMIT: u32 = 1;
/// The start-up microtask (`microtask(START)`).
pub const START: u32 = 2;
/// A request's answer: `a` the request id, `b` the HTTP status (-1: network
/// error or abort), `c` `Retry-After` in ms (-1: absent).
pub const RESPONSE: u32 = 3;
/// The cross-tab lock for an adoption: `a` is 1 while held, 0 if not had.
pub const ADOPT_LOCK: u32 = 4;
/// The cross-tab lock for a resync: `a` as for [`ADOPT_LOCK`].
pub const RESYNC_LOCK: u32 = 5;
/// The browser went online (`a` = 1) or offline (`a` = 0).
pub const ONLINE: u32 = 6;
/// A page lifecycle event: `a` is its type (0 `pagehide`, 1 `pageshow`,
/// 2 `visibilitychange`, 3 `resume`), `b` is 1 when the page went into the
/// back/forward cache (`persisted`), `c` is 1 when the document is hidden.
pub const PAGE: u32 = 7;
/// A single-page-app navigation (`history.pushState`, `replaceState`,
/// `popstate`, `hashchange`).
pub const NAVIGATION: u32 = 8;
/// The heartbeat interval.
pub const HEARTBEAT: u32 = 9;
